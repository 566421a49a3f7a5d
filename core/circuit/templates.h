// Block templates: parameterised sub-circuits (FFN, GLU-FFN) returned as ordinary block nodes,
// so a template's result is edited, saved and drawn like any other block.
#pragma once
#include <string>

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

/// The `input` node that declares type `t`.
Node input_node(const std::string& name, const TensorType& t);

}  // namespace circuit
