#!/usr/bin/env bash
# Regenerates docs/gallery/: the diagram of each example circuit as SVG (what the docs link) and
# PNG (for a quick look). Usage: scripts/gallery.sh [path/to/circuit]  (default: build/app/cli/circuit)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
circuit=${1:-$root/build/app/cli/circuit}
[[ -x $circuit ]] || { echo "gallery: no circuit binary at $circuit (build the 'circuit' target or pass its path)" >&2; exit 2; }
mkdir -p "$root/docs/gallery"
for name in mlp attention attention_einsum transformer_block moe_transformer_block cnn hybrid_conv_attention early_exit gated_deltanet_hybrid mamba2_hybrid samba_small; do
  "$circuit" render "$root/resources/examples/$name.circuit.json" -o "$root/docs/gallery/$name.svg"
  "$circuit" render "$root/resources/examples/$name.circuit.json" -o "$root/docs/gallery/$name.png" --scale 1.5
done
"$circuit" render "$root/resources/examples/transformer_block.circuit.json" --expand none --overlay params \
  -o "$root/docs/gallery/transformer_block_collapsed_params.svg"
# One mixer of each hybrid opened to its parts (the path names the mixer; other blocks close).
"$circuit" render "$root/resources/examples/gated_deltanet_hybrid.circuit.json" --expand delta1 -o "$root/docs/gallery/gated_delta_parts.svg"
"$circuit" render "$root/resources/examples/mamba2_hybrid.circuit.json" --expand ssm1 -o "$root/docs/gallery/mamba2_parts.svg"
"$circuit" render "$root/resources/examples/samba_small.circuit.json" --expand none --expand samba0 --expand samba0/mamba -o "$root/docs/gallery/mamba_parts.svg"
# Published models imported from their Hugging Face configs, full size, blocks closed with their
# parameters (docs/import.md); DeepSeek-V3's first MoE layer open, its latent attention open to its parts.
for name in llama-3-8b mixtral-8x7b deepseek-v3 qwen3-next-80b-a3b jamba-v0.1; do
  "$circuit" import "$root/tests/data/hf/full/$name.json" -o "$root/docs/gallery/$name.circuit.json" > /dev/null
  for ext in svg png; do
    "$circuit" render "$root/docs/gallery/$name.circuit.json" --expand none --overlay params -o "$root/docs/gallery/$name.$ext"
  done
done
tmp=$(mktemp -d)
"$circuit" import "$root/tests/data/hf/full/deepseek-v3.json" --layers 4 -o "$tmp/deepseek-v3-4layers.circuit.json" > /dev/null
for ext in svg png; do
  "$circuit" render "$tmp/deepseek-v3-4layers.circuit.json" --expand none --expand layer3 --expand layer3/mixer -o "$root/docs/gallery/deepseek-v3-moe-layer.$ext"
done
rm -rf "$tmp"
echo "gallery: wrote $(ls "$root/docs/gallery" | wc -l) files to docs/gallery/"
