// GoogleTest main for the canvas: a QGuiApplication and one QVulkanInstance for every test.
#include <gtest/gtest.h>

#include <QGuiApplication>

#include "canvas_test_env.h"

namespace {
QVulkanInstance* g_instance = nullptr;
}

QVulkanInstance& canvas_test::vulkan() { return *g_instance; }

int main(int argc, char** argv) {
  QGuiApplication app(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  QVulkanInstance instance;
  instance.create();  // failure is reported by the GUI tests through DiagramCanvas::vulkan_problem
  g_instance = &instance;
  return RUN_ALL_TESTS();
}
