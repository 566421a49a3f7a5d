// ONNX export (opset 17): every circuit node becomes the ONNX nodes that compute what the engine's
// forward computes (model.cpp), following the same walk as the TorchScript export (export.cpp):
// analysis order, blocks inlined, named axes turned into dimension indices once.
//
// The file is written in protobuf's wire format by hand: Debian's LibTorch has no ONNX writer
// callable from C++, and the few messages a model needs do not justify a protobuf dependency.
// Trained tensors become initializers named exactly like the module's parameters and buffers
// ("ffn.up.weight", "bn1.running_mean"), in PyTorch's layout; only GRU weights, whose gate order
// ONNX defines differently, are stored rearranged under names of their own.
#include "onnx.h"

#include <torch/torch.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <string_view>

#include "circuit/circuit_file.h"
#include "circuit/op.h"

namespace engine {

using circuit::Status;
using circuit::TensorType;

namespace {

static_assert(std::endian::native == std::endian::little, "raw_data is copied from host memory, which must be little-endian");

constexpr int64_t kIrVersion = 8;
constexpr int64_t kOpset = 17;

// ---- protobuf wire format ---------------------------------------------------------------------

// One message being encoded. Repeated scalars are written unpacked, as proto2 (onnx.proto) does.
class Proto {
 public:
  Proto& varint(int field, int64_t v) {
    key(field, 0);
    raw(uint64_t(v));  // negative int64: ten bytes of two's complement, as protobuf specifies
    return *this;
  }
  Proto& f32(int field, float v) {
    key(field, 5);
    char b[4];
    std::memcpy(b, &v, 4);
    buf_.append(b, 4);
    return *this;
  }
  Proto& bytes(int field, std::string_view s) {
    key(field, 2);
    raw(s.size());
    buf_.append(s);
    return *this;
  }
  Proto& msg(int field, const Proto& p) { return bytes(field, p.buf_); }
  const std::string& str() const { return buf_; }

