// A prepared dataset directory (from `anetrain data prepare`): train_*.bin, val_*.bin and
// manifest.json. `--data DIR` accepts such a directory and takes the shards, the validation
// split and the tokenizer from it; `--data GLOB` takes shards directly.
#pragma once

#include <string>

namespace anetrain {

struct DatasetSource {
  std::string train_glob, val_glob;  // val_glob "" when there is no validation split
  std::string tokenizer_spec, tokenizer_checksum;  // "" when not known
  int tokenizer_vocab_size = 0;
};

// Resolves --data (and an optional explicit --val). Throws UserError on a malformed manifest.
DatasetSource resolve_dataset(const std::string& data, const std::string& val);

}  // namespace anetrain
