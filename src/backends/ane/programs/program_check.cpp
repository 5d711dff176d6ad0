#include "backends/ane/programs/program_check.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "backends/ane/mil/interpreter.h"
#include "backends/ane/programs/kernel_programs.h"
#include "backends/ane/programs/program_files.h"
#include "backends/cpu/cpu_backend.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "model/params.h"

namespace anetrain::ane {
namespace {

using Tensors = std::map<std::string, std::vector<float>>;  // slot name -> [C, S]

std::vector<float> random_normal(Rng& rng, int64_t n, double scale) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.normal() * scale);
  return v;
}

}  // namespace

std::vector<float> pack_input_surface(const KernelProgram& kp, const std::map<std::string, std::vector<float>>& values) {
  const int64_t W = kp.surface_columns;
  std::vector<float> surface(kp.surface_channels * W, 0.0f);
  int64_t channel = 0;
  for (const SurfaceSlot& s : kp.inputs) {
    const std::vector<float>& v = values.at(s.name);
    ANETRAIN_CHECK(static_cast<int64_t>(v.size()) == s.channels * kp.seq, "slot size " + s.name);
    for (int64_t c = 0; c < s.channels; ++c)
      std::copy(v.begin() + c * kp.seq, v.begin() + (c + 1) * kp.seq, surface.begin() + (channel + c) * W);
    channel += s.channels;
  }
  for (const SurfaceWeight& w : kp.surface_weights)
    for (int64_t r = 0; r < w.rows; ++r)
      std::copy(w.values.begin() + r * w.cols, w.values.begin() + (r + 1) * w.cols,
                surface.begin() + r * W + w.column);
  return surface;
}

