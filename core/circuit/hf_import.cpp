#include "hf_import.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "base/file.h"
#include "templates.h"

namespace circuit {

namespace {

using base::Error;
using base::Json;

// Keys that change nothing we model: metadata, initialisation, inference switches, training
// losses. Present ones are listed as ignored; rope_scaling and the MTP head say why in the list.
const std::set<std::string, std::less<>> kIgnorable = {
    "architectures", "auto_map", "torch_dtype", "dtype", "transformers_version", "use_cache", "bos_token_id", "eos_token_id",
    "pad_token_id", "initializer_range", "attention_dropout", "hidden_dropout", "output_router_logits", "router_aux_loss_coef",
    "aux_loss_alpha", "seq_aux", "ep_size", "pretraining_tp", "quantization_config", "num_nextn_predict_layers", "rope_scaling",
    "_name_or_path", "tokenizer_class", "router_jitter_noise", "time_step_min", "time_step_max", "time_step_floor",
    "time_step_limit", "time_step_rank", "rescale_prenorm_residual", "residual_in_fp32", "clip_qkv", "router_z_loss_coef",
    "use_mamba_kernels", "mamba_dt_rank", "num_logits_to_keep", "bos_token", "eos_token", "max_position_embeddings",
    "sliding_window_pattern", "model_type", "output_hidden_states", "output_attentions", "return_dict", "is_encoder_decoder",
    "norm_before_gate", "chunk_size", "fused_add_norm", "pad_vocab_size_multiple", "ssm_cfg", "time_step_init_scheme",
    "time_step_scale", "mixer_rms_eps", "use_falcon_mambapy", "use_mambapy"};

// Why some ignored keys do not matter here, for the list `circuit import` prints.
const std::map<std::string, std::string, std::less<>> kWhy = {
    {"rope_scaling", "positions beyond the trained context (inference)"},
    {"num_nextn_predict_layers", "the multi-token-prediction module, not part of the model's forward"},
    {"max_position_embeddings", "the circuit's `context` symbol (inference memory is reported there)"},
    {"router_aux_loss_coef", "a training loss weight; set aux_loss_coef on the moe nodes to train with it"},
    {"chunk_size", "a kernel setting; the mamba2 op's chunk is its own"},
    {"time_step_rank", "Mamba-2 has no low-rank Δ"},
    {"mixer_rms_eps", "the mamba op's norms of Δ, B and C use 1e-6"},
};

// Reads a config, remembering which keys were read, so that what is left can be checked.
struct Config {
  const Json& j;
  std::string file;  // for messages: "config.json", or the path it was read from
  std::set<std::string, std::less<>> used;
  std::set<std::string, std::less<>> modelled;  // read and used although kIgnorable lists them for other families

