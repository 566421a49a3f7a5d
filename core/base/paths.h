// Where the shipped data lives (examples, search spaces, Lua plugins and scripts), found at run
// time relative to the running binary, never through paths compiled in: an installed tree
// (<prefix>/bin/circuit next to <prefix>/share/circuit-studio) and the build tree (which CMake
// gives a share/circuit-studio of links into the sources) are found the same way.
#pragma once
#include <string>
#include <string_view>

namespace base {

/// The absolute path of the running executable ("" if the system does not say).
std::string executable_path();

/// The data folder: $CIRCUIT_DATA_DIR when set, else the first share/circuit-studio found in the
/// executable's folder or one of its four parents. "" when there is none.
std::string data_dir();

/// `rel` inside the data folder ("examples/mlp.circuit.json"), or "" when there is no data folder.
std::string data_path(std::string_view rel);

}  // namespace base
