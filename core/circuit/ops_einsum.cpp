// einsum over named axes (TECHNIQUES.md §1: linear operations drawn as wires meeting). Its
// equation names each input's axes in order; equal names must have equal sizes; names missing from
// the output are contracted. The diagram draws it as wires joining, not as a box.
#include "einsum.h"
#include "ops_common.h"

#include <algorithm>

namespace circuit::ops {

namespace {

// The size of every equation name, checked for agreement across inputs.
Result<std::vector<std::pair<std::string, Size>>> name_sizes(const OpCall& c, const Einsum& e) {
  if (e.inputs.size() != c.in.size())
    return Error{"the equation has " + std::to_string(e.inputs.size()) + " input term(s) but " + std::to_string(c.in.size()) +
                 " input(s) are connected"};
  std::vector<std::pair<std::string, Size>> sizes;
  std::vector<int> from;  // the input each name's size came from
  for (size_t p = 0; p < c.in.size(); ++p) {
    const TensorType& t = c.in[p];
    const auto& names = e.inputs[p];
    if (names.size() != t.rank())
      return input_error(int(p), "the equation names " + std::to_string(names.size()) + " axes but the input has " +
                                     std::to_string(t.rank()) + ": " + to_string(t));
    for (size_t j = 0; j < names.size(); ++j) {
      auto it = std::find_if(sizes.begin(), sizes.end(), [&](auto& s) { return s.first == names[j]; });
      if (it == sizes.end()) {
        sizes.push_back({names[j], t.axes[j].size}), from.push_back(int(p));
      } else if (!(it->second == t.axes[j].size)) {
        auto text = [](const Size& z) { return z.concrete() ? std::to_string(z.n) : "`" + z.sym + "`"; };
        return input_error(int(p), "equation axis `" + names[j] + "` (the input's `" + t.axes[j].name + "`) has size " +
                                       text(t.axes[j].size) + " but input " + std::to_string(from[size_t(it - sizes.begin())]) +
                                       " gives it " + text(it->second));
      }
    }
  }
  return sizes;
}

Result<Shapes> einsum_shape(const OpCall& c) {
  auto e = parse_einsum(c.s("equation"));
  if (!e) return Error{"attribute `equation`: " + e.error().message};
  auto sizes = name_sizes(c, *e);
  if (!sizes) return sizes.error();
  TensorType o;
  for (auto& n : e->output)
    for (auto& [name, size] : *sizes)
      if (name == n) o.axes.push_back(Axis{n, size});
  return Shapes{o};
}

// One multiply-add per input beyond the first, for every combination of all the names' values.
Cost einsum_cost(const OpCall& c, const Shapes&) {
  auto e = *parse_einsum(c.s("equation"));
  // Held in a local: a range-for over `*name_sizes(...)` would walk a destroyed temporary (the
  // Result's lifetime is not extended through operator*; GCC 14 warns of it).
  const auto sizes = name_sizes(c, e);
  int64_t combos = 1;
  if (sizes)
    for (auto& [name, size] : *sizes) combos *= resolve(size, c.bindings);
  Cost r;
  r.flops = combos * int64_t(std::max<size_t>(c.in.size(), 1));
  return r;
}

}  // namespace

void register_einsum_ops(std::vector<OpDef>& r) {
  OpDef e;
  e.name = "einsum";
  e.category = OpCategory::linear;
  e.doc = "Sum of products over named axes: `q_axes, k_axes -> out_axes`; names missing from the output are contracted.";
  e.attrs = {AttrSpec{"equation", AttrType::String, {}, -1e300, 1e300, {},
                      "input axis names per input (in order, comma-separated) -> output axis names, e.g. "
                      "`batch seq head d, batch seq2 head d -> batch head seq seq2`"}};
  e.min_inputs = 1;
  e.max_inputs = -1;
  e.shape = einsum_shape;
  e.contraction = [](const OpCall& c) { return parse_einsum(c.s("equation")); };
  e.cost = einsum_cost;
  // The contracted axes of each input, by the input's own axis names.
  e.consumes = [](const OpCall& c) {
    std::vector<std::vector<std::string>> r(c.in.size());
    auto eq = parse_einsum(c.s("equation"));
    if (!eq) return r;
    for (size_t p = 0; p < c.in.size() && p < eq->inputs.size(); ++p)
      for (size_t j = 0; j < eq->inputs[p].size() && j < c.in[p].rank(); ++j)
        if (eq->contracted(eq->inputs[p][j])) r[p].push_back(c.in[p].axes[j].name);
    return r;
  };
  r.push_back(std::move(e));
}

}  // namespace circuit::ops
