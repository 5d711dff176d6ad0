// Runs a kernel's plan (kernel_programs.h) on one sequence: the host RMSNorm where the plan
// has one, then each part in order, its input slots cut from the named tensors and its output
// slots written back into them. How a part is evaluated (the fp16 interpreter, a driver) is
// the caller's; so the backend and `ane check` run plans the same way.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "backends/ane/programs/kernel_programs.h"

namespace anetrain::ane {

// Tensors of one sequence by name, each [C, S] row-major.
using SequenceTensors = std::map<std::string, std::vector<float>>;

// Evaluates one part: its input slots' values by slot name ([channels, S] each) in, the
// output surface [output_channels, S] out (fp16 values as float).
using PartRunner =
    std::function<std::vector<float>(size_t part, const SequenceTensors& slot_values)>;

// `values` holds the plan's inputs (KernelPlan::inputs()) and receives every tensor a part or
// the host writes, outputs and intermediates alike.
void run_plan(const KernelPlan& plan, const BlockWeights& w, const KernelDims& d,
              SequenceTensors& values, const PartRunner& run_part);

}  // namespace anetrain::ane
