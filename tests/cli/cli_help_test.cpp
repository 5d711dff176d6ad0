// Help where people look for it: every command's --help lists every flag it declares, with
// defaults; `anetrain help config` lists every config key; --version names the GEMM library.
// The declarations (cli/command.h) are read in-process so that a new command or flag is
// covered without editing this file.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/args.h"
#include "cli/command.h"
#include "core/cpu_info.h"
#include "core/error.h"
#include "core/vector_clones.h"
#include "model/config.h"
#include "support/test_util.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

std::vector<std::string> words_of(const std::string& name) {
  std::istringstream in(name);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

int count_lines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

TEST(CliHelp, EveryCommandsHelpListsEveryFlagWithItsDefault) {
  ASSERT_GE(all_commands().size(), 11u);
  for (const Command& c : all_commands()) {
    for (const std::string& form : {"--help", "-h"}) {
      std::vector<std::string> argv = words_of(c.name);
      argv.push_back(form);
      const CommandResult r = run_anetrain(argv);
      EXPECT_EQ(r.exit_code, 0) << c.name << " " << form << ": " << r.err;
      EXPECT_EQ(r.out.rfind("usage: anetrain " + c.name, 0), 0u) << r.out;
      EXPECT_TRUE(r.err.empty()) << r.err;
      for (const Flag& f : c.flags) {
        EXPECT_NE(r.out.find("--" + f.name), std::string::npos) << c.name << " --" << f.name;
        if (!f.default_value.empty())
          EXPECT_NE(r.out.find("[default: " + f.default_value + "]"), std::string::npos)
              << c.name << " --" << f.name << "\n"
              << r.out;
      }
    }
  }
}

TEST(CliHelp, HelpWinsOverOtherErrorsOnTheLine) {
  const CommandResult r = run_anetrain({"train", "--stpes", "3", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("--steps N"), std::string::npos);
}

TEST(CliHelp, HelpCommandAndGroupsAndOverview) {
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{"help"}, {"--help"}, {"-h"}}) {
    const CommandResult r = run_anetrain(argv);
    EXPECT_EQ(r.exit_code, 0);
    for (const Command& c : all_commands())
      EXPECT_NE(r.out.find("  " + c.name + " "), std::string::npos) << c.name;
  }
  const CommandResult bare = run_anetrain({});
  EXPECT_EQ(bare.exit_code, 2);  // no command: the overview, but not success
  EXPECT_NE(bare.out.find("commands:"), std::string::npos);

  const CommandResult help_train = run_anetrain({"help", "train"});
  EXPECT_EQ(help_train.exit_code, 0);
  EXPECT_EQ(help_train.out, run_anetrain({"train", "--help"}).out);
  EXPECT_EQ(run_anetrain({"help", "tokenizer", "train"}).out,
            run_anetrain({"tokenizer", "train", "--help"}).out);

  for (const std::string group : {"tokenizer", "data", "ane"}) {
    const CommandResult r = run_anetrain({group, "--help"});
    EXPECT_EQ(r.exit_code, 0) << group;
    EXPECT_EQ(r.out, run_anetrain({"help", group}).out);
    for (const Command& c : all_commands())
      if (c.name.rfind(group + " ", 0) == 0)
        EXPECT_NE(r.out.find("  " + c.name.substr(group.size() + 1) + " "), std::string::npos)
            << c.name;
  }
}

