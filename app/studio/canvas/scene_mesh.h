// Scene → GPU instances, and hit testing: everything the canvas does that needs neither Qt nor
// Vulkan, so it is tested without a window or a device.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "diagram/scene.h"
#include "studio/theme.h"

namespace studio::canvas {

class GlyphAtlas;
using circuit::diagram::Point;
using circuit::diagram::Rect;
using circuit::diagram::Scene;

// Colours come from the studio's one theme (studio/theme.h).
using studio::Rgba;
using studio::Theme;

/// What an instance draws; matches `kind` in shaders/canvas.vert.
enum class Kind : uint32_t { shape = 0, segment = 1, glyph = 2, cell = 3 };

/// One quad for the GPU (64 bytes, the vertex-input layout of the canvas pipeline). See
/// shaders/canvas.vert for what a, b and c mean per kind.
struct Instance {
  float a[4] = {};
  float b[4] = {};
  float c[4] = {};
  uint32_t fill = 0, line = 0, kind = 0, pad = 0;
};
static_assert(sizeof(Instance) == 64);

/// A run of consecutive instances and the scene rectangle they cover: the canvas skips runs
/// outside the view, and since runs are consecutive the draw order stays the scene's order.
struct Chunk {
  uint32_t first = 0, count = 0;
  Rect bounds;
};

/// Instances of a whole scene in draw order, cut into chunks for culling.
struct Mesh {
  std::vector<Instance> instances;
  std::vector<Chunk> chunks;
  size_t shapes = 0, segments = 0, glyphs = 0, cells = 0;
};

/// Appends instances to a vector; the shared vocabulary of the scene and of overlays.
class MeshBuilder {
 public:
  MeshBuilder(std::vector<Instance>& out, const GlyphAtlas& atlas) : out_(out), atlas_(atlas) {}
  void rect(const Rect& r, double radius, Rgba fill, Rgba line, double border, double dash_on = 0, double dash_off = 0);
  /// A straight piece of line with butt ends; `open_start`/`open_end` mark ends that continue
  /// into a neighbouring segment of the same polyline (cut hard, not antialiased).
  void segment(Point p, Point q, double width, Rgba color, double dist0 = 0, double dash_on = 0, double dash_off = 0,
               bool open_start = false, bool open_end = false);
  /// A polyline with dashes continuing across its segments.
  void polyline(const std::vector<Point>& pts, double width, Rgba color, double dash_on = 0, double dash_off = 0);
  /// UTF-8 text on a baseline; align: 0 left, 1 centre, 2 right. Returns the glyph quads added.
  size_t text(Point at, std::string_view utf8, double size, bool bold, int align, Rgba color);

 private:
  std::vector<Instance>& out_;
  const GlyphAtlas& atlas_;
};

/// Points along a wire's cubic Béziers, no farther than `tolerance` (scene units) from the
/// curves; the first and last points are the wire's exact ends.
std::vector<Point> tessellate(const circuit::diagram::WireItem& w, double tolerance = 0.05);

/// How much detail a mesh keeps. Zoomed far out, text is a grey smudge of a pixel or two and
/// curves need far fewer segments; the canvas switches to a coarser mesh there (level of detail).
///
/// With `cell` > 0 the mesh is a coarse picture instead: the scene is rasterised on a grid of
/// `cell` scene units (boxes win over wires, wires over fences), and runs of equal cells become
/// one opaque `Kind::cell` rectangle each. Meant for zooms where a cell is at most a pixel: there
/// borders, stacks and text cannot be seen, and drawing every wire would pile thousands of
/// sub-pixel quads onto the same pixels.
struct MeshDetail {
  double tolerance = 0.05;  // curve flattening, scene units (0.05: half a pixel at 10x zoom)
  bool text = true;         // glyphs of texts, labels, markers and badges
  uint32_t chunk_size = 256;
  double cell = 0;          // > 0: the merged grid picture with cells this big (scene units)
};

/// The whole scene as instances, in the scene's draw order.
Mesh build_mesh(const Scene& s, const Theme& theme, const GlyphAtlas& atlas, const MeshDetail& detail = {});

/// Index ranges (first, count) of the chunks that touch `view`, adjacent ones merged.
std::vector<std::pair<uint32_t, uint32_t>> visible_ranges(const Mesh& m, const Rect& view);

/// Highlights drawn over the scene: hover and selection rings around the nodes' boxes (and the
/// fences of open blocks).
void add_highlights(std::vector<Instance>& out, const Scene& s, const Theme& theme, const GlyphAtlas& atlas,
                    const std::set<std::string>& selection, const std::string& hover);

/// The node whose box contains `p` (topmost first), else an open block whose fence title strip
/// contains it, else "".
std::string node_at(const Scene& s, Point p);

/// The box of `node` under `p` (for edge-region tests), or nullptr.
const circuit::diagram::BoxItem* box_at(const Scene& s, Point p);

/// Nodes with a box overlapping `r` (rubber-band selection).
std::set<std::string> nodes_in(const Scene& s, const Rect& r);

}  // namespace studio::canvas
