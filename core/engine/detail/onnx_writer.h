// The ONNX writer the lowering records use (see lowering.h): protobuf's wire format by hand,
// value naming, constants, parameters as initializers, and the composite steps several ops share.
// Private to the engine: includes LibTorch.
#pragma once
#include "engine/detail/private.h"
#include <torch/torch.h>

#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "circuit/analysis.h"
#include "engine/detail/lowering.h"

namespace engine::detail {

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

/// Attributes of an ONNX node.
Proto attr_i(const std::string& name, int64_t v);
Proto attr_f(const std::string& name, double v);
Proto attr_s(const std::string& name, const std::string& v);
Proto attr_ints(const std::string& name, const std::vector<int64_t>& v);
/// A tensor as an initializer (float or int64, in host byte order: little-endian).
Proto tensor_proto(const std::string& name, const at::Tensor& t);
/// A value's type: symbolic sizes become dim_param ("batch", "seq"); the axis names go into the doc string.
Proto value_info(const std::string& name, const circuit::TensorType& t);

/// The permutation torch.movedim(x, from, to) applies.
std::vector<int64_t> movedim(int64_t rank, int64_t from, int64_t to);
/// `t` with its axes permuted by `perm`.
circuit::TensorType permuted(const circuit::TensorType& t, const std::vector<int64_t>& perm);

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

struct NodeDef {
  std::string type;
  std::vector<std::string> in, out;
  std::vector<Proto> attrs;
};

/// One ONNX graph being written from a compiled model. Values are named after the circuit node
/// that computes them ("attn/MatMul"); trained tensors become initializers under the module's names.
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

  // x / sqrt(mean(x², last axis) + eps) * weight (no weight: ""): rms_norm and attention's q/k norm.
  std::string rms(const std::string& x, const std::string& weight, double eps) {
    std::string ms = op("ReduceMean", {op("Mul", {x, x})}, {attr_ints("axes", {-1}), attr_i("keepdims", 1)});
    std::string y = op("Mul", {x, op("Reciprocal", {op("Sqrt", {op("Add", {ms, scalar_f(eps)})})})});
    return weight.empty() ? y : op("Mul", {y, weight});
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
  std::string reshape(const std::string& x, const std::string& src, const circuit::TensorType& st, std::vector<Extent> target) {
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

  /// Emits graph `g`; `inputs` are the values bound to its input nodes; `path` prefixes node names
  /// ("ffn/") and `prefix` parameter names ("ffn."). Returns the values of the graph's outputs.
  /// (By value: callers pass here() and prefix(), which the walk changes.)
  std::vector<std::string> graph(const circuit::Graph& g, const circuit::GraphAnalysis& a, const std::vector<std::string>& inputs,
                                 std::string path, std::string prefix);
  /// The trained tensor `name` of the node being emitted ("weight" -> "ffn.up.weight"), stored once.
  std::string weight(const std::string& name) { return param(prefix_ + name); }
  /// Its full key, for tensors derived from it.
  std::string key(const std::string& name) const { return prefix_ + name; }
  /// Path of the node being emitted ("ffn/up"), and its parameter prefix ("ffn.up.").
  const std::string& here() const { return here_; }
  const std::string& prefix() const { return prefix_; }
  /// Ends a one-output node: the circuit node leaves one value named after it (the last ONNX
  /// node's output is renamed; a node that computed nothing new gets an Identity).
  std::vector<std::string> result(const Site& s, const std::string& y);
  /// Declares values of a node with several outputs, in order.
  void declare(const std::string& value, const circuit::TensorType& t) { value_info_.push_back({value, t}); }
  /// Records the first refusal: "node `x`: op `y` cannot be exported to ONNX: reason".
  std::vector<std::string> refuse(const Site& s, std::string_view reason);

  std::string model(const circuit::Circuit& c, const std::vector<Proto>& inputs,
                    const std::vector<std::pair<std::string, circuit::TensorType>>& outputs);

 private:
  std::map<std::string, at::Tensor> tensors_;
  std::set<std::string> names_, stored_;
  std::map<std::string, std::string> constants_;
  std::vector<NodeDef> nodes_;
  std::vector<Proto> inits_;
  std::vector<std::pair<std::string, circuit::TensorType>> value_info_;
  std::string here_;    // path of the circuit node being emitted
  std::string prefix_;  // its parameter prefix
};

// The sequence axis moved next to the features and every other axis folded into one batch:
// [B, T, features], the layout the sequence ops compute in; unfold() undoes it.
/// Used by the sequence ops (ops_sequence.cpp, ops_mixers.cpp).
struct Folded {
  int64_t rank, sa, f;
  std::vector<int64_t> perm;
  circuit::TensorType yt;  // the input after the move
  std::string y, y3;       // the input after the move, and folded to rank 3
  Folded(Onnx& o, const Site& s, const std::string& in)
      : rank(s.rank()), sa(s.dim(s.s("seq_axis"), -2)), f(rank - 1), perm(movedim(rank, sa, f - 1)), yt(permuted(s.t(), perm)) {
    y = o.transpose(in, perm);
    y3 = rank == 3 ? y : o.reshape(y, y, yt, {Extent::fixed(-1), Extent::of(f - 1), Extent::fixed(s.size(f))});
  }
  // [B, T, width] back to the input's axes, with `width` features.
  std::string unfold(Onnx& o, std::string r, int64_t width) const {
    if (rank != 3) {
      std::vector<Extent> back;
      for (int64_t j = 0; j < f; ++j) back.push_back(Extent::of(j));
      back.push_back(Extent::fixed(width));
      r = o.reshape(r, y, yt, back);
    }
    return o.move(r, rank, f - 1, sa);
  }
};

/// q, k, v from one packed projection of [B, T, d] (weights `w`, bias `b` or ""): q
/// [B, T, heads, dh], k and v [B, T, kv_heads, dh], named after the node ("attn/q"). Attention and
/// linear attention.
inline std::vector<std::string> onnx_qkv_heads(Onnx& o, const std::string& y3, const std::string& w, const std::string& b, int64_t heads,
                                               int64_t kv_heads, int64_t dh) {
  auto qkv = o.node("Split", {o.linear(y3, 3, w, b), o.ints({heads * dh, kv_heads * dh, kv_heads * dh})},
                    {o.here() + "/q", o.here() + "/k", o.here() + "/v"}, {attr_i("axis", 2)});
  for (size_t j = 0; j < 3; ++j) qkv[j] = o.op("Reshape", {qkv[j], o.ints({0, 0, j ? kv_heads : heads, dh})});
  return qkv;
}

}  // namespace engine::detail
