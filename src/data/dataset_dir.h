// A prepared dataset directory (from `anetrain data prepare`): train_*.bin, val_*.bin, a copy
// of the tokenizer in tokenizer/ and manifest.json. `--data DIR` accepts such a directory and
// takes the shards, the validation split and the tokenizer from it; `--data GLOB` takes shards
// directly.
//
// A dataset directory is checked against its manifest before it is used: the train_*.bin and
// val_*.bin files in it must be exactly the shards manifest.json lists, each of the size its
// token count implies, and (unless verification is turned off) each with the sha256 listed.
// Anything else is a UserError naming the file and saying to prepare the dataset again.
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
  // For a dataset directory: one line saying what was checked against the manifest, the bytes
  // hashed and how long it took (for the caller to log); "" for a glob of shards.
  std::string verification;
};

// Resolves --data (and an optional explicit --val). Throws UserError on a malformed manifest,
// on shards that differ from the manifest's list or sizes, and, when `verify_sha256`, on a
// shard whose sha256 differs from the manifest's (--no-verify turns that hash check off).
DatasetSource resolve_dataset(const std::string& data, const std::string& val,
                              bool verify_sha256 = true);

// True for the name of the temporary directory `data prepare` builds a dataset in, beside the
// dataset: "<name>.preparing-<pid>" (data/prepare.h).
bool is_preparing_dir_name(const std::string& name);

}  // namespace anetrain
