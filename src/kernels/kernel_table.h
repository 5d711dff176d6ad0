// The list of fused kernels, written once. Each row names a kernel; by convention its
// arguments are the struct <Id>Args of kernels/kernels.h and every backend implements it as the
// method <name> (backends/backend.h declares the methods from this list). Everything that
// enumerates kernels is derived from here: the Kernel enum and its names, require_all_kernels(),
// the profiler's rows and FLOPs (Backend::run), the ANE's column (program writer, tolerance;
// backends/ane/programs/kernel_programs.cpp, checked at compile time to cover every row), the
// calls by name of backends/kernel_calls.h, and the tests' counts.
//
// A new kernel: its Args and contract in kernels.h, a row here and its kernel_flops() below
// (formula in model/flops.h), the CPU method in backends/cpu, the ANE method (ane_backend.cpp)
// and row (kernel_programs.cpp), its args() in backends/kernel_calls.cpp; the build names
// whatever is missing. Rows are in the order a training step first calls them.
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "kernels/kernels.h"
#include "model/flops.h"

// X(Id, name)
#define ANETRAIN_KERNELS(X)              \
  X(AttentionForward, attention_forward) \
  X(FfnForward, ffn_forward)             \
  X(FfnBackward, ffn_backward)           \
  X(SdpaBackward1, sdpa_backward1)       \
  X(SdpaBackward2, sdpa_backward2)       \
  X(QkvBackward, qkv_backward)           \
  X(ClassifierLoss, classifier_loss)

namespace anetrain {

#define ANETRAIN_KERNEL_ENUM(Id, name) k##Id,
enum class Kernel { ANETRAIN_KERNELS(ANETRAIN_KERNEL_ENUM) };
#undef ANETRAIN_KERNEL_ENUM

#define ANETRAIN_KERNEL_ONE(Id, name) +1
inline constexpr size_t kKernelCount = 0 ANETRAIN_KERNELS(ANETRAIN_KERNEL_ONE);
#undef ANETRAIN_KERNEL_ONE

#define ANETRAIN_KERNEL_VALUE(Id, name) Kernel::k##Id,
inline constexpr std::array<Kernel, kKernelCount> kAllKernels = {
    ANETRAIN_KERNELS(ANETRAIN_KERNEL_VALUE)};
#undef ANETRAIN_KERNEL_VALUE

struct KernelNames {
  const char* name;         // "attention_forward", as in kernels.h and the ANE programs
  const char* profile_row;  // "kernel attention_forward", the row of `bench --profile`
};

#define ANETRAIN_KERNEL_NAMES(Id, name) KernelNames{#name, "kernel " #name},
inline constexpr std::array<KernelNames, kKernelCount> kKernelNames = {
    ANETRAIN_KERNELS(ANETRAIN_KERNEL_NAMES)};
#undef ANETRAIN_KERNEL_NAMES

constexpr const char* kernel_name(Kernel k) { return kKernelNames[static_cast<size_t>(k)].name; }
constexpr const char* kernel_profile_row(Kernel k) {
  return kKernelNames[static_cast<size_t>(k)].profile_row;
}

// The kernel whose arguments are Args: kernel_of<FfnBackwardArgs> == Kernel::kFfnBackward (a
// type that is no kernel's arguments does not compile).
template <class Args>
struct KernelOf;
#define ANETRAIN_KERNEL_OF(Id, name)               \
  template <>                                      \
  struct KernelOf<Id##Args> {                      \
    static constexpr Kernel value = Kernel::k##Id; \
  };
ANETRAIN_KERNELS(ANETRAIN_KERNEL_OF)
#undef ANETRAIN_KERNEL_OF
template <class Args>
inline constexpr Kernel kernel_of = KernelOf<Args>::value;

// The FLOPs one call counts (model/flops.h), chosen by what the arguments ask for; one overload
// per row (checked below).
inline double kernel_flops(const KernelDims& d, const AttentionForwardArgs&) {
  return attention_forward_flops(d);
}
inline double kernel_flops(const KernelDims& d, const FfnForwardArgs&) {
  return ffn_forward_flops(d);
}
inline double kernel_flops(const KernelDims& d, const FfnBackwardArgs&) {
  return ffn_backward_flops(d);
}
inline double kernel_flops(const KernelDims& d, const SdpaBackward1Args& a) {
  return sdpa_backward1_flops(d, a.probs != nullptr);
}
inline double kernel_flops(const KernelDims& d, const SdpaBackward2Args& a) {
  return sdpa_backward2_flops(d, a.probs != nullptr);
}
inline double kernel_flops(const KernelDims& d, const QkvBackwardArgs&) {
  return qkv_backward_flops(d);
}
inline double kernel_flops(const KernelDims& d, const ClassifierLossArgs& a) {
  return classifier_loss_flops(d, a.targets != nullptr);
}

#define ANETRAIN_KERNEL_HAS_FLOPS(Id, name)                                              \
  static_assert(std::is_same_v<double, decltype(kernel_flops(std::declval<KernelDims>(), \
                                                             std::declval<Id##Args>()))>);
ANETRAIN_KERNELS(ANETRAIN_KERNEL_HAS_FLOPS)
#undef ANETRAIN_KERNEL_HAS_FLOPS

}  // namespace anetrain
