// The op registry: each op declares its attribute schema, shape rule, cost rule and drawing
// hints. The engine, the diagram layout and the GUI all read the same declarations.
//
// Cost conventions (docs/cost.md): a multiply-add counts as 2 FLOPs; a bias add, an elementwise
// activation, a residual add or a product counts 1 FLOP per output element; normalisations,
// softmax and pooling count the per-element work listed with each op. Costs are per example:
// the symbol `batch` is bound to 1, other symbols take the circuit's `symbols` values.
#pragma once
#include <algorithm>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "attr.h"
#include "axis.h"
#include "graph.h"
#include "base_names.h"
#include "einsum.h"

namespace circuit {

/// What one sequence keeps from step to step when the model generates: a cache that grows with
/// the context (attention's keys and values, latent attention's latent and rotary key), capped
/// where a sliding window bounds it, and a state of fixed size (recurrent mixers, causal
/// convolutions). In elements: bytes are elements times the size of the dtype the cache is kept in.
struct InferenceMemory {
  int64_t per_token = 0;               // per token of context, however long
  std::map<int64_t, int64_t> windowed;  // window -> per token, for at most `window` tokens
  int64_t state = 0;
  /// Elements held at `context` tokens.
  int64_t at(int64_t context) const {
    int64_t r = per_token * context + state;
    for (auto& [w, e] : windowed) r += e * std::min(w, context);
    return r;
  }
  /// Per token of context while every window is still filling (the figure model cards give).
  int64_t per_token_unbounded() const {
    int64_t r = per_token;
    for (auto& [w, e] : windowed) r += e;
    return r;
  }
  bool empty() const { return !per_token && !state && windowed.empty(); }
  InferenceMemory& add(const InferenceMemory& o, int64_t sign) {
    per_token += sign * o.per_token, state += sign * o.state;
    for (auto& [w, e] : o.windowed)
      if (!(windowed[w] += sign * e)) windowed.erase(w);
    return *this;
  }
  bool operator==(const InferenceMemory&) const = default;
};

/// Parameters, FLOPs and activation memory of a node or a whole graph, per example.
struct Cost {
  int64_t params = 0;
  int64_t active_params = 0;  // parameters touched by one token (MoE: k of E experts + shared + router)
  int64_t flops = 0;
  int64_t activation_bytes = 0;  // outputs kept for the backward pass
  InferenceMemory inference;     // per example (sequence) at generation
  Cost& operator+=(const Cost& o) {
    params += o.params, active_params += o.active_params, flops += o.flops, activation_bytes += o.activation_bytes;
    inference.add(o.inference, 1);
    return *this;
  }
  Cost& operator-=(const Cost& o) {
    params -= o.params, active_params -= o.active_params, flops -= o.flops, activation_bytes -= o.activation_bytes;
    inference.add(o.inference, -1);
    return *this;
  }
  bool operator==(const Cost&) const = default;
};

struct OpDef;
struct GraphAnalysis;

/// One part of an op drawn open to its parts (a sequence mixer in the diagram): a box, the parts
/// that feed it and the tensor it makes. `params` is the part's share of the op's parameters, so
/// the parts of an op add up to its cost (tests/circuit hold them to it).
struct OpPart {
  std::string name;             // unique within the op
  std::string title, what;      // the box's two lines
  std::vector<int> from;        // earlier parts, by index; -1: the op's input
  TensorType out;
  int64_t params = 0;           // drawn bold when > 0
  std::vector<std::string> consumes;  // axes that enter the box although they pass unchanged (the sequence, when it mixes positions)
};

/// What a rule sees: the node, its op, its input types, symbol values and, for ops with a
/// body, the body's analysis. Attribute getters fall back to the schema default; attributes are
/// validated against the schema before any rule runs, so the getters cannot fail on type.
struct OpCall {
  const Node& node;
  const OpDef& def;
  std::span<const TensorType> in;
  const Bindings& bindings;
  const GraphAnalysis* body = nullptr;
  int64_t moe_layers = -1;  // MoE nodes in the whole circuit (-1: unknown); recurrent routers need 2+

