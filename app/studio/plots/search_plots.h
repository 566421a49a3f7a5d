// The search plots window the studio puts in its search panel. Setters are called on the GUI
// thread; they store the data and ask for a frame.
#pragma once
#include <QList>
#include <QPointF>
#include <optional>
#include <set>

#include "studio/plots/imgui_window.h"
#include "studio/plots/plot_data.h"
#include "studio/plots/plot_widgets.h"

namespace studio {

/// Live plots of a search, in three views: the Pareto front on two objectives picked in combos
/// (random-search baseline in grey) with the hypervolume over trials; parallel coordinates of
/// every objective and searched choice; and the scatter matrix of every pair of objectives. One
/// selection of trials links the views (and, through selection_changed, the trials table):
/// brushing axes or dragging a rectangle in a cell sets it. Clicking a study trial in any view (a
/// point, a line, a dot) emits trial_clicked. A fourth view compares studies: their fronts overlaid, each strategy's
/// hypervolume with a band over its seeds, and the strategies' final hypervolume side by side.
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

  /// Other studies beside the shown one (the dock's Compare with…): the Compare view.
  void set_comparison(StudyComparisonView comparison);
  const StudyComparisonView& comparison() const { return comparison_; }

  enum class View { front, parallel, matrix, compare };
  void show_view(View v);
  View view() const { return view_; }
  /// The selected study trials (ids as in ParetoPoints); set_selection does not emit.
  const std::set<int64_t>& selection() const { return selected_; }
  void set_selection(const std::set<int64_t>& ids);
  ParallelAxes& parallel_axes() { return axes_; }
  /// Where the last frame drew the parallel coordinates and the scatter matrix.
  const ParallelFrame& parallel_frame() const { return parallel_frame_; }
  const MatrixFrame& matrix_frame() const { return matrix_frame_; }
  /// Where the last frame drew the compared fronts, and how many trials of each study it placed.
  const PlotFrame& compare_frame() const { return compare_frame_; }
  const std::vector<size_t>& compare_drawn() const { return compare_drawn_; }

 signals:
  void trial_clicked(qint64 id);
  /// The user changed the selection in a view.
  void selection_changed(QList<qint64> ids);
  /// The user closed the other studies of the Compare view.
  void comparison_closed();
  /// The user asked to keep the current selection as a table filter.
  void save_selection();

 protected:
  void draw_ui() override;

 private:
  bool objective_combo(const char* label, std::string& chosen);

  ParetoPoints points_;
  HypervolumeHistory hypervolume_;
  std::string x_, y_;
  PlotFrame pareto_frame_;
  View view_ = View::front, select_view_ = View::front;
  bool select_pending_ = false;
  std::set<int64_t> selected_;
  ParallelAxes axes_;
  ParallelFrame parallel_frame_;
  size_t lines_drawn_ = 0;  // by the last parallel-coordinates frame
  MatrixFrame matrix_frame_;
  StudyComparisonView comparison_;
  PlotFrame compare_frame_;
  std::vector<size_t> compare_drawn_;
  void draw_comparison();
  void emit_selection();
  void emit_click(int64_t id);  // a study trial clicked in any view: trial_clicked
  void select_brushed();  // the selection: the study trials inside every brush
};

}  // namespace studio
