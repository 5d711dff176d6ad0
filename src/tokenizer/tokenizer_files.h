// Keeping a tokenizer with what was made with it. A prepared dataset holds a copy of its
// tokenizer's files in DIR/tokenizer/, a checkpoint holds one in its own directory, and both
// record a spec relative to that directory (docs/FORMATS.md), so a dataset or run directory
// keeps working when it is moved or used from another working directory. The copies have fixed
// names, so they never collide with the files beside them:
//   sp:PATH   -> tokenizer.model           (spec "sp:DIR/tokenizer.model")
//   gpt2:DIR  -> encoder.json, vocab.bpe   (spec "gpt2:DIR"; the originals may also be named
//                                          vocab.json, merges.txt, as Hugging Face names them)
//   bytes     -> nothing                   (spec "bytes")
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace anetrain {

class Tokenizer;

struct TokenizerFiles {
  std::string kind;      // "bytes", "sp" or "gpt2"
  std::string checksum;  // the tokenizer's checksum() ("" for bytes)
  std::vector<std::pair<std::string, std::string>> files;  // fixed name, contents

  // The spec that loads the copy when its files are in `dir` ("": the directory a recorded
  // spec is relative to).
  std::string spec_in(const std::string& dir) const;
  // Writes every file into `dir` (created if needed), each atomically.
  void write_to(const std::string& dir) const;
};

// Reads a loaded tokenizer's files into memory. Throws UserError if they changed since it was
// loaded (their checksum no longer matches) or if its spec is of no known kind.
TokenizerFiles read_tokenizer_files(const Tokenizer& tokenizer);

// The files a spec names: "sp:P" -> {P}; "gpt2:D" -> {D/encoder.json, D/vocab.bpe}, or
// Hugging Face's names for them, {D/vocab.json, D/merges.txt}, when only those two are both
// there; "bytes" -> {}. Throws UserError for an unknown kind.
std::vector<std::string> tokenizer_spec_files(const std::string& spec);

// True if every file the spec names is a regular file (seen from the working directory).
bool tokenizer_files_exist(const std::string& spec);

// A spec recorded relative to `base`, as seen from the working directory: "sp:PATH" ->
// "sp:BASE/PATH", "gpt2:DIR" -> "gpt2:BASE/DIR"; absolute paths and "bytes" are unchanged.
std::string resolve_tokenizer_spec(const std::string& spec, const std::string& base);

// A tokenizer's checksum from its files' contents, in the spec's order: the sha256 (hex) of the
// one file, or of the files' sha256 hex digests concatenated when there are several; "" when
// there are none.
std::string tokenizer_files_checksum(const std::vector<std::string_view>& contents);

}  // namespace anetrain
