#include "model/config.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace anetrain {
namespace {

RunConfig make_preset(const std::string& name) {
  RunConfig c;
  c.preset = name;
  ModelConfig& m = c.model;
  if (name == "tiny") {
    m = ModelConfig{};  // dim 64, 2 layers, 4 heads, 2 kv heads, hidden 192, seq 64, vocab 512
  } else if (name == "stories15M") {
    m.dim = 288, m.hidden_dim = 768, m.n_layers = 6, m.n_heads = 6, m.n_kv_heads = 6;
    m.vocab_size = 32000, m.seq_len = 256;
  } else if (name == "stories42M") {
    m.dim = 512, m.hidden_dim = 1376, m.n_layers = 8, m.n_heads = 8, m.n_kv_heads = 8;
    m.vocab_size = 32000, m.seq_len = 1024;
  } else if (name == "stories110M") {
    m.dim = 768, m.hidden_dim = 2048, m.n_layers = 12, m.n_heads = 12, m.n_kv_heads = 12;
    m.vocab_size = 32000, m.seq_len = 1024;
  } else if (name == "layer768") {
    // The seed's benchmark layer: one block at dim 768, seq 512.
    m.dim = 768, m.hidden_dim = 2048, m.n_layers = 1, m.n_heads = 12, m.n_kv_heads = 12;
    m.vocab_size = 32000, m.seq_len = 512;
    c.train.batch_size = 1;
  } else {
    throw UserError("unknown preset '" + name + "': use one of tiny, stories15M, stories42M, " +
                    "stories110M, layer768, or a path to a JSON config file");
  }
  if (name != "tiny" && name != "layer768") c.train.batch_size = 8;
  return c;
}

template <typename T>
T parse_number(const std::string& key, const std::string& text) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty())
    throw UserError("config key '" + key + "': '" + text + "' is not a valid " +
                    (std::is_integral_v<T> ? "integer" : "number"));
  return value;
}

bool parse_bool(const std::string& key, const std::string& text) {
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  throw UserError("config key '" + key + "': '" + text + "' is not a boolean (use true or false)");
}

// One table of every settable key: how to read it from text and how to print it to JSON.
struct Field {
  std::function<void(RunConfig&, const std::string&)> set;
  std::function<nlohmann::json(const RunConfig&)> get;
};

#define INT_FIELD(key, expr) \
  {key, {[](RunConfig& c, const std::string& v) { expr = parse_number<int>(key, v); }, \
         [](const RunConfig& c) { return nlohmann::json(expr); }}}
#define FLOAT_FIELD(key, expr) \
  {key, {[](RunConfig& c, const std::string& v) { expr = parse_number<float>(key, v); }, \
         [](const RunConfig& c) { return nlohmann::json(expr); }}}
#define STRING_FIELD(key, expr) \
  {key, {[](RunConfig& c, const std::string& v) { expr = v; }, \
         [](const RunConfig& c) { return nlohmann::json(expr); }}}
#define BOOL_FIELD(key, expr) \
  {key, {[](RunConfig& c, const std::string& v) { expr = parse_bool(key, v); }, \
         [](const RunConfig& c) { return nlohmann::json(expr); }}}

const std::map<std::string, Field>& fields() {
  static const std::map<std::string, Field> table = {
      INT_FIELD("dim", c.model.dim),
      INT_FIELD("hidden_dim", c.model.hidden_dim),
      INT_FIELD("n_layers", c.model.n_layers),
      INT_FIELD("n_heads", c.model.n_heads),
      INT_FIELD("n_kv_heads", c.model.n_kv_heads),
      INT_FIELD("vocab_size", c.model.vocab_size),
      INT_FIELD("seq_len", c.model.seq_len),
      BOOL_FIELD("tied_embeddings", c.model.tied_embeddings),
      FLOAT_FIELD("norm_eps", c.model.norm_eps),
      FLOAT_FIELD("rope_theta", c.model.rope_theta),
      INT_FIELD("batch_size", c.train.batch_size),
      INT_FIELD("grad_accum", c.train.grad_accum),
      FLOAT_FIELD("lr", c.train.lr),
      FLOAT_FIELD("min_lr_frac", c.train.min_lr_frac),
      INT_FIELD("warmup_steps", c.train.warmup_steps),
      INT_FIELD("decay_steps", c.train.decay_steps),
      FLOAT_FIELD("weight_decay", c.train.weight_decay),
      BOOL_FIELD("decay_norms", c.train.decay_norms),
      FLOAT_FIELD("beta1", c.train.beta1),
      FLOAT_FIELD("beta2", c.train.beta2),
      FLOAT_FIELD("adam_eps", c.train.adam_eps),
      FLOAT_FIELD("grad_clip", c.train.grad_clip),
      FLOAT_FIELD("loss_scale", c.train.loss_scale),
      BOOL_FIELD("dynamic_loss_scale", c.train.dynamic_loss_scale),
      STRING_FIELD("ane_pipeline", c.train.ane_pipeline),
      INT_FIELD("compile_budget", c.train.compile_budget),
      BOOL_FIELD("recompute", c.train.recompute),
      STRING_FIELD("sampling", c.train.sampling),
      STRING_FIELD("precision", c.train.precision),
      INT_FIELD("val_every", c.train.val_every),
      INT_FIELD("val_batches", c.train.val_batches),
      INT_FIELD("save_every", c.train.save_every),
      INT_FIELD("log_every", c.train.log_every),
      FLOAT_FIELD("init_std", c.train.init_std),
  };
  return table;
}

