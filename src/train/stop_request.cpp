#include "train/stop_request.h"

#include <csignal>

namespace anetrain {
namespace {

volatile std::sig_atomic_t received = 0;
struct sigaction previous_int, previous_term;

void on_stop_signal(int sig) {
  received = sig;
  // The next one is not ours to soften: restore the default so it ends the process.
  std::signal(sig, SIG_DFL);
}

}  // namespace

StopRequest::StopRequest() {
  received = 0;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // reads and writes in progress carry on
  sigaction(SIGINT, &action, &previous_int);
  sigaction(SIGTERM, &action, &previous_term);
}

StopRequest::~StopRequest() {
  sigaction(SIGINT, &previous_int, nullptr);
  sigaction(SIGTERM, &previous_term, nullptr);
}

int StopRequest::signal() const { return received; }

}  // namespace anetrain
