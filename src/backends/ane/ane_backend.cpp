#include "backends/ane/ane_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "backends/ane/mil/printer.h"
#include "backends/ane/programs/plan_runner.h"
#include "backends/ane/programs/program_check.h"
#include "backends/ane/programs/program_files.h"
#include "backends/ane/runtime/fake_driver.h"
#include "backends/ane/runtime/framework_driver.h"
#include "backends/ane/slot_binding.h"
#include "core/error.h"
#include "core/fp16.h"

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
      pipeline_(options.ane_pipeline),
      compile_budget_(options.compile_budget),
      options_{.variant = options.ane_pipeline,
               .form = options.ane_program_form,
               .surface_budget_bytes = int64_t{options.ane_surface_budget_mb} << 20} {}

void AneBackend::prepare_run(const ModelConfig& model) {
  n_layers_ = model.n_layers;
  // Count one block's programs, with and without weights, on zero weights of the model's shape.
  const KernelDims d = KernelDims::from(model, 1, model.seq_len);
  std::vector<float> zeros(std::max({d.D * d.F, d.QD() * d.D, d.D}), 0.0f);
  const BlockWeights w{zeros.data(), zeros.data(), zeros.data(), zeros.data(), zeros.data(),
                       zeros.data(), zeros.data(), zeros.data(), zeros.data()};
  weighted_programs_ = unweighted_programs_ = 0;
  for (Kernel k : ane_program_kernels())
    for (const KernelProgram& part : build_kernel_plan(d, k, w, options_).parts)
      ++(part.reads_block_weights ? weighted_programs_ : unweighted_programs_);
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

AneBackend::LoadedPlan& AneBackend::load_plan(const KernelDims& d, Kernel k,
                                              const BlockWeights& w) {
  const ProgramKey key = program_key(k, d, lora_shape(w));
  if (pipeline_ == "dynamic") {
    // Compiled once per key; later dispatches only restage the current weights.
    auto it = dynamic_plans_.find(key);
    if (it != dynamic_plans_.end()) {
      for (KernelProgram& part : it->second.plan.parts) refresh_surface_weights(part, w);
      return it->second;
    }
    LoadedPlan loaded{build_kernel_plan(key.dims, k, w, options_), {}};
    for (const KernelProgram& part : loaded.plan.parts)
      loaded.handles.push_back(
          compile(part.name(), mil::print_program(part.program), serialize_weights(part)));
    return dynamic_plans_.emplace(key, std::move(loaded)).first->second;
  }
  // Static: the weights are baked into the programs, so every new set of weights is a new
  // program, identified by its text and weight file together.
  int64_t& group_heads = group_heads_[key];
  static_plan_ = {build_kernel_plan(d, k, w, options_, group_heads), {}};
  group_heads = static_plan_.plan.group_heads;
  for (const KernelProgram& part : static_plan_.plan.parts) {
    const std::string text = mil::print_program(part.program), weights = serialize_weights(part);
    const std::string program_id = text + weights;
    auto it = compiled_.find(program_id);
    auto order = std::find(compiled_order_.begin(), compiled_order_.end(), program_id);
    if (order != compiled_order_.end()) compiled_order_.erase(order);  // most recently used
    compiled_order_.push_back(program_id);
    if (it == compiled_.end()) {
      it = compiled_.emplace(program_id, compile(part.name(), text, weights)).first;
      // Programs with stale weights are never used again: keep the loaded set small, but hold
      // a whole step's programs, which a frozen base (LoRA: the adapters travel in the surface)
      // runs again every step without compiling.
      const size_t max_loaded = std::max<size_t>(64, compiles_per_step(n_layers_));
      if (compiled_order_.size() > max_loaded) {
        driver_->unload(compiled_.at(compiled_order_.front()));
        compiled_.erase(compiled_order_.front());
        compiled_order_.erase(compiled_order_.begin());
      }
    }
    static_plan_.handles.push_back(it->second);
  }
  return static_plan_;
}

int64_t AneBackend::compile(const std::string& name, const std::string& text,
                            const std::string& weights) {
  try {
    return driver_->compile_and_load(text, {{kWeightFile, weights}});
  } catch (const DriverError& e) {
    throw UserError("ANE " + name + ": " + e.what());
  }
}

std::vector<float> AneBackend::evaluate(const KernelProgram& part, int64_t handle,
                                        const std::map<std::string, std::vector<float>>& slots) {
  try {
    return evaluate_program(*driver_, handle, part, slots);
  } catch (const DriverError& e) {
    throw UserError("ANE " + part.name() + ": " + e.what());
  }
}

void AneBackend::run_kernel(const KernelDims& d, Kernel k, const BlockWeights& w, Inputs inputs,
                            Outputs outputs) {
  // The adapters' own slots (BlockWeights): masks in, forward taps out.
  for (const BlockAdapter& spec : kBlockAdapters) {
    const LoraAdapter& lora = w.*spec.field;
    if (!lora.active()) continue;
    if (lora.drop) inputs["drop_" + std::string(spec.t)] = lora.drop;
    if (spec.forward) outputs["ax_" + std::string(spec.t)] = lora.ax;
  }
  LoadedPlan& loaded = load_plan(d, k, w);
  const std::vector<SurfaceSlot> in_slots = loaded.plan.inputs();
  const std::vector<SurfaceSlot> out_slots = loaded.plan.outputs();
  const std::vector<const float*> in_tensors = bind(k, in_slots, inputs);
  const std::vector<float*> out_tensors = bind(k, out_slots, outputs);
  const int64_t S = d.S;
  for (int64_t b = 0; b < d.B; ++b) {
    // Sequence b's part of every kernel tensor, through the plan's parts, and back.
    SequenceTensors values;
    for (size_t i = 0; i < in_slots.size(); ++i) {
      const SurfaceSlot& slot = in_slots[i];
      std::vector<float>& v = values[slot.name];
      v.resize(slot.channels * S);
      for (int64_t c = 0; c < slot.channels; ++c)
        for (int64_t s = 0; s < S; ++s)
          v[c * S + s] = in_tensors[i][tensor_index(slot.layout, d, b, c, s)];
    }
    run_plan(loaded.plan, w, d, values, [&](size_t part, const SequenceTensors& slots) {
      return evaluate(loaded.plan.parts[part], loaded.handles[part], slots);
    });
    for (size_t o = 0; o < out_slots.size(); ++o) {
      const SurfaceSlot& slot = out_slots[o];
      const std::vector<float>& v = values.at(slot.name);
      if (float* dst = out_tensors[o])
        for (int64_t c = 0; c < slot.channels; ++c)
          for (int64_t s = 0; s < S; ++s) dst[tensor_index(slot.layout, d, b, c, s)] = v[c * S + s];
    }
  }
}

void AneBackend::attention_forward(const KernelDims& d, const AttentionForwardArgs& a) {
  run_kernel(
      d, Kernel::kAttentionForward,
      {.attention_norm = a.norm_w,
       .wq = a.wq,
       .wk = a.wk,
       .wv = a.wv,
       .wo = a.wo,
       .lora_q = a.lora_q,
       .lora_k = a.lora_k,
       .lora_v = a.lora_v},
      {{"x", a.x}},
      {{"y", a.y}, {"q", a.q}, {"k", a.k}, {"v", a.v}, {"attn", a.attn}, {"xnorm", a.xnorm}});
  rms_inv_on_host(a.x, d.D, d.T(), d.norm_eps, a.rms_inv);
  std::fill(a.lse, a.lse + d.H * d.T(), 0.0f);
}

void AneBackend::ffn_forward(const KernelDims& d, const FfnForwardArgs& a) {
  run_kernel(d, Kernel::kFfnForward,
             {.ffn_norm = a.norm_w,
              .w1 = a.w1,
              .w2 = a.w2,
              .w3 = a.w3,
              .lora_1 = a.lora_1,
              .lora_3 = a.lora_3},
             {{"x", a.x}},
             {{"y", a.y}, {"h1", a.h1}, {"h3", a.h3}, {"gate", a.gate}, {"xnorm", a.xnorm}});
  rms_inv_on_host(a.x, d.D, d.T(), d.norm_eps, a.rms_inv);
}

void AneBackend::ffn_backward(const KernelDims& d, const FfnBackwardArgs& a) {
  run_kernel(d, Kernel::kFfnBackward, {.w1 = a.w1, .w2 = a.w2, .w3 = a.w3, .lora_2 = a.lora_2},
             {{"dy", a.dy}, {"h1", a.h1}, {"h3", a.h3}},
             {{"dxnorm", a.dxnorm}, {"dh1", a.dh1}, {"dh3", a.dh3}});
}

void AneBackend::sdpa_backward1(const KernelDims& d, const SdpaBackward1Args& a) {
  // dattn = Wo^T dy (with its adapter's share) is part of the kernel's contract: a part of its
  // own in the proven form; the fused program keeps it internal, so the host computes it (the
  // CPU kernel without P and dP computes dattn alone).
  const bool fused = options_.form == "fused";
  Outputs out = {{"dv", a.dv}, {"probs", a.probs}, {"dprobs", a.dprobs}};
  if (!fused) out["dattn"] = a.dattn;
  run_kernel(d, Kernel::kSdpaBackward1, {.wo = a.wo, .lora_o = a.lora_o},
             {{"dy", a.dy}, {"q", a.q}, {"k", a.k}, {"v", a.v}}, out);
  if (fused)
    host_.sdpa_backward1(d, {.dy = a.dy, .wo = a.wo, .dattn = a.dattn, .lora_o = a.lora_o});
}

void AneBackend::sdpa_backward2(const KernelDims& d, const SdpaBackward2Args& a) {
  run_kernel(d, Kernel::kSdpaBackward2, {},
             {{"probs", a.probs}, {"dprobs", a.dprobs}, {"q", a.q}, {"k", a.k}},
             {{"dq", a.dq}, {"dk", a.dk}});
}

void AneBackend::qkv_backward(const KernelDims& d, const QkvBackwardArgs& a) {
  run_kernel(d, Kernel::kQkvBackward, {.wq = a.wq, .wk = a.wk, .wv = a.wv},
             {{"dq", a.dq}, {"dk", a.dk}, {"dv", a.dv}}, {{"dxnorm", a.dxnorm}});
}

void AneBackend::classifier_loss(const KernelDims& d, const ClassifierLossArgs& a) {
  host_.classifier_loss(d, a);  // host work by design (see the header)
}

}  // namespace anetrain::ane
