#include "train/stop_request.h"

#include <pthread.h>

#include <csignal>
#include <ctime>
#include <initializer_list>

namespace anetrain {
namespace {

volatile std::sig_atomic_t received = 0;

void on_stop_signal(int sig) {
  received = sig;
  // The next one is not ours to soften: restore the default so it ends the process.
  std::signal(sig, SIG_DFL);
}

}  // namespace

StopRequest::StopRequest() {
  received = 0;
  sigemptyset(&handled_);
  for (const int sig : {SIGINT, SIGTERM}) {
    struct sigaction current {};
    sigaction(sig, nullptr, &current);
    // An ignored signal stays ignored: a job started in the background of a script is meant to
    // be immune to the terminal's Ctrl-C.
    if (current.sa_handler == SIG_IGN) continue;
    sigaddset(&handled_, sig);
  }
  // Blocked in this thread, and so in every thread it creates from now on (the OpenMP pool,
  // the GEMM library's): the signal then interrupts no system call or library anywhere and
  // waits to be collected between steps. A thread created before (a test calling train()
  // twice) may still take it; the handler covers that case.
  pthread_sigmask(SIG_BLOCK, &handled_, &previous_mask_);
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, sigismember(&handled_, SIGINT) ? &action : nullptr, &previous_int_);
  sigaction(SIGTERM, sigismember(&handled_, SIGTERM) ? &action : nullptr, &previous_term_);
}

StopRequest::~StopRequest() {
  sigaction(SIGINT, &previous_int_, nullptr);
  sigaction(SIGTERM, &previous_term_, nullptr);
  pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
}

int StopRequest::signal() const {
  if (received == 0) {
    const timespec now{0, 0};
    const int sig = sigtimedwait(&handled_, nullptr, &now);
    if (sig > 0) {
      received = sig;
      // A second one ends the process: default action, and deliverable to this thread.
      std::signal(sig, SIG_DFL);
      sigset_t one;
      sigemptyset(&one);
      sigaddset(&one, sig);
      pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
    }
  }
  return received;
}

}  // namespace anetrain
