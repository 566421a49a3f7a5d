// The canvas' text: a signed-distance-field atlas of DejaVu Sans (book and bold), the font the
// diagram layout measures text with, so glyphs land where the layout expects them.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace studio::canvas {

/// Signed-distance-field glyphs of DejaVu Sans book and bold in one 8-bit texture, built once at
/// start-up. One SDF per glyph serves every size and zoom: the shader thresholds the distance.
class GlyphAtlas {
 public:
  /// One glyph: its texture rectangle (uv) and its quad relative to the pen position on the
  /// baseline, in em units (multiply by the font size in points).
  struct Glyph {
    float u0 = 0, v0 = 0, u1 = 0, v1 = 0;
    float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    float advance = 0;
    bool visible = false;  // false for spaces and glyphs the font lacks
  };

  /// The atlas of the system's DejaVu fonts, built on first use (thread-safe).
  static const GlyphAtlas& shared();

  /// Builds from two font files; on failure `error()` says why and every glyph is invisible.
  GlyphAtlas(const std::string& book_ttf, const std::string& bold_ttf);

  const std::string& error() const { return error_; }
  int width() const { return width_; }
  int height() const { return height_; }
  const std::vector<uint8_t>& pixels() const { return pixels_; }

  /// Atlas texels per em, and the SDF spread (value steps per texel) the shader needs.
  float em_texels() const { return kEmTexels; }
  float spread() const { return kSpread; }

  /// The glyph of a code point; one the atlas lacks falls back to '?'.
  const Glyph& glyph(char32_t cp, bool bold) const;

  /// Width of UTF-8 text in points at `size`.
  double text_width(std::string_view utf8, double size, bool bold) const;

  /// Decodes one UTF-8 code point at `i` and advances `i` (invalid bytes become U+FFFD).
  static char32_t next_code_point(std::string_view s, size_t& i);

 private:
  static constexpr float kEmTexels = 40.0f;  // an em is 40 texels: sharp corners up to ~10x zoom of 9 pt text
  static constexpr int kPadding = 5;         // texels of distance around each glyph
  static constexpr float kSpread = 128.0f / kPadding;

  int width_ = 0, height_ = 0;
  std::vector<uint8_t> pixels_;
  std::unordered_map<char32_t, Glyph> book_, bold_;
  Glyph empty_;
  std::string error_;
};

}  // namespace studio::canvas