 private:
  void key(int field, int wire) { raw(uint64_t(field) << 3 | uint64_t(wire)); }
  void raw(uint64_t v) {
    for (; v >= 0x80; v >>= 7) buf_ += char((v & 0x7f) | 0x80);
    buf_ += char(v);
  }
  std::string buf_;
};

// Field numbers of onnx.proto (checked against python3-onnx 1.12's copy).
namespace field {
constexpr int model_ir_version = 1, model_producer = 2, model_doc = 6, model_graph = 7, model_opset = 8, model_metadata = 14;
constexpr int opset_domain = 1, opset_version = 2;
constexpr int graph_node = 1, graph_name = 2, graph_initializer = 5, graph_doc = 10, graph_input = 11, graph_output = 12,
              graph_value_info = 13;
constexpr int node_input = 1, node_output = 2, node_name = 3, node_op_type = 4, node_attribute = 5;
constexpr int attr_name = 1, attr_f = 2, attr_i = 3, attr_ints = 8, attr_type = 20;
constexpr int tensor_dims = 1, tensor_data_type = 2, tensor_name = 8, tensor_raw_data = 9;
constexpr int value_name = 1, value_type = 2, value_doc = 3;
constexpr int type_tensor = 1, tensor_elem_type = 1, tensor_shape = 2, shape_dim = 1, dim_value = 1, dim_param = 2;
constexpr int entry_key = 1, entry_value = 2;
}  // namespace field

constexpr int64_t kFloat = 1, kInt64 = 7;                      // TensorProto.DataType
constexpr int64_t kAttrFloat = 1, kAttrInt = 2, kAttrInts = 7;  // AttributeProto.AttributeType

Proto attr_i(const std::string& name, int64_t v) {
  return std::move(Proto().bytes(field::attr_name, name).varint(field::attr_type, kAttrInt).varint(field::attr_i, v));
}
Proto attr_f(const std::string& name, double v) {
  return std::move(Proto().bytes(field::attr_name, name).varint(field::attr_type, kAttrFloat).f32(field::attr_f, float(v)));
}
Proto attr_ints(const std::string& name, const std::vector<int64_t>& v) {
  Proto p;
  p.bytes(field::attr_name, name).varint(field::attr_type, kAttrInts);
  for (int64_t x : v) p.varint(field::attr_ints, x);
  return p;
}

Proto tensor_proto(const std::string& name, const at::Tensor& t) {
  at::Tensor c = t.detach().cpu();
  c = (c.scalar_type() == at::kLong ? c : c.to(at::kFloat)).contiguous();
  Proto p;
  for (int64_t d : c.sizes()) p.varint(field::tensor_dims, d);
  p.varint(field::tensor_data_type, c.scalar_type() == at::kLong ? kInt64 : kFloat);
  p.bytes(field::tensor_name, name);
  p.bytes(field::tensor_raw_data, std::string_view(static_cast<const char*>(c.data_ptr()), c.nbytes()));
  return p;
}

// Symbolic sizes become dim_param ("batch", "seq"); the axis names go into the doc string.
Proto value_info(const std::string& name, const TensorType& t) {
  Proto shape;
  for (auto& a : t.axes) {
    Proto d;
    if (a.size.concrete()) d.varint(field::dim_value, a.size.n);
    else d.bytes(field::dim_param, a.size.sym);
    shape.msg(field::shape_dim, d);
  }
  Proto tensor;
  tensor.varint(field::tensor_elem_type, t.dtype == circuit::DType::i64 ? kInt64 : kFloat).msg(field::tensor_shape, shape);
  Proto type;
  type.msg(field::type_tensor, tensor);
  return std::move(Proto().bytes(field::value_name, name).msg(field::value_type, type).bytes(field::value_doc, circuit::to_string(t)));
}

// ---- shapes -------------------------------------------------------------------------------------

std::pair<int64_t, int64_t> pair_of(const std::vector<int64_t>& v, int64_t dflt) {
  if (v.empty()) return {dflt, dflt};
  if (v.size() == 1) return {v[0], v[0]};
  return {v[0], v[1]};
}

// The permutation torch.movedim(x, from, to) applies.
std::vector<int64_t> movedim(int64_t rank, int64_t from, int64_t to) {
  std::vector<int64_t> p;
  for (int64_t j = 0; j < rank; ++j)
    if (j != from) p.push_back(j);
  p.insert(p.begin() + to, from);
  return p;
}

TensorType permuted(const TensorType& t, const std::vector<int64_t>& perm) {
  TensorType r = t;
  for (size_t j = 0; j < perm.size(); ++j) r.axes[j] = t.axes[size_t(perm[j])];
  return r;
}

// One size of a Reshape target: fixed (-1: inferred), or the run-time size of dimension `dim` of
// the shape source. `in_place`: the reshaped tensor has that very size at the same position, so
// Reshape's 0 copies it and the shape stays a constant that shape inference can read.
struct Extent {
  int64_t n = -1;
  int64_t dim = -1;
  bool in_place = false;
  static Extent fixed(int64_t n) { return {n, -1, false}; }
  static Extent of(int64_t dim, bool in_place = false) { return {-1, dim, in_place}; }
};

// ---- the emitter ----------------------------------------------------------------------------------

struct Site;

struct NodeDef {
  std::string type;
  std::vector<std::string> in, out;
  std::vector<Proto> attrs;
};

class Onnx {
 public:
  std::string error;

  explicit Onnx(torch::nn::Module& m) {
    for (auto& p : m.named_parameters(true)) tensors_[p.key()] = p.value();
    for (auto& b : m.named_buffers(true)) tensors_[b.key()] = b.value();
  }

  // A value name not used yet: `base`, else base_2, base_3...
  std::string fresh(const std::string& base) {
    std::string n = base;
    for (int k = 2; !names_.insert(n).second; ++k) n = base + "_" + std::to_string(k);
    return n;
  }

  // ---- nodes and constants

  std::vector<std::string> node(const std::string& type, std::vector<std::string> in, const std::vector<std::string>& outs,
                                std::vector<Proto> attrs = {}) {
    NodeDef n{type, std::move(in), {}, std::move(attrs)};
    for (auto& o : outs) n.out.push_back(fresh(o));
    nodes_.push_back(std::move(n));
    return nodes_.back().out;
  }
  // A one-output node named after the circuit node being emitted ("attn/MatMul").
  std::string op(const std::string& type, std::vector<std::string> in, std::vector<Proto> attrs = {}) {
    return node(type, std::move(in), {here_ + "/" + type}, std::move(attrs))[0];
  }

