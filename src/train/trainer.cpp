#include "train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "backends/backend.h"
#include "core/aligned_buffer.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/parallel.h"
#include "data/data_loader.h"
#include "data/dataset_dir.h"
#include "io/checkpoint_commit.h"
#include "io/run_lock.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_files.h"
#include "train/checkpoint.h"
#include "train/generate.h"
#include "train/lora_checkpoint.h"
#include "train/metrics_log.h"
#include "train/model_source.h"
#include "train/optimizer.h"
#include "train/sampler.h"
#include "train/stop_request.h"
#include "train/train_step.h"
#include "train/transformer.h"

namespace anetrain {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The loader's seed is derived from the run's seed so init and data draw different streams;
// so is LoRA dropout's.
uint64_t loader_seed(uint64_t seed) { return seed ^ 0xD1B54A32D192ED03ull; }
uint64_t dropout_seed(uint64_t seed) { return seed ^ 0x8CB92BA72F3D8DD7ull; }

// The mean loss over `batches` global batches of the validation windows, each rank scoring
// its rows of each.
double validation_loss(Transformer& model, SequentialLoader& loader, const float* params,
                       int batches, std::vector<int32_t>& inputs, std::vector<int32_t>& targets,
                       Communicator& job) {
  loader.reset();
  const KernelDims& d = model.dims();
  const int rows = static_cast<int>(d.B);
  double sum = 0.0;
  for (int i = 0; i < batches; ++i) {
    loader.next_rows(rows * job.size(), rows * job.rank(), rows, inputs.data(), targets.data());
    sum += model.forward(params, inputs.data(), targets.data());
  }
  job.sum(&sum, 1);
  return sum / (static_cast<double>(batches) * d.T() * job.size());
}

// A 64-bit fingerprint of the weights' bits, to check that data-parallel replicas agree.
uint64_t fingerprint(const float* values, int64_t n) {
  uint64_t h = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, values + i, sizeof bits);
    h += (bits ^ 0x9E3779B9u) * (2 * static_cast<uint64_t>(i) + 1);
  }
  return h;
}

// The tokenizer of this run: --tokenizer, else the dataset's, else the checkpoint's, else the
// one the --init model carries. A tokenizer whose files changed since the data was made is
// refused, as is one that differs from the resumed checkpoint's or the --init model's, or has
// more ids than the model's vocabulary.
std::unique_ptr<Tokenizer> open_tokenizer(const TrainOptions& opts, const DatasetSource& source,
                                          const TrainingState* resumed, const ModelConfig& mc) {
  std::string spec = opts.tokenizer;
  if (spec.empty() && !source.tokenizer_spec.empty()) {
    if (!source.tokenizer_problem.empty()) throw UserError(source.tokenizer_problem);
    spec = source.tokenizer_spec;
  }
  if (spec.empty() && resumed) spec = resumed->tokenizer_spec;
  std::string init_spec;
  if (!resumed && !opts.init.empty()) init_spec = open_model_source(opts.init).tokenizer_spec;
  if (spec.empty()) spec = init_spec;
  if (spec.empty()) return nullptr;
  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(spec);
  auto require_same = [&](const std::string& expected, const std::string& what) {
    if (!expected.empty() && expected != tokenizer->checksum())
      throw UserError("tokenizer '" + spec + "' differs from the one " + what +
                      " was made with (checksum mismatch): use the original tokenizer files");
  };
  // Whichever spec named it (--tokenizer, the checkpoint's copy), it must be the tokenizer the
  // data was made with: another one fails only later, at the first sample it cannot decode.
  // (A bytes tokenizer has no files and an empty checksum, so compare whenever the dataset
  // records a tokenizer at all.)
  if (!source.tokenizer_spec.empty() && source.tokenizer_checksum != tokenizer->checksum())
    throw UserError("tokenizer '" + spec + "' differs from the one the dataset was made with " +
                    "('" + source.tokenizer_spec + "'): drop --tokenizer, or prepare the data " +
                    "with this tokenizer");
  // Whatever spec it was found by (the checkpoint keeps its own copy), the checkpoint's model
  // was trained with one tokenizer.
  if (resumed) require_same(resumed->tokenizer_checksum, "the checkpoint");
  if (!init_spec.empty() && init_spec != spec)
    require_same(load_tokenizer(init_spec)->checksum(), "the --init model (" + opts.init + ")");
  if (tokenizer->vocab_size() > mc.vocab_size)
    throw UserError("tokenizer '" + spec + "' has " + std::to_string(tokenizer->vocab_size()) +
                    " ids but the model's vocab_size is " + std::to_string(mc.vocab_size) +
                    ": add --set vocab_size=" + std::to_string(tokenizer->vocab_size()));
  return tokenizer;
}

