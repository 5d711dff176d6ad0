#include "train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "backends/backend.h"
#include "core/aligned_buffer.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/parallel.h"
#include "data/data_loader.h"
#include "data/dataset_dir.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_files.h"
#include "train/generate.h"
#include "train/sampler.h"
#include "train/checkpoint.h"
#include "train/metrics_log.h"
#include "train/optimizer.h"
#include "train/train_step.h"
#include "train/transformer.h"

namespace anetrain {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The loader's seed is derived from the run's seed so init and data draw different streams.
uint64_t loader_seed(uint64_t seed) { return seed ^ 0xD1B54A32D192ED03ull; }

double validation_loss(Transformer& model, SequentialLoader& loader, const float* params,
                       int batches, std::vector<int32_t>& inputs, std::vector<int32_t>& targets) {
  loader.reset();
  const KernelDims& d = model.dims();
  double sum = 0.0;
  for (int i = 0; i < batches; ++i) {
    loader.next_batch(static_cast<int>(d.B), inputs.data(), targets.data());
    sum += model.forward(params, inputs.data(), targets.data());
  }
  return sum / (static_cast<double>(batches) * d.T());
}

// The tokenizer of this run: --tokenizer, else the dataset's, else the checkpoint's. A
// tokenizer whose files changed since the data was made is refused, as is one that differs
// from the resumed checkpoint's or has more ids than the model's vocabulary.
std::unique_ptr<Tokenizer> open_tokenizer(const TrainOptions& opts, const DatasetSource& source,
                                          const TrainingState* resumed, const ModelConfig& mc) {
  std::string spec = opts.tokenizer;
  if (spec.empty() && !source.tokenizer_spec.empty()) {
    if (!source.tokenizer_problem.empty()) throw UserError(source.tokenizer_problem);
    spec = source.tokenizer_spec;
  }
  if (spec.empty() && resumed) spec = resumed->tokenizer_spec;
  if (spec.empty()) return nullptr;
  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(spec);
  auto require_same = [&](const std::string& expected, const std::string& what) {
    if (!expected.empty() && expected != tokenizer->checksum())
      throw UserError("tokenizer '" + spec + "' differs from the one " + what +
                      " was made with (checksum mismatch): use the original tokenizer files");
  };
  if (spec == source.tokenizer_spec) require_same(source.tokenizer_checksum, "the dataset");
  // Whatever spec it was found by (the checkpoint keeps its own copy), the checkpoint's model
  // was trained with one tokenizer.
  if (resumed) require_same(resumed->tokenizer_checksum, "the checkpoint");
  if (tokenizer->vocab_size() > mc.vocab_size)
    throw UserError("tokenizer '" + spec + "' has " + std::to_string(tokenizer->vocab_size()) +
                    " ids but the model's vocab_size is " + std::to_string(mc.vocab_size) +
                    ": add --set vocab_size=" + std::to_string(tokenizer->vocab_size()));
  return tokenizer;
}

// A backend can need a fresh process (Backend::restart_reason: the ANE stops compiling after
// about 119 programs per process, and its static pipeline recompiles every step). The trainer
// then checkpoints and replaces itself with a process running the same command with --resume.
template <typename Save>
[[noreturn]] void restart_process(int64_t step, const std::string& reason,
                                  const TrainOptions& opts, Save& save) {
  if (opts.restart_argv.empty())
    throw UserError(reason + ", and this run cannot restart itself");
  save(step);
  std::vector<std::string> argv = opts.restart_argv;
  if (std::find(argv.begin(), argv.end(), "--resume") == argv.end()) argv.push_back("--resume");
  std::printf("%s; checkpointed at step %lld, restarting (exec) to continue\n", reason.c_str(),
              static_cast<long long>(step));
  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<char*> raw;
  for (auto& a : argv) raw.push_back(a.data());
  raw.push_back(nullptr);
  execv("/proc/self/exe", raw.data());
  execvp(raw[0], raw.data());  // no /proc (macOS): the path the process was started with
  throw UserError(std::string("cannot restart anetrain (exec): ") + std::strerror(errno));
}

// A short sample at validation time, so a user sees what the model has learned.
void print_sample(const ModelConfig& mc, Backend& backend, const float* params,
                  const Tokenizer& tokenizer) {
  Sampler sampler({0.8f, 0.95f}, 1234);
  std::vector<int32_t> tokens = {tokenizer.document_separator()};
  generate(mc, backend, params, tokens, 48, sampler);
  std::string text = tokenizer.decode(std::vector<int32_t>(tokens.begin() + 1, tokens.end()));
  std::string shown;
  for (char c : text) shown += c == '\n' ? std::string("\\n") : std::string(1, c);
  std::printf("sample: %s\n", shown.c_str());
}

}  // namespace

