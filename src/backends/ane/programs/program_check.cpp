#include "backends/ane/programs/program_check.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <utility>

#include "backends/ane/mil/interpreter.h"
#include "backends/ane/mil/printer.h"
#include "backends/ane/programs/kernel_programs.h"
#include "backends/ane/programs/plan_runner.h"
#include "backends/ane/programs/program_files.h"
#include "backends/ane/runtime/driver.h"
#include "backends/kernel_calls.h"
#include "core/error.h"
#include "core/fp16.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "model/params.h"

namespace anetrain::ane {

std::vector<float> pack_input_surface(const KernelProgram& kp,
                                      const std::map<std::string, std::vector<float>>& values) {
  const int64_t W = kp.surface_columns;
  std::vector<float> surface(kp.surface_channels * W, 0.0f);
  for (size_t i = 0; i < kp.inputs.size(); ++i) {
    const SurfaceSlot& s = kp.inputs[i];
    const auto [channel, column] = kp.input_positions.at(i);
    const std::vector<float>& v = values.at(s.name);
    ANETRAIN_CHECK(static_cast<int64_t>(v.size()) == s.channels * kp.seq, "slot size " + s.name);
    for (int64_t c = 0; c < s.channels; ++c)
      std::copy(v.begin() + c * kp.seq, v.begin() + (c + 1) * kp.seq,
                surface.begin() + (channel + c) * W + column);
  }
  for (const SurfaceWeight& w : kp.surface_weights)
    for (int64_t r = 0; r < w.rows; ++r)
      std::copy(w.values.begin() + r * w.cols, w.values.begin() + (r + 1) * w.cols,
                surface.begin() + (w.channel + r) * W + w.column);
  return surface;
}

std::vector<float> evaluate_program(AneDriver& driver, int64_t handle, const KernelProgram& kp,
                                    const std::map<std::string, std::vector<float>>& values) {
  const std::vector<float> packed = pack_input_surface(kp, values);
  Surface in{kp.surface_channels, kp.surface_columns, std::vector<uint16_t>(packed.size())};
  for (size_t i = 0; i < packed.size(); ++i) in.fp16[i] = fp32_to_fp16(packed[i]);
  Surface out{kp.output_channels(), kp.seq, {}};
  driver.evaluate(handle, {&in}, {&out});
  std::vector<float> result(out.fp16.size());
  for (size_t i = 0; i < result.size(); ++i) result[i] = fp16_to_fp32(out.fp16[i]);
  return result;
}

namespace {

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// Compiles, loads and evaluates one program through `driver` as the runtime does (its text and
// weight file, one packed fp16 surface in and out), adding compile+load and evaluation times.
std::vector<float> run_through_driver(AneDriver& driver, const KernelProgram& kp,
                                      const SequenceTensors& values, KernelCheck& timing) {
  ANETRAIN_CHECK(!kp.multi_input, "programs with one input per slot run in the interpreter only");
  auto start = std::chrono::steady_clock::now();
  const int64_t handle = driver.compile_and_load(mil::print_program(kp.program),
                                                 {{kWeightFile, serialize_weights(kp)}});
  timing.compile_ms += ms_since(start);
  start = std::chrono::steady_clock::now();
  std::vector<float> result = evaluate_program(driver, handle, kp, values);
  timing.evaluate_ms += ms_since(start);
  driver.unload(handle);
  return result;
}

// Runs one program on the interpreter with its input slots taken from `values` (one sequence,
// so every kernel tensor is its slot's [C, S]).
std::vector<float> run_program(const KernelProgram& kp, const SequenceTensors& values) {
  // Weights go through the real file format: written, parsed back, loaded by record offset.
  const MilBlobFile weights =
      MilBlobFile::parse(serialize_weights(kp), kp.kernel + "/weights/weight.bin");
  mil::Interpreter interpreter(kp.program, blob_loader(weights));
  std::vector<std::pair<std::string, mil::HostTensor>> inputs;
  if (kp.multi_input) {
    for (const auto& [slot, input_name] : kp.input_names) {
      mil::HostTensor input;
      input.data = values.at(slot);
      input.type = {mil::DType::kFp16,
                    {1, static_cast<int64_t>(input.data.size()) / kp.seq, 1, kp.seq}};
      inputs.emplace_back(input_name, std::move(input));
    }
  } else {
    mil::HostTensor input;
    input.type = {mil::DType::kFp16, {1, kp.surface_channels, 1, kp.surface_columns}};
    input.data = pack_input_surface(kp, values);
    inputs.emplace_back(kp.program.main.inputs.at(0).first, std::move(input));
  }
  std::vector<mil::HostTensor> out = interpreter.run(inputs);
  ANETRAIN_CHECK(out.size() == 1, "one output surface");
  return out[0].data;
}

// The kernel's outputs (one sequence) against the CPU backend's.
void compare(const KernelPlan& plan, const SequenceTensors& values, const NamedTensors& reference,
             KernelCheck& check) {
  check.kernel = kernel_name(plan.op);
  check.variant = plan.options.variant + (plan.options.multi_input ? "+mi" : "");
  check.form = plan.options.form;
  check.parts = static_cast<int64_t>(plan.parts.size());
  for (const KernelProgram& part : plan.parts)
    check.ops += static_cast<int64_t>(part.program.main.ops.size());
  check.tolerance = ane_kernel(plan.op).tolerance;
  for (const SurfaceSlot& s : plan.outputs()) {
    const std::vector<float>& ref = reference.at(s.name);
    const std::vector<float>& got = values.at(s.name);
    ANETRAIN_CHECK(got.size() == ref.size(), "ANE " + check.kernel + ": " + s.name + " size");
    SlotError e{s.name};
    for (size_t i = 0; i < ref.size(); ++i) {
      const double a = got[i], r = ref[i];
      e.max_abs = std::max(e.max_abs, std::isfinite(a) ? std::fabs(a - r) : INFINITY);
      e.max_ref = std::max(e.max_ref, std::fabs(r));
    }
    check.slots.push_back(e);
  }
}

// The block's weights with the call's adapters (their masks mark them masked; the mask values
// travel as input slots, the taps come back as output slots).
BlockWeights with_adapters(BlockWeights w, const KernelCall& call) {
  const CallAdapters& ca = call.adapters;
  for (const auto& [t, a] : ca.a) {
    const auto drop = call.inputs.find("drop_" + t);
    w.*block_adapter(t).field = {.a = a.data(),
                                 .b = ca.b.at(t).data(),
                                 .drop = drop == call.inputs.end() ? nullptr : drop->second.data(),
                                 .r = ca.rank,
                                 .scale = ca.scale};
  }
  return w;
}

}  // namespace

const SlotError& KernelCheck::worst() const {
  return *std::max_element(slots.begin(), slots.end(), [](const SlotError& a, const SlotError& b) {
    return a.relative() < b.relative();
  });
}

std::vector<KernelCheck> check_kernel_programs(const ModelConfig& config,
                                               const ProgramOptions& options, uint64_t seed,
                                               AneDriver* driver, const CallLora& lora) {
  init_thread_pool();
  ModelConfig one_block = config;
  one_block.n_layers = 1;
  ParamLayout layout(one_block);
  Rng rng(seed + 1);
  const std::vector<float> params = check_params(one_block, layout, seed, rng);
  config.validate();
  const KernelDims d = KernelDims::from(config, 1, config.seq_len);
  const BlockWeights w = block_weights(layout, params.data());
  // The CPU backend's kernels on one sequence give both the programs' inputs and the reference.
  const std::vector<KernelCall> calls = reference_calls(d, layout, params.data(), rng, lora);
  std::vector<KernelCheck> checks;
  for (Kernel k : ane_program_kernels()) {
    const KernelCall& call = calls[static_cast<size_t>(k)];
    const BlockWeights kw = with_adapters(w, call);
    const KernelPlan plan = build_kernel_plan(d, k, kw, options);
    KernelCheck check;
    SequenceTensors values;
    for (const SurfaceSlot& s : plan.inputs()) values[s.name] = call.inputs.at(s.name);
    run_plan(plan, kw, d, values, [&](size_t i, const SequenceTensors& slots) {
      return driver ? run_through_driver(*driver, plan.parts[i], slots, check)
                    : run_program(plan.parts[i], slots);
    });
    compare(plan, values, call.outputs, check);
    checks.push_back(check);
  }
  return checks;
}

}  // namespace anetrain::ane