  const Json* raw(std::string_view k) {
    used.insert(std::string(k));
    const Json* v = j.get(k);
    return v && v->kind != Json::Kind::Null ? v : nullptr;
  }
  std::string where(std::string_view k) const {
    const Json* v = j.get(k);
    return v && v->line ? file + ":" + std::to_string(v->line) + ": `" + std::string(k) + "`" : file + ": `" + std::string(k) + "`";
  }
  base::Result<int64_t> i(std::string_view k, std::optional<int64_t> def = std::nullopt) {
    const Json* v = raw(k);
    if (!v) {
      if (def) return *def;
      return Error{file + " has no `" + std::string(k) + "`, which this model type needs"};
    }
    if (v->kind == Json::Kind::Int) return v->i;
    if (v->kind == Json::Kind::Float && v->f == std::floor(v->f)) return int64_t(v->f);
    return Error{where(k) + " should be an integer, is " + v->kind_name()};
  }
  base::Result<double> f(std::string_view k, double def) {
    const Json* v = raw(k);
    if (!v) return def;
    if (!v->is_number()) return Error{where(k) + " should be a number, is " + v->kind_name()};
    return v->kind == Json::Kind::Int ? double(v->i) : v->f;
  }
  base::Result<bool> b(std::string_view k, bool def) {
    const Json* v = raw(k);
    if (!v) return def;
    if (v->kind != Json::Kind::Bool) return Error{where(k) + " should be true or false, is " + v->kind_name()};
    return v->b;
  }
  base::Result<std::string> s(std::string_view k, std::string def) {
    const Json* v = raw(k);
    if (!v) return def;
    if (v->kind != Json::Kind::String) return Error{where(k) + " should be a string, is " + v->kind_name()};
    return v->s;
  }
};

#define TRY(var, expr)             \
  auto var##_r = (expr);           \
  if (!var##_r) return var##_r.error(); \
  auto var = *var##_r

// One decoder layer as the families describe it.
struct Layer {
  enum class Mixer { attention, latent, gated_delta, mamba2, mamba } mixer = Mixer::attention;
  bool moe = false, ffn = true;
  int64_t window = 0;
  std::string kind() const {
    const char* m[] = {"attention", "latent", "gated_delta", "mamba2", "mamba"};
    return std::string(m[int(mixer)]) + (window ? "_swa" : "") + (!ffn ? "" : moe ? "_moe" : "_mlp");
  }
};

// Everything the layers are built from, after shrinking.
struct Model {
  int64_t d = 0, vocab = 0, intermediate = 0, moe_intermediate = 0, context = 0;
  double eps = 1e-6;
  bool tied = false;
  Attrs attention, latent, gated_delta, mamba2, mamba, moe;
  std::vector<Layer> layers;
};

Node op(std::string name, std::string kind, std::vector<PortRef> in, Attrs attrs = {}) {
  return Node{std::move(name), std::move(kind), std::move(in), std::move(attrs), {}};
}

// x + mixer(norm(x)), then + ffn(norm(.)), the pre-norm residual layer of every family here.
Node layer_block(const std::string& name, const Model& m, const Layer& l, const TensorType& x) {
  Graph g;
  g.nodes.push_back(input_node("x", x));
  g.nodes.push_back(op("mixer_norm", "rms_norm", {{"x", 0}}, {{"eps", m.eps}}));
  const char* kinds[] = {"attention", "latent_attention", "gated_delta", "mamba2", "mamba"};
  const Attrs* attrs[] = {&m.attention, &m.latent, &m.gated_delta, &m.mamba2, &m.mamba};
  Attrs a = *attrs[int(l.mixer)];
  if (l.window) a["window"] = l.window;
  g.nodes.push_back(op("mixer", kinds[int(l.mixer)], {{"mixer_norm", 0}}, a));
  g.nodes.push_back(op("mixer_res", "add", {{"x", 0}, {"mixer", 0}}));
  std::string out = "mixer_res";
  if (l.ffn) {
    g.nodes.push_back(op("ffn_norm", "rms_norm", {{"mixer_res", 0}}, {{"eps", m.eps}}));
    Node ffn = glu_ffn_block("ffn", x, l.moe ? m.moe_intermediate : m.intermediate, "silu");
    ffn.inputs = {{"ffn_norm", 0}};
    if (l.moe) ffn.op = "moe", ffn.attrs = m.moe;
    g.nodes.push_back(std::move(ffn));
    g.nodes.push_back(op("ffn_res", "add", {{"mixer_res", 0}, {"ffn", 0}}));
    out = "ffn_res";
  }
  g.outputs = {{out, 0}};
  return Node{name, "block", {}, {}, Box<Graph>(std::move(g))};
}

// An even number near v (at least `lo`), for head sizes that rotary positions split in pairs.
int64_t even(double v, int64_t lo) { return std::max<int64_t>(lo, int64_t(std::lround(v / 2)) * 2); }
int64_t scaled(int64_t v, double f, int64_t lo) { return v ? std::max<int64_t>(lo, int64_t(std::lround(double(v) * f))) : 0; }

// The first `n` layers of `all`, with every kind of layer the model has kept: a kind the prefix
// misses takes the place of the last layers of the prefix.
std::vector<Layer> shrink_layers(const std::vector<Layer>& all, int64_t n) {
  if (n <= 0 || n >= int64_t(all.size())) return all;
  std::vector<Layer> out(all.begin(), all.begin() + n);
  std::vector<Layer> missing;
  for (auto& l : all) {
    bool seen = std::any_of(out.begin(), out.end(), [&](const Layer& o) { return o.kind() == l.kind(); }) ||
                std::any_of(missing.begin(), missing.end(), [&](const Layer& o) { return o.kind() == l.kind(); });
    if (!seen) missing.push_back(l);
  }
  for (size_t j = 0; j < missing.size() && j < out.size(); ++j) out[out.size() - 1 - j] = missing[j];
  return out;
}

// ---- the families

struct Family {
  std::string type;
  bool moe = false, latent = false, hybrid = false, ssm = false;
  bool tied_default = false;
  bool mamba1 = false;  // Mamba-1 layers: all of them (mamba, falcon_mamba) or between attention layers (jamba)
};

const std::vector<Family>& families() {
  static const std::vector<Family> f = {
      {"llama"}, {"mistral"}, {"qwen2"}, {"qwen3"}, {"mixtral", true}, {"qwen2_moe", true}, {"qwen3_moe", true}, {"olmoe", true},
      {"deepseek_v2", true, true}, {"deepseek_v3", true, true}, {"qwen3_next", true, false, true}, {"mamba2", false, false, false, true, true},
      {"jamba", true, false, false, false, false, true}, {"mamba", false, false, false, true, true, true},
      {"falcon_mamba", false, false, false, true, false, true},
  };
  return f;
}

}  // namespace

std::vector<std::string> hf_model_types() {
  std::vector<std::string> t;
  for (auto& f : families()) t.push_back(f.type);
  return t;
}

bool is_hf_config(const Json& config) {
  const Json* t = config.kind == Json::Kind::Object ? config.get("model_type") : nullptr;
  return t && t->kind == Json::Kind::String;
}

base::Result<HfImport> import_hf_config(const Json& j, const std::string& name, const HfShrink& shrink, const std::string& file) {
  if (!is_hf_config(j)) return Error{file + " is not a Hugging Face config: that is an object with a `model_type` string"};
  Config c{j, file, {}};
  std::string type = j.get("model_type")->s;
  c.used.insert("model_type");
  auto fam = std::find_if(families().begin(), families().end(), [&](const Family& f) { return f.type == type; });
  if (fam == families().end()) {
    std::string known;
    for (auto& t : hf_model_types()) known += (known.empty() ? "" : ", ") + t;
    return Error{"unknown model_type `" + type + "`; this importer reads: " + known};
  }
  Model m;
  const bool moe_family = fam->moe, ssm = fam->ssm;
  TRY(layers_n, c.i("num_hidden_layers"));
  TRY(d, c.i("hidden_size"));
  TRY(vocab, c.i("vocab_size"));
  TRY(tied, c.b("tie_word_embeddings", fam->tied_default));
  TRY(act, c.s("hidden_act", "silu"));
  if (act != "silu") return Error{c.where("hidden_act") + " is `" + act + "`; the imported feed-forward layers are SwiGLU (silu)"};
  TRY(eps, c.f(ssm ? "layer_norm_epsilon" : "rms_norm_eps", 1e-6));
  TRY(context, c.i("max_position_embeddings", int64_t(4096)));
  m.d = d, m.vocab = vocab, m.tied = tied, m.eps = eps, m.context = context;

  // Shrinking: one factor for every width, so proportions stay.
  double f = shrink.width ? double(shrink.width) / double(d) : 1.0;
  if (shrink.width) m.d = shrink.width;
  if (shrink.vocab) m.vocab = shrink.vocab;

  std::vector<Layer> layers(static_cast<size_t>(layers_n));
  // Mamba-1 layers (Mamba, Falcon-Mamba; Jamba's keys have a mamba_ prefix). Falcon-Mamba's and
  // Mamba's `expand` may disagree with intermediate_size (falcon-mamba-7b says 16 for 2): the
  // width of the layer is intermediate_size, as the weights have it.
  auto read_mamba1 = [&](const std::string& pre) -> base::Result<Attrs> {
    bool jamba = !pre.empty();
    TRY(state, c.i(jamba ? "mamba_d_state" : "state_size", int64_t(16)));
    TRY(conv, c.i(jamba ? "mamba_d_conv" : "conv_kernel", int64_t(4)));
    TRY(expand_cfg, c.i(jamba ? "mamba_expand" : "expand", int64_t(2)));
    TRY(conv_bias, c.b(jamba ? "mamba_conv_bias" : "use_conv_bias", true));
    TRY(bias, c.b(jamba ? "mamba_proj_bias" : "use_bias", false));
    int64_t inner = expand_cfg * d;
    if (!jamba) {
      TRY(I, c.i("intermediate_size", inner));
      inner = I;
      TRY(rms, c.b("rms_norm", true));
      if (!rms) return Error{c.where("rms_norm") + " is false (LayerNorm); the imported Mamba layers are pre-normed with RMS norm"};
      for (const char* alias : {"d_model", "n_layer", "d_inner"}) {
        TRY(v, c.i(alias, int64_t(0)));
        int64_t want = std::string(alias) == "d_model" ? d : std::string(alias) == "n_layer" ? layers_n : inner;
        if (v && v != want) return Error{c.where(alias) + " = " + std::to_string(v) + " disagrees with " + std::to_string(want) + " from the HF keys"};
      }
    }
    if (inner % d) return Error{c.where(jamba ? "mamba_expand" : "intermediate_size") + ": " + std::to_string(inner) + " channels are not a multiple of hidden_size " + std::to_string(d)};
    // Δ's rank: a number, or "auto" for ceil(hidden_size / 16).
    std::string rank_key = jamba ? "mamba_dt_rank" : "time_step_rank";
    c.modelled.insert(rank_key);
    int64_t rank = 0;
    if (const Json* r = c.raw(rank_key)) {
      if (r->kind == Json::Kind::Int) rank = r->i;
      else if (!(r->kind == Json::Kind::String && r->s == "auto")) return Error{c.where(rank_key) + " should be an integer or \"auto\", is " + r->kind_name()};
    }
    Attrs a{{"state", shrink.width ? scaled(state, f, 4) : state}, {"expand", inner / d}, {"conv", conv}};
    if (rank) a["dt_rank"] = shrink.width ? scaled(rank, f, 1) : rank;
    if (!conv_bias) a["conv_bias"] = false;
    if (bias) a["bias"] = true;
    if (type == "jamba") a["dbc_norm"] = std::string("rms");
    if (type == "falcon_mamba") a["dbc_norm"] = std::string("rms_unscaled");
    return a;
  };
  if (ssm && fam->mamba1) {
    TRY(a, read_mamba1(""));
    m.mamba = a;
    for (auto& l : layers) l.mixer = Layer::Mixer::mamba, l.ffn = false;
  } else if (ssm) {
    TRY(state, c.i("state_size", int64_t(128)));
    TRY(expand, c.i("expand", int64_t(2)));
    TRY(head_dim, c.i("head_dim", int64_t(64)));
    TRY(groups, c.i("n_groups", int64_t(1)));
    TRY(conv, c.i("conv_kernel", int64_t(4)));
    TRY(bias, c.b("use_bias", false));
    TRY(conv_bias, c.b("use_conv_bias", true));
    TRY(rms, c.b("rms_norm", true));
    TRY(heads_cfg, c.i("num_heads", expand * d / head_dim));
    if (groups != 1) return Error{c.where("n_groups") + " is " + std::to_string(groups) + "; the mamba2 op shares one B and C across the heads (n_groups 1)"};
    if (bias || !conv_bias || !rms)
      return Error{file + ": use_bias=true, use_conv_bias=false or rms_norm=false change the Mamba-2 layer; the mamba2 op has no in/out biases, a conv bias and a gated RMS norm"};
    if (heads_cfg * head_dim != expand * d)
      return Error{c.where("num_heads") + ": " + std::to_string(heads_cfg) + " heads of " + std::to_string(head_dim) + " do not make expand x hidden_size = " +
                   std::to_string(expand * d)};
    int64_t heads = heads_cfg;
    if (shrink.width) {
      heads = std::max<int64_t>(1, expand * m.d / std::max<int64_t>(8, scaled(head_dim, f, 8)));
      while ((expand * m.d) % heads) --heads;
    }
    m.mamba2 = {{"heads", heads}, {"state", shrink.width ? scaled(state, f, 4) : state}, {"expand", expand}, {"conv", conv}};
    for (auto& l : layers) l.mixer = Layer::Mixer::mamba2, l.ffn = false;
  } else {
    TRY(H, c.i("num_attention_heads"));
    TRY(KV, c.i("num_key_value_heads", H));
    TRY(I, c.i("intermediate_size"));
    TRY(theta, c.f("rope_theta", type == "jamba" ? 0.0 : 10000.0));
    m.intermediate = scaled(I, f, 8);
    bool qwen3 = type == "qwen3" || type == "qwen3_moe" || type == "qwen3_next";
    if (fam->latent) {
      TRY(q_lora, c.i("q_lora_rank", int64_t(0)));
      TRY(kv_lora, c.i("kv_lora_rank"));
      TRY(nope, c.i("qk_nope_head_dim"));
      TRY(rope, c.i("qk_rope_head_dim"));
      TRY(v_dim, c.i("v_head_dim"));
      TRY(bias, c.b("attention_bias", false));
      if (bias) return Error{c.where("attention_bias") + " is true; latent attention here has no projection biases (DeepSeek's have none)"};
      int64_t h = shrink.width ? std::clamp<int64_t>(m.d / 16, 1, H) : H;
      m.latent = {{"heads", h}, {"q_lora_rank", scaled(q_lora, f, 4)}, {"kv_lora_rank", scaled(kv_lora, f, 4)}, {"qk_nope_dim", scaled(nope, f, 2)},
                  {"qk_rope_dim", shrink.width ? even(double(rope) * f, 2) : rope}, {"v_head_dim", scaled(v_dim, f, 2)}, {"rope_theta", theta},
                  {"causal", true}};
      // DeepSeek's released weights rotate interleaved pairs (HF permutes them to halves on load).
      m.latent["rope_layout"] = std::string("interleaved");
    } else {
      TRY(head_dim, c.i("head_dim", d / H));
      TRY(bias, c.b("attention_bias", type == "qwen2" || type == "qwen2_moe"));
      TRY(fraction, c.f("partial_rotary_factor", 1.0));
      // Shrunk: heads of at least 8, as many as keep the attention width's share of the model,
      // and the same number of query heads per kv head where it divides.
      int64_t dh = shrink.width ? even(double(head_dim) * f, 8) : head_dim;
      int64_t h = shrink.width ? std::clamp<int64_t>(std::lround(double(H * head_dim) * f / double(dh)), 1, H) : H;
      int64_t kv = shrink.width ? std::max<int64_t>(1, KV * h / H) : KV;
      while (h % kv) --kv;
      m.attention = {{"heads", h}, {"kv_heads", kv}, {"head_dim", dh}, {"causal", true}, {"bias", bias}};
      if (theta) m.attention["rope_theta"] = theta;  // Jamba's attention has no positions: its Mamba layers give them
      if (fraction != 1.0) m.attention["rope_fraction"] = fraction;
      // Qwen2's q, k and v have biases and o none; Llama's attention_bias sets all four.
      if (type == "qwen2" || type == "qwen2_moe") m.attention["out_bias"] = false;
      if (qwen3 || type == "olmoe") m.attention["qk_norm"] = true;
      if (type == "qwen3_next") m.attention["gate"] = std::string("element");
    }
    TRY(mlp_bias, c.b("mlp_bias", false));
    if (mlp_bias) return Error{c.where("mlp_bias") + " is true; the imported SwiGLU feed-forward layers have no biases"};

    // Sliding windows: Mistral's on every layer; Qwen's on the layers from max_window_layers on.
    TRY(window, c.i("sliding_window", int64_t(0)));
    TRY(use_sw, c.b("use_sliding_window", type == "mistral"));
    TRY(max_window_layers, c.i("max_window_layers", layers_n));
    if (window && use_sw)
      for (int64_t i = 0; i < layers_n; ++i)
        if (type == "mistral" || i >= max_window_layers) layers[size_t(i)].window = window;

    if (type == "jamba") {
      // Attention on layers i % attn_layer_period == attn_layer_offset, Mamba on the others.
      TRY(period, c.i("attn_layer_period", int64_t(8)));
      TRY(offset, c.i("attn_layer_offset", int64_t(4)));
      if (period < 1) return Error{c.where("attn_layer_period") + " should be at least 1"};
      for (int64_t i = 0; i < layers_n; ++i)
        if (i % period != offset) layers[size_t(i)].mixer = Layer::Mixer::mamba;
      TRY(a, read_mamba1("mamba_"));
      m.mamba = a;
    }
    if (fam->hybrid) {
      // Qwen3-Next: layer_types, or a full-attention layer every full_attention_interval.
      TRY(interval, c.i("full_attention_interval", int64_t(4)));
      const Json* types = c.raw("layer_types");
      for (int64_t i = 0; i < layers_n; ++i) {
        bool full = (i + 1) % interval == 0;
        if (types) {
          if (types->kind != Json::Kind::Array || int64_t(types->items.size()) != layers_n)
            return Error{c.where("layer_types") + " should list one type per layer (" + std::to_string(layers_n) + ")"};
          const std::string& t = types->items[size_t(i)].s;
          if (t != "full_attention" && t != "linear_attention")
            return Error{c.where("layer_types") + ": layer " + std::to_string(i) + " is `" + t + "`; known: full_attention, linear_attention"};
          full = t == "full_attention";
        }
        if (!full) layers[size_t(i)].mixer = Layer::Mixer::gated_delta;
      }
      TRY(kh, c.i("linear_num_key_heads"));
      TRY(vh, c.i("linear_num_value_heads"));
      TRY(kd, c.i("linear_key_head_dim"));
      TRY(vd, c.i("linear_value_head_dim"));
      TRY(conv, c.i("linear_conv_kernel_dim", int64_t(4)));
      if (kd != vd)
        return Error{c.where("linear_key_head_dim") + " = " + std::to_string(kd) + " differs from linear_value_head_dim = " + std::to_string(vd) +
                     "; the gated_delta op has one head size for keys and values"};
      if (vh % kh) return Error{c.where("linear_num_key_heads") + " = " + std::to_string(kh) + " does not divide linear_num_value_heads = " + std::to_string(vh)};
      int64_t gdh = shrink.width ? std::max<int64_t>(8, scaled(vd, f, 8)) : vd;
      int64_t gh = shrink.width ? std::clamp<int64_t>(std::lround(double(vh * vd) * f / double(gdh)), 1, vh) : vh;
      int64_t gkh = shrink.width ? std::max<int64_t>(1, kh * gh / vh) : kh;
      while (gh % gkh) --gkh;
      m.gated_delta = {{"heads", gh}, {"key_heads", gkh}, {"head_dim", gdh}, {"conv", conv}};
    }

    if (moe_family) {
      bool deepseek = fam->latent;
      bool jamba = type == "jamba";
      TRY(E, c.i(deepseek ? "n_routed_experts" : type == "mixtral" ? "num_local_experts" : "num_experts"));
      TRY(k, c.i("num_experts_per_tok"));
      TRY(moe_I, c.i("moe_intermediate_size", I));
      // Jamba takes the top k of the softmax as they are (no renormalisation), as OLMoE and Qwen2-MoE by default.
      TRY(norm_topk, jamba ? base::Result<bool>(false) : c.b("norm_topk_prob", type == "mixtral" || type == "qwen3_next" || type == "qwen3_moe"));
      int64_t experts = shrink.experts ? shrink.experts : E;
      k = std::min(k, experts);
      m.moe_intermediate = scaled(moe_I, f, 8);
      m.moe = {{"experts", experts}, {"k", k}, {"renormalize", norm_topk}, {"dropless", true}};
      // Shared experts, as routed experts of the same size: Qwen's one shared expert of width W is
      // W / moe_intermediate_size of them (a SwiGLU's hidden units split into blocks is a sum).
      int64_t shared = 0;
      if (deepseek) {
        TRY(n_shared, c.i("n_shared_experts", int64_t(0)));
        shared = n_shared;
      } else if (type == "qwen2_moe" || type == "qwen3_next") {
        TRY(sw, c.i("shared_expert_intermediate_size", int64_t(0)));
        if (sw % moe_I) return Error{c.where("shared_expert_intermediate_size") + " = " + std::to_string(sw) + " is not a multiple of moe_intermediate_size = " + std::to_string(moe_I)};
        shared = sw / moe_I;
        if (shared) m.moe["shared_gate"] = true;
      }
      if (shared) m.moe["shared_experts"] = shared;
      if (deepseek) {
        TRY(scale, c.f("routed_scaling_factor", 1.0));
        TRY(groups, c.i("n_group", int64_t(1)));
        TRY(top_groups, c.i("topk_group", groups));
        TRY(scoring, c.s("scoring_func", "softmax"));
        TRY(method, c.s("topk_method", "greedy"));
        if (scoring != "softmax" && scoring != "sigmoid") return Error{c.where("scoring_func") + " is `" + scoring + "`; known: softmax, sigmoid"};
        if (method != "greedy" && method != "group_limited_greedy" && method != "noaux_tc")
          return Error{c.where("topk_method") + " is `" + method + "`; known: greedy, group_limited_greedy, noaux_tc"};
        if (scale != 1) m.moe["routed_scale"] = scale;
        if (scoring == "sigmoid") m.moe["scoring"] = scoring;
        if (method == "noaux_tc") m.moe["router"] = std::string("aux_free"), m.moe["group_score"] = std::string("top2");
        if (method != "greedy" && groups > 1) {
          int64_t G = std::min(groups, experts), TG = std::min(top_groups, G);
          while (experts % G) --G;
          TG = std::min(TG, G);
          while (TG < G && TG * (experts / G) < k) ++TG;
          if (G > 1 && TG < G) m.moe["groups"] = G, m.moe["top_groups"] = TG;
          if (method == "noaux_tc" && experts / G < 2) m.moe.erase("group_score");
        }
      }
      // Which layers are MoE.
      TRY(first_dense, c.i(jamba ? "expert_layer_offset" : "first_k_dense_replace", int64_t(jamba ? 1 : 0)));
      TRY(freq, c.i(deepseek ? "moe_layer_freq" : jamba ? "expert_layer_period" : "decoder_sparse_step", int64_t(jamba ? 2 : 1)));
      std::set<int64_t> dense_only;
      if (const Json* mlp_only = c.raw("mlp_only_layers")) {
        if (mlp_only->kind != Json::Kind::Array) return Error{c.where("mlp_only_layers") + " should be a list of layer numbers"};
        for (auto& v : mlp_only->items) dense_only.insert(v.i);
      }
      for (int64_t i = 0; i < layers_n; ++i) {
        int64_t every = std::max<int64_t>(1, freq);
        bool sparse = deepseek ? (i >= first_dense && i % every == 0) : jamba ? i % every == first_dense : (i + 1) % every == 0;
        layers[size_t(i)].moe = sparse && !dense_only.count(i);
      }
    }
  }
  if (fam->latent)
    for (auto& l : layers) l.mixer = Layer::Mixer::latent;
  m.layers = shrink_layers(layers, shrink.layers);

  // Whatever is left must be something we may ignore.
  HfImport out;
  out.model_type = type;
  for (auto& [key, v] : j.members) {
    if (c.used.count(key)) {
      if (kIgnorable.count(key) && !c.modelled.count(key) && key != "model_type") {
        auto why = kWhy.find(key);
        out.ignored.push_back(key + (why != kWhy.end() ? " (" + why->second + ")" : ""));
      }
      continue;
    }
    if (kIgnorable.count(key)) {
      auto why = kWhy.find(key);
      out.ignored.push_back(key + (why != kWhy.end() ? " (" + why->second + ")" : ""));
      continue;
    }
    return Error{file + (v.line ? ":" + std::to_string(v.line) : std::string()) + ": key `" + key + "` of model_type `" + type +
                 "` is not understood by this importer and may change the architecture; nothing was written"};
  }

  // The circuit.
  Circuit& circ = out.circuit;
  circ.name = name;
  bool shrunk = shrink.layers || shrink.width || shrink.experts || shrink.vocab;
  std::string how;
  if (shrink.layers) how += std::to_string(m.layers.size()) + " of " + std::to_string(layers_n) + " layers, ";
  if (shrink.width) how += "width " + std::to_string(m.d) + " (was " + std::to_string(d) + "), ";
  if (shrink.experts) how += std::to_string(shrink.experts) + " experts, ";
  if (shrink.vocab) how += "vocabulary " + std::to_string(m.vocab) + ", ";
  circ.doc = "Imported from a Hugging Face config (model_type " + type + ")" +
             (shrunk ? ", shrunk to train here: " + how.substr(0, how.size() - 2) + "; the layer pattern kept" : "") + ".";
  circ.symbols = {{"seq", shrink.seq ? shrink.seq : shrunk ? 64 : 4096}, {"context", m.context}};
  TensorType tokens, x;
  tokens.axes = {*parse_axis("batch"), *parse_axis("seq")};
  tokens.dtype = DType::i64;
  x.axes = {*parse_axis("batch"), *parse_axis("seq"), *parse_axis("d_model:" + std::to_string(m.d))};
  Graph& g = circ.graph;
  g.nodes.push_back(input_node("tokens", tokens));
  g.nodes.push_back(op("embed", "embedding", {{"tokens", 0}}, {{"num", m.vocab}, {"dim", m.d}}));
  std::string prev = "embed";
  for (size_t i = 0; i < m.layers.size(); ++i) {
    Node b = layer_block("layer" + std::to_string(i), m, m.layers[i], x);
    b.inputs = {{prev, 0}};
    prev = b.name;
    g.nodes.push_back(std::move(b));
  }
  g.nodes.push_back(op("norm", "rms_norm", {{prev, 0}}, {{"eps", m.eps}}));
  Attrs head{{"out", m.vocab}, {"out_axis", std::string("vocab")}, {"bias", false}};
  if (m.tied) head["tie"] = std::string("embed");
  g.nodes.push_back(op("head", "linear", {{"norm", 0}}, head));
  g.outputs = {{"head", 0}};
  g.invalidate_index();
  return out;
}

base::Result<HfImport> import_hf_file(const std::string& path, const HfShrink& shrink, bool* not_config) {
  if (not_config) *not_config = false;
  auto text = base::read_file(path);
  if (!text) return text.error();
  auto j = base::parse_json(*text);
  if (!j || !is_hf_config(*j)) {
    if (not_config) *not_config = true;
    return Error{path + ": not a Hugging Face config (" + (j ? std::string("no `model_type`") : "not JSON: " + j.error().message) + ")"};
  }
  std::string name = std::filesystem::path(path).filename().string();
  name = name.substr(0, name.find('.'));
  return import_hf_config(*j, name, shrink, path);
}

}  // namespace circuit

#undef TRY
