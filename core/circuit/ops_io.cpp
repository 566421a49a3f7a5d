// `input` (a graph's or block's input port) and `block` (a node whose behaviour is a sub-graph).
#include <set>

#include "ops_common.h"

namespace circuit::ops {

static Result<Shapes> input_shape(const OpCall& c) {
  TensorType t;
  auto d = parse_dtype(c.s("dtype"));
  t.dtype = *d;
  std::set<std::string> seen;
  for (auto& spec : c.strs("shape")) {
    auto a = parse_axis(spec);
    if (!a) return Error{"attribute `shape`: " + a.error().message};
    if (!seen.insert(a->name).second) return Error{"attribute `shape`: axis `" + a->name + "` appears twice"};
    if (!a->size.concrete() && !c.bindings.count(a->size.sym))
      return Error{"axis `" + a->name + "` has symbolic size `" + a->size.sym +
                   "` with no value in the circuit's \"symbols\" (add \"" + a->size.sym + "\": N)"};
    t.axes.push_back(*a);
  }
  if (t.axes.empty()) return Error{"attribute `shape` must list at least one axis"};
  return Shapes{t};
}

static Result<Shapes> block_shape(const OpCall& c) {
  const GraphAnalysis& body = *c.body;
  if (body.inputs.size() != c.in.size())
    return Error{"the block has " + std::to_string(body.inputs.size()) + " input port(s) but " + std::to_string(c.in.size()) +
                 " input(s) are connected"};
  for (size_t k = 0; k < c.in.size(); ++k) {
    const auto& want = body.nodes[size_t(body.inputs[k])].outputs[0];
    if (auto r = expect_type(int(k), want, c.in[k]); !r) return r.error();
  }
  if (body.outputs.empty()) return Error{"the block's body declares no outputs"};
  return body.outputs;
}

void register_io_ops(std::vector<OpDef>& r) {
  OpDef in;
  in.name = "input";
  in.category = OpCategory::io;
  in.doc = "A graph (or block) input port with a declared type.";
  in.attrs = {axes_attr("shape", "axes in order, e.g. [batch, pixels:784]; a bare name is a symbolic size"),
              enum_attr("dtype", "f32", {"f32", "i64"}, "element type (i64 for token ids)")};
  in.min_inputs = in.max_inputs = 0;
  in.shape = input_shape;
  r.push_back(std::move(in));

  OpDef b;
  b.name = "block";
  b.category = OpCategory::block;
  b.doc = "A sub-graph used as one node: its `input` nodes are the ports, its outputs the results.";
  b.min_inputs = 0;
  b.max_inputs = -1;
  b.has_body = true;
  b.shape = block_shape;
  b.cost = [](const OpCall& c, const Shapes&) { return c.body->total; };
  r.push_back(std::move(b));
}

}  // namespace circuit::ops
