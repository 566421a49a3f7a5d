// Shared by the plots tests: the one Vulkan instance, window set-up and pixel helpers.
#pragma once
#include <QImage>
#include <QVulkanInstance>
#include <QWindow>
#include <string>

#include "studio/plots/plot_widgets.h"

namespace plots_test {

/// Created in main() before any test; null when no Vulkan device could be opened.
QVulkanInstance* vulkan();

/// Gives the window the instance, a size, shows it and waits until it is exposed.
bool show(QWindow& w, int width = 900, int height = 600);

/// Saves to $CIRCUIT_SCREENSHOTS/<name>.png when the variable is set (the folder is created).
void save(const QImage& img, const std::string& name);

/// Largest per-channel difference between a pixel and an ImGui colour (alpha ignored).
int distance(QRgb pixel, ImU32 colour);
/// Largest per-channel difference between two pixels.
int rgb_distance(QRgb a, QRgb b);

/// Pixels within `tolerance` of `colour` inside the rectangle (logical px scaled by the image's
/// device pixel ratio, clipped to the image).
int count_near(const QImage& img, ImVec2 min, ImVec2 max, ImU32 colour, int tolerance);

/// The pixel at a logical position.
QRgb pixel_at(const QImage& img, float x, float y);

}  // namespace plots_test
