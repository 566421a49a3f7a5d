// The training loop, evaluation and the early-exit profile; memory admission (memory.cpp),
// measurement (measure.cpp), checkpoints (checkpoint.cpp) and the gradient all-reduce
// (distributed.cpp) live beside it. Deterministic for a seed on one machine: data order comes from our
// own portable RNG, and LibTorch's generator is reseeded from (seed, epoch) at every epoch, so a
// run resumed at an epoch boundary continues exactly as if it had never stopped.
#include "train.h"
#include "checkpoint.h"
#include "memory.h"
#include "engine/detail/device.h"
#include "engine/detail/distributed.h"
#include "engine/detail/torch_compat.h"
#include "engine/detail/train.h"
#include "engine/distributed.h"

#include <algorithm>
#include <c10/core/CPUAllocator.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#ifdef CIRCUIT_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <chrono>
#include <cmath>
#include <tuple>
#include <cstdlib>
#include <cstdio>
#include <fstream>

#include "base/enum_names.h"
#include "circuit/circuit_file.h"

namespace engine {

using base::Error;
using base::Result;
using base::Status;
using torch::Tensor;
using Tensors = std::vector<Tensor>;
using detail::AutocastGuard;

namespace detail {

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t mix(uint64_t seed, uint64_t salt) {
  uint64_t s = seed ^ (salt * 0xd1b54a32d192ed03ULL);
  return splitmix(s);
}

// Fisher-Yates with splitmix64: the same permutation on every platform and library.
Tensor permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  uint64_t s = seed;
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[size_t(i)], p[size_t(splitmix(s) % uint64_t(i + 1))]);
  return torch::tensor(p, torch::kLong);
}

Tensor to_tensor(const HostArray& a) {
  if (a.is_int) return torch::from_blob(const_cast<int64_t*>(a.i64.data()), a.shape, torch::kLong).clone();
  return torch::from_blob(const_cast<float*>(a.f32.data()), a.shape, torch::kFloat32).clone();
}

std::string torch_message(const std::exception& e) {
  if (auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

// Per-output loss weights: an exit head's own weight, 1 for anything else.
std::vector<double> output_weights(const Model& m) {
  std::vector<double> w;
  const auto& g = m.circuit().graph;
  for (auto& r : g.outputs) {
    const circuit::Node* n = g.node(r.node);
    double v = 1.0;
    const circuit::OpDef* d = n ? circuit::find_op(n->op) : nullptr;
    if (d && d->category == circuit::OpCategory::exit) {
      auto it = n->attrs.find("loss_weight");
      if (it != n->attrs.end()) v = std::holds_alternative<double>(it->second) ? std::get<double>(it->second) : double(std::get<int64_t>(it->second));
    }
    w.push_back(v);
  }
  return w;
}

Tensor task_loss(const Tensor& out, const Tensor& y, bool tokens) {
  namespace F = torch::nn::functional;
  if (tokens) return F::cross_entropy(out.reshape({-1, out.size(-1)}), y.reshape({-1}), F::CrossEntropyFuncOptions().ignore_index(-100));
  return F::cross_entropy(out, y);
}

}  // namespace detail

using namespace detail;

namespace {

// (correct, counted) of the predictions in `out` against `y`, skipping -100 targets.
std::pair<int64_t, int64_t> hits(const Tensor& out, const Tensor& y) {
  Tensor pred = out.argmax(-1), yy = y.to(out.device());
  Tensor scored = yy != -100;
  Tensor both = torch::stack({(pred.eq(yy) & scored).sum(), scored.sum()}).cpu();  // one read back
  return {both[0].item<int64_t>(), both[1].item<int64_t>()};
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) g.options().set_lr(lr);
}

}  // namespace

