// The optimizers training offers (the option table's `optimizer`). Torch-free header.
#pragma once
#include <optional>
#include <string_view>

namespace engine {

/// The optimizers training offers. Parsed and printed only at the boundaries (CLI, Lua, files).
enum class Optimizer { adamw, sgd };
/// "adamw", "sgd".
const char* to_string(Optimizer o);
/// The optimizer named `s`, or nullopt.
std::optional<Optimizer> parse_optimizer(std::string_view s);

}  // namespace engine
