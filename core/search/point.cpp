#include "point.h"

#include <charconv>

namespace search {

std::string key(const Point& p) {
  std::string s;
  for (size_t i = 0; i < p.choice.size(); ++i) s += (i ? "," : "") + std::to_string(p.choice[i]);
  return s;
}

base::Result<Point> parse_point(std::string_view text) {
  Point p;
  if (text.empty()) return p;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string_view part = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    int v = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (ec != std::errc() || end != part.data() + part.size() || v < 0)
      return base::Error{"point key \"" + std::string(text) + "\": expected non-negative integers separated by commas"};
    p.choice.push_back(v);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return p;
}

uint64_t mix_seed(uint64_t seed, uint64_t stream) {
  Rng r(seed * 0xD1B54A32D192ED03ull + stream);
  return r.next();
}

}  // namespace search
