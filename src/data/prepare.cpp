#include "data/prepare.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/parallel.h"
#include "data/document_stream.h"
#include "data/token_shard.h"
#include "io/atomic_file.h"
#include "io/sha256.h"
#include "tokenizer/tokenizer.h"

namespace anetrain {
namespace fs = std::filesystem;

namespace {

constexpr int64_t kBatchBytes = 4 << 20;  // documents encoded together, in parallel
constexpr size_t kBatchDocuments = 512;

// Accumulates one split's tokens and writes a shard whenever shard_tokens are collected.
class ShardWriter {
 public:
  ShardWriter(std::string dir, std::string split, int64_t shard_tokens)
      : dir_(std::move(dir)), split_(std::move(split)), shard_tokens_(shard_tokens) {}

  void add(int32_t separator, const std::vector<int32_t>& ids) {
    buffer_.push_back(static_cast<uint16_t>(separator));
    for (int32_t id : ids) {
      buffer_.push_back(static_cast<uint16_t>(id));
      if (static_cast<int64_t>(buffer_.size()) >= shard_tokens_) flush();
    }
    if (static_cast<int64_t>(buffer_.size()) >= shard_tokens_) flush();
    ++documents_;
  }

  void flush() {
    if (buffer_.empty()) return;
    char name[64];
    std::snprintf(name, sizeof name, "%s_%06zu.bin", split_.c_str(), shards_.size());
    const std::string path = (fs::path(dir_) / name).string();
    write_token_shard(path, buffer_.data(), static_cast<int64_t>(buffer_.size()));
    shards_.push_back({{"file", name}, {"split", split_}, {"tokens", buffer_.size()},
                       {"sha256", sha256_file_hex(path)}});
    tokens_ += static_cast<int64_t>(buffer_.size());
    buffer_.clear();
  }

  int64_t tokens() const { return tokens_ + static_cast<int64_t>(buffer_.size()); }
  int64_t documents() const { return documents_; }
  const nlohmann::json& shards() const { return shards_; }

