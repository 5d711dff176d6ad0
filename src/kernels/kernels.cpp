#include "kernels/kernels.h"

namespace anetrain {

const char* kernel_name(Kernel k) {
  switch (k) {
    case Kernel::kAttentionForward: return "attention_forward";
    case Kernel::kFfnForward: return "ffn_forward";
    case Kernel::kFfnBackward: return "ffn_backward";
    case Kernel::kSdpaBackward1: return "sdpa_backward1";
    case Kernel::kSdpaBackward2: return "sdpa_backward2";
    case Kernel::kQkvBackward: return "qkv_backward";
    case Kernel::kClassifierLoss: return "classifier_loss";
  }
  return "unknown";
}

}  // namespace anetrain
