// How a gradient is written, shared by the host's gradient routines (train/host_ops.h) and
// RMSNorm's backward (backends/cpu/rmsnorm.h).
#pragma once

namespace anetrain {

// How a gradient lands in its buffer. The first micro-batch of a step overwrites (so no
// zeroing pass over every gradient is needed, and the GEMMs do not read the old values);
// later micro-batches accumulate.
enum class GradWrite { kOverwrite, kAccumulate };

}  // namespace anetrain
