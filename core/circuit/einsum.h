// Named-axis einsum equations: "batch seq head d, batch seq2 head d -> batch head seq seq2".
// Each input term names that input's axes in order (a different name renames an axis, so one
// tensor can meet itself: k's `seq` as `seq2`); an output name must appear in some input; input
// names missing from the output are contracted (summed over). The IR, the engine and the diagram
// all read equations through this parser.
#pragma once
#include <string>
#include <vector>

#include "base/result.h"

namespace circuit {

/// A parsed equation: axis names per input term and of the output.
struct Einsum {
  std::vector<std::vector<std::string>> inputs;
  std::vector<std::string> output;

  /// Whether `name` is summed over (in some input, not in the output).
  bool contracted(const std::string& name) const;
  /// The same equation in torch.einsum / ONNX Einsum letters ("abcd,aecd->acbe").
  std::string letters() const;
};

/// Parses an equation; errors say what is wrong and where ("input term 2: axis `d` appears twice").
base::Result<Einsum> parse_einsum(const std::string& equation);

}  // namespace circuit
