// ONNX export without an ONNX library: every example and one circuit per op are exported and the
// bytes are decoded back with a minimal protobuf reader here. The model must carry the header we
// promise (IR 8, opset 17), declare the circuit's inputs and outputs with their types, define every
// value before a node reads it, and hold the trained tensors bit for bit under their parameter
// names. What ONNX cannot express (MoE routing) is refused with the node named.
//
// Python's onnx.checker (full_check) and numerical checks run in tests/python/check_onnx.py. Set
// CIRCUIT_ONNX_KEEP=DIR to keep the files this test writes, each with its TorchScript twin.
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "../circuit/helpers.h"
#include "../example_files.h"
#include "circuit/templates.h"
#include "engine/export.h"
#include "engine/model.h"
#include "engine/onnx.h"
#include "model_inputs.h"

namespace engine {
namespace {

using namespace circuit;
using namespace circuit::test;
namespace fs = std::filesystem;

// ---- a minimal protobuf reader ----------------------------------------------------------------

// One message: its fields in file order (varints as numbers, length-delimited fields as bytes).
struct Msg {
  struct Field {
    uint32_t number = 0, wire = 0;
    uint64_t value = 0;
    std::string_view bytes;
  };
  std::vector<Field> fields;

  explicit Msg(std::string_view m) {
    size_t i = 0;
    auto varint = [&] {
      uint64_t v = 0;
      for (int shift = 0;; shift += 7) {
        if (i >= m.size() || shift > 63) throw std::runtime_error("truncated varint");
        auto b = uint8_t(m[i++]);
        v |= uint64_t(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
      }
    };
    auto take = [&](uint64_t n) {
      if (n > m.size() - i) throw std::runtime_error("field runs past the end of its message");
      std::string_view s = m.substr(i, size_t(n));
      i += size_t(n);
      return s;
    };
    while (i < m.size()) {
      uint64_t key = varint();
      Field f{uint32_t(key >> 3), uint32_t(key & 7), 0, {}};
      if (f.wire == 0) f.value = varint();
      else if (f.wire == 2) f.bytes = take(varint());
      else if (f.wire == 5) f.bytes = take(4);
      else if (f.wire == 1) f.bytes = take(8);
      else throw std::runtime_error("unexpected wire type " + std::to_string(f.wire));
      fields.push_back(f);
    }
  }
  std::vector<std::string> strs(uint32_t n) const {
    std::vector<std::string> v;
    for (auto& f : fields)
      if (f.number == n && f.wire == 2) v.emplace_back(f.bytes);
    return v;
  }
  std::string str(uint32_t n) const {
    auto v = strs(n);
    return v.empty() ? "" : v.back();
  }
  std::vector<int64_t> ints(uint32_t n) const {
    std::vector<int64_t> v;
    for (auto& f : fields)
      if (f.number == n && f.wire == 0) v.push_back(int64_t(f.value));
    return v;
  }
  int64_t i(uint32_t n, int64_t dflt = 0) const {
    auto v = ints(n);
    return v.empty() ? dflt : v.back();
  }
  std::vector<Msg> msgs(uint32_t n) const {
    std::vector<Msg> v;
    for (auto& f : fields)
      if (f.number == n && f.wire == 2) v.emplace_back(f.bytes);
    return v;
  }
  Msg msg(uint32_t n) const {
    auto v = msgs(n);
    return v.empty() ? Msg("") : v.back();
  }
};

// ---- what a written model must satisfy -------------------------------------------------------------

// Element type and rank of a ValueInfoProto.
std::pair<int64_t, size_t> type_of(const Msg& value_info) {
  Msg tensor = value_info.msg(2).msg(1);
  return {tensor.i(1), tensor.msg(2).msgs(1).size()};
}

int64_t elem_of(const TensorType& t) { return t.dtype == DType::i64 ? 7 : 1; }

bool is_gru_weight(const std::string& key) { return std::regex_search(key, std::regex("(weight|bias)_(ih|hh)_l[0-9]+$")); }

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Decodes `path` and checks it against the model it came from. Returns the op types used.
std::multiset<std::string> check_onnx_file(const std::string& path, Model& m) {
  std::multiset<std::string> ops;
  std::string bytes = read_all(path);
  EXPECT_FALSE(bytes.empty()) << path;
  Msg model(bytes);
  EXPECT_EQ(model.i(1), 8) << "ir_version";
  EXPECT_EQ(model.str(2), "circuit-studio") << "producer_name";
  auto opsets = model.msgs(8);
  EXPECT_EQ(opsets.size(), 1u);
  if (!opsets.empty()) {
    EXPECT_EQ(opsets[0].str(1), "") << "default domain";
    EXPECT_EQ(opsets[0].i(2), 17) << "opset version";
  }
  Msg graph = model.msg(7);

  // Inputs and outputs: the circuit's, with their element types and ranks.
  const GraphAnalysis& a = m.analysis();
  auto inputs = graph.msgs(11), outputs = graph.msgs(12);
  EXPECT_EQ(inputs.size(), a.inputs.size());
  for (size_t k = 0; k < inputs.size() && k < a.inputs.size(); ++k) {
    const TensorType& t = a.nodes[size_t(a.inputs[k])].outputs[0];
    EXPECT_EQ(inputs[k].str(1), m.circuit().graph.nodes[size_t(a.inputs[k])].name);
    EXPECT_EQ(type_of(inputs[k]), std::make_pair(elem_of(t), t.rank())) << "input " << k;
  }
  EXPECT_EQ(outputs.size(), a.outputs.size());
  for (size_t k = 0; k < outputs.size() && k < a.outputs.size(); ++k)
    EXPECT_EQ(type_of(outputs[k]), std::make_pair(elem_of(a.outputs[k]), a.outputs[k].rank())) << "output " << k;

  // Initializers: well-formed, and every trained tensor under its own name, bit for bit.
  std::set<std::string> defined;
  std::map<std::string, std::string> init_bytes;
  for (auto& t : graph.msgs(5)) {
    std::string name = t.str(8);
    int64_t n = 1;
    for (int64_t d : t.ints(1)) n *= d;
    int64_t type = t.i(2);
    EXPECT_TRUE(type == 1 || type == 7) << name;
    EXPECT_EQ(int64_t(t.str(9).size()), n * (type == 7 ? 8 : 4)) << "raw_data of " << name;
    EXPECT_TRUE(defined.insert(name).second) << "initializer `" << name << "` twice";
    init_bytes[name] = t.str(9);
  }
  auto expect_stored = [&](const std::string& key, const at::Tensor& v) {
    if (is_gru_weight(key)) return;  // stored in ONNX's gate order, under names of their own
    auto it = init_bytes.find(key);
    if (it == init_bytes.end()) return ADD_FAILURE() << "no initializer for `" << key << "`";
    at::Tensor c = v.detach().contiguous();
    EXPECT_EQ(it->second, std::string(static_cast<const char*>(c.data_ptr()), c.nbytes())) << key;
  };
  for (auto& p : m.module().named_parameters(true)) expect_stored(p.key(), p.value());
  for (auto& b : m.module().named_buffers(true)) expect_stored(b.key(), b.value());

  // Nodes: in an order where every value is defined before it is read, each defined once.
  for (auto& i : inputs) defined.insert(i.str(1));
  for (auto& n : graph.msgs(1)) {
    std::string type = n.str(4);
    ops.insert(type);
    for (auto& i : n.strs(1)) EXPECT_TRUE(i.empty() || defined.count(i)) << type << " `" << n.str(3) << "` reads `" << i << "` before it is defined";
    for (auto& o : n.strs(2)) EXPECT_TRUE(defined.insert(o).second) << "value `" << o << "` defined twice";
  }
  std::set<std::string> out_names;
  for (auto& o : outputs) {
    EXPECT_TRUE(defined.count(o.str(1))) << "output `" << o.str(1) << "` is never computed";
    EXPECT_TRUE(out_names.insert(o.str(1)).second) << "output `" << o.str(1) << "` named twice";
  }
  return ops;
}

// ---- fixtures ----------------------------------------------------------------------------------------

// Where files go: CIRCUIT_ONNX_KEEP when set (kept, for check_onnx.py), else a temporary folder.
struct OutDir {
  fs::path dir;
  bool keep = false;
  OutDir() {
    const char* k = std::getenv("CIRCUIT_ONNX_KEEP");
    keep = k && *k;
    dir = keep ? fs::path(k) : fs::temp_directory_path() / ("circuit_onnx_" + std::to_string(::getpid()));
    fs::create_directories(dir);
  }
  ~OutDir() {
    if (!keep) fs::remove_all(dir);
  }
  // The .onnx path for `name`; with keep, the TorchScript twin is written beside it.
  std::string file(const std::string& name, Model& m) const {
    if (keep) {
      EXPECT_TRUE(export_model(m, (dir / (name + ".pt")).string()).ok());
    }
    return (dir / (name + ".onnx")).string();
  }
};



// Trained-looking tensors: PyTorch's initial values (unit scales, zero shifts and biases, zero mean
// and unit variance) would hide a swap of scale and shift or of mean and variance in a numerical
// comparison of the kept files.
void perturb(Model& m) {
  torch::NoGradGuard ng;
  torch::manual_seed(11);
  for (auto& p : m.module().named_parameters(true)) p.value().add_(torch::randn_like(p.value()) * 0.1);
  for (auto& b : m.module().named_buffers(true)) b.value().copy_(torch::rand_like(b.value()) + 0.5);
}

Node moe_node(const std::string& name, const TensorType& tok) {
  Node moe = ffn_block(name, tok, 16);
  moe.op = "moe";
  moe.attrs = {{"experts", 4}, {"k", 2}};
  return moe;
}

// ---- tests -----------------------------------------------------------------------------------------

TEST(Onnx, EveryExampleButMoeAndRecurrencesExportsAndReadsBack) {
  OutDir out;
  int exported = 0;
  for (auto& path : example_paths()) {
    SCOPED_TRACE(path);
    std::string stem = fs::path(path).stem().stem().string();
    // Refused with their reasons (tested above and in test_mixers.cpp): MoE routing, and the
    // chunked recurrences of the hybrids and of Jamba's and Samba's Mamba layers.
    bool recurrent = (stem.find("hybrid") != std::string::npos && stem != "hybrid_conv_attention") || stem.find("amba") != std::string::npos;
    if (stem.find("moe") != std::string::npos || recurrent) continue;
    auto c = load_circuit(path);
    ASSERT_TRUE(c.ok()) << c.error().message;
    auto m = Model::compile(*c, 3);
    ASSERT_TRUE(m.ok()) << m.error().message;
    perturb(**m);
    std::string file = out.file(stem, **m);
    auto s = export_model(**m, file);
    ASSERT_TRUE(s.ok()) << s.error;
    ASSERT_TRUE(fs::exists(file));
    auto ops = check_onnx_file(file, **m);
    EXPECT_FALSE(ops.empty());
    if (stem == "transformer_block") {
      EXPECT_EQ(ops.count("LayerNormalization"), 2u);
      EXPECT_EQ(ops.count("Where"), 1u) << "the causal mask";
      EXPECT_EQ(ops.count("Erf"), 1u) << "the exact GELU";
    }
    ++exported;
  }
  EXPECT_GE(exported, 6);
}

TEST(Onnx, MoeIsRefusedWithTheNodeNamed) {
  OutDir out;
  auto c = load_circuit(source("resources/examples/moe_transformer_block.circuit.json"));
  ASSERT_TRUE(c.ok());
  auto m = Model::compile(*c, 0);
  ASSERT_TRUE(m.ok()) << m.error().message;
  std::string file = (out.dir / "moe_transformer_block.onnx").string();
  auto s = export_onnx(**m, file);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error.rfind(file + ": node `moe`: op `moe` cannot be exported to ONNX: ", 0), 0u) << s.error;
  EXPECT_NE(s.error.find("routing"), std::string::npos) << s.error;
  EXPECT_FALSE(fs::exists(file)) << "a refused export writes nothing";