std::string known_keys() {
  std::string out;
  for (const auto& [key, field] : fields()) out += (out.empty() ? "" : ", ") + key;
  return out;
}

void set_field(RunConfig& c, const std::string& key, const std::string& value) {
  auto it = fields().find(key);
  if (it == fields().end())
    throw UserError("unknown config key '" + key + "': known keys are " + known_keys());
  it->second.set(c, value);
}

}  // namespace

std::vector<std::string> preset_names() {
  return {"tiny", "stories15M", "stories42M", "stories110M", "layer768"};
}

void ModelConfig::validate() const {
  auto require = [](bool ok, const std::string& message) {
    if (!ok) throw UserError("invalid model config: " + message);
  };
  require(dim > 0 && hidden_dim > 0 && n_layers > 0 && n_heads > 0 && n_kv_heads > 0 &&
              vocab_size > 1 && seq_len > 0,
          "dim, hidden_dim, n_layers, n_heads, n_kv_heads, seq_len must be positive and "
          "vocab_size at least 2");
  require(dim % n_heads == 0, "dim (" + std::to_string(dim) + ") must be divisible by n_heads (" +
                                  std::to_string(n_heads) + ")");
  require(head_dim() % 2 == 0, "head dim (dim / n_heads) must be even for RoPE");
  require(n_heads % n_kv_heads == 0, "n_kv_heads (" + std::to_string(n_kv_heads) +
                                         ") must divide n_heads (" + std::to_string(n_heads) + ")");
  require(norm_eps > 0, "norm_eps must be positive");
  require(rope_theta > 0, "rope_theta must be positive");
}

RunConfig load_config(const std::string& preset_or_file) {
  bool is_file = preset_or_file.find(".json") != std::string::npos ||
                 preset_or_file.find('/') != std::string::npos;
  if (!is_file) return make_preset(preset_or_file);
  std::ifstream in(preset_or_file);
  if (!in)
    throw UserError("config file '" + preset_or_file + "' cannot be opened: check the path");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw UserError("config file '" + preset_or_file + "' is not valid JSON: " + e.what());
  }
  if (!j.is_object())
    throw UserError("config file '" + preset_or_file + "' must hold a JSON object");
  RunConfig c = make_preset(j.value("preset", std::string("tiny")));
  for (auto& [key, value] : j.items()) {
    if (key == "preset") continue;
    std::string text = value.is_string() ? value.get<std::string>() : value.dump();
    set_field(c, key, text);
  }
  c.preset = preset_or_file;
  return c;
}

void apply_override(RunConfig& config, const std::string& key_equals_value) {
  auto eq = key_equals_value.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UserError("--set '" + key_equals_value + "': expected key=value, e.g. --set dim=128");
  set_field(config, key_equals_value.substr(0, eq), key_equals_value.substr(eq + 1));
}

nlohmann::json config_to_json(const RunConfig& config) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [key, field] : fields()) j[key] = field.get(config);
  j["preset"] = config.preset;
  return j;
}

RunConfig config_from_json(const nlohmann::json& j) {
  RunConfig c;
  for (auto& [key, value] : j.items()) {
    if (key == "preset") {
      c.preset = value.get<std::string>();
      continue;
    }
    set_field(c, key, value.is_string() ? value.get<std::string>() : value.dump());
  }
  return c;
}

}  // namespace anetrain
