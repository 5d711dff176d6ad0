// `anetrain bench`: times full training steps (forward, backward, clipping, the optimizer
// update: AdamW unless the config says otherwise) on random data and reports the median
// ms/step, tokens/s, achieved GFLOPS (model/flops.h) and peak RSS.
// With --block it times one transformer block alone, as the seed's benchmark and the PyTorch
// layer baseline (bench/pytorch_baseline.py --config layer768) do: no embedding, no classifier,
// a linear loss sum(y * r) / numel on the block's output, the optimizer on the block's weights.
// With --lora-rank the step is a LoRA step (model/lora.h), as `train --lora-rank` runs it:
// adapters over frozen (here random) base weights, no base weight gradients, clipping and the
// optimizer over the adapters only; the memory formula is the LoRA one.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "backends/backend.h"
#include "cli/args.h"
#include "cli/bench_profile.h"
#include "cli/commands.h"
#include "cli/config_flags.h"
#include "core/aligned_buffer.h"
#include "core/cpu_peak.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/parallel.h"
#include "core/profiler.h"
#include "core/rng.h"
#include "model/flops.h"
#include "model/lora.h"
#include "model/memory.h"
#include "train/host_ops.h"
#include "train/optimizer.h"
#include "train/transformer.h"

namespace anetrain {
namespace {

// "61.2% of it", never a share above 100: a step faster than the peak means the peak loop
// measured a slower unit than the GEMMs ran on.
std::string share_of_peak(double gflops, double peak) {
  char text[128];
  if (gflops > peak)
    std::snprintf(text, sizeof text,
                  "more than it (the GEMMs ran on a faster unit than the loop measures)");
  else
    std::snprintf(text, sizeof text, "%.1f%% of it", 100.0 * gflops / peak);
  return text;
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // ru_maxrss is in KiB on Linux; MB here means MiB
}

int run_bench(const Args& args) {
  RunConfig config = config_from_flags(args);
  const bool block_only = args.has("block");
  if (block_only && config.model.n_layers != 1)
    throw UserError("anetrain bench: --block times one block: add --set n_layers=1 (config '" +
                    config.preset + "' has " + std::to_string(config.model.n_layers) + ")");
  // The block alone has no embedding or classifier: shrink the vocabulary so their (unused)
  // parameters and optimizer state do not inflate the reported memory.
  if (block_only) config.model.vocab_size = 2;
  const ModelConfig& mc = config.model;
  const TrainConfig& tc = config.train;
  const long long steps = args.get_int("steps"), warmup = args.get_int("warmup");
  if (steps <= 0 || warmup < 0)
    throw UserError("anetrain bench: --steps must be > 0, --warmup >= 0");
  const std::optional<LoraConfig> lora = lora_from_flags(args, "anetrain bench");
  if (lora && block_only)
    throw UserError("anetrain bench: --lora-rank times whole-model steps: drop --block");

  init_thread_pool();
  if (args.has("precision")) config.train.precision = args.get("precision");
  set_gemm_precision(parse_gemm_precision(config.train.precision));
  std::unique_ptr<Backend> backend = make_backend(args.get("backend"), BackendOptions::from(tc));
  backend->prepare_run(mc);
  if (lora && backend->overlaps_host_work())
    throw UserError("anetrain bench: LoRA adapters run on the CPU backend only: use --backend cpu");
  ParamLayout layout(mc);
  const uint64_t seed = static_cast<uint64_t>(args.get_int("seed"));
  FloatBuffer params(layout.total());
  init_params(mc, layout, tc.init_std, seed, params.data());
  // LoRA: the adapters are what is trained; the base weights get no gradient buffer at all.
  const std::unique_ptr<LoraLayout> lora_layout =
      lora ? std::make_unique<LoraLayout>(mc, *lora) : nullptr;
  const ParamLayout& trained_layout = lora ? lora_layout->params() : layout;
  FloatBuffer adapters(lora ? trained_layout.total() : 0), grads(trained_layout.total());
  if (lora) init_lora(*lora_layout, seed, adapters.data());
  float* trained = lora ? adapters.data() : params.data();
  const std::unique_ptr<Optimizer> optimizer_owner = make_optimizer(tc, trained_layout);
  Optimizer& optimizer = *optimizer_owner;
  Transformer model(mc, *backend, tc.batch_size, mc.seq_len, tc.recompute);
  if (lora)
    model.use_adapters(*lora_layout, adapters.data(), grads.data(), /*base_gradients=*/false);
  const KernelDims& d = model.dims();

  Rng rng(7);
  std::vector<int32_t> inputs(d.T()), targets(d.T());
  for (auto& t : inputs) t = static_cast<int32_t>(rng.below(mc.vocab_size));
  for (auto& t : targets) t = static_cast<int32_t>(rng.below(mc.vocab_size));
  FloatBuffer x, dy;
  if (block_only) {
    x.resize(d.D * d.T());
    dy.resize(d.D * d.T());
    for (auto& v : x) v = static_cast<float>(rng.normal());
    // d/dy of sum(y * r) / numel is r / numel.
    for (auto& v : dy) v = static_cast<float>(rng.normal() / dy.size());
  }

  // The peak is measured before and after the timed steps and the higher reading kept, so a
  // moment when the shared VM runs slow does not understate it (and flatter the step).
  double measured_peak = 0, measured_bandwidth = 0;
  if (args.has("measure-peak")) measured_peak = measure_peak_gflops(gemm_precision());
  std::vector<double> times;
  GradNorm norm;
  for (long long i = 0; i < warmup + steps; ++i) {
    if (i == warmup && args.has("profile")) {
      Profiler::get().reset();
      Profiler::get().enable(true);
    }
    const auto start = std::chrono::steady_clock::now();
    // As the trainer does alone: each weight gradient's share of the norm summed as it is
    // finished (the adapters' after backward).
    norm.start(grads.data(), trained_layout.total());
    if (block_only)
      model.block_forward_backward(params.data(), x.data(), dy.data(), grads.data(),
                                   GradWrite::kOverwrite, &norm);
    else {
      if (lora) model.set_adapter_dropout_seed(static_cast<uint64_t>(i) * 0xD6E8FEB86659FD93ull);
      // LoRA: the adapters' gradients go to `grads` (use_adapters); the frozen base has none.
      model.forward_backward(params.data(), inputs.data(), targets.data(),
                             1.0f / static_cast<float>(d.T()), lora ? nullptr : grads.data(),
                             GradWrite::kOverwrite, GradReady(), lora ? nullptr : &norm);
    }
    optimizer.clipped_update(trained, grads.data(), tc.lr, i + 1, tc.grad_clip, norm);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (i >= warmup) times.push_back(ms);
  }
  std::sort(times.begin(), times.end());
  const double median_ms = times[times.size() / 2];
  const double flops = lora ? lora_training_flops(mc, d.B, d.S, *lora_layout)
                            : training_flops(block_only ? block_forward_flops(mc, d.B, d.S)
                                                        : model_forward_flops(mc, d.B, d.S));
  const double gflops = flops / (median_ms * 1e6);
  // Read once, before --measure-peak's bandwidth arrays (512 MB) would count in it.
  const double rss_mb = peak_rss_mb();
  const double tokens_per_s = d.T() / (median_ms / 1e3);
  std::printf("bench %s%s: backend %s, %s, %d threads, batch %lld x seq %lld\n",
              config.preset.c_str(), block_only ? " (one block)" : "", backend->name().c_str(),
              config.train.precision.c_str(), num_threads(), static_cast<long long>(d.B),
              static_cast<long long>(d.S));
  const std::string lora_targets = lora ? join_lora_targets(lora->targets) : "";
  if (lora) {
    std::printf(
        "  LoRA: rank %d, alpha %g, dropout %g on %s: %lld trained parameters (%.2f%% of the "
        "%lld base weights, frozen and random here)\n",
        lora->rank, lora->alpha, lora->dropout, lora_targets.c_str(),
        static_cast<long long>(trained_layout.total()),
        100.0 * trained_layout.total() / layout.total(), static_cast<long long>(layout.total()));
  }
  std::printf(
      "  %.1f ms/step (median of %lld; min %.1f, max %.1f) | %.0f tokens/s | "
      "%.1f GFLOPS (%.2f GFLOP/step) | peak RSS %.0f MB\n",
      median_ms, steps, times.front(), times.back(), tokens_per_s, gflops, flops / 1e9, rss_mb);
  const TrainingMemory memory = training_memory(
      mc, d.B, d.S, tc.recompute, optimizer.state_bytes_per_param(), lora ? &*lora : nullptr);
  constexpr double kMB = 1024.0 * 1024.0;  // the unit of peak_rss_mb()
  std::printf(
      "  memory formula %.0f MB (%s, gradients and optimizer state %.1f MB, of which %s "
      "state %.1f MB; activations %.0f MB%s): peak RSS / formula = %.2f\n",
      memory.total() / kMB, lora ? "frozen base weights, adapters" : "parameters",
      memory.state_bytes / kMB, optimizer.name().c_str(), memory.optimizer_bytes / kMB,
      memory.activation_bytes / kMB, tc.recompute ? ", recomputed" : "",
      rss_mb * kMB / memory.total());
  if (args.has("measure-peak")) {
    measured_peak = std::max(measured_peak, measure_peak_gflops(gemm_precision()));
    if (measured_peak > 0)
      std::printf(
          "  peak measured now (%s loop on %s, %d threads): %.0f GFLOPS; this step ran at "
          "%s\n",
          config.train.precision.c_str(), peak_unit(gemm_precision()).c_str(), num_threads(),
          measured_peak, share_of_peak(gflops, measured_peak).c_str());
    else
      std::printf("  peak: this CPU has no %s vector unit anetrain can measure\n",
                  config.train.precision.c_str());
    // After the peak RSS is read (its arrays would count in it), twice for the same reason as
    // the peak: the shared VMs' memory rate varies from second to second.
    measured_bandwidth = std::max(measure_bandwidth_gbs(), measure_bandwidth_gbs());
    std::printf("  memory bandwidth measured now (a += s b in place, %d threads): %.1f GB/s\n",
                num_threads(), measured_bandwidth);
  }
  if (args.has("profile"))
    print_bench_profile({.steps = static_cast<double>(steps),
                         .median_ms = median_ms,
                         .bandwidth_gbs = measured_bandwidth,
                         .host_overlaps = backend->overlaps_host_work()});
  if (args.has("json")) {
    nlohmann::json j = {{"impl", "anetrain"},
                        {"config", config.preset},
                        {"precision", config.train.precision},
                        {"backend", backend->name()},
                        {"ms_per_step", median_ms},
                        {"tokens_per_s", tokens_per_s},
                        {"gflops", gflops},
                        {"gflop_per_step", flops / 1e9},
                        {"peak_rss_mb", rss_mb},
                        {"steps", steps},
                        {"memory_formula_mb", memory.total() / kMB},
                        {"memory_state_mb", memory.state_bytes / kMB},
                        {"memory_optimizer_mb", memory.optimizer_bytes / kMB},
                        {"memory_activations_mb", memory.activation_bytes / kMB},
                        {"mode", lora ? "lora" : "full"},
                        {"trained_params", trained_layout.total()},
                        {"base_params", layout.total()},
                        {"batch", d.B},
                        {"seq", d.S}};
    if (lora) {
      j["lora_rank"] = lora->rank;
      j["lora_alpha"] = lora->alpha;
      j["lora_targets"] = lora_targets;
      j["lora_dropout"] = lora->dropout;
    }
    if (measured_peak > 0) {
      j["measured_peak_gflops"] = measured_peak;
      j["peak_unit"] = peak_unit(gemm_precision());
    }
    if (measured_bandwidth > 0) j["measured_bandwidth_gbs"] = measured_bandwidth;
    std::printf("%s\n", j.dump().c_str());
  }
  return 0;
}

}  // namespace

Command bench_command() {
  return {
      .name = "bench",
      .summary = "time training steps on random data: ms/step, tokens/s, GFLOPS, peak RSS",
      .flags =
          config_flags() +
          std::vector<Flag>{
              {.name = "steps", .value = "N", .default_value = "10", .help = "timed steps"},
              {.name = "warmup", .value = "N", .default_value = "2", .help = "untimed steps first"},
              {.name = "backend",
               .value = "cpu|ane",
               .default_value = "cpu",
               .help = "where the kernels run"},
              {.name = "seed", .value = "N", .default_value = "1", .help = "initialisation seed"},
              {.name = "precision",
               .value = "fp32|bf16",
               .help = "GEMM input precision (default: the config key 'precision')"},
              {.name = "block",
               .help = "time one transformer block alone (n_layers must be 1): no embedding, no "
                       "classifier, as the seed's benchmark and pytorch_baseline.py's layer768"},
          } +
          lora_flags("LoRA: time LoRA steps, rank-R adapters over frozen random base weights "
                     "(as train --lora-rank trains them; not with --block)") +
          std::vector<Flag>{
              {.name = "json", .help = "also print the figures as one JSON line"},
              {.name = "profile",
               .help = "time per kernel and per GEMM shape (inside the step and alone)"},
              {.name = "measure-peak",
               .help =
                   "measure this CPU's multiply-add peak (on its fastest unit for the precision: "
                   "AMX tiles, AVX512-BF16 or FMA) before and after, print the step's % of it, "
                   "and measure the memory bandwidth"},
          },
      .notes =
          "example: anetrain bench --config layer768 --block --profile --measure-peak\n"
          "         anetrain bench --config stories15M --lora-rank 8 --json",
      .run = run_bench,
  };
}

}  // namespace anetrain
