// WeightFormat::kGguf: llama.cpp's GGUF (version 3, the container in model/gguf_format.h) with
// architecture "llama": the model dims in the llama.* keys, the tokenizer in the
// tokenizer.ggml.* keys, F32 or F16 tensors under llama.cpp's names (docs/FORMATS.md, "GGUF").
// Query and key rows stay in Meta's interleaved-pair RoPE order, which is the order llama.cpp's
// LLAMA architecture rotates: unlike a Hugging Face checkpoint, nothing is permuted.
#include <sentencepiece_processor.h>

#include <climits>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "core/error.h"
#include "io/json_input.h"
#include "model/gguf_format.h"
#include "model/weight_codec.h"
#include "tokenizer/gpt2_bpe.h"

namespace anetrain {
namespace {

// ---- Tensor names ----

// Meta's names within a layer (after "layers.N.") and llama.cpp's (after "blk.N.").
constexpr std::pair<std::string_view, std::string_view> kLayerTensors[] = {
    {"attention_norm.weight", "attn_norm.weight"}, {"attention.wq.weight", "attn_q.weight"},
    {"attention.wk.weight", "attn_k.weight"},      {"attention.wv.weight", "attn_v.weight"},
    {"attention.wo.weight", "attn_output.weight"}, {"ffn_norm.weight", "ffn_norm.weight"},
    {"feed_forward.w1.weight", "ffn_gate.weight"}, {"feed_forward.w3.weight", "ffn_up.weight"},
    {"feed_forward.w2.weight", "ffn_down.weight"},
};

// llama.cpp's name of a parameter named as in model/params.h.
std::string gguf_tensor_name(const std::string& meta) {
  if (meta == "tok_embeddings.weight") return "token_embd.weight";
  if (meta == "norm.weight") return "output_norm.weight";
  if (meta == "output.weight") return meta;
  const std::string_view prefix = "layers.";
  const size_t dot = meta.find('.', prefix.size());
  if (meta.starts_with(prefix) && dot != std::string::npos) {
    const std::string_view rest = std::string_view(meta).substr(dot + 1);
    for (const auto& [ours, theirs] : kLayerTensors)
      if (rest == ours)
        return "blk." + meta.substr(prefix.size(), dot - prefix.size()) + "." + std::string(theirs);
  }
  check_failed("gguf_tensor_name", __FILE__, __LINE__, "no GGUF name for " + meta);
}

// ---- The tokenizer as tokenizer.ggml.* keys ----

// llama.cpp's token types (4, user-defined, is never written: see sentencepiece_vocabulary).
enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUnused = 5, kByte = 6 };

struct Vocabulary {
  std::string model = "none";  // tokenizer.ggml.model: "llama", "gpt2" or "none"
  std::string pre;             // tokenizer.ggml.pre, written unless empty
  std::vector<std::string> tokens;
  std::vector<float> scores;  // written unless empty
  std::vector<int32_t> types;
  std::vector<std::string> merges;                       // written for "gpt2"
  std::vector<std::pair<std::string, int>> special_ids;  // key, token id
};

const std::string& file_named(const TokenizerFiles& files, const std::string& name) {
  for (const auto& [file_name, contents] : files.files)
    if (file_name == name) return contents;
  check_failed("file_named", __FILE__, __LINE__, files.kind + " tokenizer files without " + name);
}

// Pieces, scores and types as libsentencepiece reports them. Its API does not tell
// user-defined pieces from normal ones, so those are written as normal (1).
Vocabulary sentencepiece_vocabulary(const std::string& model_proto) {
  sentencepiece::SentencePieceProcessor sp;
  const auto status = sp.LoadFromSerializedProto(model_proto);
  if (!status.ok())
    throw UserError("the tokenizer's tokenizer.model is not a SentencePiece model (" +
                    status.ToString() + ")");
  Vocabulary v;
  v.model = "llama";
  for (int id = 0; id < sp.GetPieceSize(); ++id) {
    v.tokens.push_back(sp.IdToPiece(id));
    v.scores.push_back(sp.GetScore(id));
    v.types.push_back(sp.IsUnknown(id)   ? kUnknown
                      : sp.IsControl(id) ? kControl
                      : sp.IsByte(id)    ? kByte
                      : sp.IsUnused(id)  ? kUnused
                                         : kNormal);
  }
  for (const auto& [key, id] : {std::pair{"tokenizer.ggml.bos_token_id", sp.bos_id()},
                                {"tokenizer.ggml.eos_token_id", sp.eos_id()},
                                {"tokenizer.ggml.unknown_token_id", sp.unk_id()},
                                {"tokenizer.ggml.padding_token_id", sp.pad_id()}})
    if (id >= 0) v.special_ids.emplace_back(key, id);
  return v;
}

// encoder.json's token strings in id order, vocab.bpe's merges after its "#version" line.
Vocabulary gpt2_vocabulary(const std::string& encoder_json, const std::string& vocab_bpe) {
  const nlohmann::json encoder = parse_json(encoder_json, "the tokenizer's encoder.json");
  Vocabulary v;
  v.model = "gpt2";
  v.pre = "gpt-2";
  v.tokens.assign(encoder.size(), std::string());
  v.types.assign(encoder.size(), kNormal);
  std::vector<bool> seen(encoder.size(), false);
  for (const auto& [token, id] : encoder.items()) {
    if (!id.is_number_unsigned() || id.get<uint64_t>() >= encoder.size() || seen[id.get<size_t>()])
      throw UserError("the tokenizer's encoder.json does not number its " +
                      std::to_string(encoder.size()) + " tokens 0.." +
                      std::to_string(encoder.size() - 1) + " (token \"" + token + "\")");
    const int i = id.get<int>();
    seen[i] = true;
    v.tokens[i] = token;
    if (token == "<|endoftext|>") {
      v.types[i] = kControl;
      v.special_ids = {{"tokenizer.ggml.bos_token_id", i}, {"tokenizer.ggml.eos_token_id", i}};
    }
  }
  for (size_t pos = 0; pos < vocab_bpe.size();) {
    size_t end = std::min(vocab_bpe.find('\n', pos), vocab_bpe.size());
    std::string line = vocab_bpe.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && !(pos == 0 && line.starts_with("#version"))) v.merges.push_back(line);
    pos = end + 1;
  }
  return v;
}

