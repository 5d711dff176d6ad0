// Model weights on disk, by format: the one place that reads and writes them. Checkpoints,
// `sample` and the coming import/export and `eval` go through here.
//
//   WeightFormat::kAnetrain  safetensors, F32, Meta's Llama names (model/params.h), the run
//                            config and step in the metadata (docs/FORMATS.md)
//   WeightFormat::kGguf      llama.cpp's GGUF v3, architecture "llama", F32 or F16, llama.cpp's
//                            names, the model dims and the tokenizer in its keys
//
// Adding a format (llama2.c, a Hugging Face directory, GGUF): an enum value here; in
// weights.cpp its codec function's declaration and one line in kFormats; the format's own file
// implementing WeightCodec (model/weight_codec.h) and defining that function; its tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "model/config.h"
#include "model/params.h"
#include "tokenizer/tokenizer_files.h"

namespace anetrain {

class SafetensorsFile;

enum class WeightFormat {
  kAnetrain,
  kGguf,
};

// "anetrain", "gguf".
std::string weight_format_name(WeightFormat format);

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

// The format of the file at `path`; a UserError naming the file when no format knows it.
WeightFormat detect_weight_format(const std::string& path);

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
