#include "tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_trainer.h>

#include <filesystem>
#include <unordered_map>

#include "core/error.h"
#include "data/document_stream.h"
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
      throw UserError("token id " + std::to_string(id) + " is outside the vocabulary of '" +
                      path_ + "' (" + std::to_string(n) + ")");
    as_int.push_back(id);
  }
  std::string text;
  const auto status = processor_.Decode(as_int, &text);
  if (!status.ok()) throw UserError("SentencePiece could not decode ids: " + status.ToString());
  return text;
}

namespace {

// Feeds the trainer one line of text at a time from any corpus DocumentStream reads (text
// files, JSON lines, directories), so tokenizers train on exactly what `data prepare` sees.
class LineIterator : public sentencepiece::SentenceIterator {
 public:
  explicit LineIterator(DocumentStream& docs) : docs_(docs) { Next(); }
  bool done() const override { return done_; }
  const std::string& value() const override { return line_; }
  sentencepiece::util::Status status() const override { return {}; }
  void Next() override {
    for (;;) {
      while (offset_ >= document_.size()) {
        if (!docs_.next(document_)) {
          done_ = true;
          return;
        }
        offset_ = 0;
      }
      size_t end = document_.find('\n', offset_);
      if (end == std::string::npos) end = document_.size();
      line_.assign(document_, offset_, end - offset_);
      offset_ = end + 1;
      if (!line_.empty()) return;
    }
  }

 private:
  DocumentStream& docs_;
  std::string document_, line_;
  size_t offset_ = 0;
  bool done_ = false;
};

}  // namespace

void train_sentencepiece(const SentencePieceTrainOptions& o) {
  if (o.inputs.empty()) throw UserError("anetrain tokenizer train: --input is required");
  DocumentStream docs(o.inputs);
  if (o.vocab_size < 260 || o.vocab_size > 65536)
    throw UserError("--vocab-size " + std::to_string(o.vocab_size) +
                    " is out of range: byte fallback needs more than 259 pieces and token "
                    "shards hold ids below 65536");
  std::string prefix = o.out_path;
  const auto parent = std::filesystem::path(o.out_path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) throw UserError("cannot create '" + parent.string() + "' for the tokenizer: " + ec.message());
  }
  if (prefix.size() > 6 && prefix.ends_with(".model")) prefix.resize(prefix.size() - 6);
  // llama2.c's settings for its custom vocabularies, plus no extra-whitespace removal so that
  // decoding returns the exact text. Passed as a key/value map, not as one "--key=value ..."
  // string: the string overload of Train() logs "Running command: ..." at INFO level before it
  // reads minloglevel, and splits at spaces (a path with a space would break it). The map
  // overload sets the log level while it reads the options, before anything is logged.
  const std::unordered_map<std::string, std::string> args = {
      {"model_prefix", prefix},
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"byte_fallback", "true"},
      {"character_coverage", "1.0"},
      {"split_digits", "true"},
      {"allow_whitespace_only_pieces", "true"},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"max_sentence_length", "16384"},
      {"input_sentence_size", std::to_string(o.max_sentences)},
      {"shuffle_input_sentence", "true"},
      {"seed_sentencepiece_size", "1000000"},
      {"num_threads", std::to_string(o.threads)},
      {"minloglevel", "2"},  // errors only
  };
  LineIterator lines(docs);
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &lines);
  if (!status.ok())
    throw UserError("SentencePiece training failed: " + status.ToString() +
                    " (a larger corpus or a smaller --vocab-size may help)");
}

}  // namespace anetrain
