// The plots tests need a QGuiApplication and one Vulkan instance shared by every window.
#include <gtest/gtest.h>

#include <QDir>
#include <QGuiApplication>
#include <QTest>
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "plots_test_env.h"

namespace plots_test {

namespace {
QVulkanInstance* g_vulkan = nullptr;
}

QVulkanInstance* vulkan() { return g_vulkan; }

bool show(QWindow& w, int width, int height) {
  w.setVulkanInstance(g_vulkan);
  w.resize(width, height);
  w.show();
  return QTest::qWaitForWindowExposed(&w, 5000);
}

void save(const QImage& img, const std::string& name) {
  const QString dir = qEnvironmentVariable("CIRCUIT_SCREENSHOTS");
  if (dir.isEmpty() || img.isNull()) return;
  QDir().mkpath(dir);
  img.save(dir + "/plots_" + QString::fromStdString(name) + ".png");
}

int rgb_distance(QRgb a, QRgb b) {
  return std::max({std::abs(qRed(a) - qRed(b)), std::abs(qGreen(a) - qGreen(b)), std::abs(qBlue(a) - qBlue(b))});
}

int distance(QRgb p, ImU32 c) {
  return rgb_distance(p, qRgb(int((c >> IM_COL32_R_SHIFT) & 0xff), int((c >> IM_COL32_G_SHIFT) & 0xff),
                          int((c >> IM_COL32_B_SHIFT) & 0xff)));
}

QRgb pixel_at(const QImage& img, float x, float y) {
  const qreal d = img.devicePixelRatio();
  const int px = std::clamp(int(x * d), 0, img.width() - 1), py = std::clamp(int(y * d), 0, img.height() - 1);
  return img.pixel(px, py);
}

int count_near(const QImage& img, ImVec2 min, ImVec2 max, ImU32 colour, int tolerance) {
  const qreal d = img.devicePixelRatio();
  const int x0 = std::max(0, int(min.x * d)), y0 = std::max(0, int(min.y * d));
  const int x1 = std::min(img.width(), int(max.x * d)), y1 = std::min(img.height(), int(max.y * d));
  int n = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x)
      if (distance(img.pixel(x, y), colour) <= tolerance) ++n;
  return n;
}

}  // namespace plots_test

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  QGuiApplication app(argc, argv);
  QVulkanInstance inst;
  if (!inst.create()) {
    std::fprintf(stderr, "plots_tests: no Vulkan instance (error %d); run under xvfb-run with lavapipe\n",
                 int(inst.errorCode()));
    return 1;
  }
  plots_test::g_vulkan = &inst;
  return RUN_ALL_TESTS();
}
