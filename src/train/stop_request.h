// Graceful stop on SIGINT and SIGTERM: while a StopRequest lives, the first such signal only
// records itself, so the trainer can finish the step it is in, checkpoint and exit with the
// conventional status (128 + signal: 130, 143). A second signal acts as it would have without
// us (the default: the process ends; the checkpoint on disk is intact either way, since every
// commit is atomic).
#pragma once

namespace anetrain {

class StopRequest {
 public:
  StopRequest();   // installs the handlers
  ~StopRequest();  // restores the previous ones
  StopRequest(const StopRequest&) = delete;
  StopRequest& operator=(const StopRequest&) = delete;

  // The signal received (SIGINT, SIGTERM), 0 if none.
  int signal() const;
};

}  // namespace anetrain