TrainResult train(const RunConfig& requested, const TrainOptions& opts) {
  if (opts.steps <= 0) throw UserError("--steps must be a positive number of optimizer steps");
  if (opts.out_dir.empty()) throw UserError("--out DIR is required: where checkpoints go");
  requested.model.validate();
  const TrainConfig& tc_req = requested.train;
  if (tc_req.batch_size <= 0 || tc_req.grad_accum <= 0)
    throw UserError("batch_size and grad_accum must be positive");
  if (tc_req.lr <= 0) throw UserError("lr must be positive");
  if (tc_req.sampling != "random" && tc_req.sampling != "epochs")
    throw UserError("sampling '" + tc_req.sampling + "' is unknown: use random or epochs");

  // Resume or start fresh. A fresh run never overwrites an existing checkpoint.
  RunConfig config = requested;
  uint64_t seed = opts.seed;
  int64_t start_step = 0;
  std::unique_ptr<TrainingState> resumed;
  if (has_checkpoint(opts.out_dir)) {
    if (!opts.resume)
      throw UserError("'" + opts.out_dir +
                      "' already holds a checkpoint: pass --resume to continue it, or choose "
                      "another --out");
    resumed = std::make_unique<TrainingState>(load_training_state(opts.out_dir));
    nlohmann::json want = config_to_json(requested), have = config_to_json(resumed->config);
    want.erase("preset"), have.erase("preset");
    if (want != have)
      throw UserError("the config given differs from the checkpoint's in '" + opts.out_dir +
                      "': resume with the same --config/--set, or start a new --out");
    if (opts.seed_given && opts.seed != resumed->seed)
      throw UserError("--seed differs from the checkpoint's seed; drop --seed to resume");
    config = resumed->config;
    seed = resumed->seed;
    start_step = resumed->step;
  }
  std::filesystem::create_directories(opts.out_dir);

  const ModelConfig& mc = config.model;
  const TrainConfig& tc = config.train;
  init_thread_pool();
  set_gemm_precision(parse_gemm_precision(tc.precision));
  std::unique_ptr<Backend> backend = make_backend(opts.backend, BackendOptions::from(tc));
  backend->prepare_run(mc);

  if (opts.data.empty()) throw UserError("--data is required: a prepared dataset or shards");
  const DatasetSource source = resolve_dataset(opts.data, opts.val_glob);
  std::unique_ptr<Tokenizer> tokenizer = open_tokenizer(opts, source, resumed.get(), mc);
  std::unique_ptr<TrainingLoader> train_loader = make_training_loader(
      tc.sampling, source.train_glob, mc.seq_len, mc.vocab_size, loader_seed(seed));
  TrainingLoader& train_data = *train_loader;
  std::unique_ptr<SequentialLoader> val_data;
  if (!source.val_glob.empty())
    val_data = std::make_unique<SequentialLoader>(source.val_glob, mc.seq_len, mc.vocab_size);

  ParamLayout layout(mc);
  FloatBuffer params(layout.total());
  const std::unique_ptr<Optimizer> optimizer_owner = make_optimizer(tc, layout);
  Optimizer& optimizer = *optimizer_owner;
  if (resumed) {
    load_checkpoint(opts.out_dir, layout, params.data(), optimizer);
    train_data.set_state(resumed->loader);
  } else {
    init_params(mc, layout, tc.init_std, seed, params.data());
  }

  Transformer model(mc, *backend, tc.batch_size, mc.seq_len, tc.recompute);
  const KernelDims& d = model.dims();
  std::vector<int32_t> inputs(d.T()), targets(d.T());
  MetricsLog metrics(opts.out_dir, start_step);

  TrainStep stepper(model, tc, layout);
  if (resumed) stepper.loss_scale() = {resumed->loss_scale, resumed->loss_scale_good_steps};
  TrainingState state;
  state.config = config;
  state.seed = seed;
  state.total_steps = opts.steps;
  state.backend = opts.backend;
  // Checkpoints keep a copy of the tokenizer, so the run directory is usable on its own.
  if (tokenizer) state.tokenizer_files = read_tokenizer_files(*tokenizer);
  auto save = [&](int64_t step) {
    state.step = step;
    state.loss_scale = stepper.loss_scale().scale;
    state.loss_scale_good_steps = stepper.loss_scale().good_steps;
    state.loader = train_data.state();
    save_checkpoint(opts.out_dir, state, layout, params.data(), optimizer);
  };

  std::printf("training %s: %lld params, %d layers, dim %d, batch %d x seq %d x accum %d, "
              "backend %s, %s, %d threads, steps %lld..%lld\n",
              config.preset.c_str(), static_cast<long long>(layout.total()), mc.n_layers, mc.dim,
              tc.batch_size, mc.seq_len, tc.grad_accum, backend->name().c_str(), tc.precision.c_str(),
              num_threads(),
              static_cast<long long>(start_step + 1), static_cast<long long>(opts.steps));
  std::fflush(stdout);

  TrainResult result;
  const auto run_start = Clock::now();
  for (int64_t step = start_step; step < opts.steps; ++step) {
    if (step > start_step)
      if (const std::string why = backend->restart_reason(); !why.empty())
        restart_process(step, why, opts, save);
    const auto step_start = Clock::now();
    const StepStats stats = stepper.run(
        step, tc.decay_steps > 0 ? tc.decay_steps : opts.steps, params.data(), optimizer,
        [&](int32_t* in, int32_t* tg) { train_data.next_batch(tc.batch_size, in, tg); });
    const double loss = stats.loss, norm = stats.grad_norm;
    const float lr = stats.lr;
    if (!std::isfinite(loss))
      throw UserError("loss became " + std::to_string(loss) + " at step " +
                      std::to_string(step + 1) + ": lower lr or check the data");
    const double ms = seconds_since(step_start) * 1e3;
    const double tokens_per_s = d.T() * tc.grad_accum / (ms / 1e3);
    const int64_t done = step + 1;
    result.steps_run++;
    result.last_loss = loss;
    nlohmann::json record = {{"step", done}, {"loss", loss}, {"lr", lr}, {"ms", ms},
                             {"tokens_per_s", tokens_per_s}, {"grad_norm", norm}};
    if (tc.loss_scale != 1.0f || tc.dynamic_loss_scale) record["loss_scale"] = stats.loss_scale;
    if (stats.skipped) {
      record["skipped"] = true;
      std::printf("step %lld: gradients overflowed at loss scale %g; step skipped\n",
                  static_cast<long long>(done), stats.loss_scale);
    }
    metrics.append(record);
    if (tc.log_every > 0 && (done % tc.log_every == 0 || done == opts.steps || done == 1)) {
      const double eta = seconds_since(run_start) / result.steps_run * (opts.steps - done);
      std::printf("step %lld/%lld | loss %.4f | lr %.2e | grad norm %.3f | %.0f tok/s | "
                  "%.1f ms | ETA %s\n",
                  static_cast<long long>(done), static_cast<long long>(opts.steps), loss, lr, norm,
                  tokens_per_s, ms, format_duration(eta).c_str());
      std::fflush(stdout);
    }
    if (val_data && tc.val_every > 0 && (done % tc.val_every == 0 || done == opts.steps)) {
      const double val = validation_loss(model, *val_data, params.data(),
                                         std::max(1, tc.val_batches), inputs, targets);
      result.last_val_loss = val;
      metrics.append({{"step", done}, {"val_loss", val}});
      std::printf("step %lld | val loss %.4f\n", static_cast<long long>(done), val);
      if (tokenizer) print_sample(mc, *backend, params.data(), *tokenizer);
      std::fflush(stdout);
    }
    if (done == opts.steps || (tc.save_every > 0 && done % tc.save_every == 0)) save(done);
  }
  if (start_step >= opts.steps)
    std::printf("checkpoint in '%s' is already at step %lld of %lld: nothing to do\n",
                opts.out_dir.c_str(), static_cast<long long>(start_step),
                static_cast<long long>(opts.steps));
  return result;
}

}  // namespace anetrain
