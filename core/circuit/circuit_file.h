// The `.circuit.json` format (docs/format.md). Versioned; load errors carry file:line:column and
// what was expected; saves are atomic (temporary file + rename) so a crash never leaves half a file.
#pragma once
#include <string>
#include <string_view>

#include "graph.h"
#include "base_names.h"

namespace circuit {

/// The format version this build writes, and the newest it reads.
inline constexpr int kFormatVersion = 1;

/// Parses a circuit from text. `source` names the text in messages ("mlp.circuit.json").
/// Shape problems are not load errors: a circuit with a mismatch loads, and analysis reports it.
Result<Circuit> parse_circuit(std::string_view text, const std::string& source);
Result<Circuit> load_circuit(const std::string& path);

Json circuit_to_json(const Circuit& c);
std::string circuit_to_text(const Circuit& c);
Status save_circuit(const Circuit& c, const std::string& path);

}  // namespace circuit
