// GEMM on Linux through oneDNN and OpenBLAS. fp32 gemm(): for each product, the library that
// measured fastest for it on this machine (core/gemm_choice.h): oneDNN's sgemm, a cached oneDNN
// matmul primitive (inputs read in place, strides express the transposes), or OpenBLAS's
// sgemm. bf16: both inputs are rounded to bfloat16 (nearest-even) into per-thread buffers,
// then a cached bf16 x bf16 -> f32 matmul primitive per shape (the CPU's bf16 dot-product
// instructions, fp32 accumulation). gemm_fp32() is always dnnl_sgemm: it is called per head
// inside parallel regions, with many small shapes; gemm_bf16() (the attention products in bf16
// mode, also per head) reads operands rounded by its caller through the same cached
// primitives, looked up per thread first so that parallel callers do not queue on the cache's
// lock. oneDNN and OpenBLAS (its OpenMP build) thread with OpenMP, the same runtime as
// anetrain's own parallel loops (core/parallel.h), so none of them fight over cores.
#include <cblas.h>
#include <dnnl.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <span>
#include <tuple>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/gemm_choice.h"
#include "core/gemm_internal.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace anetrain {
namespace {

GemmPrecision g_precision = GemmPrecision::kFp32;
bool g_emulate = false;  // emulate_bf16_products()

// How gemm() feeds one input to the primitive: the fp32 original or its rounded region copy
// (both read in place through lda/ldb), or a dense bf16 copy made for this call.
enum class Input : char { kFp32InPlace, kBf16InPlace, kBf16Dense };

// (m, n, k, trans_a, trans_b, lda, ldb, ldc, alpha, beta, how A is fed, how B is fed)
using Key = std::tuple<int64_t, int64_t, int64_t, char, char, int64_t, int64_t, int64_t, float,
                       float, Input, Input>;

struct Matmul {
  dnnl::matmul primitive;
  dnnl::memory::desc a, b, c, scratchpad;
};

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// One matmul primitive per call shape, created once. fp32 inputs are read in place through
// strides (op(A)[i, p] lives at i*lda + p, or at p*lda + i when transposed); bf16 inputs are
// the dense rounded copies, op(A) [m, k] stored as written (k contiguous, or m when
// transposed), likewise op(B).
const Matmul& cached_matmul(const Key& key) {
  static std::mutex mutex;
  static std::map<Key, Matmul> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  const auto [m, n, k, ta, tb, lda, ldb, ldc, alpha, beta, feed_a, feed_b] = key;
  using dt = dnnl::memory::data_type;
  using dims = dnnl::memory::dims;
  const int64_t ld_a = feed_a == Input::kBf16Dense ? (ta == 'T' ? m : k) : lda;
  const int64_t ld_b = feed_b == Input::kBf16Dense ? (tb == 'T' ? k : n) : ldb;
  auto type = [](Input f) { return f == Input::kFp32InPlace ? dt::f32 : dt::bf16; };
  dnnl::memory::desc a({m, k}, type(feed_a), ta == 'T' ? dims{1, ld_a} : dims{ld_a, 1});
  dnnl::memory::desc b({k, n}, type(feed_b), tb == 'T' ? dims{1, ld_b} : dims{ld_b, 1});
  dnnl::memory::desc c({m, n}, dt::f32, dims{ldc, 1});
  dnnl::primitive_attr attr;
  // The caller passes the scratchpad (run_matmul: one per thread). With oneDNN's default, a
  // library-owned scratchpad, a primitive may only run on the thread that created it, and
  // gemm_bf16() runs cached primitives from every pool thread.
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  if (beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(beta);
    attr.set_post_ops(ops);
  }
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, engine());
  return cache.emplace(key, Matmul{dnnl::matmul(pd), a, b, c, pd.scratchpad_desc()}).first->second;
}

void run_matmul(const Matmul& mm, const void* a, const void* b, float* c) {
  thread_local dnnl::stream stream(engine());
  dnnl::memory am(mm.a, engine(), const_cast<void*>(a));
  dnnl::memory bm(mm.b, engine(), const_cast<void*>(b));
  dnnl::memory cm(mm.c, engine(), c);
  thread_local std::vector<uint8_t, CacheLineAllocator<uint8_t>> scratch;
  if (scratch.size() < mm.scratchpad.get_size()) scratch.resize(mm.scratchpad.get_size());
  dnnl::memory sm(mm.scratchpad, engine(), scratch.data());
  mm.primitive.execute(
      stream,
      {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}, {DNNL_ARG_SCRATCHPAD, sm}});
  stream.wait();
}

