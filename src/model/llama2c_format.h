// The checkpoint files of Karpathy's llama2.c (read by its run.c, written by its export.py):
// their headers and the order of their tensors, for the codecs of weights_llama2c.cpp
// (docs/FORMATS.md).
//
//   legacy ("version 0")  7 int32: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size
//                         (negative: the classifier is not shared with the embedding),
//                         seq_len. Then fp32: embedding, every layer's attention norm, wq, wk,
//                         wv, wo, ffn norm, w1, w2, w3 (each kind for all layers before the
//                         next kind), final norm, a RoPE table run.c skips (cos then sin,
//                         [seq_len, head_dim/2] each), the classifier when not shared.
//   version 1             256 bytes: uint32 magic "ak42", int32 version 1, the 7 int32
//                         (vocab_size positive), uint8 shared classifier, zeros. Then fp32:
//                         every layer's attention norm, ffn norm, final norm, embedding, wq,
//                         wk, wv, wo, w1, w2, w3, the classifier when not shared.
//   version 2             the same header with int8 (Q8_0) tensors: refused.
// Tensors are Meta's [out, in] (model/params.h); numbers are little-endian.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/params.h"

namespace anetrain::llama2c {

constexpr uint32_t kMagic = 0x616b3432;  // "ak42" read as a little-endian uint32
constexpr int64_t kLegacyHeaderBytes = 7 * 4;
constexpr int64_t kV1HeaderBytes = 256;

// A header's model: its seven numbers, tied_embeddings from the sign or flag, llama2.c's fixed
// norm_eps 1e-5 and rope_theta 10000.
struct Header {
  int version = 0;  // 0 (legacy) or 1
  ModelConfig model;
};

// Reads and checks the header of `path` as the legacy format (version 0) or a versioned one
// (1; 2 and unknown versions are refused), and that the file's size is exactly what the header
// implies. Throws a one-line UserError naming the file and the problem.
Header read_header(const std::string& path, int version);

// The header's bytes for `model` in `version` (0 or 1).
std::string header_bytes(int version, const ModelConfig& model);

// "dim 288, hidden_dim 768, ..., shared classifier": a header's numbers, for messages.
std::string describe(const ModelConfig& model);

// One run of consecutive fp32 values in the file: params + offset (layout offsets), or the
// legacy RoPE table when offset < 0.
struct Span {
  int64_t offset = 0;
  int64_t count = 0;
};
// Every value after the header, in file order.
std::vector<Span> file_order(int version, const ModelConfig& model, const ParamLayout& layout);

// The legacy RoPE table: cos, then sin, of pos * 10000^(-2i/head_dim), [seq_len, head_dim/2].
std::vector<float> rope_table(const ModelConfig& model);

}  // namespace anetrain::llama2c
