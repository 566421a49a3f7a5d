#include "studio/plots/plot_data.h"

#include <algorithm>

namespace studio {

void add(TrainingCurves& c, const events::TrainStep& s) {
  const double x = double(s.step);
  c.train_loss.push(x, s.loss);
  c.train_accuracy.push(x, s.accuracy);
  c.last_step = std::max(c.last_step, s.step);
}

void add(TrainingCurves& c, const events::EpochEnd& e) {
  // Without any step seen (a run that only reports epochs) the epoch number is the best x there is.
  const double x = c.last_step > 0 ? double(c.last_step) : double(e.epoch);
  c.val_loss.push(x, e.val_loss);
  c.val_accuracy.push(x, e.val_accuracy);
}

double ExpertLoadHistory::share(size_t row, int expert) const {
  if (row >= tokens_after.size() || expert < 0) return 0;
  const auto& r = tokens_after[row];
  if (size_t(expert) >= r.size()) return 0;
  int64_t sum = 0;
  for (int64_t v : r) sum += v;
  return sum > 0 ? double(r[size_t(expert)]) / double(sum) : 0.0;
}

double ExpertLoadHistory::dropped_share(size_t row) const {
  if (row >= dropped.size()) return 0;
  int64_t kept = 0;
  for (int64_t v : tokens_after[row]) kept += v;
  const int64_t all = kept + dropped[row];
  return all > 0 ? double(dropped[row]) / double(all) : 0.0;
}

void add(ExpertLoadHistory& h, const events::ExpertLoad& e) {
  if (h.layer.empty())
    h.layer = e.layer;
  else if (h.layer != e.layer)
    return;
  const int n = int(e.after.size());
  if (n > h.experts) {
    h.experts = n;
    for (auto& row : h.tokens_after) row.resize(size_t(n), 0);
  }
  std::vector<int64_t> row(e.after.begin(), e.after.end());
  row.resize(size_t(h.experts), 0);

  if (!h.steps.empty() && h.steps.back() == e.step) {
    auto& last = h.tokens_after.back();
    for (size_t i = 0; i < row.size(); ++i) last[i] += row[i];
    const int64_t before = h.tokens.back();
    const int64_t total = before + e.tokens;
    h.entropy.back() = total > 0 ? (h.entropy.back() * double(before) + e.entropy * double(e.tokens)) / double(total)
                                 : std::max(h.entropy.back(), e.entropy);
    h.tokens.back() = total;
    h.dropped.back() += e.dropped;
    h.max_vio.back() = std::max(h.max_vio.back(), e.max_vio);
    return;
  }
  h.steps.push_back(e.step);
  h.tokens_after.push_back(std::move(row));
  h.tokens.push_back(e.tokens);
  h.dropped.push_back(e.dropped);
  h.max_vio.push_back(e.max_vio);
  h.entropy.push_back(e.entropy);
}

void add(ExpertLoads& loads, const events::ExpertLoad& e) {
  for (auto& h : loads.layers)
    if (h.layer == e.layer) return add(h, e);
  loads.layers.emplace_back();
  add(loads.layers.back(), e);
}

const PlotObjective* ParetoPoints::objective(const std::string& name) const {
  for (const auto& o : objectives)
    if (o.name == name) return &o;
  return nullptr;
}

}  // namespace studio
