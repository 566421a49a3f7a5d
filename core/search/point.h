// A point in a search space: one choice index per dimension. Small, comparable, with a stable
// text key ("2,0,1") used for de-duplication in strategies and in the store.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace search {

/// Choice index per dimension, in the space's dimension order.
struct Point {
  std::vector<int> choice;
  bool operator==(const Point&) const = default;
  auto operator<=>(const Point&) const = default;
};

/// "2,0,1"; parse_point is the inverse.
std::string key(const Point& p);
base::Result<Point> parse_point(std::string_view key);

/// Named measurements of one trial: objectives and constraint metrics ("accuracy", "params").
using Metrics = std::map<std::string, double>;

/// A seeded generator with its own integer mapping, so a seed gives the same draws with any
/// standard library (std::uniform_int_distribution is implementation-defined).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed ^ 0x9E3779B97F4A7C15ull) { next(); }
  /// splitmix64: tiny state, good enough for sampling choices.
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n).
  int below(int n) { return n <= 1 ? 0 : int((unsigned __int128)next() * uint64_t(n) >> 64); }
  /// Uniform in [0, 1).
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t s_;
};

/// Mixes a seed with a stream number (a worker, an ask index) into an independent seed.
uint64_t mix_seed(uint64_t seed, uint64_t stream);

}  // namespace search
