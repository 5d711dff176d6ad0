// The command-line parser: `--flag value`, `--flag=value`, switches, repeated flags (--set)
// and at most one positional operand, all checked against the command's declaration
// (cli/command.h). Unknown flags, missing values and missing required flags are UserErrors
// that point at `anetrain CMD --help`. Reading a flag the command did not declare is a
// programming error (std::logic_error), so a flag cannot be used without being documented.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cli/command.h"

namespace anetrain {

class Args {
 public:
  // argv: what follows the command's name. invocation: the whole command line (the static
  // ANE pipeline exec()s it again).
  Args(const Command& command, const std::vector<std::string>& argv,
       std::vector<std::string> invocation = {});

  bool has(const std::string& flag) const;  // given on the command line
  // The last value given, else the declared default ("" when it has none).
  std::string get(const std::string& flag) const;
  std::vector<std::string> all(const std::string& flag) const;  // every value given, in order
  // get() parsed; a UserError names the flag when the text is not a number. A flag with no
  // value and no default is a logic_error: check has() first.
  long long get_int(const std::string& flag) const;
  double get_double(const std::string& flag) const;
  const std::string& operand() const { return operand_; }
  const std::vector<std::string>& invocation() const { return invocation_; }

 private:
  const Flag& declared(const std::string& flag) const;
  std::string number_text(const std::string& flag) const;

  const Command& command_;
  std::map<std::string, std::vector<std::string>> values_;
  std::string operand_;
  std::vector<std::string> invocation_;
};

// True when argv asks for help (-h or --help anywhere): help wins over every other error.
bool wants_help(const std::vector<std::string>& argv);

}  // namespace anetrain
