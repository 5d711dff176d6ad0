#include "backends/ane/ane_backend.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "backends/ane/blob/fp16.h"
#include "backends/ane/mil/printer.h"
#include "backends/ane/programs/program_check.h"
#include "backends/ane/programs/program_files.h"
#include "backends/ane/runtime/compile_cache.h"
#include "backends/ane/runtime/fake_driver.h"
#include "backends/ane/runtime/framework_driver.h"
#include "core/error.h"
#include "core/gemm.h"

namespace anetrain::ane {
namespace {

ModelConfig config_of(const KernelDims& d) {
  ModelConfig c;
  c.dim = static_cast<int>(d.D);
  c.hidden_dim = static_cast<int>(d.F);
  c.n_heads = static_cast<int>(d.H);
  c.n_kv_heads = static_cast<int>(d.G);
  c.vocab_size = static_cast<int>(d.V);
  c.seq_len = static_cast<int>(d.S);
  c.n_layers = 1;
  c.norm_eps = d.norm_eps;
  c.rope_theta = d.rope_theta;
  return c;
}

void rms_inv_on_host(const float* x, int64_t C, int64_t T, float eps, float* out) {
  std::vector<float> sum(T, 0.0f);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t t = 0; t < T; ++t) sum[t] += x[c * T + t] * x[c * T + t];
  for (int64_t t = 0; t < T; ++t) out[t] = 1.0f / std::sqrt(sum[t] / static_cast<float>(C) + eps);
}

}  // namespace

