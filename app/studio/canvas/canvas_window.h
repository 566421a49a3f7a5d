// The studio's diagram canvas: a QVulkanWindow drawing a circuit::diagram::Scene with one
// instanced pipeline (shaders/canvas.*), with zoom, pan, hover, selection and wiring gestures.
#pragma once
#include <QImage>
#include <QPointF>
#include <QStringList>
#include <QVulkanWindow>
#include <set>
#include <string>
#include <vector>

#include "diagram/scene.h"
#include "studio/canvas/scene_mesh.h"
#include "studio/grab.h"

namespace studio {

class CanvasRenderer;

/// The diagram canvas. Renders on demand (a change requests one frame), embeds with
/// QWidget::createWindowContainer, and takes the application's QVulkanInstance through
/// setVulkanInstance() before it is shown.
///
/// Gestures: wheel zooms around the cursor; middle-drag or Space + left-drag pans; click selects
/// (Ctrl/Shift toggles); left-drag on empty space selects by rubber band; left-drag from a box's
/// right or bottom edge (or anywhere on it with Alt) onto another box asks to connect them;
/// double-click activates a node; Esc clears the selection; Delete/Backspace asks to delete;
/// F frames the whole diagram.
/// The MIME type of things that can be dropped on the canvas: an op name (palette drags).
inline constexpr const char* kDropMime = "application/x-circuit-studio-op";

class DiagramCanvas : public QVulkanWindow {
  Q_OBJECT
 public:
  explicit DiagramCanvas(QWindow* parent = nullptr);
  ~DiagramCanvas() override;

  /// Why Vulkan cannot be used with `instance` (no instance, no device), or "" when it can.
  /// Creates the instance first if main() has not.
  static QString vulkan_problem(QVulkanInstance& instance);

  QVulkanWindowRenderer* createRenderer() override;

  /// Shows a new scene; keeps zoom and pan, except that the first scene is framed.
  void set_scene(circuit::diagram::Scene scene);
  const circuit::diagram::Scene& scene() const { return scene_; }
  void set_dark(bool dark);
  bool dark() const { return theme_.dark; }
  void frame_all();

  void set_selection(const std::set<std::string>& nodes);
  const std::set<std::string>& selection() const { return selection_; }
  std::string node_at(QPointF window_pos) const;

  QPointF to_scene(QPointF window_pos) const;
  QPointF to_window(QPointF scene_pos) const;
  /// zoom: window pixels (logical) per scene point; center: the scene point at the window's middle.
  void set_view(double zoom, QPointF center);
  double zoom() const { return zoom_; }
  QPointF center() const { return center_; }

  /// Renders a frame and reads it back, in true colours (empty if the window is not exposed).
  QImage grab_image();

  /// Instances in the current scene's full-detail mesh (for benchmarks and tests).
  size_t instance_count() const { return lods_.empty() ? 0 : lods_[0].instances.size(); }
  /// Which level of detail the current zoom draws: 0 full, 1 no text, 2 and up the merged grid
  /// picture of far zooms (coarser cells for higher numbers).
  int level_of_detail() const;

 signals:
  void selection_changed(QStringList nodes);
  void node_activated(QString node);
  void connect_requested(QString from, QString to);
  void delete_requested();
  /// Something with kDropMime (an op name from the palette) was dropped at `scene_pos`, over
  /// node `onto` ("" on empty space).
  void drop_requested(QString what, QString onto, QPointF scene_pos);
  /// CPU time to record the last frame plus the GPU time of the latest finished frame, in ms.
  void frame_time(double ms);

 protected:
  void exposeEvent(QExposeEvent* e) override;
  void resizeEvent(QResizeEvent* e) override;
  void wheelEvent(QWheelEvent* e) override;
  void mousePressEvent(QMouseEvent* e) override;
  void mouseMoveEvent(QMouseEvent* e) override;
  void mouseReleaseEvent(QMouseEvent* e) override;
  void mouseDoubleClickEvent(QMouseEvent* e) override;
  void keyPressEvent(QKeyEvent* e) override;
  void keyReleaseEvent(QKeyEvent* e) override;
  bool event(QEvent* e) override;  // QEvent::Leave: QWindow has no leaveEvent to override

 private:
  friend class CanvasRenderer;
  enum class Drag { none, pan, band, connect, click };

  void rebuild_mesh();
  void rebuild_overlay();
  void changed();  // overlay or view changed: draw again
  void emit_selection();
  circuit::diagram::Rect visible_scene_rect(double margin_px) const;

  circuit::diagram::Scene scene_;
  canvas::Theme theme_ = canvas::Theme::light();
  GrabProbe grab_probe_;
  std::vector<canvas::Mesh> lods_;  // levels of detail, finest first
  std::vector<canvas::Instance> overlay_;
  uint64_t mesh_version_ = 0;
  bool framed_ = false, have_scene_ = false;
  bool user_view_ = false;  // zoomed or panned by the user: resizes keep the view

  double zoom_ = 1.0;
  QPointF center_;

  std::set<std::string> selection_, band_base_;
  std::string hover_, connect_from_;
  Drag drag_ = Drag::none;
  QPointF press_pos_, last_pos_;
  bool space_held_ = false, band_toggle_ = false;
};

}  // namespace studio