// The bytes tokenizer as a byte-level BPE vocabulary without merges: token b is byte b, spelled
// as GPT-2 spells bytes, so llama.cpp encodes and decodes any text exactly as anetrain does.
// Id 0 (NUL), the document separator, is BOS and EOS.
Vocabulary bytes_vocabulary() {
  Vocabulary v;
  v.model = "gpt2";
  v.pre = "gpt-2";
  for (int b = 0; b < 256; ++b) v.tokens.push_back(gpt2_byte_spelling(static_cast<uint8_t>(b)));
  v.types.assign(256, kNormal);
  v.special_ids = {{"tokenizer.ggml.bos_token_id", 0}, {"tokenizer.ggml.eos_token_id", 0}};
  return v;
}

// The tokenizer's vocabulary padded to the model's vocab_size with unused tokens "[PAD<id>]"
// (llama.cpp wants one token per embedding row). None for bare token ids.
Vocabulary vocabulary_of(const TokenizerFiles& files, int vocab_size) {
  Vocabulary v;
  if (files.kind == "sp") {
    v = sentencepiece_vocabulary(file_named(files, "tokenizer.model"));
  } else if (files.kind == "gpt2") {
    v = gpt2_vocabulary(file_named(files, "encoder.json"), file_named(files, "vocab.bpe"));
  } else if (files.kind == "bytes") {
    v = bytes_vocabulary();
  } else {
    ANETRAIN_CHECK(files.kind.empty(), "tokenizer kind " + files.kind);
    return v;
  }
  if (v.tokens.size() > static_cast<size_t>(vocab_size))
    throw UserError("the tokenizer has " + std::to_string(v.tokens.size()) +
                    " tokens, more than the model's vocab_size " + std::to_string(vocab_size));
  for (int id = static_cast<int>(v.tokens.size()); id < vocab_size; ++id) {
    v.tokens.push_back("[PAD" + std::to_string(id) + "]");
    v.types.push_back(kUnused);
    if (!v.scores.empty()) v.scores.push_back(0.0f);
  }
  return v;
}

