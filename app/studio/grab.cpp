#include "studio/grab.h"

namespace studio {

std::optional<bool> grab_swaps_red_and_blue(const QImage& probe) {
  if (probe.isNull()) return std::nullopt;
  const QRgb p = probe.pixel(probe.width() / 2, probe.height() / 2);
  if (qRed(p) > 200 && qBlue(p) < 55) return false;
  if (qBlue(p) > 200 && qRed(p) < 55) return true;
  return std::nullopt;
}

QImage GrabProbe::true_colours(QImage frame, const std::function<QImage()>& grab) {
  if (frame.isNull()) return frame;
  if (!swaps) {
    probing = true;
    swaps = grab_swaps_red_and_blue(grab());
    probing = false;
  }
  return swaps.value_or(false) ? std::move(frame).rgbSwapped() : frame;
}

}  // namespace studio
