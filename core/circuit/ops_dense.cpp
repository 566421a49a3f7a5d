// Per-position ops: linear, embedding, norms, activations, dropout, residual add / product, exit head.
#include "ops_common.h"

#include <cstdio>
#include <tuple>

namespace circuit::ops {

// ---- linear ---------------------------------------------------------------------------------

static Result<int> linear_axis(const OpCall& c, const TensorType& t) {
  const std::string& want = c.s("in_axis");
  int64_t want_size = c.i("in");
  int k = want.empty() ? int(t.rank()) - 1 : t.find(want);
  if (k < 0) {
    // Name the axis that would have been used so the message reads as a mismatch.
    const Axis& got = t.axes.back();
    return input_error(0, "expected axis `" + want + "`" + (want_size ? "=" + std::to_string(want_size) : "") + ", got `" +
                              got.name + "`=" + to_string(got.size));
  }
  const Axis& a = t.axes[size_t(k)];
  if (want_size && !(a.size.concrete() && a.size.n == want_size))
    return input_error(0, "expected axis `" + a.name + "`=" + std::to_string(want_size) + ", got `" + a.name + "`=" + to_string(a.size));
  return k;
}

static Result<Shapes> linear_shape(const OpCall& c) {
  TensorType t = c.in[0];
  auto k = linear_axis(c, t);
  if (!k) return k.error();
  Axis& a = t.axes[size_t(*k)];
  if (auto n = concrete(0, a, "linear"); !n) return n.error();
  const std::string& name = c.s("out_axis");
  a = Axis{name.empty() ? a.name : name, Size::of(c.i("out"))};
  return Shapes{t};
}

static Cost linear_cost(const OpCall& c, const Shapes& out) {
  auto k = linear_axis(c, c.in[0]);
  int64_t in = c.in[0].axes[size_t(*k)].size.n, o = c.i("out");
  int64_t rows = numel(out[0], c.bindings) / o;
  bool bias = c.b("bias");
  Cost r;
  bool tied = !c.s("tie").empty();
  r.params = (tied ? 0 : in * o) + (bias ? o : 0);  // a tied weight is the embedding's, counted there
  // Every token reads the whole tied table here; the embedding counts the one row it reads, this the rest.
  r.active_params = r.params + (tied ? (o - 1) * in : 0);
  r.flops = 2 * rows * in * o + (bias ? rows * o : 0);
  return r;
}

// ---- norms ----------------------------------------------------------------------------------

static Result<Shapes> same_shape(const OpCall& c) { return Shapes{c.in[0]}; }

static Result<Shapes> norm_shape(const OpCall& c, int fallback) {
  auto k = pick_axis(0, c.in[0], c.s("axis"), fallback);
  if (!k) return k.error();
  if (auto n = concrete(0, c.in[0].axes[size_t(*k)], c.def.name); !n) return n.error();
  return Shapes{c.in[0]};
}

static int64_t norm_size(const OpCall& c, int fallback) {
  return c.in[0].axes[size_t(*pick_axis(0, c.in[0], c.s("axis"), fallback))].size.n;
}

static OpDef norm_op(std::string name, std::string doc, int fallback, int params_per_feature, int flops_per_element) {
  OpDef d;
  d.name = std::move(name);
  d.category = OpCategory::norm;
  d.doc = std::move(doc);
  d.attrs = {string_attr("axis", "", fallback == 1 ? "channel axis (default: axis 1)" : "normalised axis (default: last)"),
             float_attr("eps", 1e-5, 0, 1, "added to the variance"),
             bool_attr("affine", true, "learned scale (and shift)")};
  d.learned = true;
  d.shape = [fallback](const OpCall& c) { return norm_shape(c, fallback); };
  d.cost = [=](const OpCall& c, const Shapes& out) {
    Cost r = elementwise_cost(c, out, flops_per_element);
    r.params = r.active_params = c.b("affine") ? params_per_feature * norm_size(c, fallback) : 0;
    return r;
  };
  d.consumes = [fallback](const OpCall& c) -> std::vector<std::vector<std::string>> {
    const auto& t = c.in[0];
    int k = *pick_axis(0, t, c.s("axis"), fallback);
    if (fallback != 1) return {{t.axes[size_t(k)].name}};
    std::vector<std::string> over;  // batch norm: statistics over every axis but the channel
    for (size_t j = 0; j < t.rank(); ++j)
      if (int(j) != k) over.push_back(t.axes[j].name);
    return {over};
  };
  return d;
}

// ---- elementwise ----------------------------------------------------------------------------

static OpDef activation(std::string name, std::string doc, int64_t flops_per_element) {
  OpDef d;
  d.name = std::move(name);
  d.category = OpCategory::activation;
  d.doc = std::move(doc);
  d.shape = same_shape;
  d.cost = [flops_per_element](const OpCall& c, const Shapes& out) { return elementwise_cost(c, out, flops_per_element); };
  return d;
}

static Result<Shapes> all_equal_shape(const OpCall& c) {
  for (size_t k = 1; k < c.in.size(); ++k)
    if (auto r = expect_type(int(k), c.in[0], c.in[k]); !r) return r.error();
  return Shapes{c.in[0]};
}

static OpDef combine(std::string name, std::string doc) {
  OpDef d;
  d.name = std::move(name);
  d.category = OpCategory::combine;
  d.doc = std::move(doc);
  d.min_inputs = 2;
  d.max_inputs = -1;
  d.shape = all_equal_shape;
  d.cost = [](const OpCall& c, const Shapes& out) { return elementwise_cost(c, out, int64_t(c.in.size()) - 1); };
  return d;
}

// ---- exit head ------------------------------------------------------------------------------

static Result<int> exit_feature_axis(const OpCall& c) {
  const auto& t = c.in[0];
  if (t.rank() < 2) return input_error(0, "an exit head needs [batch, ..., features], got " + to_string(t));
  return pick_axis(0, t, c.s("feature_axis"), t.rank() == 4 ? 1 : -1);
}

static Result<Shapes> exit_shape(const OpCall& c) {
  auto k = exit_feature_axis(c);
  if (!k) return k.error();
  if (*k == 0) return input_error(0, "the feature axis cannot be the batch axis (axis 0)");
  if (auto n = concrete(0, c.in[0].axes[size_t(*k)], "an exit head's feature axis"); !n) return n.error();
  TensorType t;
  t.axes = {c.in[0].axes[0], Axis{c.s("out_axis"), Size::of(c.i("classes"))}};
  return Shapes{t};
}

static Cost exit_cost(const OpCall& c, const Shapes&) {
  int64_t f = c.in[0].axes[size_t(*exit_feature_axis(c))].size.n, k = c.i("classes");
  Cost r;
  r.params = r.active_params = f * k + k;
  r.flops = numel(c.in[0], c.bindings) + 2 * f * k + k;  // mean-pool adds, then the classifier
  return r;
}

// ---- reduce ---------------------------------------------------------------------------------

static Result<Shapes> reduce_shape(const OpCall& c) {
  TensorType t = c.in[0];
  for (auto& name : c.strs("axes")) {
    int k = t.find(name);
    if (k < 0) return input_error(0, "has no axis `" + name + "` to reduce (axes: " + to_string(c.in[0]) + ")");
    t.axes.erase(t.axes.begin() + k);
  }
  if (t.axes.empty()) return Error{"attribute `axes` removes every axis; keep at least the batch axis"};
  return Shapes{t};
}

void register_dense_ops(std::vector<OpDef>& r) {
  OpDef lin;
  lin.name = "linear";
  lin.category = OpCategory::linear;
  lin.doc = "y = x W^T + b over one axis (default: the last), mapped over the others.";
  lin.attrs = {int_attr("out", {}, 1, 1e12, "output features"),
               string_attr("out_axis", "", "name of the output axis (default: the input axis' name)"),
               bool_attr("bias", true, "learned bias"),
               string_attr("in_axis", "", "axis to act on (default: last); checked when set"),
               int_attr("in", 0, 0, 1e12, "expected input features (0: any); checked when set"),
               string_attr("tie", "", "an `embedding` node of the same graph whose table is the weight (tied input and output embeddings)")};
  lin.learned = true;
  lin.shape = linear_shape;
  lin.cost = linear_cost;
  lin.consumes = [](const OpCall& c) -> std::vector<std::vector<std::string>> {
    return {{c.in[0].axes[size_t(*linear_axis(c, c.in[0]))].name}};
  };
  r.push_back(std::move(lin));

  OpDef emb;
  emb.name = "embedding";
  emb.category = OpCategory::linear;
  emb.doc = "Looks up a learned vector per token id; adds one axis.";
  emb.attrs = {int_attr("num", {}, 1, 1e12, "vocabulary size"), int_attr("dim", {}, 1, 1e12, "vector size"),
               string_attr("out_axis", "d_model", "name of the new axis")};
  emb.float_inputs = false;
  emb.learned = true;
  emb.shape = [](const OpCall& c) -> Result<Shapes> {
    if (c.in[0].dtype != DType::i64) return input_error(0, "expected an i64 tensor of token ids, got " + to_string(c.in[0]));
    TensorType t = c.in[0];
    t.dtype = DType::f32;
    t.axes.push_back(Axis{c.s("out_axis"), Size::of(c.i("dim"))});
    return Shapes{t};
  };
  emb.cost = [](const OpCall& c, const Shapes&) {
    Cost k;
    k.params = c.i("num") * c.i("dim");
    k.active_params = c.i("dim");  // one row per token
    return k;
  };
  r.push_back(std::move(emb));

  r.push_back(norm_op("layer_norm", "Normalises one axis (default: last); learned scale and shift.", -1, 2, 5));
  r.push_back(norm_op("rms_norm", "Scales one axis (default: last) by its root mean square; learned scale.", -1, 1, 4));
  r.push_back(norm_op("batch_norm", "Normalises each channel (default: axis 1) over the batch; learned scale and shift.", 1, 2, 2));

  for (auto [name, doc, flops, f] : {std::tuple{"relu", "max(x, 0)", 1, Elementwise::relu},
                                     std::tuple{"gelu", "x * Phi(x) (counted as 8 FLOPs per element)", 8, Elementwise::gelu},
                                     std::tuple{"silu", "x * sigmoid(x) (counted as 4 FLOPs per element)", 4, Elementwise::silu}}) {
    r.push_back(activation(name, doc, flops));
    r.back().elementwise = f;
  }

  OpDef sm = activation("softmax", "exp(x) / sum exp(x) over one axis (3 FLOPs per element)", 3);
  sm.attrs = {string_attr("axis", "", "axis to normalise over (default: last)")};
  sm.shape = [](const OpCall& c) -> Result<Shapes> {
    if (auto k = pick_axis(0, c.in[0], c.s("axis"), -1); !k) return k.error();
    return Shapes{c.in[0]};
  };
  sm.consumes = [](const OpCall& c) -> std::vector<std::vector<std::string>> {
    return {{c.in[0].axes[size_t(*pick_axis(0, c.in[0], c.s("axis"), -1))].name}};
  };
  r.push_back(std::move(sm));

  OpDef dr = activation("dropout", "Zeroes elements with probability p while training; identity at inference (0 FLOPs).", 0);
  dr.attrs = {float_attr("p", 0.1, 0, 0.999, "drop probability")};
  dr.summary = [](const OpCall& c) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "dropout p=%g", c.f("p"));
    return std::string(buf);
  };
  r.push_back(std::move(dr));

  r.push_back(combine("add", "Elementwise sum of inputs of one type (residual connections)."));
  r.push_back(combine("multiply", "Elementwise product of inputs of one type (gating)."));

  OpDef red;
  red.name = "reduce";
  red.category = OpCategory::combine;
  red.doc = "Mean, sum or max over the named axes, which disappear (1 FLOP per input element).";
  red.attrs = {enum_attr("mode", "mean", {"mean", "sum", "max"}, "reduction"),
               strings_attr("axes", {}, "axes to reduce, e.g. [seq]")};
  red.shape = reduce_shape;
  red.cost = [](const OpCall& c, const Shapes&) { return elementwise_cost(c, {c.in[0]}, 1); };
  red.consumes = [](const OpCall& c) -> std::vector<std::vector<std::string>> { return {c.strs("axes")}; };
  red.summary = [](const OpCall& c) {
    std::string s = c.s("mode") + " over";
    for (auto& a : c.strs("axes")) s += " " + a;
    return s;
  };
  r.push_back(std::move(red));

  OpDef ex;
  ex.name = "exit_head";
  ex.category = OpCategory::exit;
  ex.summary = [](const OpCall&) { return std::string("exit head"); };
  ex.doc = "Early-exit classifier: mean over every axis but batch and features, then linear to classes.";
  ex.attrs = {int_attr("classes", {}, 1, 1e9, "number of classes"),
              string_attr("feature_axis", "", "feature axis (default: axis 1 for [batch, c, h, w], else last)"),
              string_attr("out_axis", "class", "name of the logits axis"),
              float_attr("loss_weight", 1.0, 0, 1e6, "weight of this head's loss in training")};
  ex.learned = true;
  ex.shape = exit_shape;
  ex.cost = exit_cost;
  ex.consumes = [](const OpCall& c) -> std::vector<std::vector<std::string>> {
    std::vector<std::string> v;
    for (size_t j = 1; j < c.in[0].rank(); ++j) v.push_back(c.in[0].axes[j].name);
    return {v};
  };
  r.push_back(std::move(ex));
}

}  // namespace circuit::ops