TEST(CliHelp, HelpConfigListsEveryKeyWithItsDefaultAndThePresets) {
  const CommandResult r = run_anetrain({"help", "config"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Every key that a config JSON holds is documented, with the default it really has.
  // Keys added after checkpoints existed are left out while at their default.
  const nlohmann::json defaults = config_to_json(RunConfig{});
  const auto keys = config_keys();
  const size_t later = static_cast<size_t>(std::count_if(
      keys.begin(), keys.end(), [](const ConfigKey& key) { return !key.written_at_default; }));
  EXPECT_EQ(keys.size() + 1, defaults.size() + later);  // + "preset"
  for (const ConfigKey& key : keys) {
    ASSERT_EQ(defaults.contains(key.key), key.written_at_default) << key.key;
    EXPECT_FALSE(key.meaning.empty()) << key.key;
    std::istringstream lines(r.out);
    bool listed = false;
    for (std::string line; std::getline(lines, line);) {
      std::istringstream fields(line);
      std::string name, type, printed;
      fields >> name >> type >> printed;
      if (name != key.key) continue;
      listed = true;
      EXPECT_EQ(type, key.type) << key.key;
      // The printed default, applied as an override, gives the real default back.
      RunConfig c;
      apply_override(c, key.key + "=" + printed);
      EXPECT_EQ(config_to_json(c).value(key.key, nlohmann::json()),
                defaults.value(key.key, nlohmann::json()))
          << key.key << "=" << printed;
    }
    EXPECT_TRUE(listed) << key.key << "\n" << r.out;
  }
  for (const std::string& preset : preset_names())
    EXPECT_NE(r.out.find("\n" + preset + " "), std::string::npos) << preset;
}

TEST(CliHelp, VersionNamesTheGemmLibraryAndIsa) {
  for (const std::string form : {"--version", "version"}) {
    const CommandResult r = run_anetrain({form});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out.rfind("anetrain ", 0), 0u) << r.out;
#if defined(__APPLE__)
    EXPECT_NE(r.out.find("Accelerate"), std::string::npos) << r.out;
#else
    EXPECT_NE(r.out.find("GEMM library: oneDNN "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("OpenBLAS"), std::string::npos) << r.out;
#endif
    EXPECT_NE(r.out.find("built for:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("this CPU:"), std::string::npos) << r.out;
    // Where the build carries AVX-512 versions of its width-sensitive loops, --version says
    // so and which versions this CPU runs (core/vector_clones.h).
    if (!std::string(ANETRAIN_AVX512_CLONES_NOTE).empty()) {
      EXPECT_NE(r.out.find(ANETRAIN_AVX512_CLONES_NOTE), std::string::npos) << r.out;
      EXPECT_NE(r.out.find(cpu_runs_avx512_clones() ? "the AVX-512 versions run"
                                                    : "the AVX2 versions run"),
                std::string::npos)
          << r.out;
    }
  }
}

TEST(CliHelp, ErrorsStayOneLineAndPointAtTheCommandsHelp) {
  struct Case {
    std::vector<std::string> argv;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {{"sample", "--checkpint", "x"}, "(run 'anetrain sample --help')"},
           {{"tokenizer"}, "expected train, encode or decode"},
           {{"tokenizer", "trian"}, "unknown action 'trian': use train, encode or decode"},
           {{"ane", "lint"}, "anetrain ane lint: expected FILE.mil"},
           {{"ane", "lint", "a.mil", "b.mil"}, "unexpected argument 'b.mil'"},
           {{"data", "prepare", "--out", "x"}, "--tokenizer is required"},
           {{"help", "nothing"}, "no help topic 'nothing'"},
           {{"probe", "--runs"}, "--runs needs a value"},
           {{"bench", "--config", "tiny", "--json=yes"}, "--json takes no value"},
       }) {
    const CommandResult r = run_anetrain(c.argv);
    EXPECT_EQ(r.exit_code, 1) << c.argv[0] << ": " << r.err;
    EXPECT_NE(r.err.find(c.expected), std::string::npos) << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
  }
}

// In-process: the parser gives declared defaults, and reading an undeclared flag is a bug
// that fails loudly rather than returning "".
TEST(CliArgs, DefaultsComeFromTheDeclarationAndUndeclaredReadsThrow) {
  const Command command{.name = "demo",
                        .flags = {{.name = "n", .value = "N", .default_value = "7", .help = "n"},
                                  {.name = "x", .value = "X", .help = "x"},
                                  {.name = "on", .help = "a switch"}}};
  const Args defaults(command, {});
  EXPECT_EQ(defaults.get_int("n"), 7);
  EXPECT_FALSE(defaults.has("n"));
  EXPECT_EQ(defaults.get("x"), "");
  EXPECT_THROW(defaults.get_int("x"), std::logic_error);
  EXPECT_THROW(defaults.get("undeclared"), std::logic_error);
  EXPECT_THROW(defaults.has("undeclared"), std::logic_error);

  const Args given(command, {"--n=3", "--x", "2.5", "--on"});
  EXPECT_EQ(given.get_int("n"), 3);
  EXPECT_DOUBLE_EQ(given.get_double("x"), 2.5);
  EXPECT_TRUE(given.has("on"));
  EXPECT_THROW(Args(command, {"--n", "seven"}).get_int("n"), UserError);
}

}  // namespace
}  // namespace anetrain
