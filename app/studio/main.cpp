// circuit-studio: the desktop studio. Checks for a display and a Vulkan device first, so a
// machine without them gets a sentence and a pointer to the CLI instead of a crash.
#include <QApplication>
#include <QCommandLineParser>
#include <QMessageBox>
#include <QTimer>
#include <QVulkanInstance>
#include <cstdio>
#include <cstdlib>

#include "canvas/canvas_window.h"
#include "engine/model.h"
#include "main_window.h"

namespace {

bool has_display() {
  const char* platform = std::getenv("QT_QPA_PLATFORM");
  if (platform && *platform && std::string(platform).rfind("xcb", 0) != 0 && std::string(platform).rfind("wayland", 0) != 0)
    return true;  // offscreen, vnc, ...: the user chose a platform that needs no display
  auto set = [](const char* v) { return std::getenv(v) && *std::getenv(v); };
  return set("DISPLAY") || set("WAYLAND_DISPLAY");
}

const char* kNoDisplay =
    "circuit-studio: no display found (DISPLAY and WAYLAND_DISPLAY are unset), so the studio cannot open a window.\n"
    "Run it in a desktop session, or under a virtual one: xvfb-run -a build/app/studio/circuit-studio FILE\n"
    "Everything the studio does is also in the command line tool:\n"
    "  build/app/cli/circuit info FILE        shapes, parameters and FLOPs per node\n"
    "  build/app/cli/circuit render FILE -o diagram.svg\n"
    "  build/app/cli/circuit train FILE --data fashion-mnist --epochs 1\n"
    "  build/app/cli/circuit search SPACE --study NAME\n"
    "  build/app/cli/circuit run SCRIPT.lua\n";

}  // namespace

int main(int argc, char** argv) {
  if (!has_display()) return std::fputs(kNoDisplay, stderr), 2;
  QApplication app(argc, argv);
  QApplication::setOrganizationName("CircuitStudio");
  QApplication::setApplicationName("circuit-studio");
  QApplication::setApplicationVersion(CIRCUIT_VERSION);

  QCommandLineParser cli;
  cli.setApplicationDescription("Circuit Studio: draw, train and search neural circuit diagrams.");
  cli.addHelpOption();
  cli.addVersionOption();
  cli.addPositionalArgument("file", "A .circuit.json file to open (default: an example).");
  QCommandLineOption dark("dark", "Start in the dark theme.");
  QCommandLineOption light("light", "Start in the light theme.");
  QCommandLineOption shot("screenshot", "Save a screenshot of the window to <png> and quit.", "png");
  cli.addOptions({dark, light, shot});
  cli.process(app);

  engine::configure_runtime(0);
  QVulkanInstance vulkan;
  QString problem = vulkan.create() ? studio::DiagramCanvas::vulkan_problem(vulkan) : "cannot create a Vulkan instance";
  if (!problem.isEmpty()) {
    QString text = "The diagram canvas needs a Vulkan device: " + problem +
                   ".\nInstall a Vulkan driver (on Debian, mesa-vulkan-drivers gives a CPU device), or use the "
                   "`circuit` command line tool.";
    std::fprintf(stderr, "circuit-studio: %s\n", text.toUtf8().constData());
    // Scripted runs (CI, screenshots) set CIRCUIT_STUDIO_NO_DIALOGS: nobody would close the box.
    if (qEnvironmentVariableIsEmpty("CIRCUIT_STUDIO_NO_DIALOGS")) QMessageBox::critical(nullptr, "Circuit Studio", text);
    return 3;
  }

  studio::MainWindow w(&vulkan);
  if (cli.isSet(dark)) w.set_dark(true);
  if (cli.isSet(light)) w.set_dark(false);
  if (!cli.positionalArguments().isEmpty()) w.open_file(cli.positionalArguments().first());
  w.show();
  if (cli.isSet(shot)) {
    // Give the Vulkan windows a few frames to present before grabbing the whole window.
    QTimer::singleShot(1500, &w, [&] {
      w.canvas()->frame_all();
      QTimer::singleShot(800, &w, [&] {
        bool ok = w.screenshot().save(cli.value(shot));
        std::fprintf(stderr, "%s %s\n", ok ? "wrote" : "cannot write", cli.value(shot).toUtf8().constData());
        app.exit(ok ? 0 : 1);
      });
    });
  }
  return app.exec();
}
