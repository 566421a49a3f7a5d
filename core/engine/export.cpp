// TorchScript export: the circuit is written out as TorchScript source whose every line mirrors
// the ATen call the engine's forward makes (each op's record in ops_*.cpp writes both), and the
// trained tensors are registered under the same names with `.` replaced by `__`. Keeping the two
// in step is what the export-equality tests check.
#include "export.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <sstream>

#include "circuit/op.h"
#include "onnx.h"
#include "engine/detail/lowering.h"

namespace engine::detail {

using circuit::TensorType;

std::string ts_num(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", v);
  std::string s = b;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string ts_list(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::string ts_movedim(const std::string& x, int64_t from, int64_t to) {
  return from == to ? x : "torch.movedim(" + x + ", " + std::to_string(from) + ", " + std::to_string(to) + ")";
}

std::string ts_on_last(int64_t rank, int64_t d, const std::string& arg, const std::function<std::string(const std::string&)>& f) {
  if (d == rank - 1) return f(arg);
  return ts_movedim(f(ts_movedim(arg, d, rank - 1)), rank - 1, d);
}

void Script::line(const std::string& s, int extra) { out_ << std::string(size_t(4 * (ind + extra)), ' ') << s << "\n"; }

std::vector<std::string> Script::graph(const circuit::Graph& g, const circuit::GraphAnalysis& a, const std::vector<std::string>& inputs,
                                       std::string prefix, int indent) {
  std::string outer_p = P;
  int outer_ind = ind;
  circuit::Bindings none;
  auto outs = circuit::walk<std::string>(g, a, inputs, [&](int i, const std::vector<std::string>& in, const std::vector<TensorType>& types) {
    const circuit::Node& n = g.nodes[size_t(i)];
    const circuit::NodeInfo& info = a.nodes[size_t(i)];
    // After an error, keep the walk going with placeholders; the error is reported once.
    if (error.empty()) {
      P = prefix + n.name + "__", ind = indent;
      // The node's path for messages: its parameter prefix with `__` read as `/`.
      std::string path = P.substr(0, P.size() - 2);
      for (size_t k; (k = path.find("__")) != std::string::npos;) path.replace(k, 2, "/");
      Site s(n, *circuit::find_op(n.op), types, none, info, path);
      const Lowering* l = find_lowering(n.op);
      std::string_view refusal = !l ? "the engine has no lowering for it" : l->torchscript_refusal;
      if (l && l->torchscript) {
        auto v = l->torchscript(*this, s, in);
        if (error.empty()) return v;
      } else {
        error = s.where() + ": op `" + n.op + "` cannot be exported to TorchScript: " + std::string(refusal);
      }
    }
    return std::vector<std::string>(info.outputs.size());
  });
  P = outer_p, ind = outer_ind;
  return error.empty() ? outs : std::vector<std::string>{};
}

}  // namespace engine::detail

namespace engine {

using base::Error;
using base::Result;
using base::Status;
using circuit::TensorType;

namespace {

std::string ts_name(const std::string& dotted) {
  std::string s;
  for (char c : dotted) s += c == '.' ? std::string("__") : std::string(1, c);
  return s;
}

}  // namespace

Result<std::string> torchscript_source(const Model& m) {
  const auto& c = m.circuit();
  const auto& a = m.analysis();
  detail::Script em;
  em.root = &m.module();
  std::vector<std::string> ins;
  std::string sig;
  for (int k : a.inputs) {
    std::string n = "in_" + c.graph.nodes[size_t(k)].name;
    ins.push_back(n);
    sig += ", " + n + ": Tensor";
  }
  auto outs = em.graph(c.graph, a, ins, "", 1);
  if (!em.error.empty()) return Error{em.error};
  std::string ret = outs.size() == 1 ? "Tensor" : "Tuple[" + [&] {
    std::string r;
    for (size_t k = 0; k < outs.size(); ++k) r += (k ? ", " : "") + std::string("Tensor");
    return r;
  }() + "]";
  std::string src = "def forward(self" + sig + ") -> " + ret + ":\n" + em.source();
  std::string r;
  for (size_t k = 0; k < outs.size(); ++k) r += (k ? ", " : "") + outs[k];
  src += "    return " + (outs.size() == 1 ? r : "(" + r + ")") + "\n";
  for (auto& m : em.methods()) src += m;
  return src;
}

Status export_model(Model& m, const std::string& path) {
  auto ends = [&](const char* e) { return path.size() >= strlen(e) && path.compare(path.size() - strlen(e), strlen(e), e) == 0; };
  if (ends(".onnx")) return export_onnx(m, path);
  if (!ends(".pt")) return Status::fail(path + ": unknown export format (use .pt for TorchScript or .onnx for ONNX)");
  auto src = torchscript_source(m);
  if (!src) return Status::fail(path + ": " + src.error().message);
  try {
    torch::jit::Module jm("CircuitModel");
    torch::NoGradGuard ng;
    // Saved as CPU tensors: an export from a CUDA run loads anywhere, and map_location moves it.
    for (auto& p : m.module().named_parameters(true)) jm.register_parameter(ts_name(p.key()), p.value().detach().to(torch::kCPU).clone(), false);
    for (auto& b : m.module().named_buffers(true)) jm.register_buffer(ts_name(b.key()), b.value().detach().to(torch::kCPU).clone());
    jm.define(*src);
    jm.eval();
    std::string tmp = path + ".tmp";
    jm.save(tmp);
    if (std::rename(tmp.c_str(), path.c_str()) != 0) return Status::fail(path + ": could not write the file");
  } catch (const std::exception& e) {
    auto* c = dynamic_cast<const c10::Error*>(&e);
    return Status::fail(path + ": TorchScript export failed: " + (c ? c->what_without_backtrace() : e.what()));
  }
  return {};
}

}  // namespace engine
