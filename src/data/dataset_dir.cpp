#include "data/dataset_dir.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/parallel.h"
#include "data/token_shard.h"
#include "io/atomic_file.h"
#include "io/file_kind.h"
#include "io/json_input.h"
#include "io/sha256.h"
#include "tokenizer/tokenizer_files.h"

namespace anetrain {
namespace fs = std::filesystem;

namespace {

constexpr const char* kPrepareAgain = "prepare the dataset again with 'anetrain data prepare --force'";

// The names training globs in a dataset directory (train_*.bin, val_*.bin).
bool is_shard_name(const std::string& name) {
  return (name.starts_with("train_") || name.starts_with("val_")) && name.ends_with(".bin");
}

bool is_sha256_hex(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string size_text(double bytes) {
  char text[32];
  if (bytes < 1e6)
    std::snprintf(text, sizeof text, "%.1f kB", bytes / 1e3);
  else if (bytes < 1e9)
    std::snprintf(text, sizeof text, "%.1f MB", bytes / 1e6);
  else
    std::snprintf(text, sizeof text, "%.2f GB", bytes / 1e9);
  return text;
}

struct ListedShard {
  int64_t bytes = 0;
  std::string sha256;
};

// Checks the shards in `dir` against the manifest's list: the train_*.bin / val_*.bin files
// there are exactly the listed ones, each a regular file of the listed size, and, when
// `verify_sha256`, each with the listed sha256. Returns the line that says so. Throws UserError
// naming the first file that differs; nlohmann::json errors for a malformed list.
std::string verify_shards(const std::string& dir, const nlohmann::json& shards,
                          bool verify_sha256) {
  const std::string manifest = (fs::path(dir) / "manifest.json").string();
  auto malformed = [&](const std::string& why) {
    return UserError("'" + manifest + "' is not a valid dataset manifest: " + why);
  };
  if (!shards.is_array()) throw malformed("\"shards\" is not a list");
  std::map<std::string, ListedShard> listed;  // by file name, in name order
  for (const auto& shard : shards) {
    const std::string file = shard.at("file").get<std::string>();
    const std::string split = shard.at("split").get<std::string>();
    const int64_t tokens = shard.at("tokens").get<int64_t>();
    const std::string sha = shard.at("sha256").get<std::string>();
    if ((split != "train" && split != "val") || !file.starts_with(split + "_") ||
        !is_shard_name(file) || file.find('/') != std::string::npos)
      throw malformed("shard '" + file + "' of split '" + split +
                      "' is not named <split>_<n>.bin");
    if (tokens < 0 || tokens > std::numeric_limits<int32_t>::max())
      throw malformed("shard '" + file + "' lists " + std::to_string(tokens) + " tokens");
    if (!is_sha256_hex(sha))
      throw malformed("shard '" + file + "' lists a sha256 that is not 64 lowercase hex digits");
    if (!listed.emplace(file, ListedShard{kTokenShardHeaderBytes + 2 * tokens, sha}).second)
      throw malformed("shard '" + file + "' is listed twice");
  }

  // Every listed shard is there, a regular file of the listed size.
  int64_t total_bytes = 0;
  for (const auto& [file, shard] : listed) {
    const std::string path = (fs::path(dir) / file).string();
    require_regular_file(path, "dataset shard",
                         "manifest.json lists it; " + std::string(kPrepareAgain));
    std::error_code ec;
    const auto bytes = static_cast<int64_t>(fs::file_size(path, ec));
    if (ec) throw UserError("cannot read dataset shard '" + path + "': " + ec.message());
    if (bytes != shard.bytes)
      throw UserError("dataset shard '" + path + "' is " + std::to_string(bytes) +
                      " bytes but manifest.json lists " + std::to_string(shard.bytes) +
                      ": it changed after 'data prepare'; " + kPrepareAgain);
    total_bytes += bytes;
  }
  // Nothing else is there that training's train_*.bin / val_*.bin would take.
  std::vector<std::string> present;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (is_shard_name(name)) present.push_back(name);
  }
  std::sort(present.begin(), present.end());
  for (const std::string& name : present)
    if (!listed.contains(name))
      throw UserError("'" + (fs::path(dir) / name).string() +
                      "' is not a shard of the dataset (manifest.json does not list it), but "
                      "training would read it: remove it, or " + kPrepareAgain);

  const std::string what = std::to_string(listed.size()) +
                           (listed.size() == 1 ? " shard (" : " shards (") +
                           size_text(static_cast<double>(total_bytes)) + ")";
  if (!verify_sha256)
    return "dataset '" + dir + "': " + what +
           " match manifest.json by name and size; sha256 not checked (--no-verify)";
  // One shard per core at a time (sha256 itself is sequential), the next taken by whichever
  // worker is free; a problem is reported for the first shard in name order that has one.
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::pair<std::string, ListedShard>> work(listed.begin(), listed.end());
  std::vector<std::string> problems(work.size());
  std::atomic<size_t> next{0};
  init_thread_pool();
  parallel_for(std::min<int64_t>(num_threads(), static_cast<int64_t>(work.size())),
               [&](int64_t, int64_t) {
                 for (size_t i; (i = next++) < work.size();) {
                   const std::string path = (fs::path(dir) / work[i].first).string();
                   try {
                     if (sha256_file_hex(path) != work[i].second.sha256)
                       problems[i] = "dataset shard '" + path +
                                     "' does not match its sha256 in manifest.json: its contents "
                                     "changed after 'data prepare'; " + kPrepareAgain;
                   } catch (const std::exception& e) {  // not across the worker's boundary
                     problems[i] = e.what();
                   }
                 }
               });
  for (const std::string& problem : problems)
    if (!problem.empty()) throw UserError(problem);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char timing[96];
  std::snprintf(timing, sizeof timing, "sha256 verified in %.2f s (%.0f MB/s)", seconds,
                static_cast<double>(total_bytes) / 1e6 / std::max(seconds, 1e-6));
  return "dataset '" + dir + "': " + what + " match manifest.json, " + timing +
         "; --no-verify skips the hash";
}

}  // namespace

bool is_preparing_dir_name(const std::string& name) {
  const std::string marker = ".preparing-";
  const size_t at = name.rfind(marker);
  if (at == std::string::npos || at == 0) return false;
  const std::string pid = name.substr(at + marker.size());
  return !pid.empty() && pid.size() <= 10 &&
         std::all_of(pid.begin(), pid.end(), [](char c) { return c >= '0' && c <= '9'; });
}

DatasetSource resolve_dataset(const std::string& data, const std::string& val,
                              bool verify_sha256) {
  DatasetSource source;
  source.train_glob = data;
  source.val_glob = val;
  // Anything but a directory is a shard or a glob of them: the loader checks each file.
  if (!fs::is_directory(data)) return source;
  fs::path name = fs::path(data).lexically_normal();
  if (!name.has_filename()) name = name.parent_path();  // "dir/" names dir
  if (is_preparing_dir_name(name.filename().string()))
    throw UserError("'" + data +
                    "' is the work directory of an unfinished 'anetrain data prepare': pass "
                    "the dataset directory it was preparing, or prepare it again");
  const fs::path manifest_path = fs::path(data) / "manifest.json";
  if (!fs::exists(manifest_path))
    throw UserError("'" + data +
                    "' is a directory without manifest.json: pass a prepared "
                    "dataset ('anetrain data prepare') or a glob of shards like '" +
                    data + "/*.bin'");
  require_regular_file(manifest_path.string(), "dataset manifest", kPrepareAgain);
  try {
    const auto manifest =
        parse_json(read_file(manifest_path.string()), "'" + manifest_path.native() + "'");
    if (manifest.at("format") != "anetrain-dataset")
      throw UserError("'" + manifest_path.string() + "' is not an anetrain dataset manifest");
    const auto& tok = manifest.at("tokenizer");
    const std::string recorded = tok.at("spec").get<std::string>();
    source.tokenizer_checksum = tok.at("checksum").get<std::string>();
    if (!tok.contains("relative_to")) {
      // Prepared before datasets kept a copy: the spec is relative to where it was prepared.
      source.tokenizer_spec = recorded;
      if (!tokenizer_files_exist(recorded))
        source.tokenizer_problem =
            "dataset '" + data +
            "' names its tokenizer relative to the directory it was "
            "prepared in ('" +
            recorded +
            "', not found from here): run from that directory, "
            "pass --tokenizer SPEC, or prepare the dataset again (datasets now keep a copy of "
            "their tokenizer)";
    } else if (tok.at("relative_to") == "dataset") {
      source.tokenizer_spec = resolve_tokenizer_spec(recorded, data);
      if (!tokenizer_files_exist(source.tokenizer_spec))
        source.tokenizer_problem = "dataset '" + data + "' lacks its copy of the tokenizer ('" +
                                   source.tokenizer_spec +
                                   "' is incomplete): prepare it again with 'anetrain data "
                                   "prepare --force', or pass --tokenizer SPEC";
    } else {
      throw UserError("'" + manifest_path.string() +
                      "' is not a valid dataset manifest: tokenizer.relative_to must be "
                      "\"dataset\"");
    }
    source.tokenizer_vocab_size = tok.at("vocab_size").get<int>();
    source.train_glob = (fs::path(data) / "train_*.bin").string();
    if (val.empty() && manifest.at("tokens").at("val").get<int64_t>() > 0)
      source.val_glob = (fs::path(data) / "val_*.bin").string();
    source.verification = verify_shards(data, manifest.at("shards"), verify_sha256);
  } catch (const nlohmann::json::exception& e) {
    throw UserError("'" + manifest_path.string() +
                    "' is not a valid dataset manifest: " + e.what());
  }
  return source;
}

}  // namespace anetrain
