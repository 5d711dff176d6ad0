// WeightFormat::kHuggingFace: a Hugging Face Llama directory (LlamaForCausalLM), as
// transformers' save_pretrained writes it and from_pretrained reads it:
//   config.json                the model's dimensions under Hugging Face's keys
//   model.safetensors          the tensors under Hugging Face's names (F32, F16 or BF16), or
//   model-0000i-of-0000n.safetensors + model.safetensors.index.json (its "weight_map"
//                              names each tensor's file): sharded, read only
//   tokenizer.model            a SentencePiece tokenizer, or vocab.json + merges.txt (GPT-2's
//                              encoder.json + vocab.bpe), with tokenizer_config.json
// Query and key rows are reordered per head between Meta's rotary pairs and Hugging Face's
// (weights_hf.h). docs/FORMATS.md describes the directory.
#include "model/weights_hf.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/json_input.h"
#include "io/safetensors.h"
#include "model/weight_codec.h"

namespace anetrain {
namespace fs = std::filesystem;

namespace {

constexpr const char* kConfig = "config.json";
constexpr const char* kModel = "model.safetensors";
constexpr const char* kIndex = "model.safetensors.index.json";
constexpr const char* kArchitecture = "LlamaForCausalLM";

std::string join(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / name).string();
}

// A value from an untrusted file, short and on one line (dump() escapes control characters).
std::string shown(const nlohmann::json& value) {
  std::string text = value.dump();
  return text.size() > 40 ? text.substr(0, 40) + "..." : text;
}

// The config.json of directory `dir`; a UserError naming it when it is missing or not a JSON
// object.
nlohmann::json parse_config(const std::string& dir) {
  const std::string path = join(dir, kConfig);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw UserError("'" + path + "' is missing: a Hugging Face model directory holds one");
  const std::string text = read_file(path);
  nlohmann::json j = parse_json(text, "'" + path + "'");
  if (!j.is_object()) throw UserError("'" + path + "' is not a JSON object");
  return j;
}

bool is_llama(const nlohmann::json& config) {
  if (auto it = config.find("model_type"); it != config.end()) return *it == "llama";
  auto arch = config.find("architectures");
  if (arch == config.end() || !arch->is_array()) return false;
  for (const auto& a : *arch)
    if (a == kArchitecture) return true;
  return false;
}

// Reads typed keys of one config.json, each error a line naming the file and the key.
class ConfigKeys {
 public:
  ConfigKeys(std::string path, const nlohmann::json& j) : path_(std::move(path)), j_(j) {}

  const nlohmann::json* find(const std::string& key) const {
    auto it = j_.find(key);
    return it == j_.end() ? nullptr : &*it;
  }
  [[noreturn]] void fail(const std::string& key, const std::string& why) const {
    throw UserError("'" + path_ + "': key '" + key + "' " + why);
  }

  int integer(const std::string& key, const int* fallback = nullptr) const {
    const nlohmann::json* v = find(key);
    if (!v) {
      if (fallback) return *fallback;
      fail(key, "is missing; a Llama config.json has it");
    }
    if (!v->is_number_integer() || v->get<int64_t>() < 1 || v->get<int64_t>() > INT_MAX)
      fail(key, "must be a positive integer, not " + shown(*v));
    return static_cast<int>(v->get<int64_t>());
  }
  float number(const std::string& key, float fallback) const {
    const nlohmann::json* v = find(key);
    if (!v) return fallback;
    if (!v->is_number() || !(v->get<double>() > 0))
      fail(key, "must be a positive number, not " + shown(*v));
    return static_cast<float>(v->get<double>());
  }
  bool boolean(const std::string& key, bool fallback) const {
    const nlohmann::json* v = find(key);
    if (!v) return fallback;
    if (!v->is_boolean()) fail(key, "must be true or false, not " + shown(*v));
    return v->get<bool>();
  }
  // Keys of features anetrain's Llama lacks: absent or set to `plain` only.
  void require_plain(const std::string& key, const nlohmann::json& plain,
                     const std::string& feature) const {
    const nlohmann::json* v = find(key);
    if (v && *v != plain)
      fail(key, "is " + shown(*v) + ": anetrain's Llama has no " + feature + " (only " +
                    plain.dump() + ")");
  }

