#include "studio/plots/search_plots.h"

#include <imgui.h>

#include <QMetaObject>
#include <algorithm>

namespace studio {

SearchPlotsWindow::SearchPlotsWindow(QWindow* parent) : ImGuiVulkanWindow(parent) {}

void SearchPlotsWindow::set_points(ParetoPoints points) {
  points_ = std::move(points);
  axes_.sync(points_);
  if (axes_.any_brush()) select_brushed();  // live: trials that arrive inside the brushes join the selection
  const auto& obj = points_.objectives;
  auto exists = [&](const std::string& n) { return points_.objective(n) != nullptr; };
  if (!exists(x_)) x_ = obj.size() > 0 ? obj[0].name : "";
  if (!exists(y_) || y_ == x_) {
    y_.clear();
    for (const auto& o : obj)
      if (o.name != x_) {
        y_ = o.name;
        break;
      }
  }
  request_frames();
}

void SearchPlotsWindow::set_hypervolume(HypervolumeHistory hypervolume) {
  hypervolume_ = std::move(hypervolume);
  request_frames();
}

void SearchPlotsWindow::set_axes(const std::string& x, const std::string& y) {
  x_ = x;
  y_ = y;
  request_frames();
}

void SearchPlotsWindow::show_view(View v) {
  select_view_ = v;
  select_pending_ = true;
  request_frames();
}

void SearchPlotsWindow::set_selection(const std::set<int64_t>& ids) {
  selected_ = ids;
  request_frames();
}

void SearchPlotsWindow::select_brushed() {
  selected_.clear();
  for (int64_t id : axes_.selected(points_)) selected_.insert(id);
}

void SearchPlotsWindow::emit_selection() {
  QList<qint64> ids;
  for (int64_t id : selected_) ids << qint64(id);
  // From the event loop, not mid-frame (as trial_clicked).
  QMetaObject::invokeMethod(this, [this, ids] { emit selection_changed(ids); }, Qt::QueuedConnection);
}

void SearchPlotsWindow::clear() {
  selected_.clear();
  points_ = {};
  hypervolume_ = {};
  pareto_frame_ = PlotFrame{{0, 0}, {0, 0}};
  request_frames();
}

std::optional<QPointF> SearchPlotsWindow::trial_position(int64_t id) const {
  if (!pareto_frame_.valid()) return std::nullopt;
  for (const auto& p : points_.trials) {
    if (p.id != id) continue;
    const auto xi = p.values.find(x_), yi = p.values.find(y_);
    if (xi == p.values.end() || yi == p.values.end()) return std::nullopt;
    const ImVec2 s = pareto_frame_.to_screen(xi->second, yi->second);
    return QPointF(s.x, s.y);
  }
  return std::nullopt;
}

bool SearchPlotsWindow::objective_combo(const char* label, std::string& chosen) {
  bool changed = false;
  ImGui::SetNextItemWidth(std::min(220.f, ImGui::GetContentRegionAvail().x * 0.4f));
  if (ImGui::BeginCombo(label, chosen.c_str())) {
    for (const auto& o : points_.objectives) {
      const bool sel = o.name == chosen;
      const std::string item = o.name + (o.minimise ? "  (min)" : "  (max)");
      if (ImGui::Selectable(item.c_str(), sel)) {
        chosen = o.name;
        changed = true;
      }
      if (sel) ImGui::SetItemDefaultFocus();
    }
    ImGui::EndCombo();
  }
  return changed;
}

void SearchPlotsWindow::draw_ui() {
  begin_full_window("##search_plots");
  const Theme& t = theme();
  pareto_frame_ = PlotFrame{{0, 0}, {0, 0}};
  if (points_.empty()) {
    empty_state("No trials yet",
                "Start a search and every finished trial appears here. Trials on the Pareto front "
                "are highlighted; random-search trials on the same space are shown in grey.",
                t);
    ImGui::End();
    return;
  }
  parallel_frame_ = ParallelFrame{};
  matrix_frame_ = MatrixFrame{};
  auto flags = [&](View v) { return select_pending_ && select_view_ == v ? ImGuiTabItemFlags_SetSelected : ImGuiTabItemFlags_None; };
  if (ImGui::BeginTabBar("search_views")) {
    if (ImGui::BeginTabItem("Front", nullptr, flags(View::front))) view_ = View::front, ImGui::EndTabItem();
    if (ImGui::BeginTabItem("Parallel coordinates", nullptr, flags(View::parallel))) view_ = View::parallel, ImGui::EndTabItem();
    if (ImGui::BeginTabItem("Scatter matrix", nullptr, flags(View::matrix))) view_ = View::matrix, ImGui::EndTabItem();
    ImGui::EndTabBar();
  }
  select_pending_ = false;
  if (view_ != View::front) {
    ImGui::TextDisabled("%zu of %zu trials selected%s", selected_.size(), points_.trials.size(),
                        view_ == View::parallel ? ": drag along an axis to select a range, drag a title to move its axis, double-click it to flip"
                                                : ": drag a rectangle in a cell to narrow the selection, click to clear it");
    if (!selected_.empty()) {
      ImGui::SameLine();
      if (ImGui::SmallButton("clear selection")) {
        selected_.clear();
        for (auto& a : axes_.axes) a.brushed = false;
        emit_selection();
      }
    }
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    if (view_ == View::parallel) {
      if (parallel_coordinates("parallel", points_, axes_, selected_, t, avail, &parallel_frame_)) {
        if (axes_.any_brush()) select_brushed();
        else selected_.clear();
        emit_selection();
      }
    } else {
      std::set<int64_t> picked;
      if (scatter_matrix("matrix", points_, selected_, picked, t, avail, &matrix_frame_)) {
        selected_ = picked;
        emit_selection();
      }
    }
    ImGui::End();
    return;
  }
  objective_combo("x axis", x_);
  ImGui::SameLine(0, 24);
  objective_combo("y axis", y_);
  ImGui::SameLine(0, 24);
  if (ImGui::Button("swap")) std::swap(x_, y_);

  // A dock is usually wide and short: there the two plots sit side by side so the front keeps
  // a usable height; in a tall window they stack.
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const bool side_by_side = !hypervolume_.empty() && avail.x > 1.6f * avail.y;
  const float hv_h = hypervolume_.empty() || side_by_side ? 0.f : std::max(std::min(140.f, avail.y * 0.45f), avail.y * 0.3f);
  const float pareto_w = side_by_side ? avail.x * 0.62f : 0.f;
  const int64_t hit = pareto_scatter("pareto", points_, x_, y_, t, ImVec2(pareto_w, avail.y - hv_h), &pareto_frame_);
  if (hit >= 0) {
    // Emitted from the event loop, not mid-frame: a slot may open dialogs or even close this window.
    QMetaObject::invokeMethod(this, [this, hit] { emit trial_clicked(qint64(hit)); }, Qt::QueuedConnection);
  }
  if (!hypervolume_.empty()) {
    LinePlotOptions o;
    o.title = "hypervolume after each trial";
    o.x_label = "trial";
    if (side_by_side) {
      ImGui::SameLine(0, 12);
      o.size = ImVec2(0, avail.y);
    } else {
      o.size = ImVec2(0, hv_h - 4);
    }
    line_plot("hypervolume", {&hypervolume_.study, &hypervolume_.baseline}, t, o);
  }
  ImGui::End();
}

}  // namespace studio
