// The search plots window the studio puts in its search panel. Setters are called on the GUI
// thread; they store the data and ask for a frame.
#pragma once
#include <QPointF>
#include <optional>

#include "studio/plots/imgui_window.h"
#include "studio/plots/plot_data.h"

namespace studio {

/// Live plots of a search: the Pareto front on two objectives picked in combos (random-search
/// baseline in grey) and the hypervolume over trials. Clicking a study trial emits trial_clicked.
class SearchPlotsWindow : public ImGuiVulkanWindow {
  Q_OBJECT
 public:
  explicit SearchPlotsWindow(QWindow* parent = nullptr);

  /// Keeps the chosen axes when they still exist; otherwise the first two objectives.
  void set_points(ParetoPoints points);
  void set_hypervolume(HypervolumeHistory hypervolume);
  void set_axes(const std::string& x_objective, const std::string& y_objective);
  void clear();

  const std::string& x_objective() const { return x_; }
  const std::string& y_objective() const { return y_; }
  /// Points shown: the study's, then the baseline's.
  size_t point_count() const { return points_.trials.size() + points_.baseline.size(); }
  /// Where the last frame drew a study trial, in logical window pixels.
  std::optional<QPointF> trial_position(int64_t id) const;

 signals:
  void trial_clicked(qint64 id);

 protected:
  void draw_ui() override;

 private:
  bool objective_combo(const char* label, std::string& chosen);

  ParetoPoints points_;
  HypervolumeHistory hypervolume_;
  std::string x_, y_;
  PlotFrame pareto_frame_;
};

}  // namespace studio
