#include "backends/ane/runtime/request_layout.h"

#include <algorithm>
#include <numeric>

#include "backends/ane/runtime/driver.h"
#include "core/error.h"

namespace anetrain::ane {
namespace {

constexpr int64_t kAlign = 64;  // surface rows are 64-byte aligned (ane.md)

int64_t round_up(int64_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// Positions by alphabetical rank, sizes by the rule; `ascending` orders sizes up (inputs) or
// down (outputs) along the positions.
std::vector<RequestSlot> plan(const std::vector<RequestTensor>& tensors, SurfaceSizeRule rule,
                              bool ascending) {
  const size_t n = tensors.size();
  std::vector<size_t> by_name(n);
  std::iota(by_name.begin(), by_name.end(), 0);
  std::sort(by_name.begin(), by_name.end(),
            [&](size_t a, size_t b) { return tensors[a].name < tensors[b].name; });
  std::vector<RequestSlot> slots(n);
  int64_t largest = 0;
  for (const RequestTensor& t : tensors) largest = std::max(largest, round_up(t.bytes()));
  int64_t previous = 0;
  for (size_t k = 0; k < n; ++k) {
    // Outputs descend along the positions: walk them from the last position back.
    const size_t rank = ascending ? k : n - 1 - k;
    RequestSlot& slot = slots[by_name[rank]];
    slot.position = static_cast<int64_t>(rank);
    const int64_t own = round_up(tensors[by_name[rank]].bytes());
    slot.surface_bytes =
        rule == SurfaceSizeRule::kEqual ? largest : std::max(own, k == 0 ? own : previous + kAlign);
    previous = slot.surface_bytes;
  }
  return slots;
}

}  // namespace

SurfaceSizeRule parse_surface_size_rule(const std::string& name, const std::string& what) {
  if (name == "equal") return SurfaceSizeRule::kEqual;
  if (name == "ascending") return SurfaceSizeRule::kAscending;
  throw UserError(what + " '" + name + "' is unknown: use equal or ascending");
}

ProgramIo program_io(const mil::Function& f) {
  auto tensor = [](const std::string& what, const std::string& name, const mil::Type& t) {
    if (t.dtype != mil::DType::kFp16 || t.shape.size() != 4 || t.shape[0] != 1 || t.shape[2] != 1)
      throw DriverError(what + " '" + name + "' is not an fp16 [1, C, 1, W] tensor: surfaces " +
                        "carry only that layout");
    return RequestTensor{name, t.shape[1], t.shape[3]};
  };
  ProgramIo io;
  for (const auto& [name, type] : f.inputs) io.inputs.push_back(tensor("input", name, type));
  for (const std::string& name : f.outputs) {
    const mil::Type* type = nullptr;
    for (const auto& [input, input_type] : f.inputs)
      if (input == name) type = &input_type;
    for (const mil::Operation& op : f.ops)
      if (op.result == name) type = &op.type;
    if (!type) throw DriverError("output '" + name + "' is not defined in the function");
    io.outputs.push_back(tensor("output", name, *type));
  }
  return io;
}

RequestLayout plan_request(const ProgramIo& io, SurfaceSizeRule rule) {
  return {plan(io.inputs, rule, true), plan(io.outputs, rule, false)};
}

}  // namespace anetrain::ane
