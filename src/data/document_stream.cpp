#include "data/document_stream.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/file_kind.h"
#include "io/json_input.h"

namespace anetrain {
namespace fs = std::filesystem;

namespace {

constexpr int64_t kWholeFileLimit = 4 << 20;  // plain-text files up to this are one document
constexpr int64_t kPieceTarget = 1 << 20;     // larger ones are cut into pieces of about this
constexpr size_t kMaxWarnings = 5;

bool is_jsonl(const std::string& path) {
  return path.ends_with(".jsonl") || path.ends_with(".json");
}

bool only_whitespace(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
  });
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int extra;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF)
      extra = 1, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
      extra = 2, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
      extra = 3, cp = c & 0x07;
    else
      return false;
    if (i + extra >= n) return false;  // truncated sequence
    for (int k = 1; k <= extra; ++k) {
      const unsigned char cc = s[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += extra + 1;
  }
  return true;
}

std::string SkipCounts::summary() const {
  std::string out;
  auto item = [&](int64_t n, const char* what) {
    if (n) out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + what;
  };
  item(empty, "empty");
  item(invalid_utf8, "invalid UTF-8");
  item(binary_files, "binary files");
  item(bad_json, "JSON lines that do not parse");
  item(missing_field, "JSON records without the text field");
  return out.empty() ? "none" : out;
}

DocumentStream::DocumentStream(const std::vector<std::string>& inputs, std::string text_field)
    : text_field_(std::move(text_field)) {
  if (inputs.empty()) throw UserError("no --input given: pass text files, directories or .jsonl");
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (fs::is_directory(input, ec)) {
      std::vector<std::string> found;
      for (const auto& entry : fs::recursive_directory_iterator(input, ec))
        if (entry.is_regular_file()) found.push_back(entry.path().string());
      std::sort(found.begin(), found.end());
      if (found.empty()) throw UserError("input directory '" + input + "' holds no files");
      files_.insert(files_.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(input, ec)) {
      files_.push_back(input);
    } else {
      // A FIFO or device is refused here, before anything would block reading it.
      const std::string kind = file_kind(input);
      if (kind.empty())
        throw UserError("input '" + input +
                        "' does not exist: check the path (scripts/fetch-corpus.sh fetches "
                        "corpora)");
      throw UserError("input '" + input + "' is not a regular file (it is " + kind +
                      "): pass text files, .jsonl files or directories of them");
    }
  }
  std::error_code ec;
  for (const auto& f : files_) total_bytes_ += static_cast<int64_t>(fs::file_size(f, ec));
}

DocumentStream::~DocumentStream() {
  if (file_) std::fclose(file_);
}

void DocumentStream::warn(const std::string& message) {
  if (warnings_.size() < kMaxWarnings) warnings_.push_back(message);
}

bool DocumentStream::open_next_file() {
  if (file_) std::fclose(file_), file_ = nullptr;
  while (next_file_ < files_.size()) {
    current_path_ = files_[next_file_++];
    file_ = std::fopen(current_path_.c_str(), "rb");
    if (!file_) throw UserError("cannot read '" + current_path_ + "': " + std::strerror(errno));
    // Binary sniffing: text never contains NUL bytes.
    char head[8192];
    const size_t n = std::fread(head, 1, sizeof head, file_);
    if (std::memchr(head, 0, n) != nullptr) {
      ++skipped_.binary_files;
      warn("'" + current_path_ + "' looks binary (NUL bytes); skipped");
      bytes_read_ += static_cast<int64_t>(fs::file_size(current_path_));
      std::fclose(file_), file_ = nullptr;
      continue;
    }
    std::rewind(file_);
    current_is_jsonl_ = is_jsonl(current_path_);
    cut_into_pieces_ =
        !current_is_jsonl_ && static_cast<int64_t>(fs::file_size(current_path_)) > kWholeFileLimit;
    pending_done_ = false;
    line_number_ = 0;
    pending_.clear();
    return true;
  }
  return false;
}

bool DocumentStream::next(std::string& text) {
  for (;;) {
    if (!file_ && !open_next_file()) return false;
    const bool got = current_is_jsonl_ ? next_from_jsonl(text) : next_from_text(text);
    if (!got) {
      std::fclose(file_), file_ = nullptr;
      continue;
    }
    if (only_whitespace(text)) {
      ++skipped_.empty;
      continue;
    }
    if (!is_valid_utf8(text)) {
      ++skipped_.invalid_utf8;
      std::string where = "'" + current_path_ + "'";
      if (current_is_jsonl_) where.append(":").append(std::to_string(line_number_));
      warn(where + ": invalid UTF-8; document skipped");
      continue;
    }
    return true;
  }
}

bool DocumentStream::next_from_jsonl(std::string& text) {
  char* line = nullptr;
  size_t capacity = 0;
  for (;;) {
    const ssize_t n = getline(&line, &capacity, file_);
    if (n < 0) {
      std::free(line);
      return false;
    }
    ++line_number_;
    bytes_read_ += n;
    std::string_view view(line, static_cast<size_t>(n));
    if (only_whitespace(view)) continue;  // blank lines between records are not documents
    auto record = parse_json_or_discarded(view);
    if (record.is_discarded() || !record.is_object()) {
      ++skipped_.bad_json;
      warn("'" + current_path_ + "':" + std::to_string(line_number_) +
           ": not a JSON object; skipped");
      continue;
    }
    auto field = record.find(text_field_);
    if (field == record.end() || !field->is_string()) {
      ++skipped_.missing_field;
      warn("'" + current_path_ + "':" + std::to_string(line_number_) + ": no string field '" +
           text_field_ + "'; skipped");
      continue;
    }
    text = field->get<std::string>();
    std::free(line);
    return true;
  }
}

bool DocumentStream::next_from_text(std::string& text) {
  char buffer[1 << 16];
  if (!cut_into_pieces_) {
    // A small file is one document (an empty one is counted as skipped by next()).
    if (pending_done_) return false;
    pending_done_ = true;
    text.clear();
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, file_)) > 0) text.append(buffer, n);
    bytes_read_ += static_cast<int64_t>(text.size());
    return true;
  }
  // A large file: ~1 MB pieces, each cut after a blank line when there is one (else after a
  // newline, else at a UTF-8 character boundary).
  while (static_cast<int64_t>(pending_.size()) < 2 * kPieceTarget) {
    const size_t n = std::fread(buffer, 1, sizeof buffer, file_);
    if (n == 0) break;
    pending_.append(buffer, n);
    bytes_read_ += static_cast<int64_t>(n);
  }
  if (pending_.empty()) return false;
  size_t cut = pending_.size();
  if (static_cast<int64_t>(pending_.size()) > kPieceTarget) {
    size_t at = pending_.find("\n\n", kPieceTarget);
    if (at != std::string::npos)
      at += 1;  // cut after the blank line, not inside it
    else
      at = pending_.find('\n', kPieceTarget);
    if (at != std::string::npos) {
      cut = at + 1;
    } else {
      cut = kPieceTarget;
      while (cut < pending_.size() && (static_cast<unsigned char>(pending_[cut]) & 0xC0) == 0x80)
        ++cut;
    }
  }
  text.assign(pending_, 0, cut);
  pending_.erase(0, cut);
  return true;
}

}  // namespace anetrain