// A backend can need a fresh process (Backend::restart_reason: the ANE stops compiling after
// about 119 programs per process, and its static pipeline recompiles every step). The trainer
// then checkpoints and replaces itself with a process running the same command with --resume.
template <typename Run>
[[noreturn]] void restart_process(int64_t step, const std::string& reason, const TrainOptions& opts,
                                  Run& run, RunWriterLock& lock) {
  if (opts.restart_argv.empty()) throw UserError(reason + ", and this run cannot restart itself");
  run.save(step);
  // The new image adopts the writer lock, so no other writer can slip in during the exec.
  lock.keep_across_exec();
  // exec() runs no destructors: the backend must release what it holds outside this process
  // (the ANE driver's loaded programs and their $TMPDIR compile directories) first.
  run.close_backend();
  std::vector<std::string> argv = opts.restart_argv;
  if (std::find(argv.begin(), argv.end(), "--resume") == argv.end()) argv.push_back("--resume");
  std::printf("%s; checkpointed at step %lld, restarting (exec) to continue\n", reason.c_str(),
              static_cast<long long>(step));
  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<char*> raw;
  for (auto& a : argv) raw.push_back(a.data());
  raw.push_back(nullptr);
  restore_process_affinity();  // else the new image starts pinned to this thread's one core
  execv("/proc/self/exe", raw.data());
  execvp(raw[0], raw.data());  // no /proc (macOS): the path the process was started with
  throw UserError(std::string("cannot restart anetrain (exec): ") + std::strerror(errno));
}

// A short sample at validation time, so a user sees what the model has learned.
void print_sample(const ModelConfig& mc, Backend& backend, const float* params,
                  const Tokenizer& tokenizer) {
  Sampler sampler({0.8f, 0.95f}, 1234);
  std::vector<int32_t> tokens = {tokenizer.document_separator()};
  generate(mc, backend, params, tokens, 48, sampler, tokenizer.vocab_size());
  std::string text = tokenizer.decode(std::vector<int32_t>(tokens.begin() + 1, tokens.end()));
  std::string shown;
  for (char c : text) shown += c == '\n' ? std::string("\\n") : std::string(1, c);
  std::printf("sample: %s\n", shown.c_str());
}

void check_request(const RunConfig& requested, const TrainOptions& opts, const Communicator& job) {
  if (opts.steps <= 0) throw UserError("--steps must be a positive number of optimizer steps");
  if (requested.train.batch_size % job.size() != 0)
    throw UserError("batch_size " + std::to_string(requested.train.batch_size) +
                    " does not split over the job's " + std::to_string(job.size()) +
                    " ranks: batch_size is the global batch (each rank trains batch_size / ranks "
                    "sequences of it); use a multiple of " +
                    std::to_string(job.size()));
  if (opts.out_dir.empty()) throw UserError("--out DIR is required: where checkpoints go");
  if (opts.data.empty()) throw UserError("--data is required: a prepared dataset or shards");
  requested.model.validate();
  requested.train.validate();  // batch_size, grad_accum, lr, sampling, ... in range
  if (opts.lora) opts.lora->validate(requested.model);
}

