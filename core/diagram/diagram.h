// Circuit → scene: the neural-circuit-diagram drawing of a circuit (docs/diagrams.md).
// Every axis is a labelled wire, a tensor a bundle of wires in axis order; ops are boxes (bold
// when learned) that only the axes they act on enter; blocks are fenced and can be collapsed.
#pragma once
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "circuit/analysis.h"
#include "circuit/diff.h"
#include "circuit/graph.h"
#include "scene.h"

namespace circuit::diagram {

/// A number shown over a node, e.g. "12.3K params"; `heat` in [0, 1] colours it (expert load,
/// latency share); negative: no colour.
struct Annotation {
  std::string text;
  double heat = -1;
  std::vector<double> cells;  // drawn as heat squares after the text (e.g. load per expert)
};

/// Which blocks are drawn open, and which ops with parts (sequence mixers) are drawn open to
/// them. Expanding a nested block also opens its parents. Mixers stay closed unless named (a
/// listed path, `parts`) or `all_parts` is set: open, each is a small diagram of its own.
struct Expansion {
  enum class Mode { all, none, listed } mode = Mode::all;
  std::set<std::string> blocks;  // paths, for Mode::listed (a mixer's path opens the mixer)
  std::set<std::string> parts;   // mixers drawn open in any mode
  bool all_parts = false;        // every mixer drawn open
  bool open(const std::string& path) const;
  bool open_parts(const std::string& path) const;
  /// Reads one `--expand` word: all, none, parts (every block and mixer) or a path. Returns an
  /// error message, empty when the word was understood.
  std::string add(const std::string& word);
};

/// A viewer's folding of one circuit: the blocks it closed and the mixers it opened to their
/// parts; every other block is drawn open and every other mixer closed. The studio keeps one per
/// open document and draws with its expansion().
struct Folding {
  std::set<std::string> closed;  // blocks (and MoE nodes) drawn closed
  std::set<std::string> parts;   // mixers drawn open to their parts
  /// Flips the node at `path`: a block closes or opens, a mixer opens to its parts or closes.
  /// False, and nothing changes, for a node that has neither (or no node there).
  bool toggle(const Graph& root, const std::string& path);
  void close_all_blocks(const Graph& root);
  void open_all_mixers(const Graph& root);
  Expansion expansion(const Graph& root) const;
};

struct DiagramOptions {
  Expansion expand;
  std::unordered_map<std::string, Annotation> overlay;  // node path -> annotation
  const LayoutMemory* hint = nullptr;  // the previous scene's `memory`: keeps a small edit local
  bool title = true;                   // the circuit's name at the top
  std::unordered_map<std::string, Change> changes;  // node path -> its mark in a diff drawing
};

/// Draws a circuit from its analysis (analyze(c)). Never fails: an invalid circuit is drawn with
/// its failing nodes marked and their messages listed under the diagram.
Scene build_scene(const Circuit& c, const GraphAnalysis& a, const DiagramOptions& opts = {});

/// The diff drawing of `d = diff(a, b)`: B with A's removed nodes put back (diff_union), each
/// added, removed or changed node in its colour with a badge saying what changed.
Scene diff_scene(const Circuit& a, const Circuit& b, const CircuitDiff& d, DiagramOptions opts = {});

/// Label of one wire: "d_model 128", "seq" (a symbol named like its axis), "tokens 49".
std::string axis_label(const Axis& a);

/// Per-node annotations from the analysis' costs ("params", "flops", or "memory": the bf16 bytes
/// a sequence keeps at inference at the circuit's context); heat is the node's share of the
/// largest value. Empty for another `what`.
std::unordered_map<std::string, Annotation> cost_overlay(const Circuit& c, const GraphAnalysis& a, const std::string& what);

}  // namespace circuit::diagram
