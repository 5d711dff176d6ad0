// The training step's kernels as MIL programs for the ANE, generated from the kernels' dims
// (model/dims.h; nothing is hard-coded to one shape). The ANE kernel table (ane_kernel()) has
// a row for every kernel of kernels/kernel_table.h: how each kernel the seed runs on the ANE
// (attention_forward, ffn_forward, ffn_backward, sdpa_backward1, sdpa_backward2, qkv_backward)
// is written in each program form, and its fp16 tolerance; the classifier, its loss and all
// host work stay on the CPU.
//
// Two program forms (ProgramOptions::form):
//  - "proven" (default): the form of the programs that ran on hardware (docs/ANE-RULES.md). A
//    kernel is a plan of several programs ("parts") split where the seed's dynamic pipeline
//    splits: RMSNorm is host work, never fused with the projections; attention keeps axis 0 at
//    1 with heads on axis 1 ([1, heads, S, E], explicit transposes); attention parts are split
//    into head groups so that every input and output surface stays within a byte budget
//    (default 16 MB; on-chip SRAM is near 32 MB with a cliff beyond); dynamic weight blocks
//    start at columns that are multiples of 32.
//  - "fused": one program per kernel, RMSNorm fused into the projections, heads on axis 0.
//    Fewer dispatches; never seen to run on hardware, kept for chips that may take it.
//
// I/O: one fp16 input surface and one fp16 output surface per program, each [1, C, 1, W],
// holding several tensors ("slots") of S = seq_len columns (one sequence per dispatch). Output
// slots are concatenated along C in declaration order. Input slots: static variant and
// programs without weights, concatenated along C; dynamic variant with weights, proven form,
// side by side in S-column blocks; fused form, along C in columns [0, S).
//
// Variant "static": weights are BLOBFILE constants in weights/weight.bin (MILBlob v2), so a
// weight update means a recompile. Variant "dynamic": the program is compiled once; weights
// travel in the input surface next to the activations, each weight as a block of columns
// (its matrix oriented so that its rows are the surface's channels, zero elsewhere), so the
// runtime re-stages fp16 weights after every optimizer step; only constant tables (RoPE, mask)
// stay in the weight file. LoRA adapters (BlockWeights::lora_*) travel in the input surface in
// both variants, as the dynamic variant's weights do, so changing them never recompiles: a
// static program over a frozen base is compiled once. Semantics match the CPU backend's
// kernels, including llama2.c RoPE and the GQA head mapping h -> h / (H/G); the causal mask is
// an additive constant, 0 on and below the diagonal and -65504 above.
#pragma once

#include <array>
#include <cstdint>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "backends/ane/mil/ir.h"
#include "kernels/kernel_table.h"
#include "kernels/kernels.h"
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
  // The slot holds channels [offset, offset + channels) of the named tensor (a head group's
  // rows); 0 for a whole tensor.
  int64_t offset = 0;
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
  // LoRA adapters beside the weights (kernels.h LoraAdapter), inactive unless the kernel call
  // has them. Their A and scale * B travel in the input surface in both variants, so new
  // adapter values never recompile; a dropout mask is the input slot "drop_<t>", the forward
  // tap ax the output slot "ax_<t>" (t as in kBlockAdapters).
  LoraAdapter lora_q = {}, lora_k = {}, lora_v = {}, lora_o = {};
  LoraAdapter lora_1 = {}, lora_2 = {}, lora_3 = {};
};

// The adapters a block can carry: the slot suffix t, the field, and whether it sits beside a
// forward projection (its kernel adds its path and writes ax) or is an input-gradient share of
// a backward one (kernels.h: Wo's in sdpa_backward1, W2's in ffn_backward).
struct BlockAdapter {
  const char* t;
  LoraAdapter BlockWeights::*field;
  bool forward;
};
inline constexpr BlockAdapter kBlockAdapters[] = {
    {"q", &BlockWeights::lora_q, true}, {"k", &BlockWeights::lora_k, true},
    {"v", &BlockWeights::lora_v, true}, {"o", &BlockWeights::lora_o, false},
    {"1", &BlockWeights::lora_1, true}, {"2", &BlockWeights::lora_2, false},
    {"3", &BlockWeights::lora_3, true}};
constexpr size_t kBlockAdapterCount = std::size(kBlockAdapters);
inline const BlockAdapter& block_adapter(std::string_view t) {
  for (const BlockAdapter& a : kBlockAdapters)
    if (a.t == t) return a;
  throw std::logic_error("no block adapter " + std::string(t));
}

// What a kernel's programs depend on about its adapters, and so part of what they are compiled
// for (program_key.h): per adapter of kBlockAdapters its rank (0: none) and whether it has a
// dropout mask. The adapters' values are not: they travel in the input surface.
struct LoraShape {
  std::array<int64_t, kBlockAdapterCount> rank{};
  std::array<bool, kBlockAdapterCount> masked{};
  auto operator<=>(const LoraShape&) const = default;
  bool any() const { return *this != LoraShape{}; }
};
LoraShape lora_shape(const BlockWeights& w);
// `w` with `adapter` beside every weight that can carry one: for programs whose text, not the
// adapters' values, matters (ane emit, counting programs).
BlockWeights with_every_adapter(BlockWeights w, const LoraAdapter& adapter);

// Which of a block's weights a program slot holds: the field, and whether the program applies
// it transposed (A = W^T) or as is (A = W).
struct WeightSource {
  using Field = const float* BlockWeights::*;
  Field field = nullptr;
  bool transposed = false;
  int64_t first_row = 0;  // A = rows [first_row, first_row + out) of W (head groups)
  // Instead of a base weight, a LoRA adapter's matrix: its A [r, in], or (adapter_b) its B
  // [out, r] times its scale; the applied matrix pads the rank with zeros to the program's
  // (Generator::declare_adapter).
  LoraAdapter BlockWeights::*adapter = nullptr;
  bool adapter_b = false;
};

