// Sizes for people, in one form everywhere they are printed (`circuit info`, diagram badges).
#pragma once
#include <cstdio>
#include <string>

namespace base {

/// "512 B", "68.6 KiB", "2.4 TiB": binary units, one decimal above bytes.
inline std::string bytes_text(double b) {
  const char* unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
  return buf;
}

/// "512 params", "12.3K FLOPs", "-1.05M params": decimal suffixes, three significant digits.
inline std::string count_text(double v, const char* unit) {
  const char* suffix[] = {"", "K", "M", "G", "T"};
  int k = 0;
  while ((v >= 1000 || v <= -1000) && k < 4) v /= 1000, ++k;
  char buf[48];
  std::snprintf(buf, sizeof buf, k ? "%.3g%s %s" : "%.0f%s %s", v, suffix[k], unit);
  return buf;
}

}  // namespace base
