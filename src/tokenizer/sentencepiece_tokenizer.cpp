#include "tokenizer/sentencepiece_tokenizer.h"

#include <filesystem>

#include "core/error.h"
#include "io/sha256.h"

namespace anetrain {

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::load(const std::string& path) {
  if (!std::filesystem::is_regular_file(path))
    throw UserError("SentencePiece model '" + path + "' does not exist: check the sp:PATH spec");
  auto t = std::unique_ptr<SentencePieceTokenizer>(new SentencePieceTokenizer());
  t->path_ = path;
  const auto status = t->processor_.Load(path);
  if (!status.ok())
    throw UserError("'" + path + "' is not a SentencePiece model (" + status.ToString() +
                    "); train one with 'anetrain tokenizer train'");
  t->checksum_ = sha256_file_hex(path);
  return t;
}

int SentencePieceTokenizer::vocab_size() const { return processor_.GetPieceSize(); }

int32_t SentencePieceTokenizer::document_separator() const {
  // Llama-style models start every document with BOS; a model trained without one falls back
  // to EOS, then to id 0.
  if (processor_.bos_id() >= 0) return processor_.bos_id();
  if (processor_.eos_id() >= 0) return processor_.eos_id();
  return 0;
}

std::vector<int32_t> SentencePieceTokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  const auto status = processor_.Encode(text, &ids);
  if (!status.ok()) throw UserError("SentencePiece could not encode text: " + status.ToString());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string SentencePieceTokenizer::decode(const std::vector<int32_t>& ids) const {
  const int n = vocab_size();
  std::vector<int> as_int;
  as_int.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || id >= n)
      throw UserError("token id " + std::to_string(id) + " is outside the vocabulary of '" + path_ +
                      "' (" + std::to_string(n) + ")");
    as_int.push_back(id);
  }
  std::string text;
  const auto status = processor_.Decode(as_int, &text);
  if (!status.ok()) throw UserError("SentencePiece could not decode ids: " + status.ToString());
  return text;
}

}  // namespace anetrain