Status check_fit(const Model& m, const Dataset& d) {
  const auto& a = m.analysis();
  const auto& g = m.circuit().graph;
  if (a.inputs.size() != 1)
    return Status::fail("the circuit has " + std::to_string(a.inputs.size()) + " inputs; training on `" + d.name + "` needs exactly 1");
  const auto& in_node = g.nodes[size_t(a.inputs[0])];
  const circuit::TensorType& t = a.nodes[size_t(a.inputs[0])].outputs[0];
  const auto& shape = d.train.x.shape;
  std::string data_shape = "[batch";
  for (size_t k = 1; k < shape.size(); ++k) data_shape += ", " + std::to_string(shape[k]);
  data_shape += "]";
  bool same = t.rank() == shape.size();
  for (size_t k = 1; same && k < shape.size(); ++k) same = !t.axes[k].size.concrete() || t.axes[k].size.n == shape[k];
  if (!same) return Status::fail("input `" + in_node.name + "` is " + circuit::to_string(t) + " but `" + d.name + "` gives " + data_shape);
  if ((t.dtype == circuit::DType::i64) != d.train.x.is_int)
    return Status::fail("input `" + in_node.name + "` is " + circuit::dtype_name(t.dtype) + " but `" + d.name + "` gives " +
                        (d.train.x.is_int ? "i64 token ids" : "f32 values"));
  for (size_t k = 0; k < a.outputs.size(); ++k) {
    const auto& o = a.outputs[k];
    size_t want_rank = d.token_targets ? d.train.y.shape.size() + 1 : 2;
    bool ok = o.rank() == want_rank && o.axes.back().size.concrete() && o.axes.back().size.n == d.classes;
    if (!ok)
      return Status::fail("output `" + circuit::to_string(g.outputs[k]) + "` is " + circuit::to_string(o) + " but `" + d.name +
                          "` needs " + (d.token_targets ? "[batch, seq, " : "[batch, ") + std::to_string(d.classes) +
                          (d.token_targets ? " scores per token]" : " class scores]"));
  }
  return {};
}

EvalResult evaluate(Model& m, const Dataset& d, const Split& s, int64_t batch, ProcessGroup* group) {
  torch::NoGradGuard ng;
  m.set_training(false);
  Tensor x = to_tensor(s.x), y = to_tensor(s.y);
  EvalResult r;
  int64_t total = x.size(0), correct = 0, counted = 0;
  // A rank evaluates its contiguous share; the sums below are reduced over ranks.
  int64_t W = group ? group->size() : 1, R = group ? group->rank() : 0;
  int64_t lo = total * R / W, n = total * (R + 1) / W;
  double loss_sum = 0;
  std::vector<int64_t> cls_hit(size_t(d.classes), 0), cls_n(size_t(d.classes), 0);
  for (int64_t i = lo; i < n; i += batch) {
    int64_t b = std::min(batch, n - i);
    Tensor xb = x.narrow(0, i, b), yb = y.narrow(0, i, b);
    Tensor out = m.forward({xb}).back().to(torch::kFloat);
    loss_sum += task_loss(out, yb.to(out.device()), d.token_targets).item<double>() * double(b);
    auto [h, c] = hits(out, yb);
    correct += h, counted += c;
    if (!d.token_targets) {
      Tensor pred = out.argmax(-1).cpu();
      auto* py = yb.data_ptr<int64_t>();
      auto* pp = pred.data_ptr<int64_t>();
      for (int64_t j = 0; j < b; ++j) ++cls_n[size_t(py[j])], cls_hit[size_t(py[j])] += pp[j] == py[j];
    }
  }
  if (group) {
    std::vector<double> sums{loss_sum, double(correct), double(counted)};
    for (size_t c = 0; c < cls_n.size(); ++c) sums.push_back(double(cls_hit[c])), sums.push_back(double(cls_n[c]));
    Tensor t = torch::tensor(sums, torch::kDouble);
    t = detail::to_device(t, m.device());  // NCCL reduces device tensors only
    std::vector<Tensor> v{t};
    detail::collectives(*group).all_reduce_sum(v, "the evaluation's all-reduce");
    t = v[0].cpu();
    auto* p = t.data_ptr<double>();
    loss_sum = p[0], correct = int64_t(p[1]), counted = int64_t(p[2]);
    for (size_t c = 0; c < cls_n.size(); ++c) cls_hit[c] = int64_t(p[3 + 2 * c]), cls_n[c] = int64_t(p[4 + 2 * c]);
  }
  n = total;
  r.examples = n;
  r.loss = n ? loss_sum / double(n) : 0;
  r.accuracy = counted ? double(correct) / double(counted) : 0;
  if (!d.token_targets)
    for (size_t c = 0; c < cls_n.size(); ++c) r.per_class.push_back(cls_n[c] ? double(cls_hit[c]) / double(cls_n[c]) : 0);
  return r;
}

