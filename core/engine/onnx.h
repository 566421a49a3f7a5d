// ONNX export of a compiled model. Torch-free header.
#pragma once
#include <string>

#include "base/result.h"
#include "model.h"

namespace engine {

/// Writes `m` (its circuit and trained weights) as an ONNX model that onnx.checker accepts.
/// Ops ONNX cannot express are refused with the node and the reason.
base::Status export_onnx(Model& m, const std::string& path);

}  // namespace engine
