// Compiling a circuit into LibTorch. One small builder per op turns a node (with its analysed
// input and output types) into a step: registered parameters plus a function over tensors.
// Named axes become dimension indices here, once, at compile time.
#include "model.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <malloc.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <optional>
#include <sstream>
#include <thread>

#include "circuit/op.h"
#include "moe.h"

namespace engine {

using circuit::Error;
using circuit::Result;
using circuit::TensorType;
using torch::Tensor;
using Tensors = std::vector<Tensor>;

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

static Tensor gelu_fixed_backward(const Tensor& x) { return Gelu::apply(x); }

namespace {

/// Side outputs of one forward pass, and state that flows between MoE layers.
struct Ctx {
  Tensors* aux = nullptr;
  MoeFlow moe;
};

using Fn = std::function<Tensors(const Tensors&, Ctx&)>;

// Everything a builder needs about one node: the IR's OpCall (attributes with schema defaults,
// input types) plus the analysed outputs.
struct NodeSpec : circuit::OpCall {
  const std::vector<TensorType>& out;
  const circuit::NodeInfo& info;

  // Dimension index of a named axis of input `p` (named, or fallback counted from the end if negative).
  int64_t dim(int p, const std::string& name, int fallback) const {
    const TensorType& t = in[size_t(p)];
    if (!name.empty()) return t.find(name);
    return fallback < 0 ? int64_t(t.rank()) + fallback : fallback;
  }
  int64_t size(int p, int64_t d) const { return in[size_t(p)].axes[size_t(d)].size.n; }
};

std::pair<int64_t, int64_t> pair_of(const std::vector<int64_t>& v, int64_t dflt) {
  if (v.empty()) return {dflt, dflt};
  if (v.size() == 1) return {v[0], v[0]};
  return {v[0], v[1]};
}

// Applies `f` with dimension `d` moved last, then moves it back: ops that act on the last axis
// can then act on any named axis.
Tensor on_last(const Tensor& x, int64_t d, const std::function<Tensor(const Tensor&)>& f) {
  int64_t last = x.dim() - 1;
  if (d == last) return f(x);
  return f(x.movedim(d, last)).movedim(last, d);
}

class GraphModule;
Result<std::shared_ptr<GraphModule>> compile_graph(const circuit::Graph& g, const circuit::GraphAnalysis& a,
                                                   const circuit::Bindings& b, const std::string& path);

// ---- attention ------------------------------------------------------------------------------

// Multi-head self-attention with the parameter layout of nn.MultiheadAttention (in_proj_weight
// [3d, d], in_proj_bias, out_proj), written out so the TorchScript export can mirror it exactly.
struct Attention : torch::nn::Module {
  int64_t d, heads, window;
  bool causal;
  double dropout;
  Tensor in_w, in_b;
  torch::nn::Linear out{nullptr};
  Attention(int64_t d_, int64_t h, bool c, int64_t w, bool bias, double p) : d(d_), heads(h), window(w), causal(c), dropout(p) {
    in_w = register_parameter("in_proj_weight", torch::empty({3 * d, d}));
    torch::nn::init::xavier_uniform_(in_w);
    if (bias) in_b = register_parameter("in_proj_bias", torch::zeros({3 * d}));
    out = register_module("out_proj", torch::nn::Linear(torch::nn::LinearOptions(d, d).bias(bias)));
    if (bias) torch::nn::init::zeros_(out->bias);
  }
  // x: [B, T, d]
  Tensor forward(const Tensor& x) {
    int64_t B = x.size(0), T = x.size(1), dh = d / heads;
    auto qkv = torch::linear(x, in_w, in_b).chunk(3, -1);
    auto split = [&](const Tensor& t) { return t.reshape({B, T, heads, dh}).transpose(1, 2); };
    Tensor q = split(qkv[0]), k = split(qkv[1]), v = split(qkv[2]);
    Tensor scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(double(dh));
    if (causal || window) {
      auto pos = torch::arange(T, x.options().dtype(torch::kLong));
      Tensor dist = pos.unsqueeze(1) - pos.unsqueeze(0);  // query - key
      Tensor blocked = causal && window ? (dist < 0).logical_or(dist.abs() >= window) : causal ? dist < 0 : dist.abs() >= window;
      scores = scores.masked_fill(blocked, -std::numeric_limits<float>::infinity());
    }
    Tensor w = torch::softmax(scores, -1);
    if (dropout > 0) w = torch::dropout(w, dropout, is_training());
    Tensor ctx = torch::matmul(w, v).transpose(1, 2).reshape({B, T, d});
    return out(ctx);
  }
};

// ---- the graph --------------------------------------------------------------------------------

class GraphModule : public torch::nn::Module {
 public:
  struct Step {
    int node;
    std::vector<std::pair<int, int>> src;  // (node index, output port)
    Fn fn;
  };
  std::vector<Step> steps;
  std::vector<int> inputs;                     // input node indices, in port order
  std::vector<std::pair<int, int>> outputs;    // graph outputs
  std::vector<int> last_use;                   // node index -> last step that reads it
  size_t node_count = 0;

