// Exporting a trained model. Torch-free header.
#pragma once
#include <string>

#include "base/result.h"
#include "model.h"

namespace engine {

/// Writes the model by file extension: `.pt` is TorchScript (Python's torch.jit.load opens it;
/// outputs match ours); `.onnx` is ONNX (see onnx.h).
base::Status export_model(Model& m, const std::string& path);

/// The TorchScript source of the model's forward, for inspection and tests.
base::Result<std::string> torchscript_source(const Model& m);

}  // namespace engine
