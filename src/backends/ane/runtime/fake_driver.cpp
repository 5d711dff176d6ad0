#include "backends/ane/runtime/fake_driver.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "core/fp16.h"
#include "backends/ane/blob/milblob.h"
#include "backends/ane/mil/checker.h"
#include "backends/ane/mil/parser.h"
#include "backends/ane/mil/profiles.h"
#include "backends/ane/programs/program_files.h"
#include "backends/ane/runtime/compile_cache.h"
#include "backends/ane/runtime/request_layout.h"
#include "core/error.h"
#include "io/atomic_file.h"

namespace anetrain::ane {

namespace {

// The names of `tensors` in alphabetical order: index k is request position k.
std::vector<std::string> by_name(const std::vector<RequestTensor>& tensors) {
  std::vector<std::string> names;
  for (const RequestTensor& t : tensors) names.push_back(t.name);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

// ane.md: error 0x1d is what the framework reports for mis-ordered or mis-sized requests.
constexpr int kRequestError = 0x1d;

struct FakeDriver::Loaded {
  mil::Program program;
  ProgramIo io;
  RequestLayout layout;
  std::map<std::string, MilBlobFile> weights;
  std::unique_ptr<mil::Interpreter> interpreter;
};

FakeDriver::FakeDriver(FakeDriverOptions options) : options_(std::move(options)) {}
FakeDriver::~FakeDriver() = default;

int64_t FakeDriver::compile_and_load(const std::string& mil_text,
                                     const std::map<std::string, std::string>& weight_files) {
  if (compiles_ >= options_.compile_budget)
    throw DriverError("compile budget exhausted: this process has compiled " +
                      std::to_string(compiles_) +
                      " programs (the ANE stops compiling after about " +
                      std::to_string(options_.compile_budget) + ")");
  ++compiles_;
  auto loaded = std::make_unique<Loaded>();
  // A cached program was validated by an earlier compile: skip the checks (the "compile").
  std::string marker;
  if (!options_.cache_dir.empty())
    marker = options_.cache_dir + "/" + compile_cache_key(mil_text, weight_files) + ".ok";
  const bool cached = !marker.empty() && std::filesystem::exists(marker);
  cache_hits_ += cached;
  if (cached) touch_cache_entry(marker);
  try {
    loaded->program = mil::parse_program(mil_text, "model.mil");
    if (!cached) {
      mil::check_program(loaded->program, "model.mil");
      for (const auto& issue :
           mil::lint_program(loaded->program, mil::lint_profile(options_.lint_profile)))
        if (issue.severity == mil::LintSeverity::kError)
          throw DriverError("compile failed: model.mil:" + std::to_string(issue.line) + ": [" +
                            issue.rule + "] " + issue.message);
      if (!marker.empty()) {
        std::filesystem::create_directories(options_.cache_dir);
        write_file_atomic(marker, "ok", 2);
        prune_compile_cache(options_.cache_dir, options_.cache_limit_bytes);
      }
    }
    loaded->io = program_io(loaded->program.main);
    loaded->layout = plan_request(loaded->io, options_.surface_rule);
    for (const auto& [path, bytes] : weight_files)
      loaded->weights.emplace(path, MilBlobFile::parse(bytes, path));
  } catch (const UserError& e) {
    throw DriverError(std::string("compile failed: ") + e.what());
  }
  Loaded* raw = loaded.get();
  raw->interpreter = std::make_unique<mil::Interpreter>(
      raw->program, [raw](const std::string& path, uint64_t offset, const mil::Type& type) {
        auto it = raw->weights.find(path);
        if (it == raw->weights.end()) throw DriverError("compile failed: no weight file " + path);
        return blob_loader(it->second)(path, offset, type);
      });
  const int64_t handle = next_handle_++;
  loaded_[handle] = std::move(loaded);
  return handle;
}

void FakeDriver::evaluate(int64_t handle, const std::vector<const Surface*>& inputs,
                          const std::vector<Surface*>& outputs) {
  auto it = loaded_.find(handle);
  if (it == loaded_.end())
    throw DriverError("evaluate: program " + std::to_string(handle) + " is not loaded");
  const Loaded& p = *it->second;
  const ProgramIo& io = p.io;
  if (inputs.size() != io.inputs.size() || outputs.size() != io.outputs.size())
    throw DriverError("request has " + std::to_string(inputs.size()) + " inputs and " +
                          std::to_string(outputs.size()) + " outputs; the program has " +
                          std::to_string(io.inputs.size()) + " and " +
                          std::to_string(io.outputs.size()),
                      kRequestError);
  // Surfaces bind by their request position, which request_layout.h derives from the MIL
  // names, exactly as the framework driver places them; a wrong position binds the wrong input.
  const std::vector<std::string> input_names = by_name(io.inputs),
                                 output_names = by_name(io.outputs);
  std::vector<std::pair<std::string, mil::HostTensor>> args;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Surface& s = *inputs[i];
    const RequestTensor& t = io.inputs[i];
    if (s.channels != t.channels || s.width != t.width ||
        static_cast<int64_t>(s.fp16.size()) != s.channels * s.width)
      throw DriverError("input surface " + std::to_string(i) + " is " + std::to_string(s.bytes()) +
                            " bytes [1, " + std::to_string(s.channels) + ", 1, " +
                            std::to_string(s.width) + "]; input '" + t.name +
                            "' needs a packed fp16 [1, C, 1, W] of its shape",
                        kRequestError);
    if ((s.width * 2) % 64 != 0)
      throw DriverError("input surface " + std::to_string(i) + " rows are " +
                            std::to_string(s.width * 2) + " bytes, not a multiple of 64",
                        kRequestError);
    const std::string& name = input_names[p.layout.inputs[i].position];
    const mil::Type type{mil::DType::kFp16, {1, t.channels, 1, t.width}};
    mil::HostTensor h{type, std::vector<float>(s.fp16.size())};
    for (size_t k = 0; k < s.fp16.size(); ++k) h.data[k] = fp16_to_fp32(s.fp16[k]);
    args.push_back({name, std::move(h)});
  }
  const std::vector<mil::HostTensor> results = p.interpreter->run(args);
  const std::vector<std::string>& declared = p.program.main.outputs;
  for (size_t i = 0; i < outputs.size(); ++i) {
    Surface& s = *outputs[i];
    const std::string& name = output_names[p.layout.outputs[i].position];
    const size_t at = std::find(declared.begin(), declared.end(), name) - declared.begin();
    const mil::HostTensor& r = results.at(at);
    if (r.type.shape.size() != 4 || s.channels != r.type.shape[1] || s.width != r.type.shape[3])
      throw DriverError("output surface " + std::to_string(i) + " is [1, " +
                            std::to_string(s.channels) + ", 1, " + std::to_string(s.width) +
                            "]; the program writes a different shape",
                        kRequestError);
    s.fp16.resize(r.data.size());
    for (size_t k = 0; k < r.data.size(); ++k) s.fp16[k] = fp32_to_fp16(r.data[k]);
  }
}

void FakeDriver::unload(int64_t handle) { loaded_.erase(handle); }

}  // namespace anetrain::ane
