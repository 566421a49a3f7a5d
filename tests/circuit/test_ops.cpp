// Shape rules: for every registered op, at least one good case (exact output types) and one bad
// case (the specific message). EveryOpIsCovered fails when an op is added without cases.
#include <set>

#include "circuit/templates.h"
#include "helpers.h"

namespace circuit::test {
namespace {

struct Case {
  std::string label;
  Node node;
  std::vector<TensorType> ins;
  std::string expect;  // good: the output types; bad: a substring of the error
  bool good;
  Bindings b = B();
};

Case good(std::string op, std::vector<TensorType> ins, Attrs attrs, std::string out) {
  return {op, N("node", op, {}, std::move(attrs)), std::move(ins), std::move(out), true};
}
Case bad(std::string op, std::vector<TensorType> ins, Attrs attrs, std::string error) {
  return {op, N("node", op, {}, std::move(attrs)), std::move(ins), std::move(error), false};
}

using S = std::vector<std::string>;
using I = std::vector<int64_t>;

Node expert(const TensorType& t, int64_t hidden = 32) {
  Node f = ffn_block("moe", t, hidden);
  f.op = "moe";
  return f;
}

std::vector<Case> cases() {
  TensorType seq = T({"batch", "seq", "d_model:64"});
  TensorType img = T({"batch", "channels:3", "height:32", "width:32"});
  std::vector<Case> c = {
      // input is exercised through every other case; here its own errors.
      {"input", N("node", "input", {}, {{"shape", S{"batch", "d:4"}}}), {}, "[batch, d=4]", true},
      {"input", N("node", "input", {}, {{"shape", S{"batch", "d:4", "d:5"}}}), {}, "axis `d` appears twice", false},
      {"input", N("node", "input", {}, {{"shape", S{"batch", "tokens"}}}), {}, "symbolic size `tokens` with no value", false},
      {"input", N("node", "input", {}, {{"shape", S{"batch", "d:-4"}}}), {}, "must be a positive integer", false},

      good("linear", {T({"batch", "d_model:256"})}, {{"out", 512}, {"out_axis", std::string("hidden")}}, "[batch, hidden=512]"),
      good("linear", {T({"batch", "seq:10", "d:8"})}, {{"out", 3}, {"in_axis", std::string("seq")}, {"out_axis", std::string("mix")}},
           "[batch, mix=3, d=8]"),
      bad("linear", {T({"batch", "hidden:512"})}, {{"out", 256}, {"in_axis", std::string("d_model")}, {"in", 256}},
          "input 0: expected axis `d_model`=256, got `hidden`=512"),
      bad("linear", {T({"batch", "d:128"})}, {{"out", 4}, {"in", 256}}, "expected axis `d`=256, got `d`=128"),
      bad("linear", {T({"batch", "seq"})}, {{"out", 4}}, "symbolic size `seq`"),
      bad("linear", {T({"batch", "d:4"})}, {{"out", 0}}, "out of range"),
      bad("linear", {T({"batch", "d:4"})}, {}, "missing required attribute `out`"),
      bad("linear", {T({"batch", "d:4"}), T({"batch", "d:4"})}, {{"out", 2}}, "takes 1 input, got 2"),
      bad("linear", {T({"batch", "d:4"})}, {{"out", 2}, {"outt", 3}}, "unknown attribute `outt`"),
      bad("linear", {T({"batch", "seq", "d:4"})}, {{"out", 2}, {"out_axis", std::string("seq")}},
          "output 0 would have two axes named `seq`"),

      good("embedding", {T({"batch", "seq"}, DType::i64)}, {{"num", 100}, {"dim", 16}}, "[batch, seq, d_model=16]"),
      bad("embedding", {T({"batch", "seq"})}, {{"num", 100}, {"dim", 16}}, "expected an i64 tensor of token ids"),

      good("layer_norm", {seq}, {}, "[batch, seq, d_model=64]"),
      bad("layer_norm", {seq}, {{"axis", std::string("width")}}, "has no axis `width`"),
      good("rms_norm", {seq}, {}, "[batch, seq, d_model=64]"),
      bad("rms_norm", {T({"batch", "seq"})}, {}, "symbolic size `seq`"),
      good("batch_norm", {img}, {}, "[batch, channels=3, height=32, width=32]"),
      bad("batch_norm", {T({"batch", "c"})}, {}, "symbolic size `c`"),

      good("relu", {seq}, {}, "[batch, seq, d_model=64]"),
      bad("relu", {T({"batch", "seq"}, DType::i64)}, {}, "expected a f32 tensor"),
      good("gelu", {seq}, {}, "[batch, seq, d_model=64]"),
      bad("gelu", {}, {}, "takes 1 input, got 0"),
      good("silu", {seq}, {}, "[batch, seq, d_model=64]"),
      bad("silu", {seq, seq}, {}, "takes 1 input, got 2"),
      good("softmax", {seq}, {{"axis", std::string("seq")}}, "[batch, seq, d_model=64]"),
      bad("softmax", {seq}, {{"axis", std::string("heads")}}, "has no axis `heads`"),
      good("dropout", {seq}, {{"p", 0.5}}, "[batch, seq, d_model=64]"),
      bad("dropout", {seq}, {{"p", 1.5}}, "out of range"),

      good("add", {seq, seq}, {}, "[batch, seq, d_model=64]"),
      good("add", {seq, seq, seq}, {}, "[batch, seq, d_model=64]"),
      bad("add", {T({"batch", "seq", "d_model:256"}), T({"batch", "seq", "hidden:512"})}, {},
          "input 1: expected axis `d_model`=256, got `hidden`=512"),
      bad("add", {seq}, {}, "takes at least 2 inputs, got 1"),
      good("multiply", {seq, seq}, {}, "[batch, seq, d_model=64]"),
      bad("multiply", {seq, T({"batch", "d_model:64"})}, {}, "input 1: expected [batch, seq, d_model=64] (3 axes)"),

      good("reduce", {seq}, {{"axes", S{"seq"}}}, "[batch, d_model=64]"),
      bad("reduce", {seq}, {{"axes", S{"tokens"}}}, "has no axis `tokens` to reduce"),

      good("exit_head", {img}, {{"classes", 10}}, "[batch, class=10]"),
      good("exit_head", {seq}, {{"classes", 5}}, "[batch, class=5]"),
      bad("exit_head", {T({"batch"})}, {{"classes", 10}}, "an exit head needs [batch, ..., features]"),

      good("conv2d", {img}, {{"out", 16}, {"kernel", I{3}}, {"padding", I{1}}}, "[batch, channels=16, height=32, width=32]"),
      good("conv2d", {img}, {{"out", 8}, {"kernel", I{3, 5}}, {"stride", I{2}}, {"out_axis", std::string("feat")}},
           "[batch, feat=8, height=15, width=14]"),
      good("conv2d", {img}, {{"out", 8}, {"kernel", I{3}}, {"dilation", I{2}}}, "[batch, channels=8, height=28, width=28]"),
      bad("conv2d", {seq}, {{"out", 8}}, "conv2d expects [batch, channels, height, width]"),
      bad("conv2d", {img}, {{"out", 8}, {"groups", 2}}, "groups=2 must divide both the input channels (3)"),
      bad("conv2d", {T({"batch", "c:3", "h:2", "w:2"})}, {{"out", 8}, {"kernel", I{5}}}, "is too small for a 5x5 kernel"),
      bad("conv2d", {img}, {{"out", 8}, {"kernel", I{3, 3, 3}}}, "takes 1 or 2 integers"),

      good("dwconv2d", {img}, {{"kernel", I{3}}, {"padding", I{1}}, {"multiplier", 2}}, "[batch, channels=6, height=32, width=32]"),
      bad("dwconv2d", {T({"batch", "c", "h:8", "w:8"})}, {}, "symbolic size `c`"),

      good("pool2d", {img}, {{"kernel", I{2}}}, "[batch, channels=3, height=16, width=16]"),
      good("pool2d", {img}, {{"mode", std::string("avg")}, {"kernel", I{3}}, {"stride", I{1}}, {"padding", I{1}}},
           "[batch, channels=3, height=32, width=32]"),
      good("pool2d", {img}, {{"mode", std::string("global_avg")}}, "[batch, channels=3]"),
      bad("pool2d", {img}, {{"mode", std::string("median")}}, "is not one of: max, avg, global_avg, global_max"),
      bad("pool2d", {seq}, {}, "pool2d expects [batch, channels, height, width]"),

      good("flatten", {img}, {}, "[batch, features=3072]"),
      good("flatten", {img}, {{"axes", S{"height", "width"}}, {"name", std::string("pixels")}}, "[batch, channels=3, pixels=1024]"),
      bad("flatten", {img}, {{"axes", S{"channels", "width"}}}, "must be adjacent and in input order"),
      bad("flatten", {T({"batch", "seq", "d:4"})}, {}, "symbolic size `seq`"),

      good("reshape", {seq}, {{"shape", S{"batch", "seq", "heads:4", "dh:?"}}}, "[batch, seq, heads=4, dh=16]"),
      good("reshape", {T({"batch", "h:4", "w:6"})}, {{"shape", S{"batch", "hw:24"}}}, "[batch, hw=24]"),
      bad("reshape", {seq}, {{"shape", S{"batch", "seq", "heads:5", "dh:13"}}}, "element count differs"),
      bad("reshape", {seq}, {{"shape", S{"batch", "seq", "heads:5", "dh:?"}}}, "64 elements do not divide by 5"),
      bad("reshape", {seq}, {{"shape", S{"seq", "batch", "d_model:64"}}}, "symbolic axes must stay in order"),

      good("transpose", {seq}, {{"order", S{"batch", "d_model", "seq"}}}, "[batch, d_model=64, seq]"),
      bad("transpose", {seq}, {{"order", S{"batch", "seq"}}}, "axis `d_model` of the input is missing"),
      bad("transpose", {seq}, {{"order", S{"batch", "seq", "d"}}}, "has no axis `d`"),

      good("concat", {T({"batch", "d:3"}), T({"batch", "d:5"})}, {{"axis", std::string("d")}}, "[batch, d=8]"),
      bad("concat", {T({"batch", "d:3"}), T({"batch", "e:5"})}, {{"axis", std::string("d")}}, "input 1: expected axis `d`=5, got `e`=5"),
      bad("concat", {T({"batch", "seq", "d:3"}), T({"batch", "seq", "d:5"})}, {{"axis", std::string("seq")}}, "symbolic size `seq`"),

      good("split", {T({"batch", "d:8"})}, {{"axis", std::string("d")}, {"sizes", I{3, 5}}}, "[batch, d=3] [batch, d=5]"),
      bad("split", {T({"batch", "d:8"})}, {{"axis", std::string("d")}, {"sizes", I{3, 4}}}, "adds up to 7 but axis `d` has 8"),

      good("attention", {seq}, {{"heads", 4}, {"causal", true}}, "[batch, seq, d_model=64]"),
      bad("attention", {seq}, {{"heads", 5}}, "heads=5 does not divide the feature size 64"),
      bad("attention", {T({"d:8"})}, {{"heads", 2}}, "attention expects [..., seq, features]"),
      good("attention", {seq}, {{"heads", 6}, {"head_dim", 16}, {"kv_heads", 2}}, "[batch, seq, d_model=64]"),
      bad("attention", {seq}, {{"heads", 8}, {"kv_heads", 3}}, "kv_heads=3 does not divide heads=8"),
      bad("attention", {seq}, {{"heads", 4}, {"rope_theta", 10000.0}, {"rope_fraction", 0.1}}, "rope_fraction=0.1 of head_dim 16 rotates 1 dimensions"),
      bad("attention", {seq}, {{"heads", 4}, {"rope_layout", std::string("spiral")}}, "is not one of: half, interleaved"),
      bad("attention", {seq}, {{"heads", 4}, {"gate", std::string("channel")}}, "is not one of: none, head, element"),

      good("latent_attention", {seq}, {{"heads", 4}, {"kv_lora_rank", 16}, {"qk_nope_dim", 8}, {"qk_rope_dim", 4}, {"v_head_dim", 8}}, "[batch, seq, d_model=64]"),
      bad("latent_attention", {seq}, {{"heads", 4}, {"kv_lora_rank", 16}, {"qk_nope_dim", 8}, {"qk_rope_dim", 3}, {"v_head_dim", 8}}, "qk_rope_dim=3 is odd"),
      bad("latent_attention", {seq}, {{"heads", 4}, {"qk_nope_dim", 8}, {"qk_rope_dim", 4}, {"v_head_dim", 8}}, "kv_lora_rank"),
      bad("gated_delta", {seq}, {{"heads", 4}, {"key_heads", 3}}, "key_heads=3 does not divide heads=4"),
      good("gru", {seq}, {{"hidden", 32}}, "[batch, seq, d_model=32]"),
      good("gru", {seq}, {{"hidden", 32}, {"layers", 2}, {"out_axis", std::string("state")}}, "[batch, seq, state=32]"),
      bad("gru", {T({"batch", "seq", "d"})}, {{"hidden", 32}}, "symbolic size `d`"),

      good("einsum", {T({"batch", "seq", "head:4", "d:16"}), T({"batch", "seq", "head:4", "d:16"})},
           {{"equation", std::string("batch seq head d, batch seq2 head d -> batch head seq seq2")}}, "[batch, head=4, seq, seq2=seq]"),
      good("einsum", {T({"batch", "i:3", "j:5"})}, {{"equation", std::string("b i j -> b j")}}, "[b=batch, j=5]"),
      good("einsum", {T({"x:3"}), T({"y:4"}), T({"z:5"})}, {{"equation", std::string("i, j, k -> i j k")}}, "[i=3, j=4, k=5]"),
      bad("einsum", {T({"batch", "seq", "d:16"}), T({"batch", "seq", "d:8"})}, {{"equation", std::string("b s d, b t d -> b s t")}},
          "input 1: equation axis `d` (the input's `d`) has size 8 but input 0 gives it 16"),
      bad("einsum", {T({"batch", "seq", "d:16"})}, {{"equation", std::string("b s -> b")}}, "input 0: the equation names 2 axes but the input has 3"),
      bad("einsum", {T({"batch", "d:16"})}, {{"equation", std::string("b d -> b e")}}, "the output: axis `e` is in no input term"),
      bad("einsum", {T({"batch", "d:16"})}, {{"equation", std::string("b d, b d -> b")}}, "the equation has 2 input term(s) but 1 input(s)"),
      bad("einsum", {T({"batch", "d:16"})}, {{"equation", std::string("b d")}}, "attribute `equation`: the equation has no `->`"),
      bad("einsum", {T({"batch", "d:16"})}, {{"equation", std::string("b b -> b")}}, "input term 1: axis `b` appears twice"),
      good("pool1d", {seq}, {{"kernel", 5}, {"causal", false}}, "[batch, seq, d_model=64]"),
      bad("pool1d", {T({"d:8"})}, {}, "pool1d expects [..., seq, features]"),
      good("lstm", {seq}, {{"hidden", 32}, {"layers", 2}}, "[batch, seq, d_model=32]"),
      bad("lstm", {T({"d:8"})}, {{"hidden", 4}}, "lstm expects [..., seq, features]"),

      good("conv1d", {seq}, {}, "[batch, seq, d_model=64]"),
      good("conv1d", {seq}, {{"out", 16}, {"kernel", 3}, {"causal", false}, {"out_axis", std::string("c")}}, "[batch, seq, c=16]"),
      good("conv1d", {seq}, {{"depthwise", true}, {"out", 64}}, "[batch, seq, d_model=64]"),
      bad("conv1d", {seq}, {{"depthwise", true}, {"out", 32}}, "a depthwise conv1d keeps the feature size 64 of axis `d_model`"),
      bad("conv1d", {seq}, {{"seq_axis", std::string("d_model")}}, "the sequence axis cannot be the feature axis"),
      bad("conv1d", {seq}, {{"seq_axis", std::string("time")}}, "has no axis `time`"),

      good("linear_attention", {seq}, {{"heads", 4}, {"feature_map", std::string("relu")}}, "[batch, seq, d_model=64]"),
      bad("linear_attention", {seq}, {{"heads", 3}}, "heads=3 does not divide the feature size 64 of axis `d_model`"),
      bad("linear_attention", {seq}, {{"heads", 4}, {"feature_map", std::string("exp")}}, "is not one of: elu+1, relu"),

      good("gated_delta", {seq}, {{"heads", 4}}, "[batch, seq, d_model=64]"),
      good("gated_delta", {seq}, {{"heads", 3}, {"head_dim", 32}, {"conv", 0}, {"gate", false}}, "[batch, seq, d_model=64]"),
      bad("gated_delta", {seq}, {{"heads", 3}}, "heads=3 does not divide the feature size 64 of axis `d_model`"),
      bad("gated_delta", {T({"batch", "seq", "d"})}, {{"heads", 2}}, "symbolic size `d`"),
      bad("gated_delta", {seq}, {{"heads", 4}, {"chunk", 0}}, "chunk"),

      good("mamba2", {seq}, {{"heads", 8}, {"state", 16}}, "[batch, seq, d_model=64]"),
      bad("mamba2", {seq}, {{"heads", 3}}, "heads=3 does not divide the inner size (expand x features) 128 of axis `d_model`"),
      bad("mamba2", {T({"seq", "batch", "d:8"})}, {{"heads", 2}, {"seq_axis", std::string("d")}}, "the sequence axis cannot be the feature axis"),
      good("mamba", {seq}, {{"state", 16}, {"dbc_norm", std::string("rms")}}, "[batch, seq, d_model=64]"),
      bad("mamba", {T({"seq", "batch", "d:8"})}, {{"seq_axis", std::string("d")}}, "the sequence axis cannot be the feature axis"),
      bad("mamba", {seq}, {{"dbc_norm", std::string("layer")}}, "dbc_norm"),
  };

  // Ops with a body.
  TensorType tok = T({"batch", "seq", "d_model:64"});
  Node blk = ffn_block("node", tok, 128);
  c.push_back({"block", blk, {tok}, "[batch, seq, d_model=64]", true});
  c.push_back({"block", blk, {T({"batch", "seq", "d_model:32"})}, "input 0: expected axis `d_model`=64, got `d_model`=32", false});
  Node two_in = blk;
  c.push_back({"block", two_in, {tok, tok}, "the block has 1 input port(s) but 2 input(s) are connected", false});

  Node moe = expert(tok);
  moe.attrs = {{"experts", 4}, {"k", 2}};
  c.push_back({"moe", moe, {tok}, "[batch, seq, d_model=64]", true});
  Node moe_k = moe;
  moe_k.attrs["k"] = int64_t(5);
  c.push_back({"moe", moe_k, {tok}, "k=5 exceeds the 4 routable experts", false});
  Node moe_cf = moe;
  moe_cf.attrs["capacity_factor"] = 0.0;
  c.push_back({"moe", moe_cf, {tok}, "capacity_factor must be > 0", false});
  Node moe_kind = moe;
  moe_kind.attrs["router"] = std::string("magic");
  c.push_back({"moe", moe_kind, {tok}, "is not one of: topk, expert_choice, relu, aux_free, hash, recurrent", false});
  c.push_back({"moe", moe, {T({"batch", "seq", "d_model:32"})}, "input 0: the expert body takes [batch, seq, d_model=64]", false});
  auto moe_with = [&](Attrs extra) {
    Node m = moe;
    m.attrs["experts"] = int64_t(8);
    for (auto& [k, v] : extra) m.attrs[k] = v;
    return m;
  };
  c.push_back({"moe", moe_with({{"scoring", std::string("sigmoid")}, {"groups", 4}, {"top_groups", 2}, {"group_score", std::string("top2")},
                                {"routed_scale", 2.5}, {"router", std::string("aux_free")}}),
               {tok}, "[batch, seq, d_model=64]", true});
  c.push_back({"moe", moe_with({{"groups", 3}}), {tok}, "groups=3 does not divide the 8 experts", false});
  c.push_back({"moe", moe_with({{"groups", 4}, {"top_groups", 1}, {"k", 3}}), {tok}, "k=3 exceeds the 2 experts in the top_groups=1 groups", false});
  c.push_back({"moe", moe_with({{"groups", 2}, {"top_groups", 3}}), {tok}, "top_groups=3 exceeds groups=2", false});
  c.push_back({"moe", moe_with({{"top_groups", 2}}), {tok}, "top_groups needs groups > 1", false});
  c.push_back({"moe", moe_with({{"scoring", std::string("sigmoid")}, {"router", std::string("hash")}}), {tok},
               "apply to the top-k family of routers (topk, aux_free, recurrent), not to `hash`", false});
  c.push_back({"moe", moe_with({{"groups", 2}, {"zero_experts", 1}}), {tok}, "cannot be combined with zero, copy or constant experts", false});
  c.push_back({"moe", moe_with({{"shared_gate", true}}), {tok}, "shared_gate gates the shared experts, but shared_experts=0", false});
  Node moe_nobody = moe;
  moe_nobody.body.reset();
  c.push_back({"moe", moe_nobody, {tok}, "op `moe` needs a body", false});
  return c;
}

TEST(Ops, ShapeRules) {
  for (auto& c : cases()) {
    SCOPED_TRACE(c.label + " on " + [&] {
      std::string s;
      for (auto& t : c.ins) s += to_string(t) + " ";
      return s;
    }());
    One r = infer1(c.node, c.ins, c.b);
    if (c.good) {
      EXPECT_TRUE(r.ok()) << r.error;
      EXPECT_EQ(r.out, c.expect);
    } else {
      EXPECT_FALSE(r.ok()) << "expected an error containing: " << c.expect;
      EXPECT_NE(r.error.find(c.expect), std::string::npos) << "got: " << r.error;
    }
  }
}

TEST(Ops, EveryOpIsCovered) {
  std::set<std::string> goods, bads;
  for (auto& c : cases()) (c.good ? goods : bads).insert(c.node.op);
  for (const OpDef* d : all_ops()) {
    EXPECT_TRUE(goods.count(d->name)) << "op `" << d->name << "` has no good shape case";
    EXPECT_TRUE(bads.count(d->name)) << "op `" << d->name << "` has no bad shape case";
  }
}

TEST(Ops, RegistryIsWellFormed) {
  std::set<std::string> names;
  for (const OpDef* d : all_ops()) {
    EXPECT_TRUE(names.insert(d->name).second) << "duplicate op " << d->name;
    EXPECT_TRUE(bool(d->shape)) << d->name;
    EXPECT_FALSE(d->doc.empty()) << d->name;
    for (auto& a : d->attrs) {
      EXPECT_FALSE(a.doc.empty()) << d->name << "." << a.name;
      if (a.default_value) {
        EXPECT_TRUE(check_attr(a, *a.default_value).ok()) << d->name << "." << a.name << " default fails its own schema";
      }
    }
  }
  EXPECT_EQ(find_op("nope"), nullptr);
}

TEST(Ops, DrawingHintsNameTheConsumedAxes) {
  auto consumes = [](const std::string& op, const TensorType& t, Attrs a) {
    Node n = N("n", op, {}, a);
    std::vector<TensorType> in{t};
    Bindings b = B();
    OpCall call{n, *find_op(op), in, b, nullptr};
    return find_op(op)->consumes(call);
  };
  using V = std::vector<std::vector<std::string>>;
  EXPECT_EQ(consumes("linear", T({"batch", "seq", "d:8"}), {{"out", 2}}), (V{{"d"}}));
  EXPECT_EQ(consumes("attention", T({"batch", "seq", "d:8"}), {{"heads", 2}}), (V{{"seq", "d"}}));
  EXPECT_EQ(consumes("conv2d", T({"batch", "c:3", "h:8", "w:8"}), {{"out", 2}}), (V{{"c", "h", "w"}}));
  EXPECT_EQ(consumes("dwconv2d", T({"batch", "c:3", "h:8", "w:8"}), {}), (V{{"h", "w"}}));
  EXPECT_FALSE(find_op("relu")->consumes);  // elementwise: every wire passes by
  EXPECT_TRUE(find_op("linear")->learned);
  EXPECT_FALSE(find_op("softmax")->learned);
}

}  // namespace
}  // namespace circuit::test
