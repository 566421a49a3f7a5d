// Hugging Face `config.json` to a circuit: the decoder language models our users study (Llama,
// Mistral, Qwen2/3, Mixtral, Qwen-MoE, OLMoE, DeepSeek-V2/V3, Qwen3-Next, Mamba-2) as an editable
// circuit with one block per layer, sized as published or shrunk to train here. Architecture only:
// weights come with ONNX import, not here.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/result.h"
#include "graph.h"

namespace circuit {

/// Sizes to shrink an imported model to (0: as the config says). The structure stays: which
/// layers are dense or MoE, attention or recurrent, in the same order.
struct HfShrink {
  int64_t layers = 0, width = 0, experts = 0, vocab = 0;
  int64_t seq = 0;  // the circuit's `seq` symbol (what costs are counted at); default 4096, or 64 when shrunk
};

/// An imported model: the circuit, its family, and the config keys that only matter for
/// inference or training (listed, not silently dropped).
struct HfImport {
  Circuit circuit;
  std::string model_type;
  std::vector<std::string> ignored;
};

/// The model types import_hf_config reads.
std::vector<std::string> hf_model_types();

/// Builds the circuit of `config` (a parsed config.json; `name` names the circuit, `file` is what
/// messages call the config). An unknown model_type, or a key that would change the architecture
/// and is not understood, is an error naming it, with the file's line.
base::Result<HfImport> import_hf_config(const base::Json& config, const std::string& name, const HfShrink& shrink = {},
                                        const std::string& file = "config.json");

/// Reads the file at `path` and imports it (the circuit named after the file). `not_config`, when
/// given, is set when the file is no Hugging Face config at all (not JSON, or no model_type), as
/// opposed to one the importer refuses: what lets a caller try other formats.
base::Result<HfImport> import_hf_file(const std::string& path, const HfShrink& shrink = {}, bool* not_config = nullptr);

/// True when `config` looks like a Hugging Face config (an object with `model_type`): how
/// `circuit import` chooses by content.
bool is_hf_config(const base::Json& config);

}  // namespace circuit
