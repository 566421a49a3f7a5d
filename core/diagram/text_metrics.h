// Text widths for layout without a font engine: DejaVu Sans advance widths (the font every
// renderer uses), so boxes fit their labels and the layout stays free of cairo.
#pragma once
#include <string_view>

namespace circuit::diagram {

/// Width in points of UTF-8 `text` set in DejaVu Sans (bold or book) at `size` points.
double text_width(std::string_view text, double size, bool bold = false);

}  // namespace circuit::diagram