// A LoRA run's adapters: --lora-* for a fresh run (over --init), the checkpoint's on resume
// (the flags, when given again, must agree).
std::optional<LoraRecord> lora_of_run(const TrainOptions& opts, const TrainingState* resumed) {
  if (!resumed) {
    if (!opts.lora) return std::nullopt;
    if (opts.init.empty())
      throw UserError(
          "--lora-rank trains adapters over a pretrained model: give it with "
          "--init PATH (a checkpoint directory or weights file)");
    LoraRecord record{.config = *opts.lora,
                      .base_path = std::filesystem::absolute(opts.init).lexically_normal()};
    return record;  // base_sha256 is filled in when the base has been read
  }
  if (!resumed->lora) {
    if (opts.lora)
      throw UserError("'" + opts.out_dir + "' holds a full fine-tuning checkpoint, not LoRA " +
                      "adapters: drop the --lora-* flags to resume it, or choose another --out");
    return std::nullopt;
  }
  if (opts.lora && *opts.lora != resumed->lora->config)
    throw UserError("the --lora-* flags differ from the adapters' in '" + opts.out_dir +
                    "' (rank " + std::to_string(resumed->lora->config.rank) +
                    "): resume with the same flags, or drop them to use the checkpoint's");
  return resumed->lora;
}

// Where a run starts: a fresh run at step 0, or the checkpoint in --out (never overwritten by
// a fresh run; resumed only with --resume and the same config and seed).
struct StartPoint {
  RunConfig config;
  uint64_t seed = 0;
  int64_t step = 0;
  std::unique_ptr<TrainingState> resumed;  // null for a fresh run, and on ranks other than 0
  bool resuming = false;                   // a resumed run, on every rank
  std::optional<LoraRecord> lora;          // a LoRA run, on every rank
};

// The run directory, created if needed; a file in its place is an error.
void create_run_dir(const std::string& dir) {
  if (std::filesystem::exists(dir) && !std::filesystem::is_directory(dir))
    throw UserError("--out '" + dir + "' is a file, not a run directory: choose another --out");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw UserError("--out '" + dir + "': cannot create the run directory (" + ec.message() +
                    "): choose a writable --out");
}

// Weights a fresh run would overwrite: a checkpoint's model without its state.json, or a
// model in any format anetrain reads.
std::string weights_in(const std::string& dir) {
  const CheckpointPaths paths(dir);
  if (std::filesystem::exists(paths.model())) return paths.model();
  if (weight_format_of(dir)) return dir;
  return "";
}

StartPoint resume_or_start(const RunConfig& requested, const TrainOptions& opts) {
  StartPoint start{.config = requested, .seed = opts.seed};
  if (!has_checkpoint(opts.out_dir)) {
    if (opts.resume)
      throw UserError("--resume: '" + opts.out_dir +
                      "' holds no checkpoint to continue (no state.json): check --out, or drop "
                      "--resume to start a fresh run there");
    if (const std::string weights = weights_in(opts.out_dir); !weights.empty() && !opts.force)
      throw UserError("'" + opts.out_dir + "' already holds model weights ('" + weights +
                      "') but no checkpoint to resume: a fresh run would overwrite them; pass "
                      "--force to do that, or choose another --out");
    start.lora = lora_of_run(opts, nullptr);
    return start;
  }
  if (!opts.resume)
    throw UserError("'" + opts.out_dir +
                    "' already holds a checkpoint: pass --resume to continue it, or choose "
                    "another --out");
  start.resumed = std::make_unique<TrainingState>(load_training_state(opts.out_dir));
  const TrainingState& resumed = *start.resumed;
  nlohmann::json want = config_to_json(requested), have = config_to_json(resumed.config);
  want.erase("preset"), have.erase("preset");
  if (want != have)
    throw UserError("the config given differs from the checkpoint's in '" + opts.out_dir +
                    "': resume with the same --config/--set, or start a new --out");
  if (opts.seed_given && opts.seed != resumed.seed)
    throw UserError("--seed differs from the checkpoint's seed; drop --seed to resume");
  start.config = resumed.config;
  start.seed = resumed.seed;
  start.step = resumed.step;
  start.resuming = true;
  start.lora = lora_of_run(opts, &resumed);
  return start;
}

