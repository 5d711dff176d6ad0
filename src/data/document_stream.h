// Streams documents out of a corpus without holding it in memory:
//   *.jsonl / *.json   one JSON object per line; its text field (default "text") is a document
//   any other file     plain text: the whole file is one document, except that files over
//                      4 MB are cut at paragraph breaks into ~1 MB documents
//   a directory        every regular file below it, in byte-wise sorted path order
// Bad input is skipped and counted rather than fatal, because large corpora always hold some:
// empty documents, invalid UTF-8, binary files (a NUL byte in the first 8 KB), JSON lines that
// do not parse or lack the field. A missing input path is an error.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace anetrain {

// True if bytes are well-formed UTF-8 (no overlongs, surrogates or values above U+10FFFF).
bool is_valid_utf8(std::string_view bytes);

struct SkipCounts {
  int64_t empty = 0, invalid_utf8 = 0, binary_files = 0, bad_json = 0, missing_field = 0;
  int64_t total() const { return empty + invalid_utf8 + binary_files + bad_json + missing_field; }
  std::string summary() const;  // "3 empty, 1 invalid UTF-8, ..." or "none"
};

class DocumentStream {
 public:
  DocumentStream(const std::vector<std::string>& inputs, std::string text_field = "text");
  ~DocumentStream();
  DocumentStream(const DocumentStream&) = delete;
  DocumentStream& operator=(const DocumentStream&) = delete;

  // The next document's text; false when the corpus is exhausted.
  bool next(std::string& text);

  int64_t bytes_read() const { return bytes_read_; }
  int64_t total_bytes() const { return total_bytes_; }
  const SkipCounts& skipped() const { return skipped_; }
  const std::vector<std::string>& files() const { return files_; }
  // First few warnings ("FILE:LINE: not JSON"), for the user to inspect.
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  bool open_next_file();
  bool next_from_jsonl(std::string& text);
  bool next_from_text(std::string& text);
  void warn(const std::string& message);

  std::vector<std::string> files_;
  std::string text_field_;
  size_t next_file_ = 0;
  std::FILE* file_ = nullptr;
  std::string current_path_;
  bool current_is_jsonl_ = false;
  int64_t line_number_ = 0;
  int64_t bytes_read_ = 0, total_bytes_ = 0;
  SkipCounts skipped_;
  std::vector<std::string> warnings_;
  bool cut_into_pieces_ = false;  // a large plain-text file, emitted in ~1 MB pieces
  bool pending_done_ = false;     // a small plain-text file has been emitted
  std::string pending_;           // plain text read ahead of the current cut point
};

}  // namespace anetrain
