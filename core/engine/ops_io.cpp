// Lowerings of the IO family (core/circuit/ops_io.cpp): graph inputs and blocks.
#include "engine/detail/lowering.h"
#include "engine/detail/onnx_writer.h"

namespace engine::detail {

namespace {

// A block is its body, inlined: its parameters live under the block's name.
base::Result<Fn> compile_block(Compiler& c, const Site& s) {
  auto sub = c.body(s);
  if (!sub) return sub.error();
  auto m = c.add(s, *sub);
  return Fn([m](const Tensors& a, Ctx& ctx) { return m->forward(a, ctx); });
}

std::vector<std::string> script_block(Script& w, const Site& s, const std::vector<std::string>& in) {
  return w.graph(*s.node.body, *s.info.body, in, w.P, w.ind);
}

std::vector<std::string> onnx_block(Onnx& o, const Site& s, const std::vector<std::string>& in) {
  return o.graph(*s.node.body, *s.info.body, in, o.here() + "/", o.prefix());
}

}  // namespace

void add_io_lowerings(std::vector<Lowering>& t) {
  t.insert(t.end(), {Lowering{.op = "input", .graph_input = true}, CIRCUIT_LOWERING(block)});
}

}  // namespace engine::detail
