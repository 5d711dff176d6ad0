// `anetrain data prepare`: text corpus -> tokenized train/val shards in llm.c's format plus a
// manifest (docs/FORMATS.md "Prepared dataset"). Streams the corpus, encodes batches of
// documents on every core, and writes output in document order, so the result is identical
// for any thread count. Every document is preceded by the tokenizer's separator token
// (BOS / <|endoftext|>). Every k-th document (k = round(1 / val_fraction)) goes to the
// validation split, so the split is by whole documents and needs no second pass. A corpus of
// fewer than k documents (one input.txt is one document) is split by tokens instead: the last
// val_fraction of its token stream, cut at the start of a line, becomes the validation split;
// until the k-th document arrives the train tokens are therefore kept in memory. The tokenizer's
// files are copied into DIR/tokenizer/ and the manifest names them relative to DIR, so the
// dataset works from any working directory and after being moved. The dataset is built in a
// work directory beside out_dir, "<out_dir>.preparing-<pid>", and moved into place in one
// atomic step when complete, so out_dir always holds a whole dataset (or none); work
// directories left by killed runs are removed by the next prepare into the same out_dir.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace anetrain {

struct PrepareOptions {
  std::string tokenizer_spec;
  std::vector<std::string> inputs;
  std::string out_dir;
  std::string text_field = "text";
  double val_fraction = 0.05;
  int64_t shard_tokens = 50'000'000;  // tokens per shard file
  // Replace what is in out_dir, if it holds nothing but a dataset's files. Without it a
  // non-empty out_dir is refused and nothing is ever deleted.
  bool force = false;
  bool progress = true;               // progress bar on stderr
};

struct PrepareResult {
  int64_t train_tokens = 0, val_tokens = 0, train_documents = 0, val_documents = 0;
  int64_t skipped = 0, bytes = 0;
  double seconds = 0;
  // When the validation split was cut out of the token stream: the one line printed about it,
  // e.g. "data prepare: input.txt is 1 document: validation is the last 5% of its tokens, cut at
  // a line boundary". Empty for a whole-document split or none.
  std::string val_split_note;
};

class Tokenizer;
PrepareResult prepare_dataset(const PrepareOptions& options);
// The same with an already loaded tokenizer (options.tokenizer_spec is ignored).
PrepareResult prepare_dataset(const PrepareOptions& options, const Tokenizer& tokenizer);

}  // namespace anetrain
