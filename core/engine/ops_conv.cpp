// Lowerings of the convolution family (core/circuit/ops_conv.cpp): conv2d, dwconv2d and pool2d,
// on [batch, channels, height, width].
#include "engine/detail/lowering.h"
#include "engine/detail/onnx_writer.h"

namespace engine::detail {

namespace {

using at::Tensor;
using base::Result;
using Strings = std::vector<std::string>;

// A convolution's geometry, read once for all three forms. Depthwise: one group per channel.
struct ConvGeometry {
  int64_t in, out, groups, kh, kw, sh, sw, ph, pw, dh, dw;
  explicit ConvGeometry(const Site& s, bool depthwise) {
    in = s.size(1);
    out = depthwise ? in * s.i("multiplier") : s.i("out");
    groups = depthwise ? in : s.i("groups");
    std::tie(kh, kw) = pair_of(s.ints("kernel"), 1);
    std::tie(sh, sw) = pair_of(s.ints("stride"), 1);
    std::tie(ph, pw) = pair_of(s.ints("padding"), 0);
    std::tie(dh, dw) = pair_of(s.ints("dilation"), 1);
  }
};

template <bool Depthwise>
Result<Fn> compile_conv(Compiler& c, const Site& s) {
  ConvGeometry g(s, Depthwise);
  auto conv = c.add(s, torch::nn::Conv2d(torch::nn::Conv2dOptions(g.in, g.out, {g.kh, g.kw})
                                             .stride({g.sh, g.sw}).padding({g.ph, g.pw}).dilation({g.dh, g.dw})
                                             .groups(g.groups).bias(s.b("bias"))));
  return unary([conv](const Tensor& x) { return conv->forward(x); });
}
template <bool Depthwise>
Strings script_conv(Script& w, const Site& s, const Strings& in) {
  ConvGeometry g(s, Depthwise);
  std::string v = w.fresh(s.node.name);
  w.line(v + " = torch.conv2d(" + in[0] + ", " + w.self("weight") + ", " + (s.b("bias") ? w.self("bias") : "None") + ", " +
         ts_list({g.sh, g.sw}) + ", " + ts_list({g.ph, g.pw}) + ", " + ts_list({g.dh, g.dw}) + ", " + std::to_string(g.groups) + ")");
  return {v};
}
template <bool Depthwise>
Strings onnx_conv(Onnx& o, const Site& s, const Strings& in) {
  ConvGeometry g(s, Depthwise);
  std::vector<std::string> args{in[0], o.weight("weight")};
  if (s.b("bias")) args.push_back(o.weight("bias"));
  return o.result(s, o.op("Conv", args,
                          {attr_ints("kernel_shape", {g.kh, g.kw}), attr_ints("strides", {g.sh, g.sw}),
                           attr_ints("pads", {g.ph, g.pw, g.ph, g.pw}), attr_ints("dilations", {g.dh, g.dw}), attr_i("group", g.groups)}));
}

// Pooling windows: the stride defaults to the kernel.
struct PoolGeometry {
  int64_t kh, kw, sh, sw, ph, pw;
  explicit PoolGeometry(const Site& s) {
    std::tie(kh, kw) = pair_of(s.ints("kernel"), 1);
    std::tie(sh, sw) = pair_of(s.ints("stride"), 0);
    if (sh == 0) sh = kh, sw = kw;
    std::tie(ph, pw) = pair_of(s.ints("padding"), 0);
  }
};

Result<Fn> compile_pool(Compiler&, const Site& s) {
  std::string mode = s.s("mode");
  PoolGeometry g(s);
  return unary([=](const Tensor& x) {
    if (mode == "global_avg") return x.mean({2, 3});
    if (mode == "global_max") return x.amax({2, 3});
    if (mode == "avg") return torch::avg_pool2d(x, {g.kh, g.kw}, {g.sh, g.sw}, {g.ph, g.pw});
    return torch::max_pool2d(x, {g.kh, g.kw}, {g.sh, g.sw}, {g.ph, g.pw});
  });
}
Strings script_pool(Script& w, const Site& s, const Strings& in) {
  const std::string& mode = s.s("mode");
  const std::string& x = in[0];
  PoolGeometry g(s);
  std::string v = w.fresh(s.node.name);
  if (mode == "global_avg") w.line(v + " = " + x + ".mean([2, 3])");
  else if (mode == "global_max") w.line(v + " = " + x + ".amax([2, 3])");
  else
    w.line(v + " = torch." + (mode == "avg" ? "avg_pool2d(" : "max_pool2d(") + x + ", " + ts_list({g.kh, g.kw}) + ", " +
           ts_list({g.sh, g.sw}) + ", " + ts_list({g.ph, g.pw}) + ")");
  return {v};
}
Strings onnx_pool(Onnx& o, const Site& s, const Strings& in) {
  const std::string& mode = s.s("mode");
  const std::string& x = in[0];
  PoolGeometry g(s);
  std::vector<Proto> window{attr_ints("kernel_shape", {g.kh, g.kw}), attr_ints("strides", {g.sh, g.sw}),
                            attr_ints("pads", {g.ph, g.pw, g.ph, g.pw})};
  if (mode == "global_avg") return o.result(s, o.op("ReduceMean", {x}, {attr_ints("axes", {2, 3}), attr_i("keepdims", 0)}));
  if (mode == "global_max") return o.result(s, o.op("ReduceMax", {x}, {attr_ints("axes", {2, 3}), attr_i("keepdims", 0)}));
  if (mode == "avg") {
    window.push_back(attr_i("count_include_pad", 1));  // PyTorch's avg_pool2d default
    return o.result(s, o.op("AveragePool", {x}, std::move(window)));
  }
  return o.result(s, o.op("MaxPool", {x}, std::move(window)));
}

}  // namespace

void add_conv_lowerings(std::vector<Lowering>& t) {
  t.push_back({.op = "conv2d", .compile = compile_conv<false>, .torchscript = script_conv<false>, .onnx = onnx_conv<false>});
  t.push_back({.op = "dwconv2d", .compile = compile_conv<true>, .torchscript = script_conv<true>, .onnx = onnx_conv<true>});
  t.push_back({.op = "pool2d", .compile = compile_pool, .torchscript = script_pool, .onnx = onnx_pool});
}

}  // namespace engine::detail
