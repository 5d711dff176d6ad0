// libFuzzer target for the safetensors reader (src/io/safetensors.h). The input is written to a
// file and opened: it must either open or throw a one-line UserError. Accepted files are checked
// for consistency: every tensor's numel matches its shape, float tensors read back (every byte
// touched under AddressSanitizer), and reading with the wrong element count is a UserError.
//
// The same file is then read as anetrain's weights format (metadata "config" as JSON, tensors
// under Llama names; fuzz/weights_reader.h).
//
// Seeds (ANETRAIN_FUZZ_WRITE_SEEDS=DIR): files from SafetensorsWriter (F32, F16, metadata, an
// empty tensor, a scalar), a small model in anetrain's format and a hand-made BF16 file with a
// space-padded header.
#include <cmath>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "weights_reader.h"

using namespace anetrain;

namespace {

constexpr const char* kTarget = "safetensors_fuzz";

void write_seeds(const std::string& dir) {
  std::vector<float> values(24);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.25f * static_cast<float>(i) - 2.0f;
  SafetensorsWriter mixed;
  mixed.add_f32("tok_embeddings.weight", {4, 3}, values.data());
  mixed.add_f16("norm.weight", {3}, values.data() + 12);
  mixed.add_f32("empty", {0, 5}, values.data());
  mixed.add_f32("scalar", {}, values.data() + 20);
  mixed.set_metadata("format", "anetrain");
  mixed.set_metadata("step", "7");
  mixed.set_metadata("config", R"({"dim": 64, "preset": "tiny"})");
  fuzz_util::write_bytes(dir + "/mixed.safetensors", mixed.serialize());

  fuzz_util::write_weights_seed(WeightFormat::kAnetrain, dir + "/anetrain.safetensors", true);
  SafetensorsWriter empty;
  fuzz_util::write_bytes(dir + "/empty.safetensors", empty.serialize());

  const std::string header = R"({"b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})";
  std::string padded = header + std::string((8 - (8 + header.size()) % 8) % 8, ' ');
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>((padded.size() >> (8 * i)) & 0xff);
  file += padded + std::string("\x80\x3f\x00\xc0", 4);  // 1.0, -2.0
  fuzz_util::write_bytes(dir + "/bf16.safetensors", file);
}

void fuzz_one(std::string_view bytes) {
  const std::string path = fuzz_util::scratch_dir() + "/input.safetensors";
  fuzz_util::write_bytes(path, bytes);
  const SafetensorsFile file = SafetensorsFile::open(path);
  for (const std::string& name : file.names()) {
    int64_t numel = 1;
    for (int64_t d : file.shape(name)) numel *= d;
    if (numel != file.numel(name)) fuzz_util::fail(kTarget, "numel differs from the shape's");
    const std::string dtype = file.dtype(name);
    if (dtype != "F32" && dtype != "F16" && dtype != "BF16") continue;
    const std::vector<float> values = file.read_f32(name);
    volatile float sum = 0;
    for (float v : values) sum = sum + (std::isnan(v) ? 0.0f : v);
    try {
      std::vector<float> wrong(static_cast<size_t>(numel) + 1);
      file.read_f32(name, wrong.data(), numel + 1);
      fuzz_util::fail(kTarget, "read_f32 accepted a wrong element count");
    } catch (const UserError&) {
    }
  }
  try {
    (void)file.read_f32("no such tensor \n");
    fuzz_util::fail(kTarget, "read_f32 found a tensor that is not there");
  } catch (const UserError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz_util::maybe_write_seeds(write_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz_util::run_one(kTarget, [&] { fuzz_one(fuzz_util::as_text(data, size)); });
  // The same file as anetrain's weights format: its metadata holds the run config as JSON.
  fuzz_util::run_one(kTarget, [&] {
    fuzz_util::read_weights_file(kTarget, WeightFormat::kAnetrain,
                                 fuzz_util::scratch_dir() + "/input.safetensors");
  });
  return 0;
}
