// Model weights on disk, by format: the one place that reads and writes them. Checkpoints,
// `sample`, `eval`, `info`, `convert` and `train --init` go through here
// (train/model_source.h).
//
//   WeightFormat::kAnetrain     safetensors, F32, Meta's Llama names (model/params.h), the run
//                               config and step in the metadata (docs/FORMATS.md)
//   WeightFormat::kLlama2c      llama2.c's checkpoints for its run.c, legacy and version 1
//   WeightFormat::kLlama2cV1    (model/llama2c_format.h); writing adds llama2.c's tokenizer.bin
//   WeightFormat::kHuggingFace  a Hugging Face Llama directory (config.json, model.safetensors
//                               under Hugging Face's names, the tokenizer's files)
//   WeightFormat::kGguf         llama.cpp's GGUF v3, architecture "llama", F32 or F16, llama.cpp's
//                               names, the model dims and the tokenizer in its keys
//
// Adding a format: an enum value here; in weights.cpp its codec function's declaration and one
// line in kFormats; the format's own file implementing WeightCodec (model/weight_codec.h) and
// defining that function; its tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/params.h"
#include "tokenizer/tokenizer_files.h"

namespace anetrain {

class SafetensorsFile;

enum class WeightFormat {
  kAnetrain,
  kLlama2c,    // llama2.c's legacy ("version 0") checkpoint, fp32, read and written
  kLlama2cV1,  // llama2.c's version-1 checkpoint ("ak42" magic), fp32, read and written
  kHuggingFace,  // a Hugging Face Llama directory, read and written
  kGguf,         // llama.cpp's GGUF v3 (F32/F16 llama models), read and written
};

// "anetrain", ... (the names `anetrain convert --to` takes).
std::string weight_format_name(WeightFormat format);
// The format of that name; a UserError listing the names for an unknown one.
WeightFormat weight_format_named(const std::string& name);
std::vector<std::string> weight_format_names();

// What a weights file records beside the tensors, as far as its format can hold it.
struct WeightsMetadata {
  std::optional<RunConfig> config;  // the run config (model dims and the rest)
  int64_t step = -1;                // optimizer steps completed; < 0: not recorded
  // Read: a spec that loads the tokenizer the weights carry (tokenizer/tokenizer.h, e.g.
  // "sp:DIR/tokenizer.model"), "" when they carry none.
  std::string tokenizer_spec;
  // Write: the tokenizer to store with the weights where the format holds one (kind "": none).
  TokenizerFiles tokenizer_files;
  // Write: the tensors' element type where the format offers a choice ("f32" or "f16").
  std::string dtype = "f32";
};

// The format of the file or directory at `path`; a UserError naming it when it does not exist
// or no format knows it. weight_format_of: the same without the error.
WeightFormat detect_weight_format(const std::string& path);
std::optional<WeightFormat> weight_format_of(const std::string& path);

// The metadata of a weights file (no tensors are read). Throws UserError naming the file.
WeightsMetadata read_weights_metadata(WeightFormat format, const std::string& path);

// Reads every tensor of `layout` into params (layout.total() floats). A missing tensor or one
// of another shape is a UserError naming the file and tensor.
void read_weights(WeightFormat format, const std::string& path, const ParamLayout& layout,
                  float* params);

// Writes params (laid out by `layout`) to `path` atomically, with what of `metadata` the format
// can hold.
void write_weights(WeightFormat format, const std::string& path, const ParamLayout& layout,
                   const float* params, const WeightsMetadata& metadata);

// For safetensors files laid out by a ParamLayout (weights, optimizer state): reads tensor
// `prefix + t.name` of every parameter t into out + t.offset, checking its shape; a missing
// or misshapen tensor is a UserError naming the file and tensor.
void read_layout_tensors(const SafetensorsFile& file, const ParamLayout& layout,
                         const std::string& prefix, float* out);

}  // namespace anetrain
