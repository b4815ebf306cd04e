#include "runner/interrupt.hpp"

#include <csignal>

namespace fh::runner {

namespace {
volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_interrupt(int sig) {
  g_signal = sig;
}
}  // namespace

void install_interrupt_handlers() {
  for (int sig : {SIGINT, SIGTERM}) {
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    ::sigaction(sig, &action, nullptr);
  }
}

bool interrupted() {
  return g_signal != 0;
}
int interrupt_signal() {
  return g_signal;
}

}  // namespace fh::runner
