// llama2.c's tokenizer.bin, the vocabulary its run.c encodes and decodes with, made from a
// SentencePiece model the way llama2.c's tokenizer.py makes it: int32 max_token_length, then
// for every id in order float32 score, int32 length in bytes and the piece's UTF-8 bytes (no
// terminator). A piece's word-boundary marker U+2581 becomes a space, byte-fallback pieces
// ("<0x0A>") are kept as they are, BOS is written as "\n<s>\n" and EOS as "\n</s>\n"
// (docs/FORMATS.md).
#pragma once

#include <string>

#include "tokenizer/tokenizer_files.h"

namespace anetrain {

// tokenizer.bin's bytes for the SentencePiece model at `sp_model_path`. Throws UserError
// naming the file when it is not one.
std::string llama2c_tokenizer_bin(const std::string& sp_model_path);

// The same for a tokenizer's files in memory (an "sp" kind's tokenizer.model); any other kind
// is a UserError, since tokenizer.bin holds a SentencePiece vocabulary.
std::string llama2c_tokenizer_bin(const TokenizerFiles& files);

}  // namespace anetrain
