// The lowering table: each op's engine side as one record, in ops_<family>.cpp (mirroring
// core/circuit/ops_*.cpp). A record says how a node of the op compiles to modules and a forward
// step, how it is written as TorchScript, and how as ONNX, or why it cannot be (an explicit
// refusal). model.cpp, export.cpp and onnx.cpp only walk graphs and look records up; they never
// test op names. tests/engine/test_lowering.cpp fails for any registered op without all three.
//
// Private to the engine: includes LibTorch.
#pragma once
#include "engine/detail/private.h"
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "circuit/analysis.h"
#include "circuit/op.h"
#include "base/result.h"
#include "engine/detail/moe.h"

namespace engine::detail {

using Tensors = std::vector<at::Tensor>;

/// One node as every lowering sees it: the IR's OpCall (attribute getters with schema defaults,
/// input types), its analysed outputs, and its path for messages ("block/ffn").
struct Site : circuit::OpCall {
  const circuit::NodeInfo& info;
  std::string path;

  Site(const circuit::Node& n, const circuit::OpDef& d, std::span<const circuit::TensorType> types, const circuit::Bindings& b,
       const circuit::NodeInfo& i, std::string p)
      : circuit::OpCall{n, d, types, b, i.body.get()}, info(i), path(std::move(p)) {}

  const std::vector<circuit::TensorType>& out() const { return info.outputs; }
  /// Input `p`'s type (for ops without inputs, the output's).
  const circuit::TensorType& t(size_t p = 0) const { return in.size() > p ? in[p] : info.outputs[0]; }
  int64_t rank(size_t p = 0) const { return int64_t(t(p).rank()); }
  /// Dimension index of axis `name` of input `p`; without a name, `fallback` (negative: from the end).
  int64_t dim(const std::string& name, int fallback, size_t p = 0) const {
    if (!name.empty()) return t(p).find(name);
    return fallback < 0 ? rank(p) + fallback : fallback;
  }
  /// Dimension indices in input 0 of the axes a string-list attribute names ("axes", "order").
  std::vector<int64_t> dims_of(std::string_view attr) const {
    std::vector<int64_t> d;
    for (auto& a : strs(attr)) d.push_back(t().find(a));
    return d;
  }
  /// Concrete size of dimension `d` of input `p`.
  int64_t size(int64_t d, size_t p = 0) const { return t(p).axes[size_t(d)].size.n; }
  /// "node `block/ffn`", the start of every message about this node.
  std::string where() const { return "node `" + path + "`"; }
};

/// A pair attribute (kernel, stride...): empty -> (dflt, dflt), one value -> both, else the first two.
std::pair<int64_t, int64_t> pair_of(const std::vector<int64_t>& v, int64_t dflt);

// ---- compiling to LibTorch ----------------------------------------------------------------------

/// Side outputs of one forward pass, and state that flows between MoE layers.
struct Ctx {
  Tensors* aux = nullptr;
  MoeFlow moe;
};

/// A compiled node: its input values in, its output values out.
using Fn = std::function<Tensors(const Tensors&, Ctx&)>;

/// A compiled graph: registered parameters plus the steps of its forward, in analysis order.
class GraphModule : public torch::nn::Module {
 public:
  struct Step {
    int node;
    std::vector<std::pair<int, int>> src;  // (node index, output port)
    Fn fn;
  };
  std::vector<Step> steps;
  std::vector<int> inputs;                   // input node indices, in port order
  std::vector<std::pair<int, int>> outputs;  // graph outputs
  std::vector<int> last_use;                 // node index -> last step that reads it
  size_t node_count = 0;

  Tensors forward(const Tensors& in, Ctx& ctx);
};

/// What a compile lowering gets besides its node: the graph module that owns the node's
/// parameters, and a way to compile the node's body (blocks, MoE experts).
struct Compiler {
  GraphModule& g;
  const circuit::Bindings& bindings;
  std::string prefix;  // path of the graph being compiled: "" or "block/"

  /// Registers `m` as the node's module, under the node's name.
  template <class M>
  std::shared_ptr<M> add(const Site& s, std::shared_ptr<M> m) {
    return g.register_module(s.node.name, std::move(m));
  }
  template <class H>
  auto add(const Site& s, H holder) {
    return g.register_module(s.node.name, std::move(holder));
  }
  /// A fresh copy of the node's body, compiled (every call makes new parameters).
  base::Result<std::shared_ptr<GraphModule>> body(const Site& s) const;
};

/// Compiles graph `g` (analysed as `a`); node paths start with `prefix`.
base::Result<std::shared_ptr<GraphModule>> compile_graph(const circuit::Graph& g, const circuit::GraphAnalysis& a,
                                                            const circuit::Bindings& b, const std::string& prefix);

/// A step of one input and one output.
Fn unary(std::function<at::Tensor(const at::Tensor&)> f);
/// Applies `f` with dimension `d` moved last, then moves it back: ops that act on the last axis
/// can then act on any named axis.
at::Tensor on_last(const at::Tensor& x, int64_t d, const std::function<at::Tensor(const at::Tensor&)>& f);

// ---- TorchScript ----------------------------------------------------------------------------------

/// Writes TorchScript source whose every line mirrors the ATen call the compiled forward makes.
/// Trained tensors are registered as `self.<path with . -> __>`.
class Script {
 public:
  std::string error;  // the first refusal; the walk goes on with placeholders, reporting it once
  int ind = 1;        // indentation of the node being written
  std::string P;      // parameter prefix of the node being written: "block__ffn__"
  const torch::nn::Module* root = nullptr;  // the compiled model: forms that depend on it (MoE routers)

