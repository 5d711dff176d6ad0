// What the dynamic pipeline compiles a program once for: the kernel and its dims, all of them,
// and the shape of its LoRA adapters (LoraShape: rank and dropout mask per adapter; programs
// with and without adapters, or of another rank, differ).
// The comparison is defaulted and the key copies the dims whole, so a field added to
// KernelDims (a new model option) is part of the key without anyone listing it here; a
// program built for other dims can never be reused in its place. Only B is set to 1: a program
// runs one sequence per dispatch, whatever the micro-batch.
//
// A template over the dims type so that a test can show, with a dims type that has one more
// field, that the key keeps and compares every field (tests/backends/ane/program_key_test.cpp).
#pragma once

#include <compare>

#include "backends/ane/programs/kernel_programs.h"
#include "kernels/kernel_table.h"

namespace anetrain::ane {

template <class Dims>
struct ProgramKeyOf {
  Kernel kernel;
  Dims dims;
  LoraShape lora;  // the adapters' ranks and masks (their values travel in the surface)
  auto operator<=>(const ProgramKeyOf&) const = default;
};

using ProgramKey = ProgramKeyOf<KernelDims>;

template <class Dims>
ProgramKeyOf<Dims> program_key(Kernel kernel, Dims dims, const LoraShape& lora = {}) {
  dims.B = 1;
  return {kernel, dims, lora};
}

}  // namespace anetrain::ane
