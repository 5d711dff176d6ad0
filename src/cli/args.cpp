#include "cli/args.h"

#include <algorithm>
#include <charconv>

#include "core/error.h"

namespace anetrain {

Args::Args(const std::string& command, const std::vector<std::string>& args,
           const std::vector<std::string>& value_flags,
           const std::vector<std::string>& bool_flags)
    : command_(command) {
  auto contains = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg.rfind("--", 0) != 0)
      throw UserError("anetrain " + command_ + ": unexpected argument '" + arg +
                      "' (run 'anetrain help')");
    std::string name = arg.substr(2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    if (contains(bool_flags, name)) {
      if (inline_value)
        throw UserError("anetrain " + command_ + ": --" + name + " takes no value");
      values_[name].push_back("true");
    } else if (contains(value_flags, name)) {
      if (!inline_value) {
        if (i + 1 >= args.size())
          throw UserError("anetrain " + command_ + ": --" + name + " needs a value");
        value = args[++i];
      }
      values_[name].push_back(value);
    } else {
      throw UserError("anetrain " + command_ + ": unknown flag '--" + name +
                      "' (run 'anetrain help')");
    }
  }
}

bool Args::has(const std::string& flag) const { return values_.count(flag) > 0; }

std::string Args::get(const std::string& flag, const std::string& fallback) const {
  auto it = values_.find(flag);
  return it == values_.end() ? fallback : it->second.back();
}

std::string Args::require(const std::string& flag) const {
  if (!has(flag))
    throw UserError("anetrain " + command_ + ": --" + flag + " is required (run 'anetrain help')");
  return get(flag);
}

std::vector<std::string> Args::all(const std::string& flag) const {
  auto it = values_.find(flag);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

long long Args::get_int(const std::string& flag, long long fallback) const {
  if (!has(flag)) return fallback;
  const std::string text = get(flag);
  long long value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty())
    throw UserError("anetrain " + command_ + ": --" + flag + " expects an integer, got '" +
                    text + "'");
  return value;
}

double Args::get_double(const std::string& flag, double fallback) const {
  if (!has(flag)) return fallback;
  const std::string text = get(flag);
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty())
    throw UserError("anetrain " + command_ + ": --" + flag + " expects a number, got '" + text +
                    "'");
  return value;
}

}  // namespace anetrain
