// Attribute values and schemas. Each op declares a schema (types, defaults, ranges); a node
// stores only the attributes the user set, and reads fall back to the schema's defaults.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base_names.h"

namespace circuit {

/// A stored attribute value. Axis lists are strings in axis-spec form ("d_model:256").
using AttrValue = std::variant<int64_t, double, bool, std::string, std::vector<int64_t>, std::vector<std::string>>;

/// Attributes set on one node, by name (ordered, so files and undo are deterministic).
using Attrs = std::map<std::string, AttrValue>;

enum class AttrType { Int, Float, Bool, String, Enum, Ints, Strings, Axes };
const char* attr_type_name(AttrType t);
/// With an article, for messages: "an integer", "a list of axes".
const char* attr_type_phrase(AttrType t);

/// Schema of one attribute: its type, default (none = required), numeric range or choices.
struct AttrSpec {
  std::string name;
  AttrType type;
  std::optional<AttrValue> default_value;  // nullopt: the attribute is required
  double min = -1e300, max = 1e300;        // Int / Float / each Ints element
  std::vector<std::string> choices;        // Enum
  std::string doc;
};

/// Checks `v` against `spec` (type, range, choices). Ints are accepted where floats are expected
/// and converted. The message names the attribute; the caller adds the node.
Result<AttrValue> check_attr(const AttrSpec& spec, const AttrValue& v);

/// For people and for `circuit info`: 3, 0.5, true, "gelu", [3, 3], [batch, seq].
std::string to_string(const AttrValue& v);

}  // namespace circuit
