// `anetrain ane run FILE.mil`: runs any MIL program in the fp16 reference interpreter, with its
// weights read from the files its BLOBFILE constants name (`weights/` beside the program, one
// file or several), inputs from .npy files or a seeded normal distribution, outputs written as
// .npy, and optional comparison against reference arrays. A program written elsewhere (the
// seed's generators, a user's own) can be checked this way without a Mac.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "backends/ane/blob/milblob.h"
#include "backends/ane/mil/checker.h"
#include "backends/ane/mil/interpreter.h"
#include "backends/ane/mil/parser.h"
#include "backends/ane/mil/printer.h"
#include "backends/ane/programs/program_check.h"
#include "backends/ane/programs/program_files.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/rng.h"
#include "io/atomic_file.h"
#include "io/npy.h"

namespace anetrain {
namespace {
namespace fs = std::filesystem;

// "NAME=VALUE" -> (NAME, VALUE), or a UserError naming the flag.
std::pair<std::string, std::string> name_value(const std::string& text, const std::string& flag) {
  const size_t eq = text.find('=');
  if (eq == 0 || eq == std::string::npos || eq + 1 == text.size())
    throw UserError("--" + flag + " '" + text + "' is not NAME=VALUE: e.g. --" + flag + " x=x.npy");
  return {text.substr(0, eq), text.substr(eq + 1)};
}

mil::HostTensor input_tensor(const std::string& name, const mil::Type& type,
                             const std::string& source) {
  mil::HostTensor t{type, {}};
  if (source.rfind("random:", 0) == 0) {
    char* end = nullptr;
    const unsigned long long seed = std::strtoull(source.c_str() + 7, &end, 10);
    if (end == source.c_str() + 7 || *end != '\0')
      throw UserError("--input " + name + "=" + source + ": the seed is not a whole number");
    Rng rng(seed);
    t.data.resize(type.numel());
    for (float& v : t.data) v = static_cast<float>(rng.normal());
    return t;
  }
  NpyArray a = read_npy(source);
  if (a.shape != type.shape)
    throw UserError(source + ": its shape does not match input '" + name + "' of type " +
                    mil::print_type(type) + ": save an array of that shape");
  t.data = std::move(a.values);
  return t;
}

int run_ane_run(const Args& args) {
  const std::string path = args.operand();
  const mil::Program program = mil::parse_program(read_file(path), path);
  mil::check_program(program, path);
  const mil::Function& f = program.main;

  // Weight files: "@model_path/weights/X" is X under the program's weights/ directory.
  const fs::path model_dir = fs::path(path).parent_path();
  std::map<std::string, ane::MilBlobFile> weights;
  for (const mil::Operation& op : f.ops) {
    if (op.op != "const" || !op.val.is_blob || weights.count(op.val.blob_path)) continue;
    const std::string& blob = op.val.blob_path;
    const std::string prefix = "@model_path/";
    if (blob.rfind(prefix, 0) != 0)
      throw UserError(path + ": BLOBFILE path \"" + blob + "\" does not start with @model_path/");
    const std::string file = (model_dir / blob.substr(prefix.size())).string();
    weights.emplace(blob, ane::MilBlobFile::parse(read_file(file), file));
  }
  mil::Interpreter interpreter(
      program, [&](const std::string& blob, uint64_t offset, const mil::Type& type) {
        return ane::blob_loader(weights.at(blob), blob)(blob, offset, type);
      });

  std::map<std::string, std::string> sources;
  for (const std::string& given : args.all("input")) {
    auto [name, source] = name_value(given, "input");
    sources[name] = source;
  }
  std::vector<std::pair<std::string, mil::HostTensor>> inputs;
  for (const auto& [name, type] : f.inputs) {
    auto it = sources.find(name);
    if (it == sources.end())
      throw UserError(path + ": input '" + name + "' " + mil::print_type(type) +
                      " has no --input: give --input " + name + "=FILE.npy or " + name +
                      "=random:SEED");
    inputs.push_back({name, input_tensor(name, type, it->second)});
    sources.erase(it);
  }
  if (!sources.empty())
    throw UserError("--input " + sources.begin()->first +
                    ": the program has no input of that name");

  const std::vector<mil::HostTensor> outputs = interpreter.run(inputs);
  std::map<std::string, const mil::HostTensor*> by_name;
  for (size_t i = 0; i < outputs.size(); ++i) {
    by_name[f.outputs[i]] = &outputs[i];
    std::printf("output %s %s\n", f.outputs[i].c_str(), mil::print_type(outputs[i].type).c_str());
  }
  if (args.has("out")) {
    const std::string out = args.get("out");
    create_directory_tree(out);
    for (const auto& [name, t] : by_name) {
      const std::string file = (fs::path(out) / (name + ".npy")).string();
      write_npy(file, t->type.shape, t->data, t->type.dtype == mil::DType::kFp16);
      std::printf("wrote %s\n", file.c_str());
    }
  }
  bool within = true;
  const double tolerance = args.get_double("tolerance");
  for (const std::string& given : args.all("compare")) {
    auto [name, file] = name_value(given, "compare");
    auto it = by_name.find(name);
    if (it == by_name.end())
      throw UserError("--compare " + name + ": the program has no output of that name");
    const NpyArray ref = read_npy(file);
    if (ref.shape != it->second->type.shape)
      throw UserError(file + ": its shape does not match output '" + name + "' " +
                      mil::print_type(it->second->type));
    // Relative to the reference's largest (mean) magnitude, as ane check measures kernels:
    // elementwise relative error is meaningless where the reference is near zero.
    ane::SlotError e{name};
    double sum_abs = 0, sum_ref = 0;
    for (size_t i = 0; i < ref.values.size(); ++i) {
      const double err = std::fabs(double(it->second->data[i]) - ref.values[i]);
      e.max_abs = std::max(e.max_abs, err);
      e.max_ref = std::max(e.max_ref, std::fabs(double(ref.values[i])));
      sum_abs += err;
      sum_ref += std::fabs(double(ref.values[i]));
    }
    const double mean_rel = sum_ref > 0 ? sum_abs / sum_ref : sum_abs;
    const bool ok = e.relative() <= tolerance;
    std::printf("compare %s: max abs err %.3e, max rel err %.3e, mean rel err %.3e  %s\n",
                name.c_str(), e.max_abs, e.relative(), mean_rel, ok ? "ok" : "ABOVE TOLERANCE");
    within = within && ok;
  }
  return within ? 0 : 1;
}

}  // namespace

Command ane_run_command() {
  return {
      .name = "ane run",
      .summary = "run any MIL program in the fp16 interpreter; outputs as .npy, compared if asked",
      .operand = "FILE.mil",
      .flags = {{.name = "input",
                 .value = "NAME=FILE.npy|NAME=random:SEED",
                 .help = "a function input: a .npy array of its shape, or N(0, 1) values",
                 .repeated = true},
                {.name = "out", .value = "DIR", .help = "write each output as DIR/NAME.npy"},
                {.name = "compare",
                 .value = "NAME=FILE.npy",
                 .help = "compare an output with a reference array",
                 .repeated = true},
                {.name = "tolerance",
                 .value = "X",
                 .default_value = "0.01",
                 .help = "largest max relative error --compare accepts (exit 1 above it)"}},
      .notes =
          "Weights are read from the files the program's BLOBFILE constants name,\n"
          "@model_path/ being the program's directory (weights/ beside model.mil).",
      .run = run_ane_run,
  };
}

}  // namespace anetrain
