// Tokenizers behind one interface, chosen by a spec string:
//   bytes            raw bytes, ids 0..255 (id 0, the NUL byte, doubles as end-of-text)
//   sp:PATH.model    a SentencePiece model (libsentencepiece), e.g. Llama-2's tokenizer.model
//   gpt2:DIR         GPT-2 byte-level BPE from OpenAI's DIR/encoder.json + DIR/vocab.bpe (or
//                    Hugging Face's names for them, DIR/vocab.json + DIR/merges.txt)
// encode() never adds special tokens; callers add document_separator() between documents.
// decode(encode(text)) == text for valid UTF-8; invalid bytes never crash either way.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace anetrain {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // The spec it was loaded from, e.g. "gpt2:/data/gpt2".
  virtual std::string spec() const = 0;
  virtual int vocab_size() const = 0;
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  // The token placed between documents: BOS for SentencePiece (Llama: 1), <|endoftext|> for
  // GPT-2 (50256), 0 for bytes.
  virtual int32_t document_separator() const = 0;
  // sha256 (hex) of the files that define the vocabulary ("" for bytes; the rule for several
  // files is tokenizer_files_checksum() in tokenizer/tokenizer_files.h): recorded in manifests
  // and checkpoints so data and model can be matched to their tokenizer.
  virtual std::string checksum() const = 0;
};

// Throws UserError naming the spec and what is wrong (unknown kind, missing or invalid file).
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& spec);

}  // namespace anetrain
