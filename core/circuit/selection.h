// Edits of a selection of nodes at one graph level, as undoable commands: delete, copy and paste
// (with the wiring rules users expect), and insert-after. The studio and Lua both build their
// edits here, so a paste from either behaves the same and is one step on the undo stack.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "edit.h"
#include "graph.h"
#include "base_names.h"

namespace circuit {

/// The node at a path of a document and its analysis, or nulls.
struct NodeView {
  const Node* node = nullptr;
  const NodeInfo* info = nullptr;
  const Graph* graph = nullptr;           // the graph holding the node
  const GraphAnalysis* analysis = nullptr;  // that graph's analysis
};
NodeView view_node(const Document& doc, const std::string& path);

/// The part of a selection (node paths) that an edit of several nodes acts on: the graph level of
/// the first path and the names selected there. Nodes selected at other levels are left alone.
struct LevelSelection {
  std::string parent;
  std::set<std::string> names;
};
LevelSelection at_one_level(const std::set<std::string>& paths);

/// Removes the nodes `names` of graph level `parent` in one step: wires from them become
/// unconnected, graph outputs naming them are dropped.
Result<Command> delete_nodes(const Circuit& c, const std::string& parent, const std::set<std::string>& names);

/// Copied nodes: their graph (in drawing order, inputs from outside the copy unconnected, so it
/// loads on its own) and the wires that came from outside, so a paste next to the same nodes
/// reconnects them.
struct Clip {
  struct Wire {
    std::string node;  // copied node
    int port = 0;      // its input port
    PortRef from;      // the node outside the copy it read
  };
  Circuit circuit;
  std::vector<Wire> external;
};
Result<Clip> copy_nodes(const Circuit& c, const std::string& parent, const std::set<std::string>& names);
/// The clipboard form: {"circuit": <.circuit.json text>, "external": [{"node", "port", "from"}]}.
std::string clip_to_text(const Clip& clip);
/// Reads clip_to_text's form, or a plain .circuit.json text (no external wires).
Result<Clip> parse_clip(std::string_view text);

/// Pastes `clip` into graph level `parent` in one step: nodes get fresh names where theirs are
/// taken (`_copy`, `_copy_2`...), wires between them follow, wires to nodes that exist at that
/// level stay, others are left unconnected. `pasted` receives the new nodes' paths.
Result<Command> paste_nodes(const Circuit& c, const std::string& parent, const Clip& clip, std::vector<std::string>* pasted = nullptr);

/// Inserts `node` right after the node at path `after`, in one step: its first input reads
/// `after`'s output 0, and where `after` was a graph output the new node takes its place (what a
/// user appending to a chain expects). The node's name is made unique at that level; `path`
/// receives the new node's path.
Result<Command> insert_after(const Circuit& c, const std::string& after, Node node, std::string* path = nullptr);

/// What a palette click or drop adds: `op` (or a `template:` name, see palette_node) sized from
/// and inserted after the node at path `after` (insert_after), or standing alone at the top level
/// when `after` is empty. `path` receives the new node's path.
Result<Command> add_from_palette(const Document& doc, const std::string& op, const std::string& after,
                                 std::string* path = nullptr);

}  // namespace circuit
