// libFuzzer target for GGUF files (src/model/gguf_format.h, weights_gguf.cpp): the input is
// written to a file, opened as a GGUF container (every key and tensor touched, F32/F16 tensors
// read) and then read as a llama model, metadata and tensors (fuzz/weights_reader.h). Each
// must succeed or throw a one-line UserError; tensors of an accepted container lie inside it.
//
// Seeds (ANETRAIN_FUZZ_WRITE_SEEDS=DIR): a small model (GQA, 2 layers) written as F32 and F16,
// with a shared classifier and with a separate one.
#include <filesystem>

#include "model/gguf_format.h"
#include "weights_reader.h"

using namespace anetrain;

namespace {

constexpr const char* kTarget = "gguf_fuzz";

void write_seeds(const std::string& dir) {
  fuzz_util::write_weights_seed(WeightFormat::kGguf, dir + "/f32_tied.gguf", true);
  fuzz_util::write_weights_seed(WeightFormat::kGguf, dir + "/f32_untied.gguf", false);
  fuzz_util::write_weights_seed(WeightFormat::kGguf, dir + "/f16_tied.gguf", true, "f16");
}

void touch(const gguf::Value& value) {
  volatile size_t sum = value.text.size() + static_cast<size_t>(value.integer);
  (void)sum;
  for (const gguf::Value& item : value.items) touch(item);
}

void read_container(const std::string& path, uint64_t file_size) {
  const gguf::File file = gguf::File::open(path);
  for (const auto& [key, value] : file.metadata()) touch(value);
  for (const gguf::TensorInfo& t : file.tensors()) {
    if (t.offset + t.bytes > file_size || t.offset > file_size)
      fuzz_util::fail(kTarget, "tensor " + t.name + " lies past the end of the file");
    if (file.find_tensor(t.name) != &t) fuzz_util::fail(kTarget, "find_tensor misses " + t.name);
    std::vector<float> values(static_cast<size_t>(t.numel()));
    file.read_f32(t, values.data());
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz_util::maybe_write_seeds(write_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz_util::scratch_dir() + "/model.gguf";
  fuzz_util::write_bytes(path, fuzz_util::as_text(data, size));
  fuzz_util::run_one(kTarget, [&] { read_container(path, size); });
  fuzz_util::run_one(kTarget,
                     [&] { fuzz_util::read_weights_file(kTarget, WeightFormat::kGguf, path); });
  return 0;
}
