// Internal to core/circuit: small builders shared by the op definition files.
#pragma once
#include <optional>

#include "analysis.h"
#include "op.h"

namespace circuit::ops {

inline AttrSpec int_attr(std::string name, std::optional<int64_t> def, double min, double max, std::string doc) {
  AttrSpec s{std::move(name), AttrType::Int, {}, min, max, {}, std::move(doc)};
  if (def) s.default_value = AttrValue(*def);
  return s;
}
inline AttrSpec float_attr(std::string name, double def, double min, double max, std::string doc) {
  return AttrSpec{std::move(name), AttrType::Float, AttrValue(def), min, max, {}, std::move(doc)};
}
inline AttrSpec bool_attr(std::string name, bool def, std::string doc) {
  return AttrSpec{std::move(name), AttrType::Bool, AttrValue(def), -1e300, 1e300, {}, std::move(doc)};
}
inline AttrSpec string_attr(std::string name, std::string def, std::string doc) {
  return AttrSpec{std::move(name), AttrType::String, AttrValue(std::move(def)), -1e300, 1e300, {}, std::move(doc)};
}
inline AttrSpec enum_attr(std::string name, std::string def, std::vector<std::string> choices, std::string doc) {
  return AttrSpec{std::move(name), AttrType::Enum, AttrValue(std::move(def)), -1e300, 1e300, std::move(choices), std::move(doc)};
}
inline AttrSpec ints_attr(std::string name, std::vector<int64_t> def, double min, std::string doc) {
  return AttrSpec{std::move(name), AttrType::Ints, AttrValue(std::move(def)), min, 1e300, {}, std::move(doc)};
}
inline AttrSpec strings_attr(std::string name, std::optional<std::vector<std::string>> def, std::string doc) {
  AttrSpec s{std::move(name), AttrType::Strings, {}, -1e300, 1e300, {}, std::move(doc)};
  if (def) s.default_value = AttrValue(std::move(*def));
  return s;
}
inline AttrSpec axes_attr(std::string name, std::string doc) {
  return AttrSpec{std::move(name), AttrType::Axes, {}, -1e300, 1e300, {}, std::move(doc)};
}

/// The sequence mixers' `seq_axis` attribute.
inline AttrSpec seq_axis_attr() { return string_attr("seq_axis", "", "sequence axis (default: second to last)"); }

/// Index of the axis an op acts on: the named one, or `fallback` (negative counts from the end).
/// Error names the port and lists the axes available.
Result<int> pick_axis(int port, const TensorType& t, const std::string& name, int fallback);
/// "3×3" for a kernel attribute of one or two sizes (box summaries).
std::string kernel_text(const std::vector<int64_t>& k);
/// " · 4 heads", for the summaries of the sequence mixers.
inline std::string heads_text(const OpCall& c) { return " · " + std::to_string(c.i("heads")) + " heads"; }
/// Fails unless the size is concrete; `what` says why the op needs it.
Result<int64_t> concrete(int port, const Axis& a, const std::string& what);
/// Elementwise cost: `per_element` FLOPs for each output element.
Cost elementwise_cost(const OpCall& c, const Shapes& out, int64_t per_element);

/// `t` with its last axis replaced by `features` (an op's part in its own axes: heads, head size).
inline TensorType with_features(const TensorType& t, std::vector<Axis> features) {
  TensorType r = t;
  r.axes.pop_back();
  r.axes.insert(r.axes.end(), features.begin(), features.end());
  return r;
}

/// A sequence op's axes: [..., seq, features], the sequence axis named by attribute `seq_axis`
/// (default: second to last), the features last and concrete (`d`).
struct SeqAxes {
  int seq, feat;
  int64_t d;
};
Result<SeqAxes> seq_axes(const OpCall& c, const char* what);
/// A sequence op's drawing hint: it acts on the sequence and feature axes.
std::vector<std::vector<std::string>> seq_consumes(const OpCall& c);

void register_io_ops(std::vector<OpDef>& r);
void register_dense_ops(std::vector<OpDef>& r);
void register_einsum_ops(std::vector<OpDef>& r);
void register_conv_ops(std::vector<OpDef>& r);
void register_shape_ops(std::vector<OpDef>& r);
void register_sequence_ops(std::vector<OpDef>& r);
void register_mixer_ops(std::vector<OpDef>& r);
void register_moe_ops(std::vector<OpDef>& r);

}  // namespace circuit::ops