// Rank 0 decides where the run starts (it alone reads --out) and tells the others.
StartPoint start_everywhere(const RunConfig& requested, const TrainOptions& opts,
                            Communicator& job) {
  StartPoint start = job.is_root() ? resume_or_start(requested, opts)
                                   : StartPoint{.config = requested, .seed = opts.seed};
  nlohmann::json sent = {{"step", start.step}, {"seed", start.seed}, {"resuming", start.resuming}};
  if (start.lora) sent["lora"] = lora_record_to_json(*start.lora);
  std::string where = sent.dump();
  job.broadcast(where);
  const nlohmann::json j = nlohmann::json::parse(where);
  start.step = j["step"].get<int64_t>();
  start.seed = j["seed"].get<uint64_t>();
  start.resuming = j["resuming"].get<bool>();
  if (j.contains("lora")) start.lora = lora_record_from_json(j["lora"], "the job's start", false);
  return start;
}

// Everything one training run holds, built in the order the run needs it; each method is one
// named part of train()'s loop.
class TrainingRun {
 public:
  TrainingRun(StartPoint start, const TrainOptions& opts, Communicator& job)
      : opts_(opts),
        job_(job),
        start_(std::move(start)),
        mc_(start_.config.model),
        tc_(start_.config.train),
        backend_(open_backend(opts, start_.config)),
        source_(resolve_dataset(opts.data, opts.val_glob, opts.verify_data)),
        tokenizer_(job.is_root() ? open_tokenizer(opts, source_, start_.resumed.get(), mc_)
                                 : nullptr),
        train_data_(make_training_loader(tc_.sampling, source_.train_glob, mc_.seq_len,
                                         mc_.vocab_size, loader_seed(start_.seed))),
        layout_(mc_),
        params_(layout_.total()),
        lora_(start_.lora ? std::make_unique<LoraLayout>(mc_, start_.lora->config) : nullptr),
        adapters_(lora_ ? lora_->params().total() : 0),
        optimizer_(make_optimizer(tc_, trained_layout())),
        model_(mc_, *backend_, rows_per_rank(), mc_.seq_len, tc_.recompute),
        inputs_(model_.dims().T()),
        targets_(model_.dims().T()),
        exchange_(job, trained_layout().total(), opts.exchange),
        stepper_(model_, tc_, layout_, job.distributed() ? &exchange_ : nullptr,
                 {.layout = lora_.get(),
                  .values = adapters_.data(),
                  .dropout_seed = dropout_seed(start_.seed)}) {
    if (job.is_root()) metrics_.emplace(opts.out_dir, start_.step);
    if (job.is_root() && !source_.verification.empty())
      std::printf("%s\n", source_.verification.c_str());
    const ShardPlan& shard = exchange_.plan();
    if (shard.sharded) optimizer_->restrict_to(shard.begin, shard.end);
    if (!source_.val_glob.empty())
      val_data_ = std::make_unique<SequentialLoader>(source_.val_glob, mc_.seq_len, mc_.vocab_size);
    restore_or_initialize();
    state_.lora = start_.lora;
    state_.config = start_.config;
    state_.seed = start_.seed;
    state_.total_steps = opts.steps;
    state_.backend = opts.backend;
    // Checkpoints keep a copy of the tokenizer, so the run directory is usable on its own.
    if (tokenizer_) state_.tokenizer_files = read_tokenizer_files(*tokenizer_);
  }

  int64_t first_step() const { return start_.step; }