// The fp32 products gemm() chooses between (core/gemm_choice.h), in kFp32Libraries' order.
enum class Fp32Library { kOnednnSgemm, kOnednnMatmul, kOpenblas };
constexpr const char* kFp32Libraries[] = {"onednn-sgemm", "onednn-matmul", "openblas"};

void fp32_product(Fp32Library library, Trans trans_a, Trans trans_b, int64_t m, int64_t n,
                  int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                  float beta, float* c, int64_t ldc) {
  switch (library) {
    case Fp32Library::kOnednnSgemm:
      return gemm_fp32(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    case Fp32Library::kOnednnMatmul: {
      const Key key{
          m,   n,     k,    static_cast<char>(trans_a), static_cast<char>(trans_b), lda, ldb,
          ldc, alpha, beta, Input::kFp32InPlace,        Input::kFp32InPlace};
      return run_matmul(cached_matmul(key), a, b, c);
    }
    case Fp32Library::kOpenblas:
      return cblas_sgemm(CblasRowMajor, trans_a == Trans::kYes ? CblasTrans : CblasNoTrans,
                         trans_b == Trans::kYes ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda,
                         b, ldb, beta, c, ldc);
  }
}

const std::string& choice_dir() {
  static const std::string dir = [] {
    const dnnl_version_t* v = dnnl_version();
    return gemm_choice_dir("onednn" + std::to_string(v->major) + "." + std::to_string(v->minor) +
                           "." + std::to_string(v->patch) + "-" + openblas_get_config());
  }();
  return dir;
}

// The same cache seen from one thread: no lock once a shape has been met on this thread.
const Matmul& cached_matmul_here(const Key& key) {
  thread_local std::map<Key, const Matmul*> seen;
  auto it = seen.find(key);
  if (it != seen.end()) return *it->second;
  const Matmul& mm = cached_matmul(key);
  seen.emplace(key, &mm);
  return mm;
}

// One stored rows x cols block (leading dimension ld) to round into a dense bf16 buffer.
struct RoundJob {
  const float* src = nullptr;
  int64_t rows = 0, cols = 0, ld = 0;
  uint16_t* dst = nullptr;
};

void round_rows(const RoundJob& job, int64_t r0, int64_t r1) {
  round_to_bf16(job.src + r0 * job.ld, r1 - r0, job.cols, job.ld, job.dst + r0 * job.cols,
                job.cols);
}

// Rounds the blocks on the whole pool (single-threaded, rounding took 4.9 ms of layer768's
// 60 ms bf16 step), all in one parallel region: under OMP_WAIT_POLICY=passive every region
// costs a wake-up of the sleeping workers, and most gemm() calls round both inputs.
void to_bf16(std::span<const RoundJob> jobs) {
  int64_t rows = 0, cols = 1;
  for (const RoundJob& job : jobs) rows += job.rows, cols = std::max(cols, job.cols);
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        int64_t first = 0;  // global row index of the current job's row 0
        for (const RoundJob& job : jobs) {
          const int64_t lo = std::max(r0, first), hi = std::min(r1, first + job.rows);
          if (lo < hi) round_rows(job, lo - first, hi - first);
          first += job.rows;
        }
      },
      std::max<int64_t>(1, 16384 / cols));
}

// The read-only region (Bf16ReadOnlyRegion) and its rounded copy.
struct Region {
  const float* base = nullptr;
  int64_t n = 0;
  std::vector<uint16_t> rounded;
} g_region;

// The rounded copy of a stored rows x cols block (leading dimension ld) when it lies inside the
// region, else nullptr.
const uint16_t* rounded_in_region(const float* x, int64_t rows, int64_t cols, int64_t ld) {
  if (g_region.base == nullptr || x < g_region.base) return nullptr;
  const int64_t offset = x - g_region.base;
  const int64_t extent = (rows - 1) * ld + cols;
  if (offset + extent > g_region.n) return nullptr;
  return g_region.rounded.data() + offset;
}

}  // namespace

Bf16ReadOnlyRegion::Bf16ReadOnlyRegion(const float* base, int64_t n) {
  if (g_precision != GemmPrecision::kBf16) return;
  ANETRAIN_CHECK(g_region.base == nullptr, "nested Bf16ReadOnlyRegion");
  g_region.base = base;
  g_region.n = n;
  g_region.rounded.resize(n);
  uint16_t* out = g_region.rounded.data();
  parallel_for(
      n,
      [&](int64_t i0, int64_t i1) {
        round_rows({base + i0, 1, i1 - i0, 0, out + i0}, 0, 1);
      },
      1 << 16);
  active_ = true;
}

Bf16ReadOnlyRegion::~Bf16ReadOnlyRegion() {
  if (active_) g_region.base = nullptr, g_region.n = 0;
}

