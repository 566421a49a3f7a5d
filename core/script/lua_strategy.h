// Lua `strategy` plugins behind search::Strategy (ask/tell), selectable by name in a search:
//
//   { kind = "strategy", name = "...", description = "...",
//     ask = function(ctx) return { 0-based choice per dimension } end,
//     tell = function(trial, ctx) end }
//
// ctx holds `dims` ({name, size} per dimension), `objectives` ({metric, direction}),
// `constraints` ({metric, min, max}), `seed`,
// `state` (a table the plugin keeps), and `random(n)`: an integer in [0, n) from the search's
// seeded stream, so a Lua strategy repeats exactly like the built-in ones. A trial is
// {number, point, ok, metrics}. Duplicates and points the problem rejects (invalid circuit,
// constraint on params) are refused before training, and ask is called again.
#pragma once
#include <string>
#include <vector>

#include "host.h"

namespace script {

/// Makes every strategy plugin `host` has loaded available to search::make_strategy on this
/// thread. Returns their names.
std::vector<std::string> register_lua_strategies(Host& host);

}  // namespace script
