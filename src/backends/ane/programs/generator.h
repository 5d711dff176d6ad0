// What the ANE kernel programs (kernel_programs.cpp) are written with: a MIL builder plus the
// pieces every program shares — its input surface and how the two variants carry weights,
// projections, RMSNorm, RoPE, causal attention probabilities — and the output surface.
//
// A program writer declares its weights, then its input slots (inputs()), computes, and
// declares its output slots once (outputs()): name and value, in surface order. The output
// surface's concat and the KernelProgram's slot list both come from that one declaration, and
// the backend binds slots to kernel arguments by name, so no second list can drift from it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "backends/ane/mil/builder.h"
#include "backends/ane/programs/kernel_programs.h"

namespace anetrain::ane {

class Generator {
 public:
  // `d` is the per-sequence shape the program is for (its B is ignored: one sequence a dispatch).
  Generator(const KernelDims& d, const BlockWeights& w, const std::string& variant,
            bool multi_input);

  mil::Builder& b() { return b_; }

  // Declares the matrix W [out, in] (applied as is, or transposed) before inputs() is called.
  void declare(const std::string& name, WeightSource::Field field, int64_t out, int64_t in,
               bool transpose);
  void declare_gain(const std::string& name, WeightSource::Field field, int64_t n);

  // The function's single input surface, unpacked into its activation slots. Static:
  // [1, C, 1, S] with C the slots' channels. Dynamic: [1, max(C, rows of M), 1, S + W]: the
  // activations in columns [0, S), each declared weight's M = A^T in its own column range,
  // zero elsewhere, W padded so that each row stays 64-byte aligned.
  std::vector<mil::Value> inputs(const std::vector<SurfaceSlot>& slots);

  // y = A x for the declared weight `weight`; x is [1, in, 1, S].
  mil::Value project(const std::string& name, const mil::Value& x, const std::string& weight);
  mil::Value gain(const std::string& weight);
  mil::Value rmsnorm(const mil::Value& x, const std::string& gain_name, const std::string& prefix);
  // llama2.c RoPE on [1, heads*E, 1, S]; direction -1 is the inverse rotation.
  mil::Value rope(const mil::Value& t, int64_t heads, float direction, const std::string& prefix);
  // softmax(q k^T / sqrt(E) + mask) per query head, [G, R, S, S].
  mil::Value probabilities(const mil::Value& q, const mil::Value& k, const std::string& prefix);

  // An output slot: its name, its value [1, C, 1, S] (C channels in the surface) and how the
  // kernel's tensor maps onto those channels.
  struct Output {
    std::string name;
    mil::Value value;
    SlotLayout layout = SlotLayout::kTokens;
  };
  // Declares the output surface: the slots in order, concatenated along C (one slot: as is).
  void outputs(const std::vector<Output>& slots);

  KernelProgram finish(Kernel kernel);

 private:
  // A weight as the dynamic variant carries it in the input surface: M = A^T for the applied
  // matrix A [out, in] (rows = the input channels it contracts with), or a gain vector as one
  // column. The static variant bakes A itself as a [out, in, 1, 1] conv weight.
  struct DeclaredWeight {
    std::string name;
    int64_t out, in;             // of the applied matrix A (gains: out = n, in = 1)
    bool gain;                   // a per-channel gain vector of length `out`
    std::vector<float> applied;  // A row-major [out, in] (or the gain)
    WeightSource source;         // where A comes from in a BlockWeights
    int64_t column = 0;          // dynamic: first column of M in the surface
    mil::Value value;            // dynamic: the slice holding it
  };
  // Collects weights for weights/weight.bin, assigning MILBlob record offsets as it goes.
  struct BlobCollector {
    std::vector<BlobTensor> tensors;
    uint64_t next_record = 64;
    std::pair<std::string, uint64_t> add(const std::string& name, const std::vector<float>& values);
  };

  const DeclaredWeight& find(const std::string& name) const;

  KernelDims d_;
  bool dynamic_, multi_input_;
  std::string variant_;
  BlockWeights weights_source_;
  std::vector<std::pair<std::string, std::string>> input_names_;
  BlobCollector blobs_;
  mil::Builder b_;
  std::vector<DeclaredWeight> weights_;
  std::vector<SurfaceSlot> slots_, outputs_;
  int64_t surface_channels_ = 0, surface_columns_ = 0;
};

}  // namespace anetrain::ane
