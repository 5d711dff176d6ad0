// Data-parallel training as users run it: `mpirun -np 2 anetrain train ...` on this machine
// (one core per rank; --oversubscribe lets the tests run on fewer cores than ranks). Skipped
// only in a build without MPI (scripts/setup.sh installs Open MPI, so CI always runs them).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "dist/communicator.h"
#include "io/safetensors.h"
#include "support/test_util.h"
#include "train/model_source.h"

namespace anetrain {
namespace {
namespace fs = std::filesystem;
using namespace anetrain::testing;
using Clock = std::chrono::steady_clock;

class DataParallel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!built_with_mpi()) GTEST_SKIP() << "built without MPI (run scripts/setup.sh)";
    // Open MPI refuses to start as root without these (containers and CI run as root).
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
#if defined(__SANITIZE_ADDRESS__)
    // Under ASan (scripts/sanitize.sh) the ranks run without leak checking: Open MPI's plugins,
    // unloaded by MPI_Finalize, leave allocations LeakSanitizer can attribute to no module (so
    // no suppression can name them). Memory errors are still fatal; the same code's leaks are
    // checked in the single-process tests.
    const char* asan = std::getenv("ASAN_OPTIONS");
    const std::string options = asan ? asan : "";
    if (options.find("detect_leaks=0") == std::string::npos)
      setenv("ASAN_OPTIONS", (options + ":detect_leaks=0").c_str(), 1);
#endif
    write_shard(dir_.file("train.bin"), pattern_tokens(20000, 512, 3));
    write_shard(dir_.file("val.bin"), pattern_tokens(4000, 512, 4));
  }

  std::vector<std::string> train(const std::string& out, int steps,
                                 std::vector<std::string> extra = {}, int batch = 4) const {
    std::vector<std::string> args = {"train",
                                     "--config",
                                     "tiny",
                                     "--data",
                                     dir_.file("train.bin"),
                                     "--val",
                                     dir_.file("val.bin"),
                                     "--steps",
                                     std::to_string(steps),
                                     "--out",
                                     out,
                                     "--set",
                                     "batch_size=" + std::to_string(batch),
                                     "--set",
                                     "grad_accum=2",
                                     "--set",
                                     "val_every=6",
                                     "--set",
                                     "log_every=1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  static std::vector<std::string> mpirun(int ranks, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"mpirun", "-np", std::to_string(ranks), "--oversubscribe",
                                     anetrain_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  static CommandResult run(const std::vector<std::string>& argv, double seconds = 300) {
    return run_program_within(seconds, argv);
  }
  static std::vector<float> tensor_values(const std::string& file) {
    const SafetensorsFile f = SafetensorsFile::open(file);
    std::vector<float> all;
    for (const std::string& name : f.names()) {
      const std::vector<float> t = f.read_f32(name);
      all.insert(all.end(), t.begin(), t.end());
    }
    return all;
  }
  static double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    double m = 0;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
      m = std::max(m, std::abs(static_cast<double>(a[i]) - b[i]));
    return m;
  }
  static nlohmann::json state_of(const std::string& run) {
    return nlohmann::json::parse(read_bytes(run + "/state.json"));
  }
  static void expect_same_bytes(const std::string& a, const std::string& b) {
    for (const char* f : {"model.safetensors", "optimizer.safetensors"})
      EXPECT_TRUE(read_bytes(a + "/" + f) == read_bytes(b + "/" + f))
          << a << " vs " << b << ": " << f;
  }

  // Two ranks continue the checkpoint at `step` in `out` for `more` steps.
  void expect_two_ranks_resume(const std::string& out, int64_t step, int more,
                               const std::vector<std::string>& extra) const {
    std::vector<std::string> resume = train(out, static_cast<int>(step) + more, extra);
    resume.push_back("--resume");
    const CommandResult r = run(mpirun(2, resume));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(open_model_source(out).step, step + more);
  }

  TempDir dir_;
};

