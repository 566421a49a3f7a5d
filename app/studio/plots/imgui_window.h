// A QVulkanWindow that hosts one Dear ImGui context drawn with ImGui's Vulkan backend on the
// window's own render pass. ImGui 1.86 has no Qt platform backend, so Qt input is mapped here.
#pragma once
#include <QElapsedTimer>
#include <QImage>
#include <QVulkanWindow>
#include <deque>

#include "studio/grab.h"
#include "studio/plots/plot_widgets.h"

struct ImGuiContext;
struct ImFont;

namespace studio {

class ImGuiVulkanRenderer;

/// A Vulkan window with its own ImGui context. Subclasses draw in draw_ui(); frames are rendered on
/// demand (requestUpdate() after data or input changes, plus a few settle frames for ImGui's
/// animations and one-frame layouts), never in a continuous loop. Several may live at once: every
/// ImGui call made by this class first makes this window's context current.
class ImGuiVulkanWindow : public QVulkanWindow {
  Q_OBJECT
 public:
  explicit ImGuiVulkanWindow(QWindow* parent = nullptr);
  ~ImGuiVulkanWindow() override;

  QVulkanWindowRenderer* createRenderer() override;

  /// Dark (ImGui::StyleColorsDark + Theme::dark_theme()) or light theme; re-renders.
  void set_dark(bool dark);
  bool dark() const { return dark_; }
  const Theme& theme() const { return theme_; }

  /// Renders a frame (after letting ImGui settle its layout) and returns it with the colours as
  /// drawn, whatever the swap-chain byte order. Needs an exposed window; null image otherwise.
  QImage grab_image();

  /// Asks for a frame now plus `settle` more afterwards (ImGui tabs, hover highlights and
  /// scrolling take a frame or two to reach their final look).
  void request_frames(int settle = 3);

  /// The ImGui context of this window (for tests and subclasses that call ImGui outside draw_ui).
  ImGuiContext* imgui_context() const { return ctx_; }

 signals:
  /// A frame was recorded; `cpu_ms`: building it (draw_ui) and recording its commands.
  void frame_done(double cpu_ms);

 protected:
  /// Called once per frame between ImGui::NewFrame() and ImGui::Render(), with this window's
  /// context current and io.DisplaySize set in logical pixels.
  virtual void draw_ui();

  void mousePressEvent(QMouseEvent*) override;
  void mouseReleaseEvent(QMouseEvent*) override;
  void mouseDoubleClickEvent(QMouseEvent*) override;
  void mouseMoveEvent(QMouseEvent*) override;
  void wheelEvent(QWheelEvent*) override;
  void keyPressEvent(QKeyEvent*) override;
  void keyReleaseEvent(QKeyEvent*) override;
  void focusOutEvent(QFocusEvent*) override;
  bool event(QEvent*) override;

 private:
  friend class ImGuiVulkanRenderer;

  // Qt may deliver press and release between two frames; ImGui 1.86 samples button state once per
  // frame, so such a click would be lost. Input is queued and applied so that a button changes at
  // most once per frame (what ImGui 1.87's input queue does).
  struct Input {
    enum Kind { pos, button, wheel, key, text, modifiers } kind;
    float x = 0, y = 0;
    int index = 0;
    bool down = false;
    QString chars;
  };
  void queue(Input in);
  void apply_input();  // with the context current, before ImGui::NewFrame()
  void frame();  // input, NewFrame, draw_ui, Render: the draw data the renderer then records
  void apply_style();

  ImGuiContext* ctx_ = nullptr;
  std::deque<Input> input_;
  QElapsedTimer clock_;
  qint64 last_ns_ = 0;
  int settle_ = 0;
  bool dark_ = true;
  bool grabbing_ = false;
  GrabProbe grab_probe_;
  Theme theme_ = Theme::dark_theme();
};

}  // namespace studio