void emulate_bf16_products(bool on) { g_emulate = on; }

void set_gemm_precision(GemmPrecision precision) {
#if defined(__x86_64__)
  if (precision == GemmPrecision::kBf16 && !g_emulate && !__builtin_cpu_supports("avx512bf16"))
    throw UserError(
        "precision bf16 needs a CPU with AVX512-BF16 instructions; this one has "
        "none: use --precision fp32");
#endif
  g_precision = precision;
}

GemmPrecision gemm_precision() { return g_precision; }

void gemm_fp32(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
               int64_t ldc) {
  if (m == 0 || n == 0) return;
  dnnl_status_t status = dnnl_sgemm(static_cast<char>(trans_a), static_cast<char>(trans_b), m, n, k,
                                    alpha, a, lda, b, ldb, beta, c, ldc);
  ANETRAIN_CHECK(status == dnnl_success, "dnnl_sgemm returned " + std::to_string(status));
}

void gemm(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc) {
  if (m == 0 || n == 0) return;
  const bool bf16 = g_precision == GemmPrecision::kBf16;
  // Stored rows of A: m rows of k (or k rows of m when transposed); likewise B.
  const int64_t a_rows = trans_a == Trans::kYes ? k : m, a_cols = trans_a == Trans::kYes ? m : k;
  const int64_t b_rows = trans_b == Trans::kYes ? n : k, b_cols = trans_b == Trans::kYes ? k : n;
  // Pre-rounded copies exist only in bf16 mode (a region does nothing in fp32).
  const void* a_in = rounded_in_region(a, a_rows, a_cols, lda);
  const void* b_in = rounded_in_region(b, b_rows, b_cols, ldb);
  GemmProfileScope profile({static_cast<char>(trans_a), static_cast<char>(trans_b), m, n, k,
                            beta != 0.0f, a_in != nullptr, b_in != nullptr});
  if (!bf16) {
    const GemmCall call{.trans_a = static_cast<char>(trans_a),
                        .trans_b = static_cast<char>(trans_b),
                        .m = m,
                        .n = n,
                        .k = k,
                        .ldc = ldc};
    const auto run = [&](int library, float* out) {
      fp32_product(static_cast<Fp32Library>(library), trans_a, trans_b, m, n, k, alpha, a, lda, b,
                   ldb, beta, out, ldc);
    };
    const int library = choose_gemm(choice_dir(), call, kFp32Libraries, run, c);
    profile.ran_on(kFp32Libraries[library]);
    return run(library, c);
  }
  thread_local std::vector<uint16_t> a16, b16;
  if (!a_in) a16.resize(m * k);
  if (!b_in) b16.resize(k * n);
  RoundJob jobs[2];
  size_t n_jobs = 0;
  if (!a_in) jobs[n_jobs++] = {a, a_rows, a_cols, lda, a16.data()};
  if (!b_in) jobs[n_jobs++] = {b, b_rows, b_cols, ldb, b16.data()};
  to_bf16({jobs, n_jobs});
  profile.ran_on(g_emulate ? "emulated-bf16" : "onednn-matmul");
  if (g_emulate)
    return detail::gemm_bf16_software(
        trans_a, trans_b, m, n, k, alpha, a_in ? static_cast<const uint16_t*>(a_in) : a16.data(),
        a_in ? lda : a_cols, b_in ? static_cast<const uint16_t*>(b_in) : b16.data(),
        b_in ? ldb : b_cols, beta, c, ldc);
  const Key key{m,
                n,
                k,
                static_cast<char>(trans_a),
                static_cast<char>(trans_b),
                lda,
                ldb,
                ldc,
                alpha,
                beta,
                a_in ? Input::kBf16InPlace : Input::kBf16Dense,
                b_in ? Input::kBf16InPlace : Input::kBf16Dense};
  run_matmul(cached_matmul(key), a_in ? a_in : a16.data(), b_in ? b_in : b16.data(), c);
}

void gemm_bf16(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c,
               int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (g_emulate)
    return detail::gemm_bf16_software(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
                                      ldc);
  const Key key{m,   n,     k,    static_cast<char>(trans_a), static_cast<char>(trans_b), lda, ldb,
                ldc, alpha, beta, Input::kBf16InPlace,        Input::kBf16InPlace};
  run_matmul(cached_matmul_here(key), a, b, c);
}

}  // namespace anetrain

namespace anetrain {

std::string gemm_choice_store() { return choice_dir(); }

std::string gemm_library() {
  const dnnl_version_t* v = dnnl_version();
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch) + " (" +
         (v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other") + " threading) and " +
         openblas_get_config() + "; each fp32 product on the one measured faster here";
}

}  // namespace anetrain
