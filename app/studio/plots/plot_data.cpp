#include "studio/plots/plot_data.h"

#include <algorithm>
#include <cmath>

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

void ParetoPoints::index() {
  objective_columns.assign(objectives.size(), std::vector<double>(trials.size(), NAN));
  choice_columns.assign(choices.size(), std::vector<double>(trials.size(), NAN));
  for (size_t i = 0; i < trials.size(); ++i) {
    for (size_t k = 0; k < objectives.size(); ++k)
      if (auto it = trials[i].values.find(objectives[k].name); it != trials[i].values.end()) objective_columns[k][i] = it->second;
    for (size_t k = 0; k < choices.size() && k < trials[i].choice.size(); ++k)
      if (trials[i].choice[k] >= 0) choice_columns[k][i] = double(trials[i].choice[k]);
  }
}

bool ParetoPoints::indexed() const {
  auto fits = [&](const std::vector<std::vector<double>>& cols, size_t n) {
    if (cols.size() != n) return false;
    for (const auto& c : cols)
      if (c.size() != trials.size()) return false;
    return true;
  };
  return fits(objective_columns, objectives.size()) && fits(choice_columns, choices.size());
}

const std::vector<double>* ParetoPoints::column(const std::string& name, bool choice) const {
  const auto& cols = choice ? choice_columns : objective_columns;
  for (size_t k = 0; k < cols.size(); ++k)
    if ((choice ? choices[k].name : objectives[k].name) == name && cols[k].size() == trials.size()) return &cols[k];
  return nullptr;
}

void ParallelAxes::sync(const ParetoPoints& points) {
  std::vector<Axis> next;
  auto keep = [&](const std::string& name, bool choice, bool minimise) {
    int i = index(name);
    if (i >= 0 && axes[size_t(i)].choice == choice) next.push_back(axes[size_t(i)]);
    else next.push_back(Axis{name, choice, minimise, false, false, 0, 0});
  };
  for (const auto& o : points.objectives) keep(o.name, false, o.minimise);
  for (const auto& c : points.choices) keep(c.name, true, false);
  // Axes that stay keep the order the user gave them; new ones go last.
  std::vector<Axis> ordered;
  for (const auto& a : axes)
    for (const auto& n : next)
      if (n.name == a.name && n.choice == a.choice) ordered.push_back(n);
  for (const auto& n : next) {
    bool seen = false;
    for (const auto& o : ordered) seen |= o.name == n.name && o.choice == n.choice;
    if (!seen) ordered.push_back(n);
  }
  axes = std::move(ordered);
}

double ParallelAxes::value(const TrialPoint& t, const Axis& a, const ParetoPoints& points) const {
  if (a.choice) {
    for (size_t k = 0; k < points.choices.size() && k < t.choice.size(); ++k)
      if (points.choices[k].name == a.name) return t.choice[k] >= 0 ? double(t.choice[k]) : NAN;
    return NAN;
  }
  auto it = t.values.find(a.name);
  return it == t.values.end() ? NAN : it->second;
}

std::vector<int64_t> ParallelAxes::selected(const ParetoPoints& points) const {
  std::vector<char> in(points.trials.size(), 1);
  for (const auto& a : axes) {
    if (!a.brushed) continue;
    const double lo = std::min(a.lo, a.hi), hi = std::max(a.lo, a.hi);
    if (const std::vector<double>* col = points.column(a.name, a.choice)) {
      for (size_t i = 0; i < in.size(); ++i) in[i] &= (*col)[i] >= lo && (*col)[i] <= hi;
    } else {
      for (size_t i = 0; i < in.size(); ++i) {
        double v = value(points.trials[i], a, points);
        in[i] &= v >= lo && v <= hi;
      }
    }
  }
  std::vector<int64_t> out;
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i]) out.push_back(points.trials[i].id);
  return out;
}

bool ParallelAxes::any_brush() const {
  for (const auto& a : axes)
    if (a.brushed) return true;
  return false;
}

void ParallelAxes::move(size_t from, size_t to) {
  if (from >= axes.size() || to >= axes.size() || from == to) return;
  Axis a = axes[from];
  axes.erase(axes.begin() + std::ptrdiff_t(from));
  axes.insert(axes.begin() + std::ptrdiff_t(to), a);
}

int ParallelAxes::index(const std::string& name) const {
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i].name == name) return int(i);
  return -1;
}

}  // namespace studio
