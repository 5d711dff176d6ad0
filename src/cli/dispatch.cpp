// Finds the command named by the first words of the command line ("train", "tokenizer
// train"), or answers help and version requests, before any flag is parsed: `--help` wins
// over every error in the rest of the line.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/help.h"
#include "core/error.h"

namespace anetrain {
namespace {

std::vector<std::string> split_words(const std::string& name) {
  std::vector<std::string> words;
  size_t start = 0;
  for (size_t space; (space = name.find(' ', start)) != std::string::npos; start = space + 1)
    words.push_back(name.substr(start, space - start));
  words.push_back(name.substr(start));
  return words;
}

// The command whose name the line starts with, and how many words the name took.
const Command* match_command(const std::vector<std::string>& words, size_t* name_words) {
  for (const Command& c : all_commands()) {
    const std::vector<std::string> name = split_words(c.name);
    if (name.size() > words.size()) continue;
    if (std::equal(name.begin(), name.end(), words.begin())) {
      *name_words = name.size();
      return &c;
    }
  }
  return nullptr;
}

// The actions of a group ("tokenizer" -> "train, encode or decode"); "" when not a group.
std::string group_actions(const std::string& group) {
  std::vector<std::string> actions;
  for (const Command& c : all_commands())
    if (c.name.rfind(group + " ", 0) == 0) actions.push_back(c.name.substr(group.size() + 1));
  std::string out;
  for (size_t i = 0; i < actions.size(); ++i)
    out += (i == 0 ? "" : i + 1 == actions.size() ? " or " : ", ") + actions[i];
  return out;
}

int run_help(const std::vector<std::string>& topic) {
  if (topic.empty()) return print_overview(), 0;
  if (topic.size() == 1 && topic[0] == "config") return print_config_help(), 0;
  size_t n = 0;
  if (const Command* c = match_command(topic, &n); c && n == topic.size())
    return print_command_help(*c), 0;
  if (topic.size() == 1 && !group_actions(topic[0]).empty()) return print_group_help(topic[0]), 0;
  std::string joined;
  for (const std::string& w : topic) joined += (joined.empty() ? "" : " ") + w;
  throw UserError("anetrain help: no help topic '" + joined +
                  "': run 'anetrain help' for the commands, 'anetrain help config' for the keys");
}

}  // namespace

int run_cli(const std::vector<std::string>& argv) {
  const std::vector<std::string> words(argv.begin() + std::min<size_t>(1, argv.size()), argv.end());
  if (words.empty()) {
    print_overview();
    return 2;
  }
  const std::string& first = words[0];
  if (first == "help" || first == "--help" || first == "-h")
    return run_help(std::vector<std::string>(words.begin() + 1, words.end()));
  if (first == "--version" || first == "version") return print_version(), 0;

  size_t name_words = 0;
  const Command* command = match_command(words, &name_words);
  if (!command) {
    const std::string actions = group_actions(first);
    if (actions.empty()) throw UserError("unknown command '" + first + "': run 'anetrain help'");
    if (words.size() > 1 && wants_help({words[1]})) return print_group_help(first), 0;
    if (words.size() == 1)
      throw UserError("anetrain " + first + ": expected " + actions + " (run 'anetrain " + first +
                      " --help')");
    throw UserError("anetrain " + first + ": unknown action '" + words[1] + "': use " + actions);
  }
  const std::vector<std::string> rest(words.begin() + static_cast<long>(name_words), words.end());
  if (wants_help(rest)) return print_command_help(*command), 0;
  return command->run(Args(*command, rest, argv));
}

}  // namespace anetrain