  /// The compiled module of the node being written, as an M, or null.
  template <class M>
  const M* module() const {
    if (!root || P.size() < 2) return nullptr;
    std::string path = P.substr(0, P.size() - 2);  // "block__moe__" -> "block.moe"
    for (size_t k; (k = path.find("__")) != std::string::npos;) path.replace(k, 2, ".");
    for (const auto& item : root->named_modules("", false))
      if (item.key() == path) return dynamic_cast<const M*>(item.value().get());
    return nullptr;
  }

  void line(const std::string& s, int extra = 0);
  /// A variable name not used yet.
  std::string fresh(const std::string& base) { return base + "_" + std::to_string(counter_++); }
  /// A trained tensor of the node being written.
  std::string self(const std::string& name) const { return "self." + P + name; }
  /// Writes graph `g`; `inputs` are the variables bound to its inputs; `prefix` is the parameter
  /// prefix of its nodes. Returns the variables of its outputs (empty after an error).
  /// (`prefix` is taken by value: callers pass P, which the walk changes.)
  std::vector<std::string> graph(const circuit::Graph& g, const circuit::GraphAnalysis& a, const std::vector<std::string>& inputs,
                                 std::string prefix, int indent);
  std::string source() const { return out_.str(); }
  /// Adds a method to the exported module, once however many nodes call it (shared code such as
  /// the chunked recurrence, written at column 0 as `def name(self, ...)`).
  void method(const std::string& source) {
    for (auto& m : methods_)
      if (m == source) return;
    methods_.push_back(source);
  }
  const std::vector<std::string>& methods() const { return methods_; }

 private:
  std::ostringstream out_;
  std::vector<std::string> methods_;
  int counter_ = 0;
};

/// A float as TorchScript reads it back exactly ("1.0", "1.0000000000000001e-05").
std::string ts_num(double v);
/// "[1, 2, 3]".
std::string ts_list(const std::vector<int64_t>& v);
/// `f(arg)` made to act on axis `d` of a rank-`rank` value (torch.movedim around it).
std::string ts_on_last(int64_t rank, int64_t d, const std::string& arg, const std::function<std::string(const std::string&)>& f);
/// `x` with dimension `from` moved to `to` (x itself when they are equal).
std::string ts_movedim(const std::string& x, int64_t from, int64_t to);

// ---- ONNX -----------------------------------------------------------------------------------------

class Onnx;

// ---- the records ----------------------------------------------------------------------------------

using CompileFn = base::Result<Fn> (*)(Compiler&, const Site&);
using ScriptFn = std::vector<std::string> (*)(Script&, const Site&, const std::vector<std::string>& in);
/// Returns the values of the node's outputs; a one-output op returns `o.result(s, y)`.
using OnnxFn = std::vector<std::string> (*)(Onnx&, const Site&, const std::vector<std::string>& in);

/// One op's engine side. Where a form does not exist, its function is null and the refusal says
/// why (the message users get, after "node `x`: op `y` cannot be exported to ...: ").
struct Lowering {
  std::string_view op;
  bool graph_input = false;  // `input`: the walks bind it to a graph input; it has nothing to lower
  CompileFn compile = nullptr;
  ScriptFn torchscript = nullptr;
  OnnxFn onnx = nullptr;
  std::string_view torchscript_refusal = {};
  std::string_view onnx_refusal = {};
};

/// The record of `op`, or null.
const Lowering* find_lowering(std::string_view op);

/// The record of an op whose three forms follow the naming convention compile_<op>,
/// script_<op> and onnx_<op>.
#define CIRCUIT_LOWERING(op) Lowering{#op, false, compile_##op, script_##op, onnx_##op}

// Each family adds its records, in ops_<family>.cpp.
using AddLowerings = void(std::vector<Lowering>& table);
AddLowerings add_io_lowerings, add_dense_lowerings, add_einsum_lowerings, add_conv_lowerings, add_shape_lowerings, add_sequence_lowerings, add_mixer_lowerings,
    add_moe_lowerings;

/// The function of an elementwise op (OpDef::elementwise) on a tensor: what the activation ops
/// compute, and what fused paths (the MoE experts) apply in their place.
at::Tensor apply_elementwise(circuit::Elementwise f, const at::Tensor& x);

}  // namespace engine::detail
