// The training loop: data -> micro-batches -> forward/backward -> clip -> optimizer, with
// validation, progress lines, metrics.jsonl and atomic checkpoints with exact resume.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "dist/grad_exchange.h"
#include "model/config.h"
#include "model/lora.h"

namespace anetrain {

struct TrainOptions {
  std::string data;       // a prepared dataset directory, or a glob of llm.c shards
  std::string val_glob;   // optional validation shards (default: the dataset's val split)
  std::string tokenizer;  // optional tokenizer spec (default: the dataset's)
  std::string out_dir;    // checkpoint directory
  std::string backend = "cpu";
  int64_t steps = 0;    // the run's total number of optimizer steps
  bool resume = false;  // continue from out_dir's checkpoint (an error if it holds none)
  // Start fresh in an out_dir that holds model weights but no checkpoint, overwriting them.
  bool force = false;
  // Start from this model's weights instead of random ones (train/model_source.h: any format);
  // the caller's config must have its architecture. A resumed run ignores it.
  std::string init;
  // LoRA fine-tuning (model/lora.h): train these adapters over the frozen --init model; the
  // checkpoint holds the adapters and names the base (train/lora_checkpoint.h). A resumed LoRA
  // run takes the checkpoint's config when this is unset; --init then only relocates the base.
  std::optional<LoraConfig> lora;
  uint64_t seed = 1337;
  bool seed_given = false;
  // Check a dataset directory's shards against the sha256 in its manifest (--no-verify: false;
  // the list of shards and their sizes are checked either way).
  bool verify_data = true;
  // Data parallelism's gradient exchange (dist/grad_exchange.h), when the job has several ranks.
  ExchangeOptions exchange;
  // The command line that started this process; the static ANE pipeline re-executes it
  // (with --resume) when the per-process compile budget would run out.
  std::vector<std::string> restart_argv;
};

struct TrainResult {
  int64_t steps_run = 0;
  double last_loss = 0.0;
  double last_val_loss = -1.0;  // < 0 when no validation ran
  int64_t bad_steps = 0;        // steps not applied: non-finite loss or gradient norm
  int stopped_by_signal = 0;    // SIGINT/SIGTERM ended the run early (after a checkpoint)
};

// Trains as this process alone.
TrainResult train(const RunConfig& config, const TrainOptions& options);
// Trains as one rank of `job` (data parallel when it has several): every rank reads the data
// and draws the same global batches, taking its own rows of each; rank 0 alone reads and
// writes --out (checkpoint, metrics, progress), sending what it read to the others.
TrainResult train(const RunConfig& config, const TrainOptions& options, Communicator& job);

}  // namespace anetrain
