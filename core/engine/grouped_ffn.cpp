// The FFN experts of an MoE layer as one autograd node (see run_grouped_ffn in moe.h).
//
// Plain experts are linear -> activation -> linear; gated ones (SwiGLU, GEGLU) multiply the
// activation by a second linear map of the input before the last linear.
//
// Why one node: with each expert a chain of LibTorch modules, a small layer spends most of its
// step in framework overhead (about 1,400 ATen calls per forward + backward for 8 experts), and
// padding the experts to one batched product wastes work on the padding and loops over the batch
// in its backward. Here each expert is six matrix products (nine gated) on contiguous slices of
// shared buffers; the weight gradients are computed directly, and experts run in parallel, one intra-op
// thread each, instead of splitting every small product across threads. This file is compiled
// with OpenMP so that at::parallel_for really runs in parallel.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <numeric>

#include "engine/detail/moe.h"

namespace engine {

using at::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

namespace {

enum class Act : int64_t { Relu, Gelu, Silu };

Act activation(circuit::Elementwise f) { return f == circuit::Elementwise::gelu ? Act::Gelu : f == circuit::Elementwise::silu ? Act::Silu : Act::Relu; }

void activate(Act a, Tensor& out, const Tensor& h) {
  if (a == Act::Gelu) at::gelu_out(out, h);
  else if (a == Act::Silu) at::silu_out(out, h);
  else at::relu_out(out, h);
}

// grad_h = d act(h) / dh * grad_a, written in place over grad_a (contiguous, which also keeps
// clear of LibTorch 1.13's GELU backward bug with non-contiguous gradients; see model.cpp).
void activate_backward(Act a, Tensor& grad, const Tensor& h) {
  if (a == Act::Gelu) at::gelu_backward_out(grad, grad, h);
  else if (a == Act::Silu) at::silu_backward_out(grad, grad, h);
  else at::threshold_backward_out(grad, grad, h, 0);
}

// Experts per thread, longest first onto the least-loaded thread: rows are the work.
std::vector<std::vector<int64_t>> share_experts(const std::vector<int64_t>& counts, int64_t threads) {
  std::vector<int64_t> by_size(counts.size());
  std::iota(by_size.begin(), by_size.end(), 0);
  std::stable_sort(by_size.begin(), by_size.end(), [&](int64_t a, int64_t b) { return counts[size_t(a)] > counts[size_t(b)]; });
  std::vector<std::vector<int64_t>> share(size_t(std::max<int64_t>(threads, 1)));
  std::vector<int64_t> load(share.size(), 0);
  for (int64_t e : by_size) {
    if (counts[size_t(e)] == 0) continue;
    size_t t = size_t(std::min_element(load.begin(), load.end()) - load.begin());
    share[t].push_back(e), load[t] += counts[size_t(e)];
  }
  return share;
}

// Calls f(expert) for every expert with rows, each expert on one thread. Inside the parallel
// region ATen and OpenBLAS run single-threaded, which is what small products want.
template <class F>
void for_each_expert(const std::vector<int64_t>& counts, bool parallel, const F& f) {
  auto share = share_experts(counts, parallel ? at::get_num_threads() : 1);
  at::parallel_for(0, int64_t(share.size()), 1, [&](int64_t begin, int64_t end) {
    at::NoGradGuard no_grad;  // worker threads do not inherit the caller's grad mode
    for (int64_t t = begin; t < end; ++t)
      for (int64_t e : share[size_t(t)]) f(e);
  });
}

template <class T>
void add_scaled_row(T* __restrict out, const T* __restrict row, T scale, int64_t d) {  // restrict: -O2 vectorises it
  for (int64_t j = 0; j < d; ++j) out[j] += scale * row[j];
}

// out[n, d] = sum over i of scale[i] * rows[i] (rows[i] without scale), placed at row token[i]:
// index_add_ into zeros, but in parallel (each thread owns a range of output rows and scans every
// assignment; index_add_ runs on one thread, and with k assignments per token two threads cannot
// split the assignments) and with the scaling folded in, which saves a pass and a buffer.
Tensor scatter_rows(int64_t n, const Tensor& token, const Tensor& rows, const Tensor& scale) {
  if (!rows.is_cpu())
    return at::zeros({n, rows.size(1)}, rows.options()).index_add_(0, token, scale.defined() ? rows * scale.unsqueeze(1) : rows);
  Tensor out = at::empty({n, rows.size(1)}, rows.options());
  Tensor tk = token.contiguous(), r = rows.contiguous(), sc = scale.defined() ? scale.contiguous() : Tensor();
  int64_t m = tk.numel(), d = rows.size(1);
  const int64_t* t = tk.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(rows.scalar_type(), "scatter_rows", [&] {
    const scalar_t *src = r.data_ptr<scalar_t>(), *g = sc.defined() ? sc.data_ptr<scalar_t>() : nullptr;
    scalar_t* dst = out.data_ptr<scalar_t>();
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
      std::fill(dst + begin * d, dst + end * d, scalar_t(0));
      for (int64_t i = 0; i < m; ++i)
        if (t[i] >= begin && t[i] < end) add_scaled_row(dst + t[i] * d, src + i * d, g ? g[i] : scalar_t(1), d);
    });
  });
  return out;
}

