#include "data/prepare.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/parallel.h"
#include "data/document_stream.h"
#include "data/token_shard.h"
#include "io/atomic_file.h"
#include "io/sha256.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_files.h"

namespace anetrain {
namespace fs = std::filesystem;

namespace {

constexpr int64_t kBatchBytes = 4 << 20;  // documents encoded together, in parallel
constexpr size_t kBatchDocuments = 512;
constexpr const char* kTokenizerDir = "tokenizer";  // the copy of the tokenizer's files

// Accumulates one split's tokens and writes a shard of exactly shard_tokens tokens whenever
// that many are collected; finish() writes the rest. A held writer writes nothing yet and
// remembers where its documents start, so that the tail of its stream can still become the
// validation split (move_tail()).
class ShardWriter {
 public:
  ShardWriter(std::string dir, std::string split, int64_t shard_tokens, bool hold)
      : dir_(std::move(dir)), split_(std::move(split)), shard_tokens_(shard_tokens), hold_(hold) {}

  void add(int32_t separator, const std::vector<int32_t>& ids) {
    if (hold_) starts_.push_back(static_cast<int64_t>(buffer_.size()));
    buffer_.push_back(static_cast<uint16_t>(separator));
    for (int32_t id : ids) buffer_.push_back(static_cast<uint16_t>(id));
    ++documents_;
    write_full_shards();
  }

  bool held() const { return hold_; }
  void release() {
    hold_ = false;
    starts_ = {};
    write_full_shards();
  }
  // While held: the whole stream so far, and where its documents start.
  const std::vector<uint16_t>& held_tokens() const { return buffer_; }
  const std::vector<int64_t>& document_starts() const { return starts_; }

  // Moves the held stream's tokens from position `at` on to the end of `to`. A document cut
  // at `at` counts in both splits.
  void move_tail(int64_t at, ShardWriter& to) {
    ANETRAIN_CHECK(hold_ && at > 0 && at < static_cast<int64_t>(buffer_.size()));
    const auto first_moved = std::lower_bound(starts_.begin(), starts_.end(), at);
    const int64_t whole = starts_.end() - first_moved;
    const bool cut_inside = first_moved == starts_.end() || *first_moved != at;
    to.buffer_.insert(to.buffer_.end(), buffer_.begin() + at, buffer_.end());
    to.documents_ += whole + (cut_inside ? 1 : 0);
    buffer_.resize(at);
    starts_.erase(first_moved, starts_.end());
    documents_ -= whole;
  }

  void finish() {
    hold_ = false;
    write_full_shards();
    write_shard(0, buffer_.size());
    buffer_.clear();
  }

  int64_t tokens() const { return tokens_ + static_cast<int64_t>(buffer_.size()); }
  int64_t documents() const { return documents_; }
  const nlohmann::json& shards() const { return shards_; }

 private:
  void write_full_shards() {
    if (hold_) return;
    const size_t full = static_cast<size_t>(shard_tokens_);
    size_t done = 0;
    for (; buffer_.size() - done >= full; done += full) write_shard(done, full);
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(done));
  }

  void write_shard(size_t begin, size_t count) {
    if (count == 0) return;
    char name[64];
    std::snprintf(name, sizeof name, "%s_%06zu.bin", split_.c_str(), shards_.size());
    const std::string path = (fs::path(dir_) / name).string();
    write_token_shard(path, buffer_.data() + begin, static_cast<int64_t>(count));
    shards_.push_back(
        {{"file", name}, {"split", split_}, {"tokens", count}, {"sha256", sha256_file_hex(path)}});
    tokens_ += static_cast<int64_t>(count);
  }

