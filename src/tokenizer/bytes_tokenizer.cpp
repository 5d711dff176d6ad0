#include "tokenizer/bytes_tokenizer.h"

#include "core/error.h"

namespace anetrain {

std::vector<int32_t> BytesTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids(text.size());
  for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
  return ids;
}

std::string BytesTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  out.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || id > 255)
      throw UserError("token id " + std::to_string(id) + " is outside the bytes vocabulary (256)");
    if (id != 0) out.push_back(static_cast<char>(id));  // 0 separates documents
  }
  return out;
}

}  // namespace anetrain