Result<TrainResult> train(Model& m, const Dataset& d, const TrainOptions& o) {
  if (auto s = check_fit(m, d); !s) return Error{s.error};
  if (o.batch < 1 || o.epochs < 1) return Error{"batch and epochs must be at least 1"};
  if (auto s = check_memory(m.analysis(), o.batch, o.optimizer, o.memory_budget); !s) return Error{s.error};
  if (auto s = check_device(o.device); !s) return Error{s.error};
  // Data parallel: W ranks, this one R. Only rank 0 publishes events and writes checkpoints.
  detail::Collectives* group = o.group ? &detail::collectives(*o.group) : nullptr;
  const int64_t W = group ? group->size() : 1, R = group ? group->rank() : 0;
  const events::Bus* bus = R == 0 ? o.bus : nullptr;
  detail::TrainingGroupScope scope(group);  // BatchNorm and MoE layers reduce their batch statistics over it
  try {
    m.to(o.device);
    const at::Device dev = detail::to_torch(o.device);
    bool cuda = dev.is_cuda();
    if (cuda) {
      // Off by default: TF32 products differ from fp32 by ~1e-3 relative (cuDNN's default is on).
      at::globalContext().setAllowTF32CuBLAS(o.tf32);
      at::globalContext().setAllowTF32CuDNN(o.tf32);
    }
    auto params = m.module().parameters();
    std::unique_ptr<torch::optim::Optimizer> opt;
    if (o.optimizer == Optimizer::sgd)
      opt = std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));
    else
      opt = std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));

    TrainResult r;
    if (!o.resume.empty()) {
      auto info = read_checkpoint_info(o.resume);
      if (!info) return info.error();
      if (info->circuit_text != circuit::circuit_to_text(m.circuit()))
        return Error{o.resume + ": the checkpoint was made from a different circuit"};
      if (info->optimizer != o.optimizer || info->seed != o.seed)
        return Error{o.resume + ": the checkpoint used optimizer `" + std::string(to_string(info->optimizer)) + "` and seed " + std::to_string(info->seed) +
                     "; resume with the same settings"};
      torch::serialize::InputArchive ar, ma, oa;
      ar.load_from(o.resume, dev);  // a checkpoint loads on either device
      ar.read("model", ma);
      ar.read("optimizer", oa);
      m.module().load(ma);
      opt->load(oa);
      r.epochs_done = info->epochs_done;
      r.steps = info->steps;
    }
    if (group) {
      // Every rank starts from rank 0's weights and buffers, whatever it compiled or loaded.
      torch::NoGradGuard ng;
      std::vector<Tensor> state;
      for (auto& p : m.module().parameters()) state.push_back(p.data());
      for (auto& b : m.module().buffers()) state.push_back(b);
      group->broadcast(state, 0, "the broadcast of rank 0's weights");
    }

    Tensor x = to_tensor(d.train.x), y = to_tensor(d.train.y);
    // A global batch is batch x W examples: the same batches, in the same order, as one process
    // at that batch size; rank R takes the R-th contiguous share of each.
    const int64_t global = o.batch * W;
    // A last batch smaller than W would leave a rank without examples while the others wait for
    // its BatchNorm and MoE collectives: it is dropped (never with one process).
    int64_t n = x.size(0), per_epoch = n / global + (n % global >= W ? 1 : 0), total = per_epoch * o.epochs;
    int64_t warm = std::max<int64_t>(1, int64_t(o.warmup * double(total)));
    auto weights = output_weights(m);
    auto t0 = std::chrono::steady_clock::now();
    double rate = 0;
    int last_epoch = o.stop_after ? std::min(o.epochs, r.epochs_done + o.stop_after) : o.epochs;
    r.status = events::RunStatus::finished;

    for (int epoch = r.epochs_done; epoch < last_epoch; ++epoch) {
      // Dropout differs between ranks (each sees other examples), the data order does not.
      torch::manual_seed(group ? mix(mix(o.seed, uint64_t(epoch) + 1), uint64_t(R)) : mix(o.seed, uint64_t(epoch) + 1));
      Tensor perm = permutation(n, mix(o.seed, uint64_t(epoch) + 1000003));
      m.set_training(true);
      double epoch_loss = 0;
      auto te = std::chrono::steady_clock::now();
      for (int64_t s = 0; s < per_epoch; ++s) {
        if (!group && o.cancel && o.cancel->load()) {  // ranks agree on cancelling below, after the all-reduce
          r.status = events::RunStatus::cancelled;
          r.message = "cancelled at step " + std::to_string(r.steps) + " (epoch " + std::to_string(epoch + 1) + ")";
          break;
        }
        auto ts = std::chrono::steady_clock::now();
        int64_t t = r.steps;
        double lr = t < warm ? o.lr * double(t + 1) / double(warm)
                             : o.lr * 0.5 * (1 + std::cos(M_PI * double(t - warm) / double(std::max<int64_t>(1, total - warm))));
        set_lr(*opt, lr);
        int64_t start = s * global, rows = std::min(global, n - start);
        int64_t lo = start + rows * R / W, hi = start + rows * (R + 1) / W;
        Tensor idx = perm.narrow(0, lo, hi - lo);
        Tensor xb = x.index_select(0, idx), yb = y.index_select(0, idx);
        if (cuda) {
          // Once per step, from pinned memory, without waiting: the copy overlaps the host's work.
          xb = xb.pin_memory().to(dev, /*non_blocking=*/true);
          yb = yb.pin_memory().to(dev, /*non_blocking=*/true);
        }
        Tensors aux;
        std::vector<events::ExpertLoad> load;
        bool telemetry = bus && o.telemetry_every > 0 && (t % o.telemetry_every) == 0;
        Tensors outs;
        Tensor loss;
        double lv = 0;
        int64_t hit = 0, scored = 0;
        opt->zero_grad();
        if (hi > lo) {  // a rank's share of a last batch smaller than W is empty
          {
            AutocastGuard autocast(dev.type(), o.precision == Precision::bf16);
            outs = m.forward({xb}, &aux, telemetry ? &load : nullptr, t + 1);
          }
          // The loss in fp32 whatever the forward's precision.
          for (size_t k = 0; k < outs.size(); ++k) {
            Tensor l = weights[k] * task_loss(outs[k].to(torch::kFloat), yb, d.token_targets);
            loss = loss.defined() ? loss + l : l;
          }
          for (auto& a : aux) loss = loss + a.to(torch::kFloat);
          lv = loss.item<double>();
          if (group || bus) std::tie(hit, scored) = hits(outs.back().detach(), yb);
        }
        if (group) {
          // Weighted by this rank's share, so that averaging over ranks gives the global batch's
          // gradient even when the shares differ; cancel and NaN are decided together after it.
          if (loss.defined()) (loss * (double(hi - lo) * double(W) / double(rows))).backward();
          auto tr = std::chrono::steady_clock::now();
          StepSums sums = reduce_step(*group, params, {lv * double(hi - lo), double(hit), double(scored), o.cancel && o.cancel->load() ? 1.0 : 0.0}, dev);
          r.allreduce_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - tr).count();
          lv = sums.loss / double(rows), hit = int64_t(sums.correct), scored = int64_t(sums.counted);
          if (sums.cancel > 0) {
            r.status = events::RunStatus::cancelled;
            r.message = "cancelled at step " + std::to_string(r.steps) + " (epoch " + std::to_string(epoch + 1) + ")";
            break;
          }
        }
        if (!std::isfinite(lv)) {
          r.status = events::RunStatus::nan;
          r.message = std::string("loss became ") + (std::isnan(lv) ? "NaN" : "infinite") + " at step " + std::to_string(t + 1) +
                      " (epoch " + std::to_string(epoch + 1) + "); the run stopped. Try a lower learning rate or gradient clipping.";
          break;
        }
        if (!group) loss.backward();
        if (o.clip > 0) torch::nn::utils::clip_grad_norm_(params, o.clip);
        opt->step();
        ++r.steps;
        epoch_loss += lv;
        double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - ts).count();
        r.step_seconds += dt;
        double inst = double(rows) / std::max(dt, 1e-9);  // every rank's examples
        rate = rate == 0 ? inst : 0.9 * rate + 0.1 * inst;
        for (auto& l : load) bus->publish(l);
        if (bus) bus->publish(events::TrainStep{r.steps, total, epoch + 1, o.epochs, lv, scored ? double(hit) / double(scored) : 0, lr, rate});
      }
      if (r.status != events::RunStatus::finished) break;
      r.train_loss = epoch_loss / double(per_epoch);
      r.epochs_done = epoch + 1;
      r.val = evaluate(m, d, d.val, o.eval_batch, o.group.get());
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - te).count();
      if (bus) bus->publish(events::EpochEnd{epoch + 1, o.epochs, r.train_loss, r.val.loss, r.val.accuracy, secs});
      if (!o.checkpoint.empty() && R == 0)
        if (auto s = write_checkpoint(o.checkpoint, m, *opt, o, d.protocol, r.epochs_done, r.steps); !s) return Error{s.error};
    }
    if (r.status == events::RunStatus::finished && r.epochs_done < o.epochs) r.status = events::RunStatus::stopped;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    m.set_training(false);
    if (bus) bus->publish(events::RunEnd{r.status, r.message});
    return r;
  } catch (const std::exception& e) {
    std::string why = "training failed: " + torch_message(e);
    if (o.group) o.group->report_failure(why);
    return Error{why};
  }
}