  std::string dir_, split_;
  int64_t shard_tokens_;
  bool hold_;
  std::vector<uint16_t> buffer_;
  std::vector<int64_t> starts_;  // while held: where each document starts in buffer_
  nlohmann::json shards_ = nlohmann::json::array();
  int64_t tokens_ = 0, documents_ = 0;
};

// Where the validation split starts in a stream too few documents long to split by document.
struct ValidationCut {
  int64_t at = 0;              // the first validation token
  bool line_boundary = false;  // false: no line starts near the target, so it is cut mid-line
};

// The start of a line nearest to leaving `val_tokens` tokens after it, among the cuts that
// leave between half and twice that many (and at least one token besides the separator
// before it); without one, exactly `val_tokens` from the end. A line starts where a document
// starts and after a token whose text ends with a newline.
ValidationCut find_validation_cut(const std::vector<uint16_t>& tokens,
                                  const std::vector<int64_t>& document_starts, int64_t val_tokens,
                                  const Tokenizer& tokenizer) {
  const int64_t n = static_cast<int64_t>(tokens.size()), target = n - val_tokens;
  const int64_t lowest = std::max<int64_t>(2, n - 2 * val_tokens);
  const int64_t highest = n - (val_tokens + 1) / 2;
  std::vector<int8_t> ends_line(tokenizer.vocab_size(), -1);  // per id: unknown, no, yes
  auto line_starts_at = [&](int64_t at) {
    if (at < lowest || at > highest) return false;
    if (std::binary_search(document_starts.begin(), document_starts.end(), at)) return true;
    int8_t& known = ends_line[tokens[at - 1]];
    if (known < 0) known = tokenizer.decode({tokens[at - 1]}).ends_with('\n') ? 1 : 0;
    return known == 1;
  };
  for (int64_t d = 0; target - d >= lowest || target + d <= highest; ++d) {
    if (line_starts_at(target - d)) return {target - d, true};
    if (line_starts_at(target + d)) return {target + d, true};
  }
  return {target, false};
}

std::string percent(double fraction) {
  char text[32];
  std::snprintf(text, sizeof text, "%g%%", fraction * 100);
  return text;
}

struct TokenSplit {
  bool line_boundary = false;  // cut at the start of a line (else mid-line)
  std::string note;            // the one line that tells the user
};

// Too few documents for a whole-document split (the held train stream has them all): the last
// `fraction` of the token stream becomes the validation split, cut at a line start. Throws
// UserError when the text is too short to split at all.
TokenSplit split_token_stream(ShardWriter& train, ShardWriter& val, double fraction,
                              const Tokenizer& tokenizer, const std::string& input) {
  const std::vector<uint16_t>& tokens = train.held_tokens();
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t val_tokens = std::llround(fraction * static_cast<double>(n));
  const int64_t documents = train.documents();
  const std::string what =
      input + " is " + std::to_string(documents) + (documents == 1 ? " document" : " documents");
  if (val_tokens < 1 || n - val_tokens < 2)
    throw UserError("data prepare: " + what + " of " + std::to_string(n) +
                    " tokens, too short to hold out " + percent(fraction) +
                    " of it for validation: pass --val-fraction 0 for no validation split, or "
                    "use more text");
  const ValidationCut cut =
      find_validation_cut(tokens, train.document_starts(), val_tokens, tokenizer);
  train.move_tail(cut.at, val);
  return {cut.line_boundary,
          "data prepare: " + what + (documents == 1 ? "" : ", too few to hold out whole ones") +
              ": validation is the last " + percent(fraction) + " of its tokens, " +
              (cut.line_boundary ? "cut at a line boundary"
                                 : "cut mid-line (no line break near that point)")};
}

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

// ---- Where the dataset is built, and how it replaces the old one ----
//
// The dataset is written into a work directory beside --out, "<out>.preparing-<pid>", and
// moved into place only when complete (manifest last): by swapping the two directories in one
// rename (Linux renameat2 RENAME_EXCHANGE, macOS renamex_np RENAME_SWAP), then deleting the old
// one, which after the swap carries the work directory's name. Where the filesystem cannot
// swap, the old dataset is first renamed to "<out>.replaced-<pid>". A kill at any instant thus
// leaves --out holding the complete old dataset or the complete new one; what else it leaves
// carries one of those two names with a pid that no longer runs, and the next prepare into the
// same --out deletes it (or, for a ".replaced" directory whose --out is missing, moves it
// back). Nothing else beside --out is ever touched.

constexpr const char* kPreparing = ".preparing-";
constexpr const char* kReplaced = ".replaced-";

struct Target {
  fs::path out;     // absolute and normalized, without a trailing separator
  fs::path parent;  // the directory it is in
  std::string base;  // its name
};

Target target_of(const std::string& out_dir) {
  fs::path p = fs::absolute(out_dir).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "dir/" names dir
  std::error_code ec;
  // A symbolic link to the dataset: the dataset is replaced where it is, the link kept.
  if (fs::is_symlink(p, ec) && fs::is_directory(p, ec)) p = fs::canonical(p);
  if (!p.has_filename() || p.filename() == "." || p.filename() == "..")
    throw UserError("--out '" + out_dir + "' does not name a directory a dataset can be moved into");
  return {p, p.parent_path(), p.filename().string()};
}

// The pid in "<base><marker><pid>", or -1 when `name` is not such a name.
long leftover_pid(const std::string& name, const std::string& base, const std::string& marker) {
  if (!name.starts_with(base + marker)) return -1;
  const std::string digits = name.substr(base.size() + marker.size());
  if (digits.empty() || digits.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  return std::stol(digits);
}

void rename_or_throw(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    throw UserError("cannot rename '" + from.string() + "' to '" + to.string() +
                    "': " + std::strerror(errno));
}

bool process_running(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

// Deletes (or, see above, restores) the work directories killed runs of prepare into `t` left.
void clean_up_interrupted_runs(const Target& t) {
  std::error_code ec;
  if (!fs::is_directory(t.parent, ec)) return;
  std::vector<fs::path> preparing, replaced;
  for (const auto& entry : fs::directory_iterator(t.parent, ec)) {
    const std::string name = entry.path().filename().string();
    std::error_code kind_ec;
    if (!entry.is_directory(kind_ec) || entry.is_symlink(kind_ec)) continue;
    for (const auto& [marker, list] :
         {std::pair{kPreparing, &preparing}, std::pair{kReplaced, &replaced}}) {
      const long pid = leftover_pid(name, t.base, marker);
      if (pid > 0 && pid != ::getpid() && !process_running(pid)) list->push_back(entry.path());
    }
  }
  auto remove = [](const fs::path& dir) {
    std::error_code remove_ec;
    fs::remove_all(dir, remove_ec);
    if (remove_ec)
      throw UserError("cannot remove '" + dir.string() + "', left by an interrupted 'data " +
                      "prepare': " + remove_ec.message() + " (remove it by hand)");
    std::fprintf(stderr, "data prepare: removed '%s', left by an interrupted run\n",
                 dir.c_str());
  };
  for (const fs::path& old : replaced) {
    if (fs::exists(fs::symlink_status(t.out, ec))) {
      remove(old);
      continue;
    }
    // Killed between moving the old dataset away and the new one in: the old one goes back.
    rename_or_throw(old, t.out);
    std::fprintf(stderr,
                 "data prepare: moved '%s', the dataset an interrupted run had moved away, back "
                 "to '%s'\n",
                 old.c_str(), t.out.c_str());
  }
  for (const fs::path& work : preparing) remove(work);
}

// What a dataset directory holds besides foreign files: the manifest, the tokenizer copy, the
// shards training reads, and the temporary files a killed atomic write can leave behind.
bool belongs_to_a_dataset(const std::string& name) {
  auto shard = [](const std::string& n) {
    return (n.starts_with("train_") || n.starts_with("val_")) && n.ends_with(".bin");
  };
  if (name == "manifest.json" || name == kTokenizerDir || name == ".DS_Store" || shard(name))
    return true;
  const size_t tmp = name.find(".tmp.");
  return tmp != std::string::npos &&
         (shard(name.substr(0, tmp)) || name.substr(0, tmp) == "manifest.json");
}

// Refuses an --out that prepare must not replace: a file; without --force, any directory with
// something in it; with --force, a directory holding files no dataset has. Returns whether
// --out exists (as a directory).
bool check_target(const PrepareOptions& o, const Target& t) {
  std::error_code ec;
  const fs::file_status st = fs::status(t.out, ec);
  if (!fs::exists(st)) return false;
  if (!fs::is_directory(st))
    throw UserError("--out '" + o.out_dir + "' exists and is not a directory: choose another --out");
  bool manifest = false;
  std::string foreign, any;
  for (const auto& entry : fs::directory_iterator(t.out)) {
    const std::string name = entry.path().filename().string();
    if (any.empty()) any = name;
    if (name == "manifest.json") manifest = true;
    if (foreign.empty() && !belongs_to_a_dataset(name)) foreign = name;
  }
  if (any.empty()) return true;
  if (!foreign.empty())
    throw UserError("'" + o.out_dir + "' holds files that are not part of a dataset (such as '" +
                    foreign + "'): choose another --out (--force replaces only a dataset " +
                    "directory, never other files)");
  if (o.force) return true;
  if (manifest)
    throw UserError("'" + o.out_dir +
                    "' already holds a prepared dataset: pass --force to replace it, or choose "
                    "another --out");
  throw UserError("'" + o.out_dir + "' holds dataset files (such as '" + any +
                  "') but no manifest.json, as an interrupted or damaged dataset would: pass "
                  "--force to replace them, or choose another --out");
}

// Swaps two directories in one step; false when the platform or filesystem cannot.
bool exchange_directories(const fs::path& a, const fs::path& b) {
#if defined(__linux__)
  if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0) return true;
#elif defined(__APPLE__)
  if (::renamex_np(a.c_str(), b.c_str(), RENAME_SWAP) == 0) return true;
#else
  errno = ENOSYS;
#endif
  if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP || errno == EOPNOTSUPP) return false;
  throw UserError("cannot move the new dataset '" + a.string() + "' into place at '" +
                  b.string() + "': " + std::strerror(errno));
}

// Moves the complete dataset in `work` to `t.out`, replacing what is there (see above).
void install(const fs::path& work, const Target& t, bool replacing) {
  fsync_directory(work.string());
  if (!replacing) {
    rename_or_throw(work, t.out);
    fsync_directory(t.parent.string());
    return;
  }
  std::error_code ec;  // removing the old dataset: what is left, the next prepare removes
  if (exchange_directories(work, t.out)) {
    fsync_directory(t.parent.string());
    fs::remove_all(work, ec);  // now the old dataset
    return;
  }
  const fs::path old = t.parent / (t.base + kReplaced + std::to_string(::getpid()));
  rename_or_throw(t.out, old);
  if (::rename(work.c_str(), t.out.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::rename(old.c_str(), t.out.c_str());  // the old dataset back in place
    throw UserError("cannot move the new dataset '" + work.string() + "' into place at '" +
                    t.out.string() + "': " + why);
  }
  fsync_directory(t.parent.string());
  fs::remove_all(old, ec);
}

// Removes the work directory unless the dataset in it was installed.
class WorkDir {
 public:
  explicit WorkDir(fs::path path) : path_(std::move(path)) {
    std::error_code ec;
    fs::remove_all(path_, ec);  // this pid's: a leftover from a killed run that had the same pid
    if (!ec) fs::create_directories(path_, ec);
    if (ec)
      throw UserError("cannot create the work directory '" + path_.string() +
                      "': " + ec.message() + " (check that its parent is writable)");
  }
  ~WorkDir() {
    std::error_code ec;
    if (!installed_) fs::remove_all(path_, ec);
  }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  const fs::path& path() const { return path_; }
  void installed() { installed_ = true; }

 private:
  fs::path path_;
  bool installed_ = false;
};

}  // namespace

PrepareResult prepare_dataset(const PrepareOptions& o) {
  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(o.tokenizer_spec);
  return prepare_dataset(o, *tokenizer);
}

PrepareResult prepare_dataset(const PrepareOptions& o, const Tokenizer& tok) {
  const Tokenizer* tokenizer = &tok;
  if (o.out_dir.empty()) throw UserError("anetrain data prepare: --out DIR is required");
  if (!std::isfinite(o.val_fraction) || o.val_fraction < 0 || o.val_fraction >= 1) {
    char given[32];
    std::snprintf(given, sizeof given, "%g", o.val_fraction);
    throw UserError(std::string("--val-fraction ") + given +
                    " is not a number in [0, 1): pass e.g. 0.05, or 0 for no validation split");
  }
  if (o.shard_tokens < 1024) throw UserError("--shard-tokens must be at least 1024");
  if (tokenizer->vocab_size() > 65536)
    throw UserError("tokenizer '" + tokenizer->spec() + "' has " +
                    std::to_string(tokenizer->vocab_size()) +
                    " tokens, more than llm.c's uint16 shards can hold (65536)");
  DocumentStream docs(o.inputs, o.text_field);
  // Read before anything changes: the tokenizer given may be an earlier copy in out_dir.
  const TokenizerFiles tokenizer_files = read_tokenizer_files(*tokenizer);

  // Nothing in --out changes until the new dataset is complete (see install()).
  const Target target = target_of(o.out_dir);
  clean_up_interrupted_runs(target);
  const bool replacing = check_target(o, target);
  WorkDir work(target.parent / (target.base + kPreparing + std::to_string(::getpid())));
  const fs::path out = work.path();
  const fs::path manifest_path = out / "manifest.json";
  tokenizer_files.write_to((out / kTokenizerDir).string());

  const int64_t val_every =
      o.val_fraction > 0 ? std::max<int64_t>(2, std::llround(1.0 / o.val_fraction)) : 0;
  // Until the first validation document arrives, train keeps its whole stream in memory: with
  // fewer documents than val_every, its tail becomes the validation split instead.
  ShardWriter train(out.string(), "train", o.shard_tokens, /*hold=*/val_every > 0),
      val(out.string(), "val", o.shard_tokens, /*hold=*/false);
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
      if (to_val && train.held()) train.release();
      (to_val ? val : train).add(separator, ids);
      ++document_index;
    }
    if (o.progress && elapsed() - last_draw > 0.25) {
      last_draw = elapsed();
      draw_progress(docs, train.tokens() + val.tokens(), last_draw, false);
    }
  }
  if (o.progress) draw_progress(docs, train.tokens() + val.tokens(), elapsed(), true);
  if (document_index == 0)
    throw UserError("no usable documents in the input (skipped: " + docs.skipped().summary() + ")");
  TokenSplit token_split;
  if (val_every > 0 && val.documents() == 0) {
    const std::string input = docs.files().size() == 1
                                  ? docs.files()[0]
                                  : "the input (" + std::to_string(docs.files().size()) + " files)";
    token_split = split_token_stream(train, val, o.val_fraction, *tokenizer, input);
  }
  train.finish();
  val.finish();

  const std::string& note = token_split.note;
  nlohmann::json val_split = {{"by", "none"}};
  if (!note.empty())
    val_split = {{"by", "tokens"},
                 {"fraction", o.val_fraction},
                 {"line_boundary", token_split.line_boundary}};
  else if (val_every > 0)
    val_split = {{"by", "documents"}, {"every", val_every}};
  nlohmann::json shards = train.shards();
  for (const auto& s : val.shards()) shards.push_back(s);
  nlohmann::json manifest = {
      {"format", "anetrain-dataset"},
      {"version", 1},
      {"tokenizer",
       {{"spec", tokenizer_files.spec_in(kTokenizerDir)},
        {"relative_to", "dataset"},
        {"source", tokenizer->spec()},
        {"checksum", tokenizer->checksum()},
        {"vocab_size", tokenizer->vocab_size()},
        {"document_separator", separator}}},
      {"inputs", docs.files()},
      {"text_field", o.text_field},
      {"val_split", val_split},
      {"val_every", note.empty() ? val_every : 0},
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
  install(out, target, replacing);
  work.installed();
  if (!note.empty()) {
    std::printf("%s\n", note.c_str());
    std::fflush(stdout);
  }

  PrepareResult r;
  r.train_tokens = train.tokens();
  r.val_tokens = val.tokens();
  r.train_documents = train.documents();
  r.val_documents = val.documents();
  r.skipped = docs.skipped().total();
  r.bytes = docs.bytes_read();
  r.seconds = elapsed();
  r.val_split_note = note;
  for (const auto& w : docs.warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());
  if (r.skipped > 0)
    std::fprintf(stderr, "skipped documents: %s\n", docs.skipped().summary().c_str());
  return r;
}

}  // namespace anetrain
