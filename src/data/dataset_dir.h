// A prepared dataset directory (from `anetrain data prepare`): train_*.bin, val_*.bin, a copy
// of the tokenizer in tokenizer/ and manifest.json. `--data DIR` accepts such a directory and
// takes the shards, the validation split and the tokenizer from it; `--data GLOB` takes shards
// directly.
#pragma once

#include <string>

namespace anetrain {

struct DatasetSource {
  std::string train_glob, val_glob;  // val_glob "" when there is no validation split
  // The dataset's tokenizer, "" when not known. The spec is loadable from the working
  // directory: the manifest's spec resolved against the dataset directory (datasets prepared
  // before the tokenizer was copied into them name it relative to where they were prepared).
  std::string tokenizer_spec, tokenizer_checksum;
  int tokenizer_vocab_size = 0;
  // Why tokenizer_spec cannot be loaded from here (its files are missing), as a one-line
  // message for whoever needs the dataset's tokenizer; "" when it can.
  std::string tokenizer_problem;
};

// Resolves --data (and an optional explicit --val). Throws UserError on a malformed manifest.
DatasetSource resolve_dataset(const std::string& data, const std::string& val);

}  // namespace anetrain