void add_vocabulary(gguf::Writer& w, const Vocabulary& v) {
  w.add_string("tokenizer.ggml.model", v.model);
  if (v.model == "none") return;
  if (!v.pre.empty()) w.add_string("tokenizer.ggml.pre", v.pre);
  w.add_strings("tokenizer.ggml.tokens", v.tokens);
  if (!v.scores.empty()) w.add_float32s("tokenizer.ggml.scores", v.scores);
  w.add_int32s("tokenizer.ggml.token_type", v.types);
  if (v.model == "gpt2") w.add_strings("tokenizer.ggml.merges", v.merges);
  for (const auto& [key, id] : v.special_ids) w.add_uint32(key, static_cast<uint32_t>(id));
}

// ---- Reading ----

// `problem` may quote the file (its architecture name): control bytes are shown as '?', so the
// message stays one line.
[[noreturn]] void refuse(const gguf::File& f, std::string problem) {
  for (char& ch : problem)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
  throw UserError("'" + f.path() + "' " + problem);
}

gguf::File open_llama(const std::string& path) {
  gguf::File f = gguf::File::open(path);
  const std::optional<std::string> arch = f.string("general.architecture");
  if (arch != "llama")
    refuse(f, (arch ? "holds a '" + *arch + "' model" : std::string("names no architecture")) +
                  "; anetrain reads GGUF files of architecture 'llama'");
  return f;
}

int dimension(const gguf::File& f, const std::string& key) {
  const std::optional<uint64_t> v = f.uint(key);
  if (!v) refuse(f, "lacks the metadata '" + key + "' that a llama model needs");
  if (*v > INT_MAX) refuse(f, "has metadata '" + key + "' too large: " + std::to_string(*v));
  return static_cast<int>(*v);
}

// The run config from the llama.* keys (the training keys at their defaults).
RunConfig config_of(const gguf::File& f) {
  ModelConfig m;
  m.dim = dimension(f, "llama.embedding_length");
  m.hidden_dim = dimension(f, "llama.feed_forward_length");
  m.n_layers = dimension(f, "llama.block_count");
  m.n_heads = dimension(f, "llama.attention.head_count");
  m.n_kv_heads = f.uint("llama.attention.head_count_kv")
                     ? dimension(f, "llama.attention.head_count_kv")
                     : m.n_heads;
  m.seq_len = dimension(f, "llama.context_length");
  const std::optional<double> eps = f.real("llama.attention.layer_norm_rms_epsilon");
  if (!eps) refuse(f, "lacks the metadata 'llama.attention.layer_norm_rms_epsilon'");
  m.norm_eps = static_cast<float>(*eps);
  m.rope_theta = static_cast<float>(f.real("llama.rope.freq_base").value_or(10000.0));
  const gguf::TensorInfo* embedding = f.find_tensor("token_embd.weight");
  if (!embedding || embedding->shape.size() != 2)
    refuse(f, "has no two-dimensional tensor 'token_embd.weight'");
  m.vocab_size = static_cast<int>(embedding->shape[0]);
  m.tied_embeddings = f.find_tensor("output.weight") == nullptr;
  try {
    m.validate();
  } catch (const UserError& e) {
    refuse(f, std::string("holds a model anetrain cannot build: ") + e.what());
  }
  // The caller allocates the model's parameters before any tensor is read: a header naming a
  // model larger than the file's tensors (n_layers 2^31 in a 1 kB file) is refused here.
  double values = 0;
  for (const gguf::TensorInfo& t : f.tensors()) values += static_cast<double>(t.numel());
  const double D = m.dim, F = m.hidden_dim, E = m.head_dim();
  const double needed =
      static_cast<double>(m.vocab_size) * D * (m.tied_embeddings ? 1 : 2) + D +
      m.n_layers * (2 * D + 2 * m.n_heads * E * D + 2 * m.n_kv_heads * E * D + 3 * F * D);
  if (needed > values)
    refuse(f, "names a model of " + std::to_string(static_cast<uint64_t>(needed)) +
                  " parameters, more than its tensors hold (" +
                  std::to_string(static_cast<uint64_t>(values)) + ")");

  if (f.uint("llama.vocab_size") && dimension(f, "llama.vocab_size") != m.vocab_size)
    refuse(f, "has llama.vocab_size " + std::to_string(dimension(f, "llama.vocab_size")) +
                  " but token_embd.weight has " + std::to_string(m.vocab_size) + " rows");
  if (f.uint("llama.expert_count").value_or(0) > 0)
    refuse(f, "is a mixture-of-experts model, which anetrain does not implement");
  const std::optional<std::string> scaling = f.string("llama.rope.scaling.type");
  if ((scaling && *scaling != "none") || f.find_tensor("rope_freqs.weight"))
    refuse(f, "scales RoPE frequencies, which anetrain does not implement");
  if (f.uint("llama.rope.dimension_count") &&
      dimension(f, "llama.rope.dimension_count") != m.dim / m.n_heads)
    refuse(f, "rotates " + std::to_string(dimension(f, "llama.rope.dimension_count")) +
                  " dimensions of each head; anetrain's models rotate all " +
                  std::to_string(m.dim / m.n_heads));
  RunConfig config;
  config.preset = "gguf";
  config.model = m;
  return config;
}

