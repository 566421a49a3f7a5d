#include <unordered_map>

#include "base/enum_names.h"
#include "op_choices.h"
#include "ops_common.h"

namespace circuit {

namespace {
struct Registry {
  std::vector<OpDef> defs;
  std::vector<const OpDef*> list;
  std::unordered_map<std::string, const OpDef*> by_name;
  Registry() {
    // Explicit calls rather than static registrars: a static library drops unreferenced
    // translation units, and the order here is the palette order.
    ops::register_io_ops(defs);
    ops::register_dense_ops(defs);
    ops::register_einsum_ops(defs);
    ops::register_conv_ops(defs);
    ops::register_shape_ops(defs);
    ops::register_sequence_ops(defs);
    ops::register_mixer_ops(defs);
    ops::register_moe_ops(defs);
    for (auto& d : defs) {
      list.push_back(&d);
      by_name.emplace(d.name, &d);
    }
  }
};
Registry& registry() {
  static Registry r;
  return r;
}
}  // namespace

Status add_attr_choice(std::string_view op, std::string_view attr, const std::string& choice) {
  auto it = registry().by_name.find(std::string(op));
  if (it == registry().by_name.end()) return Status::fail("no op `" + std::string(op) + "`");
  // by_name holds const pointers into `defs`, which this file owns and never reallocates.
  OpDef& def = *const_cast<OpDef*>(it->second);
  for (auto& a : def.attrs)
    if (a.name == attr) {
      if (a.type != AttrType::Enum) return Status::fail("attribute `" + a.name + "` of op `" + def.name + "` is not a choice");
      for (auto& c : a.choices)
        if (c == choice) return {};
      a.choices.push_back(choice);
      return {};
    }
  return Status::fail("op `" + def.name + "` has no attribute `" + std::string(attr) + "`");
}

const char* to_string(OpCategory c) {
  static constexpr const char* names[] = {"io", "linear", "combine", "conv", "norm", "activation", "shape", "sequence", "moe", "block", "exit"};
  return base::enum_name(names, c);
}

const char* to_string(Elementwise f) {
  static constexpr const char* names[] = {"", "relu", "gelu", "silu"};
  return base::enum_name(names, f);
}

const OpDef* find_op(std::string_view name) {
  auto& r = registry();
  auto it = r.by_name.find(std::string(name));
  return it == r.by_name.end() ? nullptr : it->second;
}

const std::vector<const OpDef*>& all_ops() { return registry().list; }

const AttrSpec* OpDef::find_attr(std::string_view n) const {
  for (auto& a : attrs)
    if (a.name == n) return &a;
  return nullptr;
}

const AttrValue& OpCall::attr(std::string_view name) const {
  if (auto it = node.attrs.find(std::string(name)); it != node.attrs.end()) return it->second;
  const AttrSpec* s = def.find_attr(name);
  // Reaching here without a default means an op rule reads an attribute its schema lacks: a bug
  // in the op definition, not a user error.
  if (!s || !s->default_value) throw std::logic_error("op `" + def.name + "` reads undeclared attribute `" + std::string(name) + "`");
  return *s->default_value;
}

double OpCall::f(std::string_view name) const {
  const AttrValue& v = attr(name);
  if (auto* i = std::get_if<int64_t>(&v)) return double(*i);
  return std::get<double>(v);
}

Error input_error(int port, const std::string& msg) { return Error{"input " + std::to_string(port) + ": " + msg}; }

Result<bool> expect_axis(int port, const Axis& want, const Axis& got) {
  if (want == got) return true;
  return input_error(port, "expected axis `" + want.name + "`=" + to_string(want.size) + ", got `" + got.name + "`=" + to_string(got.size));
}

Result<bool> expect_type(int port, const TensorType& want, const TensorType& got) {
  if (want.rank() != got.rank())
    return input_error(port, "expected " + to_string(want) + " (" + std::to_string(want.rank()) + " axes), got " + to_string(got));
  for (size_t k = 0; k < want.rank(); ++k)
    if (auto r = expect_axis(port, want.axes[k], got.axes[k]); !r) return r;
  if (want.dtype != got.dtype)
    return input_error(port, std::string("expected a ") + dtype_name(want.dtype) + " tensor, got " + dtype_name(got.dtype));
  return true;
}

namespace ops {

std::string kernel_text(const std::vector<int64_t>& k) {
  if (k.empty()) return "";
  int64_t h = k[0], w = k.size() > 1 ? k[1] : k[0];
  return std::to_string(h) + "×" + std::to_string(w);
}

Result<int> pick_axis(int port, const TensorType& t, const std::string& name, int fallback) {
  if (!name.empty()) {
    int k = t.find(name);
    if (k < 0) return input_error(port, "has no axis `" + name + "` (axes: " + to_string(t) + ")");
    return k;
  }
  int k = fallback < 0 ? int(t.rank()) + fallback : fallback;
  if (k < 0 || k >= int(t.rank())) return input_error(port, "has too few axes: " + to_string(t));
  return k;
}

Result<int64_t> concrete(int port, const Axis& a, const std::string& what) {
  if (a.size.concrete()) return a.size.n;
  return input_error(port, "axis `" + a.name + "` has symbolic size `" + a.size.sym + "`, but " + what + " needs a concrete size");
}

Cost elementwise_cost(const OpCall& c, const Shapes& out, int64_t per_element) {
  Cost k;
  for (auto& t : out) k.flops += per_element * numel(t, c.bindings);
  return k;
}

}  // namespace ops
}  // namespace circuit
