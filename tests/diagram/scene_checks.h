// Structural checks of a scene shared by the diagram tests: geometry a reader would stumble over.
#pragma once
#include <string>
#include <vector>

#include "diagram/scene.h"
#include "diagram/text_metrics.h"

namespace circuit::diagram::test {

/// Points along a wire's cubic segments, `per` per segment.
inline std::vector<Point> sample(const WireItem& w, int per = 16) {
  std::vector<Point> out;
  for (size_t i = 0; i + 3 < w.pts.size(); i += 3) {
    const Point &a = w.pts[i], &b = w.pts[i + 1], &c = w.pts[i + 2], &d = w.pts[i + 3];
    for (int k = 0; k <= per; ++k) {
      double t = double(k) / per, u = 1 - t;
      out.push_back({u * u * u * a.x + 3 * u * u * t * b.x + 3 * u * t * t * c.x + t * t * t * d.x,
                     u * u * u * a.y + 3 * u * u * t * b.y + 3 * u * t * t * c.y + t * t * t * d.y});
    }
  }
  return out;
}

inline Rect shrink(Rect r, double d) { return {r.x + d, r.y + d, r.w - 2 * d, r.h - 2 * d}; }

/// "wire a>b crosses box c" for every wire that passes through a box it neither starts, ends
/// nor belongs to.
inline std::vector<std::string> wires_through_boxes(const Scene& s) {
  std::vector<std::string> bad;
  for (auto& w : s.wires) {
    auto pts = sample(w);
    for (auto& b : s.boxes) {
      if (b.node == w.from || b.node == w.to || b.node == w.node) continue;
      Rect r = shrink(b.r, 0.5);
      for (auto& p : pts)
        if (r.contains(p)) {
          bad.push_back("wire " + w.edge + w.node + " axis " + std::to_string(w.axis) + " crosses box " + b.node + " (" + b.title + ")");
          break;
        }
    }
  }
  return bad;
}

/// Pairs of boxes whose rectangles overlap.
inline std::vector<std::string> overlapping_boxes(const Scene& s) {
  std::vector<std::string> bad;
  for (size_t i = 0; i < s.boxes.size(); ++i)
    for (size_t j = i + 1; j < s.boxes.size(); ++j) {
      // An einsum's contraction dots lie inside its own (boxless) junction by design.
      bool own_dot = s.boxes[i].node == s.boxes[j].node && (s.boxes[i].kind == BoxKind::dot || s.boxes[j].kind == BoxKind::dot);
      if (!own_dot && shrink(s.boxes[i].r, 0.01).overlaps(shrink(s.boxes[j].r, 0.01)))
        bad.push_back(s.boxes[i].node + "/" + s.boxes[i].title + " overlaps " + s.boxes[j].node + "/" + s.boxes[j].title);
    }
  return bad;
}

/// The rectangle a shown wire label covers (7 pt DejaVu Sans).
inline Rect label_rect(const WireItem& w) {
  return {w.label_at.x, w.label_at.y - 5.5, text_width(w.label, 7), 7};
}

/// Shown wire labels that overlap a box or another label.
inline std::vector<std::string> colliding_labels(const Scene& s) {
  std::vector<std::string> bad;
  std::vector<const WireItem*> shown;
  for (auto& w : s.wires)
    if (w.show_label) shown.push_back(&w);
  for (size_t i = 0; i < shown.size(); ++i) {
    Rect r = label_rect(*shown[i]);
    for (auto& b : s.boxes)
      if (b.kind != BoxKind::input && b.kind != BoxKind::output && r.overlaps(b.r))
        bad.push_back("label `" + shown[i]->label + "` on " + shown[i]->edge + " overlaps box " + b.node);
    for (size_t j = i + 1; j < shown.size(); ++j)
      if (r.overlaps(label_rect(*shown[j])))
        bad.push_back("label `" + shown[i]->label + "` overlaps label `" + shown[j]->label + "`");
  }
  return bad;
}

}  // namespace circuit::diagram::test
