// `anetrain ane emit|lint|check`: the ANE kernel programs, generated and verified on any
// machine (no Mac needed):
//   emit  --config PRESET --out DIR        one directory per program: model.mil, weights/, io.json
//   lint  FILE.mil [--profile P] [--surface-budget-mb N]
//                                          parse, type-check and lint any MIL file
//   check --config PRESET [--profile P]    lint every program, run it in the fp16 interpreter
//                                          against the CPU backend, print a table
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "backends/ane/mil/checker.h"
#include "backends/ane/mil/parser.h"
#include "backends/ane/mil/printer.h"
#include "backends/ane/mil/profiles.h"
#include "backends/ane/programs/kernel_programs.h"
#include "backends/ane/programs/program_check.h"
#include "backends/ane/programs/program_files.h"
#include "backends/ane/runtime/fake_driver.h"
#include "backends/ane/runtime/framework_driver.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/config_flags.h"
#include "core/error.h"
#include "core/rng.h"
#include "io/atomic_file.h"
#include "model/params.h"

namespace anetrain {
namespace {

// Lints one program; prints its issues; returns the number of errors.
int lint_and_report(const mil::Program& program, const std::string& label,
                    const mil::LintProfile& profile) {
  mil::check_program(program, label);
  int errors = 0;
  for (const mil::LintIssue& issue : mil::lint_program(program, profile)) {
    std::printf("%s:%d: %s: [%s] %s%s\n", label.c_str(), issue.line,
                issue.severity == mil::LintSeverity::kError ? "error" : "warning",
                issue.rule.c_str(), issue.op.empty() ? "" : ("op '" + issue.op + "': ").c_str(),
                issue.message.c_str());
    errors += issue.severity == mil::LintSeverity::kError;
  }
  return errors;
}

ane::ProgramOptions program_options(const Args& args) {
  return {.variant = args.get("variant"),
          .form = args.get("form"),
          .multi_input = args.has("multi-input"),
          .surface_budget_bytes = args.get_int("surface-budget-mb") << 20};
}

// --lora-rank and --lora-dropout: adapters on every weight that can carry one.
CallLora lora_options(const Args& args) {
  const long long rank = args.get_int("lora-rank");
  const double dropout = args.get_double("lora-dropout");
  if (rank < 0 || rank > 4096)
    throw UserError("--lora-rank must be 0 (no adapters) to 4096, got " + std::to_string(rank));
  if (!(dropout >= 0 && dropout < 1))
    throw UserError("--lora-dropout must be in [0, 1), got " + args.get("lora-dropout"));
  return {.rank = rank, .dropout = static_cast<float>(dropout)};
}

std::vector<ane::KernelProgram> programs_for(const RunConfig& config,
                                             const ane::ProgramOptions& options, uint64_t seed,
                                             const CallLora& lora, std::vector<float>& params) {
  ModelConfig one = config.model;
  one.n_layers = 1;
  ParamLayout layout(one);
  params.assign(layout.total(), 0.0f);
  init_params(one, layout, config.train.init_std, seed, params.data());
  ane::BlockWeights w = ane::block_weights(layout, params.data());
  // Adapters whose values are zero: a program's text and files do not depend on them (they
  // travel in the input surface); `ane check` runs real ones.
  std::vector<float> zeros;
  if (lora.rank > 0) {
    const KernelDims d = KernelDims::from(config.model, 1, config.model.seq_len);
    zeros.assign(std::max({d.D, d.F, d.QD()}) * std::max(lora.rank, d.S), 0.0f);
    w = ane::with_every_adapter(w, {.a = zeros.data(),
                                    .b = zeros.data(),
                                    .drop = lora.dropout > 0 ? zeros.data() : nullptr,
                                    .r = lora.rank,
                                    .scale = lora.scale});
  }
  return ane::build_kernel_programs(config.model, w, options);
}

int run_emit(const Args& args) {
  const RunConfig config = config_from_flags(args);
  const std::string out = args.get("out");
  std::vector<float> params;
  auto programs =
      programs_for(config, program_options(args), static_cast<uint64_t>(args.get_int("seed")),
                   lora_options(args), params);
  for (const auto& kp : programs) {
    const std::string dir = (std::filesystem::path(out) / kp.name()).string();
    ane::write_program_dir(kp, dir);
    std::printf(
        "%-28s %4zu ops  in [1, %lld, 1, %lld]  out [1, %lld, 1, %lld]  %zu weights  -> %s\n",
        kp.name().c_str(), kp.program.main.ops.size(), static_cast<long long>(kp.surface_channels),
        static_cast<long long>(kp.surface_columns), static_cast<long long>(kp.output_channels()),
        static_cast<long long>(kp.seq), kp.weights.size(), dir.c_str());
  }
  std::printf("weights are a random initialisation (--seed); the trainer bakes its own\n");
  return 0;
}

int run_lint(const Args& args) {
  const std::string path = args.operand();
  const mil::Program program = mil::parse_program(read_file(path), path);
  mil::LintProfile profile = mil::lint_profile(args.get("profile"));
  if (args.has("surface-budget-mb")) {
    const long long mb = args.get_int("surface-budget-mb");
    if (mb < 0 || mb >= (1LL << 40))
      throw UserError(
          "anetrain ane lint: --surface-budget-mb must be 0 (off) or a size in MB "
          "below 2^40, got " +
          std::to_string(mb));
    profile.surface_budget_bytes = static_cast<int64_t>(mb) << 20;
  }
  const int errors = lint_and_report(program, path, profile);
  std::printf("%s: %zu ops, %d lint error(s)\n", path.c_str(), program.main.ops.size(), errors);
  return errors == 0 ? 0 : 1;
}

// "interpreter": none (the programs run in the interpreter directly); "fake": the fake driver
// with the lint profile checked; "framework": Apple's framework (or, in tests, the library
// ANETRAIN_TEST_ANE_FRAMEWORK names).
std::unique_ptr<ane::AneDriver> open_check_driver(const std::string& name,
                                                  const std::string& profile) {
  if (name == "interpreter") return nullptr;
  if (name == "fake")
    return std::make_unique<ane::FakeDriver>(
        ane::FakeDriverOptions{.compile_budget = 1 << 30, .lint_profile = profile});
  if (name != "framework")
    throw UserError("--driver '" + name + "' is unknown: use interpreter, fake or framework");
  std::string reason;
  std::unique_ptr<ane::AneDriver> driver = ane::open_framework_driver(&reason);
  if (!driver) throw UserError("ANE unavailable: " + reason + "; use --driver interpreter");
  return driver;
}

int run_check(const Args& args) {
  const RunConfig config = config_from_flags(args);
  const ane::ProgramOptions options = program_options(args);
  const std::string profile = args.get("profile");
  const uint64_t seed = static_cast<uint64_t>(args.get_int("seed"));
  const CallLora lora = lora_options(args);
  std::unique_ptr<ane::AneDriver> driver = open_check_driver(args.get("driver"), profile);
  if (driver) std::printf("driver: %s\n", driver->name().c_str());
  std::vector<float> params;
  int lint_errors = 0;
  int64_t programs = 0;
  for (const auto& kp : programs_for(config, options, seed, lora, params)) {
    // The text a Mac would receive must parse back to the same program and pass lint.
    const std::string text = mil::print_program(kp.program);
    const mil::Program parsed = mil::parse_program(text, kp.name() + "/model.mil");
    if (mil::print_program(parsed) != text)
      throw UserError("internal: " + kp.name() + " does not survive print -> parse -> print");
    lint_errors += lint_and_report(parsed, kp.name() + "/model.mil", mil::lint_profile(profile));
    ++programs;
  }
  const auto checks = ane::check_kernel_programs(config.model, options, seed, driver.get(), lora);
  std::printf("%-18s %-7s %-6s %5s %5s  %-7s %11s %11s %10s %10s %10s %8s  %s\n", "kernel",
              "variant", "form", "parts", "ops", "worst", "max abs err", "max |cpu|", "rel err",
              "tolerance", "compile ms", "eval ms", "verdict");
  bool all = lint_errors == 0;
  for (const auto& c : checks) {
    const auto& w = c.worst();
    std::printf("%-18s %-7s %-6s %5lld %5lld  %-7s %11.3e %11.3e %10.2e %10.1e %10.1f %8.2f  %s\n",
                c.kernel.c_str(), c.variant.c_str(), c.form.c_str(),
                static_cast<long long>(c.parts), static_cast<long long>(c.ops), w.slot.c_str(),
                w.max_abs, w.max_ref, w.relative(), c.tolerance, c.compile_ms, c.evaluate_ms,
                c.passed() ? "ok" : "FAIL");
    all = all && c.passed();
  }
  const std::string adapters = lora.rank > 0
                                   ? " with LoRA adapters of rank " + std::to_string(lora.rank) +
                                         (lora.dropout > 0 ? " and dropout masks" : "")
                                   : "";
  std::printf(
      "%s%s: %zu kernels in %lld programs, lint profile %s: %d error(s); %s vs CPU backend: %s\n",
      config.preset.c_str(), adapters.c_str(), checks.size(), static_cast<long long>(programs),
      profile.c_str(), lint_errors, driver ? driver->name().c_str() : "fp16 interpreter",
      all ? "all within tolerance" : "FAILED");
  return all ? 0 : 1;
}

std::vector<Flag> program_flags() {
  return {
      {.name = "variant",
       .value = "static|dynamic",
       .default_value = "static",
       .help = "weights baked into the program, or staged into its input surface"},
      {.name = "seed",
       .value = "N",
       .default_value = "1",
       .help = "seed of the random weights the programs carry"},
      {.name = "form",
       .value = "proven|fused",
       .default_value = "proven",
       .help = "the form seen to run on hardware (kernels split, heads on axis 1, surfaces "
               "within the budget), or one fused program per kernel"},
      {.name = "surface-budget-mb",
       .value = "MB",
       .default_value = "16",
       .help = "proven form: largest input or output surface"},
      {.name = "multi-input", .help = "one input per tensor instead of one packed surface"},
      {.name = "lora-rank",
       .value = "N",
       .default_value = "0",
       .help = "LoRA adapters of rank N beside every weight that can carry one (0: none); "
               "they travel in the input surface, never baked"},
      {.name = "lora-dropout",
       .value = "P",
       .default_value = "0",
       .help = "with --lora-rank: a dropout mask on each adapter's input (P > 0)"},
  };
}

Flag profile_flag() {
  return {.name = "profile",
          .value = "m1-macos15|m4-macos15|strict",
          .default_value = "m4-macos15",
          .help = "the chip and OS whose known limits the lint checks"};
}

}  // namespace

std::vector<Command> ane_commands() {
  return {
      {.name = "ane emit",
       .summary = "write each kernel's MIL program, weights and io.json, as a Mac would compile",
       .flags = config_flags() + program_flags() +
                std::vector<Flag>{{.name = "out",
                                   .value = "DIR",
                                   .help = "one subdirectory per program",
                                   .required = true}},
       .run = run_emit},
      {.name = "ane lint",
       .summary = "parse, type-check and lint a MIL file against a chip profile",
       .operand = "FILE.mil",
       .flags = {profile_flag(),
                 {.name = "surface-budget-mb",
                  .value = "N",
                  .help = "warn (surface-budget) about a function input or output larger than N "
                          "MB; 0 turns the rule off (default: the profile's, 16 MB on the chip "
                          "profiles, off in permissive)"}},
       .run = run_lint},
      {.name = "ane check",
       .summary = "lint every kernel program and run it in the fp16 interpreter against the CPU",
       .flags = config_flags() + program_flags() +
                std::vector<Flag>{profile_flag(),
                                  {.name = "driver",
                                   .value = "interpreter|fake|framework",
                                   .default_value = "interpreter",
                                   .help = "run the programs in the interpreter, or compile and "
                                           "evaluate them through an ANE driver (framework: "
                                           "Apple's, on a Mac)"}},
       .run = run_check},
      ane_run_command(),
  };
}

}  // namespace anetrain