// The same global batch trains the same whatever the number of ranks: two ranks of two rows
// each follow one process of four rows, up to the summation order of the gradients (each rank
// sums its own tokens, then the two sums are added). Measured here: weights within 1.2e-7,
// losses equal to 6 digits; the bounds below leave a margin of about 100x.
TEST_F(DataParallel, TwoRanksFollowOneProcessWithTheSameGlobalBatch) {
  for (const std::string sampling : {"random", "epochs"}) {
    const std::string one = dir_.file("one-" + sampling), two = dir_.file("two-" + sampling);
    const CommandResult a = run_anetrain(train(one, 12, {"--set", "sampling=" + sampling}));
    ASSERT_EQ(a.exit_code, 0) << a.err;
    const CommandResult b = run(mpirun(2, train(two, 12, {"--set", "sampling=" + sampling})));
    ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
    EXPECT_NE(b.out.find("data parallel: 2 ranks x 2 sequences"), std::string::npos) << b.out;
    // Rank 0 alone reports: one progress line per step.
    EXPECT_NE(b.out.find("step 12/12"), std::string::npos);
    EXPECT_EQ(b.out.find("step 12/12"), b.out.rfind("step 12/12")) << b.out;

    const std::vector<double> la = metrics_losses(one + "/metrics.jsonl");
    const std::vector<double> lb = metrics_losses(two + "/metrics.jsonl");
    ASSERT_EQ(la.size(), 12u);
    ASSERT_EQ(lb.size(), la.size());
    for (size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(lb[i], la[i], 1e-5 * la[i]) << i;
    EXPECT_LT(max_abs_diff(tensor_values(one + "/model.safetensors"),
                           tensor_values(two + "/model.safetensors")),
              1e-5);
    // The data position is the global one: either checkpoint resumes with any number of ranks.
    EXPECT_EQ(state_of(one)["loader"], state_of(two)["loader"]);
    // The validation loss is the job's, over the same windows.
    EXPECT_NE(b.out.find("val loss"), std::string::npos);
  }
}

// Sharding the optimizer state (ZeRO-1) and overlapping the reduction (buckets of 20 kB, so
// the tiny model's 460 kB of gradients go in many) change the order of nothing that is summed:
// all four ways give the same bits.
TEST_F(DataParallel, ShardedOptimizerAndOverlapChangeNoBit) {
  const std::vector<std::vector<std::string>> ways = {{"--bucket-mb", "0.02"},
                                                      {"--no-overlap"},
                                                      {"--shard-optimizer", "--bucket-mb", "0.02"},
                                                      {"--shard-optimizer", "--no-overlap"}};
  std::vector<std::string> runs;
  for (size_t i = 0; i < ways.size(); ++i) {
    runs.push_back(dir_.file("way" + std::to_string(i)));
    const CommandResult r = run(mpirun(2, train(runs.back(), 8, ways[i])));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  for (size_t i = 1; i < runs.size(); ++i) expect_same_bytes(runs[0], runs[i]);
  // AdamW's two moments, 8 bytes per parameter, half of them on each rank.
  const CommandResult sharded = run(mpirun(2, train(dir_.file("mem"), 1, {"--shard-optimizer"})));
  std::smatch params;
  ASSERT_TRUE(std::regex_search(sharded.out, params, std::regex(": (\\d+) params"))) << sharded.out;
  char want[96];
  std::snprintf(want, sizeof want, "optimizer state sharded (ZeRO-1), %.3g MB per rank",
                8.0 * std::stod(params[1]) / 2 / 1e6);
  EXPECT_NE(sharded.out.find(want), std::string::npos) << want << "\n" << sharded.out;
}

// `--backend ane` trains per rank the same way (here over the fake driver, which runs the
// ANE's programs in fp16 on the CPU): two ranks follow one process up to fp16 rounding of the
// two half-batches' activations (measured 1.7e-5), and the static pipeline, which needs a
// fresh process every few steps, is refused under MPI with a way out.
TEST_F(DataParallel, TheAneBackendTrainsPerRank) {
  setenv("ANETRAIN_ANE_DRIVER", "fake", 1);
  const std::vector<std::string> ane = {"--backend", "ane"};
  const CommandResult a = run_anetrain(train(dir_.file("ane1"), 3, ane));
  const CommandResult b = run(mpirun(2, train(dir_.file("ane2"), 3, ane)));
  std::vector<std::string> static_pipeline = ane;
  for (const char* s : {"--set", "ane_pipeline=static", "--set", "compile_budget=20"})
    static_pipeline.push_back(s);
  const CommandResult c = run(mpirun(2, train(dir_.file("ane3"), 3, static_pipeline)));
  unsetenv("ANETRAIN_ANE_DRIVER");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
  EXPECT_NE(b.out.find("backend ane"), std::string::npos);
  EXPECT_LT(max_abs_diff(tensor_values(dir_.file("ane1") + "/model.safetensors"),
                         tensor_values(dir_.file("ane2") + "/model.safetensors")),
            2e-4);
  EXPECT_NE(c.exit_code, 0);
  EXPECT_NE(c.err.find("the ane backend needs a fresh process (compile budget"), std::string::npos)
      << c.err;
  EXPECT_NE(c.err.find("dynamic pipeline"), std::string::npos);
}

// Resume under MPI continues bit-exactly, with the optimizer sharded or not; a checkpoint
// written by two ranks also resumes in one process (checkpoints hold the whole optimizer
// state, so a different number of ranks reshards it).
TEST_F(DataParallel, ResumeIsBitExactAndWorksWithAnotherNumberOfRanks) {
  for (const bool sharded : {false, true}) {
    const std::vector<std::string> extra =
        sharded ? std::vector<std::string>{"--shard-optimizer"} : std::vector<std::string>{};
    const std::string straight = dir_.file(sharded ? "s-straight" : "straight");
    const std::string halves = dir_.file(sharded ? "s-halves" : "halves");
    ASSERT_EQ(run(mpirun(2, train(straight, 10, extra))).exit_code, 0);
    ASSERT_EQ(run(mpirun(2, train(halves, 5, extra))).exit_code, 0);
    if (!sharded) fs::copy(halves, dir_.file("alone"), fs::copy_options::recursive);
    std::vector<std::string> resume = train(halves, 10, extra);
    resume.push_back("--resume");
    const CommandResult r = run(mpirun(2, resume));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    expect_same_bytes(straight, halves);
  }
  std::vector<std::string> alone = train(dir_.file("alone"), 10);
  alone.push_back("--resume");
  const CommandResult r = run_anetrain(alone);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LT(max_abs_diff(tensor_values(dir_.file("alone") + "/model.safetensors"),
                         tensor_values(dir_.file("straight") + "/model.safetensors")),
            1e-5);
}

// Open MPI starts the ranks as children of mpirun; rank r's environment names it.
int pid_of_rank(int launcher, int rank) {
  const std::string want = "OMPI_COMM_WORLD_RANK=" + std::to_string(rank);
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    int ppid = 0;
    char state = 0;
    std::istringstream(line.substr(close + 2)) >> state >> ppid;
    if (ppid != launcher) continue;
    const std::string env = read_bytes((entry.path() / "environ").string());
    if (env.find(want + '\0') != std::string::npos) return std::stoi(name);
  }
  return -1;
}

int wait_within(int pid, double seconds, double* took) {
  const auto start = Clock::now();
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::duration<double>(Clock::now() - start).count() > seconds) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      *took = -1;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  *took = std::chrono::duration<double>(Clock::now() - start).count();
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A rank killed mid-run (SIGKILL: no chance to say anything) ends the whole job within
// seconds, nonzero; the last checkpoint is whole and the job resumes from it.
TEST_F(DataParallel, AKilledRankEndsTheJobAndItResumesFromTheLastCheckpoint) {
  const std::string out = dir_.file("killed");
  const int launcher = spawn_program(mpirun(2, train(out, 100000, {"--set", "save_every=1"})),
                                     dir_.file("mpirun.out"), dir_.file("mpirun.err"));
  ASSERT_GT(launcher, 0);
  for (int i = 0; i < 600 && !fs::exists(out + "/state.json"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(out + "/state.json")) << read_bytes(dir_.file("mpirun.err"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a few more commits
  const int victim = pid_of_rank(launcher, 1);
  ASSERT_GT(victim, 0) << "rank 1 not found among mpirun's children";
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  double took = 0;
  const int code = wait_within(launcher, 60, &took);
  ASSERT_GE(took, 0) << "the job did not end within 60 s of losing a rank";
  EXPECT_LT(took, 15) << "seconds from the kill to the job's end";
  EXPECT_NE(code, 0);
  EXPECT_NE(read_bytes(dir_.file("mpirun.err")).find("rank 1"), std::string::npos)
      << read_bytes(dir_.file("mpirun.err"));
  const int64_t step = open_model_source(out).step;  // a whole checkpoint
  ASSERT_GT(step, 0);
  expect_two_ranks_resume(out, step, 3, {"--set", "save_every=1"});
}

// A shard that fails its checksum on one rank (each machine reads its own copy of the data)
// ends the job at start with that rank's one-line error, and writes nothing.
TEST_F(DataParallel, ABadShardOnOneRankEndsTheJobNamingIt) {
  std::ofstream(dir_.file("corpus.txt")) << english_lines(3000);
  const CommandResult prep =
      run_anetrain({"data", "prepare", "--tokenizer", "bytes", "--input", dir_.file("corpus.txt"),
                    "--out", dir_.file("good"), "--quiet"});
  ASSERT_EQ(prep.exit_code, 0) << prep.err;
  fs::copy(dir_.file("good"), dir_.file("bad"), fs::copy_options::recursive);
  const std::string shard = dir_.file("bad") + "/train_000000.bin";
  ASSERT_TRUE(fs::exists(shard));
  {
    std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(2000);
    f.put('\x7f');
  }
  const std::string out = dir_.file("out");
  auto args = [&](const std::string& data) {
    return std::vector<std::string>{"-np",     "1",     anetrain_binary(), "train",  "--config",
                                    "tiny",    "--set", "vocab_size=256",  "--data", data,
                                    "--steps", "5",     "--out",           out};
  };
  std::vector<std::string> argv = {"mpirun", "--oversubscribe"};
  for (const std::string& a : args(dir_.file("good"))) argv.push_back(a);
  argv.push_back(":");
  for (const std::string& a : args(dir_.file("bad"))) argv.push_back(a);
  const auto start = Clock::now();
  const CommandResult r = run(argv, 60);
  EXPECT_FALSE(r.timed_out) << "the job hung";
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 30);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("anetrain (rank 1 of 2): error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("train_000000.bin"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out + "/state.json"));
}

TEST_F(DataParallel, ABatchThatDoesNotSplitOverTheRanksIsRefused) {
  const CommandResult r = run(mpirun(2, train(dir_.file("odd"), 2, {}, /*batch=*/3)), 60);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("batch_size 3 does not split over the job's 2 ranks"), std::string::npos)
      << r.err;
}

// SIGTERM to one rank stops every rank after the same step: rank 0 writes the checkpoint of
// that step, and it resumes. Ctrl-C (SIGINT) to mpirun does the same: mpirun forwards SIGTERM
// to the ranks.
TEST_F(DataParallel, ASignalToOneRankOrToMpirunStopsTheJobWithACheckpoint) {
  for (const bool to_mpirun : {false, true}) {
    const std::string out = dir_.file(to_mpirun ? "interrupted" : "stopped");
    const int launcher = spawn_program(mpirun(2, train(out, 100000, {"--set", "save_every=0"})),
                                       dir_.file("mpirun.out"), dir_.file("mpirun.err"));
    ASSERT_GT(launcher, 0);
    for (int i = 0;
         i < 600 && read_bytes(dir_.file("mpirun.out")).find("step 2/") == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (to_mpirun) {
      ASSERT_EQ(kill(launcher, SIGINT), 0);
    } else {
      const int victim = pid_of_rank(launcher, 1);
      ASSERT_GT(victim, 0);
      ASSERT_EQ(kill(victim, SIGTERM), 0);
    }
    double took = 0;
    wait_within(launcher, 60, &took);
    ASSERT_GE(took, 0) << "the job did not stop";
    const std::string said = read_bytes(dir_.file("mpirun.out"));
    EXPECT_NE(said.find("stopped by signal 15 at step"), std::string::npos) << said;
    const int64_t step = open_model_source(out).step;
    EXPECT_GT(step, 1);
    expect_two_ranks_resume(out, step, 2, {"--set", "save_every=0"});
  }
}

// LoRA under mpirun: the adapters' gradients are summed after backward, the base stays frozen
// on every rank, and two ranks (sharded optimizer or not) follow one process.
TEST_F(DataParallel, LoraAdaptersTrainOverRanksLikeOneProcess) {
  const std::string base = dir_.file("lora-base");
  CommandResult r =
      run({anetrain_binary(), "train", "--config", "tiny", "--data", dir_.file("train.bin"),
           "--steps", "4", "--out", base, "--set", "val_every=0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lora = [&](const std::string& out) {
    return train(out, 6, {"--init", base, "--lora-rank", "4", "--lora-targets", "wq,wo,w2"});
  };
  // --init gives the architecture: drop --config tiny.
  auto without_config = [](std::vector<std::string> a) {
    a.erase(a.begin() + 1, a.begin() + 3);
    return a;
  };
  std::vector<std::string> one = without_config(lora(dir_.file("lora-1")));
  one.insert(one.begin(), anetrain_binary());
  r = run(one);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const std::string& name : {"lora-2", "lora-2z"}) {
    std::vector<std::string> args = without_config(lora(dir_.file(name)));
    if (name == "lora-2z") args.push_back("--shard-optimizer");
    r = run(mpirun(2, args));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    const double diff = max_abs_diff(tensor_values(dir_.file("lora-1/adapters.safetensors")),
                                     tensor_values(dir_.file(name + "/adapters.safetensors")));
    EXPECT_LT(diff, 1e-5) << name;
    EXPECT_GT(tensor_values(dir_.file(name + "/adapters.safetensors")).size(), 0u);
  }
  EXPECT_TRUE(read_bytes(dir_.file("lora-2/adapters.safetensors")) ==
              read_bytes(dir_.file("lora-2z/adapters.safetensors")));
}

}  // namespace
}  // namespace anetrain
