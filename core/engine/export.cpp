// TorchScript export: the circuit is written out as TorchScript source whose every line mirrors
// the ATen call the engine's forward makes (model.cpp), and the trained tensors are registered
// under the same names with `.` replaced by `__`. Keeping the two in step is what the
// export-equality tests check.
#include "export.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <sstream>

#include "circuit/op.h"
#include "onnx.h"

namespace engine {

using circuit::Error;
using circuit::Result;
using circuit::Status;
using circuit::TensorType;

namespace {

std::string num(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", v);
  std::string s = b;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string list(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::pair<int64_t, int64_t> pair_of(const std::vector<int64_t>& v, int64_t dflt) {
  if (v.empty()) return {dflt, dflt};
  if (v.size() == 1) return {v[0], v[0]};
  return {v[0], v[1]};
}

struct Emitter {
  std::ostringstream out;
  int counter = 0;
  std::string error;

  void line(int indent, const std::string& s) { out << std::string(size_t(4 * indent), ' ') << s << "\n"; }
  std::string fresh(const std::string& base) { return base + "_" + std::to_string(counter++); }

  // Emits graph `g`; `inputs` are the variables bound to its input nodes; `p` is the parameter
  // prefix ("" or "ffn__"). Returns the variables holding the graph's outputs.
  std::vector<std::string> graph(const circuit::Graph& g, const circuit::GraphAnalysis& a, const std::vector<std::string>& inputs,
                                 const std::string& p, int ind) {
    auto outs = circuit::walk<std::string>(g, a, inputs, [&](int i, const std::vector<std::string>& in, const std::vector<TensorType>& types) {
      const circuit::Node& n = g.nodes[size_t(i)];
      const circuit::NodeInfo& info = a.nodes[size_t(i)];
      // After an error, keep the walk going with placeholders; the error is reported once.
      if (error.empty()) {
        auto v = node(n, *circuit::find_op(n.op), info, in, types, p + n.name + "__", ind);
        if (error.empty()) return v;
      }
      return std::vector<std::string>(info.outputs.size());
    });
    return error.empty() ? outs : std::vector<std::string>{};
  }

  std::vector<std::string> node(const circuit::Node& n, const circuit::OpDef& def, const circuit::NodeInfo& info,
                                const std::vector<std::string>& in, const std::vector<TensorType>& types, const std::string& P, int ind) {
    circuit::Bindings none;
    circuit::OpCall call{n, def, types, none, info.body.get()};
    auto I = [&](const char* k) { return call.i(k); };
    auto F = [&](const char* k) { return call.f(k); };
    auto B = [&](const char* k) { return call.b(k); };
    auto S = [&](const char* k) { return call.s(k); };
    auto Ints = [&](const char* k) { return call.ints(k); };
    auto Strs = [&](const char* k) { return call.strs(k); };
    const TensorType& t = types.empty() ? info.outputs[0] : types[0];
    int64_t rank = int64_t(t.rank());
    auto dim = [&](const std::string& name, int fallback) -> int64_t {
      if (!name.empty()) return t.find(name);
      return fallback < 0 ? rank + fallback : fallback;
    };
    std::string x = in.empty() ? "" : in[0];
    std::string v = fresh(n.name);
    const std::string& op = n.op;
    auto self = [&](const std::string& name) { return "self." + P + name; };
    // Wraps an expression that acts on the last axis so it acts on axis d.
    auto on_last = [&](int64_t d, const std::string& arg, const std::function<std::string(const std::string&)>& f) {
      if (d == rank - 1) return f(arg);
      return "torch.movedim(" + f("torch.movedim(" + arg + ", " + std::to_string(d) + ", " + std::to_string(rank - 1) + ")") + ", " +
             std::to_string(rank - 1) + ", " + std::to_string(d) + ")";
    };

    if (op == "linear") {
      int64_t d = S("in_axis").empty() ? rank - 1 : t.find(S("in_axis"));
      std::string b = B("bias") ? self("bias") : "None";
      line(ind, v + " = " + on_last(d, x, [&](const std::string& y) { return "torch.linear(" + y + ", " + self("weight") + ", " + b + ")"; }));
    } else if (op == "embedding") {
      line(ind, v + " = torch.embedding(" + self("weight") + ", " + x + ")");
    } else if (op == "layer_norm") {
      int64_t d = dim(S("axis"), -1);
      std::string w = B("affine") ? self("weight") : "None", b = B("affine") ? self("bias") : "None";
      std::string size = std::to_string(t.axes[size_t(d)].size.n);
      line(ind, v + " = " + on_last(d, x, [&](const std::string& y) {
             return "torch.layer_norm(" + y + ", [" + size + "], " + w + ", " + b + ", " + num(F("eps")) + ")";
           }));
    } else if (op == "rms_norm") {
      int64_t d = dim(S("axis"), -1);
      bool affine = B("affine");
      std::string eps = num(F("eps"));
      line(ind, v + " = " + on_last(d, x, [&](const std::string& y) {
             std::string r = "(" + y + " * torch.rsqrt(" + y + ".pow(2).mean(-1, True) + " + eps + "))";
             return affine ? r + " * " + self("weight") : r;
           }));
    } else if (op == "batch_norm") {
      int64_t d = dim(S("axis"), 1);
      std::string w = B("affine") ? self("weight") : "None", b = B("affine") ? self("bias") : "None";
      std::string y = d == 1 ? x : "torch.movedim(" + x + ", " + std::to_string(d) + ", 1)";
      std::string e = "torch.batch_norm(" + y + ", " + w + ", " + b + ", " + self("running_mean") + ", " + self("running_var") +
                      ", False, 0.1, " + num(F("eps")) + ", False)";
      line(ind, v + " = " + (d == 1 ? e : "torch.movedim(" + e + ", 1, " + std::to_string(d) + ")"));
    } else if (op == "relu") {
      line(ind, v + " = torch.relu(" + x + ")");
    } else if (op == "gelu") {
      line(ind, v + " = torch.gelu(" + x + ")");
    } else if (op == "silu") {
      line(ind, v + " = torch.silu(" + x + ")");
    } else if (op == "softmax") {
      line(ind, v + " = torch.softmax(" + x + ", " + std::to_string(dim(S("axis"), -1)) + ")");
    } else if (op == "dropout") {
      line(ind, v + " = " + x);  // inference: identity
    } else if (op == "add" || op == "multiply") {
      std::string e = in[0];
      for (size_t k = 1; k < in.size(); ++k) e += (op == "add" ? " + " : " * ") + in[k];
      line(ind, v + " = " + e);
    } else if (op == "reduce") {
      std::vector<int64_t> dims;
      for (auto& s : Strs("axes")) dims.push_back(t.find(s));
      std::string m = S("mode") == "sum" ? "sum" : S("mode") == "max" ? "amax" : "mean";
      line(ind, v + " = " + x + "." + m + "(" + list(dims) + ")");
    } else if (op == "exit_head") {
      int64_t f = dim(S("feature_axis"), rank == 4 ? 1 : -1);
      std::vector<int64_t> pool;
      for (int64_t j = 1; j < rank; ++j)
        if (j != f) pool.push_back(j);
      std::string y = pool.empty() ? x : x + ".mean(" + list(pool) + ")";
      line(ind, v + " = torch.linear(" + y + ", " + self("weight") + ", " + self("bias") + ")");
    } else if (op == "conv2d" || op == "dwconv2d") {
      int64_t groups = op == "dwconv2d" ? t.axes[1].size.n : I("groups");
      auto [sh, sw] = pair_of(Ints("stride"), 1);
      auto [ph, pw] = pair_of(Ints("padding"), 0);
      auto [dh, dw] = pair_of(Ints("dilation"), 1);
      line(ind, v + " = torch.conv2d(" + x + ", " + self("weight") + ", " + (B("bias") ? self("bias") : "None") + ", " +
                    list({sh, sw}) + ", " + list({ph, pw}) + ", " + list({dh, dw}) + ", " + std::to_string(groups) + ")");
    } else if (op == "pool2d") {
      std::string mode = S("mode");
      auto [kh, kw] = pair_of(Ints("kernel"), 1);
      auto [sh, sw] = pair_of(Ints("stride"), 0);
      if (sh == 0) sh = kh, sw = kw;
      auto [ph, pw] = pair_of(Ints("padding"), 0);
      if (mode == "global_avg") line(ind, v + " = " + x + ".mean([2, 3])");
      else if (mode == "global_max") line(ind, v + " = " + x + ".amax([2, 3])");
      else
        line(ind, v + " = torch." + (mode == "avg" ? "avg_pool2d(" : "max_pool2d(") + x + ", " + list({kh, kw}) + ", " +
                      list({sh, sw}) + ", " + list({ph, pw}) + ")");
    } else if (op == "flatten") {
      auto names = Strs("axes");
      int64_t first = names.empty() ? 1 : t.find(names[0]);
      int64_t last = names.empty() ? rank - 1 : first + int64_t(names.size()) - 1;
      line(ind, v + " = torch.flatten(" + x + ", " + std::to_string(first) + ", " + std::to_string(last) + ")");
    } else if (op == "reshape") {
      std::vector<int64_t> sym;
      for (int64_t j = 0; j < rank; ++j)
        if (!t.axes[size_t(j)].size.concrete()) sym.push_back(j);
      std::string sizes = "[";
      size_t s = 0;
      for (size_t j = 0; j < info.outputs[0].rank(); ++j) {
        const auto& ax = info.outputs[0].axes[j];
        sizes += (j ? ", " : "") + (ax.size.concrete() ? std::to_string(ax.size.n) : x + ".size(" + std::to_string(sym[s++]) + ")");
      }
      line(ind, v + " = " + x + ".reshape(" + sizes + "])");
    } else if (op == "transpose") {
      std::vector<int64_t> perm;
      for (auto& s : Strs("order")) perm.push_back(t.find(s));
      line(ind, v + " = " + x + ".permute(" + list(perm) + ")");
    } else if (op == "concat") {
      std::string l;
      for (size_t k = 0; k < in.size(); ++k) l += (k ? ", " : "") + in[k];
      line(ind, v + " = torch.cat([" + l + "], " + std::to_string(dim(S("axis"), 0)) + ")");
    } else if (op == "split") {
      line(ind, v + " = torch.split_with_sizes(" + x + ", " + list(Ints("sizes")) + ", " + std::to_string(dim(S("axis"), 0)) + ")");
      std::vector<std::string> outs;
      for (size_t k = 0; k < Ints("sizes").size(); ++k) outs.push_back(v + "[" + std::to_string(k) + "]");
      return outs;
    } else if (op == "attention") {
      int64_t s = dim(S("seq_axis"), -2), f = rank - 1, d = t.axes[size_t(f)].size.n, h = I("heads");
      std::string y = fresh("y"), shape = fresh("shape"), T = fresh("T"), q = fresh("q"), k = fresh("k"), val = fresh("v"),
                  sc = fresh("scores"), qkv = fresh("qkv");
      line(ind, y + " = " + (s == f - 1 ? x : "torch.movedim(" + x + ", " + std::to_string(s) + ", " + std::to_string(f - 1) + ")"));
      line(ind, shape + " = " + y + ".shape");
      line(ind, T + " = " + y + ".size(" + std::to_string(f - 1) + ")");
      line(ind, y + " = " + y + ".reshape([-1, " + T + ", " + std::to_string(d) + "])");
      line(ind, qkv + " = torch.linear(" + y + ", " + self("in_proj_weight") + ", " +
                    (B("bias") ? self("in_proj_bias") : "None") + ").chunk(3, -1)");
      std::string bt = y + ".size(0), " + T + ", " + std::to_string(h) + ", " + std::to_string(d / h);
      line(ind, q + " = " + qkv + "[0].reshape([" + bt + "]).transpose(1, 2)");
      line(ind, k + " = " + qkv + "[1].reshape([" + bt + "]).transpose(1, 2)");
      line(ind, val + " = " + qkv + "[2].reshape([" + bt + "]).transpose(1, 2)");
      line(ind, sc + " = torch.matmul(" + q + ", " + k + ".transpose(-2, -1)) / " + num(std::sqrt(double(d / h))));
      if (B("causal") || I("window")) {
        std::string pos = fresh("pos"), dist = fresh("dist"), blk = fresh("blocked");
        line(ind, pos + " = torch.arange(" + T + ")");
        line(ind, dist + " = " + pos + ".unsqueeze(1) - " + pos + ".unsqueeze(0)");
        std::string causal = dist + " < 0", window = dist + ".abs() >= " + std::to_string(I("window"));
        line(ind, blk + " = " + (B("causal") && I("window") ? "(" + causal + ").logical_or(" + window + ")" : B("causal") ? causal : window));
        line(ind, sc + " = " + sc + ".masked_fill(" + blk + ", float('-inf'))");
      }
      line(ind, sc + " = torch.softmax(" + sc + ", -1)");
      line(ind, y + " = torch.matmul(" + sc + ", " + val + ").transpose(1, 2).reshape([" + y + ".size(0), " + T + ", " + std::to_string(d) + "])");
      line(ind, y + " = torch.linear(" + y + ", " + self("out_proj__weight") + ", " +
                    (B("bias") ? self("out_proj__bias") : "None") + ").reshape(" + shape + ")");
      line(ind, v + " = " + (s == f - 1 ? y : "torch.movedim(" + y + ", " + std::to_string(f - 1) + ", " + std::to_string(s) + ")"));
    } else if (op == "gru") {
      int64_t s = dim(S("seq_axis"), -2), f = rank - 1, hdim = I("hidden"), layers = I("layers");
      bool bias = B("bias");
      std::string y = fresh("y"), shape = fresh("shape");
      line(ind, y + " = " + (s == f - 1 ? x : "torch.movedim(" + x + ", " + std::to_string(s) + ", " + std::to_string(f - 1) + ")"));
      line(ind, shape + " = " + y + ".shape");
      line(ind, y + " = " + y + ".reshape([-1, " + y + ".size(" + std::to_string(f - 1) + "), " + std::to_string(t.axes[size_t(f)].size.n) + "])");
      std::string params;
      for (int64_t l = 0; l < layers; ++l) {
        std::string L = std::to_string(l);
        params += (l ? ", " : "") + self("weight_ih_l" + L) + ", " + self("weight_hh_l" + L);
        if (bias) params += ", " + self("bias_ih_l" + L) + ", " + self("bias_hh_l" + L);
      }
      line(ind, y + " = torch.gru(" + y + ", torch.zeros([" + std::to_string(layers) + ", " + y + ".size(0), " + std::to_string(hdim) +
                    "]), [" + params + "], " + (bias ? "True" : "False") + ", " + std::to_string(layers) + ", 0.0, False, False, True)[0]");
      line(ind, y + " = " + y + ".reshape(" + shape + "[:-1] + [" + std::to_string(hdim) + "])");
      line(ind, v + " = " + (s == f - 1 ? y : "torch.movedim(" + y + ", " + std::to_string(f - 1) + ", " + std::to_string(s) + ")"));
    } else if (op == "block") {
      return graph(*n.body, *info.body, in, P, ind);
    } else if (op == "moe") {
      bool aux_free = S("router") == "aux_free";
      if ((S("router") != "topk" && !aux_free) || I("zero_experts") || I("copy_experts") || I("constant_experts") || B("gating_residual")) {
        error = "node `" + P.substr(0, P.size() - 2) + "`: only top-k and aux_free MoE routing without MoE++ experts or "
                "gating residuals is exported to TorchScript so far";
        return {};
      }
      int64_t d = t.axes.back().size.n, E = I("experts"), K = I("k"), shared = I("shared_experts");
      // Experts were written for the MoE input's rank: tokens go in as [n, 1, ..., 1, d].
      std::string as_input = "[-1";
      for (int64_t j = 1; j + 1 < rank; ++j) as_input += ", 1";
      as_input += ", " + std::to_string(d) + "]";
      std::string tok = fresh("tokens"), N = fresh("N"), pr = fresh("probs"), gate = fresh("gate"), idx = fresh("idx"),
                  fe = fresh("flat_expert"), ft = fresh("flat_token"), fg = fresh("flat_gate"), order = fresh("order"),
                  counts = fresh("counts"), cap = fresh("capacity"), start = fresh("start");
      line(ind, tok + " = " + x + ".reshape([-1, " + std::to_string(d) + "])");
      line(ind, N + " = " + tok + ".size(0)");
      line(ind, pr + " = torch.softmax(torch.linear(" + tok + ", " + self("router__weight") + "), -1)");
      if (aux_free) {
        // The selection bias chooses the experts; the gates are the unbiased probabilities.
        line(ind, idx + " = (" + pr + " + " + self("selection_bias") + ").topk(" + std::to_string(K) + ", -1)[1]");
        line(ind, gate + " = " + pr + ".gather(1, " + idx + ")");
      } else {
        line(ind, gate + ", " + idx + " = " + pr + ".topk(" + std::to_string(K) + ", -1)");
      }
      if (B("renormalize")) line(ind, gate + " = " + gate + " / " + gate + ".sum(-1, True)");
      line(ind, fe + " = " + idx + ".reshape([-1])");
      line(ind, ft + " = torch.arange(" + N + ").repeat_interleave(" + std::to_string(K) + ")");
      line(ind, fg + " = " + gate + ".reshape([-1])");
      line(ind, order + " = torch.sort(" + fe + ", stable=True, dim=0, descending=False)[1]");
      line(ind, counts + ": List[int] = torch.bincount(" + fe + ", minlength=" + std::to_string(E) + ").tolist()");
      if (B("dropless")) line(ind, cap + " = " + N + " * " + std::to_string(K));
      else {
        // ceil() without `math`, in the same double arithmetic as the engine.
        std::string exact = num(F("capacity_factor")) + " * float(" + std::to_string(K) + " * " + N + ") / " + num(double(E));
        line(ind, cap + " = int(" + exact + ")");
        line(ind, "if float(" + cap + ") < " + exact + ":");
        line(ind + 1, cap + " = " + cap + " + 1");
      }
      line(ind, v + " = torch.zeros_like(" + tok + ")");
      line(ind, start + " = 0");
      for (int64_t e = 0; e < E; ++e) {
        std::string kept = fresh("kept"), sel = fresh("sel"), ti = fresh("ti"), xe = fresh("xe"), E_ = std::to_string(e);
        line(ind, kept + " = min(" + counts + "[" + E_ + "], " + cap + ")");
        line(ind, "if " + kept + " > 0:");
        line(ind + 1, sel + " = " + order + ".narrow(0, " + start + ", " + kept + ")");
        line(ind + 1, ti + " = " + ft + ".index_select(0, " + sel + ")");
        line(ind + 1, xe + " = " + tok + ".index_select(0, " + ti + ").reshape(" + as_input + ")");
        auto ye = graph(*n.body, *info.body, {xe}, P + "expert" + E_ + "__", ind + 1);
        if (!error.empty()) return {};
        line(ind + 1, v + ".index_add_(0, " + ti + ", " + ye[0] + ".reshape([-1, " + std::to_string(d) + "]) * " + fg + ".index_select(0, " + sel + ").unsqueeze(1))");
        line(ind, start + " = " + start + " + " + counts + "[" + E_ + "]");
      }
      for (int64_t e = 0; e < shared; ++e) {
        auto ys = graph(*n.body, *info.body, {tok + ".reshape(" + as_input + ")"}, P + "shared" + std::to_string(e) + "__", ind);
        if (!error.empty()) return {};
        line(ind, v + " = " + v + " + " + ys[0] + ".reshape([-1, " + std::to_string(d) + "])");
      }
      line(ind, v + " = " + v + ".reshape(" + x + ".shape)");
    } else {
      error = "op `" + op + "` cannot be exported to TorchScript";
    }
    return {v};
  }
};

std::string ts_name(const std::string& dotted) {
  std::string s;
  for (char c : dotted) s += c == '.' ? std::string("__") : std::string(1, c);
  return s;
}

}  // namespace

Result<std::string> torchscript_source(const Model& m) {
  const auto& c = m.circuit();
  const auto& a = m.analysis();
  Emitter em;
  std::vector<std::string> ins;
  std::string sig;
  for (int k : a.inputs) {
    std::string n = "in_" + c.graph.nodes[size_t(k)].name;
    ins.push_back(n);
    sig += ", " + n + ": Tensor";
  }
  std::ostringstream body;
  auto outs = em.graph(c.graph, a, ins, "", 1);
  if (!em.error.empty()) return Error{em.error};
  std::string ret = outs.size() == 1 ? "Tensor" : "Tuple[" + [&] {
    std::string r;
    for (size_t k = 0; k < outs.size(); ++k) r += (k ? ", " : "") + std::string("Tensor");
    return r;
  }() + "]";
  std::string src = "def forward(self" + sig + ") -> " + ret + ":\n" + em.out.str();
  std::string r;
  for (size_t k = 0; k < outs.size(); ++k) r += (k ? ", " : "") + outs[k];
  src += "    return " + (outs.size() == 1 ? r : "(" + r + ")") + "\n";
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
    for (auto& p : m.module().named_parameters(true)) jm.register_parameter(ts_name(p.key()), p.value().detach().clone(), false);
    for (auto& b : m.module().named_buffers(true)) jm.register_buffer(ts_name(b.key()), b.value().detach().clone());
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