  const AttrValue& attr(std::string_view name) const;
  int64_t i(std::string_view name) const { return std::get<int64_t>(attr(name)); }
  double f(std::string_view name) const;
  bool b(std::string_view name) const { return std::get<bool>(attr(name)); }
  const std::string& s(std::string_view name) const { return std::get<std::string>(attr(name)); }
  const std::vector<int64_t>& ints(std::string_view name) const { return std::get<std::vector<int64_t>>(attr(name)); }
  const std::vector<std::string>& strs(std::string_view name) const {
    return std::get<std::vector<std::string>>(attr(name));
  }
  int64_t value(const Size& s) const { return resolve(s, bindings); }
};

using Shapes = std::vector<TensorType>;

/// What kind of op: the palette's groups, and what the diagram and the engine ask of an op
/// instead of testing its name (shape ops draw as junctions; exit heads leave the main path).
enum class OpCategory { io, linear, combine, conv, norm, activation, shape, sequence, moe, block, exit };
/// "io", "linear", ... (the palette's group names and `circuit ops`).
const char* to_string(OpCategory c);

/// A function applied to each element on its own: what an activation op computes, named so that
/// the engine's fused paths (grouped MoE experts) apply the op's own function, not a copy of it.
enum class Elementwise { none, relu, gelu, silu };
/// "relu", "gelu", "silu" ("" for none).
const char* to_string(Elementwise f);

/// An op: everything the IR knows about one kind of node.
struct OpDef {
  std::string name;
  OpCategory category = OpCategory::linear;
  std::string doc;
  std::vector<AttrSpec> attrs;
  int min_inputs = 1;
  int max_inputs = 1;             // -1: any number
  bool float_inputs = true;       // inputs must be f32
  bool learned = false;           // drawn bold
  bool has_body = false;          // the node owns a sub-graph (block, MoE expert)
  /// Output types, or an error. Messages about a port start with "input N: ".
  std::function<Result<Shapes>(const OpCall&)> shape;
  /// Parameters, active parameters and FLOPs (activation bytes are added by the analysis).
  std::function<Cost(const OpCall&, const Shapes& out)> cost;
  /// Drawing hint: per input, the axes the op acts on; the other axes are mapped over and pass
  /// by the box. Null: elementwise, acts on no axis.
  std::function<std::vector<std::vector<std::string>>(const OpCall&)> consumes;
  /// Drawing: the op opened to its parts, the last making the output; null for ops drawn only as
  /// a box. Called only on a node whose shape rule succeeded.
  std::function<std::vector<OpPart>(const OpCall&)> parts;
  /// Drawing: the box's second line, the op and its key attributes ("conv 3×3 /2", "attention ·
  /// 4 heads · causal"); null: the op's name. Called only on a node whose shape rule succeeded.
  std::function<std::string(const OpCall&)> summary;
  /// Drawing: the op as a sum of products over named axes (einsum's equation), drawn as wires
  /// meeting instead of a box; null for ops drawn as boxes. Called only after a successful shape rule.
  std::function<base::Result<Einsum>(const OpCall&)> contraction;
  /// The function an elementwise op applies (activations); none for every other op.
  Elementwise elementwise = Elementwise::none;

  const AttrSpec* find_attr(std::string_view n) const;
};

/// The op named `name`, or null.
const OpDef* find_op(std::string_view name);
/// Every registered op, in registration order (stable for palettes and docs).
const std::vector<const OpDef*>& all_ops();

// Helpers shared by the op definitions.
Error input_error(int port, const std::string& msg);
/// "input P: expected axis `a`=3, got `b`=4" when `got` differs from `want`.
Result<bool> expect_axis(int port, const Axis& want, const Axis& got);
/// Same, for a whole type: reports the first axis that differs.
Result<bool> expect_type(int port, const TensorType& want, const TensorType& got);

}  // namespace circuit
