#include "cli/args.h"

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "core/error.h"

namespace anetrain {
namespace {

const Flag* find_flag(const Command& command, const std::string& name) {
  for (const Flag& f : command.flags)
    if (f.name == name) return &f;
  return nullptr;
}

}  // namespace

bool wants_help(const std::vector<std::string>& argv) {
  return std::any_of(argv.begin(), argv.end(),
                     [](const std::string& a) { return a == "--help" || a == "-h"; });
}

Args::Args(const Command& command, const std::vector<std::string>& argv,
           std::vector<std::string> invocation)
    : command_(command), invocation_(std::move(invocation)) {
  const std::string who = "anetrain " + command.name;
  const std::string see = " (run '" + who + " --help')";
  bool operand_given = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      if (command.operand.empty() || operand_given)
        throw UserError(who + ": unexpected argument '" + arg + "'" + see);
      operand_ = arg;
      operand_given = true;
      continue;
    }
    std::string name = arg.substr(2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    const Flag* flag = find_flag(command, name);
    if (!flag) throw UserError(who + ": unknown flag '--" + name + "'" + see);
    if (flag->value.empty()) {
      if (inline_value) throw UserError(who + ": --" + name + " takes no value");
      value = "true";
    } else if (!inline_value) {
      if (i + 1 >= argv.size()) throw UserError(who + ": --" + name + " needs a value");
      value = argv[++i];
    }
    std::vector<std::string>& given = values_[name];
    if (!given.empty() && !flag->repeated)
      throw UserError(who + ": --" + name + " is given twice ('" + given.back() + "' and '" +
                      value + "'): give it once" + see);
    given.push_back(value);
  }
  if (!command.operand.empty() && !operand_given)
    throw UserError(who + ": expected " + command.operand + see);
  for (const Flag& f : command.flags)
    if (f.required && !has(f.name)) throw UserError(who + ": --" + f.name + " is required" + see);
}

const Flag& Args::declared(const std::string& flag) const {
  const Flag* f = find_flag(command_, flag);
  if (!f)
    throw std::logic_error("anetrain " + command_.name + " reads --" + flag +
                           ", which its declaration lacks");
  return *f;
}

bool Args::has(const std::string& flag) const {
  declared(flag);
  return values_.count(flag) > 0;
}

std::string Args::get(const std::string& flag) const {
  const Flag& f = declared(flag);
  auto it = values_.find(flag);
  return it == values_.end() ? f.default_value : it->second.back();
}

std::vector<std::string> Args::all(const std::string& flag) const {
  declared(flag);
  auto it = values_.find(flag);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::string Args::number_text(const std::string& flag) const {
  std::string text = get(flag);
  if (text.empty() && !has(flag))
    throw std::logic_error("anetrain " + command_.name + ": --" + flag +
                           " has no default; check has() first");
  return text;
}

long long Args::get_int(const std::string& flag) const {
  const std::string text = number_text(flag);
  long long value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty())
    throw UserError("anetrain " + command_.name + ": --" + flag + " expects an integer, got '" +
                    text + "'");
  return value;
}

double Args::get_double(const std::string& flag) const {
  const std::string text = number_text(flag);
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty())
    throw UserError("anetrain " + command_.name + ": --" + flag + " expects a number, got '" +
                    text + "'");
  return value;
}

}  // namespace anetrain
