// The parts of WeightFormat::kHuggingFace (weights_hf.cpp) that tests check on their own: how
// Meta's tensor names map to Hugging Face's, and the row order of the query and key projections
// that makes Hugging Face's rotary embedding compute what Meta's does (docs/FORMATS.md).
#pragma once

#include <cstdint>
#include <string>

namespace anetrain {

// Meta's name of a parameter (model/params.h) -> its name in a Hugging Face Llama checkpoint,
// e.g. "layers.3.feed_forward.w1.weight" -> "model.layers.3.mlp.gate_proj.weight".
std::string hf_tensor_name(const std::string& meta_name);

// A query or key projection, [heads * head_dim, cols] row-major. Meta's RoPE rotates the pairs
// of rows (2i, 2i+1) of each head, Hugging Face's the pairs (i, i + head_dim/2); these reorder
// the rows of every head between the two (row 2i + p of Meta's head is row p * head_dim/2 + i
// of Hugging Face's), each the inverse of the other. The two buffers must not overlap.
void rotary_rows_to_hf(const float* meta, float* hf, int heads, int head_dim, int64_t cols);
void rotary_rows_from_hf(const float* hf, float* meta, int heads, int head_dim, int64_t cols);

}  // namespace anetrain
