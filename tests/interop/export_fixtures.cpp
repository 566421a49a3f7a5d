// Writes, for every example circuit and every circuit in tests/data/fixtures, what a peer needs to check our exports: the TorchScript
// (.pt) and ONNX (.onnx, when the circuit can be expressed) files, a fixed input and our own
// output for it as raw little-endian arrays, and a JSON description. tests/python/ reads them.
//
//   export_fixtures OUT_DIR
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "circuit/circuit_file.h"
#include "base/json.h"
#include "engine/export.h"
#include "engine/model.h"
#include "../engine/model_inputs.h"

namespace fs = std::filesystem;
using base::Json;

int main(int argc, char** argv) {
  if (argc != 2) return std::fprintf(stderr, "usage: export_fixtures OUT_DIR\n"), 2;
  fs::path out = argv[1];
  fs::create_directories(out);
  int failures = 0;
  // The examples, and circuits that cover the ops the examples leave out.
  std::vector<fs::path> files;
  for (const char* dir : {"resources/examples", "tests/data/fixtures"})
    for (auto& e : fs::directory_iterator(fs::path(CIRCUIT_SOURCE_DIR) / dir)) files.push_back(e.path());
  for (auto& path : files) {
    std::string name = path.stem().stem().string();
    auto c = circuit::load_circuit(path.string());
    auto m = c ? engine::Model::compile(*c, 42) : base::Result<std::unique_ptr<engine::Model>>(c.error());
    if (!m) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), m.error().message.c_str());
      ++failures;
      continue;
    }
    circuit::Bindings b = circuit::cost_bindings(*c);
    b["batch"] = 3;
    std::vector<at::Tensor> in = engine::test::inputs_for(**m, b, 7);  // token ids for i64 inputs
    // Non-trivial running statistics, so the exported buffers are checked too.
    {
      torch::NoGradGuard ng;
      for (auto& buf : (*m)->module().named_buffers())
        if (buf.key().find("running_") != std::string::npos) buf.value().copy_(torch::rand_like(buf.value()) + 0.5);
    }
    (*m)->set_training(false);
    std::vector<at::Tensor> ours;
    {
      torch::NoGradGuard ng;
      ours = (*m)->forward(in);
    }
    Json meta = Json::object();
    meta.set("name", Json::string(name));
    Json ins = Json::array(), outs = Json::array();
    for (size_t k = 0; k < in.size(); ++k) ins.push(engine::test::write_array(in[k], out / (name + ".in" + std::to_string(k) + ".bin")));
    for (size_t k = 0; k < ours.size(); ++k) outs.push(engine::test::write_array(ours[k], out / (name + ".out" + std::to_string(k) + ".bin")));
    meta.set("inputs", std::move(ins));
    meta.set("outputs", std::move(outs));
    auto pt = engine::export_model(**m, (out / (name + ".pt")).string());
    if (!pt) std::fprintf(stderr, "%s\n", pt.error.c_str()), ++failures;
    auto onnx = engine::export_model(**m, (out / (name + ".onnx")).string());
    meta.set("onnx", onnx ? Json::string(name + ".onnx") : Json::null());
    if (!onnx) std::printf("%s: no ONNX file: %s\n", name.c_str(), onnx.error.c_str());
    std::ofstream(out / (name + ".json")) << base::write_json(meta);
    std::printf("%s: wrote %s.pt%s\n", name.c_str(), name.c_str(), onnx ? (" and " + name + ".onnx").c_str() : "");
  }
  return failures ? 1 : 0;
}