namespace {

// Runs one program on the interpreter with its input slots taken from `values`.
std::vector<float> run_program(const KernelProgram& kp, const Tensors& values) {
  // Weights go through the real file format: written, parsed back, loaded by record offset.
  const MilBlobFile weights = MilBlobFile::parse(serialize_weights(kp), kp.kernel + "/weights/weight.bin");
  mil::Interpreter interpreter(kp.program, blob_loader(weights));
  std::vector<std::pair<std::string, mil::HostTensor>> inputs;
  if (kp.multi_input) {
    for (const auto& [slot, input_name] : kp.input_names) {
      mil::HostTensor input;
      input.data = values.at(slot);
      input.type = {mil::DType::kFp16, {1, static_cast<int64_t>(input.data.size()) / kp.seq, 1, kp.seq}};
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

KernelCheck compare(const KernelProgram& kp, const std::vector<float>& surface, const Tensors& reference) {
  KernelCheck check;
  check.kernel = kp.kernel;
  check.variant = kp.variant + (kp.multi_input ? "+mi" : "");
  check.ops = static_cast<int64_t>(kp.program.main.ops.size());
  check.tolerance = kernel_tolerance(kp.kernel);
  int64_t at = 0;
  for (const SurfaceSlot& s : kp.outputs) {
    const std::vector<float>& ref = reference.at(s.name);
    SlotError e{s.name};
    for (int64_t i = 0; i < s.channels * kp.seq; ++i) {
      const double a = surface[at + i], r = ref[i];
      e.max_abs = std::max(e.max_abs, std::isfinite(a) ? std::fabs(a - r) : INFINITY);
      e.max_ref = std::max(e.max_ref, std::fabs(r));
    }
    at += s.channels * kp.seq;
    check.slots.push_back(e);
  }
  return check;
}

}  // namespace

const SlotError& KernelCheck::worst() const {
  return *std::max_element(slots.begin(), slots.end(), [](const SlotError& a, const SlotError& b) {
    return a.relative() < b.relative();
  });
}

double kernel_tolerance(const std::string& kernel) {
  // fp16 carries 11 significant bits (relative step 4.9e-4); the tolerances allow for the
  // rounding of every intermediate (our interpreter's model: one rounding per op, fp32
  // accumulation) through chains of 10-30 ops. Backward kernels multiply differences of
  // nearly equal fp16 numbers (softmax backward) and get more room.
  if (kernel == "attention_forward" || kernel == "ffn_forward") return 1e-2;
  return 2e-2;
}

std::vector<KernelCheck> check_kernel_programs(const ModelConfig& config, const std::string& variant,
                                               uint64_t seed, bool multi_input) {
  init_thread_pool();
  ModelConfig one_block = config;
  one_block.n_layers = 1;
  ParamLayout layout(one_block);
  std::vector<float> params(layout.total());
  init_params(one_block, layout, 0.02f, seed, params.data());
  Rng rng(seed + 1);
  // Norm gains near 1 but not exactly, so a dropped gain would show.
  for (int64_t off : {layout.layer(0).attention_norm, layout.layer(0).ffn_norm})
    for (int64_t i = 0; i < config.dim; ++i) params[off + i] = 1.0f + 0.1f * static_cast<float>(rng.normal());
  const BlockWeights w = block_weights(layout, params.data());
  std::vector<KernelProgram> programs = build_kernel_programs(config, w, variant, multi_input);

  // The CPU backend's kernels on one sequence give both the programs' inputs and the reference.
  const KernelDims d = KernelDims::from(config, 1, config.seq_len);
  const int64_t S = d.S, D = d.D, F = d.F, QD = d.QD(), KD = d.KD(), HSS = d.H * S * S;
  cpu::CpuBackend cpu;
  Tensors t;
  t["x"] = random_normal(rng, D * S, 1.0);
  for (const char* name : {"y", "xnorm"}) t[name].resize(D * S);
  for (const char* name : {"q", "attn"}) t[name].resize(QD * S);
  for (const char* name : {"k", "v"}) t[name].resize(KD * S);
  std::vector<float> rms(S), lse(d.H * S);
  cpu.attention_forward(d, {t["x"].data(), w.attention_norm, w.wq, w.wk, w.wv, w.wo, t["y"].data(),
                            t["xnorm"].data(), rms.data(), t["q"].data(), t["k"].data(), t["v"].data(),
                            t["attn"].data(), lse.data()});
  Tensors results[6];
  results[0] = t;

  Tensors f;
  f["x"] = random_normal(rng, D * S, 1.0);
  for (const char* name : {"y", "xnorm"}) f[name].resize(D * S);
  for (const char* name : {"h1", "h3", "gate"}) f[name].resize(F * S);
  cpu.ffn_forward(d, {f["x"].data(), w.ffn_norm, w.w1, w.w3, w.w2, f["y"].data(), f["xnorm"].data(),
                      rms.data(), f["h1"].data(), f["h3"].data(), f["gate"].data()});
  results[1] = f;

  // Gradients of realistic magnitude after loss scaling (dy ~ 1e-2).
  Tensors fb;
  fb["dy"] = random_normal(rng, D * S, 1e-2);
  fb["h1"] = f["h1"];
  fb["h3"] = f["h3"];
  fb["dxnorm"].resize(D * S);
  fb["dh1"].resize(F * S);
  fb["dh3"].resize(F * S);
  cpu.ffn_backward(d, {fb["dy"].data(), w.w1, w.w3, w.w2, fb["h1"].data(), fb["h3"].data(),
                       fb["dxnorm"].data(), fb["dh1"].data(), fb["dh3"].data()});
  results[2] = fb;

  Tensors s1;
  s1["dy"] = random_normal(rng, D * S, 1e-2);
  s1["q"] = t["q"];
  s1["k"] = t["k"];
  s1["v"] = t["v"];
  std::vector<float> dattn(QD * S);
  s1["dv"].resize(KD * S);
  s1["probs"].resize(HSS);
  s1["dprobs"].resize(HSS);
  cpu.sdpa_backward1(d, {s1["dy"].data(), w.wo, t["q"].data(), t["k"].data(), t["v"].data(), lse.data(),
                         dattn.data(), s1["dv"].data(), s1["probs"].data(), s1["dprobs"].data()});
  results[3] = s1;

  Tensors s2;
  s2["probs"] = s1["probs"];
  s2["dprobs"] = s1["dprobs"];
  s2["q"] = t["q"];
  s2["k"] = t["k"];
  s2["dq"].resize(QD * S);
  s2["dk"].resize(KD * S);
  std::vector<float> dprobs_scratch = s1["dprobs"];
  cpu.sdpa_backward2(d, {t["q"].data(), t["k"].data(), s1["probs"].data(), dprobs_scratch.data(),
                         s2["dq"].data(), s2["dk"].data()});
  results[4] = s2;

  Tensors qb;
  qb["dq"] = s2["dq"];
  qb["dk"] = s2["dk"];
  qb["dv"] = s1["dv"];
  qb["dxnorm"].resize(D * S);
  cpu.qkv_backward(d, {qb["dq"].data(), qb["dk"].data(), qb["dv"].data(), w.wq, w.wk, w.wv,
                       qb["dxnorm"].data()});
  results[5] = qb;

  std::vector<KernelCheck> checks;
  for (size_t i = 0; i < programs.size(); ++i)
    checks.push_back(compare(programs[i], run_program(programs[i], results[i]), results[i]));
  return checks;
}

}  // namespace anetrain::ane
