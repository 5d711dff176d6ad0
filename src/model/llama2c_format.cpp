#include "model/llama2c_format.h"

#include <bit>
#include <climits>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace anetrain::llama2c {

static_assert(std::endian::native == std::endian::little,
              "llama2.c files are read and written as little-endian memory images");

namespace {

using Wide = unsigned __int128;  // sizes from seven arbitrary int32 overflow int64

std::string decimal(Wide v) {
  std::string s;
  do {
    s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  } while (v != 0);
  return s;
}

// The file size a valid header implies.
Wide implied_bytes(int version, const ModelConfig& m) {
  const Wide D = m.dim, F = m.hidden_dim, L = m.n_layers, V = m.vocab_size;
  const Wide QD = m.q_dim(), KD = m.kv_dim();
  const Wide per_layer = 2 * D + 2 * QD * D + 2 * KD * D + 3 * F * D;
  Wide floats = V * D * (m.tied_embeddings ? 1 : 2) + L * per_layer + D;
  if (version == 0) floats += static_cast<Wide>(m.seq_len) * m.head_dim();
  return (version == 0 ? kLegacyHeaderBytes : kV1HeaderBytes) + 4 * floats;
}

int32_t int_at(const char* bytes, int index) {
  int32_t v;
  std::memcpy(&v, bytes + 4 * index, 4);
  return v;
}

}  // namespace

std::string describe(const ModelConfig& m) {
  return "dim " + std::to_string(m.dim) + ", hidden_dim " + std::to_string(m.hidden_dim) +
         ", n_layers " + std::to_string(m.n_layers) + ", n_heads " + std::to_string(m.n_heads) +
         ", n_kv_heads " + std::to_string(m.n_kv_heads) + ", vocab_size " +
         std::to_string(m.vocab_size) + ", seq_len " + std::to_string(m.seq_len) + ", " +
         (m.tied_embeddings ? "shared classifier" : "separate classifier");
}

Header read_header(const std::string& path, int version) {
  const std::string file = "'" + path + "'";
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (ec) throw UserError(file + " cannot be read as a llama2.c checkpoint (no such file)");
  if (!in) throw UserError(file + " cannot be opened as a llama2.c checkpoint");
  const int64_t header_size = version == 0 ? kLegacyHeaderBytes : kV1HeaderBytes;
  char raw[kV1HeaderBytes] = {};
  in.read(raw, header_size);
  const auto got = in.gcount();
  Header h;
  const char* dims = raw;
  if (version != 0) {
    uint32_t magic;
    std::memcpy(&magic, raw, 4);
    if (got < 8 || magic != kMagic)
      throw UserError(file + " is not a versioned llama2.c checkpoint (no magic \"ak42\")");
    h.version = int_at(raw, 1);
    if (h.version == 2)
      throw UserError(file +
                      ": llama2.c version 2 (int8 Q8_0) is not supported; export version 0 or 1");
    if (h.version != 1)
      throw UserError(file + ": llama2.c version " + std::to_string(h.version) +
                      " is unknown; anetrain reads the legacy format (version 0) and version 1");
    dims = raw + 8;
  }
  if (got < header_size)
    throw UserError(file + ": " + std::to_string(size) + " bytes, too short for a llama2.c " +
                    (version == 0 ? "legacy" : "version-1") + " header (" +
                    std::to_string(header_size) + " bytes)");
  ModelConfig& m = h.model;
  m.dim = int_at(dims, 0);
  m.hidden_dim = int_at(dims, 1);
  m.n_layers = int_at(dims, 2);
  m.n_heads = int_at(dims, 3);
  m.n_kv_heads = int_at(dims, 4);
  m.vocab_size = int_at(dims, 5);
  m.seq_len = int_at(dims, 6);
  m.norm_eps = 1e-5f;
  m.rope_theta = 10000.0f;
  if (version == 0) {
    m.tied_embeddings = m.vocab_size > 0;
    if (m.vocab_size < 0) m.vocab_size = m.vocab_size == INT_MIN ? 0 : -m.vocab_size;
  } else {
    const auto flag = static_cast<uint8_t>(dims[28]);
    if (flag > 1)
      throw UserError(file + ": its llama2.c shared-classifier flag is " + std::to_string(flag) +
                      ", not 0 or 1");
    m.tied_embeddings = flag == 1;
  }
  try {
    m.validate();
  } catch (const UserError& e) {
    throw UserError(file + ": its llama2.c header (" + describe(m) + ") is no model: " + e.what());
  }
  const Wide need = implied_bytes(version, m);
  if (need != size)
    throw UserError(file + ": " + std::to_string(size) + " bytes, but its llama2.c header (" +
                    describe(m) + ") needs " + decimal(need) +
                    (need > size ? ": the file is truncated" : ": extra bytes follow the tensors"));
  return h;
}

