#include "model/config.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/error.h"
#include "io/file_kind.h"
#include "io/json_input.h"

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

// One table of every settable key: its type, its meaning (for `anetrain help config`), how to
// read it from text and how to print it to JSON. Kept in display order: model, then training.
struct Field {
  std::string key, type, meaning;
  std::function<void(RunConfig&, const std::string&)> set;
  std::function<nlohmann::json(const RunConfig&)> get;
  // As ConfigKey::written_at_default: a run that leaves such a key at its default writes the
  // same state.json and model.safetensors metadata as before the key existed.
  bool written_at_default = true;
};

#define CONFIG_FIELD(key, type, expr, meaning, parse)                             \
  Field {                                                                         \
    key, type, meaning, [](RunConfig& c, const std::string& v) { expr = parse; }, \
        [](const RunConfig& c) { return nlohmann::json(expr); }                   \
  }
#define INT_FIELD(key, expr, meaning) \
  CONFIG_FIELD(key, "int", expr, meaning, parse_number<int>(key, v))
#define FLOAT_FIELD(key, expr, meaning) \
  CONFIG_FIELD(key, "float", expr, meaning, parse_number<float>(key, v))
#define STRING_FIELD(key, expr, meaning) CONFIG_FIELD(key, "string", expr, meaning, v)
#define BOOL_FIELD(key, expr, meaning) CONFIG_FIELD(key, "bool", expr, meaning, parse_bool(key, v))

Field added_later(Field field) {
  field.written_at_default = false;
  return field;
}

const std::vector<Field>& fields() {
  static const std::vector<Field> table = {
      INT_FIELD("dim", c.model.dim, "model width D"),
      INT_FIELD("hidden_dim", c.model.hidden_dim, "SwiGLU hidden width F"),
      INT_FIELD("n_layers", c.model.n_layers, "transformer blocks L"),
      INT_FIELD("n_heads", c.model.n_heads,
                "query heads H (head dim = dim / n_heads, even for RoPE)"),
      INT_FIELD(
          "n_kv_heads", c.model.n_kv_heads,
          "key/value heads G; must divide n_heads (fewer than n_heads: grouped-query attention)"),
      INT_FIELD("vocab_size", c.model.vocab_size,
                "vocabulary V; at least the tokenizer's (larger pads it)"),
      INT_FIELD("seq_len", c.model.seq_len,
                "context length S: the training window and the longest sample"),
      BOOL_FIELD("tied_embeddings", c.model.tied_embeddings,
                 "the classifier reuses the token embedding table"),
      FLOAT_FIELD("norm_eps", c.model.norm_eps, "RMSNorm epsilon"),
      FLOAT_FIELD("rope_theta", c.model.rope_theta, "RoPE base frequency"),
      INT_FIELD("batch_size", c.train.batch_size, "sequences per micro-batch B"),
      INT_FIELD("grad_accum", c.train.grad_accum, "micro-batches per optimizer step"),
      FLOAT_FIELD("lr", c.train.lr, "peak learning rate (after warmup)"),
      FLOAT_FIELD("min_lr_frac", c.train.min_lr_frac, "the cosine decays to lr * min_lr_frac"),
      INT_FIELD("warmup_steps", c.train.warmup_steps, "linear warmup steps"),
      INT_FIELD("decay_steps", c.train.decay_steps,
                "cosine horizon in steps; 0 means the run's --steps"),
      added_later(STRING_FIELD("optimizer", c.train.optimizer,
                               "adamw, or lion (the sign of an interpolated momentum: one state "
                               "tensor instead of two; wants a 3-10x lower lr)")),
      FLOAT_FIELD(
          "weight_decay", c.train.weight_decay,
          "decoupled weight decay, AdamW's and Lion's (not on norm gains unless decay_norms)"),
      BOOL_FIELD("decay_norms", c.train.decay_norms, "apply weight decay to the RMSNorm gains too"),
      FLOAT_FIELD(
          "beta1", c.train.beta1,
          "AdamW first-moment decay; Lion: the weight of the momentum in the update's sign"),
      FLOAT_FIELD("beta2", c.train.beta2, "AdamW second-moment decay; Lion: the momentum's decay"),
      FLOAT_FIELD("adam_eps", c.train.adam_eps, "AdamW epsilon"),
      FLOAT_FIELD("grad_clip", c.train.grad_clip, "global gradient-norm clip; <= 0 disables"),
      FLOAT_FIELD("loss_scale", c.train.loss_scale,
                  "multiply the loss before backward (fp16 gradients on the ANE); divided back "
                  "before clipping"),
      BOOL_FIELD(
          "dynamic_loss_scale", c.train.dynamic_loss_scale,
          "skip steps with inf/nan gradients and halve the scale; double it after 200 good steps"),
      added_later(INT_FIELD("max_bad_steps", c.train.max_bad_steps,
                            "steps in a row with a non-finite loss or gradient (each one not "
                            "applied) before training stops; the last checkpoint is kept")),
      STRING_FIELD("ane_pipeline", c.train.ane_pipeline,
                   "ANE backend: dynamic (compiled once, weights staged as inputs) or static "
                   "(weights baked in, recompiled each step)"),
      INT_FIELD(
          "compile_budget", c.train.compile_budget,
          "ANE static pipeline: compiles per process before it checkpoints and exec()s itself"),
      STRING_FIELD("ane_program_form", c.train.ane_program_form,
                   "ANE programs: proven (the form seen to run on hardware: kernels split, heads "
                   "on axis 1, surfaces within the budget) or fused (one program per kernel)"),
      INT_FIELD("ane_surface_budget_mb", c.train.ane_surface_budget_mb,
                "ANE proven form: no input or output surface above this many MB (attention "
                "splits into head groups to fit)"),
      BOOL_FIELD("recompute", c.train.recompute,
                 "recompute activations in backward instead of keeping them (less memory)"),
      STRING_FIELD("sampling", c.train.sampling,
                   "training windows: random (random offsets) or epochs (each window once per "
                   "epoch, reshuffled)"),
      STRING_FIELD("precision", c.train.precision,
                   "GEMM inputs: fp32, or bf16 (fp32 accumulation; needs AVX-512 BF16 or AMX)"),
      INT_FIELD("val_every", c.train.val_every, "steps between validations (0: never)"),
      INT_FIELD("val_batches", c.train.val_batches, "micro-batches per validation"),
      INT_FIELD("save_every", c.train.save_every, "steps between checkpoints (0: only at the end)"),
      INT_FIELD("log_every", c.train.log_every, "steps between progress lines"),
      FLOAT_FIELD("init_std", c.train.init_std, "standard deviation of the random initialisation"),
  };
  return table;
}

