// SHA-256 digests as lowercase hex, via OpenSSL's EVP interface. Used to fingerprint tokenizer
// files (so data, checkpoints and tokenizers can be matched) and to verify downloaded files.
#pragma once

#include <string>
#include <string_view>

namespace anetrain {

// sha256 of `bytes`, 64 lowercase hex characters.
std::string sha256_hex(std::string_view bytes);

// sha256 of a file's contents, read in chunks so large files need no extra memory. Throws
// UserError naming the path if the file is missing or unreadable.
std::string sha256_file_hex(const std::string& path);

}  // namespace anetrain
