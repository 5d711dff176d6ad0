// Where a model comes from: an anetrain checkpoint directory (state.json beside the weights),
// or weights alone in any format model/weights.h reads (anetrain safetensors, llama2.c .bin,
// a Hugging Face directory, GGUF). `sample`, `eval`, `info`, `convert` and `train --init` all
// open models through here, so each accepts every format.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/checkpoint_commit.h"
#include "model/config.h"
#include "model/weights.h"
#include "train/lora_checkpoint.h"

namespace anetrain {

struct ModelSource {
  std::string path;     // as given
  std::string weights;  // the file or directory the tensors are read from
  WeightFormat format = WeightFormat::kAnetrain;
  bool checkpoint = false;  // an anetrain checkpoint directory (state.json)
  RunConfig config;         // the model's dims (and, for a checkpoint, its training config)
  int64_t step = -1;        // optimizer steps completed, < 0 when not recorded
  // The tokenizer the model carries: a spec loadable from the working directory, "" when none.
  std::string tokenizer_spec, tokenizer_checksum;
  // Held for a run directory: no commit replaces the checkpoint while this source is alive, so
  // metadata and tensors come from the same save even while `train` writes the directory.
  std::shared_ptr<const CheckpointReadLock> read_lock;
  // A LoRA run's checkpoint: `weights` are its adapters, and the model is the base named by
  // `lora` (or base_path when given) with the adapters merged in.
  std::optional<LoraRecord> lora;
  std::string base_path;
};

// Reads what `path` is and its metadata (no tensors). A UserError names the path and what is
// missing: no such file, no format that reads it, no model config recorded.
ModelSource open_model_source(const std::string& path);

// A LoRA run directory's adapters over the base model at `base_path` ("" for the one the
// run recorded). A UserError if `adapters_dir` holds no adapters.
ModelSource open_adapters_source(const std::string& adapters_dir, const std::string& base_path);

// Every parameter, laid out by ParamLayout(source.config.model); a LoRA source's adapters
// merged into its base (checked against the recorded sha256).
std::vector<float> read_model_params(const ModelSource& source);

}  // namespace anetrain
