#include "ui/extras.hpp"

namespace xdit::ui {

// Charts, history and timeline panels are added here (window.addPanel) and
// connected to `runs`' signals.
void install_extras(MainWindow& /*window*/, RunController& /*runs*/) {}

}  // namespace xdit::ui
