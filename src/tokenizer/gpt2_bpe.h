// GPT-2's byte-level BPE tokenizer, read from OpenAI's original files DIR/encoder.json (token
// string -> id, 50,257 entries) and DIR/vocab.bpe ("#version: 0.2" then 50,000 merges, best
// first). scripts/fetch-tokenizer.sh gpt2 DIR fetches both. Hugging Face directories hold the
// same two files as DIR/vocab.json and DIR/merges.txt; load() reads those when OpenAI's names
// are not both present.
//
// encode() works like GPT-2's encoder.py and tiktoken's "gpt2" encoding with all special tokens
// allowed: every literal "<|endoftext|>" in the text becomes id 50256; the text between them is
// split by GPT-2's pre-tokenization regex and each piece's UTF-8 bytes are merged by rank.
// Any byte string can be encoded, including invalid UTF-8 (invalid sequences become pieces of
// their own), and decode(encode(bytes)) == bytes always.
//
// One object may be used by several threads at once: everything is read-only after load()
// except the cache of already-merged pieces, which is sharded and locked.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace anetrain {

class Gpt2Tokenizer : public Tokenizer {
 public:
  static constexpr int kVocabSize = 50257;
  static constexpr int kMergeCount = 50000;
  static constexpr int32_t kEndOfText = 50256;

  // Reads DIR/encoder.json and DIR/vocab.bpe. Throws UserError naming the file when one is
  // missing or malformed (not JSON, wrong entry count, bad merge line, wrong #version header).
  static std::unique_ptr<Gpt2Tokenizer> load(const std::string& dir);
  ~Gpt2Tokenizer() override;

  std::string spec() const override;  // "gpt2:" + dir
  int vocab_size() const override { return kVocabSize; }
  std::vector<int32_t> encode(std::string_view text) const override;
  // Throws UserError for an id outside [0, 50257).
  std::string decode(const std::vector<int32_t>& ids) const override;
  int32_t document_separator() const override { return kEndOfText; }
  // sha256 (hex) of the two files' sha256 hex digests concatenated:
  // sha256_hex(sha256_hex(encoder.json) + sha256_hex(vocab.bpe)).
  std::string checksum() const override;

 private:
  struct Impl;
  explicit Gpt2Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// How GPT-2's vocabulary files spell a byte (UTF-8 of the character its byte-to-unicode table
// gives it): "a" for 'a', "\xC4\xA0" (U+0120) for ' '. A token string spells its bytes this way.
std::string gpt2_byte_spelling(uint8_t byte);

}  // namespace anetrain