std::string header_bytes(int version, const ModelConfig& m) {
  const bool legacy = version == 0;
  std::string out(legacy ? kLegacyHeaderBytes : kV1HeaderBytes, '\0');
  char* at = out.data();
  auto put = [&at](auto value) {
    std::memcpy(at, &value, sizeof value);
    at += sizeof value;
  };
  if (!legacy) {
    put(kMagic);
    put(int32_t{1});
  }
  const int32_t vocab = legacy && !m.tied_embeddings ? -m.vocab_size : m.vocab_size;
  for (int32_t v : {m.dim, m.hidden_dim, m.n_layers, m.n_heads, m.n_kv_heads, vocab, m.seq_len})
    put(v);
  if (!legacy) put(static_cast<uint8_t>(m.tied_embeddings ? 1 : 0));
  return out;
}

std::vector<Span> file_order(int version, const ModelConfig& m, const ParamLayout& layout) {
  const int64_t D = m.dim, F = m.hidden_dim, QD = m.q_dim(), KD = m.kv_dim();
  std::vector<Span> order;
  auto every_layer = [&](int64_t LayerParams::*tensor, int64_t count) {
    for (int l = 0; l < m.n_layers; ++l) order.push_back({layout.layer(l).*tensor, count});
  };
  auto attention = [&] {
    every_layer(&LayerParams::wq, QD * D);
    every_layer(&LayerParams::wk, KD * D);
    every_layer(&LayerParams::wv, KD * D);
    every_layer(&LayerParams::wo, D * QD);
  };
  auto feed_forward = [&] {
    every_layer(&LayerParams::w1, F * D);
    every_layer(&LayerParams::w2, D * F);
    every_layer(&LayerParams::w3, F * D);
  };
  const Span embedding{layout.tok_embeddings(), m.vocab_size * D};
  if (version == 0) {
    order.push_back(embedding);
    every_layer(&LayerParams::attention_norm, D);
    attention();
    every_layer(&LayerParams::ffn_norm, D);
    feed_forward();
    order.push_back({layout.final_norm(), D});
    order.push_back({-1, static_cast<int64_t>(m.seq_len) * m.head_dim()});
  } else {
    every_layer(&LayerParams::attention_norm, D);
    every_layer(&LayerParams::ffn_norm, D);
    order.push_back({layout.final_norm(), D});
    order.push_back(embedding);
    attention();
    feed_forward();
  }
  if (!m.tied_embeddings) order.push_back({layout.classifier(), m.vocab_size * D});
  return order;
}

std::vector<float> rope_table(const ModelConfig& m) {
  const int64_t half = m.head_dim() / 2, S = m.seq_len;
  std::vector<float> table(2 * S * half);
  for (int64_t pos = 0; pos < S; ++pos)
    for (int64_t i = 0; i < half; ++i) {
      const double angle = pos * std::pow(10000.0, -2.0 * i / m.head_dim());
      table[pos * half + i] = static_cast<float>(std::cos(angle));
      table[(S + pos) * half + i] = static_cast<float>(std::sin(angle));
    }
  return table;
}

}  // namespace anetrain::llama2c
