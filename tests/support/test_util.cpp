#include "support/test_util.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "backends/cpu/cpu_backend.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "data/token_shard.h"
#include "data/tokenizer_training.h"
#include "model/config.h"
#include "train/transformer.h"

extern char** environ;

namespace anetrain::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "anetrain-test-XXXXXX").string();
  char* made = mkdtemp(pattern.data());
  if (!made) std::abort();
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::vector<int32_t> pattern_tokens(int64_t count, int vocab_size, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> perm(vocab_size);
  for (int i = 0; i < vocab_size; ++i) perm[i] = i;
  for (int i = vocab_size - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);
  std::vector<int32_t> tokens(count);
  int64_t pos = rng.below(vocab_size);
  for (int64_t i = 0; i < count; ++i) {
    // Mostly deterministic successor, sometimes a jump: learnable but not trivial.
    if (rng.uniform() < 0.05) pos = rng.below(vocab_size);
    tokens[i] = perm[pos % vocab_size];
    ++pos;
  }
  return tokens;
}

void write_shard(const std::string& path, const std::vector<int32_t>& tokens) {
  write_token_shard(path, tokens);
}

std::string english_lines(int lines, uint64_t seed) {
  static const char* const kWords[] = {"the",   "whale",   "ship",   "sea",  "captain", "harpoon",
                                       "white", "deep",    "sailor", "boat", "wind",    "storm",
                                       "night", "morning", "said",   "and",  "of",      "to",
                                       "in",    "was",     "his",    "with", "a",       "Ishmael"};
  constexpr int kCount = sizeof kWords / sizeof kWords[0];
  Rng rng(seed);
  std::string text;
  for (int line = 0; line < lines; ++line) {
    const int words = 3 + static_cast<int>(rng.below(12));
    for (int w = 0; w < words; ++w) {
      text += kWords[rng.below(kCount)];
      text += w + 1 == words ? ".\n" : " ";
    }
  }
  return text;
}

void train_small_sentencepiece(const std::string& text_path, const std::string& model_path) {
  SentencePieceTrainOptions o;
  o.inputs = {text_path};
  o.out_path = model_path;
  o.vocab_size = 300;
  train_sentencepiece(o);
}

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> anetrain_argv(const std::vector<std::string>& args) {
  std::vector<std::string> full = {ANETRAIN_BINARY};
  full.insert(full.end(), args.begin(), args.end());
  return full;
}

// Starts full[0] (found on PATH when it has no slash) with full[1...].
int spawn_argv(std::vector<std::string> full, const std::string& out_path,
               const std::string& err_path, const std::string& cwd = "") {
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // The CLI never waits on a terminal in tests.
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());  // after the opens
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

int spawn(const std::vector<std::string>& args, const std::string& out_path,
          const std::string& err_path, const std::string& cwd = "") {
  return spawn_argv(anetrain_argv(args), out_path, err_path, cwd);
}

}  // namespace

std::vector<double> metrics_losses(const std::string& metrics_path) {
  std::vector<double> out;
  std::ifstream in(metrics_path);
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json record = nlohmann::json::parse(line);
    if (record.contains("loss")) out.push_back(record["loss"].get<double>());
  }
  return out;
}

CommandResult run_anetrain(const std::vector<std::string>& args) {
  return run_anetrain_in("", args);
}

CommandResult run_anetrain_in(const std::string& cwd, const std::vector<std::string>& args) {
  TempDir io;
  const std::string out = io.file("stdout"), err = io.file("stderr");
  CommandResult result;
  pid_t pid = spawn(args, out, err, cwd);
  if (pid < 0) return result;
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = slurp(out);
  result.err = slurp(err);
  return result;
}

CommandResult run_anetrain_within(double seconds, const std::vector<std::string>& args) {
  return run_program_within(seconds, anetrain_argv(args));
}

CommandResult run_program_within(double seconds, const std::vector<std::string>& argv) {
  TempDir io;
  const std::string out = io.file("stdout"), err = io.file("stderr");
  CommandResult result;
  pid_t pid = spawn_argv(argv, out, err);
  if (pid < 0) return result;
  int status = 0;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      result.timed_out = true;
      break;
    }
    usleep(10'000);
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = slurp(out);
  result.err = slurp(err);
  return result;
}

int spawn_program(const std::vector<std::string>& argv, const std::string& out_path,
                  const std::string& err_path) {
  return spawn_argv(argv, out_path, err_path);
}

std::string anetrain_binary() { return ANETRAIN_BINARY; }

int spawn_anetrain(const std::vector<std::string>& args) {
  return spawn(args, "/dev/null", "/dev/null");
}

int spawn_anetrain(const std::vector<std::string>& args, const std::string& out_path,
                   const std::string& err_path) {
  return spawn(args, out_path, err_path);
}

std::string read_bytes(const std::string& path) { return slurp(path); }

std::string source_dir() { return ANETRAIN_SOURCE_DIR; }

std::vector<float> random_normal(uint64_t seed, int64_t n, double std) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.normal() * std);
  return v;
}

std::string user_error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no UserError)";
}

std::vector<float> cpu_logits(const ModelConfig& config, const std::vector<float>& params,
                              const std::vector<int32_t>& tokens) {
  init_thread_pool();
  cpu::CpuBackend backend;
  const int64_t T = static_cast<int64_t>(tokens.size());
  Transformer model(config, backend, 1, T, false, false);
  model.forward(params.data(), tokens.data(), nullptr);
  return std::vector<float>(model.logits(), model.logits() + T * config.vocab_size);
}

Bf16Scope::Bf16Scope() {
#if defined(__x86_64__)
  emulated_ = !__builtin_cpu_supports("avx512bf16");
#else
  emulated_ = true;
#endif
  try {
    if (emulated_) emulate_bf16_products(true);
    set_gemm_precision(GemmPrecision::kBf16);
    available_ = true;
  } catch (const UserError&) {
    available_ = false;
  }
}

Bf16Scope::~Bf16Scope() {
  set_gemm_precision(GemmPrecision::kFp32);
  if (emulated_ && available_) emulate_bf16_products(false);
}

}  // namespace anetrain::testing