 private:
  std::string path_;
  const nlohmann::json& j_;
};

ModelConfig model_from_config(const std::string& dir) {
  const std::string path = join(dir, kConfig);
  const nlohmann::json j = parse_config(dir);
  const ConfigKeys keys(path, j);
  if (const nlohmann::json* type = keys.find("model_type")) {
    if (*type != "llama")
      keys.fail("model_type",
                "is " + shown(*type) + ", not \"llama\": anetrain reads Llama models");
  } else if (!is_llama(j)) {
    keys.fail("model_type", "is missing and 'architectures' does not list LlamaForCausalLM");
  }
  keys.require_plain("hidden_act", "silu", "other activation");
  keys.require_plain("rope_scaling", nullptr, "RoPE scaling");
  keys.require_plain("attention_bias", false, "attention biases");
  keys.require_plain("mlp_bias", false, "MLP biases");

  ModelConfig m;
  m.dim = keys.integer("hidden_size");
  m.hidden_dim = keys.integer("intermediate_size");
  m.n_layers = keys.integer("num_hidden_layers");
  m.n_heads = keys.integer("num_attention_heads");
  m.n_kv_heads = keys.integer("num_key_value_heads", &m.n_heads);  // absent: no GQA
  m.vocab_size = keys.integer("vocab_size");
  m.seq_len = keys.integer("max_position_embeddings");
  // transformers' LlamaConfig defaults for the optional keys.
  m.tied_embeddings = keys.boolean("tie_word_embeddings", false);
  m.norm_eps = keys.number("rms_norm_eps", 1e-6f);
  m.rope_theta = keys.number("rope_theta", 10000.0f);
  if (m.dim % m.n_heads != 0)
    keys.fail("hidden_size", "(" + std::to_string(m.dim) +
                                 ") is not a multiple of num_attention_heads (" +
                                 std::to_string(m.n_heads) + ")");
  if (m.n_heads % m.n_kv_heads != 0)
    keys.fail("num_key_value_heads", "(" + std::to_string(m.n_kv_heads) +
                                         ") does not divide num_attention_heads (" +
                                         std::to_string(m.n_heads) + ")");
  const int head_dim = m.dim / m.n_heads;
  if (keys.find("head_dim") && keys.integer("head_dim") != head_dim)
    keys.fail("head_dim", "(" + std::to_string(keys.integer("head_dim")) +
                              ") differs from hidden_size / num_attention_heads (" +
                              std::to_string(head_dim) + "); anetrain's Llama needs them equal");
  try {
    m.validate();
  } catch (const UserError& e) {
    throw UserError("'" + path + "': " + e.what());
  }
  return m;
}

// The safetensors files of a directory: model.safetensors, or the shards its index names.
class HfTensors {
 public:
  explicit HfTensors(const std::string& dir) {
    std::error_code ec;
    if (fs::is_regular_file(join(dir, kModel), ec) || !fs::is_regular_file(join(dir, kIndex), ec)) {
      files_.push_back(SafetensorsFile::open(join(dir, kModel)));
      return;
    }
    index_ = join(dir, kIndex);
    const nlohmann::json j = parse_json(read_file(index_), "'" + index_ + "'");
    auto map = j.find("weight_map");  // end() for anything but an object
    if (map == j.end() || !map->is_object())
      throw UserError("'" + index_ + "' has no \"weight_map\" object naming each tensor's file");
    std::map<std::string, size_t> file_number;
    for (const auto& [tensor, file] : map->items()) {
      const std::string name = file.is_string() ? file.get<std::string>() : "";
      if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
        throw UserError("'" + index_ + "': the file of tensor " + shown(tensor) + " is " +
                        shown(file) + ", not a file name in the directory");
      auto [it, added] = file_number.emplace(name, files_.size());
      if (added) files_.push_back(SafetensorsFile::open(join(dir, name)));
      shard_of_[tensor] = it->second;
    }
  }

  // The file holding tensor `name` (which may still lack it).
  const SafetensorsFile& file_of(const std::string& name) const {
    if (index_.empty()) return files_[0];
    auto it = shard_of_.find(name);
    if (it == shard_of_.end())
      throw UserError("'" + index_ + "' names no file for tensor '" + name +
                      "' (the model of config.json has it)");
    return files_[it->second];
  }

