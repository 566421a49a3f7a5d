#include "glyph_atlas.h"

#include <stb_truetype.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>

// stb_truetype's implementation comes from Debian's libstb (pkg-config `stb`), which the ImGui
// library links already; defining STB_TRUETYPE_IMPLEMENTATION here would clash with it when the
// studio links both.

namespace studio::canvas {

namespace {

// Everything the diagrams print: ASCII, Latin-1, Greek, arrows and the maths signs the op labels
// use (×, →, Σ, ≤, the superscripts of kᵀ and eᴬ ...). Built up front so drawing never stalls on a missing glyph.
std::vector<char32_t> code_points() {
  std::vector<char32_t> cps;
  for (char32_t c = 32; c < 127; ++c) cps.push_back(c);
  for (char32_t c = 0xA0; c <= 0xFF; ++c) cps.push_back(c);
  for (char32_t c = 0x391; c <= 0x3C9; ++c) cps.push_back(c);
  for (char32_t c : {0x1D2C, 0x1D40, 0x2013, 0x2014, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2026, 0x2190, 0x2191, 0x2192, 0x2193,
                     0x2194, 0x21D2, 0x2202, 0x2207, 0x2211, 0x2212, 0x221A, 0x221E, 0x2248, 0x2260, 0x2264, 0x2265,
                     0x2295, 0x2297, 0x2299, 0x22C5, 0x25CF, 0xFFFD})
    cps.push_back(c);
  return cps;
}

struct Bitmap {
  char32_t cp;
  bool bold;
  int w = 0, h = 0, xoff = 0, yoff = 0;
  float advance = 0;
  std::vector<uint8_t> data;
  int x = 0, y = 0;
};

std::vector<unsigned char> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

const GlyphAtlas& GlyphAtlas::shared() {
  static const GlyphAtlas atlas("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                                "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf");
  return atlas;
}

GlyphAtlas::GlyphAtlas(const std::string& book_ttf, const std::string& bold_ttf) {
  std::vector<Bitmap> bitmaps;
  for (int face = 0; face < 2; ++face) {
    const std::string& path = face ? bold_ttf : book_ttf;
    std::vector<unsigned char> ttf = read_all(path);
    stbtt_fontinfo info;
    if (ttf.empty() || !stbtt_InitFont(&info, ttf.data(), stbtt_GetFontOffsetForIndex(ttf.data(), 0))) {
      error_ = path + ": cannot read the font (install fonts-dejavu-core); the canvas draws no text";
      return;
    }
    float scale = stbtt_ScaleForMappingEmToPixels(&info, kEmTexels);
    for (char32_t cp : code_points()) {
      if (!stbtt_FindGlyphIndex(&info, int(cp))) continue;
      Bitmap b{cp, face == 1};
      int adv = 0, lsb = 0;
      stbtt_GetCodepointHMetrics(&info, int(cp), &adv, &lsb);
      b.advance = adv * scale / kEmTexels;
      unsigned char* sdf = stbtt_GetCodepointSDF(&info, scale, int(cp), kPadding, 128, kSpread, &b.w, &b.h, &b.xoff, &b.yoff);
      if (sdf) {
        b.data.assign(sdf, sdf + b.w * b.h);
        stbtt_FreeSDF(sdf, nullptr);
      }
      bitmaps.push_back(std::move(b));
    }
  }

  // Shelf packing, tallest first, one texel apart so bilinear filtering never reads a neighbour.
  std::vector<Bitmap*> order;
  for (auto& b : bitmaps) order.push_back(&b);
  std::sort(order.begin(), order.end(), [](Bitmap* p, Bitmap* q) { return p->h > q->h; });
  width_ = 1024;
  int x = 1, y = 1, shelf = 0;
  for (Bitmap* b : order) {
    if (b->data.empty()) continue;
    if (x + b->w + 1 > width_) {
      x = 1;
      y += shelf + 1;
      shelf = 0;
    }
    b->x = x;
    b->y = y;
    x += b->w + 1;
    shelf = std::max(shelf, b->h);
  }
  height_ = 1;
  while (height_ < y + shelf + 1) height_ *= 2;
  pixels_.assign(size_t(width_) * height_, 0);

  for (auto& b : bitmaps) {
    Glyph g;
    g.advance = b.advance;
    if (!b.data.empty()) {
      for (int r = 0; r < b.h; ++r) std::copy_n(&b.data[size_t(r) * b.w], b.w, &pixels_[size_t(b.y + r) * width_ + b.x]);
      g.visible = true;
      g.u0 = float(b.x) / width_;
      g.v0 = float(b.y) / height_;
      g.u1 = float(b.x + b.w) / width_;
      g.v1 = float(b.y + b.h) / height_;
      g.x0 = b.xoff / kEmTexels;
      g.y0 = b.yoff / kEmTexels;
      g.x1 = (b.xoff + b.w) / kEmTexels;
      g.y1 = (b.yoff + b.h) / kEmTexels;
    }
    (b.bold ? bold_ : book_)[b.cp] = g;
  }
}

const GlyphAtlas::Glyph& GlyphAtlas::glyph(char32_t cp, bool bold) const {
  auto& map = bold ? bold_ : book_;
  auto it = map.find(cp);
  if (it != map.end()) return it->second;
  it = map.find(U'?');
  return it != map.end() ? it->second : empty_;
}

double GlyphAtlas::text_width(std::string_view utf8, double size, bool bold) const {
  double w = 0;
  for (size_t i = 0; i < utf8.size();) w += glyph(next_code_point(utf8, i), bold).advance;
  return w * size;
}

char32_t GlyphAtlas::next_code_point(std::string_view s, size_t& i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  int extra = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : -1;
  if (extra < 0 || i + extra >= s.size()) {
    ++i;
    return 0xFFFD;
  }
  char32_t cp = extra == 0 ? c : extra == 1 ? (c & 0x1F) : extra == 2 ? (c & 0x0F) : (c & 0x07);
  for (int k = 1; k <= extra; ++k) {
    unsigned char cc = byte(i + k);
    if ((cc & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  i += extra + 1;
  return cp;
}

}  // namespace studio::canvas
