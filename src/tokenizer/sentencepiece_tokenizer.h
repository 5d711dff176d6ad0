// SentencePiece models through the real library (libsentencepiece): loading any .model
// (Llama-2's included) and training a new BPE vocabulary with byte fallback, configured as
// llama2.c trains its custom vocabularies (identity normalization, digits split, whitespace
// kept), so that decode(encode(text)) gives the text back.
#pragma once

#include <memory>
#include <sentencepiece_processor.h>

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

struct SentencePieceTrainOptions {
  std::vector<std::string> inputs;  // text, JSON-lines files or directories (DocumentStream)
  std::string out_path;             // where FILE.model goes (FILE.vocab beside it)
  int vocab_size = 4096;
  int64_t max_sentences = 2000000;  // input lines sampled for training
  int threads = 2;
};

// Trains a BPE model with byte fallback. Throws UserError on bad options or library errors.
void train_sentencepiece(const SentencePieceTrainOptions& options);

}  // namespace anetrain