 private:
  std::vector<SafetensorsFile> files_;
  std::string index_;  // "" for a single model.safetensors
  std::map<std::string, size_t> shard_of_;
};

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// The heads of a query (H) or key (G) projection, whose rows RoPE rotates; 0 for other tensors.
int rotary_heads(const ParamInfo& t, int head_dim) {
  const bool rotated =
      t.name.ends_with(".attention.wq.weight") || t.name.ends_with(".attention.wk.weight");
  return rotated ? static_cast<int>(t.shape[0] / head_dim) : 0;
}

// A float as the shortest decimal that reads back as the same float (1e-5f -> 1e-05, not
// 9.999999747378752e-06), so config.json shows the value the config holds.
double shortest(float value) {
  char text[32];
  auto result = std::to_chars(text, text + sizeof text, value);
  return std::stod(std::string(text, result.ptr));
}

nlohmann::ordered_json config_json(const ModelConfig& m, const std::string& dtype) {
  nlohmann::ordered_json j;
  j["architectures"] = {kArchitecture};
  j["model_type"] = "llama";
  j["hidden_size"] = m.dim;
  j["intermediate_size"] = m.hidden_dim;
  j["num_hidden_layers"] = m.n_layers;
  j["num_attention_heads"] = m.n_heads;
  j["num_key_value_heads"] = m.n_kv_heads;
  j["head_dim"] = m.head_dim();
  j["vocab_size"] = m.vocab_size;
  j["max_position_embeddings"] = m.seq_len;
  j["rms_norm_eps"] = shortest(m.norm_eps);
  j["rope_theta"] = shortest(m.rope_theta);
  j["rope_scaling"] = nullptr;
  j["tie_word_embeddings"] = m.tied_embeddings;
  j["hidden_act"] = "silu";
  j["attention_bias"] = false;
  j["mlp_bias"] = false;
  j["torch_dtype"] = dtype == "f16" ? "float16" : "float32";
  return j;
}

void write_text(const std::string& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size());
}

// The tokenizer's files under Hugging Face's names, with a tokenizer_config.json naming the
// transformers class that reads them.
void write_tokenizer(const std::string& dir, const TokenizerFiles& tokenizer) {
  std::map<std::string, std::string> renamed;  // anetrain's copy name -> Hugging Face's
  std::string tokenizer_class;
  if (tokenizer.kind == "sp") {
    renamed = {{"tokenizer.model", "tokenizer.model"}};
    tokenizer_class = "LlamaTokenizer";
  } else if (tokenizer.kind == "gpt2") {
    renamed = {{"encoder.json", "vocab.json"}, {"vocab.bpe", "merges.txt"}};
    tokenizer_class = "GPT2Tokenizer";
  } else {
    return;  // bytes, or none: no files
  }
  for (const auto& [name, contents] : tokenizer.files) {
    auto it = renamed.find(name);
    ANETRAIN_CHECK(it != renamed.end(), "tokenizer file " + name + " of kind " + tokenizer.kind);
    write_text(join(dir, it->second), contents);
  }
  nlohmann::ordered_json config;
  config["tokenizer_class"] = tokenizer_class;
  write_text(join(dir, "tokenizer_config.json"), config.dump(2) + "\n");
}

class HuggingFaceCodec final : public WeightCodec {
 public:
  // A directory whose config.json describes a Llama model.
  bool recognizes(const std::string& path) const override {
    std::error_code ec;
    if (!fs::is_directory(path, ec) || !fs::is_regular_file(join(path, kConfig), ec)) return false;
    try {
      return is_llama(parse_config(path));
    } catch (const UserError&) {
      return false;
    }
  }

  WeightsMetadata read_metadata(const std::string& path) const override {
    WeightsMetadata out;
    out.config = RunConfig{};
    out.config->preset = "hf";
    out.config->model = model_from_config(path);
    std::error_code ec;
    if (fs::is_regular_file(join(path, "tokenizer.model"), ec))
      out.tokenizer_spec = "sp:" + join(path, "tokenizer.model");
    else if (tokenizer_files_exist("gpt2:" + path))
      out.tokenizer_spec = "gpt2:" + path;
    return out;
  }

  void read(const std::string& path, const ParamLayout& layout, float* params) const override {
    const ModelConfig m = model_from_config(path);
    const HfTensors tensors(path);
    std::vector<float> scratch;
    for (const ParamInfo& t : layout.tensors()) {
      const std::string name = hf_tensor_name(t.name);
      const SafetensorsFile& file = tensors.file_of(name);
      if (!file.has(name))
        throw UserError("'" + file.path() + "' has no tensor '" + name +
                        "' (the model of config.json has it)");
      if (file.shape(name) != t.shape)
        throw UserError("'" + file.path() + "': tensor '" + name + "' has shape " +
                        shape_text(file.shape(name)) + " where the model of config.json has " +
                        shape_text(t.shape));
      const int heads = rotary_heads(t, m.head_dim());
      if (heads == 0) {
        file.read_f32(name, params + t.offset, t.numel);
        continue;
      }
      scratch.resize(static_cast<size_t>(t.numel));
      file.read_f32(name, scratch.data(), t.numel);
      rotary_rows_from_hf(scratch.data(), params + t.offset, heads, m.head_dim(), t.shape[1]);
    }
  }

