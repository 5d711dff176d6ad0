// The dynamic pipeline's program cache is keyed on every field of the kernels' dims
// (backends/ane/program_key.h), so a program built for other dims is never reused. Shown three
// ways: a dims type with one more field (as a new model option would add) keeps and compares
// that field through the real program_key(); each field KernelDims has today changes the key
// (B excepted: a program runs one sequence); and the backend compiles again exactly when the
// key changes.
#include "backends/ane/program_key.h"

#include <gtest/gtest.h>

#include <map>
#include <tuple>
#include <utility>

#include "backends/ane/ane_backend.h"
#include "backends/ane/runtime/fake_driver.h"
#include "backends/kernel_calls.h"
#include "core/parallel.h"

namespace anetrain::ane {
namespace {

KernelDims tiny_dims() {
  ModelConfig c;  // D 64, F 192, H 4, G 2, V 512
  return KernelDims::from(c, 2, 64);
}

// What KernelDims would be with a new model option, say a choice of FFN activation.
struct DimsWithActivation : KernelDims {
  int ffn_activation = 0;
  auto operator<=>(const DimsWithActivation&) const = default;
};

TEST(ProgramKey, KeepsAndComparesAFieldAddedToTheDims) {
  DimsWithActivation silu{tiny_dims()}, gelu = silu;
  gelu.ffn_activation = 1;
  const auto a = program_key(Kernel::kFfnForward, silu), b = program_key(Kernel::kFfnForward, gelu);
  EXPECT_EQ(a.dims.ffn_activation, 0);
  EXPECT_EQ(b.dims.ffn_activation, 1);
  EXPECT_NE(a, b);
  std::map<ProgramKeyOf<DimsWithActivation>, int> cache;
  cache[a] = 1;
  cache[b] = 2;
  EXPECT_EQ(cache.size(), 2u) << "the two programs would share a cache entry";
  EXPECT_EQ(cache.at(a), 1);
}

// Every field of KernelDims, by reference. The structured binding names them all: a field added
// to KernelDims stops this from compiling until it is listed here, and so checked below.
auto fields(KernelDims& d) {
  auto& [D, F, H, G, E, V, B, S, norm_eps, rope_theta] = d;
  return std::tie(D, F, H, G, E, V, B, S, norm_eps, rope_theta);
}
constexpr size_t kBatchField = 6;

TEST(ProgramKey, EveryFieldButTheBatchChangesTheKey) {
  const KernelDims base = tiny_dims();
  const ProgramKey base_key = program_key(Kernel::kAttentionForward, base);
  constexpr size_t n = std::tuple_size_v<decltype(fields(std::declval<KernelDims&>()))>;
  [&]<size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          KernelDims d = base;
          std::get<I>(fields(d)) *= 2;
          const ProgramKey key = program_key(Kernel::kAttentionForward, d);
          if (I == kBatchField)
            EXPECT_EQ(key, base_key) << "a program runs one sequence, whatever B";
          else
            EXPECT_NE(key, base_key) << "field " << I << " is not part of the key";
        }(),
        ...);
  }
  (std::make_index_sequence<n>{});
  EXPECT_NE(program_key(Kernel::kFfnForward, base), program_key(Kernel::kFfnBackward, base));
}

TEST(ProgramKey, TheBackendCompilesAgainExactlyWhenTheKeyChanges) {
  init_thread_pool();
  AneBackend ane(std::make_unique<FakeDriver>());
  KernelDims d = tiny_dims();
  auto run = [&](const KernelDims& dims) {
    ModelConfig c;
    c.n_layers = 1;
    ParamLayout layout(c);
    Rng rng(1);
    const std::vector<float> params = check_params(c, layout, 1, rng);
    KernelCall call =
        reference_calls(dims, layout, params.data(), rng)[static_cast<size_t>(Kernel::kFfnForward)];
    run_kernel_call(ane, dims, layout, params.data(), call, true);
    return ane.driver().compiles();
  };
  EXPECT_EQ(run(d), 1);
  EXPECT_EQ(run(d), 1) << "same dims: the compiled program is reused";
  d.B = 1;
  EXPECT_EQ(run(d), 1) << "another micro-batch: the same per-sequence program";
  d.norm_eps = 1e-3f;
  EXPECT_EQ(run(d), 2) << "another eps: another program";
}

// LoRA adapters change the programs (extra surface blocks, mask slots, taps): the key holds
// their shape, so programs with and without adapters, of other ranks or with and without a
// dropout mask never share a compile; new adapter values do (they travel in the surface).
TEST(ProgramKey, TheAdaptersShapeIsPartOfTheKeyAndTheirValuesAreNot) {
  init_thread_pool();
  AneBackend ane(std::make_unique<FakeDriver>());
  const KernelDims d = tiny_dims();
  ModelConfig c;
  c.n_layers = 1;
  const ParamLayout layout(c);
  auto run = [&](const CallLora& lora, uint64_t seed) {
    Rng rng(seed);
    const std::vector<float> params = check_params(c, layout, 1, rng);
    KernelCall call = reference_calls(d, layout, params.data(), rng,
                                      lora)[static_cast<size_t>(Kernel::kFfnForward)];
    run_kernel_call(ane, d, layout, params.data(), call, true);
    return ane.driver().compiles();
  };
  EXPECT_EQ(run({}, 1), 1);
  EXPECT_EQ(run({.rank = 4}, 1), 2) << "adapters: another program";
  EXPECT_EQ(run({.rank = 4}, 2), 2) << "other adapter values: the same program";
  EXPECT_EQ(run({.rank = 8}, 1), 3) << "another rank: another program";
  EXPECT_EQ(run({.rank = 8, .dropout = 0.5f}, 1), 4) << "a dropout mask: another program";
  EXPECT_EQ(run({.rank = 8, .dropout = 0.5f}, 3), 4);
  EXPECT_EQ(run({}, 2), 4) << "no adapters again: the first program";
  const BlockWeights plain{};
  BlockWeights with{};
  const float a = 0;
  with.lora_1 = {.a = &a, .b = &a, .r = 4};
  EXPECT_NE(program_key(Kernel::kFfnForward, d, lora_shape(with)),
            program_key(Kernel::kFfnForward, d, lora_shape(plain)));
}

}  // namespace
}  // namespace anetrain::ane
