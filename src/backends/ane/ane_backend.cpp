#include "backends/ane/ane_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "core/fp16.h"
#include "backends/ane/mil/printer.h"
#include "backends/ane/programs/program_check.h"
#include "backends/ane/programs/program_files.h"
#include "backends/ane/runtime/fake_driver.h"
#include "backends/ane/runtime/framework_driver.h"
#include "backends/ane/slot_binding.h"
#include "core/error.h"
#include "core/gemm.h"

namespace anetrain::ane {
namespace {

void rms_inv_on_host(const float* x, int64_t C, int64_t T, float eps, float* out) {
  std::vector<float> sum(T, 0.0f);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t t = 0; t < T; ++t) sum[t] += x[c * T + t] * x[c * T + t];
  for (int64_t t = 0; t < T; ++t) out[t] = 1.0f / std::sqrt(sum[t] / static_cast<float>(C) + eps);
}

}  // namespace

std::unique_ptr<Backend> make_ane_backend(const BackendOptions& options) {
  if (options.ane_pipeline != "dynamic" && options.ane_pipeline != "static")
    throw UserError("ane_pipeline '" + options.ane_pipeline +
                    "' is unknown: use dynamic or static");
  const char* driver = std::getenv("ANETRAIN_ANE_DRIVER");
  if (driver && std::string(driver) == "fake") {
    FakeDriverOptions fake;
    const FrameworkDriverOptions same = framework_driver_options_from_environment();
    fake.cache_dir = same.cache_dir;
    fake.cache_limit_bytes = same.cache_limit_bytes;
    fake.surface_rule = same.surface_rule;
    if (const char* budget = std::getenv("ANETRAIN_FAKE_COMPILE_BUDGET"))
      fake.compile_budget = std::atoll(budget);
    return std::make_unique<AneBackend>(std::make_unique<FakeDriver>(fake), options);
  }
  std::string reason;
  if (auto framework = open_framework_driver(&reason))
    return std::make_unique<AneBackend>(std::move(framework), options);
  throw UserError("ANE backend unavailable: " + reason + "; use --backend cpu");
}

AneBackend::AneBackend(std::unique_ptr<AneDriver> driver, BackendOptions options)
    : driver_(std::move(driver)),
      pipeline_(std::move(options.ane_pipeline)),
      compile_budget_(options.compile_budget) {}

void AneBackend::prepare_run(const ModelConfig& model) {
  n_layers_ = model.n_layers;
  const int64_t per_step = compiles_per_step(model.n_layers);
  if (pipeline_ == "static" && per_step > compile_budget_)
    throw UserError(
        "compile_budget " + std::to_string(compile_budget_) + " is below the " +
        std::to_string(per_step) +
        " compiles one static-pipeline step needs: raise it or use ane_pipeline=dynamic");
}

std::string AneBackend::restart_reason() const {
  if (pipeline_ != "static") return "";
  const int64_t used = driver_->compiles();
  if (used + compiles_per_step(n_layers_) <= compile_budget_) return "";
  return "compile budget: " + std::to_string(used) + " of " + std::to_string(compile_budget_) +
         " compiles used";
}

bool AneBackend::supports(Kernel, const KernelDims& d) const {
  // One sequence per dispatch; rows of S fp16 values must be 64-byte aligned.
  return d.S % 32 == 0;
}

const KernelProgram& AneBackend::load_program(const KernelDims& d, Kernel k, const BlockWeights& w,
                                              int64_t* handle) {
  if (pipeline_ == "dynamic") {
    // Compiled once per key; later dispatches only restage the current weights.
    const ProgramKey key = program_key(k, d);
    auto it = dynamic_programs_.find(key);
    if (it != dynamic_programs_.end()) {
      refresh_surface_weights(it->second.program, w);
      *handle = it->second.handle;
      return it->second.program;
    }
    KernelProgram kp = build_kernel_program(key.dims, k, w, pipeline_);
    const int64_t h = compile(k, mil::print_program(kp.program), serialize_weights(kp));
    it = dynamic_programs_.emplace(key, LoadedProgram{std::move(kp), h}).first;
    *handle = h;
    return it->second.program;
  }
  // Static: the weights are baked into the program, so every new set of weights is a new
  // program, identified by its text and weight file together.
  static_program_ = build_kernel_program(d, k, w, pipeline_);
  const std::string text = mil::print_program(static_program_.program);
  const std::string weights = serialize_weights(static_program_);
  const std::string key = text + weights;
  auto it = compiled_.find(key);
  if (it == compiled_.end()) {
    it = compiled_.emplace(key, compile(k, text, weights)).first;
    compiled_order_.push_back(key);
    // Programs with stale weights are never used again: keep the loaded set small.
    constexpr size_t kMaxLoaded = 64;
    if (compiled_order_.size() > kMaxLoaded) {
      driver_->unload(compiled_.at(compiled_order_.front()));
      compiled_.erase(compiled_order_.front());
      compiled_order_.erase(compiled_order_.begin());
    }
  }
  *handle = it->second;
  return static_program_;
}

int64_t AneBackend::compile(Kernel k, const std::string& text, const std::string& weights) {
  try {
    return driver_->compile_and_load(text, {{kWeightFile, weights}});
  } catch (const DriverError& e) {
    throw UserError(std::string("ANE ") + kernel_name(k) + ": " + e.what());
  }
}

