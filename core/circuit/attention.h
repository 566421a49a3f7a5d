// The layout of an `attention` node, read once from its attributes, so that the IR's shape rules,
// costs and parts and the engine's three forms (LibTorch, TorchScript, ONNX) agree on it.
#pragma once
#include <cstdint>

#include "op.h"

namespace circuit {

/// Heads, projections and position encoding of one attention node over `d` features. With the
/// new attributes unset it is nn.MultiheadAttention's layout (heads × d/heads, packed q k v and
/// an output projection, biases on all), so files and checkpoints written before them load.
struct AttentionLayout {
  int64_t d = 0;
  int64_t heads = 0, kv_heads = 0, head_dim = 0;  // kv_heads divides heads (grouped-query)
  int64_t rope_dims = 0;                          // rotated dimensions per head; 0: no rotary positions
  double rope_theta = 0;
  bool rope_interleaved = false;  // pairs (0 1)(2 3)… as in the RoFormer paper; else halves (GPT-NeoX, HF Llama)
  bool qk_norm = false;           // RMS norm of q and k per head, with a learned scale each (Qwen3, OLMo 2)
  bool qkv_bias = true, out_bias = true;
  int64_t gate = 0;  // sigmoid output gate values per head: 0 none, 1 per head, head_dim per element

  int64_t q_width() const { return heads * head_dim; }
  int64_t kv_width() const { return kv_heads * head_dim; }
  /// Rows of the packed projection: q, then k, then v.
  int64_t in_rows() const { return q_width() + 2 * kv_width(); }
  int64_t gate_width() const { return heads * gate; }
  int64_t group() const { return heads / kv_heads; }

  int64_t in_params() const { return d * in_rows() + (qkv_bias ? in_rows() : 0); }
  int64_t out_params() const { return q_width() * d + (out_bias ? d : 0); }
  int64_t gate_params() const { return d * gate_width() + (qkv_bias ? gate_width() : 0); }
  int64_t norm_params() const { return qk_norm ? 2 * head_dim : 0; }
  int64_t params() const { return in_params() + out_params() + gate_params() + norm_params(); }
};

/// Sizes of a `latent_attention` node (DeepSeek-V2/V3 multi-head latent attention): q through
/// an optional low-rank latent, k and v from one shared latent of kv_lora_rank plus one rotary key
/// of rope_dim shared by the heads; each head's key is [nope | rope] and its value v_dim wide.
struct LatentLayout {
  int64_t d = 0, heads = 0, q_lora = 0, kv_lora = 0, nope = 0, rope = 0, v_dim = 0;
  double rope_theta = 10000;
  bool rope_interleaved = false;
  int64_t qk_dim() const { return nope + rope; }
  int64_t q_params() const { return q_lora ? d * q_lora + q_lora + q_lora * heads * qk_dim() : d * heads * qk_dim(); }
  int64_t kv_a_params() const { return d * (kv_lora + rope) + kv_lora; }  // with the latent's RMS norm
  int64_t kv_b_params() const { return kv_lora * heads * (nope + v_dim); }
  int64_t out_params() const { return heads * v_dim * d; }
  int64_t params() const { return q_params() + kv_a_params() + kv_b_params() + out_params(); }
};
/// Reads a latent_attention call whose input has `d` features.
LatentLayout latent_layout(const OpCall& c, int64_t d);

/// Reads and checks the attributes of an attention call whose input has `d` features. The error
/// names the attribute and the sizes that do not fit.
Result<AttentionLayout> attention_layout(const OpCall& c, int64_t d);

}  // namespace circuit