  // A trained tensor of the module, under its own name.
  std::string param(const std::string& key) {
    auto it = tensors_.find(key);
    if (it == tensors_.end()) {
      if (error.empty()) error = "the model has no tensor `" + key + "`";
      return key;
    }
    if (stored_.insert(key).second) {
      names_.insert(key);
      inits_.push_back(tensor_proto(key, it->second));
    }
    return key;
  }
  // A trained tensor of the module, to derive another from.
  at::Tensor trained(const std::string& key) {
    auto it = tensors_.find(key);
    if (it != tensors_.end()) return it->second;
    if (error.empty()) error = "the model has no tensor `" + key + "`";
    return torch::zeros({0});
  }
  // A tensor derived from trained ones (GRU weights in ONNX's gate order).
  std::string derived(const std::string& base, const at::Tensor& t) {
    std::string n = fresh(base);
    inits_.push_back(tensor_proto(n, t));
    return n;
  }
  // A constant, stored once however often it is used.
  std::string constant(const at::Tensor& t, const std::string& base) {
    at::Tensor c = t.contiguous();
    std::string key = std::to_string(int(c.scalar_type())) + ":";
    for (int64_t d : c.sizes()) key += std::to_string(d) + ",";
    key.append(static_cast<const char*>(c.data_ptr()), c.nbytes());
    auto [it, added] = constants_.emplace(key, "");
    if (added) it->second = derived("const/" + base, c);
    return it->second;
  }
  std::string ints(const std::vector<int64_t>& v) { return constant(torch::tensor(v, torch::kLong), "ints"); }
  std::string scalar_i(int64_t v) { return constant(torch::scalar_tensor(v, torch::kLong), "int"); }
  std::string scalar_f(double v) { return constant(torch::scalar_tensor(v, torch::kFloat), "float"); }

  // ---- composite steps shared by several ops

  std::string transpose(const std::string& x, const std::vector<int64_t>& perm) {
    for (size_t j = 0; j < perm.size(); ++j)
      if (perm[j] != int64_t(j)) return op("Transpose", {x}, {attr_ints("perm", perm)});
    return x;
  }
  std::string move(const std::string& x, int64_t rank, int64_t from, int64_t to) {
    return from == to ? x : transpose(x, movedim(rank, from, to));
  }

  // torch.linear(x, W, b) over the last axis, W stored as PyTorch holds it ([out, in]).
  std::string linear(const std::string& x, size_t rank, const std::string& w, const std::string& b) {
    if (rank == 2) {
      std::vector<std::string> in{x, w};
      if (!b.empty()) in.push_back(b);
      return op("Gemm", in, {attr_i("transB", 1)});
    }
    std::string y = op("MatMul", {x, op("Transpose", {w}, {attr_ints("perm", {1, 0})})});
    return b.empty() ? y : op("Add", {y, b});
  }

  // x.reshape(target), where run-time sizes are read from `src` (of type `st`).
  std::string reshape(const std::string& x, const std::string& src, const TensorType& st, std::vector<Extent> target) {
    bool inferred = false;
    std::vector<size_t> dynamic;
    for (size_t j = 0; j < target.size(); ++j) {
      Extent& e = target[j];
      if (e.dim >= 0 && st.axes[size_t(e.dim)].size.concrete()) e = Extent::fixed(st.axes[size_t(e.dim)].size.n);
      else if (e.dim >= 0 && e.in_place) e = Extent::fixed(0);
      if (e.dim >= 0) dynamic.push_back(j);
      else inferred |= e.n == -1;
    }
    if (dynamic.size() == 1 && !inferred) target[dynamic[0]] = Extent::fixed(-1), dynamic.clear();
    if (dynamic.empty()) {
      std::vector<int64_t> sizes;
      for (auto& e : target) sizes.push_back(e.n);
      return op("Reshape", {x, ints(sizes)});
    }
    // More than one size is known only at run time: gather them from the source's shape.
    std::string shape = op("Shape", {src});
    std::vector<std::string> parts;
    std::vector<int64_t> run;
    for (auto& e : target) {
      if (e.dim < 0) {
        run.push_back(e.n);
        continue;
      }
      if (!run.empty()) parts.push_back(ints(run)), run.clear();
      parts.push_back(op("Gather", {shape, ints({e.dim})}, {attr_i("axis", 0)}));
    }
    if (!run.empty()) parts.push_back(ints(run));
    return op("Reshape", {x, op("Concat", parts, {attr_i("axis", 0)})});
  }

  // ---- the circuit

  // Emits graph `g`; `inputs` are the values bound to its input nodes; `path` prefixes node names
  // ("ffn/") and `prefix` parameter names ("ffn."). Returns the values of the graph's outputs.
  std::vector<std::string> graph(const circuit::Graph& g, const circuit::GraphAnalysis& a, const std::vector<std::string>& inputs,
                                 const std::string& path, const std::string& prefix);

  std::string model(const circuit::Circuit& c, const std::vector<Proto>& inputs, const std::vector<std::pair<std::string, TensorType>>& outputs);

