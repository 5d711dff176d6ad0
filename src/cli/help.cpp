#include "cli/help.h"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <vector>

#include "core/cpu_info.h"
#include "core/gemm.h"
#include "model/config.h"

namespace anetrain {
namespace {

constexpr int kWidth = 100;

// Prints `left` in a column of `indent` characters, then `text` wrapped to kWidth with
// continuation lines indented to the same column; `tail` goes last and is never split.
void print_entry(const std::string& left, const std::string& text, size_t indent,
                 const std::string& tail = "") {
  std::string line = left;
  if (line.size() + 1 > indent) {
    std::printf("%s\n", line.c_str());
    line.clear();
  }
  line.resize(indent, ' ');
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string word; in >> word;) words.push_back(word);
  if (!tail.empty()) words.push_back(tail);
  bool first = true;
  for (const std::string& word : words) {
    if (!first && line.size() + 1 + word.size() > kWidth) {
      std::printf("%s\n", line.c_str());
      line.assign(indent, ' ');
      first = true;
    }
    line += (first ? "" : " ") + word;
    first = false;
  }
  std::printf("%s\n", line.c_str());
}

void print_paragraphs(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) std::printf("%s\n", line.c_str());
}

std::string flag_left(const Flag& f) {
  return "  --" + f.name + (f.value.empty() ? "" : " " + f.value);
}

}  // namespace

void print_overview() {
  std::printf(
      "anetrain %s: train Llama-family transformers on the CPU or Apple's Neural Engine\n\n",
      ANETRAIN_VERSION);
  std::printf("usage: anetrain COMMAND [options]      anetrain COMMAND --help: its options\n\n");
  std::printf("commands:\n");
  for (const Command& c : all_commands()) print_entry("  " + c.name, c.summary, 22);
  print_entry("  help config", "every config key for --set and JSON configs, and the presets", 22);
  print_entry("  --version", "version, GEMM library, and the instruction sets built for and found",
              22);
  std::printf(
      "\n"
      "tokenizer SPEC: bytes | sp:PATH.model | gpt2:DIR (encoder.json + vocab.bpe)\n"
      "presets: tiny, stories15M, stories42M, stories110M, layer768 ('anetrain help config')\n"
      "first run: scripts/quickstart.sh; the README shows each step.\n");
}

void print_command_help(const Command& c) {
  std::string usage = "usage: anetrain " + c.name + (c.operand.empty() ? "" : " " + c.operand);
  for (const Flag& f : c.flags)
    if (f.required) usage += " --" + f.name + " " + f.value;
  if (std::any_of(c.flags.begin(), c.flags.end(), [](const Flag& f) { return !f.required; }))
    usage += " [options]";
  std::printf("%s\n%s\n", usage.c_str(), c.summary.c_str());
  std::printf("\noptions:\n");
  for (const Flag& f : c.flags) {
    std::string text = f.help;
    if (f.required) text = "(required) " + text;
    if (f.repeated) text += " (repeatable)";
    print_entry(flag_left(f), text, 30,
                f.default_value.empty() ? "" : "[default: " + f.default_value + "]");
  }
  print_entry("  -h, --help", "print this help and exit", 30);
  if (!c.notes.empty()) {
    std::printf("\n");
    print_paragraphs(c.notes);
  }
}

void print_group_help(const std::string& group) {
  std::printf("usage: anetrain %s ACTION [options]      anetrain %s ACTION --help: its options\n\n",
              group.c_str(), group.c_str());
  std::printf("actions:\n");
  for (const Command& c : all_commands())
    if (c.name.rfind(group + " ", 0) == 0)
      print_entry("  " + c.name.substr(group.size() + 1), c.summary, 22);
}

void print_config_help() {
  std::printf(
      "Config keys: set with --set KEY=VALUE (train, bench, ane emit|check) or as the\n"
      "keys of a JSON config file ({\"preset\": \"tiny\", \"dim\": 128, ...}).\n"
      "Defaults are the built-in ones (the tiny preset); presets change the model keys\n"
      "and batch_size (table below).\n\n");
  std::printf("%-20s %-7s %-10s %s\n", "key", "type", "default", "meaning");
  for (const ConfigKey& k : config_keys())
    print_entry(
        [&] {
          char left[64];
          std::snprintf(left, sizeof(left), "%-20s %-7s %-10s", k.key.c_str(), k.type.c_str(),
                        k.default_value.c_str());
          return std::string(left);
        }(),
        k.meaning, 40);
  std::printf("\n%-12s %5s %10s %8s %7s %10s %6s %7s %10s\n", "preset", "dim", "hidden_dim",
              "n_layers", "n_heads", "n_kv_heads", "vocab", "seq_len", "batch_size");
  for (const std::string& name : preset_names()) {
    const RunConfig c = load_config(name);
    const ModelConfig& m = c.model;
    std::printf("%-12s %5d %10d %8d %7d %10d %6d %7d %10d\n", name.c_str(), m.dim, m.hidden_dim,
                m.n_layers, m.n_heads, m.n_kv_heads, m.vocab_size, m.seq_len, c.train.batch_size);
  }
}

void print_version() {
  std::printf("anetrain %s\n", ANETRAIN_VERSION);
  std::printf("GEMM library: %s\n", gemm_library().c_str());
  std::printf("built for:    %s\n", build_isa().c_str());
  std::printf("this CPU:     %s\n", runtime_isa().c_str());
}

}  // namespace anetrain
