// Renderers for a scene through cairo: SVG (glyphs become paths), PDF (font subsets embedded)
// and PNG. Text is set in DejaVu Sans, the font the layout measured.
#pragma once
#include <string>

#include "base/result.h"
#include "scene.h"

namespace circuit::diagram {

enum class Format { svg, pdf, png };

/// The format named by a file's extension (.svg, .pdf, .png), or an error that lists them.
Result<Format> format_of(const std::string& path);

/// The file's bytes. `png_scale` multiplies points to pixels (2: crisp on paper and screens).
Result<std::string> render(const Scene& s, Format f, double png_scale = 2.0);

/// Renders into `path` (format by extension), written atomically.
Status render_file(const Scene& s, const std::string& path, double png_scale = 2.0);

}  // namespace circuit::diagram
