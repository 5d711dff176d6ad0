// libFuzzer target for a checkpoint's state.json (load_training_state in src/train/checkpoint.h):
// the input is written as state.json into a directory of its own and loaded. It must load or
// throw a one-line UserError; a loaded state's config is valid and its tokenizer spec resolved.
//
// Seeds (ANETRAIN_FUZZ_WRITE_SEEDS=DIR): state files as save_checkpoint writes them (with a
// tokenizer copy, without one, from before the tokenizer was copied, without loss_scale).
#include <string>

#include "fuzz_util.h"
#include "model/config.h"
#include "train/checkpoint.h"

using namespace anetrain;

namespace {

constexpr const char* kTarget = "checkpoint_state_fuzz";

nlohmann::json state_json(const std::string& preset) {
  nlohmann::json j;
  j["format"] = "anetrain-state";
  j["version"] = 1;
  j["config"] = config_to_json(load_config(preset));
  j["step"] = 20;
  j["total_steps"] = 100;
  j["seed"] = "00000000deadbeef";
  j["backend"] = "cpu";
  j["loader"] = {{"kind", "random"}, {"rng", "0123456789abcdef"}, {"shards", {"a.bin"}}};
  j["tokenizer"] = {{"spec", "sp:tokenizer.model"},
                    {"relative_to", "checkpoint"},
                    {"checksum", std::string(64, 'a')}};
  j["loss_scale"] = {{"scale", 1024.0}, {"good_steps", 3}};
  return j;
}

void write_seeds(const std::string& dir) {
  nlohmann::json j = state_json("tiny");
  fuzz_util::write_bytes(dir + "/state.json", j.dump(2) + "\n");
  j["tokenizer"] = {{"spec", ""}, {"checksum", ""}};
  j.erase("loss_scale");
  fuzz_util::write_bytes(dir + "/state_no_tokenizer.json", j.dump(2) + "\n");
  j = state_json("stories15M");
  j["tokenizer"] = {{"spec", "gpt2:data/gpt2"}, {"checksum", std::string(64, '0')}};
  fuzz_util::write_bytes(dir + "/state_old_tokenizer.json", j.dump());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz_util::maybe_write_seeds(write_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = fuzz_util::fresh_dir("checkpoint");
  fuzz_util::write_bytes(dir + "/state.json", fuzz_util::as_text(data, size));
  fuzz_util::run_one(kTarget, [&] {
    const TrainingState state = load_training_state(dir);
    state.config.model.validate();
    state.config.train.validate();
  });
  return 0;
}