void AneBackend::run_program(const KernelDims& d, Kernel k, const BlockWeights& w,
                             const Inputs& inputs, const Outputs& outputs) {
  int64_t handle = 0;
  const KernelProgram& kp = load_program(d, k, w, &handle);
  const std::vector<const float*> in_tensors = bind(k, kp.inputs, inputs);
  const std::vector<float*> out_tensors = bind(k, kp.outputs, outputs);
  const int64_t S = d.S;
  Surface in{kp.surface_channels, kp.surface_columns, {}};
  Surface out{kp.output_channels(), S, {}};
  for (int64_t b = 0; b < d.B; ++b) {
    // Pack sequence b's part of every input slot, then the weights (pack_input_surface).
    std::map<std::string, std::vector<float>> values;
    for (size_t i = 0; i < kp.inputs.size(); ++i) {
      const SurfaceSlot& slot = kp.inputs[i];
      std::vector<float>& v = values[slot.name];
      v.resize(slot.channels * S);
      for (int64_t c = 0; c < slot.channels; ++c)
        for (int64_t s = 0; s < S; ++s)
          v[c * S + s] = in_tensors[i][tensor_index(slot.layout, d, b, c, s)];
    }
    const std::vector<float> packed = pack_input_surface(kp, values);
    in.fp16.resize(packed.size());
    for (size_t i = 0; i < packed.size(); ++i) in.fp16[i] = fp32_to_fp16(packed[i]);
    try {
      driver_->evaluate(handle, {&in}, {&out});
    } catch (const DriverError& e) {
      throw UserError(std::string("ANE ") + kernel_name(k) + ": " + e.what());
    }
    int64_t channel = 0;
    for (size_t o = 0; o < kp.outputs.size(); ++o) {
      const SurfaceSlot& slot = kp.outputs[o];
      if (float* dst = out_tensors[o])
        for (int64_t c = 0; c < slot.channels; ++c)
          for (int64_t s = 0; s < S; ++s)
            dst[tensor_index(slot.layout, d, b, c, s)] =
                fp16_to_fp32(out.fp16[(channel + c) * S + s]);
      channel += slot.channels;
    }
  }
}

void AneBackend::attention_forward(const KernelDims& d, const AttentionForwardArgs& a) {
  run_program(
      d, Kernel::kAttentionForward,
      {.attention_norm = a.norm_w, .wq = a.wq, .wk = a.wk, .wv = a.wv, .wo = a.wo}, {{"x", a.x}},
      {{"y", a.y}, {"q", a.q}, {"k", a.k}, {"v", a.v}, {"attn", a.attn}, {"xnorm", a.xnorm}});
  rms_inv_on_host(a.x, d.D, d.T(), d.norm_eps, a.rms_inv);
  std::fill(a.lse, a.lse + d.H * d.T(), 0.0f);
}

void AneBackend::ffn_forward(const KernelDims& d, const FfnForwardArgs& a) {
  run_program(d, Kernel::kFfnForward, {.ffn_norm = a.norm_w, .w1 = a.w1, .w2 = a.w2, .w3 = a.w3},
              {{"x", a.x}},
              {{"y", a.y}, {"h1", a.h1}, {"h3", a.h3}, {"gate", a.gate}, {"xnorm", a.xnorm}});
  rms_inv_on_host(a.x, d.D, d.T(), d.norm_eps, a.rms_inv);
}

void AneBackend::ffn_backward(const KernelDims& d, const FfnBackwardArgs& a) {
  run_program(d, Kernel::kFfnBackward, {.w1 = a.w1, .w2 = a.w2, .w3 = a.w3},
              {{"dy", a.dy}, {"h1", a.h1}, {"h3", a.h3}},
              {{"dxnorm", a.dxnorm}, {"dh1", a.dh1}, {"dh3", a.dh3}});
}

void AneBackend::sdpa_backward1(const KernelDims& d, const SdpaBackward1Args& a) {
  run_program(d, Kernel::kSdpaBackward1, {.wo = a.wo},
              {{"dy", a.dy}, {"q", a.q}, {"k", a.k}, {"v", a.v}},
              {{"dv", a.dv}, {"probs", a.probs}, {"dprobs", a.dprobs}});
  // dattn = Wo^T dy is part of the kernel's contract; the ANE program keeps it internal.
  gemm(Trans::kYes, Trans::kNo, d.QD(), d.T(), d.D, 1.0f, a.wo, d.QD(), a.dy, d.T(), 0.0f, a.dattn,
       d.T());
}

void AneBackend::sdpa_backward2(const KernelDims& d, const SdpaBackward2Args& a) {
  run_program(d, Kernel::kSdpaBackward2, {},
              {{"probs", a.probs}, {"dprobs", a.dprobs}, {"q", a.q}, {"k", a.k}},
              {{"dq", a.dq}, {"dk", a.dk}});
}

void AneBackend::qkv_backward(const KernelDims& d, const QkvBackwardArgs& a) {
  run_program(d, Kernel::kQkvBackward, {.wq = a.wq, .wk = a.wk, .wv = a.wv},
              {{"dq", a.dq}, {"dk", a.dk}, {"dv", a.dv}}, {{"dxnorm", a.dxnorm}});
}

void AneBackend::classifier_loss(const KernelDims& d, const ClassifierLossArgs& a) {
  host_.classifier_loss(d, a);  // host work by design (see the header)
}

}  // namespace anetrain::ane
