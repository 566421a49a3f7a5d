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

#include "base/file.h"
#include "engine/detail/onnx_writer.h"

#include <torch/torch.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <string_view>

#include "circuit/circuit_file.h"
#include "circuit/op.h"

namespace engine::detail {

using base::Status;
using circuit::TensorType;

namespace {

static_assert(std::endian::native == std::endian::little, "raw_data is copied from host memory, which must be little-endian");

constexpr int64_t kIrVersion = 8;
constexpr int64_t kOpset = 17;

// ---- protobuf wire format ---------------------------------------------------------------------

// Field numbers of onnx.proto (checked against python3-onnx 1.12's copy).
namespace field {
constexpr int model_ir_version = 1, model_producer = 2, model_doc = 6, model_graph = 7, model_opset = 8, model_metadata = 14;
constexpr int opset_domain = 1, opset_version = 2;
constexpr int graph_node = 1, graph_name = 2, graph_initializer = 5, graph_doc = 10, graph_input = 11, graph_output = 12,
              graph_value_info = 13;
constexpr int node_input = 1, node_output = 2, node_name = 3, node_op_type = 4, node_attribute = 5;
constexpr int attr_name = 1, attr_f = 2, attr_i = 3, attr_s = 4, attr_ints = 8, attr_type = 20;
constexpr int tensor_dims = 1, tensor_data_type = 2, tensor_name = 8, tensor_raw_data = 9;
constexpr int value_name = 1, value_type = 2, value_doc = 3;
constexpr int type_tensor = 1, tensor_elem_type = 1, tensor_shape = 2, shape_dim = 1, dim_value = 1, dim_param = 2;
constexpr int entry_key = 1, entry_value = 2;
}  // namespace field

constexpr int64_t kFloat = 1, kInt64 = 7;                      // TensorProto.DataType
constexpr int64_t kAttrFloat = 1, kAttrInt = 2, kAttrString = 3, kAttrInts = 7;  // AttributeProto.AttributeType

}  // namespace

Proto attr_i(const std::string& name, int64_t v) {
  return std::move(Proto().bytes(field::attr_name, name).varint(field::attr_type, kAttrInt).varint(field::attr_i, v));
}
Proto attr_f(const std::string& name, double v) {
  return std::move(Proto().bytes(field::attr_name, name).varint(field::attr_type, kAttrFloat).f32(field::attr_f, float(v)));
}
Proto attr_s(const std::string& name, const std::string& v) {
  return std::move(Proto().bytes(field::attr_name, name).varint(field::attr_type, kAttrString).bytes(field::attr_s, v));
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

std::vector<std::string> Onnx::graph(const circuit::Graph& g, const circuit::GraphAnalysis& a, const std::vector<std::string>& inputs,
                                     std::string path, std::string prefix) {
  std::string here = here_, outer_prefix = prefix_;
  circuit::Bindings none;
  auto outs = circuit::walk<std::string>(g, a, inputs, [&](int i, const std::vector<std::string>& in, const std::vector<TensorType>& types) {
    const circuit::Node& n = g.nodes[size_t(i)];
    const circuit::NodeInfo& info = a.nodes[size_t(i)];
    // After an error, keep the walk going with placeholders; the error is reported once.
    if (error.empty()) {
      here_ = path + n.name, prefix_ = prefix + n.name + ".";
      Site s(n, *circuit::find_op(n.op), types, none, info, here_);
      const Lowering* l = find_lowering(n.op);
      auto v = !l ? refuse(s, "the engine has no lowering for it") : l->onnx ? l->onnx(*this, s, in) : refuse(s, l->onnx_refusal);
      if (error.empty()) return v;
    }
    return std::vector<std::string>(info.outputs.size());
  });
  here_ = here, prefix_ = outer_prefix;
  return error.empty() ? outs : std::vector<std::string>{};
}

std::vector<std::string> Onnx::result(const Site& s, const std::string& y) {
  if (!error.empty()) return {y};
  std::string name;
  if (!nodes_.empty() && nodes_.back().out == std::vector<std::string>{y} && y.rfind(here_ + "/", 0) == 0) nodes_.back().out[0] = name = fresh(here_);
  else name = node("Identity", {y}, {here_})[0];
  value_info_.push_back({name, s.out()[0]});
  return {name};
}

std::vector<std::string> Onnx::refuse(const Site& s, std::string_view reason) {
  if (error.empty()) error = s.where() + ": op `" + s.node.op + "` cannot be exported to ONNX: " + std::string(reason);
  return std::vector<std::string>(s.out().size());
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

}  // namespace engine::detail

namespace engine {

using base::Status;
using circuit::TensorType;
using detail::Onnx;
using detail::Proto;

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
      inputs.push_back(detail::value_info(ins.back(), a.nodes[size_t(k)].outputs[0]));
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
  return base::write_file_atomic(path, bytes);
}

}  // namespace engine
