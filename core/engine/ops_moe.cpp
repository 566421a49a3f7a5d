// Lowerings of the mixture-of-experts family (core/circuit/ops_moe.cpp). The layer itself (routers,
// capacity, grouped dispatch) is moe.cpp's; this file builds it from a node and writes its
// TorchScript form. MoE has no ONNX form: routing is dynamic.
#include "engine/detail/lowering.h"
#include "engine/detail/onnx_writer.h"

namespace engine::detail {

namespace {

using at::Tensor;
using base::Error;
using base::Result;
using Strings = std::vector<std::string>;

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
    return (it == n->attrs.end() || std::get<std::string>(it->second).empty()) && in && in->is_input();
  };
  // Any op with an elementwise function: the grouped kernel applies that function (OpDef::elementwise).
  auto activation = [](const circuit::Node* n) {
    const circuit::OpDef* d = n ? circuit::find_op(n->op) : nullptr;
    return d && d->elementwise != circuit::Elementwise::none;
  };

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
  f.activation = circuit::find_op(act->op)->elementwise;
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

Result<Fn> compile_moe(Compiler& c, const Site& s) {
  // Experts run on gathered tokens, so an expert must act on each token on its own.
  const circuit::Graph& body = *s.node.body;
  const circuit::GraphAnalysis& ba = *s.info.body;
  std::string feat = s.t().axes.back().name;
  for (size_t j = 0; j < body.nodes.size(); ++j) {
    const circuit::OpDef* d = circuit::find_op(body.nodes[j].op);
    if (!d->consumes || body.nodes[j].is_input()) continue;
    std::vector<circuit::TensorType> ins;
    for (size_t p = 0; p < body.nodes[j].inputs.size(); ++p) {
      auto [src, port] = ba.sources[j][p];
      ins.push_back(ba.nodes[size_t(src)].outputs[size_t(port)]);
    }
    circuit::OpCall call{body.nodes[j], *d, ins, c.bindings, ba.nodes[j].body.get()};
    for (auto& axes : d->consumes(call))
      for (auto& ax : axes)
        if (ax != feat && ins[0].find(ax) != int(ins[0].rank()) - 1)
          return Error{s.where() + ": an expert must act on each token on its own, but `" + body.nodes[j].name +
                       "` acts on axis `" + ax + "`"};
  }
  MoeConfig mc;
  mc.name = s.path;
  mc.router = s.s("router");
  mc.d = s.t().axes.back().size.n;
  mc.experts = s.i("experts"), mc.k = s.i("k"), mc.shared = s.i("shared_experts");
  mc.zero = s.i("zero_experts"), mc.copy = s.i("copy_experts"), mc.constant = s.i("constant_experts");
  mc.noisy = s.b("noisy"), mc.renormalize = s.b("renormalize"), mc.dropless = s.b("dropless"), mc.gating_residual = s.b("gating_residual");
  mc.capacity_factor = s.f("capacity_factor"), mc.aux_coef = s.f("aux_loss_coef"), mc.z_coef = s.f("z_loss_coef");
  mc.bias_rate = s.f("bias_update_rate"), mc.relu_target = s.f("relu_target_sparsity"), mc.relu_step = s.f("relu_l1_step");
  mc.router_hidden = s.i("router_hidden");
  mc.sigmoid = s.s("scoring") == "sigmoid", mc.routed_scale = s.f("routed_scale");
  mc.groups = s.i("groups"), mc.top_groups = s.i("top_groups"), mc.group_top2 = s.s("group_score") == "top2";
  mc.shared_gate = s.b("shared_gate");
  std::vector<std::shared_ptr<torch::nn::Module>> mods[2];
  std::vector<MoeLayer::Expert> runs[2];
  for (int64_t e = 0; e < mc.experts + mc.shared; ++e) {
    auto sub = c.body(s);
    if (!sub) return sub.error();
    int which = e >= mc.experts;
    mods[which].push_back(*sub);
    runs[which].push_back([g = *sub](const Tensor& x) {
      Ctx inner;
      return g->forward({x}, inner)[0];
    });
  }
  auto m = c.add(s, std::make_shared<MoeLayer>(mc, mods[0], runs[0], mods[1], runs[1]));
  if (auto grouped = grouped_ffn(body, mods[0])) m->use_grouped_ffn(std::move(*grouped));
  return Fn([m](const Tensors& a, Ctx& ctx) { return Tensors{m->forward(a[0], ctx.moe, ctx.aux)}; });
}

// Routing written out as the engine routes: the compiled layer's router writes its selection
// (Router::torchscript), then capacity in token order, experts called on their gathered tokens,
// outputs added back weighted by their gates.
Strings script_moe(Script& w, const Site& s, const Strings& in) {
  const MoeLayer* layer = w.module<MoeLayer>();
  if (!layer) {
    w.error = s.where() + ": the model has no compiled MoE layer here";
    return {};
  }
  if (s.i("zero_experts") || s.i("copy_experts") || s.i("constant_experts") || s.b("gating_residual")) {
    w.error = s.where() + ": MoE++ experts and gating residuals are not exported to TorchScript yet";
    return {};
  }
  const std::string& x = in[0];
  const std::string P = w.P;  // the walks below change it
  int64_t rank = s.rank();
  std::string v = w.fresh(s.node.name);
  int64_t d = s.t().axes.back().size.n, E = s.i("experts"), K = s.i("k"), shared = s.i("shared_experts");
  // Experts were written for the MoE input's rank: tokens go in as [n, 1, ..., 1, d].
  std::string as_input = "[-1";
  for (int64_t j = 1; j + 1 < rank; ++j) as_input += ", 1";
  as_input += ", " + std::to_string(d) + "]";
  std::string tok = w.fresh("tokens"), N = w.fresh("N"), pr = w.fresh("probs"), gate = w.fresh("gate"), idx = w.fresh("idx"),
              fe = w.fresh("flat_expert"), ft = w.fresh("flat_token"), fg = w.fresh("flat_gate"), order = w.fresh("order"),
              counts = w.fresh("counts"), cap = w.fresh("capacity"), start = w.fresh("start");
  w.line(tok + " = " + x + ".reshape([-1, " + std::to_string(d) + "])");
  w.line(N + " = " + tok + ".size(0)");
  // The router writes its own selection (its logits, probabilities and choice of k slots).
  if (!layer->router().torchscript(w, ScriptRouting{tok, pr, gate, idx, K})) {
    w.error = s.where() + ": router `" + s.s("router") + "` has no TorchScript form yet";
    return {};
  }
  if (s.b("renormalize")) w.line(gate + " = " + gate + " / " + gate + ".sum(-1, True)");
  if (s.f("routed_scale") != 1) w.line(gate + " = " + gate + " * " + ts_num(s.f("routed_scale")));
  w.line(fe + " = " + idx + ".reshape([-1])");
  w.line(ft + " = torch.arange(" + N + ", device=" + tok + ".device).repeat_interleave(" + std::to_string(K) + ")");
  w.line(fg + " = " + gate + ".reshape([-1])");
  w.line(order + " = torch.sort(" + fe + ", stable=True, dim=0, descending=False)[1]");
  w.line(counts + ": List[int] = torch.bincount(" + fe + ", minlength=" + std::to_string(E) + ").tolist()");
  if (s.b("dropless")) w.line(cap + " = " + N + " * " + std::to_string(K));
  else {
    // ceil() without `math`, in the same double arithmetic as the engine.
    std::string exact = ts_num(s.f("capacity_factor")) + " * float(" + std::to_string(K) + " * " + N + ") / " + ts_num(double(E));
    w.line(cap + " = int(" + exact + ")");
    w.line("if float(" + cap + ") < " + exact + ":");
    w.line(cap + " = " + cap + " + 1", 1);
  }
  w.line(v + " = torch.zeros_like(" + tok + ")");
  w.line(start + " = 0");
  for (int64_t e = 0; e < E; ++e) {
    std::string kept = w.fresh("kept"), sel = w.fresh("sel"), ti = w.fresh("ti"), xe = w.fresh("xe"), E_ = std::to_string(e);
    w.line(kept + " = min(" + counts + "[" + E_ + "], " + cap + ")");
    w.line("if " + kept + " > 0:");
    w.line(sel + " = " + order + ".narrow(0, " + start + ", " + kept + ")", 1);
    w.line(ti + " = " + ft + ".index_select(0, " + sel + ")", 1);
    w.line(xe + " = " + tok + ".index_select(0, " + ti + ").reshape(" + as_input + ")", 1);
    auto ye = w.graph(*s.node.body, *s.info.body, {xe}, P + "expert" + E_ + "__", w.ind + 1);
    if (!w.error.empty()) return {};
    w.line(v + ".index_add_(0, " + ti + ", " + ye[0] + ".reshape([-1, " + std::to_string(d) + "]) * " + fg + ".index_select(0, " + sel + ").unsqueeze(1))", 1);
    w.line(start + " = " + start + " + " + counts + "[" + E_ + "]");
  }
  std::string always = w.fresh("shared");
  for (int64_t e = 0; e < shared; ++e) {
    auto ys = w.graph(*s.node.body, *s.info.body, {tok + ".reshape(" + as_input + ")"}, P + "shared" + std::to_string(e) + "__", w.ind);
    if (!w.error.empty()) return {};
    w.line(always + " = " + (e ? always + " + " : "") + ys[0] + ".reshape([-1, " + std::to_string(d) + "])");
  }
  if (shared && s.b("shared_gate"))
    w.line(always + " = " + always + " * torch.sigmoid(torch.linear(" + tok + ", " + "self." + P + "shared_gate__weight" + "))");
  if (shared) w.line(v + " = " + v + " + " + always);
  w.line(v + " = " + v + ".reshape(" + x + ".shape)");
  return {v};
}

}  // namespace

void add_moe_lowerings(std::vector<Lowering>& t) {
  t.push_back({.op = "moe",
               .compile = compile_moe,
               .torchscript = script_moe,
               .onnx_refusal = "dynamic token routing (top-k per token, capacity, gather and scatter) has no static ONNX form"});
}

}  // namespace engine::detail