base::Result<ExitProfile> profile_exits(Model& m, const Dataset& d, const Split& s, int64_t batch) {
  const auto& g = m.circuit().graph;
  if (d.token_targets) return Error{"early exit is for classifiers; `" + d.name + "` scores tokens"};
  if (g.outputs.size() < 2)
    return Error{"early exit needs two or more exit heads among the circuit's outputs; `" + m.circuit().name + "` has " +
                 std::to_string(g.outputs.size()) + " output"};
  if (auto fit = check_fit(m, d); !fit) return Error{fit.error};
  HeadCosts hc = head_costs(g, m.analysis());
  ExitProfile p;
  p.output_index = hc.order;
  p.cost = hc.cost;
  for (int o : hc.order) p.heads.push_back(circuit::to_string(g.outputs[size_t(o)]));
  size_t heads = p.heads.size();
  Tensor x = to_tensor(s.x), y = to_tensor(s.y);
  int64_t n = x.size(0);
  p.examples = n;
  p.confidence.resize(heads * size_t(n));
  p.entropy.resize(heads * size_t(n));
  p.predicted.resize(heads * size_t(n));
  p.label.resize(size_t(n));
  try {
    torch::NoGradGuard ng;
    m.set_training(false);
    for (int64_t i = 0; i < n; i += batch) {
      int64_t b = std::min(batch, n - i);
      auto outs = m.forward({x.narrow(0, i, b)});
      for (size_t k = 0; k < heads; ++k) {
        Tensor logp = torch::log_softmax(outs[size_t(p.output_index[k])].to(torch::kCPU, torch::kFloat), -1);
        Tensor prob = logp.exp();
        auto [conf, pred] = prob.max(-1);
        Tensor ent = -(prob * logp).sum(-1);
        pred = pred.to(torch::kInt).contiguous(), conf = conf.contiguous(), ent = ent.contiguous();
        std::copy_n(conf.data_ptr<float>(), b, p.confidence.begin() + std::ptrdiff_t(p.at(k, i)));
        std::copy_n(ent.data_ptr<float>(), b, p.entropy.begin() + std::ptrdiff_t(p.at(k, i)));
        std::copy_n(pred.data_ptr<int32_t>(), b, p.predicted.begin() + std::ptrdiff_t(p.at(k, i)));
      }
      Tensor yb = y.narrow(0, i, b).to(torch::kInt).contiguous();
      std::copy_n(yb.data_ptr<int32_t>(), b, p.label.begin() + std::ptrdiff_t(i));
    }
  } catch (const std::exception& e) {
    return Error{"early-exit profile failed: " + torch_message(e)};
  }
  return p;
}

}  // namespace engine
