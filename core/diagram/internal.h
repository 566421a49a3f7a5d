// Internal to core/diagram: the pieces diagram.cpp and node_shape.cpp share.
#pragma once
#include <cmath>
#include <limits>
#include <string_view>
#include <string>
#include <vector>

#include "diagram.h"
#include "layout.h"

namespace circuit::diagram::detail {

/// Sizes, in points, shared by every shape so the picture has one rhythm.
struct Style {
  static constexpr double wire_gap = 16;    // between the wires of a bundle
  static constexpr double pad_x = 8;        // inside a box, left and right of its text
  static constexpr double title_size = 9;
  static constexpr double sub_size = 7.5;
  static constexpr double label_size = 7;   // wire labels
  static constexpr double min_box_h = 32;
  static constexpr double badge_h = 13;
  static constexpr double fence_pad = 10;
  static constexpr double fence_strip = 16; // fence label
};

/// "Reaches the column edge": a wire end that is not on a box (pass-by wires, ports).
inline constexpr double kEdge = std::numeric_limits<double>::quiet_NaN();

/// The op of the nodes that stand for an op's parts in its open drawing: no registered op has a
/// name with a space.
inline constexpr std::string_view kPartOp = "op part";

/// One node drawn in its own coordinates (origin: the node's top-left).
struct NodeShape {
  LNode l;                                 // size and wire offsets for the layout
  std::vector<std::vector<double>> in_x;   // per port, per wire: where its incoming wire ends (kEdge: column left)
  std::vector<std::vector<double>> out_x;  // per port, per wire: where its outgoing wire starts (kEdge: column right)
  std::vector<std::vector<std::string>> labels;  // per output port, per wire
  std::vector<std::vector<bool>> unknown;        // per output port, per wire: type not inferred
  std::vector<double> pass_y;              // pass-by wires spanning the whole column
  std::vector<std::pair<double, bool>> seps;  // tuple separators: (y, on the input side)
  Scene local;
};

/// Everything drawing needs that is the same for every level of the recursion.
struct Context {
  const Circuit& circuit;
  const DiagramOptions& opts;
  Bindings bindings;
  std::vector<std::string> notes;  // error messages, numbered by their BoxItem::marker
  LayoutMemory memory;             // collected from every level
};

/// A drawn graph level with where its ports are (for blocks: the fence's wires).
struct GraphDrawing {
  Scene scene;
  double w = 0, h = 0;
  std::vector<std::vector<double>> in_y;   // per body input port: wire ys
  std::vector<std::vector<double>> out_y;  // per graph output: wire ys
  std::vector<TensorType> in_types, out_types;
};

GraphDrawing draw_graph(const Graph& g, const GraphAnalysis& a, const std::string& prefix, bool body, Context& ctx);

/// The input types of node `i` (unknown: an empty type).
std::vector<TensorType> input_types(const GraphAnalysis& a, int i, size_t ports);

NodeShape shape_of(const Node& n, const NodeInfo& info, const std::vector<TensorType>& in, const std::string& path,
                   Context& ctx);
NodeShape port_shape(const TensorType& t, const std::string& path, const std::string& label, bool is_input, bool body);

/// Moves every item of `s` by (dx, dy) and appends it to `to`.
void append_moved(Scene& to, const Scene& s, double dx, double dy);

/// A straight wire as a path of one cubic segment.
std::vector<Point> line(Point a, Point b);
/// An S-shaped wire from a to b (horizontal tangents at both ends).
std::vector<Point> s_curve(Point a, Point b);

}  // namespace circuit::diagram::detail