 private:
  std::string dir_, split_;
  int64_t shard_tokens_;
  std::vector<uint16_t> buffer_;
  nlohmann::json shards_ = nlohmann::json::array();
  int64_t tokens_ = 0, documents_ = 0;
};

void draw_progress(const DocumentStream& docs, int64_t tokens, double seconds, bool done) {
  const double total = std::max<double>(1, docs.total_bytes());
  const double frac = std::min(1.0, docs.bytes_read() / total);
  const int width = 30, filled = static_cast<int>(frac * width);
  std::fprintf(stderr, "\r[%s%s] %3.0f%% %.1f/%.1f MB %.1f MB/s %lld tokens%s",
               std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
               frac * 100, docs.bytes_read() / 1e6, total / 1e6,
               docs.bytes_read() / 1e6 / std::max(seconds, 1e-9), static_cast<long long>(tokens),
               done ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace

PrepareResult prepare_dataset(const PrepareOptions& o) {
  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(o.tokenizer_spec);
  return prepare_dataset(o, *tokenizer);
}

PrepareResult prepare_dataset(const PrepareOptions& o, const Tokenizer& tok) {
  const Tokenizer* tokenizer = &tok;
  if (o.out_dir.empty()) throw UserError("anetrain data prepare: --out DIR is required");
  if (o.val_fraction < 0 || o.val_fraction >= 1)
    throw UserError("--val-fraction must be in [0, 1), e.g. 0.05");
  if (o.shard_tokens < 1024) throw UserError("--shard-tokens must be at least 1024");
  if (tokenizer->vocab_size() > 65536)
    throw UserError("tokenizer '" + tokenizer->spec() + "' has " +
                    std::to_string(tokenizer->vocab_size()) +
                    " tokens, more than llm.c's uint16 shards can hold (65536)");
  DocumentStream docs(o.inputs, o.text_field);

  const fs::path out(o.out_dir);
  const fs::path manifest_path = out / "manifest.json";
  if (fs::exists(manifest_path) && !o.force)
    throw UserError("'" + o.out_dir + "' already holds a prepared dataset: pass --force to replace it");
  fs::create_directories(out);
  // Remove the previous dataset's shards first (manifest last), so no stale shard can be
  // mistaken for part of the new one.
  for (const auto& entry : fs::directory_iterator(out)) {
    const std::string name = entry.path().filename().string();
    if ((name.starts_with("train_") || name.starts_with("val_")) && name.ends_with(".bin"))
      fs::remove(entry.path());
  }
  fs::remove(manifest_path);

  const int64_t val_every =
      o.val_fraction > 0 ? std::max<int64_t>(2, std::llround(1.0 / o.val_fraction)) : 0;
  ShardWriter train(o.out_dir, "train", o.shard_tokens), val(o.out_dir, "val", o.shard_tokens);
  const int32_t separator = tokenizer->document_separator();

  init_thread_pool();
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  double last_draw = -1;
  int64_t document_index = 0;
  std::vector<std::string> batch;
  std::vector<std::vector<int32_t>> encoded;
  std::string text;
  bool more = true;
  while (more) {
    batch.clear();
    int64_t batch_bytes = 0;
    while (batch.size() < kBatchDocuments && batch_bytes < kBatchBytes &&
           (more = docs.next(text))) {
      batch_bytes += static_cast<int64_t>(text.size());
      batch.push_back(std::move(text));
    }
    encoded.assign(batch.size(), {});
    parallel_for(static_cast<int64_t>(batch.size()), [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i) encoded[i] = tokenizer->encode(batch[i]);
    });
    for (auto& ids : encoded) {
      const bool to_val = val_every > 0 && (document_index % val_every) == val_every - 1;
      (to_val ? val : train).add(separator, ids);
      ++document_index;
    }
    if (o.progress && elapsed() - last_draw > 0.25) {
      last_draw = elapsed();
      draw_progress(docs, train.tokens() + val.tokens(), last_draw, false);
    }
  }
  if (document_index == 0)
    throw UserError("no usable documents in the input (skipped: " + docs.skipped().summary() +
                    ")");
  if (val_every > 0 && val.documents() == 0)
    throw UserError("only " + std::to_string(document_index) +
                    " document(s): too few for a validation split of " +
                    std::to_string(o.val_fraction) +
                    "; pass --val-fraction 0 or split the text into more documents");
  train.flush();
  val.flush();
  if (o.progress) draw_progress(docs, train.tokens() + val.tokens(), elapsed(), true);

  nlohmann::json shards = train.shards();
  for (const auto& s : val.shards()) shards.push_back(s);
  nlohmann::json manifest = {
      {"format", "anetrain-dataset"},
      {"version", 1},
      {"tokenizer",
       {{"spec", tokenizer->spec()},
        {"checksum", tokenizer->checksum()},
        {"vocab_size", tokenizer->vocab_size()},
        {"document_separator", separator}}},
      {"inputs", docs.files()},
      {"text_field", o.text_field},
      {"val_every", val_every},
      {"documents", {{"train", train.documents()}, {"val", val.documents()}}},
      {"tokens", {{"train", train.tokens()}, {"val", val.tokens()}}},
      {"skipped",
       {{"empty", docs.skipped().empty},
        {"invalid_utf8", docs.skipped().invalid_utf8},
        {"binary_files", docs.skipped().binary_files},
        {"bad_json", docs.skipped().bad_json},
        {"missing_field", docs.skipped().missing_field}}},
      {"shards", shards}};
  const std::string text_out = manifest.dump(2) + "\n";
  write_file_atomic(manifest_path.string(), text_out.data(), text_out.size());

  PrepareResult r;
  r.train_tokens = train.tokens();
  r.val_tokens = val.tokens();
  r.train_documents = train.documents();
  r.val_documents = val.documents();
  r.skipped = docs.skipped().total();
  r.bytes = docs.bytes_read();
  r.seconds = elapsed();
  for (const auto& w : docs.warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());
  if (r.skipped > 0)
    std::fprintf(stderr, "skipped documents: %s\n", docs.skipped().summary().c_str());
  return r;
}

}  // namespace anetrain