// The backward of out[token[i]] += gate[i] * y[i] for rows i of one expert: gy[i] = gate[i] *
// grad_out[token[i]] and grad_gate[i] = <grad_out[token[i]], y[i]>, in one pass over the rows
// (as ATen calls: a gather, a product, a sum and a scaling, each a full pass).
void gate_backward(const Tensor& grad_out, const Tensor& token, const Tensor& gate, const Tensor& y, Tensor& gy, Tensor& grad_gate) {
  if (!grad_out.is_cpu() || !grad_out.is_contiguous()) {
    at::index_select_out(gy, grad_out, 0, token);
    at::sum_out(grad_gate, gy * y, 1);
    gy.mul_(gate.unsqueeze(1));
    return;
  }
  int64_t rows = token.numel(), d = y.size(1);
  const int64_t* t = token.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "gate_backward", [&] {
    const scalar_t *go = grad_out.data_ptr<scalar_t>(), *g = gate.data_ptr<scalar_t>(), *yp = y.data_ptr<scalar_t>();
    scalar_t *out = gy.data_ptr<scalar_t>(), *gg = grad_gate.data_ptr<scalar_t>();
    for (int64_t i = 0; i < rows; ++i) {
      const scalar_t* src = go + t[i] * d;
      const scalar_t* yi = yp + i * d;
      scalar_t* o = out + i * d;
      scalar_t dot = 0;
      for (int64_t j = 0; j < d; ++j) dot += src[j] * yi[j], o[j] = g[i] * src[j];
      gg[i] = dot;
    }
  });
}

std::vector<int64_t> starts(const std::vector<int64_t>& counts) {
  std::vector<int64_t> s(counts.size() + 1, 0);
  std::partial_sum(counts.begin(), counts.end(), s.begin() + 1);
  return s;
}

