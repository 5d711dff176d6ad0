// How a kernel's arguments meet its ANE program's slots: by name, never by position. The
// program alone declares its slots' order and channels (programs/generator.h); a kernel method
// names which argument goes to which slot, and bind() puts them in the program's order. A slot
// left unbound or an argument naming no slot is an error, so reordering or renaming a program's
// slots cannot silently swap tensors.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "backends/ane/programs/kernel_programs.h"
#include "core/error.h"

namespace anetrain::ane {

// The tensor bound to each of `slots`, in slot order; throws unless every slot, and nothing
// else, is bound.
template <class Tensor>
std::vector<Tensor> bind(Kernel k, const std::vector<SurfaceSlot>& slots,
                         const std::map<std::string, Tensor>& bound) {
  std::vector<Tensor> out;
  for (const SurfaceSlot& slot : slots) {
    auto it = bound.find(slot.name);
    ANETRAIN_CHECK(it != bound.end(), std::string("ANE ") + kernel_name(k) + ": program slot '" +
                                          slot.name + "' is bound to no kernel argument");
    out.push_back(it->second);
  }
  ANETRAIN_CHECK(bound.size() == slots.size(), std::string("ANE ") + kernel_name(k) +
                                                   ": an argument is bound to no program slot");
  return out;
}

// Where element (c, s) of sequence b of a slot lives in the kernel's tensor (SlotLayout).
inline int64_t tensor_index(SlotLayout layout, const KernelDims& d, int64_t b, int64_t c,
                            int64_t s) {
  if (layout == SlotLayout::kAttentionRows) {
    const int64_t h = c / d.S, i = c % d.S;
    return ((h * d.B + b) * d.S + i) * d.S + s;
  }
  return c * d.T() + b * d.S + s;
}

}  // namespace anetrain::ane