  void announce() const {
    if (!job_.is_root()) return;
    std::printf(
        "training %s: %lld params, %d layers, dim %d, batch %d x seq %d x accum %d, "
        "backend %s, %s, %d threads, steps %lld..%lld\n",
        start_.config.preset.c_str(), static_cast<long long>(layout_.total()), mc_.n_layers,
        mc_.dim, tc_.batch_size, mc_.seq_len, tc_.grad_accum, backend_->name().c_str(),
        tc_.precision.c_str(), num_threads(), static_cast<long long>(start_.step + 1),
        static_cast<long long>(opts_.steps));
    if (lora_) {
      const LoraConfig& c = lora_->config();
      std::printf(
          "LoRA: rank %d, alpha %g, dropout %g on %s of %d layers: %lld trained "
          "parameters (%.2f%% of the base's %lld, frozen); optimizer state %.3g MB\n",
          c.rank, c.alpha, c.dropout, join_lora_targets(c.targets).c_str(), mc_.n_layers,
          static_cast<long long>(lora_->params().total()),
          100.0 * lora_->params().total() / layout_.total(),
          static_cast<long long>(layout_.total()),
          optimizer_->state_bytes_per_param() * lora_->params().total() / 1e6);
    }
    if (job_.distributed()) {
      char reduce[96] = "gradients reduced after backward";
      if (exchange_.overlapping())
        std::snprintf(reduce, sizeof reduce, "gradients reduced in %.3g MB buckets during backward",
                      static_cast<double>(opts_.exchange.bucket_bytes) / (1 << 20));
      // This rank's optimizer state (rank 0's shard is as large as any).
      const double state_mb = optimizer_->state_bytes_per_param() * trained_layout().total() / 1e6;
      std::printf(
          "data parallel: %d ranks x %d sequences of each batch; optimizer state %s, "
          "%.3g MB per rank; %s\n",
          job_.size(), tc_.batch_size / job_.size(),
          exchange_.plan().sharded ? "sharded (ZeRO-1)" : "replicated", state_mb, reduce);
    }
    std::fflush(stdout);
  }

  // Before exec(): nothing may use the backend (or the model built on it) afterwards.
  void close_backend() { backend_.reset(); }

  // Before every step but this process's first: the backend may need a fresh process.
  void restart_if_the_backend_asks(int64_t step, RunWriterLock* lock) {
    if (step == start_.step) return;
    const std::string why = backend_->restart_reason();
    if (why.empty()) return;
    if (job_.distributed())
      throw UserError("the " + backend_->name() + " backend needs a fresh process (" + why +
                      "), which a process of an MPI job cannot have (MPI allows no exec): under " +
                      "mpirun use a backend that needs no restarts (for the ANE, the dynamic " +
                      "pipeline)");
    restart_process(step, why, opts_, *this, *lock);
  }

  // One optimizer step: the micro-batches, the update, the metrics record.
  void run_step(int64_t step) {
    const auto step_start = Clock::now();
    const StepStats stats =
        stepper_.run(step, tc_.decay_steps > 0 ? tc_.decay_steps : opts_.steps, params_.data(),
                     *optimizer_, [&](int32_t* in, int32_t* tg) {
                       train_data_->next_rows(tc_.batch_size, rows_per_rank() * job_.rank(),
                                              rows_per_rank(), in, tg);
                     });
    last_ = {.done = step + 1, .stats = stats, .ms = seconds_since(step_start) * 1e3};
    result_.steps_run++;
    if (stats.not_finite) {
      note_bad_step(stats);
      return;
    }
    bad_in_a_row_ = 0;
    result_.last_loss = stats.loss;
    if (!job_.is_root()) return;
    nlohmann::json record = {{"step", last_.done},
                             {"loss", stats.loss},
                             {"lr", stats.lr},
                             {"ms", last_.ms},
                             {"tokens_per_s", tokens_per_s()},
                             {"grad_norm", stats.grad_norm},
                             {"update_ms", stats.update_ms}};
    if (tc_.loss_scale != 1.0f || tc_.dynamic_loss_scale) record["loss_scale"] = stats.loss_scale;
    if (job_.distributed()) record["wait_ms"] = stats.wait_ms;
    if (stats.skipped) {
      record["skipped"] = true;
      std::printf("step %lld: gradients overflowed at loss scale %g; step skipped\n",
                  static_cast<long long>(last_.done), stats.loss_scale);
    }
    metrics_->append(record);
  }

