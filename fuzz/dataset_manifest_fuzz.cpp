// libFuzzer target for a prepared dataset's manifest.json (resolve_dataset in
// src/data/dataset_dir.h): the input is written as manifest.json into a directory of its own,
// which is then resolved as --data. It must resolve or throw a one-line UserError; a resolved
// dataset names its shards inside the directory.
//
// Seeds (ANETRAIN_FUZZ_WRITE_SEEDS=DIR): manifests as `anetrain data prepare` writes them (with
// a tokenizer copy, with a validation split, and one from before datasets kept a tokenizer).
#include <nlohmann/json.hpp>
#include <string>

#include "data/dataset_dir.h"
#include "fuzz_util.h"

using namespace anetrain;

namespace {

constexpr const char* kTarget = "dataset_manifest_fuzz";

nlohmann::json manifest(bool copy, int64_t val_tokens) {
  nlohmann::json tokenizer = {{"spec", copy ? "sp:tokenizer/tokenizer.model" : "bytes"},
                              {"source", "sp:data/tok.model"},
                              {"checksum", std::string(64, 'c')},
                              {"vocab_size", copy ? 512 : 256},
                              {"document_separator", 1}};
  if (copy) tokenizer["relative_to"] = "dataset";
  return {{"format", "anetrain-dataset"},
          {"version", 1},
          {"tokenizer", tokenizer},
          {"inputs", {"data/input.txt"}},
          {"text_field", "text"},
          {"val_split", {{"by", "documents"}, {"every", 10}}},
          {"val_every", 10},
          {"documents", {{"train", 90}, {"val", 10}}},
          {"tokens", {{"train", 9000}, {"val", val_tokens}}},
          {"skipped",
           {{"empty", 0},
            {"invalid_utf8", 0},
            {"binary_files", 0},
            {"bad_json", 0},
            {"missing_field", 0}}},
          {"shards",
           {{{"file", "train_000000.bin"},
             {"split", "train"},
             {"tokens", 9000},
             {"sha256", std::string(64, '1')}}}}};
}

void write_seeds(const std::string& dir) {
  fuzz_util::write_bytes(dir + "/manifest.json", manifest(true, 1000).dump(2));
  fuzz_util::write_bytes(dir + "/manifest_no_val.json", manifest(true, 0).dump(2));
  fuzz_util::write_bytes(dir + "/manifest_old.json", manifest(false, 10).dump());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz_util::maybe_write_seeds(write_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = fuzz_util::fresh_dir("dataset");
  fuzz_util::write_bytes(dir + "/manifest.json", fuzz_util::as_text(data, size));
  fuzz_util::run_one(kTarget, [&] {
    const DatasetSource source = resolve_dataset(dir, "");
    if (source.train_glob.rfind(dir + "/", 0) != 0)
      fuzz_util::fail(kTarget, "train shards outside the dataset: " + source.train_glob);
    if (!source.val_glob.empty() && source.val_glob.rfind(dir + "/", 0) != 0)
      fuzz_util::fail(kTarget, "val shards outside the dataset: " + source.val_glob);
  });
  return 0;
}
