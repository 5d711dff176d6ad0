// libFuzzer target for run config files (src/model/config.h): the input is written to a .json
// file and read with load_config, and parsed and read with config_from_json (how state.json and
// model metadata hold a config). Either must succeed or throw a one-line UserError. An accepted
// config, once validated, must survive config_to_json -> config_from_json unchanged.
//
// Seeds (ANETRAIN_FUZZ_WRITE_SEEDS=DIR): every preset as config_to_json writes it, and a
// hand-written file of the keys' types; fuzz/config_fuzz.dict holds the key names.
#include <string>

#include "fuzz_util.h"
#include "io/json_input.h"
#include "model/config.h"

using namespace anetrain;

namespace {

constexpr const char* kTarget = "config_fuzz";

void write_seeds(const std::string& dir) {
  for (const std::string& name : preset_names())
    fuzz_util::write_bytes(dir + "/" + name + ".json", config_to_json(load_config(name)).dump(2));
  fuzz_util::write_bytes(dir + "/hand.json", R"({"preset": "stories15M", "dim": 128,
  "lr": "3e-4", "tied_embeddings": false, "optimizer": "lion", "sampling": "epochs",
  "n_kv_heads": 2, "norm_eps": 1e-6, "precision": "bf16", "decay_steps": 0})");
}

void round_trip(const RunConfig& config) {
  config.model.validate();
  config.train.validate();
  const nlohmann::json j = config_to_json(config);
  const RunConfig again = config_from_json(j);
  if (config_to_json(again) != j)
    fuzz_util::fail(kTarget, "config_to_json/config_from_json round trip differs: " + j.dump());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz_util::maybe_write_seeds(write_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz_util::as_text(data, size);
  const std::string path = fuzz_util::scratch_dir() + "/input.json";
  fuzz_util::write_bytes(path, text);
  fuzz_util::run_one(kTarget, [&] { round_trip(load_config(path)); });
  fuzz_util::run_one(kTarget, [&] { round_trip(config_from_json(parse_json(text, "input"))); });
  return 0;
}
