#include "train/checkpoint.h"

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/checkpoint_commit.h"
#include "io/json_input.h"
#include "io/safetensors.h"
#include "model/weights.h"
#include "train/model_source.h"

namespace anetrain {
namespace fs = std::filesystem;

namespace {

std::string hex64(uint64_t v) {
  char buf[19];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// The first tensor of `layout` holding a non-finite value in `values`, or null.
const ParamInfo* first_non_finite(const ParamLayout& layout, const float* values) {
  for (const ParamInfo& t : layout.tensors()) {
    bool finite = true;
    for (int64_t i = 0; i < t.numel; ++i) finite &= std::isfinite(values[t.offset + i]);
    if (!finite) return &t;
  }
  return nullptr;
}

// A checkpoint is never written with inf or nan in it: nothing could resume from it, and it
// would replace the last good one.
void require_finite(const std::string& dir, int64_t step, const ParamLayout& layout,
                    const float* params, const ParamLayout& optimizer_layout,
                    const std::vector<OptimizerState>& optimizer_state) {
  auto refuse = [&](const std::string& what) {
    throw UserError("not checkpointing step " + std::to_string(step) + " into '" + dir +
                    "': " + what +
                    " holds inf or nan (training diverged); the previous checkpoint is "
                    "kept: lower lr and start again from it (--init)");
  };
  if (const ParamInfo* t = first_non_finite(layout, params)) refuse("weight " + t->name);
  for (const OptimizerState& s : optimizer_state)
    if (const ParamInfo* t = first_non_finite(optimizer_layout, s.values.data()))
      refuse("optimizer state " + s.name + "." + t->name);
}

}  // namespace

std::string CheckpointPaths::file(const std::string& name) const {
  return (fs::path(dir) / name).string();
}

void save_checkpoint(const std::string& dir, const TrainingState& state, const ParamLayout& layout,
                     const float* params, const Optimizer& optimizer) {
  ANETRAIN_CHECK(optimizer.end_param() - optimizer.first_param() == optimizer.layout().total(),
                 "a sharded optimizer's state is saved gathered");
  save_checkpoint(dir, state, layout, params, optimizer.layout(), optimizer.state());
}

void save_checkpoint(const std::string& dir, const TrainingState& state, const ParamLayout& layout,
                     const float* params, const ParamLayout& optimizer_layout,
                     const std::vector<OptimizerState>& optimizer_state) {
  require_finite(dir, state.step, layout, params, optimizer_layout, optimizer_state);
  CheckpointCommit commit(dir);
  if (state.lora)
    write_adapters(commit.staging_path(CheckpointPaths::kAdapters), layout, params, *state.lora,
                   state.step);
  else
    write_weights(WeightFormat::kAnetrain, commit.staging_path(CheckpointPaths::kModel), layout,
                  params, {.config = state.config, .step = state.step});

  // Parameter by parameter, each state tensor's slice ("m.NAME", "v.NAME", then the next).
  SafetensorsWriter optimizer_file;
  for (const ParamInfo& t : optimizer_layout.tensors())
    for (const OptimizerState& s : optimizer_state)
      optimizer_file.add_f32(s.name + "." + t.name, t.shape, s.values.data() + t.offset);
  optimizer_file.set_metadata("step", std::to_string(state.step));
  optimizer_file.write(commit.staging_path(CheckpointPaths::kOptimizer));

  nlohmann::json j;
  j["format"] = "anetrain-state";
  j["version"] = 1;
  j["config"] = config_to_json(state.config);
  j["step"] = state.step;
  j["total_steps"] = state.total_steps;
  j["seed"] = hex64(state.seed);
  j["backend"] = state.backend;
  j["loader"] = state.loader;
  const TokenizerFiles& tokenizer = state.tokenizer_files;
  j["tokenizer"] = {{"spec", ""}, {"checksum", ""}};
  if (!tokenizer.kind.empty()) {
    for (const auto& [name, contents] : tokenizer.files)
      write_file_atomic(commit.staging_path(name), contents.data(), contents.size());
    j["tokenizer"] = {{"spec", tokenizer.spec_in("")},
                      {"relative_to", "checkpoint"},
                      {"checksum", tokenizer.checksum}};
  }
  j["loss_scale"] = {{"scale", state.loss_scale}, {"good_steps", state.loss_scale_good_steps}};
  if (state.lora) j["lora"] = lora_record_to_json(*state.lora);
  const std::string text = j.dump(2) + "\n";
  write_file_atomic(commit.staging_path(CheckpointPaths::kState), text.data(), text.size());
  commit.commit();
}

bool has_checkpoint(const std::string& dir) {
  if (!fs::is_directory(dir)) return false;
  return fs::exists(CheckpointPaths(dir).state());
}

TrainingState load_training_state(const std::string& dir) {
  const std::string path = CheckpointPaths(dir).state();
  if (!fs::exists(path))
    throw UserError("'" + dir + "' holds no checkpoint (no state.json): check --checkpoint/--out");
  nlohmann::json j;
  try {
    j = parse_json(read_file(path), "'" + path + "'");
    TrainingState s;
    if (j.at("format") != "anetrain-state" || j.at("version") != 1)
      throw UserError("'" + path + "' is not an anetrain state file of version 1");
    s.config = config_from_json(j.at("config"));
    // Integers within a range, not floats truncated or numbers that overflow the step counter.
    auto count = [&](const nlohmann::json& v, const char* key, int64_t lo, int64_t hi) {
      if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi ||
          (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)))
        throw UserError("'" + path + "' is not a valid anetrain state file: " + key + " is " +
                        v.dump() + ", not an integer in [" + std::to_string(lo) + ", " +
                        std::to_string(hi) + "]");
      return v.get<int64_t>();
    };
    constexpr int64_t kMaxSteps = int64_t{1} << 53;
    s.total_steps = count(j.at("total_steps"), "total_steps", 1, kMaxSteps);
    s.step = count(j.at("step"), "step", 0, s.total_steps);
    const std::string seed = j.at("seed").get<std::string>();
    if (seed.empty() || seed.size() > 16 ||
        seed.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
      throw UserError("'" + path + "' has a malformed seed '" + seed +
                      "' (1 to 16 hex digits expected)");
    s.seed = std::stoull(seed, nullptr, 16);
    s.backend = j.at("backend").get<std::string>();
    s.loader = j.at("loader");
    if (j.contains("loss_scale")) {
      s.loss_scale = j["loss_scale"].at("scale").get<float>();
      if (!(std::isfinite(s.loss_scale) && s.loss_scale > 0))
        throw UserError("'" + path + "' is not a valid anetrain state file: loss_scale.scale " +
                        "must be a positive number");
      s.loss_scale_good_steps =
          count(j["loss_scale"].at("good_steps"), "loss_scale.good_steps", 0, kMaxSteps);
    }
    if (j.contains("tokenizer")) {
      const auto& tok = j["tokenizer"];
      s.tokenizer_spec = tok.at("spec").get<std::string>();
      s.tokenizer_checksum = tok.at("checksum").get<std::string>();
      if (tok.contains("relative_to")) {
        if (tok["relative_to"] != "checkpoint")
          throw UserError("'" + path +
                          "' is not a valid anetrain state file: "
                          "tokenizer.relative_to must be \"checkpoint\"");
        s.tokenizer_spec = resolve_tokenizer_spec(s.tokenizer_spec, dir);
      }
    }
    s.config.model.validate();
    s.config.train.validate();
    if (j.contains("lora")) {
      s.lora = lora_record_from_json(j["lora"], "'" + path + "'");
      s.lora->config.validate(s.config.model);
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw UserError("'" + path + "' is not a valid anetrain state file: " + e.what());
  } catch (const std::invalid_argument&) {
    throw UserError("'" + path + "' has a malformed seed");
  }
}

void load_checkpoint(const std::string& dir, const ParamLayout& layout, float* params,
                     Optimizer& optimizer, bool adapters) {
  const CheckpointPaths paths(dir);
  if (adapters)
    read_adapters(paths.adapters(), layout, params);
  else
    read_weights(WeightFormat::kAnetrain, paths.model(), layout, params);
  const SafetensorsFile file = SafetensorsFile::open(paths.optimizer());
  for (OptimizerState& s : optimizer.state())
    read_layout_tensors(file, optimizer.layout(), s.name + ".", s.values.data());
}

InferenceModel load_inference_model(const std::string& path, const std::string& adapters) {
  ModelSource source =
      adapters.empty() ? open_model_source(path) : open_adapters_source(adapters, path);
  InferenceModel model;
  model.params = read_model_params(source);
  model.config = std::move(source.config);
  model.tokenizer_spec = std::move(source.tokenizer_spec);
  model.tokenizer_checksum = std::move(source.tokenizer_checksum);
  return model;
}

}  // namespace anetrain
