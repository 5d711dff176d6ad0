#include "tokenizer/tokenizer_files.h"

#include <filesystem>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/sha256.h"
#include "tokenizer/tokenizer.h"

namespace anetrain {
namespace fs = std::filesystem;

namespace {

struct SplitSpec {
  std::string kind, path;  // path: the .model file (sp) or the directory (gpt2); "" for bytes
};

SplitSpec split_spec(const std::string& spec) {
  if (spec == "bytes") return {"bytes", ""};
  for (const char* kind : {"sp", "gpt2"}) {
    const std::string prefix = std::string(kind) + ":";
    if (spec.starts_with(prefix)) return {kind, spec.substr(prefix.size())};
  }
  throw UserError("tokenizer spec '" + spec +
                  "' is of no kind whose files anetrain can keep: use bytes, sp:PATH.model or "
                  "gpt2:DIR");
}

// The names the files of a kind are copied under, in the order tokenizer_spec_files() lists
// the originals.
std::vector<std::string> copy_names(const std::string& kind) {
  if (kind == "sp") return {"tokenizer.model"};
  if (kind == "gpt2") return {"encoder.json", "vocab.bpe"};
  return {};
}

}  // namespace

std::string TokenizerFiles::spec_in(const std::string& dir) const {
  if (kind == "sp") return "sp:" + (fs::path(dir) / "tokenizer.model").string();
  if (kind == "gpt2") return "gpt2:" + (dir.empty() ? std::string(".") : dir);
  return kind;
}

void TokenizerFiles::write_to(const std::string& dir) const {
  if (files.empty()) return;
  fs::create_directories(dir);
  for (const auto& [name, contents] : files)
    write_file_atomic((fs::path(dir) / name).string(), contents.data(), contents.size());
}

std::vector<std::string> tokenizer_spec_files(const std::string& spec) {
  const SplitSpec s = split_spec(spec);
  if (s.kind == "sp") return {s.path};
  std::vector<std::string> paths;
  // The same joining as Gpt2Tokenizer::load, so the paths are the ones it opens.
  for (const std::string& name : copy_names(s.kind)) paths.push_back(s.path + "/" + name);
  return paths;
}

bool tokenizer_files_exist(const std::string& spec) {
  for (const std::string& path : tokenizer_spec_files(spec)) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return false;
  }
  return true;
}

std::string resolve_tokenizer_spec(const std::string& spec, const std::string& base) {
  const SplitSpec s = split_spec(spec);
  if (s.kind == "bytes" || fs::path(s.path).is_absolute()) return spec;
  fs::path joined = (fs::path(base) / s.path).lexically_normal();
  if (!joined.has_filename() && joined.has_parent_path()) joined = joined.parent_path();  // "D/"
  return s.kind + ":" + joined.string();
}

std::string tokenizer_files_checksum(const std::vector<std::string_view>& contents) {
  if (contents.empty()) return "";
  if (contents.size() == 1) return sha256_hex(contents[0]);
  std::string digests;
  for (std::string_view c : contents) digests += sha256_hex(c);
  return sha256_hex(digests);
}

TokenizerFiles read_tokenizer_files(const Tokenizer& tokenizer) {
  const std::string spec = tokenizer.spec();
  TokenizerFiles out;
  out.kind = split_spec(spec).kind;
  const std::vector<std::string> paths = tokenizer_spec_files(spec);
  const std::vector<std::string> names = copy_names(out.kind);
  std::vector<std::string_view> contents;
  for (size_t i = 0; i < paths.size(); ++i) out.files.emplace_back(names[i], read_file(paths[i]));
  for (const auto& file : out.files) contents.push_back(file.second);
  out.checksum = tokenizer_files_checksum(contents);
  if (out.checksum != tokenizer.checksum())
    throw UserError("tokenizer '" + spec +
                    "' changed on disk while anetrain was using it (its checksum differs from "
                    "when it was loaded): run the command again");
  return out;
}

}  // namespace anetrain
