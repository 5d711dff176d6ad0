// libFuzzer target for the llm.c token shard reader (src/data/token_shard.h). The input is
// written to a file and opened with two vocabularies (512, where ids are checked, and 65536,
// where every uint16 is valid): it must either open or throw a one-line UserError. An accepted
// shard's tokens are all read (AddressSanitizer sees any read past the mapping), are below the
// vocabulary and are as many as the file holds after its header.
//
// Seeds (ANETRAIN_FUZZ_WRITE_SEEDS=DIR): shards from write_token_shard (empty, a few tokens,
// ids up to 65535).
#include <string>
#include <vector>

#include "data/token_shard.h"
#include "fuzz_util.h"

using namespace anetrain;

namespace {

constexpr const char* kTarget = "token_shard_fuzz";

void write_seeds(const std::string& dir) {
  write_token_shard(dir + "/empty.bin", std::vector<int32_t>{});
  write_token_shard(dir + "/small.bin", std::vector<int32_t>{0, 1, 2, 511, 256, 7, 7, 7});
  write_token_shard(dir + "/wide.bin", std::vector<int32_t>{50256, 65535, 0, 1000});
}

void open_one(const std::string& path, int vocab_size, size_t file_bytes) {
  const TokenShard shard = TokenShard::open(path, vocab_size);
  if (static_cast<size_t>(shard.size()) * 2 + kTokenShardHeaderBytes != file_bytes)
    fuzz_util::fail(kTarget, "token count does not match the file size");
  for (int64_t i = 0; i < shard.size(); ++i)
    if (shard[i] >= vocab_size) fuzz_util::fail(kTarget, "token id above the vocabulary");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz_util::maybe_write_seeds(write_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz_util::scratch_dir() + "/input.bin";
  fuzz_util::write_bytes(path, fuzz_util::as_text(data, size));
  for (int vocab_size : {512, 65536})
    fuzz_util::run_one(kTarget, [&] { open_one(path, vocab_size, size); });
  return 0;
}
