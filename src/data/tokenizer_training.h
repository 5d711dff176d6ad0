// Training a SentencePiece BPE vocabulary with byte fallback on a corpus (read through
// data/document_stream.h), configured as llama2.c trains its custom vocabularies (identity
// normalization, digits split, whitespace kept), so that decode(encode(text)) gives the text
// back. It lives in data/, not tokenizer/, so that data/ depends on tokenizer/ and not the
// other way round.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace anetrain {

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
