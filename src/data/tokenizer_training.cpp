#include "data/tokenizer_training.h"

#include <sentencepiece_trainer.h>

#include <filesystem>
#include <unordered_map>

#include "core/error.h"
#include "data/document_stream.h"

namespace anetrain {
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
    if (ec)
      throw UserError("cannot create '" + parent.string() + "' for the tokenizer: " + ec.message());
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
