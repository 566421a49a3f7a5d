// Extending an op's enum attribute at run time: router plugins add their names to the `moe`
// node's `router` choices this way, so a circuit can select a Lua router by name and every
// check that reads the schema (file loading, edits, `circuit ops`) accepts it.
#pragma once
#include <string>
#include <string_view>

#include "base_names.h"

namespace circuit {

/// Adds `choice` to the choices of enum attribute `attr` of op `op` (no-op if present). Call it
/// before loading or analysing circuits that use the choice; it is not synchronised with
/// concurrent readers of the schema.
Status add_attr_choice(std::string_view op, std::string_view attr, const std::string& choice);

}  // namespace circuit
