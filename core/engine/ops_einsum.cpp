// Lowering of einsum (core/circuit/ops_einsum.cpp): the named equation becomes letters once, and
// all three forms are the framework's own einsum (torch.einsum, ONNX Einsum).
#include "circuit/einsum.h"
#include "engine/detail/lowering.h"
#include "engine/detail/onnx_writer.h"

namespace engine::detail {

namespace {

using Strings = std::vector<std::string>;

// The shape rule has parsed it already: this cannot fail.
std::string letters(const Site& s) { return circuit::parse_einsum(s.s("equation"))->letters(); }

base::Result<Fn> compile_einsum(Compiler&, const Site& s) {
  std::string eq = letters(s);
  return Fn([eq](const Tensors& in, Ctx&) { return Tensors{torch::einsum(eq, in)}; });
}
Strings script_einsum(Script& w, const Site& s, const Strings& in) {
  std::string v = w.fresh(s.node.name), list;
  for (size_t k = 0; k < in.size(); ++k) list += (k ? ", " : "") + in[k];
  w.line(v + " = torch.einsum(\"" + letters(s) + "\", [" + list + "])");
  return {v};
}
Strings onnx_einsum(Onnx& o, const Site& s, const Strings& in) { return o.result(s, o.op("Einsum", in, {attr_s("equation", letters(s))})); }

}  // namespace

void add_einsum_lowerings(std::vector<Lowering>& t) { t.push_back(CIRCUIT_LOWERING(einsum)); }

}  // namespace engine::detail
