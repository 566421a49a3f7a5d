// Undoable edits. Every change to a circuit made by the GUI or by Lua is a Command applied to a
// Document; applying a command yields its exact inverse, which is what undo applies. Nested
// graphs are addressed by path: "" is the top graph, "blk" the body of block `blk`,
// "blk/fc1" a node inside it.
#pragma once
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "analysis.h"
#include "graph.h"

namespace circuit {

/// Inserts `node` into graph `parent` at `index` (-1: at the end), then points each listed
/// consumer port and graph-output slot at it (used when undoing a removal).
struct AddNode {
  std::string parent;
  Node node;
  int index = -1;
  std::vector<std::pair<std::string, int>> rewire;  // (consumer name, input port) -> this node
  std::vector<std::pair<int, int>> output_slots;     // (slot in graph outputs, output port of this node)
};
/// Removes a node; its consumers' ports become unconnected and graph outputs naming it are dropped.
struct RemoveNode {
  std::string path;
};
/// Replaces a node's whole input list (connect, disconnect, add or drop ports).
struct SetInputs {
  std::string path;
  std::vector<PortRef> inputs;
};
/// Sets an attribute; nullopt removes it so the schema default applies.
struct SetAttr {
  std::string path;
  std::string key;
  std::optional<AttrValue> value;
};
struct SetOutputs {
  std::string parent;
  std::vector<PortRef> outputs;
};
struct RenameNode {
  std::string path;
  std::string new_name;
};
/// Sets (or with nullopt removes) the value of a symbolic size used for costs.
struct SetSymbol {
  std::string name;
  std::optional<int64_t> value;
};
/// Moves `nodes` of graph `parent` into a new block named `block`; edges crossing the boundary
/// become the block's ports (typed from the current analysis).
struct Group {
  std::string parent;
  std::vector<std::string> nodes;
  std::string block;
};
/// Replaces a block node by its body's nodes (renamed where names collide).
struct Ungroup {
  std::string path;
};
/// Replaces a whole graph level; the inverse of Group and Ungroup.
struct ReplaceGraph {
  std::string parent;
  Graph graph;
  std::string label;  // what it does, for menus ("Paste 2 nodes"); "Replace graph" when empty
};

using Command = std::variant<AddNode, RemoveNode, SetInputs, SetAttr, SetOutputs, RenameNode, SetSymbol, Group, Ungroup, ReplaceGraph>;

/// A short label for menus: "Set fc1.out", "Group 3 nodes".
std::string describe(const Command& c);

/// A circuit with its analysis and undo history. Single-threaded; the GUI owns one per open file.
class Document {
 public:
  explicit Document(Circuit c = {});

  const Circuit& circuit() const { return c_; }
  const GraphAnalysis& analysis() const { return a_; }
  const Bindings& bindings() const { return b_; }

  /// Validates and applies; on error nothing changed and the message says why.
  Status apply(Command cmd);
  bool can_undo() const { return !undo_.empty(); }
  bool can_redo() const { return !redo_.empty(); }
  std::string undo_label() const { return can_undo() ? describe(undo_.back().done) : ""; }
  std::string redo_label() const { return can_redo() ? describe(redo_.back().done) : ""; }
  bool undo();
  bool redo();

  /// True when the circuit differs from the last mark_saved() (or the initial state).
  bool modified() const { return clean_ != long(undo_.size()); }
  void mark_saved() { clean_ = long(undo_.size()); }

 private:
  struct Entry {
    Command done;     // as the user asked, for labels and redo
    Command inverse;  // what undo applies
  };
  Result<Command> apply_raw(const Command& cmd);

  Circuit c_;
  Bindings b_;
  GraphAnalysis a_;
  std::vector<Entry> undo_, redo_;
  long clean_ = 0;  // undo depth at the last save; -1 when that state cannot come back
};

}  // namespace circuit
