// How a program's inputs and outputs meet the surfaces of an ANE request, decided in one place
// for the framework driver and the fake driver alike. Reports from hardware (ane.md, "What the
// runtimes that ran on hardware do"): surfaces bind in alphabetical order of the MIL names, not
// in declaration order, and the surfaces of one request want equal sizes (contested: inputs
// strictly ascending and outputs strictly descending). The size rule is a capability switch;
// the binding order is not contested.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backends/ane/mil/ir.h"

namespace anetrain::ane {

enum class SurfaceSizeRule { kEqual, kAscending };

// "equal" or "ascending"; throws UserError naming `what` for anything else.
SurfaceSizeRule parse_surface_size_rule(const std::string& name, const std::string& what);

// A function input or output as a surface carries it: fp16 [1, channels, 1, width].
struct RequestTensor {
  std::string name;  // its MIL name
  int64_t channels = 0, width = 0;
  int64_t bytes() const { return channels * width * 2; }
};

struct ProgramIo {
  std::vector<RequestTensor> inputs, outputs;  // in the function's declaration order
};
// The inputs and outputs of `f`; throws DriverError unless each is an fp16 [1, C, 1, W].
ProgramIo program_io(const mil::Function& f);

struct RequestSlot {
  int64_t position = 0;       // where its surface goes in the request (its alphabetical rank)
  int64_t surface_bytes = 0;  // the surface to allocate: at least the tensor, 64-byte multiple
};

struct RequestLayout {
  std::vector<RequestSlot> inputs, outputs;  // in the function's declaration order
};

// Surfaces for a program with these inputs and outputs.
RequestLayout plan_request(const ProgramIo& io, SurfaceSizeRule rule);

}  // namespace anetrain::ane
