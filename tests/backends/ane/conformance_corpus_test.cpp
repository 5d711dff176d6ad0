// The MIL conformance corpus (tests/backends/ane/conformance/): hand-written programs in the
// form of the programs that ran on hardware. For each NAME.mil (found by listing the
// directory, so a new program is a new case), tools/mil_reference.py writes its weight files,
// its inputs and the outputs numpy computes from the program text; then `anetrain ane lint`
// must report no error under the manifest's profile, and `anetrain ane run --compare` must
// match every output within the manifest's tolerance and on average within kMeanTolerance.
// Beside the per-program cases: the corpus uses every op the checker knows and every form the
// issue lists (both dialects, hex fp16 literals, fp32 I/O with casts, several outputs, one
// weight file per tensor and many records in one file), and its tolerance catches one output
// element a few fp16 ulps off.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "backends/ane/mil/checker.h"
#include "backends/ane/mil/parser.h"
#include "io/npy.h"
#include "support/test_util.h"

namespace anetrain::testing {
namespace {
namespace fs = std::filesystem;

const char* const kPython = "/usr/bin/python3";

fs::path corpus_dir() { return fs::path(ANETRAIN_SOURCE_DIR) / "tests/backends/ane/conformance"; }

// The corpus programs' names (NAME of NAME.mil), sorted.
std::vector<std::string> corpus_programs() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(corpus_dir(), ec))
    if (entry.path().extension() == ".mil") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

bool python_has_numpy() {
  static const bool has =
      std::system((std::string(kPython) + " -c 'import numpy' > /dev/null 2>&1").c_str()) == 0;
  return has;
}

nlohmann::json manifest_of(const std::string& name) {
  return nlohmann::json::parse(read_bytes((corpus_dir() / (name + ".json")).string()));
}

// Runs tools/mil_reference.py for one program into `out`; its output when it fails.
std::string write_reference(const std::string& name, const std::string& out) {
  const std::string log = out + "/reference.log";
  const std::string command = std::string(kPython) + " " + source_dir() +
                              "/tools/mil_reference.py --out " + out + " " +
                              (corpus_dir() / (name + ".mil")).string() + " > " + log + " 2>&1";
  return std::system(command.c_str()) == 0 ? "" : "mil_reference.py failed:\n" + read_bytes(log);
}

// `anetrain ane run` on the reference's copy of the program, every input from the reference,
// every output compared.
CommandResult run_against_reference(const std::string& name, const std::string& data,
                                    const nlohmann::json& manifest) {
  std::vector<std::string> args = {"ane", "run", data + "/" + name + ".mil", "--tolerance",
                                   manifest["tolerance"].dump()};
  for (const auto& input : manifest["inputs"].items())
    args.insert(args.end(),
                {"--input", input.key() + "=" + data + "/inputs/" + input.key() + ".npy"});
  for (const std::string output : manifest["outputs"])
    args.insert(args.end(), {"--compare", output + "=" + data + "/expected/" + output + ".npy"});
  return run_anetrain(args);
}

// What `ane run --compare` printed for an output: max |err| / max |ref| (what --tolerance
// bounds) and sum |err| / sum |ref|; -1 when it printed nothing for that output.
struct PrintedError {
  double max_rel = -1, mean_rel = -1;
};
PrintedError printed_error(const std::string& out, const std::string& output) {
  const std::regex line("compare " + output +
                        ": max abs err \\S+, max rel err (\\S+), mean rel err (\\S+) ");
  std::smatch m;
  if (!std::regex_search(out, m, line)) return {};
  return {std::stod(m[1]), std::stod(m[2])};
}

// The mean relative error every output must stay under. A correct run differs from the
// reference only where fp32 and float64 arithmetic round an fp16 result to neighbouring values
// (one ulp, 2^-11 relative, at a few elements), far below this; a systematic error such as a
// wrong constant in an activation moves the mean long before the max.
constexpr double kMeanTolerance = 1e-4;

class CorpusProgram : public ::testing::TestWithParam<std::string> {};

TEST_P(CorpusProgram, LintsCleanAndMatchesNumpyReference) {
  if (!python_has_numpy())
    GTEST_SKIP() << kPython << " cannot import numpy, which tools/mil_reference.py needs";
  const std::string name = GetParam();
  const nlohmann::json manifest = manifest_of(name);
  TempDir dir;
  const std::string failure = write_reference(name, dir.path());
  ASSERT_EQ(failure, "");
  const std::string data = dir.file(name), program = data + "/" + name + ".mil";
  ASSERT_EQ(read_bytes(program), read_bytes((corpus_dir() / (name + ".mil")).string()));

  const CommandResult lint = run_anetrain(
      {"ane", "lint", program, "--profile", manifest["lint_profile"].get<std::string>()});
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;
  EXPECT_NE(lint.out.find(", 0 lint error(s)"), std::string::npos) << lint.out << lint.err;

  const CommandResult run = run_against_reference(name, data, manifest);
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  const double tolerance = manifest["tolerance"].get<double>();
  for (const std::string output : manifest["outputs"]) {
    const PrintedError err = printed_error(run.out, output);
    EXPECT_GE(err.max_rel, 0.0) << "no comparison printed for " << output << ":\n"
                                << run.out << run.err;
    EXPECT_LE(err.max_rel, tolerance) << output << ":\n" << run.out;
    EXPECT_LE(err.mean_rel, kMeanTolerance) << output << ":\n" << run.out;
  }
}

INSTANTIATE_TEST_SUITE_P(AneConformance, CorpusProgram, ::testing::ValuesIn(corpus_programs()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

mil::Program parse_corpus_program(const std::string& name) {
  const std::string path = (corpus_dir() / (name + ".mil")).string();
  return mil::parse_program(read_bytes(path), path);
}

TEST(AneConformanceCorpus, UsesEveryOpTheCheckerKnows) {
  std::set<std::string> used;
  for (const std::string& name : corpus_programs())
    for (const mil::Operation& op : parse_corpus_program(name).main.ops) used.insert(op.op);
  ASSERT_FALSE(used.empty()) << "no programs in " << corpus_dir();
  for (const std::string& op : mil::checked_ops())
    EXPECT_TRUE(used.count(op)) << "no corpus program uses " << op << ": add one to "
                                << corpus_dir();
}

TEST(AneConformanceCorpus, HasEveryFormTheIssueLists) {
  // An fp16 scalar written as a hex float in either dialect: fp16(0x1.8p+0) or
  // tensor<fp16, []>(-0x1p-1).
  const std::regex hex_literal(R"((fp16|tensor<fp16, \[\]>)\(-?0x[0-9a-fA-F.]+p[-+]?[0-9]+\))");
  std::set<std::string> found;
  for (const std::string& name : corpus_programs()) {
    const std::string text = read_bytes((corpus_dir() / (name + ".mil")).string());
    const mil::Program p = parse_corpus_program(name);
    const mil::Function& f = p.main;
    if (p.version == "1.3" && f.opset == "ios18") found.insert("program(1.3) ios18");
    if (p.version == "1.0" && (f.opset == "ios16" || f.opset == "ios17") &&
        text.find("tensor<string, []>(\"") != std::string::npos)
      found.insert("program(1.0) ios16/17 with rank-0 tensor scalars");
    if (std::regex_search(text, hex_literal)) found.insert("hex fp16 literals");
    const bool fp32_in = std::any_of(f.inputs.begin(), f.inputs.end(), [](const auto& in) {
      return in.second.dtype == mil::DType::kFp32;
    });
    std::map<std::string, mil::Type> types(f.inputs.begin(), f.inputs.end());
    std::map<std::string, std::set<uint64_t>> blob_offsets;  // path -> record offsets
    bool casts = false;
    for (const mil::Operation& op : f.ops) {
      types[op.result] = op.type;
      casts = casts || op.op == "cast";
      if (op.op == "const" && op.val.is_blob)
        blob_offsets[op.val.blob_path].insert(op.val.blob_offset);
    }
    const bool fp32_out = std::any_of(f.outputs.begin(), f.outputs.end(), [&](const auto& out) {
      return types.at(out).dtype == mil::DType::kFp32;
    });
    if (fp32_in && fp32_out && casts) found.insert("fp32 I/O with casts");
    if (f.outputs.size() > 1) found.insert("several outputs");
    if (blob_offsets.size() > 1 &&
        std::all_of(blob_offsets.begin(), blob_offsets.end(),
                    [](const auto& file) { return file.second == std::set<uint64_t>{64}; }))
      found.insert("one weight file per tensor");
    for (const auto& [path, offsets] : blob_offsets)
      if (offsets.size() > 2) found.insert("many records in one weight file");
  }
  for (const char* form : {"program(1.3) ios18", "program(1.0) ios16/17 with rank-0 tensor scalars",
                           "hex fp16 literals", "fp32 I/O with casts", "several outputs",
                           "one weight file per tensor", "many records in one weight file"})
    EXPECT_TRUE(found.count(form)) << "no corpus program has " << form;
}

// The corpus's tolerances would catch an interpreter that got one element a few fp16 ulps
// wrong: the run fails once one expected value moves by 3/1024 of the output's largest
// magnitude (3 to 6 ulps of it; the tolerance is 1/1000).
TEST(AneConformanceCorpus, OneElementAFewUlpsOffFails) {
  if (!python_has_numpy())
    GTEST_SKIP() << kPython << " cannot import numpy, which tools/mil_reference.py needs";
  const std::string name = "attention_heads";
  const nlohmann::json manifest = manifest_of(name);
  TempDir dir;
  ASSERT_EQ(write_reference(name, dir.path()), "");
  const std::string data = dir.file(name);
  const std::string expected = data + "/expected/y.npy";
  NpyArray y = read_npy(expected);
  float largest = 0;
  for (float v : y.values) largest = std::max(largest, std::fabs(v));
  y.values[y.values.size() / 2] += 3.0f * std::ldexp(largest, -10);
  write_npy(expected, y.shape, y.values, false);
  const CommandResult run = run_against_reference(name, data, manifest);
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_GT(printed_error(run.out, "y").max_rel, manifest["tolerance"].get<double>()) << run.out;
  EXPECT_NE(run.out.find("ABOVE TOLERANCE"), std::string::npos) << run.out;
}

}  // namespace
}  // namespace anetrain::testing
