#!/usr/bin/env bash
# Regenerates docs/gallery/: the diagram of each example circuit as SVG (what the docs link) and
# PNG (for a quick look). Usage: scripts/gallery.sh [path/to/circuit]  (default: build/app/cli/circuit)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
circuit=${1:-$root/build/app/cli/circuit}
[[ -x $circuit ]] || { echo "gallery: no circuit binary at $circuit (build the 'circuit' target or pass its path)" >&2; exit 2; }
mkdir -p "$root/docs/gallery"
for name in mlp attention attention_einsum transformer_block moe_transformer_block cnn hybrid_conv_attention early_exit gated_deltanet_hybrid mamba2_hybrid; do
  "$circuit" render "$root/resources/examples/$name.circuit.json" -o "$root/docs/gallery/$name.svg"
  "$circuit" render "$root/resources/examples/$name.circuit.json" -o "$root/docs/gallery/$name.png" --scale 1.5
done
"$circuit" render "$root/resources/examples/transformer_block.circuit.json" --expand none --overlay params \
  -o "$root/docs/gallery/transformer_block_collapsed_params.svg"
# One mixer of each hybrid opened to its parts (the path names the mixer; other blocks close).
"$circuit" render "$root/resources/examples/gated_deltanet_hybrid.circuit.json" --expand delta1 -o "$root/docs/gallery/gated_delta_parts.svg"
"$circuit" render "$root/resources/examples/mamba2_hybrid.circuit.json" --expand ssm1 -o "$root/docs/gallery/mamba2_parts.svg"
echo "gallery: wrote $(ls "$root/docs/gallery" | wc -l) files to docs/gallery/"
