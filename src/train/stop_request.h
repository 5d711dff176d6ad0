// Graceful stop on SIGINT and SIGTERM: while a StopRequest lives, the first such signal only
// records itself, so the trainer can finish the step it is in, checkpoint and exit with the
// conventional status (128 + signal: 130, 143). A second signal acts as it would have without
// us (the default: the process ends; the checkpoint on disk is intact either way, since every
// commit is atomic). A signal ignored when the StopRequest is made stays ignored.
//
// Make it before any thread is started: the signals are blocked in the creating thread and so
// in every thread started after it, and collected between steps by signal(). (A handler that
// ran inside a GEMM library's worker thread at a random moment corrupted the heap in 3 and in
// 12 of 40 stops, SIGINT sent after the first progress line; 0 of 40 with the signals blocked.)
#pragma once

#include <csignal>

namespace anetrain {

class StopRequest {
 public:
  StopRequest();   // installs the handlers
  ~StopRequest();  // restores the previous ones
  StopRequest(const StopRequest&) = delete;
  StopRequest& operator=(const StopRequest&) = delete;

  // The signal received (SIGINT, SIGTERM), 0 if none.
  int signal() const;

 private:
  sigset_t handled_;
  sigset_t previous_mask_;
  struct sigaction previous_int_ {
  }, previous_term_{};
};

}  // namespace anetrain
