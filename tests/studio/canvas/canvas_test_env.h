// The test process' Vulkan instance (created in main.cpp, like the studio's main()).
#pragma once
#include <QVulkanInstance>

namespace canvas_test {
QVulkanInstance& vulkan();
}
