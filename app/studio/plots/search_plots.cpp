#include "studio/plots/search_plots.h"

#include <imgui.h>

#include <QMetaObject>
#include <algorithm>

namespace studio {

SearchPlotsWindow::SearchPlotsWindow(QWindow* parent) : ImGuiVulkanWindow(parent) {}

void SearchPlotsWindow::set_points(ParetoPoints points) {
  points_ = std::move(points);
  if (!points_.indexed()) points_.index();  // prepared off the GUI thread, usually
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

void SearchPlotsWindow::set_comparison(StudyComparisonView comparison) {
  comparison_ = std::move(comparison);
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

void SearchPlotsWindow::emit_click(int64_t id) {
  // Emitted from the event loop, not mid-frame: a slot may open dialogs or even close this window.
  if (id >= 0) QMetaObject::invokeMethod(this, [this, id] { emit trial_clicked(qint64(id)); }, Qt::QueuedConnection);
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

void SearchPlotsWindow::draw_comparison() {
  const Theme& t = theme();
  if (comparison_.empty()) {
    empty_state("No other study open",
                "Compare with… (beside Open…) adds studies of any store, SQLite files and PostgreSQL servers mixed, "
                "on the same objectives: their fronts overlay here, each strategy's hypervolume shows a band over "
                "its seeds, and a table says whether strategies differ by more than seed noise.",
                t);
    return;
  }
  objective_combo("x axis##cmp", x_);
  ImGui::SameLine(0, 24);
  objective_combo("y axis##cmp", y_);
  ImGui::SameLine(0, 24);
  if (ImGui::Button("close the other studies")) QMetaObject::invokeMethod(this, [this] { emit comparison_closed(); }, Qt::QueuedConnection);
  // The overlay on the left at full height; on the right the hypervolume bands over the table
  // (a row per strategy, then a verdict per pair), which keeps the table's height.
  const float line = ImGui::GetTextLineHeightWithSpacing();
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float table_h = line * float(comparison_.rows.size() + 1) + 6 + ImGui::GetTextLineHeight() * 2.2f * float(comparison_.verdicts.size());
  compare_frame_ = fronts_overlay("fronts", comparison_, x_, y_, t, ImVec2(avail.x * 0.55f, avail.y), &compare_drawn_);
  ImGui::SameLine(0, 12);
  ImGui::BeginGroup();
  std::vector<const Curve*> curves;
  for (const Curve& c : comparison_.hypervolume) curves.push_back(&c);
  LinePlotOptions o;
  o.title = "hypervolume (band: lowest to highest seed)";
  o.x_label = "trial";
  o.size = ImVec2(0, std::max(100.f, avail.y - table_h));
  line_plot("hypervolume_bands", curves, t, o);
  if (ImGui::BeginTable("strategies", 4, ImGuiTableFlags_BordersInnerH | ImGuiTableFlags_SizingFixedFit)) {
    ImGui::TableSetupColumn("strategy");
    ImGui::TableSetupColumn("studies");
    ImGui::TableSetupColumn("final hypervolume, mean");
    ImGui::TableSetupColumn("± std");
    ImGui::TableHeadersRow();
    for (const auto& r : comparison_.rows) {
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(r.strategy.c_str());
      ImGui::TableNextColumn();
      ImGui::Text("%zu", r.studies);
      ImGui::TableNextColumn();
      ImGui::Text("%.6g", r.mean);
      ImGui::TableNextColumn();
      ImGui::Text("%.3g", r.std);
    }
    ImGui::EndTable();
  }
  ImGui::PushTextWrapPos(0.f);
  for (const auto& v : comparison_.verdicts) ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(v.find("better") != std::string::npos ? t.front.packed() : t.text_dim.packed()), "%s", v.c_str());
  ImGui::PopTextWrapPos();
  ImGui::EndGroup();
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
  compare_frame_ = PlotFrame{{0, 0}, {0, 0}};
  auto flags = [&](View v) { return select_pending_ && select_view_ == v ? ImGuiTabItemFlags_SetSelected : ImGuiTabItemFlags_None; };
  if (ImGui::BeginTabBar("search_views")) {
    if (ImGui::BeginTabItem("Front", nullptr, flags(View::front))) view_ = View::front, ImGui::EndTabItem();
    if (ImGui::BeginTabItem("Parallel coordinates", nullptr, flags(View::parallel))) view_ = View::parallel, ImGui::EndTabItem();
    if (ImGui::BeginTabItem("Scatter matrix", nullptr, flags(View::matrix))) view_ = View::matrix, ImGui::EndTabItem();
    if (ImGui::BeginTabItem("Compare studies", nullptr, flags(View::compare))) view_ = View::compare, ImGui::EndTabItem();
    ImGui::EndTabBar();
  }
  select_pending_ = false;
  if (view_ == View::compare) {
    draw_comparison();
    ImGui::End();
    return;
  }
  if (view_ != View::front) {
    if (view_ == View::parallel && lines_drawn_ > 0 && lines_drawn_ < points_.trials.size()) {
      ImGui::TextDisabled("lines: a sample of %zu, the front and the selection favoured;", lines_drawn_);
      ImGui::SameLine();
    }
    ImGui::TextDisabled("%zu of %zu trials selected%s", selected_.size(), points_.trials.size(),
                        view_ == View::parallel ? ": drag along an axis to select a range, drag a title to move its axis, double-click it to flip"
                                                : ": drag a rectangle in a cell to narrow the selection, click to clear it");
    if (!selected_.empty()) {
      ImGui::SameLine();
      if (ImGui::SmallButton("save as filter")) QMetaObject::invokeMethod(this, [this] { emit save_selection(); }, Qt::QueuedConnection);
      ImGui::SameLine();
      if (ImGui::SmallButton("clear selection")) {
        selected_.clear();
        for (auto& a : axes_.axes) a.brushed = false;
        emit_selection();
      }
    }
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    if (view_ == View::parallel) {
      int64_t clicked = -1;
      const bool brushed = parallel_coordinates("parallel", points_, axes_, selected_, t, avail, &parallel_frame_, &clicked);
      emit_click(clicked);
      lines_drawn_ = parallel_frame_.lines_drawn;
      if (brushed) {
        if (axes_.any_brush()) select_brushed();
        else selected_.clear();
        emit_selection();
      }
    } else {
      std::set<int64_t> picked;
      int64_t clicked = -1;
      const bool changed = scatter_matrix("matrix", points_, selected_, picked, t, avail, &matrix_frame_, &clicked);
      emit_click(clicked);
      if (changed) {
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
  emit_click(hit);
  if (!hypervolume_.empty()) {
    LinePlotOptions o;
    const std::string title = hypervolume_.samples ? "hypervolume after each trial (estimated from " + std::to_string(hypervolume_.samples) + " samples)"
                                                   : "hypervolume after each trial";
    o.title = title.c_str();
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
