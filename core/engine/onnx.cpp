#include "onnx.h"

namespace engine {

circuit::Status export_onnx(Model&, const std::string& path) {
  return circuit::Status::fail(path + ": ONNX export is not implemented yet; export TorchScript (.pt) instead");
}

}  // namespace engine