  // A step with a non-finite loss or gradient norm was not applied: logged, recorded (without
  // a loss, so metrics.jsonl stays plottable JSON), and max_bad_steps in a row end the run.
  void note_bad_step(const StepStats& stats) {
    const long long done = last_.done;
    ++bad_in_a_row_;
    ++result_.bad_steps;
    const bool loss = std::string(stats.not_finite) == "loss";
    const std::string what =
        std::string(stats.not_finite) +
        (std::isnan(loss ? stats.loss : stats.grad_norm) ? " is nan" : " is inf");
    if (job_.is_root())
      std::printf("step %lld: %s; step not applied (%d in a row, %d allowed)\n", done, what.c_str(),
                  bad_in_a_row_, tc_.max_bad_steps);
    std::fflush(stdout);
    if (metrics_) metrics_->append({{"step", done}, {"lr", stats.lr}, {"skipped", what}});
    if (bad_in_a_row_ < tc_.max_bad_steps) return;
    throw UserError("training diverged: " + std::to_string(bad_in_a_row_) +
                    " steps in a row up to step " + std::to_string(done) + " had a non-finite " +
                    "loss or gradient (none was applied); the last checkpoint in '" +
                    opts_.out_dir + "' is kept: lower lr, or raise max_bad_steps");
  }

  void log_progress() {
    if (!job_.is_root()) return;
    if (last_.stats.not_finite) return;  // note_bad_step() said what happened
    const int64_t done = last_.done;
    if (tc_.log_every <= 0 || !(done % tc_.log_every == 0 || done == opts_.steps || done == 1))
      return;
    const double eta = seconds_since(run_start_) / result_.steps_run * (opts_.steps - done);
    std::printf(
        "step %lld/%lld | loss %.4f | lr %.2e | grad norm %.3f | %.0f tok/s | "
        "%.1f ms | ETA %s\n",
        static_cast<long long>(done), static_cast<long long>(opts_.steps), last_.stats.loss,
        last_.stats.lr, last_.stats.grad_norm, tokens_per_s(), last_.ms,
        format_duration(eta).c_str());
    std::fflush(stdout);
  }

  void validate_if_due() {
    const int64_t done = last_.done;
    if (!val_data_ || tc_.val_every <= 0 || !(done % tc_.val_every == 0 || done == opts_.steps))
      return;
    const double val = validation_loss(model_, *val_data_, params_.data(),
                                       std::max(1, tc_.val_batches), inputs_, targets_, job_);
    result_.last_val_loss = val;
    if (!job_.is_root()) return;
    metrics_->append({{"step", done}, {"val_loss", val}});
    std::printf("step %lld | val loss %.4f\n", static_cast<long long>(done), val);
    if (tokenizer_) print_sample(mc_, *backend_, sampled_params(), *tokenizer_);
    std::fflush(stdout);
  }

  // The weights a sample is drawn from: the model's, or the base with the adapters merged in
  // (generate() builds its own models, which carry no adapters).
  const float* sampled_params() {
    if (!lora_) return params_.data();
    merged_.assign(params_.begin(), params_.end());
    merge_lora(*lora_, adapters_.data(), merged_.data());
    return merged_.data();
  }

  void save_if_due() {
    const int64_t done = last_.done;
    if (done == opts_.steps || (tc_.save_every > 0 && done % tc_.save_every == 0)) save(done);
  }

  // After SIGINT/SIGTERM: the step in progress is done; keep it (unless just saved) and stop.
  TrainResult stop_for_signal(int sig) {
    if (saved_step_ != last_.done) save(last_.done);
    if (job_.is_root())
      std::printf(
          "stopped by signal %d at step %lld; checkpoint saved in '%s' (continue with "
          "--resume)\n",
          sig, static_cast<long long>(last_.done), opts_.out_dir.c_str());
    std::fflush(stdout);
    TrainResult result = result_;
    result.stopped_by_signal = sig;
    return result;
  }

