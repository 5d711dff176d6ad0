// The ANE kernel programs for real model shapes: generated from the config, printed, parsed back
// identically, type-checked, linted, and run in the fp16 interpreter against the CPU backend's
// kernels within each kernel's tolerance; weights go through the MILBlob writer and reader.
#include "backends/ane/programs/kernel_programs.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "backends/ane/mil/checker.h"
#include "backends/ane/mil/parser.h"
#include "backends/ane/mil/printer.h"
#include "backends/ane/mil/profiles.h"
#include "backends/ane/programs/program_check.h"
#include "backends/ane/programs/program_files.h"
#include "core/error.h"
#include "model/config.h"
#include "model/params.h"

namespace anetrain::ane {
namespace {

// (preset, variant, form)
class KernelPrograms
    : public ::testing::TestWithParam<std::tuple<std::string, std::string, std::string>> {};

RunConfig config_for(const std::string& preset) {
  RunConfig c = load_config(preset == "tiny-gqa" ? "tiny" : preset);
  if (preset == "tiny-gqa") c.model.n_kv_heads = 1;  // four query heads on one kv head
  return c;
}

void expect_all_match(const ModelConfig& model, const ProgramOptions& options,
                      const CallLora& lora = {}) {
  const auto checks = check_kernel_programs(model, options, 7, nullptr, lora);
  ASSERT_EQ(checks.size(), ane_program_kernels().size());
  for (const KernelCheck& k : checks) {
    const SlotError& w = k.worst();
    EXPECT_TRUE(k.passed()) << k.kernel << ": slot " << w.slot << " max abs " << w.max_abs
                            << " of max |cpu| " << w.max_ref << " (relative " << w.relative()
                            << " > " << k.tolerance << ")";
    for (const SlotError& s : k.slots) EXPECT_GT(s.max_ref, 0.0) << k.kernel << " " << s.slot;
  }
}

TEST_P(KernelPrograms, MatchTheCpuBackendInFp16) {
  const auto [preset, variant, form] = GetParam();
  expect_all_match(config_for(preset).model, {.variant = variant, .form = form});
}

// One block's programs; with lora.rank > 0, adapters (values 0.01) beside every weight that
// can carry one, with dropout masks when lora.dropout > 0.
std::vector<KernelProgram> programs_of(const ModelConfig& model, const ProgramOptions& options,
                                       std::vector<float>& params, const CallLora& lora = {}) {
  ModelConfig one = model;
  one.n_layers = 1;
  ParamLayout layout(one);
  params.assign(layout.total(), 0.01f);
  BlockWeights w = block_weights(layout, params.data());
  if (lora.rank > 0)  // A, B and mask read from the parameters: large enough for any of them
    w = with_every_adapter(w, {.a = params.data(),
                               .b = params.data(),
                               .drop = lora.dropout > 0 ? params.data() : nullptr,
                               .r = lora.rank,
                               .scale = lora.scale});
  return build_kernel_programs(model, w, options);
}

// Print -> parse -> print is the identity, the checker accepts and lint finds no error nor any
// inline literal, buildInfo and blob records are as written, one input surface.
void expect_well_formed(const std::vector<KernelProgram>& programs) {
  for (const KernelProgram& kp : programs) {
    const std::string text = mil::print_program(kp.program);
    const mil::Program parsed = mil::parse_program(text, kp.kernel);
    EXPECT_EQ(mil::print_program(parsed), text) << kp.kernel;
    EXPECT_NO_THROW(mil::check_program(parsed)) << kp.kernel;
    for (const auto& issue : mil::lint_program(parsed, mil::lint_profile("m4-macos15"))) {
      EXPECT_NE(issue.severity, mil::LintSeverity::kError)
          << kp.kernel << ":" << issue.line << " [" << issue.rule << "] " << issue.message;
      // Every non-tensor operand is a named const(), as in the programs that ran on hardware.
      EXPECT_NE(issue.rule, "inline-literal") << kp.kernel << ":" << issue.line;
    }
    // buildInfo exactly as coremltools writes it.
    ASSERT_EQ(parsed.build_info.size(), 4u) << kp.kernel;
    for (const auto& [key, value] : parsed.build_info)
      EXPECT_TRUE(key.rfind("coremlc-", 0) == 0 || key.rfind("coremltools-", 0) == 0) << key;
    // Every BLOBFILE offset names a record of the weight file.
    const MilBlobFile weights = MilBlobFile::parse(serialize_weights(kp), kp.kernel);
    EXPECT_EQ(weights.entries().size(), kp.weights.size());
    for (const BlobTensor& t : kp.weights) EXPECT_NO_THROW(weights.at_record(t.record_offset));
    // One input and one output surface, channels as io.json will say.
    EXPECT_EQ(kp.program.main.inputs.size(), 1u);
    EXPECT_EQ(kp.program.main.inputs[0].second.shape,
              (std::vector<int64_t>{1, kp.surface_channels, 1, kp.surface_columns}));
  }
}

TEST_P(KernelPrograms, PrintParsePrintIsIdenticalAndLintsClean) {
  const auto [preset, variant, form] = GetParam();
  std::vector<float> params;
  expect_well_formed(
      programs_of(config_for(preset).model, {.variant = variant, .form = form}, params));
}

INSTANTIATE_TEST_SUITE_P(Shapes, KernelPrograms,
                         ::testing::Combine(::testing::Values("tiny", "tiny-gqa", "stories15M",
                                                              "layer768"),
                                            ::testing::Values("static", "dynamic"),
                                            ::testing::Values("proven", "fused")));
// stories110M (seq 1024): the proven form splits attention into head groups to fit 16 MB.
INSTANTIATE_TEST_SUITE_P(Stories110M, KernelPrograms,
                         ::testing::Combine(::testing::Values("stories110M"),
                                            ::testing::Values("dynamic"),
                                            ::testing::Values("proven", "fused")));

// The proven form, program by program: what the programs that ran on hardware share.
class ProvenForm : public ::testing::TestWithParam<std::string> {};

TEST_P(ProvenForm, FollowsTheFormOfTheProgramsThatRan) {
  const ModelConfig model = config_for(GetParam()).model;
  for (const std::string variant : {"static", "dynamic"}) {
    std::vector<float> params;
    for (const KernelProgram& kp : programs_of(model, {.variant = variant}, params)) {
      const std::string where = variant + " " + kp.name();
      EXPECT_LE(kp.input_bytes(), 16 << 20) << where;
      EXPECT_LE(kp.output_bytes(), 16 << 20) << where;
      for (const mil::Operation& op : kp.program.main.ops) {
        // Axis 0 stays 1: heads live on axis 1 (conv weights [out, in, 1, 1] aside).
        if (op.type.shape.size() == 4 && op.op != "const")
          EXPECT_EQ(op.type.shape[0], 1) << where << " " << op.result;
        // RMSNorm (its pow(., -0.5)) is host work, never fused with the projections.
        EXPECT_NE(op.op, "pow") << where;
      }
      // Every weight block and activation block of the surface starts at an aligned column.
      for (const SurfaceWeight& w : kp.surface_weights) EXPECT_EQ(w.column % 32, 0) << where;
      for (const auto& [channel, column] : kp.input_positions) EXPECT_EQ(column % 32, 0) << where;
      EXPECT_EQ(kp.surface_columns % 32, 0) << where;
    }
  }
}

// LoRA adapters (rank 3, padded to 32 inside the programs) with dropout masks, in both variants
// and forms: the kernels that take them still match the CPU backend given the same adapters,
// their taps included, and the programs are as well formed as without.
class KernelProgramsLora : public KernelPrograms {};

TEST_P(KernelProgramsLora, MatchTheCpuBackendAndAreWellFormed) {
  const auto [preset, variant, form] = GetParam();
  const ModelConfig model = config_for(preset).model;
  const CallLora lora{.rank = 3, .dropout = 0.25f};
  expect_all_match(model, {.variant = variant, .form = form}, lora);
  std::vector<float> params;
  expect_well_formed(programs_of(model, {.variant = variant, .form = form}, params, lora));
}

INSTANTIATE_TEST_SUITE_P(Shapes, KernelProgramsLora,
                         ::testing::Combine(::testing::Values("tiny", "tiny-gqa"),
                                            ::testing::Values("static", "dynamic"),
                                            ::testing::Values("proven", "fused")));

// Adapters never go into the weight file or the text: two sets of adapter values give the same
// program and weight file (so the static pipeline's frozen base is compiled once), and only the
// surface differs, holding A and scale B (zero past the rank).
TEST(KernelProgramsLora, AdaptersTravelInTheSurfaceOnly) {
  const ModelConfig model = load_config("tiny").model;
  const ParamLayout layout(model);
  std::vector<float> params(layout.total(), 0.01f);
  const KernelDims d = KernelDims::from(model, 1, model.seq_len);
  const std::vector<float> a1(3 * d.D, 0.5f), b1(d.F * 3, 0.25f), a2(3 * d.D, -1.0f);
  auto plan = [&](const std::vector<float>& a, int64_t rank) {
    BlockWeights w = block_weights(layout, params.data());
    w.lora_1 = {.a = a.data(), .b = b1.data(), .r = rank, .scale = 2.0f};
    return build_kernel_plan(d, Kernel::kFfnForward, w, {.variant = "static"});
  };
  const KernelPlan first = plan(a1, 3), second = plan(a2, 3), other_rank = plan(a1, 2);
  const KernelProgram &p1 = first.parts.at(0), &p2 = second.parts.at(0);
  EXPECT_EQ(mil::print_program(p1.program), mil::print_program(p2.program));
  EXPECT_EQ(serialize_weights(p1), serialize_weights(p2));
  EXPECT_NE(mil::print_program(p1.program), mil::print_program(other_rank.parts.at(0).program));
  ASSERT_EQ(p1.surface_weights.size(), 2u) << "A and B of lora_1; the base weights are baked";
  for (const SurfaceWeight& sw : p1.surface_weights) {
    EXPECT_EQ(sw.column % 32, 0) << sw.name;
    const bool b = sw.source.adapter_b;
    // The applied matrices are A [32, D] and scale B [F, 32]: 3 of the 32 rank indices hold
    // the adapter, the rest are zero.
    int64_t nonzero = 0;
    for (float v : sw.values) {
      nonzero += v != 0;
      if (v != 0) EXPECT_FLOAT_EQ(v, 0.5f) << sw.name;  // A, and scale 2 times B = 0.25
    }
    EXPECT_EQ(nonzero, 3 * (b ? d.F : d.D)) << sw.name;
  }
  for (const SurfaceWeight& sw : p2.surface_weights)
    for (float v : sw.values) EXPECT_TRUE(v == 0 || v == (sw.source.adapter_b ? 0.5f : -1.0f));
  const std::vector<SurfaceSlot> outputs = first.outputs();
  const auto tap = std::find_if(outputs.begin(), outputs.end(),
                                [](const SurfaceSlot& s) { return s.name == "ax_1"; });
  ASSERT_NE(tap, outputs.end()) << "the tap is an output";
  EXPECT_EQ(tap->channels, 3) << "the tap has the adapter's rank, not the programs' padded one";
}

INSTANTIATE_TEST_SUITE_P(Presets, ProvenForm,
                         ::testing::Values("tiny", "tiny-gqa", "stories15M", "stories110M",
                                           "layer768"));

TEST(ProvenFormBudget, SplitsAttentionIntoHeadGroupsAndStillMatches) {
  const ModelConfig model = load_config("layer768").model;
  // 11 MB: probs and dprobs of 12 heads at seq 512 are 12 MB (sdpa_backward1's output 12.8
  // MB); the FFN parts (up to 10.5 MB) fit as they are.
  const ProgramOptions small{.variant = "dynamic", .surface_budget_bytes = 11 << 20};
  std::vector<float> params;
  int64_t groups = 0;
  for (const KernelProgram& kp : programs_of(model, small, params)) {
    groups += kp.kernel == "sdpa_backward2";
    EXPECT_LE(std::max(kp.input_bytes(), kp.output_bytes()), 11 << 20) << kp.name();
  }
  EXPECT_GT(groups, 1);
  for (const KernelCheck& k : check_kernel_programs(model, small, 3))
    EXPECT_TRUE(k.passed()) << k.kernel << " relative " << k.worst().relative();
  // GQA: a group holds whole kv groups (4 query heads on one kv head: never split).
  RunConfig gqa = config_for("tiny-gqa");
  const ProgramOptions tiny_budget{.variant = "static", .surface_budget_bytes = 1 << 10};
  ParamLayout layout(gqa.model);
  std::vector<float> p(layout.total(), 0.01f);
  try {
    build_kernel_programs(gqa.model, block_weights(layout, p.data()), tiny_budget);
    FAIL() << "a 1 KB budget was met";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("above the budget of"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ane_surface_budget_mb"), std::string::npos) << e.what();
  }
}

TEST(KernelProgramsDynamic, WeightsTravelInTheSurfaceNotTheWeightFile) {
  const RunConfig c = load_config("tiny");
  ParamLayout layout(c.model);
  std::vector<float> params(layout.total(), 0.5f);
  const BlockWeights w = block_weights(layout, params.data());
  for (const KernelProgram& kp :
       build_kernel_programs(c.model, w, {.variant = "dynamic", .form = "fused"})) {
    if (kp.kernel == "sdpa_backward2") continue;  // no weights
    EXPECT_FALSE(kp.surface_weights.empty()) << kp.kernel;
    EXPECT_GT(kp.surface_columns, kp.seq) << kp.kernel;
    EXPECT_EQ(kp.surface_columns % 32, 0) << kp.kernel << ": rows must stay 64-byte aligned";
    // Only constant tables (RoPE, mask) remain in the weight file.
    for (const BlobTensor& t : kp.weights)
      EXPECT_TRUE(t.name.find("cos") != std::string::npos ||
                  t.name.find("sin") != std::string::npos ||
                  t.name.find("mask") != std::string::npos)
          << kp.kernel << " bakes " << t.name;
  }
}

TEST(KernelProgramsBlob, OffsetsFollowTheDocumentedLayout) {
  // First record at 64 (data at 128); after 1000 fp16 values (2000 bytes) the next at 2176.
  EXPECT_EQ(milblob_record_offsets({1000, 10}), (std::vector<uint64_t>{64, 2176}));
}

}  // namespace
}  // namespace anetrain::ane

namespace anetrain::ane {
namespace {

// Multi-input programs (capability flag): numerically the same kernels; the lint reports where
// the hardware's reported input-ordering rule cannot hold (two equally sized inputs), which is
// why one packed input surface is the default.
TEST(KernelProgramsMultiInput, MatchTheCpuBackendAndLintFlagsEqualSizes) {
  const RunConfig c = load_config("tiny");
  for (const std::string form : {"proven", "fused"})
    for (const KernelCheck& k :
         check_kernel_programs(c.model, {.form = form, .multi_input = true}, 3))
      EXPECT_TRUE(k.passed()) << form << " " << k.kernel << " relative " << k.worst().relative();
  ParamLayout layout(c.model);
  std::vector<float> params(layout.total(), 0.01f);
  const auto programs = build_kernel_programs(c.model, block_weights(layout, params.data()),
                                              {.form = "fused", .multi_input = true});
  const KernelProgram& qkv = programs.back();
  ASSERT_EQ(qkv.kernel, "qkv_backward");
  EXPECT_EQ(qkv.program.main.inputs.size(), 3u);
  bool order_flagged = false;
  for (const auto& issue : mil::lint_program(qkv.program, mil::lint_profile("m4-macos15")))
    order_flagged |= issue.rule == "input-order";
  EXPECT_TRUE(order_flagged);
  EXPECT_THROW(build_kernel_programs(c.model, block_weights(layout, params.data()),
                                     {.variant = "dynamic", .multi_input = true}),
               UserError);
}

}  // namespace
}  // namespace anetrain::ane

namespace anetrain::ane {
namespace {

// The proven form lints with no warning at all on the chip profiles where a preset fits the
// chip's limits; a preset that does not fit says why (tiny and stories15M: head dims 16 and
// 48, not multiples of 32, in the attention matmuls; rule matmul-inner).
TEST(ProvenFormLint, NoWarningsWhereThePresetFitsAndOnlyTheReasonWhereItDoesNot) {
  const std::map<std::string, std::set<std::string>> allowed = {
      {"layer768", {}}, {"stories110M", {}}, {"tiny", {"matmul-inner"}},
      {"stories15M", {"matmul-inner"}}};
  for (const auto& [preset, rules] : allowed)
    for (const std::string variant : {"static", "dynamic"})
      for (const std::string profile : {"m1-macos15", "m4-macos15"}) {
        std::vector<float> params;
        std::set<std::string> seen;
        for (const KernelProgram& kp :
             programs_of(config_for(preset).model, {.variant = variant}, params))
          for (const auto& issue : mil::lint_program(kp.program, mil::lint_profile(profile))) {
            seen.insert(issue.rule);
            EXPECT_TRUE(rules.count(issue.rule))
                << preset << " " << variant << " " << profile << " " << kp.name() << " ["
                << issue.rule << "] " << issue.message;
          }
        EXPECT_EQ(seen, rules) << preset << " " << variant << " " << profile;
      }
}

// LoRA adapters keep the proven form's programs clean: layer768 with rank 8 and dropout masks
// lints with no warning at all, every surface within 16 MB, every block at an aligned column.
TEST(ProvenFormLint, LoraAdaptersKeepLayer768Clean) {
  const ModelConfig model = load_config("layer768").model;
  for (const std::string variant : {"static", "dynamic"}) {
    std::vector<float> params;
    for (const KernelProgram& kp :
         programs_of(model, {.variant = variant}, params, {.rank = 8, .dropout = 0.1f})) {
      for (const std::string profile : {"m1-macos15", "m4-macos15"})
        for (const auto& issue : mil::lint_program(kp.program, mil::lint_profile(profile)))
          ADD_FAILURE() << variant << " " << profile << " " << kp.name() << " [" << issue.rule
                        << "] " << issue.message;
      EXPECT_LE(std::max(kp.input_bytes(), kp.output_bytes()), 16 << 20) << kp.name();
      for (const SurfaceWeight& w : kp.surface_weights)
        EXPECT_TRUE(w.column % 32 == 0 && w.channel % 32 == 0) << kp.name() << " " << w.name;
    }
  }
}

}  // namespace
}  // namespace anetrain::ane
