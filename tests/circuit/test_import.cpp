// Hugging Face configs to circuits: the published models' sizes and inference memory from the
// configs on their model cards (tests/data/hf/full), against figures derived by hand from the
// architecture, and the importer's refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "base/file.h"
#include "circuit/analysis.h"
#include "circuit/hf_import.h"

namespace {

using namespace circuit;

base::Json config(const std::string& path) {
  auto text = base::read_file(std::string(CIRCUIT_SOURCE_DIR) + "/" + path);
  EXPECT_TRUE(text.ok()) << path;
  auto j = base::parse_json(text.ok() ? *text : "{}");
  EXPECT_TRUE(j.ok()) << path;
  return j.ok() ? *j : base::Json::object();
}

struct Imported {
  HfImport imp;
  GraphAnalysis a;
};
Imported import(const std::string& path, HfShrink shrink = {}) {
  auto imp = import_hf_config(config(path), "m", shrink, path);
  EXPECT_TRUE(imp.ok()) << imp.error().message;
  if (!imp.ok()) return {};
  GraphAnalysis a = analyze(imp->circuit);
  auto d = a.diagnostics(imp->circuit.graph);
  EXPECT_TRUE(d.empty()) << (d.empty() ? "" : d[0].message);
  return {std::move(*imp), std::move(a)};
}

// Within `rel` of the published figure.
void near_published(int64_t ours, double published, double rel, const char* what) {
  EXPECT_LE(std::abs(double(ours) - published) / published, rel) << what << ": " << ours << " against " << published;
}

TEST(HfImport, PublishedModelsHaveTheirPublishedSizes) {
  // Llama-3-8B: per layer q, o 4096² and k, v 4096 x 1024 (8 kv heads of 128), a SwiGLU of 14336,
  // two norms; untied embedding and head of 128256 x 4096; the final norm. Published: 8.03 B.
  auto llama = import("tests/data/hf/full/llama-3-8b.json");
  int64_t d = 4096, V = 128256;
  int64_t llama_layer = (2 * d * d + 2 * d * 1024) + 3 * d * 14336 + 2 * d;
  EXPECT_EQ(llama.a.total.params, 32 * llama_layer + 2 * V * d + d);
  near_published(llama.a.total.params, 8.03e9, 0.005, "Llama-3-8B");
  // KV cache: 32 layers x (k and v) x 8 heads x 128 = 65,536 elements, 128 KiB in bf16.
  EXPECT_EQ(llama.a.total.inference.per_token * 2, 128 * 1024);

  // Mixtral-8x7B: the same attention, 8 SwiGLU experts of 14336, a router of 8 x 4096; 32000 tokens.
  auto mixtral = import("tests/data/hf/full/mixtral-8x7b.json");
  int64_t expert = 3 * d * 14336, attn = 2 * d * d + 2 * d * 1024;
  EXPECT_EQ(mixtral.a.total.params, 32 * (attn + 8 * d + 8 * expert + 2 * d) + 2 * 32000 * d + d);
  near_published(mixtral.a.total.params, 46.7e9, 0.005, "Mixtral total");
  // Active, by our convention (the input embedding counts the one row a token reads): 2 of 8 experts.
  EXPECT_EQ(mixtral.a.total.active_params, 32 * (attn + 8 * d + 2 * expert + 2 * d) + d + 32000 * d + d);
  EXPECT_EQ(mixtral.a.total.inference.per_token * 2, 128 * 1024);

  // DeepSeek-V3 (without the multi-token-prediction module): 61 layers of latent attention, the
  // first 3 with a dense SwiGLU of 18432, the others 256 routed + 1 shared experts of 2048 (8 active).
  auto ds = import("tests/data/hf/full/deepseek-v3.json");
  int64_t D = 7168, mla = D * 1536 + 1536 + 1536 * 128 * 192 + D * 576 + 512 + 512 * 128 * 256 + 128 * 128 * D;
  int64_t ds_expert = 3 * D * 2048, router = 256 * D, norms = 2 * D, ds_vocab = 129280;
  int64_t dense = mla + 3 * D * 18432 + norms, moe = mla + router + 257 * ds_expert + norms;
  EXPECT_EQ(ds.a.total.params, 3 * dense + 58 * moe + 2 * ds_vocab * D + D);
  near_published(ds.a.total.params, 671e9, 0.005, "DeepSeek-V3 total");
  int64_t ds_active = 3 * dense + 58 * (mla + router + 9 * ds_expert + norms) + D + ds_vocab * D + D;
  EXPECT_EQ(ds.a.total.active_params, ds_active);
  EXPECT_EQ(std::llround(double(ds_active) / 1e9), 37) << "published: 37 B activated";
  // Its cache keeps the 512-wide latent and the 64-wide rotary key per layer: 61 x 576 elements.
  EXPECT_EQ(ds.a.total.inference.per_token, 61 * 576);

  // Qwen3-Next-80B-A3B: 12 gated-attention layers and 36 Gated DeltaNet layers, each with 512
  // experts of 512 (10 active) and a gated shared expert. Published: 80 B total.
  auto next = import("tests/data/hf/full/qwen3-next-80b-a3b.json");
  int64_t Q = 2048;
  int64_t gated_attn = Q * (16 * 256 * 2) + 2 * Q * (2 * 256) + 16 * 256 * Q + 2 * 256;  // q with its gate, k, v, o, q/k norms
  int64_t gdn = Q * (2 * 16 * 128 + 32 * 128) + 2 * Q * 32 + 2 * 32 + (2 * 16 * 128 + 32 * 128) * 4 + Q * 32 * 128 + 128 + 32 * 128 * Q;
  int64_t next_moe = 512 * Q + 513 * 3 * Q * 512 + Q;  // router, 512 routed + 1 shared expert, the shared gate
  EXPECT_EQ(next.a.total.params, 12 * gated_attn + 36 * gdn + 48 * (next_moe + 2 * Q) + 2 * 151936 * Q + Q);
  near_published(next.a.total.params, 80e9, 0.005, "Qwen3-Next total");
  // KV cache only in the 12 attention layers: 2 kv heads of 256, k and v.
  EXPECT_EQ(next.a.total.inference.per_token, 12 * 2 * 2 * 256);
  EXPECT_GT(next.a.total.inference.state, 0) << "the recurrent layers' state";

  // Mamba-2 2.7B: 64 Mamba-2 layers (80 heads of 64, state 128), tied embeddings. Published: 2.7 B.
  auto mamba = import("tests/data/hf/full/mamba2-2.7b.json");
  near_published(mamba.a.total.params, 2.7e9, 0.005, "Mamba-2 2.7B");
  EXPECT_EQ(mamba.a.total.inference.per_token, 0);
  EXPECT_EQ(mamba.a.total.inference.state, 64 * (80 * 64 * 128 + (5120 + 256) * 3));

  // Jamba-v0.1: 32 layers, attention on every 8th from layer 4 (4 of them: GQA 32/8 heads, no
  // positions), Mamba-1 on the other 28 (8192 channels, state 16, Δ rank 256, conv 4 with bias,
  // learned norms of Δ, B and C); 16 experts (top 2) on the odd layers, a SwiGLU of 14336 on the
  // even ones; 65536 tokens, untied. Published: 52 B total, 12 B active.
  auto jamba = import("tests/data/hf/full/jamba-v0.1.json");
  int64_t inner = 8192, jamba_mamba = d * 2 * inner + inner * 5 + inner * (256 + 32) + 256 * inner + inner + inner * 16 + inner + inner * d + 256 + 32;
  int64_t mlp = 3 * d * 14336, jamba_attn = 2 * d * d + 2 * d * 1024;
  EXPECT_EQ(jamba.a.total.params, 28 * jamba_mamba + 4 * jamba_attn + 16 * mlp + 16 * (d * 16 + 16 * mlp) + 32 * 2 * d + 2 * 65536 * d + d);
  EXPECT_EQ(std::llround(double(jamba.a.total.params) / 1e9), 52) << jamba.a.total.params;
  EXPECT_EQ(jamba.a.total.active_params, 28 * jamba_mamba + 4 * jamba_attn + 16 * mlp + 16 * (d * 16 + 2 * mlp) + 32 * 2 * d + d + 65536 * d + d);
  EXPECT_EQ(std::llround(double(jamba.a.total.active_params) / 1e9), 12) << jamba.a.total.active_params;
  // Its KV cache is only the 4 attention layers' (8 kv heads of 128, k and v): 16 KiB per token in
  // bf16, an eighth of Llama-3-8B's; the 28 Mamba layers keep a fixed state of 8192 x 16 and the conv's 3 inputs.
  EXPECT_EQ(jamba.a.total.inference.per_token * 2, 16 * 1024);
  EXPECT_EQ(jamba.a.total.inference.state, 28 * (inner * 16 + inner * 3));

  // Mamba-1: state-spaces/mamba-130m (24 layers of 768, tied) and Falcon-Mamba-7B (64 layers of
  // 4096, 8192 channels, Δ rank 256, untied). Published: 130 M (the name; 129.1 M counted) and 7.27 B.
  auto m130 = import("tests/data/hf/full/mamba-130m.json");
  EXPECT_EQ(m130.a.total.params, 24 * 3771648 + 50280 * 768 + 768);
  // Dense with a tied head: every token reads the whole table (through the head), so all of it is active.
  EXPECT_EQ(m130.a.total.active_params, m130.a.total.params);
  EXPECT_EQ(mamba.a.total.active_params, mamba.a.total.params);
  auto falcon = import("tests/data/hf/full/falcon-mamba-7b.json");
  int64_t falcon_layer = d * 2 * inner + inner * 5 + inner * 288 + 256 * inner + inner + inner * 16 + inner + inner * d + d;
  EXPECT_EQ(falcon.a.total.params, 64 * falcon_layer + 2 * 65024 * d + d);
  near_published(falcon.a.total.params, 7.27e9, 0.005, "Falcon-Mamba-7B");
  EXPECT_EQ(falcon.a.total.inference.per_token, 0);
}

// The layer kinds of an imported circuit, in order: "mixer op/ffn op".
std::vector<std::string> kinds(const Circuit& c) {
  std::vector<std::string> k;
  for (auto& n : c.graph.nodes)
    if (n.op == "block") k.push_back(n.body->node("mixer")->op + "/" + (n.body->node("ffn") ? n.body->node("ffn")->op : "none"));
  return k;
}

TEST(HfImport, LayerPatternsFollowTheConfig) {
  using V = std::vector<std::string>;
  auto ds = import("tests/data/hf/full/deepseek-v3.json");
  auto k = kinds(ds.imp.circuit);
  ASSERT_EQ(k.size(), 61u);
  EXPECT_EQ(V(k.begin(), k.begin() + 4), (V{"latent_attention/block", "latent_attention/block", "latent_attention/block", "latent_attention/moe"}));
  auto next = kinds(import("tests/data/hf/full/qwen3-next-80b-a3b.json").imp.circuit);
  EXPECT_EQ(V(next.begin(), next.begin() + 4), (V{"gated_delta/moe", "gated_delta/moe", "gated_delta/moe", "attention/moe"}));
  // Qwen2-MoE: mlp_only_layers keeps layer 1 dense.
  EXPECT_EQ(kinds(import("tests/data/hf/qwen2_moe.json").imp.circuit), (V{"attention/moe", "attention/block", "attention/moe"}));
  // Qwen2's sliding window from max_window_layers (2) on.
  auto qwen2 = import("tests/data/hf/qwen2.json");
  EXPECT_EQ(qwen2.a.total.inference.windowed.size(), 1u);
  EXPECT_EQ(qwen2.a.total.inference.windowed.begin()->first, 16);
  // Shrunk, the structure stays: DeepSeek's first dense layers and its MoE layers, Qwen3-Next's
  // recurrent and attention layers, in the same order.
  HfShrink small{4, 64, 8, 128, 32};
  auto ds_small = import("tests/data/hf/full/deepseek-v3.json", small);
  EXPECT_EQ(kinds(ds_small.imp.circuit), (V{"latent_attention/block", "latent_attention/block", "latent_attention/block", "latent_attention/moe"}));
  EXPECT_LT(ds_small.a.total.params, 2'000'000);
  auto next_small = import("tests/data/hf/full/qwen3-next-80b-a3b.json", {2, 64, 8, 128, 32});
  EXPECT_EQ(kinds(next_small.imp.circuit), (V{"gated_delta/moe", "attention/moe"})) << "the attention layer kept in 2";
  // Jamba: attention at 4, 12, 20, 28 (dense), MoE on the odd layers.
  auto jamba = kinds(import("tests/data/hf/full/jamba-v0.1.json").imp.circuit);
  ASSERT_EQ(jamba.size(), 32u);
  EXPECT_EQ(V(jamba.begin(), jamba.begin() + 6), (V{"mamba/block", "mamba/moe", "mamba/block", "mamba/moe", "attention/block", "mamba/moe"}));
  EXPECT_EQ(std::count(jamba.begin(), jamba.end(), "attention/block"), 4);
  EXPECT_EQ(kinds(import("tests/data/hf/full/jamba-v0.1.json", {3, 64, 4, 128, 32}).imp.circuit),
            (V{"mamba/block", "mamba/moe", "attention/block"}));
  // Falcon-Mamba's `expand` (16) disagrees with its intermediate_size (8192 = 2 x 4096): the weights follow the latter.
  auto falcon = import("tests/data/hf/full/falcon-mamba-7b.json");
  const Node* mixer = falcon.imp.circuit.graph.node("layer0")->body->node("mixer");
  EXPECT_EQ(std::get<int64_t>(mixer->attrs.at("expand")), 2);
  EXPECT_EQ(std::get<std::string>(mixer->attrs.at("dbc_norm")), "rms_unscaled");
}

TEST(HfImport, EveryFamilyImportsAndListsWhatItIgnored) {
  std::set<std::string> seen;
  for (const std::string& t : hf_model_types()) {
    SCOPED_TRACE(t);
    auto m = import("tests/data/hf/" + t + ".json");
    EXPECT_EQ(m.imp.model_type, t);
    EXPECT_GT(m.a.total.params, 0);
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 15u);
  auto ds = import("tests/data/hf/full/deepseek-v3.json");
  bool mtp = false, rope = false;
  for (auto& k : ds.imp.ignored) mtp |= k.rfind("num_nextn_predict_layers", 0) == 0, rope |= k.rfind("rope_scaling", 0) == 0;
  EXPECT_TRUE(mtp && rope) << "inference-only keys are listed, not dropped silently";
}

TEST(HfImport, RefusalsNameWhatAndWhere) {
  auto err = [](const std::string& text) {
    auto j = base::parse_json(text);
    EXPECT_TRUE(j.ok());
    auto r = import_hf_config(*j, "m", {}, "cfg.json");
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : r.error().message;
  };
  EXPECT_NE(err(R"({"model_type": "gpt2"})").find("unknown model_type `gpt2`; this importer reads: llama"), std::string::npos);
  EXPECT_NE(err(R"({"model_type": "mamba", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 128, "time_step_rank": [4]})")
                .find("cfg.json:1: `time_step_rank` should be an integer or \"auto\", is an array"),
            std::string::npos);
  EXPECT_NE(err(R"({"model_type": "mamba", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 128, "intermediate_size": 100})")
                .find("100 channels are not a multiple of hidden_size 64"),
            std::string::npos);
  std::string base = R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
                         "num_hidden_layers": 2, "vocab_size": 128)";
  EXPECT_NE(err(base + ",\n \"mystery\": 3}").find("cfg.json:3: key `mystery` of model_type `llama` is not understood"), std::string::npos);
  EXPECT_NE(err(base + ", \"hidden_act\": \"gelu\"}").find("`hidden_act` is `gelu`"), std::string::npos);
  EXPECT_NE(err(base + ", \"num_key_value_heads\": \"two\"}").find("`num_key_value_heads` should be an integer, is a string"), std::string::npos);
  EXPECT_NE(err(R"({"model_type": "llama", "hidden_size": 64})").find("cfg.json has no `num_hidden_layers`"), std::string::npos);
}

}  // namespace
