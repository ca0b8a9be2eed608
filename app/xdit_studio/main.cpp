// xdit-studio: the desktop app. `--screenshot FILE` generates one image on
// two workers with the built-in model, saves a picture of the window and
// quits (for the README; works offscreen with QT_QPA_PLATFORM=offscreen).

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QStandardPaths>
#include <QTimer>
#include <cstdio>
#include <string_view>

#include "ui/extras.hpp"
#include "ui/generation_form.hpp"
#include "ui/main_window.hpp"

namespace {

// Generates with demo settings, then grabs the window into `path`.
void take_screenshot(xdit::ui::MainWindow& window, const QString& path) {
  auto& form = window.form();
  xdit::ui::ImageSettings demo;
  // builtin:scenes at its own 64 px, with a prompt it draws.
  demo.request.prompts = {"a yellow star on a purple background"};
  demo.request.seed = 42;
  demo.spec.parallel.ulysses_degree = 2;
  demo.spec.world_size = 2;
  form.setSettings(demo);
  window.generate();  // starts once the form has checked the settings
  QObject::connect(&window.runs(), &xdit::ui::RunController::finished, &window, [&window, path] {
    // Let the panels draw what the run gave them.
    QTimer::singleShot(500, &window, [&window, path] {
      const bool saved = window.grab().save(path);
      std::fprintf(stderr, "%s %s\n", saved ? "wrote" : "could not write", qPrintable(path));
      QApplication::exit(saved ? 0 : 1);
    });
  });
  QObject::connect(&window.runs(), &xdit::ui::RunController::failed, &window,
                   [](const QString& message) {
                     std::fprintf(stderr, "xdit-studio: %s\n", qPrintable(message));
                     QApplication::exit(1);
                   });
}

void set_identity() {
  QCoreApplication::setOrganizationName("xdit");
  QCoreApplication::setApplicationName("xDiT Studio");
  QCoreApplication::setApplicationVersion("0.1.0");
}

const QCommandLineOption kScreenshot(
    "screenshot", "Generate one image on two workers, save the window as <png>, quit.", "png");

void describe(QCommandLineParser& parser) {
  parser.setApplicationDescription("Interactive parallel text-to-image generation with xDiT");
  parser.addHelpOption();
  parser.addVersionOption();
  parser.addOption(kScreenshot);
}

// --help and --version only print, so they must work without a display
// (a QApplication would abort there before reading the arguments).
bool only_prints(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help" || arg == "--help-all" || arg == "-v" || arg == "--version")
      return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (only_prints(argc, argv)) {
    QCoreApplication core(argc, argv);
    set_identity();
    QCommandLineParser parser;
    describe(parser);
    parser.process(core);  // prints and exits
    return 0;
  }
  QApplication app(argc, argv);
  set_identity();
  QApplication::setDesktopFileName("xdit-studio");

  QCommandLineParser parser;
  describe(parser);
  parser.process(app);
  if (parser.isSet(kScreenshot))
    QStandardPaths::setTestModeEnabled(true);  // leave the user's settings alone

  xdit::workers::LaunchOptions launch;
  const QString logs =
      QStandardPaths::writableLocation(QStandardPaths::CacheLocation) + "/worker-logs";
  if (QDir().mkpath(logs))
    launch.log_dir = logs.toStdString();
  xdit::ui::MainWindow window(launch);
  xdit::ui::install_extras(window, window.runs());
  if (parser.isSet(kScreenshot)) {
    window.resize(1280, 860);
    take_screenshot(window, parser.value(kScreenshot));
  }
  window.show();
  return QApplication::exec();
}
