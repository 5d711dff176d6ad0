// SHA-256 through OpenSSL EVP (the one-shot SHA256() is deprecated in OpenSSL 3).
#include "io/sha256.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"
#include "io/file_kind.h"

namespace anetrain {
namespace {

struct CtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using CtxPtr = std::unique_ptr<EVP_MD_CTX, CtxDeleter>;

CtxPtr new_sha256_ctx() {
  CtxPtr ctx(EVP_MD_CTX_new());
  ANETRAIN_CHECK(ctx != nullptr, "EVP_MD_CTX_new");
  ANETRAIN_CHECK(EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1, "EVP_DigestInit_ex");
  return ctx;
}

std::string finish_hex(EVP_MD_CTX* ctx) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  ANETRAIN_CHECK(EVP_DigestFinal_ex(ctx, digest, &len) == 1, "EVP_DigestFinal_ex");
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  CtxPtr ctx = new_sha256_ctx();
  ANETRAIN_CHECK(EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size()) == 1, "EVP_DigestUpdate");
  return finish_hex(ctx.get());
}

std::string sha256_file_hex(const std::string& path) {
  // stat() before fopen(): opening a FIFO blocks until a writer appears.
  require_regular_file(path, "", "check the path");
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    throw UserError(path + ": cannot open for reading (" + std::strerror(errno) +
                    "); check that the file exists and is readable");
  }
  CtxPtr ctx = new_sha256_ctx();
  std::vector<char> buf(1 << 20);
  for (;;) {
    size_t n = std::fread(buf.data(), 1, buf.size(), f.get());
    if (n > 0) ANETRAIN_CHECK(EVP_DigestUpdate(ctx.get(), buf.data(), n) == 1, "EVP_DigestUpdate");
    if (n < buf.size()) break;
  }
  // fread on a directory opens fine on Linux but fails here with EISDIR.
  if (std::ferror(f.get())) {
    throw UserError(path + ": read error (" + std::strerror(errno) +
                    "); check that it is a readable regular file");
  }
  return finish_hex(ctx.get());
}

}  // namespace anetrain
