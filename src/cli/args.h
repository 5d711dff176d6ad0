// A small command-line parser: `--flag value`, `--flag=value`, boolean `--flag`, and repeated
// flags (--set). Every flag must be declared; unknown flags and missing values are UserErrors.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace anetrain {

class Args {
 public:
  // `value_flags` take a value, `bool_flags` do not. args excludes the program and command.
  Args(const std::string& command, const std::vector<std::string>& args,
       const std::vector<std::string>& value_flags, const std::vector<std::string>& bool_flags);

  bool has(const std::string& flag) const;
  std::string get(const std::string& flag, const std::string& fallback = "") const;
  std::string require(const std::string& flag) const;  // UserError if missing
  std::vector<std::string> all(const std::string& flag) const;
  long long get_int(const std::string& flag, long long fallback) const;
  double get_double(const std::string& flag, double fallback) const;

 private:
  std::string command_;
  std::map<std::string, std::vector<std::string>> values_;
};

}  // namespace anetrain
