#include "studio/plots/run_plots.h"

#include <imgui.h>

#include <algorithm>

namespace studio {

RunPlotsWindow::RunPlotsWindow(QWindow* parent) : ImGuiVulkanWindow(parent) {}

void RunPlotsWindow::set_curves(TrainingCurves curves) {
  curves_ = std::move(curves);
  request_frames();
}

void RunPlotsWindow::add_step(const events::TrainStep& step) {
  add(curves_, step);
  request_frames();
}

void RunPlotsWindow::add_epoch(const events::EpochEnd& epoch) {
  add(curves_, epoch);
  request_frames();
}

void RunPlotsWindow::add_expert_load(const events::ExpertLoad& load) {
  add(loads_, load);
  request_frames();
}

void RunPlotsWindow::set_expert_loads(ExpertLoads loads) {
  loads_ = std::move(loads);
  request_frames();
}

void RunPlotsWindow::set_exit_histogram(ExitHistogram histogram) {
  exits_ = std::move(histogram);
  request_frames();
}

void RunPlotsWindow::set_exit_histogram(const std::vector<int64_t>& counts) {
  ExitHistogram h;
  for (size_t i = 0; i < counts.size(); ++i) h.exits.push_back("exit " + std::to_string(i + 1));
  h.counts = counts;
  set_exit_histogram(std::move(h));
}

void RunPlotsWindow::clear() {
  curves_ = {};
  loads_ = {};
  exits_ = {};
  heat_frames_.clear();
  loss_frame_ = {};
  request_frames();
}

void RunPlotsWindow::show_tab(Tab tab) {
  select_ = tab;
  request_frames();
}

PlotFrame RunPlotsWindow::heatmap_frame(size_t layer) const {
  return layer < heat_frames_.size() ? heat_frames_[layer] : PlotFrame{{0, 0}, {0, 0}};
}

void RunPlotsWindow::draw_ui() {
  begin_full_window("##run_plots");
  heat_frames_.assign(loads_.layers.size(), PlotFrame{{0, 0}, {0, 0}});
  loss_frame_ = PlotFrame{{0, 0}, {0, 0}};
  if (ImGui::BeginTabBar("run_tabs")) {
    auto flags = [&](Tab t) { return select_ == t ? ImGuiTabItemFlags_SetSelected : ImGuiTabItemFlags_None; };
    if (ImGui::BeginTabItem("Training curves", nullptr, flags(Tab::curves))) {
      draw_curves();
      ImGui::EndTabItem();
    }
    if (ImGui::BeginTabItem("Expert load", nullptr, flags(Tab::expert_load))) {
      draw_expert_load();
      ImGui::EndTabItem();
    }
    if (ImGui::BeginTabItem("Exits", nullptr, flags(Tab::exits))) {
      draw_exits();
      ImGui::EndTabItem();
    }
    ImGui::EndTabBar();
  }
  select_.reset();
  ImGui::End();
}

void RunPlotsWindow::draw_curves() {
  const Theme& t = theme();
  if (curves_.empty()) {
    empty_state("No training data yet",
                "Train a circuit and its loss and accuracy appear here step by step, with the "
                "validation result after each epoch.",
                t);
    return;
  }
  ImGui::Checkbox("log scale loss", &log_loss_);
  const float avail_h = ImGui::GetContentRegionAvail().y;
  // One left margin for both plots so their step axes line up.
  const float margin = ImGui::CalcTextSize("0.0000").x + 12;
  LinePlotOptions lo;
  lo.title = "loss";
  lo.log_y = log_loss_;
  lo.left_margin = margin;
  lo.size = ImVec2(0, std::max(120.f, avail_h * 0.5f - 4));
  loss_frame_ = line_plot("loss", {&curves_.train_loss, &curves_.val_loss}, t, lo);
  LinePlotOptions ao;
  ao.title = "accuracy";
  ao.x_label = "step";
  ao.left_margin = margin;
  ao.size = ImVec2(0, std::max(120.f, ImGui::GetContentRegionAvail().y));
  ao.x_min = loss_frame_.x0;
  ao.x_max = loss_frame_.x1;
  line_plot("accuracy", {&curves_.train_accuracy, &curves_.val_accuracy}, t, ao);
}

void RunPlotsWindow::draw_expert_load() {
  const Theme& t = theme();
  if (loads_.empty()) {
    empty_state("No expert load yet",
                "While a model with mixture-of-experts layers trains, each layer shows here which "
                "experts its router picks, how many tokens were dropped over capacity, and MaxVio.",
                t);
    return;
  }
  ImGui::BeginChild("layers", ImVec2(0, 0), false);
  const float avail_h = ImGui::GetContentRegionAvail().y;
  const size_t shown = std::min<size_t>(loads_.layers.size(), 2);
  const float per_layer = std::max(300.f, avail_h / float(shown) - ImGui::GetFontSize() * 2.5f - 12);
  for (size_t i = 0; i < loads_.layers.size(); ++i) {
    ImGui::PushID(int(i));
    heat_frames_[i] = heatmap("layer", loads_.layers[i], t, per_layer);
    ImGui::PopID();
    ImGui::Dummy(ImVec2(1, 8));
  }
  ImGui::EndChild();
}

void RunPlotsWindow::draw_exits() {
  const Theme& t = theme();
  if (exits_.empty()) {
    empty_state("No exit statistics yet",
                "Evaluate a circuit with early exits and the number of examples leaving at each "
                "exit appears here.",
                t);
    return;
  }
  std::vector<double> values(exits_.counts.begin(), exits_.counts.end());
  histogram("exits", exits_.exits, values, t, "examples per exit");
}

}  // namespace studio
