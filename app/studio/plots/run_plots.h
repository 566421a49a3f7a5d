// The run plots window the studio puts in its training dock. Setters are called on the GUI
// thread; they store the data and ask for a frame.
#pragma once
#include <QPointF>
#include <optional>

#include "studio/plots/imgui_window.h"
#include "studio/plots/plot_data.h"

namespace studio {

/// Live plots of one training run: training curves, expert-load heatmaps (one per MoE layer) and
/// the exit histogram, in tabs. Shows a short explanation instead of empty axes when a tab has
/// no data.
class RunPlotsWindow : public ImGuiVulkanWindow {
  Q_OBJECT
 public:
  enum class Tab { curves, expert_load, exits };
  explicit RunPlotsWindow(QWindow* parent = nullptr);

  void set_curves(TrainingCurves curves);
  void add_step(const events::TrainStep& step);
  void add_epoch(const events::EpochEnd& epoch);
  void add_expert_load(const events::ExpertLoad& load);
  void set_expert_loads(ExpertLoads loads);
  void set_exit_histogram(ExitHistogram histogram);
  /// Counts per exit head, labelled "exit 1", "exit 2", ...
  void set_exit_histogram(const std::vector<int64_t>& counts);
  void clear();
  /// Brings a tab to the front on the next frame (e.g. expert load when a MoE run starts).
  void show_tab(Tab tab);

  const TrainingCurves& curves() const { return curves_; }
  const ExpertLoads& expert_loads() const { return loads_; }
  /// Where the last frame drew layer `i`'s heatmap (expert e spans y in [e, e + 1]); invalid
  /// frame when it was not drawn.
  PlotFrame heatmap_frame(size_t layer) const;
  /// Where the last frame drew the loss plot.
  PlotFrame loss_frame() const { return loss_frame_; }

 protected:
  void draw_ui() override;

 private:
  void draw_curves();
  void draw_expert_load();
  void draw_exits();

  TrainingCurves curves_;
  ExpertLoads loads_;
  ExitHistogram exits_;
  std::optional<Tab> select_;
  bool log_loss_ = false;
  PlotFrame loss_frame_;
  std::vector<PlotFrame> heat_frames_;
};

}  // namespace studio
