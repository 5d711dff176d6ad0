// libFuzzer target for llama2.c checkpoints (src/model/llama2c_format.h, weights_llama2c.cpp):
// the input is written to a file and read as the legacy format (version 0) and as version 1,
// metadata and then tensors (fuzz/weights_reader.h). Each read must succeed or throw a one-line
// UserError. (tokenizer.bin is only ever written, so it has no reader to fuzz.)
//
// Seeds (ANETRAIN_FUZZ_WRITE_SEEDS=DIR): a small model (GQA, 2 layers) written in both versions,
// with a shared classifier and with a separate one.
#include "weights_reader.h"

using namespace anetrain;

namespace {

constexpr const char* kTarget = "llama2c_fuzz";

void write_seeds(const std::string& dir) {
  fuzz_util::write_weights_seed(WeightFormat::kLlama2c, dir + "/v0_tied.bin", true);
  fuzz_util::write_weights_seed(WeightFormat::kLlama2c, dir + "/v0_untied.bin", false);
  fuzz_util::write_weights_seed(WeightFormat::kLlama2cV1, dir + "/v1_tied.bin", true);
  fuzz_util::write_weights_seed(WeightFormat::kLlama2cV1, dir + "/v1_untied.bin", false);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz_util::maybe_write_seeds(write_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz_util::scratch_dir() + "/model.bin";
  fuzz_util::write_bytes(path, fuzz_util::as_text(data, size));
  for (WeightFormat format : {WeightFormat::kLlama2c, WeightFormat::kLlama2cV1})
    fuzz_util::run_one(kTarget, [&] { fuzz_util::read_weights_file(kTarget, format, path); });
  return 0;
}
