#pragma once
// Frames read back from a Vulkan swap chain, in true colours.
#include <QImage>

#include <functional>
#include <optional>

namespace studio {

/// What a renderer clears to, drawing nothing else, while its window probes QVulkanWindow::grab().
constexpr float kGrabProbeClear[4] = {1.f, 0.f, 0.f, 1.f};

/// Whether grab() hands red and blue back swapped, read from `probe`, a frame grabbed while the
/// renderer cleared to kGrabProbeClear: true when it came back blue, false when red, nullopt when
/// neither (no frame). Asked, not guessed from a Qt version or the image's format: Qt 6.4 copies a
/// B8G8R8A8 swap chain's bytes into an RGBA8888 image as they are, Qt 6.8 converts them into an
/// RGBA8888 image, and the swap chain's format is the same in both.
std::optional<bool> grab_swaps_red_and_blue(const QImage& probe);

/// One window's answer, asked at its first grab.
struct GrabProbe {
  bool probing = false;       ///< read by the renderer: clear to kGrabProbeClear and draw nothing
  std::optional<bool> swaps;  ///< the answer, once known

  /// `frame`, which the window's grab() returned, in true colours. The first time, `grab` (the
  /// window's grab()) is called once more with `probing` set to ask.
  QImage true_colours(QImage frame, const std::function<QImage()>& grab);
};

}  // namespace studio