  // Inside a block the message gives the node's path.
  TensorType tok = T({"batch", "seq", "d_model:8"});
  Graph body = G({In("x", tok), moe_node("experts", tok)}, {"experts"});
  body.nodes[1].inputs = {PortRef{"x", 0}};
  Node blk{"layer", "block", {}, {}, Box<Graph>(std::move(body))};
  auto m2 = Model::compile(one_op(blk, {tok}, {{"seq", 4}}), 0);
  ASSERT_TRUE(m2.ok()) << m2.error().message;
  auto s2 = export_model(**m2, file);
  ASSERT_FALSE(s2.ok());
  EXPECT_NE(s2.error.find("node `layer/experts`: op `moe` cannot be exported to ONNX"), std::string::npos) << s2.error;
}

// One op applied to inputs of given types: the ONNX cases (every op, its attribute variants).
struct OpCase {
  Node n;
  std::vector<TensorType> in;
  const char* expect = nullptr;  // an ONNX op the export must use
};

std::vector<OpCase> op_cases() {
  using S = std::vector<std::string>;
  using I = std::vector<int64_t>;
  TensorType seq = T({"batch", "seq", "d:8"}), img = T({"batch", "c:3", "h:8", "w:8"});
  return {
      {N("node", "linear", {}, {{"out", 5}}), {seq}, "MatMul"},
      {N("node", "linear", {}, {{"out", 5}}), {T({"batch", "d:8"})}, "Gemm"},
      {N("node", "linear", {}, {{"out", 5}, {"bias", false}}), {T({"batch", "d:8"})}, "Gemm"},
      {N("node", "linear", {}, {{"out", 5}, {"in_axis", std::string("seq")}, {"out_axis", std::string("mix")}}),
       {T({"batch", "seq:6", "d:8"})},
       "Transpose"},
      {N("node", "embedding", {}, {{"num", 8}, {"dim", 4}}), {T({"batch", "seq"}, DType::i64)}, "Gather"},
      {N("node", "layer_norm"), {seq}, "LayerNormalization"},
      {N("node", "layer_norm", {}, {{"axis", std::string("c")}, {"affine", false}}), {img}, "LayerNormalization"},
      {N("node", "rms_norm"), {seq}, "ReduceMean"},
      {N("node", "rms_norm", {}, {{"axis", std::string("seq")}, {"affine", false}}), {T({"batch", "seq:5", "d:8"})}, "Sqrt"},
      {N("node", "batch_norm"), {img}, "BatchNormalization"},
      {N("node", "batch_norm", {}, {{"axis", std::string("d")}, {"affine", false}}), {seq}, "BatchNormalization"},
      {N("node", "relu"), {seq}, "Relu"},
      {N("node", "gelu"), {seq}, "Erf"},
      {N("node", "silu"), {seq}, "Sigmoid"},
      {N("node", "softmax", {}, {{"axis", std::string("seq")}}), {seq}, "Softmax"},
      {N("node", "dropout", {}, {{"p", 0.5}}), {seq}, "Identity"},
      {N("node", "add"), {seq, seq}, "Add"},
      {N("node", "multiply"), {seq, seq, seq}, "Mul"},
      {N("node", "reduce", {}, {{"axes", S{"seq"}}}), {seq}, "ReduceMean"},
      {N("node", "reduce", {}, {{"axes", S{"h", "w"}}, {"mode", std::string("max")}}), {img}, "ReduceMax"},
      {N("node", "reduce", {}, {{"axes", S{"c"}}, {"mode", std::string("sum")}}), {img}, "ReduceSum"},
      {N("node", "exit_head", {}, {{"classes", 4}}), {img}, "Gemm"},
      {N("node", "exit_head", {}, {{"classes", 4}}), {seq}, "Gemm"},
      {N("node", "conv2d", {}, {{"out", 6}, {"kernel", I{3, 2}}, {"stride", I{2}}, {"padding", I{1}}, {"dilation", I{1, 2}}}), {img}, "Conv"},
      {N("node", "conv2d", {}, {{"out", 6}, {"groups", 3}, {"bias", false}}), {img}, "Conv"},
      {N("node", "dwconv2d", {}, {{"multiplier", 2}, {"padding", I{1}}}), {img}, "Conv"},
      {N("node", "pool2d", {}, {{"kernel", I{2}}}), {img}, "MaxPool"},
      {N("node", "pool2d", {}, {{"mode", std::string("avg")}, {"kernel", I{3}}, {"stride", I{1}}, {"padding", I{1}}}), {img}, "AveragePool"},
      {N("node", "pool2d", {}, {{"mode", std::string("global_avg")}}), {img}, "ReduceMean"},
      {N("node", "pool2d", {}, {{"mode", std::string("global_max")}}), {img}, "ReduceMax"},
      {N("node", "flatten"), {img}, "Flatten"},
      {N("node", "flatten", {}, {{"axes", S{"h", "w"}}}), {img}, "Reshape"},
      {N("node", "flatten", {}, {{"axes", S{"h", "w"}}}), {T({"batch", "h:2", "w:3", "seq"})}, "Reshape"},
      {N("node", "reshape", {}, {{"shape", S{"batch", "seq", "heads:2", "dh:?"}}}), {seq}, "Reshape"},
      {N("node", "reshape", {}, {{"shape", S{"a:2", "b:2", "batch", "seq"}}}), {T({"x:4", "batch", "seq"})}, "Shape"},
      {N("node", "transpose", {}, {{"order", S{"d", "batch", "seq"}}}), {seq}, "Transpose"},
      {N("node", "transpose", {}, {{"order", S{"batch", "seq", "d"}}}), {seq}, "Identity"},
      {N("node", "concat", {}, {{"axis", std::string("d")}}), {seq, seq}, "Concat"},
      {N("node", "split", {}, {{"axis", std::string("d")}, {"sizes", I{3, 5}}}), {seq}, "Split"},
      {N("node", "attention", {}, {{"heads", 2}}), {seq}, "Softmax"},
      {N("node", "attention", {}, {{"heads", 4}, {"causal", true}, {"window", 2}, {"bias", false}}), {seq}, "Or"},
      {N("node", "attention", {}, {{"heads", 2}, {"window", 3}}), {seq}, "GreaterOrEqual"},
      {N("node", "attention", {}, {{"heads", 2}, {"seq_axis", std::string("h")}}), {T({"batch", "h:5", "w:3", "d:8"})}, "Softmax"},
      {N("node", "attention", {}, {{"heads", 2}, {"causal", true}}), {T({"batch", "x:2", "seq", "d:8"})}, "Where"},
      {N("node", "attention", {}, {{"heads", 4}, {"kv_heads", 2}, {"rope_theta", 10000.0}, {"qk_norm", true}, {"gate", std::string("element")}, {"causal", true}}), {seq}, "Cos"},
      {N("node", "attention", {}, {{"heads", 2}, {"head_dim", 4}, {"kv_heads", 1}, {"rope_theta", 100.0}, {"rope_fraction", 0.5},
                                   {"rope_layout", std::string("interleaved")}, {"gate", std::string("head")}, {"out_bias", false}, {"window", 2}}),
       {T({"batch", "x:2", "seq", "d:8"})}, "Sigmoid"},
      {N("node", "latent_attention", {}, {{"heads", 2}, {"q_lora_rank", 4}, {"kv_lora_rank", 6}, {"qk_nope_dim", 2}, {"qk_rope_dim", 2}, {"v_head_dim", 3}, {"causal", true}}),
       {seq}, "Cos"},
      {N("node", "latent_attention", {}, {{"heads", 2}, {"kv_lora_rank", 3}, {"qk_nope_dim", 0}, {"qk_rope_dim", 4}, {"v_head_dim", 4},
                                          {"rope_layout", std::string("interleaved")}, {"window", 2}}),
       {T({"batch", "x:2", "seq", "d:8"})}, "Softmax"},
      {N("node", "gru", {}, {{"hidden", 6}}), {seq}, "GRU"},
      {N("node", "gru", {}, {{"hidden", 6}, {"bias", false}}), {seq}, "GRU"},
      {N("node", "gru", {}, {{"hidden", 6}, {"layers", 2}, {"seq_axis", std::string("seq")}}), {T({"batch", "seq", "x:2", "d:8"})}, "GRU"},
      {N("node", "einsum", {}, {{"equation", std::string("b s d, b t d -> b s t")}}), {seq, seq}, "Einsum"},
      {N("node", "einsum", {}, {{"equation", std::string("b s d, e -> b d e")}}), {seq, T({"e:3"})}, "Einsum"},
      {N("node", "pool1d", {}, {{"kernel", 3}}), {seq}, "AveragePool"},
      {N("node", "pool1d", {}, {{"kernel", 4}, {"causal", false}, {"seq_axis", std::string("seq")}}), {T({"batch", "seq", "x:2", "d:8"})}, "AveragePool"},
      {N("node", "lstm", {}, {{"hidden", 6}}), {seq}, "LSTM"},
      {N("node", "lstm", {}, {{"hidden", 6}, {"layers", 2}, {"bias", false}, {"seq_axis", std::string("seq")}}), {T({"batch", "seq", "x:2", "d:8"})}, "LSTM"},
      {N("node", "linear_attention", {}, {{"heads", 2}, {"causal", false}}), {seq}, "Elu"},
      {N("node", "linear_attention", {}, {{"heads", 4}, {"causal", false}, {"feature_map", std::string("relu")}, {"normalize", false}, {"bias", true}}), {T({"batch", "seq", "x:2", "d:8"})}, "Relu"},
      {N("node", "conv1d", {}, {{"out", 6}, {"kernel", 3}}), {seq}, "Conv"},
      {N("node", "conv1d", {}, {{"kernel", 4}, {"causal", false}, {"bias", false}}), {seq}, "Conv"},
      {N("node", "conv1d", {}, {{"depthwise", true}, {"seq_axis", std::string("seq")}}), {T({"batch", "seq", "x:2", "d:8"})}, "Conv"},
      {ffn_block("node", seq, 12), {seq}, "Erf"},
  };
}

TEST(Onnx, EveryOpExportsAndReadsBack) {
  OutDir out;
  // moe: refused, tested above; the recurrent mixers (causal linear attention too): refused, tested in test_mixers.cpp.
  std::set<std::string> covered{"input", "moe", "gated_delta", "mamba2", "mamba"};
  int k = 0;
  for (auto& c : op_cases()) {
    std::string name = "op" + std::to_string(k++) + "_" + c.n.op;
    SCOPED_TRACE(name + " " + to_string(c.in[0]));
    Circuit circ = one_op(c.n, c.in, {{"seq", 5}});
    auto m = Model::compile(circ, 7);
    ASSERT_TRUE(m.ok()) << m.error().message;
    perturb(**m);
    std::string file = out.file(name, **m);
    auto s = export_onnx(**m, file);
    ASSERT_TRUE(s.ok()) << s.error;
    auto ops = check_onnx_file(file, **m);
    if (c.expect) {
      EXPECT_TRUE(ops.count(c.expect)) << "no " << c.expect;
    }
    covered.insert(c.n.op);
  }
  for (const OpDef* d : all_ops()) EXPECT_TRUE(covered.count(d->name)) << "op `" << d->name << "` has no ONNX case";
}

// ONNX Runtime (npm's onnxruntime-node, which scripts/setup.sh installs) runs every op case and
// must compute our outputs: the structural checks above cannot tell a wrong gate order or padding.
TEST(Onnx, OnnxRuntimeComputesEveryOpCase) {
  const std::string node = CIRCUIT_NODE, ort = CIRCUIT_ORT_DIR;  // tests/CMakeLists.txt finds them
  if (node.empty() || node.find("NOTFOUND") != std::string::npos) GTEST_SKIP() << "no node found (scripts/setup.sh installs Node.js)";
  if (!fs::exists(ort + "/package.json")) GTEST_SKIP() << "no " << ort << " (scripts/setup.sh installs onnxruntime-node)";
  OutDir out;
  int k = 0;
  for (auto& c : op_cases()) {
    std::string name = "op" + std::to_string(k++) + "_" + c.n.op;
    SCOPED_TRACE(name);
    auto m = Model::compile(one_op(c.n, c.in, {{"seq", 5}}), 7);
    ASSERT_TRUE(m.ok()) << m.error().message;
    perturb(**m);
    (*m)->set_training(false);
    ASSERT_TRUE(export_onnx(**m, (out.dir / (name + ".onnx")).string()).ok());
    circuit::Bindings b{{"batch", 3}, {"seq", 5}};
    std::vector<at::Tensor> in = test::inputs_for(**m, b, 7), ours;
    {
      torch::NoGradGuard ng;
      ours = (*m)->forward(in);
    }
    base::Json meta = base::Json::object(), ins = base::Json::array(), outs = base::Json::array();
    for (size_t j = 0; j < in.size(); ++j) ins.push(test::write_array(in[j], out.dir / (name + ".in" + std::to_string(j) + ".bin")));
    for (size_t j = 0; j < ours.size(); ++j) outs.push(test::write_array(ours[j], out.dir / (name + ".out" + std::to_string(j) + ".bin")));
    meta.set("inputs", std::move(ins)), meta.set("outputs", std::move(outs)), meta.set("onnx", base::Json::string(name + ".onnx"));
    std::ofstream(out.dir / (name + ".json")) << base::write_json(meta);
  }
  std::string log = (out.dir / "ort.log").string();
  int rc = std::system((node + " " CIRCUIT_SOURCE_DIR "/tests/interop/run_onnx.mjs " + out.dir.string() + " " + ort + " > " + log + " 2>&1").c_str());
  std::ifstream f(log);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << text;
  EXPECT_NE(text.find(std::to_string(k) + " passed, 0 failed"), std::string::npos) << text;
}

TEST(Onnx, OutputsThatRepeatOrAreInputsGetTheirOwnNames) {
  OutDir out;
  Circuit c;
  c.name = "repeat";
  c.graph = G({In("x", T({"batch", "d:4"})), N("r", "relu", {"x"})}, {"r", "x", "r"});
  auto m = Model::compile(c, 0);
  ASSERT_TRUE(m.ok()) << m.error().message;
  std::string file = out.file("repeat", **m);
  auto s = export_onnx(**m, file);
  ASSERT_TRUE(s.ok()) << s.error;
  check_onnx_file(file, **m);
}

}  // namespace
}  // namespace engine
