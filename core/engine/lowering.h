// Which engine forms each op has, for the op-completeness test, `circuit ops` and docs. The records
// themselves are private (detail/lowering.h). Torch-free header.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace engine {

/// One op's engine side as the lowering table has it.
struct LoweringInfo {
  bool found = false;        // the op has a record
  bool graph_input = false;  // `input`: bound by the graph walks, nothing to lower
  bool compiles = false;
  bool torchscript = false, onnx = false;
  std::string torchscript_refusal, onnx_refusal;  // why a form is missing ("" when it exists)
};
LoweringInfo lowering_info(std::string_view op);

/// Every registered op whose record is missing or incomplete: "op `x`: no ONNX form and no refusal".
/// A form counts when it exists or is refused with a reason.
std::vector<std::string> lowering_gaps();

}  // namespace engine
