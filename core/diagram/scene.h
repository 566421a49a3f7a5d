// The scene: a device-independent display list of a neural circuit diagram. Every renderer (SVG,
// PDF, PNG through cairo; the GUI's Vulkan canvas) draws the same scene, so what the layout
// decides is exactly what every output shows. Units are points (1/72 inch); y grows downwards.
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

namespace circuit::diagram {

struct Point {
  double x = 0, y = 0;
};

struct Rect {
  double x = 0, y = 0, w = 0, h = 0;
  double right() const { return x + w; }
  double bottom() const { return y + h; }
  bool overlaps(const Rect& o) const { return x < o.right() && o.x < right() && y < o.bottom() && o.y < bottom(); }
  bool contains(Point p) const { return p.x > x && p.x < right() && p.y > y && p.y < bottom(); }
};

/// What a box stands for; renderers style by kind, tests count by kind.
enum class BoxKind {
  op,        // an op instance: a rectangle, bold when the op is learned
  block,     // a collapsed block: one box with a double border
  junction,  // a reshape / transpose / flatten / concat / split: no rectangle, wires regroup inside
  input,     // a graph input: its name, where its wires start
  output,    // a graph output: where wires end
  router,    // MoE router (learned)
  experts,   // MoE experts drawn as a stack of `stack` cards
  combine,   // MoE weighted combine
  dot,       // where an einsum's contracted wires join: a filled dot
};

/// How a node differs in a diff drawing (`circuit diff --render`): B's circuit with A's removed
/// nodes put back.
enum class Change { none, added, removed, changed };

/// A node's rectangle. `node` is the node's path ("ffn/up"); several boxes may share one node
/// (an MoE layer is router + experts + combine).
struct BoxItem {
  Rect r;
  BoxKind kind = BoxKind::op;
  std::string node;
  std::string title, subtitle;  // subtitle: the op and its key attributes
  bool bold = false;            // learned
  bool error = false;           // the node's own check failed
  bool blocked = false;         // not checked because something upstream failed
  int stack = 1;                // cards drawn behind (experts)
  int marker = 0;               // >0: number of the error note at the bottom
  Change change = Change::none;
};

/// One axis as a wire: a path of cubic Bézier segments. pts[0] is the start; each following
/// triple is (control 1, control 2, end). `edge` names the tensor ("fc1:0>act1:0") and `axis` the
/// axis index in it; pass-by wires of a node have `edge` = "" and `node` set.
struct WireItem {
  std::vector<Point> pts;
  std::string edge;
  std::string from, to;  // node paths at the ends ("" for pass-by wires)
  std::string node;      // pass-by and internal wires: the node they belong to
  int axis = 0;
  std::string label;     // "d_model 128"
  Point label_at;        // baseline start of the label
  bool show_label = false;
  bool unknown = false;  // the type could not be inferred (drawn dashed)
};

enum class Align { left, center, right };

/// Free text: wire-independent captions, error notes, titles.
struct TextItem {
  Point at;  // baseline anchor
  std::string text;
  double size = 9;
  bool bold = false;
  Align align = Align::left;
  bool error = false;  // drawn in the error colour
  bool muted = false;  // secondary (grey)
};

/// An expanded block (or an MoE layer): a region around its sub-diagram.
struct FenceItem {
  Rect r;
  std::string node;
  std::string label;
  int stack = 1;  // MoE experts: cards drawn behind
};

/// Dashed line between the tensors of a tuple (several inputs or outputs side by side).
struct SeparatorItem {
  Point a, b;
};

/// An overlay annotation drawn over a node: numbers the caller passes (params, FLOPs, latency
/// share, expert load). `heat` in [0, 1] colours the badge; negative: no colour.
struct BadgeItem {
  Rect r;
  std::string node;
  std::string text;
  double heat = -1;
  /// Small heat-coloured squares after the text, one per value in [0, 1] (an MoE layer's load
  /// per expert), each kBadgeCell wide, ending at the badge's right edge less 3 points.
  std::vector<double> cells;
};
inline constexpr double kBadgeCell = 7;

/// Where each node ended up, keyed by node path; pass it back as the hint of the next layout so
/// a small edit keeps the rest of the picture in place.
struct LayoutMemory {
  std::unordered_map<std::string, double> y;  // node (or dummy) key -> top y inside its graph level
};

/// The whole diagram. Draw order: fences, wires, separators, boxes, texts, badges.
struct Scene {
  double width = 0, height = 0;
  std::vector<FenceItem> fences;
  std::vector<WireItem> wires;
  std::vector<SeparatorItem> separators;
  std::vector<BoxItem> boxes;
  std::vector<TextItem> texts;
  std::vector<BadgeItem> badges;
  LayoutMemory memory;
};

}  // namespace circuit::diagram
