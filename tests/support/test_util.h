// Shared helpers for anetrain's tests: temporary directories, small token shards, and running
// the CLI binary as a user would (exit code, stdout, stderr).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace anetrain {
struct ModelConfig;
}

namespace anetrain::testing {

// The CPU backend's logits [T, V] for one sequence of token ids (T <= seq_len) under params
// laid out by ParamLayout(config): what import/export round trips compare.
std::vector<float> cpu_logits(const ModelConfig& config, const std::vector<float>& params,
                              const std::vector<int32_t>& tokens);

// A fresh empty directory under the test temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A learnable token stream: repeating runs of a fixed random permutation, plus noise.
std::vector<int32_t> pattern_tokens(int64_t count, int vocab_size, uint64_t seed);
void write_shard(const std::string& path, const std::vector<int32_t>& tokens);
// `lines` lines of English-like text (3 to 14 words from a small list, drawn from a fixed
// seed), each ending with ".\n": a stand-in for a plain-text corpus such as input.txt.
std::string english_lines(int lines, uint64_t seed = 1);
// Trains a small (300-piece) SentencePiece model at model_path on the text file text_path.
void train_small_sentencepiece(const std::string& text_path, const std::string& model_path);

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
  bool timed_out = false;  // run_anetrain_within killed it
};
// Runs the anetrain binary with args (no shell); captures output.
CommandResult run_anetrain(const std::vector<std::string>& args);
// The same with `cwd` as its working directory.
CommandResult run_anetrain_in(const std::string& cwd, const std::vector<std::string>& args);
// The same, killed (SIGKILL, timed_out set) if it has not exited after `seconds`: for inputs
// that could make it block forever, such as a FIFO.
CommandResult run_anetrain_within(double seconds, const std::vector<std::string>& args);
// Any program: argv[0] (looked up on PATH without a slash) with argv[1...], killed after
// `seconds` as run_anetrain_within; and the same started in the background.
CommandResult run_program_within(double seconds, const std::vector<std::string>& argv);
int spawn_program(const std::vector<std::string>& argv, const std::string& out_path,
                  const std::string& err_path);
// The anetrain binary's path.
std::string anetrain_binary();
// Starts it in the background and returns the pid (stdout/stderr to /dev/null).
int spawn_anetrain(const std::vector<std::string>& args);
// The same with stdout and stderr written to these files.
int spawn_anetrain(const std::vector<std::string>& args, const std::string& out_path,
                   const std::string& err_path);

// n samples of N(0, std^2) from a fixed seed.
std::vector<float> random_normal(uint64_t seed, int64_t n, double std);

std::string read_bytes(const std::string& path);
// The "loss" of every record in a run's metrics.jsonl, in order.
std::vector<double> metrics_losses(const std::string& metrics_path);
std::string source_dir();

// bf16 mode for one test's scope: on the CPU's bf16 units where it has them, otherwise with
// the products emulated in software (same numerics, gemm.h); back to fp32 afterwards.
// available() is false where neither exists (Accelerate): the test should skip.
class Bf16Scope {
 public:
  Bf16Scope();
  ~Bf16Scope();
  Bf16Scope(const Bf16Scope&) = delete;
  Bf16Scope& operator=(const Bf16Scope&) = delete;
  bool available() const { return available_; }
  // "AVX512-BF16" or "emulated": which one the test ran on, for its messages.
  const char* units() const { return emulated_ ? "emulated" : "AVX512-BF16"; }

 private:
  bool available_ = false, emulated_ = false;
};

// What the UserError that fn throws says, or "(no UserError)" when it throws none.
std::string user_error_of(const std::function<void()>& fn);

}  // namespace anetrain::testing
