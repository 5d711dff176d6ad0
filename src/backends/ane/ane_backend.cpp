#include "backends/ane/ane_backend.h"

#include "core/error.h"

namespace anetrain::ane {

std::string unavailable_reason() {
#ifdef __APPLE__
  return "the ANE runtime is not implemented yet in this build";
#else
  return "the Apple Neural Engine needs macOS on Apple Silicon (this is not macOS)";
#endif
}

std::unique_ptr<Backend> make_ane_backend() {
  throw UserError("ANE backend unavailable: " + unavailable_reason() + "; use --backend cpu");
}

}  // namespace anetrain::ane