// A value from a file, short and on one line (dump() escapes control characters).
std::string shown(const nlohmann::json& value) {
  const std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return text.size() > 40 ? text.substr(0, 40) + "..." : text;
}

// The "preset" key of config object `j`, if any; a UserError when it is not a string.
std::optional<std::string> preset_name(const nlohmann::json& j, const std::string& what) {
  auto it = j.find("preset");
  if (it == j.end()) return std::nullopt;
  if (!it->is_string())
    throw UserError(what + ": key 'preset' must be a string (a preset name), not " + shown(*it));
  return it->get<std::string>();
}

std::string known_keys() {
  std::string out;
  for (const Field& field : fields()) out += (out.empty() ? "" : ", ") + field.key;
  return out;
}

void set_field(RunConfig& c, const std::string& key, const std::string& value) {
  for (const Field& field : fields())
    if (field.key == key) return field.set(c, value);
  throw UserError("unknown config key '" + key + "': known keys are " + known_keys() +
                  " ('anetrain help config' explains each)");
}

}  // namespace

std::vector<std::string> preset_names() {
  return {"tiny", "stories15M", "stories42M", "stories110M", "layer768"};
}

std::vector<ConfigKey> config_keys() {
  const RunConfig defaults;
  std::vector<ConfigKey> keys;
  for (const Field& field : fields()) {
    const nlohmann::json value = field.get(defaults);
    std::string text = value.is_string() ? value.get<std::string>() : value.dump();
    if (value.is_number_float()) {  // %g: 1e-05, not the float's double expansion
      char shortest[32];
      std::snprintf(shortest, sizeof(shortest), "%g", value.get<double>());
      text = shortest;
    }
    keys.push_back({field.key, field.type, text, field.meaning, field.written_at_default});
  }
  return keys;
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

void TrainConfig::validate() const {
  auto in_range = [](const char* key, double value, double lo, double hi, const char* range) {
    if (!(std::isfinite(value) && value >= lo && value <= hi)) {
      char text[48];
      std::snprintf(text, sizeof text, "%g", value);
      throw UserError(std::string("config key '") + key + "' = " + text + " is outside " + range);
    }
  };
  auto one_of = [](const char* key, const std::string& value,
                   std::initializer_list<const char*> choices) {
    std::string list;
    for (const char* c : choices) {
      if (value == c) return;
      list += (list.empty() ? "" : " or ") + std::string(c);
    }
    throw UserError(std::string(key) + " '" + value + "' is unknown: use " + list);
  };
  constexpr double kInt = 2147483647.0;
  in_range("batch_size", batch_size, 1, kInt, "[1, 2^31)");
  in_range("grad_accum", grad_accum, 1, kInt, "[1, 2^31)");
  in_range("lr", lr, 1e-30, 1e30, "(0, 1e30]");
  in_range("min_lr_frac", min_lr_frac, 0, 1, "[0, 1]");
  in_range("warmup_steps", warmup_steps, 0, kInt, "[0, 2^31)");
  in_range("decay_steps", decay_steps, 0, kInt, "[0, 2^31) (0: the run's --steps)");
  in_range("weight_decay", weight_decay, 0, 1e30, "[0, 1e30]");
  in_range("beta1", beta1, 0, 0.9999999, "[0, 1)");
  in_range("beta2", beta2, 0, 0.9999999, "[0, 1)");
  in_range("adam_eps", adam_eps, 1e-38, 1, "(0, 1]");
  in_range("grad_clip", grad_clip, -1e30, 1e30, "finite numbers (<= 0 disables clipping)");
  in_range("loss_scale", loss_scale, 1e-30, 3e38, "(0, 3e38]");
  in_range("compile_budget", compile_budget, 1, kInt, "[1, 2^31)");
  in_range("max_bad_steps", max_bad_steps, 1, kInt, "[1, 2^31)");
  // Decoupled decay multiplies each weight by 1 - lr * weight_decay: above 1 it would flip the
  // weights' sign and grow them every step.
  if (static_cast<double>(lr) * weight_decay > 1.0)
    throw UserError("config keys lr * weight_decay = " + std::to_string(lr * weight_decay) +
                    " exceed 1: weight decay would grow the weights; lower lr or weight_decay");
  in_range("ane_surface_budget_mb", ane_surface_budget_mb, 1, 65536, "[1, 65536]");
  in_range("val_every", val_every, 0, kInt, "[0, 2^31) (0: never)");
  in_range("val_batches", val_batches, 1, kInt, "[1, 2^31)");
  in_range("save_every", save_every, 0, kInt, "[0, 2^31) (0: only at the end)");
  in_range("log_every", log_every, 1, kInt, "[1, 2^31)");
  in_range("init_std", init_std, 0, 1e30, "[0, 1e30]");
  one_of("ane_pipeline", ane_pipeline, {"dynamic", "static"});
  one_of("ane_program_form", ane_program_form, {"proven", "fused"});
  one_of("sampling", sampling, {"random", "epochs"});
  one_of("precision", precision, {"fp32", "bf16"});
}

RunConfig load_config(const std::string& preset_or_file) {
  bool is_file = preset_or_file.find(".json") != std::string::npos ||
                 preset_or_file.find('/') != std::string::npos;
  if (!is_file) return make_preset(preset_or_file);
  // Opening a FIFO would block until a writer appears.
  if (std::filesystem::exists(preset_or_file) && !std::filesystem::is_regular_file(preset_or_file))
    throw UserError("config file '" + preset_or_file + "' is " + file_kind(preset_or_file) +
                    ", not a regular file: give a JSON file");
  std::ifstream in(preset_or_file, std::ios::binary);
  if (!in) throw UserError("config file '" + preset_or_file + "' cannot be opened: check the path");
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) throw UserError("config file '" + preset_or_file + "' cannot be read");
  const std::string what = "config file '" + preset_or_file + "'";
  const nlohmann::json j = parse_json(text, what);
  if (!j.is_object()) throw UserError(what + " must hold a JSON object");
  RunConfig c = make_preset(preset_name(j, what).value_or("tiny"));
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

void apply_overrides(RunConfig& config, const std::vector<std::string>& keys_equal_values) {
  std::map<std::string, std::string> seen;
  for (const std::string& kv : keys_equal_values) {
    const std::string key = kv.substr(0, kv.find('='));
    if (auto [it, fresh] = seen.emplace(key, kv); !fresh)
      throw UserError("--set " + key + " is given twice ('" + it->second + "' and '" + kv +
                      "'): give it once");
    apply_override(config, kv);
  }
}

nlohmann::json config_to_json(const RunConfig& config) {
  nlohmann::json j = nlohmann::json::object();
  const RunConfig defaults;
  for (const Field& field : fields()) {
    nlohmann::json value = field.get(config);
    if (field.written_at_default || value != field.get(defaults)) j[field.key] = std::move(value);
  }
  j["preset"] = config.preset;
  return j;
}

RunConfig config_from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw UserError("a run config must be a JSON object, not " + shown(j));
  RunConfig c;
  for (auto& [key, value] : j.items()) {
    if (key == "preset") {
      c.preset = *preset_name(j, "the run config");
      continue;
    }
    set_field(c, key, value.is_string() ? value.get<std::string>() : value.dump());
  }
  return c;
}

}  // namespace anetrain
