// How a subcommand declares itself: its name, one line on what it does, every flag with its
// default and meaning, and the function that runs it. The parser (cli/args.h), `CMD --help`
// and `anetrain help` all read this one declaration, so the help cannot drift from what a
// command accepts, and a default is written down once.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace anetrain {

class Args;

struct Flag {
  std::string name;           // without the leading "--"
  std::string value;          // placeholder shown in help ("N", "PATH"); "" for a switch
  std::string default_value;  // what Args::get() returns when the flag is absent; "" for none
  std::string help;           // what it does; a default that depends on something else says so
  bool required = false;
  bool repeated = false;  // may be given more than once (Args::all())
};

struct Command {
  std::string name;     // "train", "tokenizer train": the words after "anetrain"
  std::string summary;  // one line, for the command list
  std::string operand;  // a positional operand ("FILE.mil"), "" when the command takes none
  std::vector<Flag> flags;
  std::string notes;  // further paragraphs for --help, "" when none
  std::function<int(const Args&)> run;
};

// Every command, in the order `anetrain help` lists them (cli/command_table.cpp).
const std::vector<Command>& all_commands();

}  // namespace anetrain
