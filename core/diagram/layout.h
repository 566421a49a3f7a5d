// Layered left-to-right layout of sized nodes with wire ports (a Sugiyama-style layout):
// layers by longest path, dummy nodes on long edges, crossing reduction by barycenters, and
// y placement that straightens wires under the constraint that nodes of a layer never overlap.
// Knows nothing about circuits: diagram.cpp turns a graph level into LNodes and LEdges.
#pragma once
#include <string>
#include <vector>

#include "scene.h"

namespace circuit::diagram {

/// A node to place: a w×h rectangle whose ports are bundles of wires at fixed offsets.
struct LNode {
  std::string key;                         // stable identity across edits (hint lookup)
  double w = 0, h = 0;
  std::vector<std::vector<double>> in_y;   // per input port: wire offsets from the node's top
  std::vector<std::vector<double>> out_y;  // per output port
  bool last_layer = false;                 // sinks of a block body: pinned to the last layer
  bool side = false;                       // a branch that ends in an exit head: kept below the main flow
  double label_w = 0;                      // widest wire label on its outputs (sizes the gap after it)
};

/// A bundle from output port `src_port` of node `src` to input port `dst_port` of node `dst`.
struct LEdge {
  int src = 0, src_port = 0, dst = 0, dst_port = 0;
  std::string key;  // stable identity (dummy hints)
};

struct LayoutParams {
  double node_gap = 22;    // vertical space between nodes of a layer
  double label_pad = 8;    // added to the widest label in a gap
  double min_curve = 30;   // horizontal room for the wire curves between two layers
  double max_curve = 110;
  int sweeps = 4;          // barycenter sweeps (down and up) when there is no hint
};

/// Placement of every node and of the dummy chain of every edge.
struct Layout {
  std::vector<int> layer;           // per node
  std::vector<double> y;            // per node: top
  std::vector<double> x;            // per node: left (centred in its column)
  std::vector<double> col_x, col_w; // per layer
  std::vector<double> label_w;      // per layer: the label zone right after the column
  std::vector<std::vector<double>> dummy_y;  // per edge: top of the bundle in each layer strictly between src and dst
  double width = 0, height = 0;
  LayoutMemory memory;              // y of every node and dummy, for the next layout's hint
};

/// Lays out nodes and edges (edges must point from a lower to a higher topological rank: the
/// graph is acyclic). `hint` (may be null) holds positions from a previous layout: nodes found
/// there keep their order and, where nothing pushes them, their y.
Layout layered_layout(const std::vector<LNode>& nodes, const std::vector<LEdge>& edges, const LayoutMemory* hint,
                      const LayoutParams& params = {});

/// Wire crossings between adjacent layers (counted on node order; for tests and benchmarks).
int count_crossings(const std::vector<LNode>& nodes, const std::vector<LEdge>& edges, const Layout& l);

}  // namespace circuit::diagram
