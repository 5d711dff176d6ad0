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

bool tokenizer_files_exist_at(const std::vector<std::string>& paths) {
  for (const std::string& path : paths) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return false;
  }
  return true;
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
  // Gpt2Tokenizer::load opens these paths.
  for (const std::string& name : copy_names(s.kind)) paths.push_back(s.path + "/" + name);
  if (s.kind == "gpt2" && !tokenizer_files_exist_at(paths)) {
    // Hugging Face's names for the same two files, used when OpenAI's are not both there.
    const std::vector<std::string> hf = {s.path + "/vocab.json", s.path + "/merges.txt"};
    if (tokenizer_files_exist_at(hf)) return hf;
  }
  return paths;
}

bool tokenizer_files_exist(const std::string& spec) {
  return tokenizer_files_exist_at(tokenizer_spec_files(spec));
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
