// What the ANE kernel programs (kernel_programs.cpp) are written with: a MIL builder plus the
// pieces every program shares — its input surface and how the two variants carry weights,
// projections, RMSNorm, RoPE, causal attention probabilities, in the fused form's layout
// (heads on axis 0) and the proven form's (heads on axis 1) — and the output surface; and the
// PlanWriter that collects a proven-form kernel's parts.
//
// A program writer declares its weights, then its input slots (inputs()), computes, and
// declares its output slots once (outputs()): name and value, in surface order. The output
// surface's concat and the KernelProgram's slot list both come from that one declaration, and
// the backend binds slots to kernel arguments by name, so no second list can drift from it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "backends/ane/mil/builder.h"
#include "backends/ane/programs/kernel_programs.h"

namespace anetrain::ane {

class Generator {
 public:
  // `d` is the per-sequence shape the program is for (its B is ignored: one sequence a dispatch).
  Generator(const KernelDims& d, const BlockWeights& w, const ProgramOptions& options);

  mil::Builder& b() { return b_; }

  // Declares the matrix W [out, in] (applied as is, or transposed) before inputs() is called.
  // With first_row, A is rows [first_row, first_row + out) of W [*, in] (not transposed only).
  void declare(const std::string& name, WeightSource::Field field, int64_t out, int64_t in,
               bool transpose, int64_t first_row = 0);
  void declare_gain(const std::string& name, WeightSource::Field field, int64_t n);

  // The function's single input surface, unpacked into its activation slots (kernel_programs.h
  // says where each lives), the adapters' mask slots after them. Dynamic, and adapters in both
  // variants: each such weight's M in its own block after the activations, zero elsewhere; the
  // width padded so that each row stays 64-byte aligned. Returns the given slots' values.
  std::vector<mil::Value> inputs(const std::vector<SurfaceSlot>& slots);

  // A LoRA adapter beside the projection of a weight W [out, in] (kernels.h LoraAdapter),
  // declared before inputs(); nothing when the adapter is inactive in the block's weights. Its
  // A and scale * B always travel in the input surface, never baked, so new adapter values never
  // recompile; the rank is padded with zeros to a multiple of 32 (matmuls contract over 32s,
  // as reported needed). A dropout mask joins the input slots as "drop_<t>". With first_row,
  // B's rows [first_row, first_row + out) (a head group's).
  void declare_adapter(const BlockAdapter& adapter, int64_t out, int64_t in, int64_t first_row = 0);

  // y = A x for the declared weight `weight`; x is [1, in, 1, S].
  mil::Value project(const std::string& name, const mil::Value& x, const std::string& weight);
  // The same plus adapter t's path when one is declared: forward adapters add
  // scale B A (drop * x) and keep the tap ax = A (drop * x); backward ones (W applied as W^T)
  // add the input-gradient share drop * A^T (scale B^T x).
  mil::Value project(const std::string& name, const mil::Value& x, const std::string& weight,
                     const char* t);
  mil::Value gain(const std::string& weight);
  mil::Value rmsnorm(const mil::Value& x, const std::string& gain_name, const std::string& prefix);
  // llama2.c RoPE on [1, heads*E, 1, S]; direction -1 is the inverse rotation.
  mil::Value rope(const mil::Value& t, int64_t heads, float direction, const std::string& prefix);
  // softmax(q k^T / sqrt(E) + mask) per query head, [G, R, S, S].
  mil::Value probabilities(const mil::Value& q, const mil::Value& k, const std::string& prefix);

  // Proven form, heads on axis 1. [1, n*E, 1, S] <-> [1, n, S, E].
  mil::Value to_heads(const std::string& name, const mil::Value& t, int64_t n);
  mil::Value from_heads(const std::string& name, const mil::Value& t);
  // llama2.c RoPE on [1, n, S, E]; direction -1 is the inverse rotation.
  mil::Value rope_heads(const mil::Value& t, float direction, const std::string& prefix);
  // GQA without copying kv heads: query heads h = g*R + r, [1, n, S, X], viewed as
  // [1, n/R, R*S, X], so that kv head g meets its R query heads in one batched matmul (and a
  // matmul contracting over R*S sums the group's heads). by_query_head is the inverse view.
  mil::Value by_kv_head(const std::string& name, const mil::Value& t);
  mil::Value by_query_head(const std::string& name, const mil::Value& t);
  // softmax(q k^T / sqrt(E) + mask) for q [1, n, S, E] and its kv heads k [1, n/R, S, E]:
  // [1, n, S, S].
  mil::Value head_probabilities(const mil::Value& q, const mil::Value& k,
                                const std::string& prefix);

