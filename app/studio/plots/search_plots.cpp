#include "studio/plots/search_plots.h"

#include <imgui.h>

#include <QMetaObject>
#include <algorithm>

namespace studio {

SearchPlotsWindow::SearchPlotsWindow(QWindow* parent) : ImGuiVulkanWindow(parent) {}

void SearchPlotsWindow::set_points(ParetoPoints points) {
  points_ = std::move(points);
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

void SearchPlotsWindow::clear() {
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
