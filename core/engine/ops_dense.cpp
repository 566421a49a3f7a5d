// Lowerings of the dense family (core/circuit/ops_dense.cpp): linear maps, embeddings,
// normalisations, activations, elementwise combinations, reductions and exit heads. Each op's
// TorchScript and ONNX forms compute what its compiled step computes, call for call.
#include <algorithm>
#include <cmath>

#include "engine/detail/distributed.h"
#include "engine/detail/lowering.h"
#include "engine/detail/onnx_writer.h"

namespace engine::detail {

namespace {

using at::Tensor;
using base::Error;
using base::Result;
using Strings = std::vector<std::string>;

// LibTorch 1.13's CPU GELU backward misreads a non-contiguous incoming gradient (for example one
// that arrives through permute + flatten + mean): it returns zeros or garbage, differently from
// run to run. Measured with Debian's python3-torch too. Handing it a contiguous gradient fixes it.
struct Gelu : torch::autograd::Function<Gelu> {
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& x) {
    ctx->save_for_backward({x});
    return torch::gelu(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list g) {
    return {torch::gelu_backward(g[0].contiguous(), ctx->get_saved_variables()[0])};
  }
};

}  // namespace

Tensor apply_elementwise(circuit::Elementwise f, const Tensor& x) {
  switch (f) {
    case circuit::Elementwise::relu: return torch::relu(x);
    case circuit::Elementwise::gelu: return Gelu::apply(x);
    case circuit::Elementwise::silu: return torch::silu(x);
    case circuit::Elementwise::none: break;
  }
  return x;
}

namespace {

// ---- linear

int64_t linear_axis(const Site& s) { return s.s("in_axis").empty() ? s.rank() - 1 : s.t().find(s.s("in_axis")); }

// A tied linear (attribute `tie`) reads the table of an embedding compiled earlier in the same
// graph, [num, dim] = [out, in]; its own module holds only the bias.
struct TiedLinear : torch::nn::Module {
  Tensor weight, bias;
  TiedLinear(Tensor w, int64_t out, bool has_bias) : weight(std::move(w)) {
    if (has_bias) bias = register_parameter("bias", torch::zeros({out}));
  }
};

Result<Fn> compile_linear(Compiler& c, const Site& s) {
  int64_t d = linear_axis(s);
  if (const std::string& tie = s.s("tie"); !tie.empty()) {
    auto* found = c.g.named_children().find(tie);
    auto* emb = found ? dynamic_cast<torch::nn::EmbeddingImpl*>(found->get()) : nullptr;
    if (!emb)
      return Error{s.where() + ": tie = `" + tie + "` names no embedding node before it in the same graph (tied weights are an embedding's table)"};
    if (emb->weight.size(0) != s.i("out") || emb->weight.size(1) != s.size(d))
      return Error{s.where() + ": tied to `" + tie + "` whose table is [" + std::to_string(emb->weight.size(0)) + ", " +
                   std::to_string(emb->weight.size(1)) + "], but this linear maps " + std::to_string(s.size(d)) + " features to " +
                   std::to_string(s.i("out"))};
    // A tied table starts at the output layer's scale (std d^-1/2, GPT-2's and Llama's 0.02 at
    // d 2500): N(0, 1) rows, torch.nn.Embedding's default, make the first logits of a normed input
    // std sqrt(d), and samba_small began at a loss of 48 instead of ln 128 = 4.9 (untied: 4.6 after an epoch).
    {
      torch::NoGradGuard ng;
      emb->weight.normal_(0, 1 / std::sqrt(double(s.size(d))));
    }
    auto lin = c.add(s, std::make_shared<TiedLinear>(emb->weight, s.i("out"), s.b("bias")));
    return unary([lin, d](const Tensor& x) { return on_last(x, d, [&](const Tensor& y) { return torch::linear(y, lin->weight, lin->bias); }); });
  }
  auto lin = c.add(s, torch::nn::Linear(torch::nn::LinearOptions(s.size(d), s.i("out")).bias(s.b("bias"))));
  return unary([lin, d](const Tensor& x) { return on_last(x, d, [&](const Tensor& y) { return lin->forward(y); }); });
}
// The weight's name in the exported module: its own, or the tied embedding's (a sibling: the
// same prefix without this node's name).
std::string linear_weight(const Site& s, const std::string& prefix, const std::string& sep) {
  if (s.s("tie").empty()) return prefix + "weight";
  return prefix.substr(0, prefix.size() - s.node.name.size() - sep.size()) + s.s("tie") + sep + "weight";
}
Strings script_linear(Script& w, const Site& s, const Strings& in) {
  std::string v = w.fresh(s.node.name), b = s.b("bias") ? w.self("bias") : "None", weight = "self." + linear_weight(s, w.P, "__");
  w.line(v + " = " + ts_on_last(s.rank(), linear_axis(s), in[0], [&](const std::string& y) { return "torch.linear(" + y + ", " + weight + ", " + b + ")"; }));
  return {v};
}
Strings onnx_linear(Onnx& o, const Site& s, const Strings& in) {
  int64_t rank = s.rank(), d = linear_axis(s);
  std::string y = o.linear(o.move(in[0], rank, d, rank - 1), size_t(rank), o.param(linear_weight(s, o.prefix(), ".")), s.b("bias") ? o.weight("bias") : "");
  return o.result(s, o.move(y, rank, rank - 1, d));
}

// ---- embedding

Result<Fn> compile_embedding(Compiler& c, const Site& s) {
  auto e = c.add(s, torch::nn::Embedding(s.i("num"), s.i("dim")));
  return unary([e](const Tensor& x) { return e->forward(x); });
}
Strings script_embedding(Script& w, const Site& s, const Strings& in) {
  std::string v = w.fresh(s.node.name);
  w.line(v + " = torch.embedding(" + w.self("weight") + ", " + in[0] + ")");
  return {v};
}
Strings onnx_embedding(Onnx& o, const Site& s, const Strings& in) {
  return o.result(s, o.op("Gather", {o.weight("weight"), in[0]}, {attr_i("axis", 0)}));
}

// ---- layer_norm

Result<Fn> compile_layer_norm(Compiler& c, const Site& s) {
  int64_t d = s.dim(s.s("axis"), -1);
  auto ln = c.add(s, torch::nn::LayerNorm(torch::nn::LayerNormOptions({s.size(d)}).eps(s.f("eps")).elementwise_affine(s.b("affine"))));
  return unary([ln, d](const Tensor& x) { return on_last(x, d, [&](const Tensor& y) { return ln->forward(y); }); });
}
Strings script_layer_norm(Script& w, const Site& s, const Strings& in) {
  int64_t d = s.dim(s.s("axis"), -1);
  std::string v = w.fresh(s.node.name);
  std::string wt = s.b("affine") ? w.self("weight") : "None", b = s.b("affine") ? w.self("bias") : "None";
  std::string size = std::to_string(s.size(d));
  w.line(v + " = " + ts_on_last(s.rank(), d, in[0], [&](const std::string& y) {
           return "torch.layer_norm(" + y + ", [" + size + "], " + wt + ", " + b + ", " + ts_num(s.f("eps")) + ")";
         }));
  return {v};
}
Strings onnx_layer_norm(Onnx& o, const Site& s, const Strings& in) {
  int64_t rank = s.rank(), d = s.dim(s.s("axis"), -1);
  std::vector<std::string> args{o.move(in[0], rank, d, rank - 1)};
  if (s.b("affine")) args.push_back(o.weight("weight")), args.push_back(o.weight("bias"));
  else args.push_back(o.constant(torch::ones({s.size(d)}), "ones"));  // LayerNormalization requires a scale
  return o.result(s, o.move(o.op("LayerNormalization", args, {attr_i("axis", -1), attr_f("epsilon", s.f("eps"))}), rank, rank - 1, d));
}

// ---- rms_norm: y * rsqrt(mean(y^2, -1, keepdim) + eps), times a learned scale when affine

Result<Fn> compile_rms_norm(Compiler& c, const Site& s) {
  int64_t d = s.dim(s.s("axis"), -1);
  double eps = s.f("eps");
  Tensor w;
  if (s.b("affine")) {
    auto holder = c.add(s, std::make_shared<torch::nn::Module>());
    w = holder->register_parameter("weight", torch::ones({s.size(d)}));
  }
  return unary([w, d, eps](const Tensor& x) {
    return on_last(x, d, [&](const Tensor& y) {
      Tensor r = y * torch::rsqrt(y.pow(2).mean(-1, true) + eps);
      return w.defined() ? r * w : r;
    });
  });
}
Strings script_rms_norm(Script& w, const Site& s, const Strings& in) {
  std::string v = w.fresh(s.node.name), eps = ts_num(s.f("eps"));
  w.line(v + " = " + ts_on_last(s.rank(), s.dim(s.s("axis"), -1), in[0], [&](const std::string& y) {
           std::string r = "(" + y + " * torch.rsqrt(" + y + ".pow(2).mean(-1, True) + " + eps + "))";
           return s.b("affine") ? r + " * " + w.self("weight") : r;
         }));
  return {v};
}
Strings onnx_rms_norm(Onnx& o, const Site& s, const Strings& in) {
  int64_t rank = s.rank(), d = s.dim(s.s("axis"), -1);
  std::string z = o.move(in[0], rank, d, rank - 1);
  std::string y = o.rms(z, s.b("affine") ? o.weight("weight") : "", s.f("eps"));
  return o.result(s, o.move(y, rank, rank - 1, d));
}

// ---- batch_norm over the channel axis (default 1)

// BatchNorm over the global batch of a data-parallel run: per-channel sums, sums of squares and
// the count are summed over ranks, differentiably, so normalisation, gradients and running
// statistics are those of one process at the global batch size (PyTorch's SyncBatchNorm).
Tensor sync_batch_norm(const Tensor& y, const Tensor& w, const Tensor& b, const Tensor& mean, const Tensor& var, double eps) {
  constexpr double momentum = 0.1;  // torch::batch_norm's, as below
  std::vector<int64_t> dims, shape(size_t(y.dim()), 1);
  for (int64_t k = 0; k < y.dim(); ++k)
    if (k != 1) dims.push_back(k);
  int64_t ch = y.size(1);
  shape[1] = ch;
  // Two passes, as one process computes it: E[x^2] - E[x]^2 in fp32 was 3e-4 off in a running
  // variance after 20 steps; the centred second pass costs one more small all-reduce.
  Tensor count = torch::full({1}, double(y.numel() / std::max<int64_t>(ch, 1)), y.options());
  Tensor first = detail::all_reduce_sum_differentiable(torch::cat({y.sum(dims), count}));
  Tensor n = first.narrow(0, ch, 1);
  Tensor mu = first.narrow(0, 0, ch) / n;
  Tensor centred = y - mu.view(shape);
  Tensor v = detail::all_reduce_sum_differentiable((centred * centred).sum(dims)) / n;  // biased, as normalisation uses
  Tensor out = centred * torch::rsqrt(v.view(shape) + eps);
  if (w.defined()) out = out * w.view(shape) + b.view(shape);
  torch::NoGradGuard ng;
  double rows = n.item<double>();
  mean.mul_(1 - momentum).add_(mu.detach() * momentum);
  var.mul_(1 - momentum).add_(v.detach() * (rows / std::max(rows - 1, 1.0)) * momentum);  // running variance is unbiased
  return out;
}

Result<Fn> compile_batch_norm(Compiler& c, const Site& s) {
  int64_t d = s.dim(s.s("axis"), 1), ch = s.size(d);
  double eps = s.f("eps");
  auto m = c.add(s, std::make_shared<torch::nn::Module>());
  Tensor w, bias;
  if (s.b("affine")) {
    w = m->register_parameter("weight", torch::ones({ch}));
    bias = m->register_parameter("bias", torch::zeros({ch}));
  }
  Tensor mean = m->register_buffer("running_mean", torch::zeros({ch}));
  Tensor var = m->register_buffer("running_var", torch::ones({ch}));
  GraphModule* owner = &c.g;
  return unary([=](const Tensor& x) {
    Tensor y = d == 1 ? x : x.movedim(d, 1);
    detail::Collectives* group = owner->is_training() ? detail::training_group() : nullptr;
    y = group ? sync_batch_norm(y, w, bias, mean, var, eps) : torch::batch_norm(y, w, bias, mean, var, owner->is_training(), 0.1, eps, false);
    return d == 1 ? y : y.movedim(1, d);
  });
}
Strings script_batch_norm(Script& w, const Site& s, const Strings& in) {
  int64_t d = s.dim(s.s("axis"), 1);
  std::string v = w.fresh(s.node.name);
  std::string wt = s.b("affine") ? w.self("weight") : "None", b = s.b("affine") ? w.self("bias") : "None";
  std::string e = "torch.batch_norm(" + ts_movedim(in[0], d, 1) + ", " + wt + ", " + b + ", " + w.self("running_mean") + ", " +
                  w.self("running_var") + ", False, 0.1, " + ts_num(s.f("eps")) + ", False)";
  w.line(v + " = " + ts_movedim(e, 1, d));
  return {v};
}
Strings onnx_batch_norm(Onnx& o, const Site& s, const Strings& in) {
  int64_t rank = s.rank(), d = s.dim(s.s("axis"), 1), ch = s.size(d);
  std::string wt = s.b("affine") ? o.weight("weight") : o.constant(torch::ones({ch}), "ones");
  std::string b = s.b("affine") ? o.weight("bias") : o.constant(torch::zeros({ch}), "zeros");
  std::string y = o.op("BatchNormalization", {o.move(in[0], rank, d, 1), wt, b, o.weight("running_mean"), o.weight("running_var")},
                       {attr_f("epsilon", s.f("eps"))});
  return o.result(s, o.move(y, rank, 1, d));
}

// ---- activations

// relu, gelu and silu: the function their OpDef names.
Result<Fn> compile_activation(Compiler&, const Site& s) {
  return unary([f = s.def.elementwise](const Tensor& x) { return apply_elementwise(f, x); });
}
constexpr CompileFn compile_relu = compile_activation, compile_gelu = compile_activation, compile_silu = compile_activation;

// torch.<fn>(x) for elementwise activations.
Strings script_call(Script& w, const Site& s, const std::string& fn, const std::string& x) {
  std::string v = w.fresh(s.node.name);
  w.line(v + " = torch." + fn + "(" + x + ")");
  return {v};
}
Strings script_relu(Script& w, const Site& s, const Strings& in) { return script_call(w, s, "relu", in[0]); }
Strings script_gelu(Script& w, const Site& s, const Strings& in) { return script_call(w, s, "gelu", in[0]); }
Strings script_silu(Script& w, const Site& s, const Strings& in) { return script_call(w, s, "silu", in[0]); }

Strings onnx_relu(Onnx& o, const Site& s, const Strings& in) { return o.result(s, o.op("Relu", {in[0]})); }
Strings onnx_gelu(Onnx& o, const Site& s, const Strings& in) {
  // Opset 17 has no Gelu; this is ATen's CPU kernel term for term: x * 0.5 * (1 + erf(x * M_SQRT1_2)).
  const std::string& x = in[0];
  std::string e = o.op("Erf", {o.op("Mul", {x, o.scalar_f(M_SQRT1_2)})});
  return o.result(s, o.op("Mul", {o.op("Mul", {x, o.scalar_f(0.5)}), o.op("Add", {e, o.scalar_f(1.0)})}));
}
Strings onnx_silu(Onnx& o, const Site& s, const Strings& in) { return o.result(s, o.op("Mul", {in[0], o.op("Sigmoid", {in[0]})})); }

// ---- softmax and dropout

Result<Fn> compile_softmax(Compiler&, const Site& s) {
  int64_t d = s.dim(s.s("axis"), -1);
  return unary([d](const Tensor& x) { return torch::softmax(x, d); });
}
Strings script_softmax(Script& w, const Site& s, const Strings& in) {
  std::string v = w.fresh(s.node.name);
  w.line(v + " = torch.softmax(" + in[0] + ", " + std::to_string(s.dim(s.s("axis"), -1)) + ")");
  return {v};
}
Strings onnx_softmax(Onnx& o, const Site& s, const Strings& in) {
  return o.result(s, o.op("Softmax", {in[0]}, {attr_i("axis", s.dim(s.s("axis"), -1))}));
}

Result<Fn> compile_dropout(Compiler& c, const Site& s) {
  double p = s.f("p");
  GraphModule* owner = &c.g;
  return unary([p, owner](const Tensor& x) { return torch::dropout(x, p, owner->is_training()); });
}
// Exports are for inference, where dropout is the identity.
Strings script_dropout(Script& w, const Site& s, const Strings& in) {
  std::string v = w.fresh(s.node.name);
  w.line(v + " = " + in[0]);
  return {v};
}
Strings onnx_dropout(Onnx& o, const Site& s, const Strings& in) { return o.result(s, o.op("Identity", {in[0]})); }

// ---- add and multiply: left to right over every input

template <bool Add>
Result<Fn> compile_combine(Compiler&, const Site&) {
  return Fn([](const Tensors& a, Ctx&) {
    Tensor r = a[0];
    for (size_t k = 1; k < a.size(); ++k) r = Add ? r + a[k] : r * a[k];
    return Tensors{r};
  });
}
template <bool Add>
Strings script_combine(Script& w, const Site& s, const Strings& in) {
  std::string v = w.fresh(s.node.name), e = in[0];
  for (size_t k = 1; k < in.size(); ++k) e += (Add ? " + " : " * ") + in[k];
  w.line(v + " = " + e);
  return {v};
}
template <bool Add>
Strings onnx_combine(Onnx& o, const Site& s, const Strings& in) {
  std::string y = in[0];
  for (size_t k = 1; k < in.size(); ++k) y = o.op(Add ? "Add" : "Mul", {y, in[k]});
  return o.result(s, y);
}

// ---- reduce over named axes

Result<Fn> compile_reduce(Compiler&, const Site& s) {
  std::vector<int64_t> dims = s.dims_of("axes");
  std::string mode = s.s("mode");
  return unary([dims, mode](const Tensor& x) {
    if (mode == "sum") return x.sum(dims);
    if (mode == "max") return x.amax(dims);
    return x.mean(dims);
  });
}
Strings script_reduce(Script& w, const Site& s, const Strings& in) {
  std::string v = w.fresh(s.node.name);
  std::string m = s.s("mode") == "sum" ? "sum" : s.s("mode") == "max" ? "amax" : "mean";
  w.line(v + " = " + in[0] + "." + m + "(" + ts_list(s.dims_of("axes")) + ")");
  return {v};
}
Strings onnx_reduce(Onnx& o, const Site& s, const Strings& in) {
  std::vector<int64_t> dims = s.dims_of("axes");
  const std::string& mode = s.s("mode");
  // Opset 17: ReduceSum takes its axes as an input, ReduceMean and ReduceMax as an attribute.
  if (mode == "sum") return o.result(s, o.op("ReduceSum", {in[0], o.ints(dims)}, {attr_i("keepdims", 0)}));
  return o.result(s, o.op(mode == "max" ? "ReduceMax" : "ReduceMean", {in[0]}, {attr_ints("axes", dims), attr_i("keepdims", 0)}));
}

// ---- exit_head: mean over every axis but batch and features, then a linear classifier

int64_t exit_features(const Site& s) { return s.dim(s.s("feature_axis"), s.rank() == 4 ? 1 : -1); }
std::vector<int64_t> exit_pool(const Site& s) {
  std::vector<int64_t> pool;
  for (int64_t j = 1; j < s.rank(); ++j)
    if (j != exit_features(s)) pool.push_back(j);
  return pool;
}
Result<Fn> compile_exit_head(Compiler& c, const Site& s) {
  std::vector<int64_t> pool = exit_pool(s);
  auto lin = c.add(s, torch::nn::Linear(s.size(exit_features(s)), s.i("classes")));
  return unary([lin, pool](const Tensor& x) { return lin->forward(pool.empty() ? x : x.mean(pool)); });
}
Strings script_exit_head(Script& w, const Site& s, const Strings& in) {
  std::vector<int64_t> pool = exit_pool(s);
  std::string v = w.fresh(s.node.name), y = pool.empty() ? in[0] : in[0] + ".mean(" + ts_list(pool) + ")";
  w.line(v + " = torch.linear(" + y + ", " + w.self("weight") + ", " + w.self("bias") + ")");
  return {v};
}
Strings onnx_exit_head(Onnx& o, const Site& s, const Strings& in) {
  std::vector<int64_t> pool = exit_pool(s);
  std::string y = pool.empty() ? in[0] : o.op("ReduceMean", {in[0]}, {attr_ints("axes", pool), attr_i("keepdims", 0)});
  return o.result(s, o.linear(y, size_t(s.rank()) - pool.size(), o.weight("weight"), o.weight("bias")));
}

}  // namespace

// add and multiply share one template each; the others follow the naming convention.
void add_dense_lowerings(std::vector<Lowering>& t) {
  t.insert(t.end(), {CIRCUIT_LOWERING(linear), CIRCUIT_LOWERING(embedding), CIRCUIT_LOWERING(layer_norm), CIRCUIT_LOWERING(rms_norm),
                     CIRCUIT_LOWERING(batch_norm), CIRCUIT_LOWERING(relu), CIRCUIT_LOWERING(gelu), CIRCUIT_LOWERING(silu),
                     CIRCUIT_LOWERING(softmax), CIRCUIT_LOWERING(dropout), CIRCUIT_LOWERING(reduce), CIRCUIT_LOWERING(exit_head)});
  t.push_back({"add", false, compile_combine<true>, script_combine<true>, onnx_combine<true>});
  t.push_back({"multiply", false, compile_combine<false>, script_combine<false>, onnx_combine<false>});
}

}  // namespace engine::detail