  Tensors forward(const Tensors& in, Ctx& ctx) {
    std::vector<Tensors> vals(node_count);
    for (size_t k = 0; k < inputs.size() && k < in.size(); ++k) vals[size_t(inputs[k])] = {in[k]};
    Tensors args;
    for (size_t s = 0; s < steps.size(); ++s) {
      const Step& st = steps[s];
      args.clear();
      for (auto [n, p] : st.src) args.push_back(vals[size_t(n)][size_t(p)]);
      vals[size_t(st.node)] = st.fn(args, ctx);
      // Drop values nobody reads any more, so inference does not hold every activation.
      for (auto [n, p] : st.src)
        if (last_use[size_t(n)] == int(s)) vals[size_t(n)].clear();
    }
    Tensors out;
    for (auto [n, p] : outputs) out.push_back(vals[size_t(n)][size_t(p)]);
    return out;
  }
};

// ---- per-op builders ----------------------------------------------------------------------------

Fn unary(std::function<Tensor(const Tensor&)> f) {
  return [f = std::move(f)](const Tensors& a, Ctx&) { return Tensors{f(a[0])}; };
}

template <class M>
std::shared_ptr<M> reg(GraphModule& g, const std::string& name, std::shared_ptr<M> m) {
  return g.register_module(name, std::move(m));
}

// Experts of the form linear -> relu | gelu | silu -> linear over the features (the FFN the
// templates make), or gated: act(linear) * linear -> linear (SwiGLU, GEGLU), can run as one
// grouped node; returns their weights, or nothing.
std::optional<GroupedFfn> grouped_ffn(const circuit::Graph& body, const std::vector<std::shared_ptr<torch::nn::Module>>& experts) {
  if (body.outputs.size() != 1 || body.outputs[0].port != 0 || experts.empty()) return std::nullopt;
  auto find = [&](const std::string& name) -> const circuit::Node* {
    for (auto& n : body.nodes)
      if (n.name == name) return &n;
    return nullptr;
  };
  auto source = [&](const circuit::Node* n, size_t i = 0) -> const circuit::Node* {
    return n && n->inputs.size() > i && n->inputs[i].port == 0 ? find(n->inputs[i].node) : nullptr;
  };
  auto plain_linear = [&](const circuit::Node* n) {
    if (!n || n->op != "linear" || n->inputs.size() != 1) return false;
    auto it = n->attrs.find("in_axis");
    const circuit::Node* in = source(n);
    return (it == n->attrs.end() || std::get<std::string>(it->second).empty()) && in && in->op == "input";
  };
  auto activation = [](const circuit::Node* n) { return n && (n->op == "relu" || n->op == "gelu" || n->op == "silu"); };

  const circuit::Node* l2 = find(body.outputs[0].node);
  const circuit::Node* mid = source(l2);
  if (!l2 || l2->op != "linear" || l2->inputs.size() != 1 || !mid) return std::nullopt;
  auto in_axis = l2->attrs.find("in_axis");
  if (in_axis != l2->attrs.end() && !std::get<std::string>(in_axis->second).empty()) return std::nullopt;
  const circuit::Node *act = nullptr, *l1 = nullptr, *lu = nullptr;
  if (activation(mid) && mid->inputs.size() == 1 && body.nodes.size() == 4) {
    act = mid, l1 = source(act);
  } else if (mid->op == "multiply" && mid->inputs.size() == 2 && body.nodes.size() == 6) {
    for (size_t i = 0; i < 2; ++i)
      if (activation(source(mid, i)) && source(mid, i)->inputs.size() == 1) act = source(mid, i), l1 = source(act), lu = source(mid, 1 - i);
    if (!plain_linear(lu)) return std::nullopt;
  }
  if (!act || !plain_linear(l1)) return std::nullopt;
  GroupedFfn f;
  f.activation = act->op;
  for (auto& e : experts) {
    auto p = e->named_parameters();
    auto weight = [&](const circuit::Node* n) { return p[n->name + ".weight"]; };
    auto bias = [&](const circuit::Node* n) { return p.contains(n->name + ".bias") ? p[n->name + ".bias"] : Tensor(); };
    f.w1.push_back(weight(l1)), f.b1.push_back(bias(l1));
    f.w2.push_back(weight(l2)), f.b2.push_back(bias(l2));
    if (lu) f.wu.push_back(weight(lu)), f.bu.push_back(bias(lu));
  }
  return f;
}

Result<Fn> build(GraphModule& g, const NodeSpec& n, const circuit::Bindings& b, const std::string& path) {
  const std::string& op = n.node.op;
  const std::string& name = n.node.name;
  if (op == "linear") {
    const std::string& in_axis = n.s("in_axis");
    int64_t d = in_axis.empty() ? int64_t(n.in[0].rank()) - 1 : n.in[0].find(in_axis);
    auto lin = g.register_module(name, torch::nn::Linear(torch::nn::LinearOptions(n.size(0, d), n.i("out")).bias(n.b("bias"))));
    return unary([lin, d](const Tensor& x) { return on_last(x, d, [&](const Tensor& y) { return lin->forward(y); }); });
  }
  if (op == "embedding") {
    auto e = g.register_module(name, torch::nn::Embedding(n.i("num"), n.i("dim")));
    return unary([e](const Tensor& x) { return e->forward(x); });
  }
  if (op == "layer_norm") {
    int64_t d = n.dim(0, n.s("axis"), -1);
    auto ln = g.register_module(name, torch::nn::LayerNorm(torch::nn::LayerNormOptions({n.size(0, d)}).eps(n.f("eps")).elementwise_affine(n.b("affine"))));
    return unary([ln, d](const Tensor& x) { return on_last(x, d, [&](const Tensor& y) { return ln->forward(y); }); });
  }
  if (op == "rms_norm") {
    int64_t d = n.dim(0, n.s("axis"), -1);
    double eps = n.f("eps");
    Tensor w;
    if (n.b("affine")) {
      auto holder = g.register_module(name, std::make_shared<torch::nn::Module>());
      w = holder->register_parameter("weight", torch::ones({n.size(0, d)}));
    }
    return unary([w, d, eps](const Tensor& x) {
      return on_last(x, d, [&](const Tensor& y) {
        Tensor r = y * torch::rsqrt(y.pow(2).mean(-1, true) + eps);
        return w.defined() ? r * w : r;
      });
    });
  }
  if (op == "batch_norm") {
    int64_t d = n.dim(0, n.s("axis"), 1), c = n.size(0, d);
    double eps = n.f("eps");
    auto m = g.register_module(name, std::make_shared<torch::nn::Module>());
    Tensor w, bias;
    if (n.b("affine")) {
      w = m->register_parameter("weight", torch::ones({c}));
      bias = m->register_parameter("bias", torch::zeros({c}));
    }
    Tensor mean = m->register_buffer("running_mean", torch::zeros({c}));
    Tensor var = m->register_buffer("running_var", torch::ones({c}));
    GraphModule* owner = &g;
    return unary([=](const Tensor& x) {
      Tensor y = d == 1 ? x : x.movedim(d, 1);
      y = torch::batch_norm(y, w, bias, mean, var, owner->is_training(), 0.1, eps, false);
      return d == 1 ? y : y.movedim(1, d);
    });
  }
  if (op == "relu") return unary([](const Tensor& x) { return torch::relu(x); });
  if (op == "gelu") return unary([](const Tensor& x) { return gelu_fixed_backward(x); });
  if (op == "silu") return unary([](const Tensor& x) { return torch::silu(x); });
  if (op == "softmax") {
    int64_t d = n.dim(0, n.s("axis"), -1);
    return unary([d](const Tensor& x) { return torch::softmax(x, d); });
  }
  if (op == "dropout") {
    double p = n.f("p");
    GraphModule* owner = &g;
    return unary([p, owner](const Tensor& x) { return torch::dropout(x, p, owner->is_training()); });
  }
  if (op == "add" || op == "multiply") {
    bool add = op == "add";
    return Fn([add](const Tensors& a, Ctx&) {
      Tensor r = a[0];
      for (size_t k = 1; k < a.size(); ++k) r = add ? r + a[k] : r * a[k];
      return Tensors{r};
    });
  }
  if (op == "reduce") {
    std::vector<int64_t> dims;
    for (auto& s : n.strs("axes")) dims.push_back(n.in[0].find(s));
    std::string mode = n.s("mode");
    return unary([dims, mode](const Tensor& x) {
      if (mode == "sum") return x.sum(dims);
      if (mode == "max") return x.amax(dims);
      return x.mean(dims);
    });
  }
  if (op == "exit_head") {
    const auto& t = n.in[0];
    int64_t f = n.dim(0, n.s("feature_axis"), t.rank() == 4 ? 1 : -1);
    std::vector<int64_t> pool;
    for (int64_t j = 1; j < int64_t(t.rank()); ++j)
      if (j != f) pool.push_back(j);
    auto lin = g.register_module(name, torch::nn::Linear(n.size(0, f), n.i("classes")));
    return unary([lin, pool](const Tensor& x) { return lin->forward(pool.empty() ? x : x.mean(pool)); });
  }
  if (op == "conv2d" || op == "dwconv2d") {
    int64_t c = n.size(0, 1);
    bool dw = op == "dwconv2d";
    int64_t out = dw ? c * n.i("multiplier") : n.i("out"), groups = dw ? c : n.i("groups");
    auto [kh, kw] = pair_of(n.ints("kernel"), 1);
    auto [sh, sw] = pair_of(n.ints("stride"), 1);
    auto [ph, pw] = pair_of(n.ints("padding"), 0);
    auto [dh, dw_] = pair_of(n.ints("dilation"), 1);
    auto conv = g.register_module(name, torch::nn::Conv2d(torch::nn::Conv2dOptions(c, out, {kh, kw})
                                                              .stride({sh, sw}).padding({ph, pw}).dilation({dh, dw_})
                                                              .groups(groups).bias(n.b("bias"))));
    return unary([conv](const Tensor& x) { return conv->forward(x); });
  }
  if (op == "pool2d") {
    std::string mode = n.s("mode");
    auto [kh, kw] = pair_of(n.ints("kernel"), 1);
    auto [sh, sw] = pair_of(n.ints("stride"), 0);
    if (sh == 0) sh = kh, sw = kw;
    auto [ph, pw] = pair_of(n.ints("padding"), 0);
    return unary([=](const Tensor& x) {
      if (mode == "global_avg") return x.mean({2, 3});
      if (mode == "global_max") return x.amax({2, 3});
      if (mode == "avg") return torch::avg_pool2d(x, {kh, kw}, {sh, sw}, {ph, pw});
      return torch::max_pool2d(x, {kh, kw}, {sh, sw}, {ph, pw});
    });
  }
  if (op == "flatten") {
    std::vector<std::string> names = n.strs("axes");
    int64_t first = names.empty() ? 1 : n.in[0].find(names[0]);
    int64_t last = names.empty() ? int64_t(n.in[0].rank()) - 1 : first + int64_t(names.size()) - 1;
    return unary([first, last](const Tensor& x) { return x.flatten(first, last); });
  }
  if (op == "reshape") {
    // Concrete sizes come from the output type; symbolic ones from the matching input dimension.
    std::vector<int64_t> sym_dims;
    for (size_t j = 0; j < n.in[0].rank(); ++j)
      if (!n.in[0].axes[j].size.concrete()) sym_dims.push_back(int64_t(j));
    std::vector<int64_t> fixed;
    for (auto& a : n.out[0].axes) fixed.push_back(a.size.concrete() ? a.size.n : -1);
    return unary([fixed, sym_dims](const Tensor& x) {
      std::vector<int64_t> sizes = fixed;
      size_t s = 0;
      for (auto& v : sizes)
        if (v < 0) v = x.size(sym_dims[s++]);
      return x.reshape(sizes);
    });
  }
  if (op == "transpose") {
    std::vector<int64_t> perm;
    for (auto& s : n.strs("order")) perm.push_back(n.in[0].find(s));
    return unary([perm](const Tensor& x) { return x.permute(perm); });
  }
  if (op == "concat") {
    int64_t d = n.dim(0, n.s("axis"), 0);
    return Fn([d](const Tensors& a, Ctx&) { return Tensors{torch::cat(a, d)}; });
  }
  if (op == "split") {
    int64_t d = n.dim(0, n.s("axis"), 0);
    std::vector<int64_t> sizes = n.ints("sizes");
    return Fn([d, sizes](const Tensors& a, Ctx&) { return a[0].split_with_sizes(sizes, d); });
  }
  if (op == "attention") {
    int64_t s = n.dim(0, n.s("seq_axis"), -2), f = int64_t(n.in[0].rank()) - 1;
    auto at = reg(g, name, std::make_shared<Attention>(n.size(0, f), n.i("heads"), n.b("causal"), n.i("window"), n.b("bias"), n.f("dropout")));
    return unary([at, s, f](const Tensor& x) {
      // Move the sequence axis next to the features and fold every other axis into one batch.
      Tensor y = s == f - 1 ? x : x.movedim(s, f - 1);
      auto shape = y.sizes().vec();
      Tensor r = at->forward(y.reshape({-1, shape[size_t(f - 1)], shape[size_t(f)]})).reshape(shape);
      return s == f - 1 ? r : r.movedim(f - 1, s);
    });
  }
  if (op == "gru") {
    int64_t s = n.dim(0, n.s("seq_axis"), -2), f = int64_t(n.in[0].rank()) - 1, h = n.i("hidden");
    auto gru = g.register_module(name, torch::nn::GRU(torch::nn::GRUOptions(n.size(0, f), h).num_layers(n.i("layers")).bias(n.b("bias")).batch_first(true)));
    return unary([gru, s, f, h](const Tensor& x) {
      Tensor y = s == f - 1 ? x : x.movedim(s, f - 1);
      auto shape = y.sizes().vec();
      Tensor r = std::get<0>(gru->forward(y.reshape({-1, shape[size_t(f - 1)], shape[size_t(f)]})));
      shape[size_t(f)] = h;
      r = r.reshape(shape);
      return s == f - 1 ? r : r.movedim(f - 1, s);
    });
  }
  if (op == "block") {
    auto sub = compile_graph(*n.node.body, *n.info.body, b, path + name + "/");
    if (!sub) return sub.error();
    auto m = reg(g, name, *sub);
    return Fn([m](const Tensors& a, Ctx& ctx) { return m->forward(a, ctx); });
  }
  if (op == "moe") {
    // Experts run on gathered tokens, so an expert must act on each token on its own.
    const circuit::Graph& body = *n.node.body;
    const circuit::GraphAnalysis& ba = *n.info.body;
    std::string feat = n.in[0].axes.back().name;
    for (size_t j = 0; j < body.nodes.size(); ++j) {
      const circuit::OpDef* d = circuit::find_op(body.nodes[j].op);
      if (!d->consumes || body.nodes[j].op == "input") continue;
      std::vector<TensorType> ins;
      for (size_t p = 0; p < body.nodes[j].inputs.size(); ++p) {
        auto [src, port] = ba.sources[j][p];
        ins.push_back(ba.nodes[size_t(src)].outputs[size_t(port)]);
      }
      circuit::OpCall call{body.nodes[j], *d, ins, b, ba.nodes[j].body.get()};
      for (auto& axes : d->consumes(call))
        for (auto& ax : axes)
          if (ax != feat && ins[0].find(ax) != int(ins[0].rank()) - 1)
            return Error{"node `" + path + name + "`: an expert must act on each token on its own, but `" + body.nodes[j].name +
                         "` acts on axis `" + ax + "`"};
    }
    MoeConfig c;
    c.name = path + name;
    c.router = n.s("router");
    c.d = n.in[0].axes.back().size.n;
    c.experts = n.i("experts"), c.k = n.i("k"), c.shared = n.i("shared_experts");
    c.zero = n.i("zero_experts"), c.copy = n.i("copy_experts"), c.constant = n.i("constant_experts");
    c.noisy = n.b("noisy"), c.renormalize = n.b("renormalize"), c.dropless = n.b("dropless"), c.gating_residual = n.b("gating_residual");
    c.capacity_factor = n.f("capacity_factor"), c.aux_coef = n.f("aux_loss_coef"), c.z_coef = n.f("z_loss_coef");
    c.bias_rate = n.f("bias_update_rate"), c.relu_target = n.f("relu_target_sparsity"), c.relu_step = n.f("relu_l1_step");
    c.router_hidden = n.i("router_hidden");
    std::vector<std::shared_ptr<torch::nn::Module>> mods[2];
    std::vector<MoeLayer::Expert> runs[2];
    for (int64_t e = 0; e < c.experts + c.shared; ++e) {
      auto sub = compile_graph(body, ba, b, path + name + "/");
      if (!sub) return sub.error();
      int which = e >= c.experts;
      mods[which].push_back(*sub);
      runs[which].push_back([g = *sub](const Tensor& x) {
        Ctx inner;
        return g->forward({x}, inner)[0];
      });
    }
    auto m = reg(g, name, std::make_shared<MoeLayer>(c, mods[0], runs[0], mods[1], runs[1]));
    if (auto grouped = grouped_ffn(body, mods[0])) m->use_grouped_ffn(std::move(*grouped));
    return Fn([m](const Tensors& a, Ctx& ctx) { return Tensors{m->forward(a[0], ctx.moe, ctx.aux)}; });
  }
  return Error{"node `" + path + name + "`: op `" + op + "` has no engine implementation"};
}

Result<std::shared_ptr<GraphModule>> compile_graph(const circuit::Graph& g, const circuit::GraphAnalysis& a,
                                                   const circuit::Bindings& b, const std::string& path) {
  auto m = std::make_shared<GraphModule>();
  m->node_count = g.nodes.size();
  m->inputs = a.inputs;
  m->last_use.assign(g.nodes.size(), -1);
  for (int i : a.order) {
    const circuit::Node& node = g.nodes[size_t(i)];
    if (node.op == "input") continue;
    const circuit::NodeInfo& info = a.nodes[size_t(i)];
    std::vector<TensorType> in;
    GraphModule::Step st{i, {}, {}};
    for (size_t p = 0; p < node.inputs.size(); ++p) {
      auto [src, port] = a.sources[size_t(i)][p];
      st.src.push_back({src, port});
      in.push_back(a.nodes[size_t(src)].outputs[size_t(port)]);
      m->last_use[size_t(src)] = int(m->steps.size());
    }
    NodeSpec spec{{node, *circuit::find_op(node.op), in, b, info.body.get()}, info.outputs, info};
    auto fn = build(*m, spec, b, path);
    if (!fn) return fn.error();
    st.fn = std::move(*fn);
    m->steps.push_back(std::move(st));
  }
  for (auto& r : g.outputs) {
    int src = g.find(r.node);
    m->outputs.push_back({src, r.port});
    m->last_use[size_t(src)] = int(m->steps.size());  // outputs live to the end
  }
  return m;
}

}  // namespace

struct Model::Impl {
  circuit::Circuit circuit;
  circuit::GraphAnalysis analysis;
  std::shared_ptr<GraphModule> root;
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

Result<std::unique_ptr<Model>> Model::compile(const circuit::Circuit& c, uint64_t seed) {
  auto impl = std::make_unique<Impl>();
  impl->circuit = c;
  impl->analysis = circuit::analyze(impl->circuit);
  auto diags = impl->analysis.diagnostics(impl->circuit.graph);
  if (!diags.empty()) return Error{"cannot compile a circuit with errors: " + diags[0].message};
  if (impl->analysis.outputs.empty()) return Error{"cannot compile: the circuit has no outputs"};
  torch::manual_seed(seed);
  auto root = compile_graph(impl->circuit.graph, impl->analysis, circuit::cost_bindings(impl->circuit), "");
  if (!root) return root.error();
  impl->root = *root;
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

std::vector<at::Tensor> Model::forward(const std::vector<at::Tensor>& inputs, std::vector<at::Tensor>* aux,
                                       std::vector<events::ExpertLoad>* telemetry, int64_t step) {
  Ctx ctx;
  ctx.aux = aux;
  ctx.moe.telemetry = telemetry;
  ctx.moe.step = step;
  return impl_->root->forward(inputs, ctx);
}

void Model::set_training(bool on) { impl_->root->train(on); }
torch::nn::Module& Model::module() { return *impl_->root; }
int64_t Model::parameter_count() const {
  int64_t n = 0;
  for (auto& p : impl_->root->parameters()) n += p.numel();
  return n;
}
const circuit::Circuit& Model::circuit() const { return impl_->circuit; }
const circuit::GraphAnalysis& Model::analysis() const { return impl_->analysis; }

RuntimeInfo configure_runtime(int threads, bool keep_heap) {
  RuntimeInfo r;
  // Debian's LibTorch allocates CPU tensors with plain malloc. Left to its defaults, glibc hands
  // the multi-megabyte activation buffers back to the kernel at the end of every step and the
  // next step page-faults them in again (a fifth to a third of a CNN step). Fixing both
  // thresholds keeps them: buffers up to 32 MiB come from the heap, and the heap is trimmed only
  // above 1 GiB of free top. A variable set by the user (GLIBC_TUNABLES) wins.
  r.allocator = "glibc defaults";
  if (keep_heap && !std::getenv("GLIBC_TUNABLES")) {
    if (mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1)
      r.allocator = "glibc, mmap threshold 32 MiB, trim threshold 1 GiB";
  } else if (std::getenv("GLIBC_TUNABLES")) {
    r.allocator = std::string("glibc, GLIBC_TUNABLES=") + std::getenv("GLIBC_TUNABLES");
  }
  r.cores = int(std::thread::hardware_concurrency());
  if (threads <= 0) threads = r.cores > 0 ? r.cores : 1;
  torch::set_num_threads(threads);
  r.threads = at::get_num_threads();
  r.torch_version = TORCH_VERSION;
  // The line that names the parallel backend (OpenMP, and with which thread count).
  std::istringstream info(at::get_parallel_info());
  for (std::string l; std::getline(info, l);)
    if (l.find("OpenMP") != std::string::npos || l.find("backend") != std::string::npos) {
      r.parallel += (r.parallel.empty() ? "" : "; ") + l.substr(l.find_first_not_of(" \t"));
    }
  // Which BLAS the libblas.so.3 alternative resolves to (OpenBLAS is ~50x the reference BLAS).
  if (void* h = dlopen("libblas.so.3", RTLD_LAZY | RTLD_NOLOAD)) {
    if (void* sym = dlsym(h, "sgemm_")) {
      Dl_info di;
      if (dladdr(sym, &di) && di.dli_fname) {
        char resolved[4096];
        r.blas = realpath(di.dli_fname, resolved) ? resolved : di.dli_fname;
      }
    }
    dlclose(h);
  }
  if (r.blas.empty()) r.blas = "unknown";
  return r;
}

}  // namespace engine
