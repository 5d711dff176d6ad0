// Two tiers of errors (see docs/DESIGN.md):
//  - UserError: something the user can fix (a flag, a config value, a file). The CLI prints
//    its one-line message and exits nonzero. Messages name the thing and what to do.
//  - ANETRAIN_CHECK: an internal invariant. Failing one is a bug; it aborts with file:line.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace anetrain {

// `text` with its control characters written as escapes (\n, \t, \x01), so a message quoting
// untrusted input (a config key holding a newline) stays on one line.
inline std::string on_one_line(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto byte = static_cast<unsigned char>(ch);
    if (byte >= 0x20 && byte != 0x7f) {
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\t') {
      out += "\\t";
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    }
  }
  return out;
}

class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& message) : std::runtime_error(on_one_line(message)) {}
};

[[noreturn]] inline void check_failed(const char* condition, const char* file, int line,
                                      const std::string& detail) {
  std::fprintf(stderr, "anetrain internal error at %s:%d: check `%s` failed%s%s\n", file, line,
               condition, detail.empty() ? "" : ": ", detail.c_str());
  std::abort();
}

}  // namespace anetrain

#define ANETRAIN_CHECK(cond, ...)                                                               \
  do {                                                                                          \
    if (!(cond)) ::anetrain::check_failed(#cond, __FILE__, __LINE__, std::string{__VA_ARGS__}); \
  } while (0)
