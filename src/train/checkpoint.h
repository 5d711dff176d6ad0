// A training checkpoint is a directory (docs/FORMATS.md), its file names in CheckpointPaths:
//   model.safetensors      fp32 weights under Meta's Llama names (model/weights.h, kAnetrain)
//   adapters.safetensors   a LoRA run's adapters, in place of model.safetensors (the base model
//                          is named in state.json: train/lora_checkpoint.h)
//   optimizer.safetensors  the optimizer's named state tensors, "<state>.<name>" (AdamW: "m.",
//                          "v."; train/optimizer.h)
//   state.json             config, step, seed, data-loader position, tokenizer
//   tokenizer.model        a copy of the tokenizer's files (encoder.json + vocab.bpe for
//                          gpt2:, none for bytes; tokenizer/tokenizer_files.h), which
//                          state.json names relative to the directory, so a run directory
//                          samples and resumes from any working directory and after a move
// The files are replaced together through io/checkpoint_commit.h, so a process killed at any
// instant leaves either the previous checkpoint or the new one, never a mix.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"
#include "model/params.h"
#include "tokenizer/tokenizer_files.h"
#include "train/lora_checkpoint.h"
#include "train/optimizer.h"

namespace anetrain {

struct TrainingState {
  RunConfig config;
  int64_t step = 0;         // optimizer steps completed
  int64_t total_steps = 0;  // the run's --steps when this was written
  uint64_t seed = 0;
  std::string backend = "cpu";
  nlohmann::json loader;  // RandomWindowLoader::state()
  // The tokenizer, "" when trained on bare token ids. After load_training_state() the spec is
  // loadable from the working directory: resolved against the checkpoint directory when the
  // checkpoint holds a copy (older checkpoints name it relative to where they were trained).
  std::string tokenizer_spec;
  std::string tokenizer_checksum;  // sha256 of the tokenizer files (Tokenizer::checksum())
  // save_checkpoint() copies these files into the checkpoint and records their spec and
  // checksum (kind "": no tokenizer); tokenizer_spec and tokenizer_checksum are not written.
  TokenizerFiles tokenizer_files;
  float loss_scale = 1;  // current (dynamic) loss scale
  int64_t loss_scale_good_steps = 0;
  // A LoRA run: what is checkpointed are these adapters over a frozen base model; the
  // checkpoint's weights and optimizer state are the adapters'.
  std::optional<LoraRecord> lora;
};

// The files of the checkpoint in `dir`.
struct CheckpointPaths {
  static constexpr const char* kModel = "model.safetensors";
  static constexpr const char* kAdapters = "adapters.safetensors";
  static constexpr const char* kOptimizer = "optimizer.safetensors";
  static constexpr const char* kState = "state.json";

  explicit CheckpointPaths(std::string dir) : dir(std::move(dir)) {}
  std::string model() const { return file(kModel); }
  std::string adapters() const { return file(kAdapters); }
  std::string optimizer() const { return file(kOptimizer); }
  std::string state() const { return file(kState); }
  // Where the tokenizer copy's files (fixed names, tokenizer/tokenizer_files.h) are: the
  // directory itself.
  const std::string& tokenizer_dir() const { return dir; }
  std::string file(const std::string& name) const;

  std::string dir;
};

// Writes a checkpoint of params (laid out by `layout`) and the optimizer's state tensors.
// A UserError, writing nothing, if any of them holds inf or nan. For a LoRA run (state.lora)
// params and layout are the adapters', written to adapters.safetensors.
void save_checkpoint(const std::string& dir, const TrainingState& state, const ParamLayout& layout,
                     const float* params, const Optimizer& optimizer);
// The same with the optimizer's state as whole-layout tensors (a sharded optimizer's state,
// gathered from the job's ranks).
void save_checkpoint(const std::string& dir, const TrainingState& state, const ParamLayout& layout,
                     const float* params, const ParamLayout& optimizer_layout,
                     const std::vector<OptimizerState>& optimizer_state);

// True if dir holds a checkpoint. Neither this nor load_training_state() recovers an
// interrupted commit: the writer does that under its lock, readers read under a
// CheckpointReadLock (io/checkpoint_commit.h; open_model_source takes one).
bool has_checkpoint(const std::string& dir);

TrainingState load_training_state(const std::string& dir);

// Reads the checkpoint's weights into params (layout.total() floats) and its optimizer state
// into `optimizer`'s state tensors, by name. Every tensor must be present with the layout's
// shape; anything else is a UserError naming the file and tensor. `adapters`: a LoRA run's
// checkpoint, whose params are its adapters.
void load_checkpoint(const std::string& dir, const ParamLayout& layout, float* params,
                     Optimizer& optimizer, bool adapters = false);

// A model to run (sample, eval) and what was recorded with it.
struct InferenceModel {
  RunConfig config;
  std::vector<float> params;  // ParamLayout(config.model)
  // As in TrainingState; empty for a bare weights file (which records no tokenizer).
  std::string tokenizer_spec, tokenizer_checksum;
};

// Loads `path`: a checkpoint directory (its state.json gives the config and tokenizer; a LoRA
// run's gives its base with the adapters merged in), or weights in any format model/weights.h
// reads whose file records the config (train/model_source.h). With `adapters` (a LoRA run
// directory), `path` is the base those adapters are merged into. A UserError says what is
// missing otherwise.
InferenceModel load_inference_model(const std::string& path, const std::string& adapters = "");

}  // namespace anetrain