  // Every rank takes part (a sharded optimizer's state is gathered); rank 0 writes.
  void save(int64_t step) {
    saved_step_ = step;
    if (job_.distributed() &&
        !job_.same_everywhere(fingerprint(trained(), trained_layout().total())))
      throw UserError("not checkpointing step " + std::to_string(step) + ": the ranks' weights " +
                      "differ (the data-parallel replicas diverged, which is a bug in anetrain " +
                      "or the MPI library); the last checkpoint in '" + opts_.out_dir +
                      "' is kept");
    std::vector<OptimizerState> gathered;
    if (exchange_.plan().sharded) {
      for (const OptimizerState& s : optimizer_->state()) {
        gathered.push_back({s.name, FloatBuffer(job_.is_root() ? trained_layout().total() : 0)});
        job_.gather_to_root(s.values.data(), gathered.back().values.data(), exchange_.plan().counts,
                            exchange_.plan().offsets);
      }
    }
    if (!job_.is_root()) return;
    state_.step = step;
    state_.loss_scale = stepper_.loss_scale().scale;
    state_.loss_scale_good_steps = stepper_.loss_scale().good_steps;
    state_.loader = train_data_->state();
    if (exchange_.plan().sharded)
      save_checkpoint(opts_.out_dir, state_, trained_layout(), trained(), trained_layout(),
                      gathered);
    else
      save_checkpoint(opts_.out_dir, state_, trained_layout(), trained(), *optimizer_);
  }

  TrainResult result() const {
    if (job_.is_root() && start_.step >= opts_.steps)
      std::printf("checkpoint in '%s' is already at step %lld of %lld: nothing to do\n",
                  opts_.out_dir.c_str(), static_cast<long long>(start_.step),
                  static_cast<long long>(opts_.steps));
    return result_;
  }

 private:
  struct LastStep {
    int64_t done = 0;  // steps completed
    StepStats stats;
    double ms = 0;
  };

  static std::unique_ptr<Backend> open_backend(const TrainOptions& opts, const RunConfig& config) {
    init_thread_pool();
    set_gemm_precision(parse_gemm_precision(config.train.precision));
    std::unique_ptr<Backend> backend =
        make_backend(opts.backend, BackendOptions::from(config.train));
    backend->prepare_run(config.model);
    return backend;
  }

  int rows_per_rank() const { return tc_.batch_size / job_.size(); }

  // Rank 0 reads the checkpoint or the --init model, or initializes; then every rank gets the
  // same weights, its part of the optimizer state, the data position and the loss scale.
  void restore_or_initialize() {
    const bool sharded = exchange_.plan().sharded;
    // A sharded optimizer holds a slice of each state tensor; rank 0 reads whole ones first.
    std::unique_ptr<Optimizer> whole;
    if (sharded && job_.is_root() && start_.resumed) whole = make_optimizer(tc_, trained_layout());
    if (job_.is_root()) restore_or_initialize_here(whole ? *whole : *optimizer_);
    if (!job_.distributed()) return;
    job_.broadcast(params_.data(), layout_.total() * int64_t{sizeof(float)});
    if (lora_) job_.broadcast(adapters_.data(), lora_->params().total() * int64_t{sizeof(float)});
    if (!start_.resuming) return;
    for (size_t i = 0; i < optimizer_->state().size(); ++i) {
      FloatBuffer& mine = optimizer_->state()[i].values;
      if (sharded)
        job_.scatter_from_root(whole ? whole->state()[i].values.data() : nullptr, mine.data(),
                               exchange_.plan().counts, exchange_.plan().offsets);
      else
        job_.broadcast(mine.data(), static_cast<int64_t>(mine.size() * sizeof(float)));
    }
    std::string loader = job_.is_root() ? train_data_->state().dump() : "";
    job_.broadcast(loader);
    if (!job_.is_root()) train_data_->set_state(nlohmann::json::parse(loader));
    job_.broadcast(&stepper_.loss_scale(), sizeof(LossScaleState));
  }

