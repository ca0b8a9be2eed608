#include "workers/cancel_on_signal.hpp"

#include <atomic>

namespace xdit::workers {
namespace {

std::atomic<Launcher*> g_launcher{nullptr};
volatile std::sig_atomic_t g_received = 0;

void on_signal(int signal) {
  g_received = signal;
  if (Launcher* launcher = g_launcher.load())
    launcher->cancel();
}

}  // namespace

CancelOnSignal::CancelOnSignal(Launcher& launcher) {
  g_received = 0;
  g_launcher.store(&launcher);
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, &previous_int_);
  ::sigaction(SIGTERM, &action, &previous_term_);
}

CancelOnSignal::~CancelOnSignal() {
  ::sigaction(SIGINT, &previous_int_, nullptr);
  ::sigaction(SIGTERM, &previous_term_, nullptr);
  g_launcher.store(nullptr);
}

int CancelOnSignal::received() {
  return g_received;
}

}  // namespace xdit::workers
