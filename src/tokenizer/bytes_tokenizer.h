// The raw-bytes tokenizer: every byte is its own id (0..255). Id 0, the NUL byte, which text
// does not contain, doubles as the end-of-text separator between documents.
#pragma once

#include "tokenizer/tokenizer.h"

namespace anetrain {

class BytesTokenizer : public Tokenizer {
 public:
  std::string spec() const override { return "bytes"; }
  int vocab_size() const override { return 256; }
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int32_t document_separator() const override { return 0; }
  std::string checksum() const override { return ""; }
};

}  // namespace anetrain
