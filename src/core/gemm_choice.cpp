#include "core/gemm_choice.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <new>
#include <sstream>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "core/error.h"
#include "core/parallel.h"

namespace anetrain {
namespace {

// File names keep to letters, digits, '.', '-' and '_'.
std::string file_safe(const std::string& text) {
  std::string out = text;
  for (char& ch : out)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '-') ch = '_';
  return out;
}

std::string cpu_signature() {
#if defined(__x86_64__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  char vendor[13] = {};
  if (__get_cpuid(0, &eax, &ebx, &ecx, &edx)) {
    std::memcpy(vendor, &ebx, 4), std::memcpy(vendor + 4, &edx, 4),
        std::memcpy(vendor + 8, &ecx, 4);
  }
  __get_cpuid(1, &eax, &ebx, &ecx, &edx);
  const unsigned family = ((eax >> 8) & 0xF) + ((eax >> 20) & 0xFF);
  const unsigned model = ((eax >> 4) & 0xF) | (((eax >> 16) & 0xF) << 4);
  char text[96];
  std::snprintf(text, sizeof text, "%s-f%u-m%u-s%u", vendor, family, model, eax & 0xF);
  return text;
#else
  return "cpu";
#endif
}

// Each candidate's median time over five rounds, the candidates taking turns within a round
// so that a drift of the shared machine's clock does not favour one of them; every run starts
// from a fresh copy of C. One untimed round first.
std::vector<double> median_seconds(const std::function<void(int, float*)>& run, int candidates,
                                   float* scratch, const float* c, size_t c_floats) {
  std::vector<std::vector<double>> times(candidates);
  for (int round = 0; round < 6; ++round)
    for (int i = 0; i < candidates; ++i) {
      std::copy(c, c + c_floats, scratch);
      const auto start = std::chrono::steady_clock::now();
      run(i, scratch);
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (round > 0) times[i].push_back(s);
    }
  std::vector<double> medians;
  for (auto& t : times) {
    std::sort(t.begin(), t.end());
    medians.push_back(t[t.size() / 2]);
  }
  return medians;
}

// The candidate a stored choice names; -1 when there is no stored choice.
int read_choice(const std::string& path, std::span<const char* const> candidates) {
  std::ifstream in(path);
  if (!in) return -1;
  std::string name;
  std::getline(in, name);
  for (size_t i = 0; i < candidates.size(); ++i)
    if (name == candidates[i]) return static_cast<int>(i);
  throw UserError("GEMM choice file " + path + " names '" + name +
                  "', which is not a GEMM library of this build: delete it (anetrain then "
                  "measures again)");
}

// Stores the choice unless another process stored one first (link() refuses to replace a
// file); returns the choice that is stored.
int store_choice(const std::string& dir, const std::string& path, int choice,
                 std::span<const char* const> candidates, const std::vector<double>& gflops) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  std::ostringstream text;
  text << candidates[choice] << "\n";
  for (size_t i = 0; i < candidates.size(); ++i)
    text << candidates[i] << " " << gflops[i] << " GFLOPS\n";
  std::ostringstream tmp_name;
  tmp_name << path << ".tmp." << getpid() << "." << std::this_thread::get_id();
  const std::string tmp = tmp_name.str();
  {
    std::ofstream out(tmp);
    out << text.str();
    if (!out.flush())
      throw UserError("cannot store GEMM choices in " + dir +
                      ": make it writable or set ANETRAIN_GEMM_CHOICES to a writable directory");
  }
  const bool stored = link(tmp.c_str(), path.c_str()) == 0;
  const int link_error = errno;
  std::remove(tmp.c_str());
  if (!stored && link_error != EEXIST)
    throw UserError("cannot store GEMM choices in " + dir + " (" + std::strerror(link_error) +
                    "): set ANETRAIN_GEMM_CHOICES to a writable directory");
  return stored ? choice : read_choice(path, candidates);
}

}  // namespace

std::string GemmCall::key() const {
  char text[256];
  std::snprintf(text, sizeof text, "%c%c-m%lld-n%lld-k%lld", trans_a, trans_b,
                static_cast<long long>(m), static_cast<long long>(n), static_cast<long long>(k));
  return text;
}

std::string gemm_choice_dir(const std::string& libraries) {
  if (const char* dir = std::getenv("ANETRAIN_GEMM_CHOICES"); dir && *dir) return dir;
  std::string base;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    base = xdg;
  else if (const char* home = std::getenv("HOME"); home && *home)
    base = std::string(home) + "/.cache";
  else
    base = "/tmp";
  init_thread_pool();
  return base + "/anetrain/gemm-choices/" +
         file_safe(cpu_signature() + "-t" + std::to_string(num_threads()) + "-" + libraries);
}

int choose_gemm(const std::string& dir, const GemmCall& call,
                std::span<const char* const> candidates,
                const std::function<void(int, float*)>& run, const float* c) {
  static std::mutex mutex;
  static std::map<std::string, int> known;
  const std::string path = dir + "/" + call.key();
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = known.find(path); it != known.end()) return it->second;
  int choice = candidates.size() == 1 ? 0 : read_choice(path, candidates);
  if (choice < 0) {
    // A scratch C with C's values and its offset from a cache line.
    const size_t c_floats = static_cast<size_t>((call.m - 1) * call.ldc + call.n);
    const uintptr_t c_offset = reinterpret_cast<uintptr_t>(c) % 64;
    std::vector<float> scratch_storage(c_floats + 16);
    float* scratch = scratch_storage.data();
    while (reinterpret_cast<uintptr_t>(scratch) % 64 != c_offset) ++scratch;
    const std::vector<double> seconds =
        median_seconds(run, static_cast<int>(candidates.size()), scratch, c, c_floats);
    std::vector<double> gflops;
    for (double s : seconds) gflops.push_back(2.0 * call.m * call.n * call.k / s / 1e9);
    choice = static_cast<int>(std::max_element(gflops.begin(), gflops.end()) - gflops.begin());
    choice = store_choice(dir, path, choice, candidates, gflops);
  }
  known.emplace(path, choice);
  return choice;
}

}  // namespace anetrain