  void write(const std::string& path, const ParamLayout& layout, const float* params,
             const WeightsMetadata& metadata) const override {
    if (!metadata.config)
      throw UserError("cannot write '" + path +
                      "' as a Hugging Face directory without the model's config");
    const ModelConfig& m = metadata.config->model;
    ANETRAIN_CHECK(ParamLayout(m).total() == layout.total(), "layout of another model config");
    if (metadata.dtype != "f32" && metadata.dtype != "f16")
      throw UserError("cannot write '" + path + "' with tensors of type '" + metadata.dtype +
                      "': a Hugging Face directory is written as f32 or f16");
    std::error_code ec;
    fs::create_directories(path, ec);
    if (!fs::is_directory(path))
      throw UserError("cannot create the directory '" + path + "'" +
                      (ec ? ": " + ec.message() : ": a file of that name exists"));

    SafetensorsWriter writer;
    writer.set_metadata("format", "pt");  // what transformers expects of PyTorch weights
    std::vector<std::vector<float>> reordered;
    for (const ParamInfo& t : layout.tensors()) {
      const float* data = params + t.offset;
      if (const int heads = rotary_heads(t, m.head_dim())) {
        reordered.emplace_back(static_cast<size_t>(t.numel));
        rotary_rows_to_hf(data, reordered.back().data(), heads, m.head_dim(), t.shape[1]);
        data = reordered.back().data();  // the buffer survives the outer vector growing
      }
      if (metadata.dtype == "f16")
        writer.add_f16(hf_tensor_name(t.name), t.shape, data);
      else
        writer.add_f32(hf_tensor_name(t.name), t.shape, data);
    }
    write_tokenizer(path, metadata.tokenizer_files);
    writer.write(join(path, kModel));
    // Last: the file that makes the directory a model.
    write_text(join(path, kConfig), config_json(m, metadata.dtype).dump(2) + "\n");
  }
};

void reorder_rotary_rows(const float* in, float* out, int heads, int head_dim, int64_t cols,
                         bool to_hf) {
  const int half = head_dim / 2;
  for (int h = 0; h < heads; ++h)
    for (int i = 0; i < half; ++i)
      for (int p = 0; p < 2; ++p) {
        const int64_t meta_row = static_cast<int64_t>(h) * head_dim + 2 * i + p;
        const int64_t hf_row = static_cast<int64_t>(h) * head_dim + p * half + i;
        const int64_t from = to_hf ? meta_row : hf_row, to = to_hf ? hf_row : meta_row;
        std::copy(in + from * cols, in + (from + 1) * cols, out + to * cols);
      }
}

}  // namespace

std::string hf_tensor_name(const std::string& meta_name) {
  static const std::map<std::string, std::string> kLayer = {
      {"attention_norm.weight", "input_layernorm.weight"},
      {"attention.wq.weight", "self_attn.q_proj.weight"},
      {"attention.wk.weight", "self_attn.k_proj.weight"},
      {"attention.wv.weight", "self_attn.v_proj.weight"},
      {"attention.wo.weight", "self_attn.o_proj.weight"},
      {"ffn_norm.weight", "post_attention_layernorm.weight"},
      {"feed_forward.w1.weight", "mlp.gate_proj.weight"},
      {"feed_forward.w3.weight", "mlp.up_proj.weight"},
      {"feed_forward.w2.weight", "mlp.down_proj.weight"},
  };
  if (meta_name == "tok_embeddings.weight") return "model.embed_tokens.weight";
  if (meta_name == "norm.weight") return "model.norm.weight";
  if (meta_name == "output.weight") return "lm_head.weight";
  const size_t dot = meta_name.find('.', 7);  // after "layers.N"
  ANETRAIN_CHECK(meta_name.starts_with("layers.") && dot != std::string::npos,
                 "no Hugging Face name for " + meta_name);
  auto it = kLayer.find(meta_name.substr(dot + 1));
  ANETRAIN_CHECK(it != kLayer.end(), "no Hugging Face name for " + meta_name);
  return "model." + meta_name.substr(0, dot + 1) + it->second;
}

void rotary_rows_to_hf(const float* meta, float* hf, int heads, int head_dim, int64_t cols) {
  reorder_rotary_rows(meta, hf, heads, head_dim, cols, true);
}

void rotary_rows_from_hf(const float* hf, float* meta, int heads, int head_dim, int64_t cols) {
  reorder_rotary_rows(hf, meta, heads, head_dim, cols, false);
}

const WeightCodec& huggingface_codec() {
  static const HuggingFaceCodec codec;
  return codec;
}

}  // namespace anetrain
