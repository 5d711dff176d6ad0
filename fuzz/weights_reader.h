// Shared by the fuzz targets of weight formats read through model/weights.h (llama2.c, GGUF):
// reads an input file's metadata and, when its model is small enough to allocate here, every
// tensor, the way `anetrain sample` and `convert` do. Header-only; not a target itself.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "model/params.h"
#include "model/weights.h"

namespace fuzz_util {

// The parameter count of `m` without building its layout (which a huge n_layers would make
// slow), in floating point so that no product overflows.
inline double parameter_count(const anetrain::ModelConfig& m) {
  const double D = m.dim, F = m.hidden_dim, V = m.vocab_size;
  const double QD = static_cast<double>(m.n_heads) * (m.dim / m.n_heads);
  const double KD = static_cast<double>(m.n_kv_heads) * (m.dim / m.n_heads);
  const double per_layer = 2 * D + 2 * QD * D + 2 * KD * D + 3 * F * D;
  return V * D * (m.tied_embeddings ? 1 : 2) + m.n_layers * per_layer + D;
}

// Reads `path` as `format`: metadata (validated config), then the tensors into a buffer.
inline void read_weights_file(const char*, anetrain::WeightFormat format, const std::string& path) {
  const anetrain::WeightsMetadata metadata = anetrain::read_weights_metadata(format, path);
  if (!metadata.config) return;  // anetrain's format without a "config": nothing to lay out
  const anetrain::ModelConfig& model = metadata.config->model;
  model.validate();
  // Larger models are left alone: the input is at most a few kB, so the reader must refuse
  // them, but the buffer would be allocated before it does.
  if (parameter_count(model) > (1 << 22) || model.n_layers > 256) return;
  const anetrain::ParamLayout layout(model);
  std::vector<float> params(static_cast<size_t>(layout.total()));
  anetrain::read_weights(format, path, layout, params.data());
  volatile float sum = 0;
  for (float v : params) sum = sum + (std::isnan(v) ? 0.0f : v);
}

// A small model for seeds: every tensor kind, GQA, params 0.01 * index.
inline void write_weights_seed(anetrain::WeightFormat format, const std::string& path, bool tied,
                               const std::string& dtype = "f32") {
  anetrain::RunConfig config;
  config.preset = "fuzz";
  anetrain::ModelConfig& m = config.model;
  m.dim = 8, m.hidden_dim = 12, m.n_layers = 2, m.n_heads = 2, m.n_kv_heads = 1;
  m.vocab_size = 16, m.seq_len = 8, m.tied_embeddings = tied;
  const anetrain::ParamLayout layout(m);
  std::vector<float> params(static_cast<size_t>(layout.total()));
  for (size_t i = 0; i < params.size(); ++i) params[i] = 0.01f * static_cast<float>(i % 97);
  anetrain::WeightsMetadata metadata;
  metadata.config = config;
  metadata.step = 3;
  metadata.dtype = dtype;
  anetrain::write_weights(format, path, layout, params.data(), metadata);
}

}  // namespace fuzz_util
