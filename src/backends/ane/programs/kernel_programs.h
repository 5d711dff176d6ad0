// The training step's kernels as MIL programs for the ANE, generated from the kernels' dims
// (model/dims.h; nothing is hard-coded to one shape). The ANE kernel table (ane_kernel()) has
// a row for every kernel of kernels/kernel_table.h: the program writer of each kernel the seed
// runs on the ANE (attention_forward, ffn_forward, ffn_backward, sdpa_backward1,
// sdpa_backward2, qkv_backward) and its fp16 tolerance; the classifier, its loss and all host
// work stay on the CPU.
//
// I/O: one fp16 input surface and one fp16 output surface per program, each [1, C, 1, S] with
// S = seq_len (one sequence per dispatch), holding several tensors concatenated along C in the
// order of `inputs` / `outputs` below, which each program declares once (generator.h): exactly
// how the runtime packs them.
//
// Variant "static": weights are BLOBFILE constants in weights/weight.bin (MILBlob v2), so a
// weight update means a recompile. Variant "dynamic": the program is compiled once; weights
// travel in the input surface next to the activations (columns [0, S) hold the activation
// slots, then each weight's M = A^T in its own column range, zero elsewhere), so the runtime
// re-stages fp16 weights after every optimizer step; only constant tables (RoPE, mask) stay
// in the weight file. Semantics match the CPU backend's kernels, including
// llama2.c RoPE and the GQA head mapping h -> h / (H/G); the causal mask is an additive
// constant, 0 on and below the diagonal and -65504 above.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backends/ane/mil/ir.h"
#include "kernels/kernel_table.h"
#include "model/config.h"
#include "model/params.h"

namespace anetrain::ane {

// How a kernel tensor maps onto a slot's channels for sequence b.
enum class SlotLayout {
  kTokens,        // [C, T]: channel c is the kernel tensor's row c, columns [b*S, (b+1)*S)
  kAttentionRows  // [H, B, S, S] (P, dP): channel h*S + i is row i of head h of sequence b
};

// A tensor inside a packed surface: `channels` rows of S values, in packing order. Slots are
// bound to a kernel's arguments by name (ane_backend.cpp), never by position.
struct SurfaceSlot {
  std::string name;
  int64_t channels;
  SlotLayout layout = SlotLayout::kTokens;
};

struct BlobTensor {
  std::string name;
  uint64_t record_offset;     // what BLOBFILE(offset = ...) names
  std::vector<float> values;  // rounded to fp16 when written
};

// One block's weights in Meta's layout (row-major [out, in]), as in model/params.h. A kernel's
// program reads only its own; name them ({.wq = ..., .wk = ...}), the rest stay nullptr.
struct BlockWeights {
  const float* attention_norm = nullptr;
  const float *wq = nullptr, *wk = nullptr, *wv = nullptr, *wo = nullptr;
  const float* ffn_norm = nullptr;
  const float *w1 = nullptr, *w2 = nullptr, *w3 = nullptr;
};

// Which of a block's weights a program slot holds: the field, and whether the program applies
// it transposed (A = W^T) or as is (A = W).
struct WeightSource {
  using Field = const float* BlockWeights::*;
  Field field = nullptr;
  bool transposed = false;
};

// Dynamic variant: a weight carried in the input surface, M = A^T for the applied matrix A
// [out, in] (rows = in, cols = out) or a gain vector as one column; row r of M sits in
// surface channel r, columns [column, column + cols).
struct SurfaceWeight {
  std::string name;
  int64_t rows, cols, column;
  WeightSource source;
  std::vector<float> values;  // row-major [rows, cols]
};

struct KernelProgram {
  std::string kernel;  // e.g. "attention_forward" (kernel_name(op))
  Kernel op = Kernel::kAttentionForward;
  std::string variant;  // "static" or "dynamic"
  int64_t seq = 0;
  int64_t surface_channels = 0, surface_columns = 0;  // the input surface [1, C, 1, columns]
  std::vector<SurfaceWeight> surface_weights;         // dynamic only
  // Capability flag: one function input per slot instead of one packed surface;
  // (slot name, function input name), smallest slot first.
  bool multi_input = false;
  std::vector<std::pair<std::string, std::string>> input_names;
  mil::Program program;
  std::vector<SurfaceSlot> inputs, outputs;
  std::vector<BlobTensor> weights;  // in file order: weights/weight.bin
  int64_t output_channels() const;
};

// Block `layer`'s weights inside a flat parameter buffer laid out by `layout`.
BlockWeights block_weights(const ParamLayout& layout, const float* params, int layer = 0);

// Dynamic variant: rewrites every surface weight's values from `w`, which is all that changes
// between steps; the program, its constant tables and its compiled form stay as they are.
void refresh_surface_weights(KernelProgram& program, const BlockWeights& w);

inline constexpr const char* kWeightFile = "@model_path/weights/weight.bin";

class Generator;

// The ANE's column of the kernel table: one row per kernel of kernels/kernel_table.h, in its
// order (kernel_programs.cpp checks both at compile time).
struct AneKernel {
  Kernel kernel;
  // Writes the kernel's program (generator.h); nullptr: the kernel runs on the host by design.
  void (*write)(Generator& g, const KernelDims& d);
  // fp16 execution against the fp32 CPU kernel: bound on each output slot's max |ANE - CPU|
  // over the slot's max |CPU| (docs/DESIGN.md "ANE programs").
  double tolerance;
};
const AneKernel& ane_kernel(Kernel k);

// The kernels that run as ANE programs, in table order: one program each per shape.
const std::vector<Kernel>& ane_program_kernels();

// Kernel k's program for one sequence of d (d.B is ignored); only the weights that kernel uses
// need to be set in `w`. Throws UserError for a kernel without a program or a bad variant.
KernelProgram build_kernel_program(const KernelDims& d, Kernel k, const BlockWeights& w,
                                   const std::string& variant = "static", bool multi_input = false);

// Every program (ane_program_kernels() order), for one sequence of d.
std::vector<KernelProgram> build_kernel_programs(const KernelDims& d, const BlockWeights& w,
                                                 const std::string& variant = "static",
                                                 bool multi_input = false);

// The same for a model config (validated), one sequence of its seq_len.
std::vector<KernelProgram> build_kernel_programs(const ModelConfig& config, const BlockWeights& w,
                                                 const std::string& variant = "static",
                                                 bool multi_input = false);

// The MILBlob v2 record offsets for tensors of these element counts (fp16): the first record
// at 64, each record followed by its data at the next 64-byte boundary.
std::vector<uint64_t> milblob_record_offsets(const std::vector<int64_t>& fp16_counts);

}  // namespace anetrain::ane
