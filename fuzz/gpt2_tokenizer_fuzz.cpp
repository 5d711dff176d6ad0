// libFuzzer target for GPT-2 tokenizer files (Gpt2Tokenizer::load in src/tokenizer/gpt2_bpe.h):
// the input is split at its first NUL byte into encoder.json (before) and vocab.bpe (after),
// both written into a directory of their own, which is loaded. Loading must succeed or throw a
// one-line UserError; a loaded tokenizer must encode and decode a fixed text back exactly.
//
// Seeds (ANETRAIN_FUZZ_WRITE_SEEDS=DIR): a synthetic vocabulary of GPT-2's shape (50,257
// tokens: the 256 bytes, 50,000 merges of printable characters, <|endoftext|>; under 1 MB so
// libFuzzer keeps it whole), and small files that stop at each early check.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "tokenizer/gpt2_bpe.h"

using namespace anetrain;

namespace {

constexpr const char* kTarget = "gpt2_tokenizer_fuzz";

// encoder.json and vocab.bpe of a vocabulary the loader accepts: ids 0-255 are the bytes,
// then 8,836 merges of two printable ASCII characters and 41,164 of such a pair and one more.
std::pair<std::string, std::string> synthetic_vocabulary() {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(gpt2_byte_spelling(static_cast<uint8_t>(b)));
  std::string merges = "#version: 0.2\n";
  std::vector<std::string> pairs;
  for (char a = '!'; a <= '~'; ++a)
    for (char b = '!'; b <= '~'; ++b) {
      merges += std::string{a, ' ', b, '\n'};
      pairs.push_back({a, b});
      tokens.push_back({a, b});
    }
  for (size_t i = 0; tokens.size() < static_cast<size_t>(Gpt2Tokenizer::kEndOfText); ++i) {
    const std::string& left = pairs[i / 94];
    const char right = static_cast<char>('!' + i % 94);
    merges += left + ' ' + right + '\n';
    tokens.push_back(left + right);
  }
  tokens.push_back("<|endoftext|>");
  nlohmann::json encoder = nlohmann::json::object();
  for (size_t id = 0; id < tokens.size(); ++id) encoder[tokens[id]] = id;
  return {encoder.dump(), merges};
}

void write_seeds(const std::string& dir) {
  const auto [encoder, merges] = synthetic_vocabulary();
  fuzz_util::write_bytes(dir + "/synthetic", encoder + std::string(1, '\0') + merges);
  fuzz_util::write_bytes(dir + "/small",
                         std::string("{\"a\": 0, \"b\": 1}\0#version: 0.2\na b\n", 35));
  fuzz_util::write_bytes(dir + "/not_json", std::string("[1, 2]\0#version: 0.2\n", 21));
}

void load_one(const std::string& dir) {
  const std::unique_ptr<Gpt2Tokenizer> tokenizer = Gpt2Tokenizer::load(dir);
  const std::string text = "Hello world!<|endoftext|> a\xff\xfe bc \n\n  12345 ~~ zz";
  const std::vector<int32_t> ids = tokenizer->encode(text);
  if (tokenizer->decode(ids) != text) fuzz_util::fail(kTarget, "decode(encode(text)) differs");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz_util::maybe_write_seeds(write_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = fuzz_util::fresh_dir("gpt2");
  const std::string_view input = fuzz_util::as_text(data, size);
  const size_t split = std::min(input.find('\0'), input.size());
  fuzz_util::write_bytes(dir + "/encoder.json", input.substr(0, split));
  fuzz_util::write_bytes(dir + "/vocab.bpe", input.substr(std::min(split + 1, input.size())));
  fuzz_util::run_one(kTarget, [&] { load_one(dir); });
  return 0;
}
