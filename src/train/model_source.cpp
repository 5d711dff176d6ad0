#include "train/model_source.h"

#include <filesystem>

#include "core/error.h"
#include "io/file_kind.h"
#include "model/params.h"
#include "train/checkpoint.h"

namespace anetrain {

namespace fs = std::filesystem;

ModelSource open_model_source(const std::string& path) {
  ModelSource source;
  source.path = path;
  if (!fs::exists(path))
    throw UserError("'" + path + "' holds no checkpoint or model (no such file or directory)");
  if (!fs::is_directory(path) && !fs::is_regular_file(path))
    throw UserError("'" + path + "' is " + file_kind(path) +
                    ", not a model file or directory: give a checkpoint directory or weights file");
  const CheckpointPaths paths(path);
  // Only an anetrain run directory gets a lock file (not, say, a Hugging Face download).
  if (fs::is_directory(path) && (fs::exists(paths.state()) || fs::exists(paths.model()) ||
                                 fs::exists(paths.file(".staging"))))
    source.read_lock = std::make_shared<const CheckpointReadLock>(path);
  if (fs::is_directory(path) && has_checkpoint(path)) {
    TrainingState state = load_training_state(path);  // says what is missing
    source.checkpoint = true;
    source.weights = state.lora ? paths.adapters() : paths.model();
    source.lora = std::move(state.lora);
    source.config = std::move(state.config);
    source.step = state.step;
    source.tokenizer_spec = std::move(state.tokenizer_spec);
    source.tokenizer_checksum = std::move(state.tokenizer_checksum);
    return source;
  }
  // A directory a format knows (Hugging Face), else a checkpoint directory copied without its
  // state.json, which loads as its weights.
  const bool bare_run_dir =
      fs::is_directory(path) && !weight_format_of(path) && fs::is_regular_file(paths.model());
  if (fs::is_directory(path) && !bare_run_dir && !weight_format_of(path))
    throw UserError("'" + path + "' holds no checkpoint (no state.json) and no model a format " +
                    "anetrain reads (see 'anetrain convert --help')");
  source.weights = bare_run_dir ? paths.model() : path;
  source.format = detect_weight_format(source.weights);
  WeightsMetadata metadata = read_weights_metadata(source.format, source.weights);
  if (!metadata.config)
    throw UserError("'" + source.weights + "' records no model config (" +
                    weight_format_name(source.format) +
                    " weights without a 'config' metadata entry): load the checkpoint "
                    "directory it came from, whose state.json holds the config");
  source.config = std::move(*metadata.config);
  source.step = metadata.step;
  source.tokenizer_spec = std::move(metadata.tokenizer_spec);
  return source;
}

ModelSource open_adapters_source(const std::string& adapters_dir, const std::string& base_path) {
  ModelSource source = open_model_source(adapters_dir);
  if (!source.lora)
    throw UserError(
        "--adapters: '" + adapters_dir + "' holds no LoRA adapters (" +
        (source.checkpoint ? "its state.json has no 'lora' entry" : "not a run directory") +
        "): give the --out directory of a 'train --lora-rank' run");
  source.base_path = base_path;
  return source;
}

std::vector<float> read_model_params(const ModelSource& source) {
  if (source.lora) {
    std::vector<float> params = read_lora_base(*source.lora, source.base_path, source.path);
    const LoraLayout lora(source.config.model, source.lora->config);
    std::vector<float> adapters(lora.params().total());
    read_adapters(source.weights, lora.params(), adapters.data());
    merge_lora(lora, adapters.data(), params.data());
    return params;
  }
  const ParamLayout layout(source.config.model);
  std::vector<float> params(layout.total());
  read_weights(source.format, source.weights, layout, params.data());
  return params;
}

}  // namespace anetrain
