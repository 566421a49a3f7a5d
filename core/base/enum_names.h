// Enums that cross a boundary (files, the CLI, Lua, the GUI) as words: one table of names per
// enum, in declaration order, read by these two helpers, so printing and parsing cannot disagree.
#pragma once
#include <cstddef>
#include <optional>
#include <string_view>

namespace base {

/// The name of `e` in `names` (indexed by the enum's value).
template <class E, size_t N>
constexpr const char* enum_name(const char* const (&names)[N], E e) {
  return size_t(e) < N ? names[size_t(e)] : "?";
}

/// The enum value whose name is `s`, or nullopt.
template <class E, size_t N>
std::optional<E> parse_enum(const char* const (&names)[N], std::string_view s) {
  for (size_t i = 0; i < N; ++i)
    if (s == names[i]) return E(i);
  return std::nullopt;
}

}  // namespace base