 private:
  std::vector<std::string> emit(const circuit::Node& n, const circuit::NodeInfo& info, const std::vector<std::string>& in,
                                const std::vector<TensorType>& types, const std::string& path, const std::string& prefix);
  std::string attention(const Site& s);
  std::string gru(const Site& s);
  std::string refuse(const std::string& node, const std::string& kind, const std::string& reason) {
    if (error.empty()) error = "node `" + node + "`: op `" + kind + "` cannot be exported to ONNX: " + reason;
    return {};
  }

  std::map<std::string, at::Tensor> tensors_;
  std::set<std::string> names_, stored_;
  std::map<std::string, std::string> constants_;
  std::vector<NodeDef> nodes_;
  std::vector<Proto> inits_;
  std::vector<std::pair<std::string, TensorType>> value_info_;
  std::string here_;  // path of the circuit node being emitted
};

// One circuit node being emitted: its attributes (with schema defaults), its input and the
// naming of its parameters. The same accessors as export.cpp's.
struct Site {
  const circuit::Node& node;
  const circuit::OpDef& def;
  const std::vector<std::string>& in;
  const TensorType& t;  // input 0's type (the output's for ops without inputs)
  std::string prefix;   // "ffn.up."

  const circuit::AttrValue& attr(const std::string& k) const {
    auto it = node.attrs.find(k);
    return it != node.attrs.end() ? it->second : *def.find_attr(k)->default_value;
  }
  int64_t I(const std::string& k) const { return std::get<int64_t>(attr(k)); }
  double F(const std::string& k) const {
    auto& v = attr(k);
    return std::holds_alternative<int64_t>(v) ? double(std::get<int64_t>(v)) : std::get<double>(v);
  }
  bool B(const std::string& k) const { return std::get<bool>(attr(k)); }
  const std::string& S(const std::string& k) const { return std::get<std::string>(attr(k)); }
  const std::vector<int64_t>& Ints(const std::string& k) const { return std::get<std::vector<int64_t>>(attr(k)); }
  const std::vector<std::string>& Strs(const std::string& k) const { return std::get<std::vector<std::string>>(attr(k)); }
  int64_t rank() const { return int64_t(t.rank()); }
  int64_t dim(const std::string& name, int fallback) const {
    if (!name.empty()) return t.find(name);
    return fallback < 0 ? rank() + fallback : fallback;
  }
  int64_t size(int64_t d) const { return t.axes[size_t(d)].size.n; }
  std::string p(const std::string& name) const { return prefix + name; }
};

std::vector<std::string> Onnx::graph(const circuit::Graph& g, const circuit::GraphAnalysis& a, const std::vector<std::string>& inputs,
                                     const std::string& path, const std::string& prefix) {
  auto outs = circuit::walk<std::string>(g, a, inputs, [&](int i, const std::vector<std::string>& in, const std::vector<TensorType>& types) {
    const circuit::NodeInfo& info = a.nodes[size_t(i)];
    // After an error, keep the walk going with placeholders; the error is reported once.
    if (error.empty()) {
      auto v = emit(g.nodes[size_t(i)], info, in, types, path, prefix);
      if (error.empty()) return v;
    }
    return std::vector<std::string>(info.outputs.size());
  });
  return error.empty() ? outs : std::vector<std::string>{};
}

std::vector<std::string> Onnx::emit(const circuit::Node& n, const circuit::NodeInfo& info, const std::vector<std::string>& in,
                                    const std::vector<TensorType>& types, const std::string& path, const std::string& prefix) {
  const std::string& kind = n.op;
  const circuit::OpDef& def = *circuit::find_op(kind);
  Site s{n, def, in, types.empty() ? info.outputs[0] : types[0], prefix + n.name + "."};
  here_ = path + n.name;
  if (kind == "block") return graph(*n.body, *info.body, in, here_ + "/", s.prefix);
  if (kind == "split") {
    int64_t d = s.dim(s.S("axis"), 0);
    std::vector<std::string> names;
    for (size_t k = 0; k < s.Ints("sizes").size(); ++k) names.push_back(here_ + ":" + std::to_string(k));
    auto outs = node("Split", {in[0], ints(s.Ints("sizes"))}, names, {attr_i("axis", d)});
    for (size_t k = 0; k < outs.size(); ++k) value_info_.push_back({outs[k], info.outputs[k]});
    return outs;
  }

  const std::string& x = in.empty() ? std::string() : in[0];
  const int64_t rank = s.rank();
  std::string y;
  if (kind == "linear") {
    int64_t d = s.S("in_axis").empty() ? rank - 1 : s.t.find(s.S("in_axis"));
    y = linear(move(x, rank, d, rank - 1), size_t(rank), param(s.p("weight")), s.B("bias") ? param(s.p("bias")) : "");
    y = move(y, rank, rank - 1, d);
  } else if (kind == "embedding") {
    y = op("Gather", {param(s.p("weight")), x}, {attr_i("axis", 0)});
  } else if (kind == "layer_norm") {
    int64_t d = s.dim(s.S("axis"), -1);
    std::vector<std::string> args{move(x, rank, d, rank - 1)};
    if (s.B("affine")) args.push_back(param(s.p("weight"))), args.push_back(param(s.p("bias")));
    else args.push_back(constant(torch::ones({s.size(d)}), "ones"));  // LayerNormalization requires a scale
    y = move(op("LayerNormalization", args, {attr_i("axis", -1), attr_f("epsilon", s.F("eps"))}), rank, rank - 1, d);
  } else if (kind == "rms_norm") {
    // y * rsqrt(mean(y^2, -1, keepdim) + eps), as model.cpp writes it.
    int64_t d = s.dim(s.S("axis"), -1);
    std::string z = move(x, rank, d, rank - 1);
    std::string ms = op("ReduceMean", {op("Mul", {z, z})}, {attr_ints("axes", {-1}), attr_i("keepdims", 1)});
    std::string inv = op("Reciprocal", {op("Sqrt", {op("Add", {ms, scalar_f(s.F("eps"))})})});
    y = op("Mul", {z, inv});
    if (s.B("affine")) y = op("Mul", {y, param(s.p("weight"))});
    y = move(y, rank, rank - 1, d);
  } else if (kind == "batch_norm") {
    int64_t d = s.dim(s.S("axis"), 1), c = s.size(d);
    std::string w = s.B("affine") ? param(s.p("weight")) : constant(torch::ones({c}), "ones");
    std::string b = s.B("affine") ? param(s.p("bias")) : constant(torch::zeros({c}), "zeros");
    y = op("BatchNormalization", {move(x, rank, d, 1), w, b, param(s.p("running_mean")), param(s.p("running_var"))},
                 {attr_f("epsilon", s.F("eps"))});
    y = move(y, rank, 1, d);
  } else if (kind == "relu") {
    y = op("Relu", {x});
  } else if (kind == "gelu") {
    // Opset 17 has no Gelu; this is ATen's CPU kernel term for term: x * 0.5 * (1 + erf(x * M_SQRT1_2)).
    std::string e = op("Erf", {op("Mul", {x, scalar_f(M_SQRT1_2)})});
    y = op("Mul", {op("Mul", {x, scalar_f(0.5)}), op("Add", {e, scalar_f(1.0)})});
  } else if (kind == "silu") {
    y = op("Mul", {x, op("Sigmoid", {x})});
  } else if (kind == "softmax") {
    y = op("Softmax", {x}, {attr_i("axis", s.dim(s.S("axis"), -1))});
  } else if (kind == "dropout") {
    y = op("Identity", {x});  // inference
  } else if (kind == "add" || kind == "multiply") {
    y = in[0];
    for (size_t k = 1; k < in.size(); ++k) y = op(kind == "add" ? "Add" : "Mul", {y, in[k]});
  } else if (kind == "reduce") {
    std::vector<int64_t> dims;
    for (auto& a : s.Strs("axes")) dims.push_back(s.t.find(a));
    const std::string& mode = s.S("mode");
    // Opset 17: ReduceSum takes its axes as an input, ReduceMean and ReduceMax as an attribute.
    if (mode == "sum") y = op("ReduceSum", {x, ints(dims)}, {attr_i("keepdims", 0)});
    else y = op(mode == "max" ? "ReduceMax" : "ReduceMean", {x}, {attr_ints("axes", dims), attr_i("keepdims", 0)});
  } else if (kind == "exit_head") {
    int64_t f = s.dim(s.S("feature_axis"), rank == 4 ? 1 : -1);
    std::vector<int64_t> pool;
    for (int64_t j = 1; j < rank; ++j)
      if (j != f) pool.push_back(j);
    y = pool.empty() ? x : op("ReduceMean", {x}, {attr_ints("axes", pool), attr_i("keepdims", 0)});
    y = linear(y, size_t(rank) - pool.size(), param(s.p("weight")), param(s.p("bias")));
  } else if (kind == "conv2d" || kind == "dwconv2d") {
    int64_t groups = kind == "dwconv2d" ? s.size(1) : s.I("groups");
    auto [kh, kw] = pair_of(s.Ints("kernel"), 1);
    auto [sh, sw] = pair_of(s.Ints("stride"), 1);
    auto [ph, pw] = pair_of(s.Ints("padding"), 0);
    auto [dh, dw] = pair_of(s.Ints("dilation"), 1);
    std::vector<std::string> args{x, param(s.p("weight"))};
    if (s.B("bias")) args.push_back(param(s.p("bias")));
    y = op("Conv", args,
                 {attr_ints("kernel_shape", {kh, kw}), attr_ints("strides", {sh, sw}), attr_ints("pads", {ph, pw, ph, pw}),
                  attr_ints("dilations", {dh, dw}), attr_i("group", groups)});
  } else if (kind == "pool2d") {
    const std::string& mode = s.S("mode");
    auto [kh, kw] = pair_of(s.Ints("kernel"), 1);
    auto [sh, sw] = pair_of(s.Ints("stride"), 0);
    if (sh == 0) sh = kh, sw = kw;
    auto [ph, pw] = pair_of(s.Ints("padding"), 0);
    std::vector<Proto> window{attr_ints("kernel_shape", {kh, kw}), attr_ints("strides", {sh, sw}), attr_ints("pads", {ph, pw, ph, pw})};
    if (mode == "global_avg") y = op("ReduceMean", {x}, {attr_ints("axes", {2, 3}), attr_i("keepdims", 0)});
    else if (mode == "global_max") y = op("ReduceMax", {x}, {attr_ints("axes", {2, 3}), attr_i("keepdims", 0)});
    else if (mode == "avg") {
      window.push_back(attr_i("count_include_pad", 1));  // PyTorch's avg_pool2d default
      y = op("AveragePool", {x}, std::move(window));
    } else {
      y = op("MaxPool", {x}, std::move(window));
    }
  } else if (kind == "flatten") {
    auto names = s.Strs("axes");
    int64_t first = names.empty() ? 1 : s.t.find(names[0]);
    int64_t last = names.empty() ? rank - 1 : first + int64_t(names.size()) - 1;
    if (first == 1 && last == rank - 1) {
      y = op("Flatten", {x}, {attr_i("axis", 1)});
    } else {
      std::vector<Extent> target;
      for (int64_t j = 0; j < first; ++j) target.push_back(Extent::of(j, true));
      target.push_back(Extent::fixed(info.outputs[0].axes[size_t(first)].size.n));
      for (int64_t j = last + 1; j < rank; ++j) target.push_back(Extent::of(j, first == last));
      y = reshape(x, x, s.t, target);
    }
  } else if (kind == "reshape") {
    // Concrete sizes come from the output type; symbolic ones from the matching input dimension.
    std::vector<int64_t> sym;
    for (int64_t j = 0; j < rank; ++j)
      if (!s.t.axes[size_t(j)].size.concrete()) sym.push_back(j);
    std::vector<Extent> target;
    size_t k = 0;
    for (auto& a : info.outputs[0].axes) {
      if (a.size.concrete()) target.push_back(Extent::fixed(a.size.n));
      else target.push_back(Extent::of(sym[k], sym[k] == int64_t(target.size()))), ++k;
    }
    y = reshape(x, x, s.t, target);
  } else if (kind == "transpose") {
    std::vector<int64_t> perm;
    for (auto& a : s.Strs("order")) perm.push_back(s.t.find(a));
    y = transpose(x, perm);
  } else if (kind == "concat") {
    y = op("Concat", in, {attr_i("axis", s.dim(s.S("axis"), 0))});
  } else if (kind == "attention") {
    y = attention(s);
  } else if (kind == "gru") {
    y = gru(s);
  } else if (kind == "moe") {
    return {refuse(here_, kind, "dynamic token routing (top-k per token, capacity, gather and scatter) has no static ONNX form")};
  } else {
    return {refuse(here_, kind, "no ONNX form is implemented for it")};
  }
  if (!error.empty()) return {y};
  // Every circuit node leaves one value named after it: the last node's output is renamed, and a
  // node that computed nothing new (an identity transpose) gets an Identity.
  std::string name;
  if (!nodes_.empty() && nodes_.back().out == std::vector<std::string>{y} && y.rfind(here_ + "/", 0) == 0) nodes_.back().out[0] = name = fresh(here_);
  else name = node("Identity", {y}, {here_})[0];
  value_info_.push_back({name, info.outputs[0]});
  return {name};
}

// model.cpp's Attention::forward on [B, T, d] after the sequence axis is moved next to the
// features and every other axis folded into B (export.cpp writes the same lines).
std::string Onnx::attention(const Site& s) {
  int64_t rank = s.rank(), sa = s.dim(s.S("seq_axis"), -2), f = rank - 1, d = s.size(f), h = s.I("heads"), dh = d / h;
  bool causal = s.B("causal");
  int64_t window = s.I("window");
  std::vector<int64_t> perm = movedim(rank, sa, f - 1);
  TensorType yt = permuted(s.t, perm);
  std::string y = transpose(s.in[0], perm);
  std::string y3 = rank == 3 ? y : reshape(y, y, yt, {Extent::fixed(-1), Extent::of(f - 1), Extent::fixed(d)});
  std::string w = param(s.p("in_proj_weight")), b = s.B("bias") ? param(s.p("in_proj_bias")) : "";
  auto qkv = node("Split", {linear(y3, 3, w, b), ints({d, d, d})}, {here_ + "/q", here_ + "/k", here_ + "/v"}, {attr_i("axis", 2)});
  // [B, T, d] -> [B, T, heads, dh], then heads before time (keys also transposed for q k^T).
  auto heads = [&](const std::string& t, std::vector<int64_t> p) { return transpose(op("Reshape", {t, ints({0, 0, h, dh})}), p); };
  std::string q = heads(qkv[0], {0, 2, 1, 3}), kt = heads(qkv[1], {0, 2, 3, 1}), v = heads(qkv[2], {0, 2, 1, 3});
  std::string scores = op("Div", {op("MatMul", {q, kt}), scalar_f(std::sqrt(double(dh)))});
  if (causal || window) {
    // The mask is built for the run-time sequence length, so a symbolic `seq` stays symbolic.
    std::string T = op("Gather", {op("Shape", {y3}), scalar_i(1)}, {attr_i("axis", 0)});
    std::string pos = op("Range", {scalar_i(0), T, scalar_i(1)});
    std::string dist = op("Sub", {op("Unsqueeze", {pos, ints({1})}), op("Unsqueeze", {pos, ints({0})})});  // query - key
    std::string future = causal ? op("Less", {dist, scalar_i(0)}) : "";
    std::string far = window ? op("GreaterOrEqual", {op("Abs", {dist}), scalar_i(window)}) : "";
    std::string blocked = causal && window ? op("Or", {future, far}) : causal ? future : far;
    scores = op("Where", {blocked, scalar_f(-INFINITY), scores});
  }
  std::string ctx = transpose(op("MatMul", {op("Softmax", {scores}, {attr_i("axis", -1)}), v}), {0, 2, 1, 3});
  ctx = op("Reshape", {ctx, ints({0, 0, d})});
  std::string o = linear(ctx, 3, param(s.p("out_proj.weight")), s.B("bias") ? param(s.p("out_proj.bias")) : "");
  if (rank != 3) {
    std::vector<Extent> back;
    for (int64_t j = 0; j < f; ++j) back.push_back(Extent::of(j));
    back.push_back(Extent::fixed(d));
    o = reshape(o, y, yt, back);
  }
  return move(o, rank, f - 1, sa);
}

// PyTorch stacks GRU gates as (r, z, n); ONNX as (z, r, h).
at::Tensor zrh(const at::Tensor& w, int64_t h) { return torch::cat({w.narrow(0, h, h), w.narrow(0, 0, h), w.narrow(0, 2 * h, h)}); }

// torch.gru (batch first, zero initial state) on [B, T, features] after the sequence axis is moved
// next to the features and the other axes folded into B. ONNX's GRU reads [T, B, features] (its
// batch-first layout is not implemented by common runtimes) and has one layer per node.
std::string Onnx::gru(const Site& s) {
  int64_t rank = s.rank(), sa = s.dim(s.S("seq_axis"), -2), f = rank - 1, hid = s.I("hidden"), layers = s.I("layers");
  std::vector<int64_t> perm = movedim(rank, sa, f - 1);
  TensorType yt = permuted(s.t, perm);
  std::string y = transpose(s.in[0], perm);
  std::string y3 = rank == 3 ? y : reshape(y, y, yt, {Extent::fixed(-1), Extent::of(f - 1), Extent::fixed(s.size(f))});
  std::string seq = transpose(y3, {1, 0, 2});
  for (int64_t l = 0; l < layers; ++l) {
    std::string L = std::to_string(l);
    std::vector<at::Tensor> w{trained(s.p("weight_ih_l" + L)), trained(s.p("weight_hh_l" + L))};
    if (s.B("bias")) w.push_back(trained(s.p("bias_ih_l" + L))), w.push_back(trained(s.p("bias_hh_l" + L)));
    if (!error.empty()) return {};
    // Initializers [directions = 1, 3 * hidden, ...]; the two biases are concatenated (Wb, Rb).
    std::vector<std::string> args{seq, derived(s.p("W_l" + L), zrh(w[0], hid).unsqueeze(0)), derived(s.p("R_l" + L), zrh(w[1], hid).unsqueeze(0))};
    if (s.B("bias")) args.push_back(derived(s.p("B_l" + L), torch::cat({zrh(w[2], hid), zrh(w[3], hid)}).unsqueeze(0)));
    // linear_before_reset: PyTorch applies the reset gate after the recurrent product and its bias.
    std::string out = op("GRU", args, {attr_i("hidden_size", hid), attr_i("linear_before_reset", 1)});
    seq = op("Squeeze", {out, ints({1})});  // [T, directions = 1, B, hidden] -> [T, B, hidden]
  }
  std::string o = transpose(seq, {1, 0, 2});
  if (rank != 3) {
    std::vector<Extent> back;
    for (int64_t j = 0; j < f; ++j) back.push_back(Extent::of(j));
    back.push_back(Extent::fixed(hid));
    o = reshape(o, y, yt, back);
  }
  return move(o, rank, f - 1, sa);
}

std::string Onnx::model(const circuit::Circuit& c, const std::vector<Proto>& inputs,
                        const std::vector<std::pair<std::string, TensorType>>& outputs) {
  Proto g;
  for (auto& n : nodes_) {
    Proto p;
    for (auto& i : n.in) p.bytes(field::node_input, i);
    for (auto& o : n.out) p.bytes(field::node_output, o);
    p.bytes(field::node_name, n.out[0]).bytes(field::node_op_type, n.type);
    for (auto& a : n.attrs) p.msg(field::node_attribute, a);
    g.msg(field::graph_node, p);
  }
  g.bytes(field::graph_name, c.name.empty() ? "circuit" : c.name);
  for (auto& t : inits_) g.msg(field::graph_initializer, t);
  if (!c.doc.empty()) g.bytes(field::graph_doc, c.doc);
  for (auto& i : inputs) g.msg(field::graph_input, i);
  std::set<std::string> declared;
  for (auto& [name, t] : outputs) g.msg(field::graph_output, value_info(name, t)), declared.insert(name);
  for (auto& [name, t] : value_info_)
    if (!declared.count(name)) g.msg(field::graph_value_info, value_info(name, t));

  Proto m;
  m.varint(field::model_ir_version, kIrVersion);
  m.msg(field::model_opset, Proto().bytes(field::opset_domain, "").varint(field::opset_version, kOpset));
  m.bytes(field::model_producer, "circuit-studio");
  if (!c.doc.empty()) m.bytes(field::model_doc, c.doc);
  m.msg(field::model_graph, g);
  // The sizes the circuit assumes for its symbols, for tools that need concrete inputs.
  std::map<std::string, int64_t> sorted(c.symbols.begin(), c.symbols.end());
  std::string symbols;
  for (auto& [k, v] : sorted) symbols += (symbols.empty() ? "" : ",") + k + "=" + std::to_string(v);
  m.msg(field::model_metadata, Proto().bytes(field::entry_key, "circuit.symbols").bytes(field::entry_value, symbols));
  return m.str();
}

}  // namespace

Status export_onnx(Model& m, const std::string& path) {
  const circuit::Circuit& c = m.circuit();
  const circuit::GraphAnalysis& a = m.analysis();
  std::string bytes;
  try {
    torch::NoGradGuard ng;
    Onnx o(m.module());
    std::vector<std::string> ins;
    std::vector<Proto> inputs;
    for (int k : a.inputs) {
      const std::string& name = c.graph.nodes[size_t(k)].name;
      ins.push_back(o.fresh(name));
      inputs.push_back(value_info(ins.back(), a.nodes[size_t(k)].outputs[0]));
    }
    auto outs = o.graph(c.graph, a, ins, "", "");
    if (!o.error.empty()) return Status::fail(path + ": " + o.error);
    // ONNX names each graph output once and apart from the inputs; a repeat gets an Identity.
    std::set<std::string> taken(ins.begin(), ins.end());
    std::vector<std::pair<std::string, TensorType>> outputs;
    for (size_t k = 0; k < outs.size(); ++k) {
      std::string v = outs[k];
      if (!taken.insert(v).second) taken.insert(v = o.node("Identity", {v}, {circuit::to_string(c.graph.outputs[k])})[0]);
      outputs.push_back({v, a.outputs[k]});
    }
    bytes = o.model(c, inputs, outputs);
  } catch (const std::exception& e) {
    auto* ce = dynamic_cast<const c10::Error*>(&e);
    return Status::fail(path + ": ONNX export failed: " + (ce ? ce->what_without_backtrace() : e.what()));
  }
  return circuit::write_file_atomic(path, bytes);
}

}  // namespace engine
