#include "axis.h"

#include <charconv>

namespace circuit {

const char* dtype_name(DType d) { return d == DType::i64 ? "i64" : "f32"; }

Result<DType> parse_dtype(std::string_view s) {
  if (s == "f32") return DType::f32;
  if (s == "i64") return DType::i64;
  return Error{"unknown dtype `" + std::string(s) + "` (expected `f32` or `i64`)"};
}

int TensorType::find(std::string_view name) const {
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i].name == name) return int(i);
  return -1;
}

static bool valid_identifier(std::string_view s) {
  if (s.empty()) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(s[0])) return false;
  for (char c : s)
    if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
  return true;
}

Result<Axis> parse_axis(std::string_view spec) {
  auto colon = spec.find(':');
  std::string_view name = spec.substr(0, colon);
  if (!valid_identifier(name))
    return Error{"bad axis `" + std::string(spec) + "`: the name must be an identifier (letters, digits, _)"};
  if (colon == std::string_view::npos) return Axis{std::string(name), Size::symbol(std::string(name))};
  std::string_view sz = spec.substr(colon + 1);
  if (!sz.empty() && sz[0] >= '0' && sz[0] <= '9') {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(sz.data(), sz.data() + sz.size(), v);
    if (ec != std::errc() || p != sz.data() + sz.size() || v <= 0)
      return Error{"bad axis `" + std::string(spec) + "`: the size must be a positive integer or a symbol"};
    return Axis{std::string(name), Size::of(v)};
  }
  if (!valid_identifier(sz))
    return Error{"bad axis `" + std::string(spec) + "`: the size must be a positive integer or a symbol"};
  return Axis{std::string(name), Size::symbol(std::string(sz))};
}

std::string to_string(const Size& s) { return s.concrete() ? std::to_string(s.n) : s.sym; }

std::string axis_spec(const Axis& a) {
  if (!a.size.concrete() && a.size.sym == a.name) return a.name;
  return a.name + ":" + to_string(a.size);
}

std::string to_string(const Axis& a) {
  if (!a.size.concrete() && a.size.sym == a.name) return a.name;
  return a.name + "=" + to_string(a.size);
}

std::string to_string(const TensorType& t) {
  std::string s = "[";
  for (size_t i = 0; i < t.axes.size(); ++i) {
    if (i) s += ", ";
    s += to_string(t.axes[i]);
  }
  s += "]";
  if (t.dtype != DType::f32) s += std::string(" ") + dtype_name(t.dtype);
  return s;
}

int64_t resolve(const Size& s, const Bindings& b) {
  if (s.concrete()) return s.n;
  auto it = b.find(s.sym);
  return it == b.end() ? 1 : it->second;
}

int64_t numel(const TensorType& t, const Bindings& b) {
  int64_t n = 1;
  for (auto& a : t.axes) n *= resolve(a.size, b);
  return n;
}

}  // namespace circuit