// Inputs: x, gate, token, counts, activation, then the weight lists w1, b1, w2, b2, wu, bu (a bias
// list is empty without biases, wu and bu are empty for plain FFN experts).
struct GroupedFfnFn : torch::autograd::Function<GroupedFfnFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& gate, const Tensor& token, std::vector<int64_t> counts,
                        int64_t act, at::TensorList w1, at::TensorList b1, at::TensorList w2, at::TensorList b2, at::TensorList wu,
                        at::TensorList bu) {
    int64_t rows = token.size(0), d = x.size(1), h = w1[0].size(0);
    bool gated = !wu.empty();
    auto start = starts(counts);
    Act a = Act(act);
    // Everything per row runs inside the parallel region, the gathers included: outside it they
    // were serial and, at a few thousand rows, a sixth of the step.
    auto rows_of = [&](int64_t width) { return at::empty({rows, width}, x.options()); };
    Tensor xs = rows_of(d), pre = rows_of(h), post = rows_of(h), y = rows_of(d);
    Tensor up = gated ? rows_of(h) : Tensor(), activated = gated ? rows_of(h) : Tensor();  // gated: post = act(pre) * up
    for_each_expert(counts, x.is_cpu(), [&](int64_t e) {
      size_t i = size_t(e);
      int64_t s = start[i], c = counts[i];
      Tensor xe = xs.narrow(0, s, c), pe = pre.narrow(0, s, c), ae = post.narrow(0, s, c), ye = y.narrow(0, s, c);
      at::index_select_out(xe, x, 0, token.narrow(0, s, c));
      if (!b1.empty()) at::addmm_out(pe, b1[i], xe, w1[i].t());
      else at::mm_out(pe, xe, w1[i].t());
      if (gated) {
        Tensor ue = up.narrow(0, s, c), acte = activated.narrow(0, s, c);
        if (!bu.empty()) at::addmm_out(ue, bu[i], xe, wu[i].t());
        else at::mm_out(ue, xe, wu[i].t());
        activate(a, acte, pe);
        at::mul_out(ae, acte, ue);
      } else {
        activate(a, ae, pe);
      }
      if (!b2.empty()) at::addmm_out(ye, b2[i], ae, w2[i].t());
      else at::mm_out(ye, ae, w2[i].t());
    });
    std::vector<Tensor> saved = {xs, pre, post, y, gate, token, up, activated};
    for (auto list : {w1, w2, wu}) saved.insert(saved.end(), list.begin(), list.end());
    ctx->save_for_backward(saved);
    ctx->saved_data["counts"] = counts;
    ctx->saved_data["act"] = act;
    ctx->saved_data["n"] = x.size(0);
    ctx->saved_data["b1"] = !b1.empty();
    ctx->saved_data["b2"] = !b2.empty();
    ctx->saved_data["bu"] = !bu.empty();
    return scatter_rows(x.size(0), token, y, gate);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const Tensor &xs = saved[0], &pre = saved[1], &post = saved[2], &y = saved[3], &gate = saved[4], &token = saved[5];
    const Tensor &up = saved[6], &activated = saved[7];
    bool gated = up.defined();
    auto counts = ctx->saved_data["counts"].toIntVector();
    size_t experts = counts.size();
    auto w1 = [&](size_t e) { return saved[8 + e]; };
    auto w2 = [&](size_t e) { return saved[8 + experts + e]; };
    auto wu = [&](size_t e) { return saved[8 + 2 * experts + e]; };
    Act a = Act(ctx->saved_data["act"].toInt());
    bool has_b1 = ctx->saved_data["b1"].toBool(), has_b2 = ctx->saved_data["b2"].toBool(), has_bu = ctx->saved_data["bu"].toBool();
    bool need_x = ctx->needs_input_grad(0);
    auto start = starts(counts);
    int64_t rows = token.size(0), d = y.size(1), h = pre.size(1);

    Tensor grad_out = grads[0].contiguous();
    auto rows_of = [&](int64_t width) { return at::empty({rows, width}, grad_out.options()); };
    Tensor gy = rows_of(d);                            // dL/dy
    Tensor grad_gate = at::empty({rows}, grad_out.options());
    Tensor gh = rows_of(h);                            // dL/d post, then dL/d pre
    Tensor gu = gated ? rows_of(h) : Tensor();         // dL/d up
    Tensor gx = need_x ? rows_of(d) : Tensor();
    std::vector<Tensor> gw1(experts), gb1(experts), gw2(experts), gb2(experts), gwu(experts), gbu(experts);
    for_each_expert(counts, grad_out.is_cpu(), [&](int64_t e) {
      size_t i = size_t(e);
      int64_t s = start[i], c = counts[i];
      Tensor gye = gy.narrow(0, s, c), ghe = gh.narrow(0, s, c), gge = grad_gate.narrow(0, s, c), xe = xs.narrow(0, s, c);
      gate_backward(grad_out, token.narrow(0, s, c), gate.narrow(0, s, c), y.narrow(0, s, c), gye, gge);
      gw2[i] = at::mm(gye.t(), post.narrow(0, s, c));
      if (has_b2) gb2[i] = gye.sum(0);
      at::mm_out(ghe, gye, w2(i));
      if (gated) {
        Tensor gue = gu.narrow(0, s, c);
        at::mul_out(gue, ghe, activated.narrow(0, s, c));
        ghe.mul_(up.narrow(0, s, c));
        gwu[i] = at::mm(gue.t(), xe);
        if (has_bu) gbu[i] = gue.sum(0);
      }
      activate_backward(a, ghe, pre.narrow(0, s, c));
      gw1[i] = at::mm(ghe.t(), xe);
      if (has_b1) gb1[i] = ghe.sum(0);
      if (need_x) {
        Tensor gxe = gx.narrow(0, s, c);
        at::mm_out(gxe, ghe, w1(i));
        if (gated) gxe.addmm_(gu.narrow(0, s, c), wu(i));
      }
    });
    Tensor grad_x = need_x ? scatter_rows(ctx->saved_data["n"].toInt(), token, gx, Tensor()) : Tensor();
    // An expert without rows gets no gradient, as when it is not called at all.
    variable_list out = {grad_x, grad_gate, Tensor(), Tensor(), Tensor()};
    auto append = [&](const std::vector<Tensor>& g, bool present) {
      if (present) out.insert(out.end(), g.begin(), g.end());
    };
    append(gw1, true), append(gb1, has_b1), append(gw2, true), append(gb2, has_b2), append(gwu, gated), append(gbu, has_bu);
    return out;
  }
};

}  // namespace

Tensor run_grouped_ffn(const GroupedFfn& f, const Tensor& x, const Tensor& token, const Tensor& gate, const std::vector<int64_t>& counts) {
  // Experts without biases pass no bias tensors at all: an undefined tensor cannot be an input
  // of a custom autograd node.
  auto biases = [](const std::vector<Tensor>& b) { return b.empty() || !b[0].defined() ? at::TensorList() : at::TensorList(b); };
  return GroupedFfnFn::apply(x, gate, token, counts, int64_t(activation(f.activation)), at::TensorList(f.w1), biases(f.b1),
                             at::TensorList(f.w2), biases(f.b2), at::TensorList(f.wu), biases(f.bu));
}

}  // namespace engine
