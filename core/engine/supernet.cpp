#include "supernet.h"

#include <algorithm>
#include <map>

#include "engine/detail/device.h"
#include "engine/detail/train.h"

namespace engine {

using base::Error;
using torch::Tensor;
using namespace detail;

struct SharedWeights::Impl {
  uint64_t seed;
  double lr, weight_decay;
  Device device;
  std::map<std::string, Tensor> bank;  // "node path/param name [shape]" -> shared weight
  std::unique_ptr<torch::optim::AdamW> opt;
  Tensor x, y;                          // training split, converted once
  const Dataset* data = nullptr;
  int64_t compiled = 0;
};

namespace {

std::string bank_key(const std::string& name, const Tensor& t) {
  std::string k = name + " [";
  for (int64_t d = 0; d < t.dim(); ++d) k += (d ? "," : "") + std::to_string(t.size(d));
  return k + "]";
}

}  // namespace

SharedWeights::SharedWeights(uint64_t seed, double lr, double weight_decay, Device device) : impl_(std::make_unique<Impl>()) {
  impl_->seed = seed, impl_->lr = lr, impl_->weight_decay = weight_decay, impl_->device = device;
}
SharedWeights::~SharedWeights() = default;

base::Result<std::shared_ptr<Model>> SharedWeights::bind(const circuit::Circuit& c) {
  Impl& s = *impl_;
  auto m = Model::compile(c, mix(s.seed, uint64_t(++s.compiled)));
  if (!m) return m.error();
  std::shared_ptr<Model> model(std::move(*m));
  torch::NoGradGuard ng;
  std::vector<Tensor> added;
  for (auto& p : model->module().named_parameters()) {
    Tensor param = p.value();
    // The bank's weights live on the device: a model moved after binding would leave them behind.
    auto [it, fresh] = s.bank.emplace(bank_key(p.key(), param), detail::to_device(param.detach(), s.device).clone());
    if (fresh) added.push_back(it->second);
    // The model's parameter now reads and writes the bank's storage; its gradient stays its own
    // and is moved to the bank after each backward.
    param.set_data(it->second);
  }
  if (!added.empty()) {
    if (!s.opt) {
      s.opt = std::make_unique<torch::optim::AdamW>(std::vector<Tensor>{}, torch::optim::AdamWOptions(s.lr).weight_decay(s.weight_decay));
    }
    for (auto& t : added) t.requires_grad_(true);
    s.opt->add_param_group(torch::optim::OptimizerParamGroup(added));
  }
  model->to(s.device);  // buffers (batch-norm statistics) are the model's own
  return model;
}

base::Result<double> SharedWeights::train_step(Model& m, const Dataset& d, int64_t step, int64_t batch) {
  Impl& s = *impl_;
  try {
    if (s.data != &d) s.x = to_tensor(d.train.x), s.y = to_tensor(d.train.y), s.data = &d;
    int64_t n = s.x.size(0), per_epoch = std::max<int64_t>(1, n / batch);
    int64_t epoch = step / per_epoch, k = step % per_epoch;
    Tensor idx = permutation(n, mix(s.seed, uint64_t(epoch) + 7)).narrow(0, k * batch, std::min(batch, n - k * batch));
    Tensor xb = s.x.index_select(0, idx), yb = s.y.index_select(0, idx);
    m.set_training(true);
    std::vector<Tensor> aux;
    auto outs = m.forward({xb}, &aux);
    yb = yb.to(outs.front().device());
    auto weights = output_weights(m);
    Tensor loss = torch::zeros({});
    for (size_t j = 0; j < outs.size(); ++j) loss = loss + weights[j] * task_loss(outs[j], yb, d.token_targets);
    for (auto& a : aux) loss = loss + a;
    double value = loss.item<double>();
    if (!std::isfinite(value)) return Error{"supernet loss became " + std::to_string(value) + " at step " + std::to_string(step + 1)};
    for (auto& p : m.module().parameters()) p.mutable_grad() = Tensor();
    loss.backward();
    for (auto& b : s.bank) b.second.mutable_grad() = Tensor();
    for (auto& p : m.module().named_parameters()) {
      if (!p.value().grad().defined()) continue;
      auto it = s.bank.find(bank_key(p.key(), p.value()));
      if (it != s.bank.end()) it->second.mutable_grad() = p.value().grad().clone();
    }
    s.opt->step();  // AdamW skips bank weights this circuit does not use (no gradient)
    return value;
  } catch (const std::exception& e) {
    return Error{"supernet step failed: " + torch_message(e)};
  }
}

base::Status SharedWeights::recalibrate(Model& m, const Dataset& d, int64_t batches, int64_t batch) {
  Impl& s = *impl_;
  bool has_norm = false;
  for (auto& b : m.module().named_buffers())
    if (b.key().find("running_mean") != std::string::npos) has_norm = true;
  if (!has_norm) return {};
  try {
    if (s.data != &d) s.x = to_tensor(d.train.x), s.y = to_tensor(d.train.y), s.data = &d;
    torch::NoGradGuard ng;
    for (auto& b : m.module().named_buffers()) {
      if (b.key().find("running_mean") != std::string::npos) b.value().zero_();
      if (b.key().find("running_var") != std::string::npos) b.value().fill_(1);
    }
    m.set_training(true);
    int64_t n = s.x.size(0);
    for (int64_t k = 0; k < batches && k * batch < n; ++k) m.forward({s.x.narrow(0, k * batch, std::min(batch, n - k * batch))});
    m.set_training(false);
    return {};
  } catch (const std::exception& e) {
    return base::Status::fail("batch-norm recalibration failed: " + torch_message(e));
  }
}

int64_t SharedWeights::parameter_count() const {
  int64_t n = 0;
  for (auto& [k, t] : impl_->bank) n += t.numel();
  return n;
}

int64_t SharedWeights::tensors() const { return int64_t(impl_->bank.size()); }

}  // namespace engine
