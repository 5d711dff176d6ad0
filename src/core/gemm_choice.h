// Which GEMM library multiplies a given fp32 product, chosen by measuring them on the machine.
//
// No library is fastest at every shape on every CPU: on a 2-core EPYC VM with AVX2 only,
// OpenBLAS multiplied the model's few-output-row products (m 288, n 2048) at 163-165 GFLOPS
// where oneDNN's sgemm reached 81-90, and was 5-16% slower than it at others (NT m2048 n768
// k512: 139 against 166); on AVX-512 CPUs oneDNN led everywhere it was measured. So the first
// time a product is met, every candidate is timed on the real operands (into a scratch copy
// of C, at C's offset from a cache line) and the fastest is used from then on.
//
// The choice changes the result's rounding, so it must not change between the processes of a
// run (a resume must continue bit for bit; MPI replicas must stay identical): each choice is
// stored, once, in a file per product under the machine's directory (gemm_choice_dir), created
// exclusively so that concurrent processes agree on the first one written, and read by every
// later process on that machine.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

namespace anetrain {

// One product as the choice sees it. The choice is made per shape and transposes only: not
// per leading dimensions, beta or where the operands sit, although a library's speed can depend
// on them (oneDNN's AVX2 sgemm ran m 288 products at 78 GFLOPS with B on a cache line and 140
// with B 16 bytes past), so that one product gets one library however it is laid out, and
// recomputation (other buffers) or a residual accumulated in place change no bit.
struct GemmCall {
  char trans_a = 'N', trans_b = 'N';
  int64_t m = 0, n = 0, k = 0;
  int64_t ldc = 0;  // not part of the key: the row width of the scratch C the timing writes

  std::string key() const;  // the file name of its stored choice: transposes and shape
};

// Returns the index of the candidate (names in the platform file's order, e.g.
// {"onednn-sgemm", "openblas"}) that computes `call` from now on: from memory, from the store
// in `dir`, or by timing each with run(i, scratch), which performs the product with candidate
// i into a scratch C (ldc-wide rows, holding C's values on entry), and storing the fastest.
// Thread-safe. Throws UserError for a stored choice naming no candidate (the message says to
// delete it) and for a store that cannot be written.
int choose_gemm(const std::string& dir, const GemmCall& call,
                std::span<const char* const> candidates,
                const std::function<void(int, float*)>& run, const float* c);

// Where this machine's choices live: $ANETRAIN_GEMM_CHOICES if set, else
// $XDG_CACHE_HOME/anetrain/gemm-choices/<machine>, else ~/.cache/anetrain/gemm-choices/<machine>;
// <machine> names the CPU (vendor, family, model, stepping), the thread count and `libraries`
// (the candidates' versions), so another machine, thread count or library measures afresh.
std::string gemm_choice_dir(const std::string& libraries);

}  // namespace anetrain