class GgufCodec final : public WeightCodec {
 public:
  bool recognizes(const std::string& path) const override {
    char magic[4] = {};
    std::ifstream in(path, std::ios::binary);
    return in.read(magic, sizeof magic) && std::string_view(magic, sizeof magic) == "GGUF";
  }

  WeightsMetadata read_metadata(const std::string& path) const override {
    WeightsMetadata out;
    out.config = config_of(open_llama(path));
    return out;
  }

  void read(const std::string& path, const ParamLayout& layout, float* params) const override {
    const gguf::File f = open_llama(path);
    for (const ParamInfo& t : layout.tensors()) {
      const std::string name = gguf_tensor_name(t.name);
      const gguf::TensorInfo* info = f.find_tensor(name);
      if (!info)
        refuse(f, "has no tensor '" + name + "': it was written for a different model config");
      if (info->shape != t.shape)
        refuse(f, "has tensor '" + name + "' of another shape than the model config expects");
      f.read_f32(*info, params + t.offset);
    }
    if (!layout.find("output.weight") && f.find_tensor("output.weight"))
      refuse(f, "has its own output.weight, but the model config ties it to token_embd.weight");
  }

  void write(const std::string& path, const ParamLayout& layout, const float* params,
             const WeightsMetadata& metadata) const override {
    if (!metadata.config)
      throw UserError("writing '" + path + "' as GGUF needs the model config for its llama.* keys");
    const ModelConfig& m = metadata.config->model;
    ANETRAIN_CHECK(ParamLayout(m).total() == layout.total(), "GGUF: config and layout differ");
    if (metadata.dtype != "f32" && metadata.dtype != "f16")
      throw UserError("GGUF tensors are written as f32 or f16, not '" + metadata.dtype + "'");
    const bool f16 = metadata.dtype == "f16";
    const Vocabulary vocabulary = vocabulary_of(metadata.tokenizer_files, m.vocab_size);

    gguf::Writer w;
    w.add_string("general.architecture", "llama");
    w.add_string("general.name", std::filesystem::path(path).stem().string());
    w.add_uint32("general.alignment", gguf::kAlignment);
    w.add_uint32("general.file_type", f16 ? 1 : 0);  // all F32; mostly F16
    w.add_uint32("llama.context_length", m.seq_len);
    w.add_uint32("llama.embedding_length", m.dim);
    w.add_uint32("llama.block_count", m.n_layers);
    w.add_uint32("llama.feed_forward_length", m.hidden_dim);
    w.add_uint32("llama.attention.head_count", m.n_heads);
    w.add_uint32("llama.attention.head_count_kv", m.n_kv_heads);
    w.add_uint32("llama.rope.dimension_count", m.head_dim());
    w.add_float32("llama.rope.freq_base", m.rope_theta);
    w.add_float32("llama.attention.layer_norm_rms_epsilon", m.norm_eps);
    w.add_uint32("llama.vocab_size", m.vocab_size);
    add_vocabulary(w, vocabulary);
    for (const ParamInfo& t : layout.tensors()) {
      const bool half = f16 && t.shape.size() == 2;  // norm gains stay F32
      w.add_tensor(gguf_tensor_name(t.name), t.shape,
                   half ? gguf::TensorType::kF16 : gguf::TensorType::kF32, params + t.offset);
    }
    w.write(path);
  }
};

}  // namespace

const WeightCodec& gguf_codec() {
  static const GgufCodec codec;
  return codec;
}

}  // namespace anetrain