  // An output slot: its name, its value [1, C, 1, S] (C channels in the surface) and how the
  // kernel's tensor maps onto those channels.
  struct Output {
    std::string name;
    mil::Value value;
    SlotLayout layout = SlotLayout::kTokens;
    int64_t offset = 0;  // first channel of the named tensor (a head group's rows)
  };
  // Declares the output surface: the slots in order, concatenated along C (one slot: as is).
  void outputs(const std::vector<Output>& slots);
  // The forward adapters' taps "ax_<t>" [1, r, 1, S], once projected, to append to outputs().
  std::vector<Output> adapter_taps();

  KernelProgram finish(Kernel kernel, const std::string& part = "");

 private:
  // A weight as the dynamic variant (and every adapter) carries it in the input surface:
  // M = A^T for the applied matrix A [out, in] (rows = the input channels it contracts with),
  // or a gain vector as one column. The static variant bakes a base weight's A itself as a
  // [out, in, 1, 1] conv weight.
  struct DeclaredWeight {
    std::string name;
    int64_t out, in;             // of the applied matrix A (gains: out = n, in = 1)
    bool gain;                   // a per-channel gain vector of length `out`
    std::vector<float> applied;  // A row-major [out, in] (or the gain)
    WeightSource source;         // where A comes from in a BlockWeights
    bool in_surface;             // carried in the input surface (dynamic, or an adapter)
    int64_t column = 0;          // dynamic: first column of M in the surface
    int64_t channel = 0;         // and its first channel (proven form: shelves of blocks)
    bool rows_are_outputs = false;  // dynamic: M = A rather than A^T
    mil::Value value;            // dynamic: the slice holding it
    int64_t rows() const { return gain ? out : rows_are_outputs ? out : in; }
    int64_t cols() const { return gain ? 1 : rows_are_outputs ? in : out; }
  };
  // Dynamic: where the activations and weights go in the input surface (kernel_programs.h).
  void place_dynamic(const std::vector<SurfaceSlot>& slots);
  // The input surface (or inputs) holding these slots and the surface weights; the slots' values.
  std::vector<mil::Value> place_inputs(const std::vector<SurfaceSlot>& slots);
  // Collects weights for weights/weight.bin, assigning MILBlob record offsets as it goes.
  struct BlobCollector {
    std::vector<BlobTensor> tensors;
    uint64_t next_record = 64;
    std::pair<std::string, uint64_t> add(const std::string& name, const std::vector<float>& values);
  };

  const DeclaredWeight& find(const std::string& name) const;
  bool has_surface_weights() const;

  struct DeclaredAdapter {
    BlockAdapter spec;
    std::string name;  // "lora_<t>": its weights are name_a and name_b
    int64_t r, rank;   // the adapter's rank, and the programs' (padded)
    int64_t in;        // channels of the mask (the adapter's input)
    bool masked;
    mil::Value drop, ax;  // the mask's slot; forward: A (drop * x), rank rows, once projected
  };
  DeclaredAdapter* find_adapter(const char* t);
  mil::Value adapter_path(DeclaredAdapter& a, const mil::Value& x);

  KernelDims d_;
  bool dynamic_, multi_input_, proven_;
  std::string variant_;
  std::vector<std::pair<int64_t, int64_t>> input_positions_;  // (channel, column) of each slot
  std::map<std::string, mil::Value> transposed_;  // proven dynamic: x -> [1, 1, S, in]
  BlockWeights weights_source_;
  std::vector<std::pair<std::string, std::string>> input_names_;
  BlobCollector blobs_;
  mil::Builder b_;
  std::vector<DeclaredWeight> weights_;
  std::vector<DeclaredAdapter> adapters_;
  std::vector<SurfaceSlot> slots_, outputs_;
  int64_t surface_channels_ = 0, surface_columns_ = 0;
};

// Collects a proven-form kernel's parts (AneKernel::plan).
class PlanWriter {
 public:
  PlanWriter(const KernelDims& d, const BlockWeights& w, const ProgramOptions& options, Kernel k);
  // "xnorm" = RMSNorm(x) * gain, computed on the host before the first part.
  void host_norm(WeightSource::Field gain) { plan_.host_norm = gain; }
  // One part: `write` declares its weights and inputs, computes and declares its outputs.
  template <class Write>
  void part(const std::string& name, Write write) {
    Generator g(d_, w_, plan_.options);
    write(g);
    plan_.parts.push_back(g.finish(plan_.op, name));
  }
  // A tensor passed from one part to a later one and not returned by the kernel.
  void intermediate(const std::string& name) { plan_.intermediates.push_back(name); }
  KernelPlan finish(int64_t group_heads) {
    plan_.group_heads = group_heads;
    return std::move(plan_);
  }

 private:
  KernelDims d_;
  BlockWeights w_;
  KernelPlan plan_;
};

}  // namespace anetrain::ane
