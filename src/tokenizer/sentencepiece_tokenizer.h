// SentencePiece models through the real library (libsentencepiece): any .model, Llama-2's
// included. Training one on a corpus is data/tokenizer_training.h.
#pragma once

#include <sentencepiece_processor.h>

#include <memory>

#include "tokenizer/tokenizer.h"

namespace anetrain {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  static std::unique_ptr<SentencePieceTokenizer> load(const std::string& path);

  std::string spec() const override { return "sp:" + path_; }
  int vocab_size() const override;
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int32_t document_separator() const override;
  std::string checksum() const override { return checksum_; }

 private:
  std::string path_, checksum_;
  sentencepiece::SentencePieceProcessor processor_;
};

}  // namespace anetrain
