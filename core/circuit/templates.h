// Block templates: parameterised sub-circuits (FFN, GLU-FFN) returned as ordinary block nodes,
// so a template's result is edited, saved and drawn like any other block.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "graph.h"

namespace circuit {

/// linear(hidden) -> activation -> linear(back to the input's feature size), over the last axis.
Node ffn_block(const std::string& name, const TensorType& in, int64_t hidden, const std::string& activation = "gelu");
/// GLU feed-forward: down(act(gate(x)) * up(x)), as in SwiGLU / GeGLU.
Node glu_ffn_block(const std::string& name, const TensorType& in, int64_t hidden, const std::string& activation = "silu");

/// The token mixers a MetaFormer block's slot takes.
inline constexpr const char* kMetaformerMixers[] = {"attention", "pooling", "conv", "identity", "gated_delta", "mamba2"};
/// MetaFormer block over [..., seq, features]: x + mixer(norm(x)), then + FFN(norm(.)) with a
/// 4x GELU FFN. `mixer` is one of kMetaformerMixers (attention: causal; pooling: causal average
/// pool of 3, PoolFormer's without its "- x"; conv: causal depthwise kernel 4; identity: no mixing,
/// IdentityFormer's). Errors name the mixer when it is not one of them.
Result<Node> metaformer_block(const std::string& name, const TensorType& in, const std::string& mixer);

/// What a palette adds: a node of op `op`, or a template (`template:ffn`, `template:glu_ffn`,
/// `template:metaformer:<mixer>`), named uniquely in `g` and sized from `in`, the output it will
/// follow (null when it follows nothing; templates then refuse, saying so). Required integer sizes
/// get a value a user starts from (the input's last axis, 64 without one; `classes` 10), so the
/// node checks at once. Not wired: the caller inserts it (insert_after) or adds it alone.
Result<Node> palette_node(const Graph& g, const std::string& op, const TensorType* in, const Bindings& b);

/// The inputs of `to` once `from` is wired into it: the first free port, else a new port when the
/// op takes more, else port 0 replaced. Null when `from` is connected to it already.
std::optional<std::vector<PortRef>> wire_into(const Node& to, const PortRef& from);

/// The `input` node that declares type `t`.
Node input_node(const std::string& name, const TensorType& t);

/// What File ▸ New starts from: `untitled`, one input x [batch, pixels:784] (a flattened 28x28
/// image, what the bundled image data sets give) that is also the output, so it checks at once.
Circuit starter_circuit();

}  // namespace circuit
