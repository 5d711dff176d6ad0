#include "train/checkpoint.h"

#include <filesystem>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/checkpoint_commit.h"
#include "io/safetensors.h"

namespace anetrain {
namespace fs = std::filesystem;

namespace {

std::string hex64(uint64_t v) {
  char buf[19];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

void read_tensor(const SafetensorsFile& file, const std::string& path, const std::string& name,
                 const std::vector<int64_t>& shape, int64_t numel, float* out) {
  if (!file.has(name))
    throw UserError("'" + path + "' has no tensor '" + name +
                    "': it was written for a different model config");
  if (file.shape(name) != shape)
    throw UserError("'" + path + "': tensor '" + name +
                    "' has a different shape than the model config expects");
  file.read_f32(name, out, numel);
}

}  // namespace

void save_checkpoint(const std::string& dir, const TrainingState& state, const ParamLayout& layout,
                     const float* params, const float* adam_m, const float* adam_v) {
  CheckpointCommit commit(dir);
  const std::string config_text = config_to_json(state.config).dump();

  SafetensorsWriter model;
  for (const ParamInfo& t : layout.tensors()) model.add_f32(t.name, t.shape, params + t.offset);
  model.set_metadata("format", "anetrain");
  model.set_metadata("config", config_text);
  model.set_metadata("step", std::to_string(state.step));
  model.write(commit.staging_path("model.safetensors"));

  SafetensorsWriter optimizer;
  for (const ParamInfo& t : layout.tensors()) {
    optimizer.add_f32("m." + t.name, t.shape, adam_m + t.offset);
    optimizer.add_f32("v." + t.name, t.shape, adam_v + t.offset);
  }
  optimizer.set_metadata("step", std::to_string(state.step));
  optimizer.write(commit.staging_path("optimizer.safetensors"));

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
  const std::string text = j.dump(2) + "\n";
  write_file_atomic(commit.staging_path("state.json"), text.data(), text.size());
  commit.commit();
}

bool has_checkpoint(const std::string& dir) {
  if (!fs::is_directory(dir)) return false;
  recover_checkpoint_dir(dir);
  return fs::exists(fs::path(dir) / "state.json");
}

TrainingState load_training_state(const std::string& dir) {
  recover_checkpoint_dir(dir);
  const std::string path = (fs::path(dir) / "state.json").string();
  if (!fs::exists(path))
    throw UserError("'" + dir + "' holds no checkpoint (no state.json): check --checkpoint/--out");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
    TrainingState s;
    if (j.at("format") != "anetrain-state" || j.at("version") != 1)
      throw UserError("'" + path + "' is not an anetrain state file of version 1");
    s.config = config_from_json(j.at("config"));
    s.step = j.at("step").get<int64_t>();
    s.total_steps = j.at("total_steps").get<int64_t>();
    s.seed = std::stoull(j.at("seed").get<std::string>(), nullptr, 16);
    s.backend = j.at("backend").get<std::string>();
    s.loader = j.at("loader");
    if (j.contains("loss_scale")) {
      s.loss_scale = j["loss_scale"].at("scale").get<float>();
      s.loss_scale_good_steps = j["loss_scale"].at("good_steps").get<int64_t>();
    }
    if (j.contains("tokenizer")) {
      const auto& tok = j["tokenizer"];
      s.tokenizer_spec = tok.at("spec").get<std::string>();
      s.tokenizer_checksum = tok.at("checksum").get<std::string>();
      if (tok.contains("relative_to")) {
        if (tok["relative_to"] != "checkpoint")
          throw UserError("'" + path + "' is not a valid anetrain state file: "
                          "tokenizer.relative_to must be \"checkpoint\"");
        s.tokenizer_spec = resolve_tokenizer_spec(s.tokenizer_spec, dir);
      }
    }
    s.config.model.validate();
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw UserError("'" + path + "' is not a valid anetrain state file: " + e.what());
  } catch (const std::invalid_argument&) {
    throw UserError("'" + path + "' has a malformed seed");
  }
}

void load_model_weights(const std::string& path, const ParamLayout& layout, float* params) {
  SafetensorsFile file = SafetensorsFile::open(path);
  for (const ParamInfo& t : layout.tensors())
    read_tensor(file, path, t.name, t.shape, t.numel, params + t.offset);
}

void load_optimizer_moments(const std::string& path, const ParamLayout& layout, float* adam_m,
                            float* adam_v) {
  SafetensorsFile file = SafetensorsFile::open(path);
  for (const ParamInfo& t : layout.tensors()) {
    read_tensor(file, path, "m." + t.name, t.shape, t.numel, adam_m + t.offset);
    read_tensor(file, path, "v." + t.name, t.shape, t.numel, adam_v + t.offset);
  }
}

}  // namespace anetrain
