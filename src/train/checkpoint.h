// A training checkpoint is a directory (docs/FORMATS.md):
//   model.safetensors      fp32 weights under Meta's Llama names
//   optimizer.safetensors  AdamW moments, "m.<name>" and "v.<name>"
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
#include <string>
#include <vector>

#include "model/config.h"
#include "model/params.h"
#include "tokenizer/tokenizer_files.h"

namespace anetrain {

struct TrainingState {
  RunConfig config;
  int64_t step = 0;         // optimizer steps completed
  int64_t total_steps = 0;  // the run's --steps when this was written
  uint64_t seed = 0;
  std::string backend = "cpu";
  nlohmann::json loader;    // RandomWindowLoader::state()
  // The tokenizer, "" when trained on bare token ids. After load_training_state() the spec is
  // loadable from the working directory: resolved against the checkpoint directory when the
  // checkpoint holds a copy (older checkpoints name it relative to where they were trained).
  std::string tokenizer_spec;
  std::string tokenizer_checksum;  // sha256 of the tokenizer files (Tokenizer::checksum())
  // save_checkpoint() copies these files into the checkpoint and records their spec and
  // checksum (kind "": no tokenizer); tokenizer_spec and tokenizer_checksum are not written.
  TokenizerFiles tokenizer_files;
  float loss_scale = 1;            // current (dynamic) loss scale
  int64_t loss_scale_good_steps = 0;
};

void save_checkpoint(const std::string& dir, const TrainingState& state, const ParamLayout& layout,
                     const float* params, const float* adam_m, const float* adam_v);

// True if dir holds a checkpoint (after finishing or discarding an interrupted commit).
bool has_checkpoint(const std::string& dir);

TrainingState load_training_state(const std::string& dir);

// Reads weights into params (layout.total() floats). Every tensor must be present with the
// layout's shape; anything else is a UserError naming the file and tensor.
void load_model_weights(const std::string& path, const ParamLayout& layout, float* params);
void load_optimizer_moments(const std::string& path, const ParamLayout& layout, float* adam_m,
                            float* adam_v);

}  // namespace anetrain
