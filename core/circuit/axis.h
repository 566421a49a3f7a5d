// Named axes and tensor types: the vocabulary of the whole IR. In a neural circuit diagram every
// axis is one labelled wire, so axes carry names, not just sizes.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base_names.h"

namespace circuit {

/// An axis size: a concrete integer, or a symbol (`batch`, `seq`) bound later.
struct Size {
  int64_t n = 0;    // meaningful when sym is empty
  std::string sym;  // non-empty: symbolic

  static Size of(int64_t v) { return Size{v, {}}; }
  static Size symbol(std::string s) { return Size{0, std::move(s)}; }
  bool concrete() const { return sym.empty(); }
  bool operator==(const Size& o) const { return sym == o.sym && (!concrete() || n == o.n); }
};

/// One wire: a named axis with its size.
struct Axis {
  std::string name;
  Size size;
  bool operator==(const Axis& o) const = default;
};

enum class DType { f32, i64 };
const char* dtype_name(DType d);
Result<DType> parse_dtype(std::string_view s);

/// A tensor type: ordered axes plus element type. Axis 0 is the outermost dimension.
struct TensorType {
  std::vector<Axis> axes;
  DType dtype = DType::f32;

  size_t rank() const { return axes.size(); }
  /// Index of the axis named `name`, or -1.
  int find(std::string_view name) const;
  bool operator==(const TensorType& o) const = default;
};

/// Values for symbolic sizes, used when a number is needed (FLOPs, memory). `batch` is always 1
/// for costs, which makes every cost "per example".
using Bindings = std::unordered_map<std::string, int64_t>;

/// Parses "name" (symbolic size named like the axis), "name:64" or "name:sym".
Result<Axis> parse_axis(std::string_view spec);
/// Inverse of parse_axis: "batch", "d_model:256", "tokens:seq".
std::string axis_spec(const Axis& a);
/// For people: "d_model=256", "batch", "tokens=seq".
std::string to_string(const Axis& a);
/// For people: "[batch, d_model=256]" (an i64 tensor gets an " i64" suffix).
std::string to_string(const TensorType& t);
std::string to_string(const Size& s);

/// Number of elements when every size is concrete or bound; symbols missing from `b` count as 1.
int64_t numel(const TensorType& t, const Bindings& b);
int64_t resolve(const Size& s, const Bindings& b);

}  // namespace circuit
