// Ops that only move data: flatten, reshape, transpose, concat, split. All cost 0 FLOPs; the
// diagram draws them as wires regrouping or crossing, not as boxes.
#include <set>

#include "ops_common.h"

namespace circuit::ops {

static Cost free_op(const OpCall&, const Shapes&) { return {}; }

static Result<Shapes> flatten_shape(const OpCall& c) {
  const auto& t = c.in[0];
  std::vector<std::string> names = c.strs("axes");
  if (names.empty())
    for (size_t j = 1; j < t.rank(); ++j) names.push_back(t.axes[j].name);
  if (names.empty()) return input_error(0, "nothing to flatten in " + to_string(t));
  int first = t.find(names[0]);
  if (first < 0) return input_error(0, "has no axis `" + names[0] + "` (axes: " + to_string(t) + ")");
  int64_t n = 1;
  for (size_t j = 0; j < names.size(); ++j) {
    int k = t.find(names[j]);
    if (k < 0) return input_error(0, "has no axis `" + names[j] + "` (axes: " + to_string(t) + ")");
    if (k != first + int(j))
      return Error{"attribute `axes`: the flattened axes must be adjacent and in input order; `" + names[j] + "` is not"};
    auto s = concrete(0, t.axes[size_t(k)], "flatten");
    if (!s) return s.error();
    n *= *s;
  }
  TensorType o = t;
  o.axes.erase(o.axes.begin() + first, o.axes.begin() + first + int(names.size()));
  o.axes.insert(o.axes.begin() + first, Axis{c.s("name"), Size::of(n)});
  return Shapes{o};
}

// Reshape keeps memory order, so symbolic axes act as fixed separators: the concrete axes
// between two symbolic ones must hold the same number of elements before and after.
static Result<Shapes> reshape_shape(const OpCall& c) {
  const auto& t = c.in[0];
  TensorType o;
  o.dtype = t.dtype;
  int infer = -1;
  for (auto spec : c.strs("shape")) {
    bool q = spec.size() > 2 && spec.compare(spec.size() - 2, 2, ":?") == 0;
    if (q) {
      if (infer >= 0) return Error{"attribute `shape`: only one axis may have size `?`"};
      infer = int(o.axes.size());
      spec.replace(spec.size() - 1, 1, "1");
    }
    auto a = parse_axis(spec);
    if (!a) return Error{"attribute `shape`: " + a.error().message};
    if (o.find(a->name) >= 0) return Error{"attribute `shape`: axis `" + a->name + "` appears twice"};
    o.axes.push_back(*a);
  }
  auto segments = [](const TensorType& x) {
    std::vector<std::pair<std::string, int64_t>> segs{{"", 1}};  // (symbol closing the segment, product)
    for (auto& a : x.axes) {
      if (a.size.concrete()) segs.back().second *= a.size.n;
      else {
        segs.back().first = a.size.sym;
        segs.push_back({"", 1});
      }
    }
    return segs;
  };
  auto si = segments(t), so = segments(o);
  if (si.size() != so.size())
    return Error{"attribute `shape`: a reshape cannot add, drop or merge symbolic axes (input " + to_string(t) + ")"};
  for (size_t j = 0; j < si.size(); ++j) {
    if (si[j].first != so[j].first)
      return Error{"attribute `shape`: symbolic axes must stay in order; expected `" + si[j].first + "`, got `" + so[j].first + "`"};
    bool has_infer = false;
    int pos = 0;
    for (size_t k = 0, seg = 0; k < o.axes.size(); ++k) {
      if (int(k) == infer && seg == j) has_infer = true, pos = int(k);
      if (!o.axes[k].size.concrete()) ++seg;
    }
    if (has_infer) {
      if (si[j].second % so[j].second)
        return Error{"attribute `shape`: cannot infer `" + o.axes[size_t(pos)].name + "`: " + std::to_string(si[j].second) +
                     " elements do not divide by " + std::to_string(so[j].second)};
      o.axes[size_t(pos)].size.n = si[j].second / so[j].second;
    } else if (si[j].second != so[j].second) {
      return Error{"attribute `shape`: element count differs: input " + to_string(t) + " vs " + to_string(o)};
    }
  }
  return Shapes{o};
}

static Result<Shapes> transpose_shape(const OpCall& c) {
  const auto& t = c.in[0];
  const auto& order = c.strs("order");
  TensorType o;
  o.dtype = t.dtype;
  for (auto& n : order) {
    int k = t.find(n);
    if (k < 0) return input_error(0, "has no axis `" + n + "` (axes: " + to_string(t) + ")");
    if (o.find(n) >= 0) return Error{"attribute `order`: axis `" + n + "` appears twice"};
    o.axes.push_back(t.axes[size_t(k)]);
  }
  if (o.rank() != t.rank())
    for (auto& a : t.axes)
      if (o.find(a.name) < 0) return Error{"attribute `order`: axis `" + a.name + "` of the input is missing"};
  return Shapes{o};
}

static Result<Shapes> concat_shape(const OpCall& c) {
  auto k0 = pick_axis(0, c.in[0], c.s("axis"), 0);
  if (!k0) return k0.error();
  const std::string axis = c.in[0].axes[size_t(*k0)].name;
  TensorType o = c.in[0];
  int64_t total = 0;
  for (size_t p = 0; p < c.in.size(); ++p) {
    const auto& t = c.in[p];
    if (t.rank() != o.rank()) return input_error(int(p), "expected " + std::to_string(o.rank()) + " axes like input 0, got " + to_string(t));
    for (size_t j = 0; j < t.rank(); ++j) {
      if (int(j) == *k0) {
        if (t.axes[j].name != axis) return expect_axis(int(p), Axis{axis, t.axes[j].size}, t.axes[j]).error();
        auto n = concrete(int(p), t.axes[j], "concat");
        if (!n) return n.error();
        total += *n;
      } else if (auto r = expect_axis(int(p), o.axes[j], t.axes[j]); !r) {
        return r.error();
      }
    }
    if (t.dtype != o.dtype) return input_error(int(p), "element type differs from input 0");
  }
  o.axes[size_t(*k0)].size = Size::of(total);
  return Shapes{o};
}

static Result<Shapes> split_shape(const OpCall& c) {
  auto k = pick_axis(0, c.in[0], c.s("axis"), 0);
  if (!k) return k.error();
  auto n = concrete(0, c.in[0].axes[size_t(*k)], "split");
  if (!n) return n.error();
  const auto& sizes = c.ints("sizes");
  if (sizes.empty()) return Error{"attribute `sizes` must list at least one piece size"};
  int64_t sum = 0;
  Shapes out;
  for (auto s : sizes) {
    sum += s;
    TensorType t = c.in[0];
    t.axes[size_t(*k)].size = Size::of(s);
    out.push_back(t);
  }
  if (sum != *n)
    return Error{"attribute `sizes` adds up to " + std::to_string(sum) + " but axis `" + c.in[0].axes[size_t(*k)].name + "` has " + std::to_string(*n)};
  return out;
}

static OpDef shape_op(std::string name, std::string doc, std::vector<AttrSpec> attrs,
                      std::function<Result<Shapes>(const OpCall&)> rule) {
  OpDef d;
  d.name = std::move(name);
  d.category = OpCategory::shape;
  d.doc = std::move(doc);
  d.attrs = std::move(attrs);
  d.float_inputs = false;
  d.shape = std::move(rule);
  d.cost = free_op;
  return d;
}

void register_shape_ops(std::vector<OpDef>& r) {
  r.push_back(shape_op("flatten", "Merges adjacent axes into one.",
                       {strings_attr("axes", std::vector<std::string>{}, "axes to merge, adjacent, in order (default: all but the first)"),
                        string_attr("name", "features", "name of the merged axis")},
                       flatten_shape));
  r.push_back(shape_op("reshape", "Regroups axes without moving data; one size may be `?` (inferred).",
                       {axes_attr("shape", "output axes, e.g. [batch, seq, heads:4, dh:?]")}, reshape_shape));
  r.push_back(shape_op("transpose", "Reorders axes by name.", {strings_attr("order", {}, "every input axis, in the new order")},
                       transpose_shape));
  OpDef cat = shape_op("concat", "Joins inputs along one axis; all other axes must match.",
                       {string_attr("axis", "", "axis to join along (default: axis 0)")}, concat_shape);
  cat.min_inputs = 2;
  cat.max_inputs = -1;
  r.push_back(std::move(cat));
  r.push_back(shape_op("split", "Cuts one axis into pieces of the given sizes; one output per piece.",
                       {string_attr("axis", "", "axis to cut (default: axis 0)"), ints_attr("sizes", {}, 1, "piece sizes")},
                       split_shape));
}

}  // namespace circuit::ops
