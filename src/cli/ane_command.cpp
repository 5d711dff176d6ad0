// `anetrain ane emit|lint|check`: the ANE kernel programs, generated and verified on any
// machine (no Mac needed):
//   emit  --config PRESET --out DIR        one directory per kernel: model.mil, weights/, io.json
//   lint  FILE.mil [--profile P]           parse, type-check and lint any MIL file
//   check --config PRESET [--profile P]    lint every program, run it in the fp16 interpreter
//                                          against the CPU backend, print a table
#include <cstdio>
#include <filesystem>

#include "backends/ane/mil/checker.h"
#include "backends/ane/mil/parser.h"
#include "backends/ane/mil/printer.h"
#include "backends/ane/mil/profiles.h"
#include "backends/ane/programs/kernel_programs.h"
#include "backends/ane/programs/program_check.h"
#include "backends/ane/programs/program_files.h"
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
int lint_and_report(const mil::Program& program, const std::string& label, const std::string& profile) {
  mil::check_program(program);
  int errors = 0;
  for (const mil::LintIssue& issue : mil::lint_program(program, mil::lint_profile(profile))) {
    std::printf("%s:%d: %s: [%s] %s%s\n", label.c_str(), issue.line,
                issue.severity == mil::LintSeverity::kError ? "error" : "warning", issue.rule.c_str(),
                issue.op.empty() ? "" : ("op '" + issue.op + "': ").c_str(), issue.message.c_str());
    errors += issue.severity == mil::LintSeverity::kError;
  }
  return errors;
}

std::vector<ane::KernelProgram> programs_for(const RunConfig& config, const std::string& variant,
                                             uint64_t seed, std::vector<float>& params,
                                             bool multi_input) {
  ModelConfig one = config.model;
  one.n_layers = 1;
  ParamLayout layout(one);
  params.assign(layout.total(), 0.0f);
  init_params(one, layout, config.train.init_std, seed, params.data());
  return ane::build_kernel_programs(config.model, ane::block_weights(layout, params.data()),
                                    variant, multi_input);
}

int run_emit(const std::vector<std::string>& argv) {
  Args args("ane emit", argv, {"config", "set", "out", "variant", "seed"}, {"multi-input"});
  const RunConfig config = config_from_flags(args);
  const std::string out = args.require("out");
  std::vector<float> params;
  auto programs = programs_for(config, args.get("variant", "static"),
                               static_cast<uint64_t>(args.get_int("seed", 1)), params,
                               args.has("multi-input"));
  for (const auto& kp : programs) {
    const std::string dir = (std::filesystem::path(out) / kp.kernel).string();
    ane::write_program_dir(kp, dir);
    std::printf("%-18s %4zu ops  in [1, %lld, 1, %lld]  out [1, %lld, 1, %lld]  %zu weights  -> %s\n",
                kp.kernel.c_str(), kp.program.main.ops.size(),
                static_cast<long long>(kp.surface_channels), static_cast<long long>(kp.surface_columns),
                static_cast<long long>(kp.output_channels()), static_cast<long long>(kp.seq),
                kp.weights.size(), dir.c_str());
  }
  std::printf("weights are a random initialisation (--seed); the trainer bakes its own\n");
  return 0;
}

int run_lint(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0].rfind("--", 0) == 0)
    throw UserError("anetrain ane lint: expected a MIL file: anetrain ane lint FILE.mil [--profile P]");
  Args args("ane lint", std::vector<std::string>(argv.begin() + 1, argv.end()), {"profile"}, {});
  const std::string path = argv[0];
  const mil::Program program = mil::parse_program(read_file(path), path);
  const int errors = lint_and_report(program, path, args.get("profile", "m4-macos15"));
  std::printf("%s: %zu ops, %d lint error(s)\n", path.c_str(), program.main.ops.size(), errors);
  return errors == 0 ? 0 : 1;
}

int run_check(const std::vector<std::string>& argv) {
  Args args("ane check", argv, {"config", "set", "variant", "profile", "seed"}, {"multi-input"});
  const bool multi_input = args.has("multi-input");
  const RunConfig config = config_from_flags(args);
  const std::string variant = args.get("variant", "static");
  const std::string profile = args.get("profile", "m4-macos15");
  const uint64_t seed = static_cast<uint64_t>(args.get_int("seed", 1));
  std::vector<float> params;
  int lint_errors = 0;
  for (const auto& kp : programs_for(config, variant, seed, params, multi_input)) {
    // The text a Mac would receive must parse back to the same program and pass lint.
    const std::string text = mil::print_program(kp.program);
    const mil::Program parsed = mil::parse_program(text, kp.kernel + "/model.mil");
    if (mil::print_program(parsed) != text)
      throw UserError("internal: " + kp.kernel + " does not survive print -> parse -> print");
    lint_errors += lint_and_report(parsed, kp.kernel + "/model.mil", profile);
  }
  const auto checks = ane::check_kernel_programs(config.model, variant, seed, multi_input);
  std::printf("%-18s %-7s %5s  %-7s %11s %11s %10s %10s  %s\n", "kernel", "variant", "ops", "worst",
              "max abs err", "max |cpu|", "rel err", "tolerance", "verdict");
  bool all = lint_errors == 0;
  for (const auto& c : checks) {
    const auto& w = c.worst();
    std::printf("%-18s %-7s %5lld  %-7s %11.3e %11.3e %10.2e %10.1e  %s\n", c.kernel.c_str(),
                c.variant.c_str(), static_cast<long long>(c.ops), w.slot.c_str(), w.max_abs,
                w.max_ref, w.relative(), c.tolerance, c.passed() ? "ok" : "FAIL");
    all = all && c.passed();
  }
  std::printf("%s: %zu programs, lint profile %s: %d error(s); fp16 interpreter vs CPU backend: %s\n",
              config.preset.c_str(), checks.size(), profile.c_str(), lint_errors,
              all ? "all within tolerance" : "FAILED");
  return all ? 0 : 1;
}

}  // namespace

int run_ane_command(const std::vector<std::string>& argv) {
  if (argv.empty()) throw UserError("anetrain ane: expected emit, lint or check (run 'anetrain help')");
  const std::vector<std::string> rest(argv.begin() + 1, argv.end());
  if (argv[0] == "emit") return run_emit(rest);
  if (argv[0] == "lint") return run_lint(rest);
  if (argv[0] == "check") return run_check(rest);
  throw UserError("anetrain ane: unknown action '" + argv[0] + "': use emit, lint or check");
}

}  // namespace anetrain
