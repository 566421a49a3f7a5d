// Lowerings of the shape family (core/circuit/ops_shape.cpp): flatten, reshape, transpose,
// concat and split. Named axes become dimension indices here; symbolic sizes are read at run time.
#include "engine/detail/lowering.h"
#include "engine/detail/onnx_writer.h"

namespace engine::detail {

namespace {

using at::Tensor;
using base::Result;
using Strings = std::vector<std::string>;

// ---- flatten: the named run of axes (default: all but the first) becomes one

std::pair<int64_t, int64_t> flatten_range(const Site& s) {
  const auto& names = s.strs("axes");
  int64_t first = names.empty() ? 1 : s.t().find(names[0]);
  int64_t last = names.empty() ? s.rank() - 1 : first + int64_t(names.size()) - 1;
  return {first, last};
}
Result<Fn> compile_flatten(Compiler&, const Site& s) {
  auto [first, last] = flatten_range(s);
  return unary([first, last](const Tensor& x) { return x.flatten(first, last); });
}
Strings script_flatten(Script& w, const Site& s, const Strings& in) {
  auto [first, last] = flatten_range(s);
  std::string v = w.fresh(s.node.name);
  w.line(v + " = torch.flatten(" + in[0] + ", " + std::to_string(first) + ", " + std::to_string(last) + ")");
  return {v};
}
Strings onnx_flatten(Onnx& o, const Site& s, const Strings& in) {
  auto [first, last] = flatten_range(s);
  int64_t rank = s.rank();
  if (first == 1 && last == rank - 1) return o.result(s, o.op("Flatten", {in[0]}, {attr_i("axis", 1)}));
  std::vector<Extent> target;
  for (int64_t j = 0; j < first; ++j) target.push_back(Extent::of(j, true));
  target.push_back(Extent::fixed(s.out()[0].axes[size_t(first)].size.n));
  for (int64_t j = last + 1; j < rank; ++j) target.push_back(Extent::of(j, first == last));
  return o.result(s, o.reshape(in[0], in[0], s.t(), target));
}

// ---- reshape: concrete sizes come from the output type, symbolic ones from the matching input
// dimension (the n-th symbolic output axis is the n-th symbolic input axis)

std::vector<int64_t> symbolic_dims(const Site& s) {
  std::vector<int64_t> sym;
  for (int64_t j = 0; j < s.rank(); ++j)
    if (!s.t().axes[size_t(j)].size.concrete()) sym.push_back(j);
  return sym;
}
Result<Fn> compile_reshape(Compiler&, const Site& s) {
  std::vector<int64_t> sym_dims = symbolic_dims(s), fixed;
  for (auto& a : s.out()[0].axes) fixed.push_back(a.size.concrete() ? a.size.n : -1);
  return unary([fixed, sym_dims](const Tensor& x) {
    std::vector<int64_t> sizes = fixed;
    size_t k = 0;
    for (auto& v : sizes)
      if (v < 0) v = x.size(sym_dims[k++]);
    return x.reshape(sizes);
  });
}
Strings script_reshape(Script& w, const Site& s, const Strings& in) {
  std::vector<int64_t> sym = symbolic_dims(s);
  const std::string& x = in[0];
  std::string v = w.fresh(s.node.name), sizes = "[";
  size_t k = 0;
  for (size_t j = 0; j < s.out()[0].rank(); ++j) {
    const auto& ax = s.out()[0].axes[j];
    sizes += (j ? ", " : "") + (ax.size.concrete() ? std::to_string(ax.size.n) : x + ".size(" + std::to_string(sym[k++]) + ")");
  }
  w.line(v + " = " + x + ".reshape(" + sizes + "])");
  return {v};
}
Strings onnx_reshape(Onnx& o, const Site& s, const Strings& in) {
  std::vector<int64_t> sym = symbolic_dims(s);
  std::vector<Extent> target;
  size_t k = 0;
  for (auto& a : s.out()[0].axes) {
    if (a.size.concrete()) target.push_back(Extent::fixed(a.size.n));
    else target.push_back(Extent::of(sym[k], sym[k] == int64_t(target.size()))), ++k;
  }
  return o.result(s, o.reshape(in[0], in[0], s.t(), target));
}

// ---- transpose: axes by name, in the new order

Result<Fn> compile_transpose(Compiler&, const Site& s) {
  std::vector<int64_t> perm = s.dims_of("order");
  return unary([perm](const Tensor& x) { return x.permute(perm); });
}
Strings script_transpose(Script& w, const Site& s, const Strings& in) {
  std::string v = w.fresh(s.node.name);
  w.line(v + " = " + in[0] + ".permute(" + ts_list(s.dims_of("order")) + ")");
  return {v};
}
Strings onnx_transpose(Onnx& o, const Site& s, const Strings& in) { return o.result(s, o.transpose(in[0], s.dims_of("order"))); }

// ---- concat and split along one axis (default: the first)

Result<Fn> compile_concat(Compiler&, const Site& s) {
  int64_t d = s.dim(s.s("axis"), 0);
  return Fn([d](const Tensors& a, Ctx&) { return Tensors{torch::cat(a, d)}; });
}
Strings script_concat(Script& w, const Site& s, const Strings& in) {
  std::string v = w.fresh(s.node.name), l;
  for (size_t k = 0; k < in.size(); ++k) l += (k ? ", " : "") + in[k];
  w.line(v + " = torch.cat([" + l + "], " + std::to_string(s.dim(s.s("axis"), 0)) + ")");
  return {v};
}
Strings onnx_concat(Onnx& o, const Site& s, const Strings& in) {
  return o.result(s, o.op("Concat", in, {attr_i("axis", s.dim(s.s("axis"), 0))}));
}

Result<Fn> compile_split(Compiler&, const Site& s) {
  int64_t d = s.dim(s.s("axis"), 0);
  std::vector<int64_t> sizes = s.ints("sizes");
  return Fn([d, sizes](const Tensors& a, Ctx&) { return a[0].split_with_sizes(sizes, d); });
}
Strings script_split(Script& w, const Site& s, const Strings& in) {
  std::string v = w.fresh(s.node.name);
  w.line(v + " = torch.split_with_sizes(" + in[0] + ", " + ts_list(s.ints("sizes")) + ", " + std::to_string(s.dim(s.s("axis"), 0)) + ")");
  std::vector<std::string> outs;
  for (size_t k = 0; k < s.ints("sizes").size(); ++k) outs.push_back(v + "[" + std::to_string(k) + "]");
  return outs;
}
Strings onnx_split(Onnx& o, const Site& s, const Strings& in) {
  std::vector<std::string> names;
  for (size_t k = 0; k < s.ints("sizes").size(); ++k) names.push_back(o.here() + ":" + std::to_string(k));
  auto outs = o.node("Split", {in[0], o.ints(s.ints("sizes"))}, names, {attr_i("axis", s.dim(s.s("axis"), 0))});
  for (size_t k = 0; k < outs.size(); ++k) o.declare(outs[k], s.out()[k]);
  return outs;
}

}  // namespace

void add_shape_lowerings(std::vector<Lowering>& t) {
  t.insert(t.end(), {CIRCUIT_LOWERING(flatten), CIRCUIT_LOWERING(reshape), CIRCUIT_LOWERING(transpose), CIRCUIT_LOWERING(concat),
                     CIRCUIT_LOWERING(split)});
}

}  // namespace engine::detail