std::unique_ptr<Backend> make_ane_backend(const BackendOptions& options) {
  if (options.ane_pipeline != "dynamic" && options.ane_pipeline != "static")
    throw UserError("ane_pipeline '" + options.ane_pipeline + "' is unknown: use dynamic or static");
  const char* driver = std::getenv("ANETRAIN_ANE_DRIVER");
  if (driver && std::string(driver) == "fake") {
    FakeDriverOptions fake;
    fake.cache_dir = default_compile_cache_dir();
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
    throw UserError("compile_budget " + std::to_string(compile_budget_) + " is below the " +
                    std::to_string(per_step) +
                    " compiles one static-pipeline step needs: raise it or use ane_pipeline=dynamic");
}

std::string AneBackend::restart_reason() const {
  if (pipeline_ != "static") return "";
  const int64_t used = driver_->compiles();
  if (used + compiles_per_step(n_layers_) <= compile_budget_) return "";
  return "compile budget: " + std::to_string(used) + " of " +
         std::to_string(compile_budget_) + " compiles used";
}

bool AneBackend::supports(Kernel, const KernelDims& d) const {
  // One sequence per dispatch; rows of S fp16 values must be 64-byte aligned.
  return d.S % 32 == 0;
}

const KernelProgram& AneBackend::load_program(const KernelDims& d, const std::string& kernel,
                                              const BlockWeights& w, int64_t* handle) {
  if (pipeline_ == "dynamic") {
    // Compiled once per (kernel, shape); later dispatches only restage the current weights.
    // Hex floats (%a) so that every distinct eps and theta gives a distinct key.
    char shape[160];
    std::snprintf(shape, sizeof(shape), "%s D%lld F%lld H%lld G%lld S%lld eps%a theta%a",
                  kernel.c_str(), static_cast<long long>(d.D), static_cast<long long>(d.F),
                  static_cast<long long>(d.H), static_cast<long long>(d.G),
                  static_cast<long long>(d.S), d.norm_eps, d.rope_theta);
    auto it = dynamic_programs_.find(shape);
    if (it != dynamic_programs_.end()) {
      refresh_surface_weights(it->second.program, w);
      *handle = it->second.handle;
      return it->second.program;
    }
    KernelProgram kp = build_kernel_program(config_of(d), kernel, w, pipeline_);
    const int64_t h = compile(kernel, mil::print_program(kp.program), serialize_weights(kp));
    it = dynamic_programs_.emplace(shape, LoadedProgram{std::move(kp), h}).first;
    *handle = h;
    return it->second.program;
  }
  // Static: the weights are baked into the program, so every new set of weights is a new
  // program, identified by its text and weight file together.
  static_program_ = build_kernel_program(config_of(d), kernel, w, pipeline_);
  const std::string text = mil::print_program(static_program_.program);
  const std::string weights = serialize_weights(static_program_);
  const std::string key = text + weights;
  auto it = compiled_.find(key);
  if (it == compiled_.end()) {
    it = compiled_.emplace(key, compile(kernel, text, weights)).first;
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

int64_t AneBackend::compile(const std::string& kernel, const std::string& text,
                            const std::string& weights) {
  try {
    return driver_->compile_and_load(text, {{kWeightFile, weights}});
  } catch (const DriverError& e) {
    throw UserError(std::string("ANE ") + kernel + ": " + e.what());
  }
}

void AneBackend::dispatch(const KernelDims& d, const std::string& kernel, const BlockWeights& w,
                          const std::vector<const float*>& inputs,
                          const std::vector<float*>& outputs) {
  int64_t handle = 0;
  const KernelProgram& kp = load_program(d, kernel, w, &handle);
  const int64_t S = d.S, T = d.T();
  Surface in{kp.surface_channels, kp.surface_columns, {}};
  Surface out{kp.output_channels(), S, {}};
  for (int64_t b = 0; b < d.B; ++b) {
    // Pack sequence b's columns of every input slot, then the weights (pack_input_surface).
    std::map<std::string, std::vector<float>> values;
    for (size_t i = 0; i < kp.inputs.size(); ++i) {
      const int64_t C = kp.inputs[i].channels;
      std::vector<float>& v = values[kp.inputs[i].name];
      v.resize(C * S);
      for (int64_t c = 0; c < C; ++c)
        for (int64_t s = 0; s < S; ++s) v[c * S + s] = inputs[i][c * T + b * S + s];
    }
    const std::vector<float> packed = pack_input_surface(kp, values);
    in.fp16.resize(packed.size());
    for (size_t i = 0; i < packed.size(); ++i) in.fp16[i] = fp32_to_fp16(packed[i]);
    try {
      driver_->evaluate(handle, {&in}, {&out});
    } catch (const DriverError& e) {
      throw UserError(std::string("ANE ") + kernel + ": " + e.what());
    }
    int64_t channel = 0;
    for (size_t o = 0; o < kp.outputs.size(); ++o) {
      const int64_t C = kp.outputs[o].channels;
      if (float* dst = outputs[o]) {
        // probs/dprobs are [H, B, S, S]: head h's rows for sequence b.
        const bool per_head = kp.outputs[o].name == "probs" || kp.outputs[o].name == "dprobs";
        for (int64_t c = 0; c < C; ++c)
          for (int64_t s = 0; s < S; ++s) {
            const float v = fp16_to_fp32(out.fp16[(channel + c) * S + s]);
            if (per_head) {
              const int64_t h = c / S, i = c % S;
              dst[((h * d.B + b) * S + i) * S + s] = v;
            } else {
              dst[c * T + b * S + s] = v;
            }
          }
      }
      channel += C;
    }
  }
}

void AneBackend::attention_forward(const KernelDims& d, const AttentionForwardArgs& a) {
  BlockWeights w{a.norm_w, a.wq, a.wk, a.wv, a.wo, nullptr, nullptr, nullptr, nullptr};
  dispatch(d, "attention_forward", w, {a.x}, {a.y, a.q, a.k, a.v, a.attn, a.xnorm});
  rms_inv_on_host(a.x, d.D, d.T(), d.norm_eps, a.rms_inv);
  std::fill(a.lse, a.lse + d.H * d.T(), 0.0f);
}

void AneBackend::ffn_forward(const KernelDims& d, const FfnForwardArgs& a) {
  BlockWeights w{nullptr, nullptr, nullptr, nullptr, nullptr, a.norm_w, a.w1, a.w2, a.w3};
  dispatch(d, "ffn_forward", w, {a.x}, {a.y, a.h1, a.h3, a.gate, a.xnorm});
  rms_inv_on_host(a.x, d.D, d.T(), d.norm_eps, a.rms_inv);
}

void AneBackend::ffn_backward(const KernelDims& d, const FfnBackwardArgs& a) {
  BlockWeights w{nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, a.w1, a.w2, a.w3};
  dispatch(d, "ffn_backward", w, {a.dy, a.h1, a.h3}, {a.dxnorm, a.dh1, a.dh3});
}

void AneBackend::sdpa_backward1(const KernelDims& d, const SdpaBackward1Args& a) {
  BlockWeights w{nullptr, nullptr, nullptr, nullptr, a.wo, nullptr, nullptr, nullptr, nullptr};
  dispatch(d, "sdpa_backward1", w, {a.dy, a.q, a.k, a.v}, {a.dv, a.probs, a.dprobs});
  // dattn = Wo^T dy is part of the kernel's contract; the ANE program keeps it internal.
  gemm(Trans::kYes, Trans::kNo, d.QD(), d.T(), d.D, 1.0f, a.wo, d.QD(), a.dy, d.T(), 0.0f,
       a.dattn, d.T());
}

void AneBackend::sdpa_backward2(const KernelDims& d, const SdpaBackward2Args& a) {
  BlockWeights w{};
  // The program reads P and dP per sequence; gather them as [H*S, S] slabs per sequence.
  const int64_t S = d.S, B = d.B, T = d.T();
  std::vector<float> p(d.H * S * T), dp(d.H * S * T);
  for (int64_t h = 0; h < d.H; ++h)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < S; ++i)
        for (int64_t j = 0; j < S; ++j) {
          const int64_t src = ((h * B + b) * S + i) * S + j, dst = (h * S + i) * T + b * S + j;
          p[dst] = a.probs[src];
          dp[dst] = a.dprobs[src];
        }
  dispatch(d, "sdpa_backward2", w, {p.data(), dp.data(), a.q, a.k}, {a.dq, a.dk});
}

void AneBackend::qkv_backward(const KernelDims& d, const QkvBackwardArgs& a) {
  BlockWeights w{nullptr, a.wq, a.wk, a.wv, nullptr, nullptr, nullptr, nullptr, nullptr};
  dispatch(d, "qkv_backward", w, {a.dq, a.dk, a.dv}, {a.dxnorm});
}

void AneBackend::classifier_loss(const KernelDims& d, const ClassifierLossArgs& a) {
  host_.classifier_loss(d, a);  // host work by design (see the header)
}

}  // namespace anetrain::ane