  void restore_or_initialize_here(Optimizer& optimizer) {
    if (start_.resumed && lora_) {
      // The frozen base, checked against the digest the adapters were trained over.
      copy_params(read_lora_base(*start_.lora, opts_.init, opts_.out_dir));
      load_checkpoint(opts_.out_dir, trained_layout(), trained(), optimizer, /*adapters=*/true);
    } else if (start_.resumed) {
      load_checkpoint(opts_.out_dir, layout_, params_.data(), optimizer);
    }
    if (start_.resumed) {
      train_data_->set_state(start_.resumed->loader);
      stepper_.loss_scale() = {start_.resumed->loss_scale, start_.resumed->loss_scale_good_steps};
    } else if (!opts_.init.empty()) {
      // Fine-tuning: the model's weights, a fresh optimizer state.
      copy_params(read_model_params(open_model_source(opts_.init)));
      if (lora_) {
        start_.lora->base_sha256 = params_sha256(params_.data(), layout_.total());
        init_lora(*lora_, start_.seed, adapters_.data());
      }
    } else {
      init_params(mc_, layout_, tc_.init_std, start_.seed, params_.data());
    }
  }

  void copy_params(const std::vector<float>& weights) {
    ANETRAIN_CHECK(static_cast<int64_t>(weights.size()) == layout_.total(),
                   "--init weights of another layout");
    std::copy(weights.begin(), weights.end(), params_.data());
  }

  // What the optimizer trains: the model's weights, or a LoRA run's adapters.
  const ParamLayout& trained_layout() const { return lora_ ? lora_->params() : layout_; }
  float* trained() { return lora_ ? adapters_.data() : params_.data(); }

  double tokens_per_s() const {
    return static_cast<double>(model_.dims().T()) * tc_.grad_accum * job_.size() / (last_.ms / 1e3);
  }

  const TrainOptions& opts_;
  Communicator& job_;
  StartPoint start_;
  const ModelConfig& mc_;
  const TrainConfig& tc_;
  std::unique_ptr<Backend> backend_;
  DatasetSource source_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<TrainingLoader> train_data_;
  std::unique_ptr<SequentialLoader> val_data_;
  ParamLayout layout_;
  FloatBuffer params_;
  std::unique_ptr<LoraLayout> lora_;  // a LoRA run's adapters (params_ then stay frozen)
  FloatBuffer adapters_;
  std::unique_ptr<Optimizer> optimizer_;
  Transformer model_;
  std::vector<int32_t> inputs_, targets_;
  std::optional<MetricsLog> metrics_;  // rank 0's
  GradExchange exchange_;
  TrainStep stepper_;
  std::vector<float> merged_;  // sampled_params()'s
  TrainingState state_;
  TrainResult result_;
  LastStep last_;
  int bad_in_a_row_ = 0;
  int64_t saved_step_ = -1;
  Clock::time_point run_start_ = Clock::now();
};

}  // namespace

TrainResult train(const RunConfig& requested, const TrainOptions& opts) {
  const std::unique_ptr<Communicator> alone = single_process();
  return train(requested, opts, *alone);
}

TrainResult train(const RunConfig& requested, const TrainOptions& opts, Communicator& job) {
  check_request(requested, opts, job);
  // One writer per run directory for the run's whole life; readers never recover, so an
  // interrupted commit is finished (or discarded) here, by the lock holder. Rank 0 is the
  // job's writer; the other ranks never touch --out.
  std::optional<RunWriterLock> lock;
  if (job.is_root()) {
    create_run_dir(opts.out_dir);
    lock.emplace(opts.out_dir);
    recover_checkpoint_dir(opts.out_dir);
  }
  share_cores(job.local_rank(), job.local_size());
  // Before TrainingRun starts the thread pool (stop_request.h says why).
  const StopRequest stop;
  TrainingRun run(start_everywhere(requested, opts, job), opts, job);
  run.announce();
  for (int64_t step = run.first_step(); step < opts.steps; ++step) {
    run.restart_if_the_backend_asks(step, lock ? &*lock : nullptr);
    run.run_step(step);
    run.log_progress();
    run.save_if_due();
    run.validate_if_due();
    // A signal to any rank stops the whole job after this step.
    const int signal = stop.signal();
    if (job.distributed() ? job.any(signal != 0) : signal != 0)
      return run.stop_for_signal(signal != 0 ? signal : SIGTERM);
  }
  return run.result();
}

}  // namespace anetrain
