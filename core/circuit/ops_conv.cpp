// Image ops over [batch, channels, height, width]: conv2d, depthwise conv2d, pooling.
#include "ops_common.h"

namespace circuit::ops {

namespace {

struct Pair {
  int64_t h, w;
};

Result<Pair> pair_attr(const OpCall& c, const char* name, int64_t if_empty) {
  const auto& v = c.ints(name);
  if (v.empty()) return Pair{if_empty, if_empty};
  if (v.size() == 1) return Pair{v[0], v[0]};
  if (v.size() == 2) return Pair{v[0], v[1]};
  return Error{"attribute `" + std::string(name) + "` takes 1 or 2 integers (height, width), got " + std::to_string(v.size())};
}

// Output geometry of a 2-D window op; shared by conv and pooling.
struct Window {
  int64_t c, h, w;     // input channels and spatial size
  Pair k, s, p, d;
  int64_t oh, ow;
};

Result<Window> window(const OpCall& c, const char* what, bool has_dilation, int64_t stride_default) {
  const auto& t = c.in[0];
  if (t.rank() != 4) return input_error(0, std::string(what) + " expects [batch, channels, height, width], got " + to_string(t));
  Window w{};
  for (int j = 1; j < 4; ++j)
    if (auto n = concrete(0, t.axes[size_t(j)], what); !n) return n.error();
  w.c = t.axes[1].size.n, w.h = t.axes[2].size.n, w.w = t.axes[3].size.n;
  auto k = pair_attr(c, "kernel", 1);
  if (!k) return k.error();
  auto s = pair_attr(c, "stride", stride_default ? stride_default : 0);
  if (!s) return s.error();
  auto p = pair_attr(c, "padding", 0);
  if (!p) return p.error();
  Pair d{1, 1};
  if (has_dilation) {
    auto dd = pair_attr(c, "dilation", 1);
    if (!dd) return dd.error();
    d = *dd;
  }
  w.k = *k, w.s = *s, w.p = *p, w.d = d;
  if (w.s.h == 0) w.s = w.k;  // pooling: stride defaults to the kernel
  w.oh = (w.h + 2 * w.p.h - w.d.h * (w.k.h - 1) - 1) / w.s.h + 1;
  w.ow = (w.w + 2 * w.p.w - w.d.w * (w.k.w - 1) - 1) / w.s.w + 1;
  if (w.oh < 1 || w.ow < 1 || w.h + 2 * w.p.h < w.d.h * (w.k.h - 1) + 1 || w.w + 2 * w.p.w < w.d.w * (w.k.w - 1) + 1)
    return input_error(0, "spatial size " + std::to_string(w.h) + "x" + std::to_string(w.w) + " is too small for a " +
                              std::to_string(w.k.h) + "x" + std::to_string(w.k.w) + " kernel with this padding and dilation");
  return w;
}

TensorType window_out(const TensorType& in, const Window& w, Axis channels) {
  TensorType t = in;
  t.axes[1] = std::move(channels);
  t.axes[2].size = Size::of(w.oh);
  t.axes[3].size = Size::of(w.ow);
  return t;
}

std::vector<std::vector<std::string>> image_axes(const OpCall& c) {
  const auto& t = c.in[0];
  return {{t.axes[1].name, t.axes[2].name, t.axes[3].name}};
}

// Convolution with `out` channels in `groups` groups; the depthwise op is groups = channels.
Result<Shapes> conv_shape(const OpCall& c, int64_t out, int64_t groups) {
  auto w = window(c, c.def.name.c_str(), true, 1);
  if (!w) return w.error();
  if (w->c % groups || out % groups)
    return Error{"groups=" + std::to_string(groups) + " must divide both the input channels (" + std::to_string(w->c) +
                 ") and the output channels (" + std::to_string(out) + ")"};
  const std::string& name = c.s("out_axis");
  return Shapes{window_out(c.in[0], *w, Axis{name.empty() ? c.in[0].axes[1].name : name, Size::of(out)})};
}

Cost conv_cost(const OpCall& c, const Shapes& out, int64_t groups) {
  const auto& t = c.in[0];
  const auto& o = out[0];
  int64_t cin = t.axes[1].size.n / groups, cout = o.axes[1].size.n;
  auto k = *pair_attr(c, "kernel", 1);
  int64_t positions = numel(o, c.bindings) / cout;
  bool bias = c.b("bias");
  Cost r;
  r.params = r.active_params = cout * cin * k.h * k.w + (bias ? cout : 0);
  r.flops = 2 * positions * cout * cin * k.h * k.w + (bias ? positions * cout : 0);
  return r;
}

std::vector<AttrSpec> window_attrs(bool conv) {
  std::vector<AttrSpec> a = {ints_attr("kernel", {3}, 1, "kernel size: [k] or [kh, kw]"),
                             ints_attr("stride", {1}, 1, "stride: [s] or [sh, sw]"),
                             ints_attr("padding", {0}, 0, "zero padding: [p] or [ph, pw]")};
  if (conv) {
    a.push_back(ints_attr("dilation", {1}, 1, "dilation: [d] or [dh, dw]"));
    a.push_back(bool_attr("bias", true, "learned bias"));
    a.push_back(string_attr("out_axis", "", "name of the output channel axis (default: the input's)"));
  }
  return a;
}

// " /2" for a stride above 1.
std::string stride_text(const OpCall& c) {
  auto st = c.ints("stride");
  return !st.empty() && st[0] > 1 ? " /" + std::to_string(st[0]) : "";
}

}  // namespace

void register_conv_ops(std::vector<OpDef>& r) {
  OpDef cv;
  cv.name = "conv2d";
  cv.category = OpCategory::conv;
  cv.doc = "2-D convolution over [batch, channels, height, width].";
  cv.attrs = window_attrs(true);
  cv.attrs.insert(cv.attrs.begin(), int_attr("out", {}, 1, 1e9, "output channels"));
  cv.attrs.push_back(int_attr("groups", 1, 1, 1e9, "channel groups"));
  cv.learned = true;
  cv.shape = [](const OpCall& c) { return conv_shape(c, c.i("out"), c.i("groups")); };
  cv.cost = [](const OpCall& c, const Shapes& out) { return conv_cost(c, out, c.i("groups")); };
  cv.summary = [](const OpCall& c) { return "conv " + kernel_text(c.ints("kernel")) + stride_text(c); };
  cv.consumes = image_axes;
  r.push_back(std::move(cv));

  OpDef dw;
  dw.name = "dwconv2d";
  dw.category = OpCategory::conv;
  dw.doc = "Depthwise 2-D convolution: each channel convolved on its own (groups = channels).";
  dw.attrs = window_attrs(true);
  dw.attrs.push_back(int_attr("multiplier", 1, 1, 1e6, "output channels per input channel"));
  dw.learned = true;
  auto channels = [](const OpCall& c) { return c.in[0].rank() == 4 && c.in[0].axes[1].size.concrete() ? c.in[0].axes[1].size.n : 1; };
  dw.shape = [channels](const OpCall& c) { return conv_shape(c, channels(c) * c.i("multiplier"), channels(c)); };
  dw.cost = [channels](const OpCall& c, const Shapes& out) { return conv_cost(c, out, channels(c)); };
  dw.summary = [](const OpCall& c) { return "dw conv " + kernel_text(c.ints("kernel")) + stride_text(c); };
  dw.consumes = [](const OpCall& c) -> std::vector<std::vector<std::string>> {
    return {{c.in[0].axes[2].name, c.in[0].axes[3].name}};  // channels are mapped over
  };
  r.push_back(std::move(dw));

  OpDef pl;
  pl.name = "pool2d";
  pl.category = OpCategory::conv;
  pl.doc = "Max or average pooling over height and width; global modes remove both axes.";
  pl.attrs = {enum_attr("mode", "max", {"max", "avg", "global_avg", "global_max"}, "pooling kind"),
              ints_attr("kernel", {2}, 1, "window: [k] or [kh, kw]"),
              ints_attr("stride", {}, 1, "stride (default: the kernel)"),
              ints_attr("padding", {0}, 0, "padding: [p] or [ph, pw]")};
  pl.shape = [](const OpCall& c) -> Result<Shapes> {
    const auto& t = c.in[0];
    if (c.s("mode").rfind("global", 0) == 0) {
      if (t.rank() != 4) return input_error(0, "global pooling expects [batch, channels, height, width], got " + to_string(t));
      TensorType o = t;
      o.axes.resize(2);
      return Shapes{o};
    }
    auto w = window(c, "pool2d", false, 0);
    if (!w) return w.error();
    return Shapes{window_out(t, *w, t.axes[1])};
  };
  pl.summary = [](const OpCall& c) { return c.s("mode") + " pool " + kernel_text(c.ints("kernel")); };
  pl.cost = [](const OpCall& c, const Shapes& out) {
    if (c.s("mode").rfind("global", 0) == 0) return elementwise_cost(c, {c.in[0]}, 1);
    auto k = *pair_attr(c, "kernel", 1);
    return elementwise_cost(c, out, k.h * k.w);
  };
  pl.consumes = [](const OpCall& c) -> std::vector<std::vector<std::string>> {
    return {{c.in[0].axes[2].name, c.in[0].axes[3].name}};
  };
  r.push_back(std::move(pl));
}

}  // namespace circuit::ops
