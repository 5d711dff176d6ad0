// Model and training configuration: presets, JSON files and `key=value` overrides.
// Dimension letters used throughout anetrain (defined once, here):
//   B batch (sequences per micro-batch)   S sequence length     T = B*S tokens
//   D model dim     F FFN hidden dim     V vocabulary
//   H query heads   G kv heads (GQA groups)   E head dim = D / H
//   L layers
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace anetrain {

struct ModelConfig {
  int dim = 64;          // D
  int hidden_dim = 192;  // F
  int n_layers = 2;      // L
  int n_heads = 4;       // H
  int n_kv_heads = 2;    // G
  int vocab_size = 512;  // V
  int seq_len = 64;      // S (maximum context; also the training window)
  bool tied_embeddings = true;
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;

  int head_dim() const { return dim / n_heads; }
  int q_dim() const { return n_heads * head_dim(); }
  int kv_dim() const { return n_kv_heads * head_dim(); }
  // Validates; throws UserError naming the field and what to do.
  void validate() const;
};

struct TrainConfig {
  int batch_size = 4;        // B
  int grad_accum = 1;        // micro-batches per optimizer step
  float lr = 1e-3f;          // peak learning rate
  float min_lr_frac = 0.1f;  // cosine decays to lr * min_lr_frac
  int warmup_steps = 10;
  int decay_steps = 0;  // cosine horizon; 0 means the run's --steps
  // The optimizer (train/optimizer.h lists them): "adamw", or "lion" (sign of an interpolated
  // momentum; beta1, beta2, weight_decay and decay_norms as AdamW reads them, no adam_eps).
  std::string optimizer = "adamw";
  float weight_decay = 0.1f;  // decoupled (AdamW); never on norm weights unless decay_norms
  bool decay_norms = false;
  float beta1 = 0.9f;   // AdamW: first-moment decay; Lion: the update's interpolation
  float beta2 = 0.95f;  // AdamW: second-moment decay; Lion: the momentum's decay
  float adam_eps = 1e-8f;
  float grad_clip = 1.0f;  // global-norm clip; <= 0 disables
  // Loss scaling keeps fp16 gradients (ANE backend) out of the subnormal range: gradients
  // are computed for loss * loss_scale and divided back before clipping. Dynamic: a step
  // with inf/nan gradients is skipped and the scale halved; it doubles after 200 good steps.
  float loss_scale = 1.0f;
  bool dynamic_loss_scale = false;
  // A step whose loss or gradient norm is not finite is not applied; this many in a row stop
  // training (the last checkpoint stays). Loss-scale overflows above scale 1 do not count.
  int max_bad_steps = 5;
  // ANE backend: "dynamic" (programs compiled once, weights staged into the input surface) or
  // "static" (weights baked in, so every optimizer step recompiles; the trainer checkpoints
  // and exec()s itself before a step would cross compile_budget compiles in one process).
  std::string ane_pipeline = "dynamic";
  int compile_budget = 100;
  // ANE program form: "proven" (the form of the programs that ran on hardware: kernels split,
  // heads on axis 1, surfaces within ane_surface_budget_mb) or "fused" (one program a kernel).
  std::string ane_program_form = "proven";
  int ane_surface_budget_mb = 16;
  bool recompute = false;           // recompute layer activations in backward (saves memory)
  std::string sampling = "random";  // training windows: "random" or "epochs" (data_loader.h)
  std::string precision = "fp32";   // GEMM inputs: "fp32" or "bf16" (fp32 accumulation)
  int val_every = 100;              // steps between validation runs (0: never)
  int val_batches = 4;              // micro-batches per validation
  int save_every = 0;               // steps between checkpoints (0: only at the end)
  int log_every = 1;
  float init_std = 0.02f;

  // Every value finite and in its range, every name one of its choices; a UserError naming
  // the key, the value and the accepted range otherwise.
  void validate() const;
};

struct RunConfig {
  std::string preset;  // name of the preset or path of the JSON file it came from
  ModelConfig model;
  TrainConfig train;
};

// Names of the built-in presets, in display order.
std::vector<std::string> preset_names();

// One settable key, for `anetrain help config`: its default is the built-in one (the tiny
// preset's; other presets change the model keys and batch_size).
struct ConfigKey {
  std::string key, type, default_value, meaning;
  // False for keys added after checkpoints existed (`optimizer`): config_to_json() leaves them
  // out while they hold their default, so older files stay byte-identical and older builds
  // read them; a config without the key reads as the default.
  bool written_at_default = true;
};
std::vector<ConfigKey> config_keys();

// Loads a preset name or a JSON file path (a JSON object of the keys accepted by
// apply_override; unknown keys are an error). Throws UserError.
RunConfig load_config(const std::string& preset_or_file);

// Applies one `key=value` override, e.g. "dim=128" or "lr=3e-4". Throws UserError for an
// unknown key or a value of the wrong type.
void apply_override(RunConfig& config, const std::string& key_equals_value);

// Applies every `key=value` in order; a key given twice is a UserError naming both values
// (a repeated --set would otherwise silently keep the last).
void apply_overrides(RunConfig& config, const std::vector<std::string>& keys_equal_values);

nlohmann::json config_to_json(const RunConfig& config);
RunConfig config_from_json(const nlohmann::json& j);

}  // namespace anetrain
