// circuit-studio: the desktop studio. Checks for a display and a Vulkan device first, so a
// machine without them gets a sentence and a pointer to the CLI instead of a crash.
#include <QApplication>
#include <QCommandLineParser>
#include <QMessageBox>
#include <QTimer>
#include <QVulkanInstance>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <unistd.h>

#include "base/paths.h"
#include "canvas/canvas_window.h"
#include "main_window.h"

namespace {

bool has_display() {
  const char* platform = std::getenv("QT_QPA_PLATFORM");
  if (platform && *platform && std::string(platform).rfind("xcb", 0) != 0 && std::string(platform).rfind("wayland", 0) != 0)
    return true;  // offscreen, vnc, ...: the user chose a platform that needs no display
  auto set = [](const char* v) { return std::getenv(v) && *std::getenv(v); };
  return set("DISPLAY") || set("WAYLAND_DISPLAY");
}

// What the studio does is also in the `circuit` tool, installed next to it.
std::string no_display_text() {
  std::string exe = base::executable_path();
  std::string dir = exe.empty() ? std::string() : exe.substr(0, exe.rfind('/') + 1);
  // Installed, `circuit` sits beside the studio; in a build tree it is in app/cli/.
  std::string cli = "circuit";
  for (std::string c : {dir + "circuit", dir + "../cli/circuit"})
    if (char real[4096]; !dir.empty() && access(c.c_str(), X_OK) == 0 && realpath(c.c_str(), real)) {
      cli = real;
      break;
    }
  return "circuit-studio: no display found (DISPLAY and WAYLAND_DISPLAY are unset), so the studio cannot open a window.\n"
         "Run it in a desktop session, or under a virtual one: xvfb-run -a " + (exe.empty() ? std::string("circuit-studio") : exe) + " FILE\n"
         "Everything the studio does is also in the command line tool:\n"
         "  " + cli + " info FILE        shapes, parameters and FLOPs per node\n"
         "  " + cli + " render FILE -o diagram.svg\n"
         "  " + cli + " train FILE --data fashion-mnist --epochs 1\n"
         "  " + cli + " search SPACE --study NAME\n"
         "  " + cli + " run SCRIPT.lua\n";
}

// The command line, for QApplication and, without a display, for --help and --version alone.
struct Options {
  QCommandLineOption dark{"dark", "Start in the dark theme."};
  QCommandLineOption light{"light", "Start in the light theme."};
  QCommandLineOption shot{"screenshot", "Save a screenshot of the window to <png> and quit.", "png"};
  void add_to(QCommandLineParser& cli) {
    cli.setApplicationDescription("Circuit Studio: draw, train and search neural circuit diagrams.");
    cli.addHelpOption();
    cli.addVersionOption();
    cli.addPositionalArgument("file", "A .circuit.json file to open (default: an example).");
    cli.addOptions({dark, light, shot});
  }
};

void name_application() {
  QCoreApplication::setOrganizationName("CircuitStudio");
  QCoreApplication::setApplicationName("circuit-studio");
  QCoreApplication::setApplicationVersion(CIRCUIT_VERSION);
}

}  // namespace

int main(int argc, char** argv) {
  if (!has_display()) {
    // --help and --version need no window: answer them before saying there is no display.
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "-h" || a == "--help" || a == "--help-all" || a == "-v" || a == "--version") {
        QCoreApplication core(argc, argv);
        name_application();
        QCommandLineParser cli;
        Options o;
        o.add_to(cli);
        cli.process(core);  // prints and exits
      }
    }
    return std::fputs(no_display_text().c_str(), stderr), 2;
  }
  QApplication app(argc, argv);
  name_application();
  QCommandLineParser cli;
  Options opts;
  opts.add_to(cli);
  QCommandLineOption &dark = opts.dark, &light = opts.light, &shot = opts.shot;
  cli.process(app);

  QVulkanInstance vulkan;
  // Each problem says what to install or change; the CLI needs no device at all.
  const QString problem = studio::DiagramCanvas::vulkan_problem(vulkan);
  if (!problem.isEmpty()) {
    QString text = "The diagram canvas needs a Vulkan device: " + problem +
                   "\nThe `circuit` command line tool does everything headless, without one.";
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