// Dynamic variant (and LoRA adapters in both): a weight carried in the input surface as a
// matrix M: A^T for the applied matrix A [out, in] (rows = in, cols = out), or A itself when
// `rows_are_outputs` (the proven form orients each weight so that its rows are the surface's
// channels), or a gain vector as one column; row r of M sits in surface channel channel + r,
// columns [column, column + cols) (channel > 0 only for a block stacked under another).
struct SurfaceWeight {
  std::string name;
  int64_t rows, cols, column;
  int64_t channel = 0;
  WeightSource source;
  bool rows_are_outputs = false;
  std::vector<float> values;  // row-major [rows, cols]
};

struct KernelProgram {
  std::string kernel;  // e.g. "attention_forward" (kernel_name(op))
  std::string part;    // proven form: which part of the kernel's plan, e.g. "wo"; fused: ""
  Kernel op = Kernel::kAttentionForward;
  std::string variant;  // "static" or "dynamic"
  int64_t seq = 0;
  int64_t surface_channels = 0, surface_columns = 0;  // the input surface [1, C, 1, columns]
  std::vector<SurfaceWeight> surface_weights;         // dynamic only
  // Capability flag: one function input per slot instead of one packed surface;
  // (slot name, function input name), smallest slot first.
  bool multi_input = false;
  std::vector<std::pair<std::string, std::string>> input_names;
  // Where each input slot starts in the input surface: (channel, column).
  std::vector<std::pair<int64_t, int64_t>> input_positions;
  mil::Program program;
  std::vector<SurfaceSlot> inputs, outputs;
  std::vector<BlobTensor> weights;  // in file order: weights/weight.bin
  // Whether the program carries any of the block's weights (else only constant tables, so its
  // text and weight file are the same for every block and step).
  bool reads_block_weights = false;
  int64_t output_channels() const;
  int64_t input_bytes() const { return surface_channels * surface_columns * 2; }
  int64_t output_bytes() const { return output_channels() * seq * 2; }
  // "kernel" or "kernel.part": names directories and messages.
  std::string name() const { return part.empty() ? kernel : kernel + "." + part; }
};

// How to write the programs.
struct ProgramOptions {
  std::string variant = "static";  // "static" or "dynamic"
  std::string form = "proven";     // "proven" or "fused" (top of this file)
  bool multi_input = false;        // static only: one function input per slot
  // Proven form: no input or output surface above this many bytes; head groups shrink until
  // the attention parts fit, and a part that cannot is an error naming it.
  int64_t surface_budget_bytes = int64_t{16} << 20;
};

// A kernel as the ANE runs it: its parts, run one after another on one sequence. Each part
// reads tensors by name (the kernel's inputs, or earlier parts' outputs) and writes tensors by
// name; `host_norm` (proven form) computes "xnorm" = RMSNorm(x) * gain on the host first.
struct KernelPlan {
  Kernel op = Kernel::kAttentionForward;
  ProgramOptions options;
  WeightSource::Field host_norm = nullptr;
  std::vector<KernelProgram> parts;
  std::vector<std::string> intermediates;  // written by a part, read by a later one only
  int64_t group_heads = 0;                 // query heads per attention part
  // The kernel's tensors: read from the caller (and not written by a part or the host), and
  // returned to it.
  std::vector<SurfaceSlot> inputs() const;
  std::vector<SurfaceSlot> outputs() const;
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
class PlanWriter;
struct AneKernel {
  Kernel kernel;
  // Fused form: writes the kernel's one program (generator.h); nullptr: the kernel runs on the
  // host by design.
  void (*write)(Generator& g, const KernelDims& d);
  // Proven form: declares the kernel's parts, attention split into groups of `group_heads`
  // query heads.
  void (*plan)(PlanWriter& p, const KernelDims& d, int64_t group_heads);
  // fp16 execution against the fp32 CPU kernel: bound on each output slot's max |ANE - CPU|
  // over the slot's max |CPU| (docs/DESIGN.md "ANE programs").
  double tolerance;
};
const AneKernel& ane_kernel(Kernel k);

// The kernels that run as ANE programs, in table order: one program each per shape.
const std::vector<Kernel>& ane_program_kernels();

// Kernel k's plan for one sequence of d (d.B is ignored); only the weights that kernel uses
// need to be set in `w`. `group_heads` > 0 reuses a head grouping found before (the static
// pipeline rebuilds plans every step); 0 searches for the largest that fits the budget.
// Throws UserError for a kernel without a program, bad options, or a part over the budget.
KernelPlan build_kernel_plan(const KernelDims& d, Kernel k, const BlockWeights& w,
                             const ProgramOptions& options = {}, int64_t group_heads = 0);

// Every program of every kernel (ane_program_kernels() order, parts in plan order), for one
// sequence of d.
std::vector<KernelProgram> build_kernel_programs(const KernelDims& d, const BlockWeights& w,
                                                 const ProgramOptions& options = {});

// The same for a model config (validated), one sequence of its seq_len.
std::vector<KernelProgram> build_kernel_programs(const ModelConfig& config, const BlockWeights& w,
                                                 const ProgramOptions& options = {});

// The MILBlob v2 record offsets for tensors of these element counts (fp16): the first record
// at 64, each record followed by its data at the next 64-byte boundary.
std::vector<uint64_t> milblob_record_offsets(const std::vector<int64_t>& fp16_counts);

}  // namespace anetrain::ane
