// Plots drawn with ImDrawList into the current ImGui window (ImPlot is not in Debian). Each
// function lays out its own axes with "nice" ticks, clips its data to the plot area, shows a
// tooltip on hover and returns the geometry it used, so callers and tests can map data to pixels.
#pragma once
#include <imgui.h>

#include <array>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "studio/plots/plot_data.h"
#include "studio/theme.h"

namespace studio {

/// Where a plot put its data: the plot area in screen (logical) pixels and the axis ranges.
struct PlotFrame {
  ImVec2 min{0, 0}, max{0, 0};  // plot area, top-left and bottom-right
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  bool log_y = false;
  bool flip_y = false;  // y0 at the top (heatmap rows)
  bool valid() const { return max.x > min.x && max.y > min.y; }
  ImVec2 to_screen(double x, double y) const;
  double x_at(float sx) const;
};

/// Begins one ImGui window covering the whole display, without decorations (the Qt dock around
/// the window provides title and frame). Pair with ImGui::End().
bool begin_full_window(const char* name);
/// A headline and a wrapped explanation centred in the free space: the empty state of a panel.
void empty_state(const char* headline, const char* detail, const Theme& theme);

/// Ticks at 1, 2 or 5 times a power of ten, about `target` of them, inside [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target);
/// A tick label with as many decimals as the tick step needs; large values get k/M/G.
std::string format_tick(double value, double step);

/// Options of line_plot().
struct LinePlotOptions {
  const char* title = nullptr;    // drawn above the plot, left
  const char* x_label = nullptr;  // drawn under the x tick labels
  bool log_y = false;             // log10 y axis; points <= 0 are skipped
  bool legend = true;
  ImVec2 size{0, 0};              // <= 0: fill the available width / height
  double x_min = std::numeric_limits<double>::quiet_NaN();  // force the x range (align plots)
  double x_max = std::numeric_limits<double>::quiet_NaN();
  double y_min = std::numeric_limits<double>::quiet_NaN();
  double y_max = std::numeric_limits<double>::quiet_NaN();
  float left_margin = 0;          // > 0: fixed width for the y tick labels (align stacked plots)
  bool x_tick_labels = true;      // false: stacked plots sharing the x axis of the bottom one
  bool title_inside = false;      // title in the plot's top-left corner (saves a line in strips)
};

/// Several curves (x sorted ascending) with a legend; curves with few points get markers, long
/// ones are reduced to min/max per pixel column. Hover shows every curve's value at the mouse x.
PlotFrame line_plot(const char* id, const std::vector<const Curve*>& curves, const Theme& theme,
                    const LinePlotOptions& options = {});

/// One MoE layer's expert load: a heatmap with steps on x, expert slots on y (expert 0 on top),
/// colour = share of the step's kept assignments; a colour bar; a stats line with the last
/// step's dropped tokens, MaxVio and entropy; under it a strip with MaxVio and the dropped share
/// over the same steps. Returns the heatmap's frame (expert e spans y in [e, e + 1]).
PlotFrame heatmap(const char* id, const ExpertLoadHistory& history, const Theme& theme,
                  float height = 0);

/// Bars with one label each (e.g. examples per exit); hover shows count and share.
PlotFrame histogram(const char* id, const std::vector<std::string>& labels,
                    const std::vector<double>& values, const Theme& theme, const char* title = nullptr,
                    ImVec2 size = {0, 0});

/// Trials on two objectives chosen by name (axes say "min" or "max"): study trials in
/// series[0], trials on the front highlighted and the front of this projection joined by a step
/// line, infeasible trials hollow, baseline trials grey. Hover shows the trial id and all its
/// objective values. Returns the id of the study trial clicked this frame, or -1.
int64_t pareto_scatter(const char* id, const ParetoPoints& points, const std::string& x_objective,
                       const std::string& y_objective, const Theme& theme, ImVec2 size = {0, 0},
                       PlotFrame* frame = nullptr);

/// Where a parallel-coordinates plot put its axes (in ParallelAxes order), to map values to pixels.
struct ParallelFrame {
  std::vector<float> x;        // each axis' x
  std::vector<double> lo, hi;  // each axis' range as drawn (log10 of it on a log axis)
  float top = 0, bottom = 0, title_y = 0;
  size_t lines_drawn = 0;      // past a budget, a sample of the trials (the selection and front favoured)
  bool valid() const { return !x.empty() && bottom > top; }
  /// Where `value` sits on axis `i`; and the value at height `y` (the inverse).
  float y_of(const ParallelAxes& axes, size_t i, double value) const;
  double value_at(const ParallelAxes& axes, size_t i, float y) const;
};

/// Parallel coordinates of the study's trials over every axis of `axes` (objectives and searched
/// choices): a line per trial coloured by Pareto rank (the front in the front colour), trials that
/// break a constraint in the error colour; while `selected` is not empty the others fade. The
/// user edits `axes`: dragging along an axis brushes a range on it (a click clears that brush),
/// dragging an axis' title sideways moves the axis, double-clicking it flips it, right-clicking
/// it offers flip, log scale and clear. A click between axes on a drawn line sets `*clicked` to
/// its trial. Returns true when a brush changed this frame.
bool parallel_coordinates(const char* id, const ParetoPoints& points, ParallelAxes& axes, const std::set<int64_t>& selected,
                          const Theme& theme, ImVec2 size = {0, 0}, ParallelFrame* frame = nullptr, int64_t* clicked = nullptr);

/// Where a scatter matrix put its cells: cell k plots objective `pairs[k].first` on x against
/// `pairs[k].second` on y.
struct MatrixFrame {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::vector<PlotFrame> cells;
};

/// Each pair of objectives once (the lower triangle of the matrix), every study trial in each
/// cell, the front over all objectives in the front colour; while `selected` is not empty the
/// others fade. Dragging a rectangle in a cell narrows the selection to the trials inside it (of
/// the selected ones, when there are); a click on a dot sets `*clicked` to its trial, a click
/// elsewhere clears the selection. Returns true and fills `selection` when the user changed it
/// this frame.
bool scatter_matrix(const char* id, const ParetoPoints& points, const std::set<int64_t>& selected, std::set<int64_t>& selection,
                    const Theme& theme, ImVec2 size = {0, 0}, MatrixFrame* frame = nullptr, int64_t* clicked = nullptr);

/// The trials of several studies on two objectives, one colour per study (study k in series k),
/// each study's front of this projection joined, a legend naming study and strategy; hover names
/// the trial. `drawn`, when given, receives how many trials of each study were placed.
PlotFrame fronts_overlay(const char* id, const StudyComparisonView& view, const std::string& x_objective, const std::string& y_objective,
                         const Theme& theme, ImVec2 size = {0, 0}, std::vector<size_t>* drawn = nullptr);

}  // namespace studio
