#pragma once
// The Studio's optional panels (charts, run history, timeline) are installed
// here, after the main window and the run controller exist: install_extras
// adds each panel with MainWindow::addPanel and connects it to the
// controller's signals. Its body (ui/extras.cpp) belongs to the panels.

namespace xdit::ui {

class MainWindow;
class RunController;

void install_extras(MainWindow& window, RunController& runs);

}  // namespace xdit::ui
