// A small JSON document model that remembers where each value came from (line, column), so
// that errors about a file's meaning, not just its syntax, can point at the exact spot.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace base {

/// One JSON value with its source position (1-based; 0 when built in memory).
struct Json {
  enum class Kind { Null, Bool, Int, Float, String, Array, Object };
  Kind kind = Kind::Null;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<Json> items;                          // Array
  std::vector<std::pair<std::string, Json>> members;  // Object, in file order
  int line = 0, col = 0;

  static Json null() { return {}; }
  static Json boolean(bool v) { Json j; j.kind = Kind::Bool; j.b = v; return j; }
  static Json integer(int64_t v) { Json j; j.kind = Kind::Int; j.i = v; return j; }
  static Json number(double v) { Json j; j.kind = Kind::Float; j.f = v; return j; }
  static Json string(std::string v) { Json j; j.kind = Kind::String; j.s = std::move(v); return j; }
  static Json array() { Json j; j.kind = Kind::Array; return j; }
  static Json object() { Json j; j.kind = Kind::Object; return j; }

  /// Object member by key, or null.
  const Json* get(std::string_view key) const;
  /// Appends a member to an object (no duplicate check: the writer is ours).
  Json& set(std::string key, Json v);
  Json& push(Json v) { items.push_back(std::move(v)); return items.back(); }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float; }
  /// "an integer", "a string", ... for error messages.
  const char* kind_name() const;
};

/// Parses RFC 8259 JSON. Errors read "line L, column C: expected ..." and duplicate keys are errors.
Result<Json> parse_json(std::string_view text);
/// Writes JSON with 2-space indentation; short arrays and objects stay on one line.
std::string write_json(const Json& j);
/// Writes JSON on one line followed by a newline (JSON lines).
std::string write_json_line(const Json& j);

}  // namespace base
