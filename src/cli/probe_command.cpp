// `anetrain probe`: is the ANE usable here, and (where it is) how fast: dispatch latency, a
// sweep of 1x1 convolutions over channel counts, and a long chain of convolutions. With
// ANETRAIN_ANE_DRIVER=fake the same code runs on the fake driver, whose figures measure our
// fp16 interpreter on the CPU and say nothing about an ANE.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "backends/ane/blob/milblob.h"
#include "backends/ane/mil/builder.h"
#include "backends/ane/mil/printer.h"
#include "backends/ane/runtime/fake_driver.h"
#include "backends/ane/runtime/framework_driver.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/fp16.h"

namespace anetrain {
namespace {

struct Built {
  std::string text, weights;
};

// x [1, C, 1, S] through `depth` 1x1 convs of C x C (weights 1/C, so values stay bounded).
Built conv_chain(int64_t C, int64_t S, int depth) {
  ane::MilBlobWriter blob;
  mil::Builder b([&](const std::string&, const std::vector<float>& v) {
    std::vector<uint16_t> bits(v.size());
    for (size_t i = 0; i < v.size(); ++i) bits[i] = fp32_to_fp16(v[i]);
    return std::make_pair(std::string("@model_path/weights/weight.bin"),
                          blob.add_fp16(bits.data(), static_cast<int64_t>(bits.size())));
  });
  mil::Value x = b.input("x", {1, C, 1, S});
  for (int i = 0; i < depth; ++i) {
    // Appended, not "c" + index: GCC 12 reports a false -Wrestrict for literal + string.
    const std::string index = std::to_string(i);
    x = b.conv1x1(
        std::string("c") += index, x,
        b.weight(std::string("w") += index, {C, C, 1, 1}, std::vector<float>(C * C, 1.0f / C)));
  }
  b.output(x);
  return {mil::print_program(b.finish()), blob.serialize()};
}

double seconds_per_eval(ane::AneDriver& driver, const Built& p, int64_t C, int64_t S, int runs) {
  const int64_t h =
      driver.compile_and_load(p.text, {{"@model_path/weights/weight.bin", p.weights}});
  ane::Surface in{C, S, std::vector<uint16_t>(C * S, fp32_to_fp16(0.5f))}, out{C, S, {}};
  driver.evaluate(h, {&in}, {&out});  // warm up
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < runs; ++i) driver.evaluate(h, {&in}, {&out});
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / runs;
  driver.unload(h);
  return s;
}

int run_probe(const Args& args) {
  const int runs = static_cast<int>(args.get_int("runs"));
  std::unique_ptr<ane::AneDriver> driver;
  const char* forced = std::getenv("ANETRAIN_ANE_DRIVER");
  std::string reason;
  if (forced && std::string(forced) == "fake") {
    driver = std::make_unique<ane::FakeDriver>(ane::FakeDriverOptions{.compile_budget = 1000000});
    std::printf(
        "ANE: fake driver (ANETRAIN_ANE_DRIVER=fake): figures below measure the fp16 "
        "interpreter on this CPU, not an ANE\n");
  } else {
    driver = ane::open_framework_driver(&reason);
    if (!driver) {
      std::printf("ANE: unavailable: %s\n", reason.c_str());
      return 1;
    }
    std::printf("ANE: available through %s\n", driver->name().c_str());
  }
  const double latency = seconds_per_eval(*driver, conv_chain(64, 32, 1), 64, 32, runs);
  std::printf("dispatch latency (one 64-channel conv, S 32): %.3f ms\n", latency * 1e3);
  const int64_t S = 512;
  std::printf("%-28s %10s %10s\n", "1x1 conv, S 512", "ms", "TFLOPS");
  for (int64_t C : {256, 512, 1024, 2048}) {
    const double s = seconds_per_eval(*driver, conv_chain(C, S, 1), C, S, runs);
    std::printf("%-28s %10.3f %10.3f\n", ("C " + std::to_string(C)).c_str(), s * 1e3,
                2.0 * C * C * S / s / 1e12);
  }
  const int depth = 16;
  const double s = seconds_per_eval(*driver, conv_chain(512, S, depth), 512, S, runs);
  std::printf("%-28s %10.3f %10.3f\n", "chain of 16 convs, C 512", s * 1e3,
              2.0 * depth * 512 * 512 * S / s / 1e12);
  return 0;
}

}  // namespace

Command probe_command() {
  return {
      .name = "probe",
      .summary = "is the ANE usable here; on a Mac, dispatch latency and TFLOPS",
      .flags = {{.name = "runs",
                 .value = "N",
                 .default_value = "20",
                 .help = "evaluations timed per measurement"}},
      .notes =
          "ANETRAIN_ANE_DRIVER=fake runs it on the fake driver (the fp16 interpreter on this\n"
          "CPU): a test of the code path, not a measurement of an ANE. For tests,\n"
          "ANETRAIN_TEST_ANE_FRAMEWORK=PATH loads the framework API from PATH (the mock in\n"
          "tests/ane_framework_mock): the real driver's path, timed on the interpreter.",
      .run = run_probe,
  };
}

}  // namespace anetrain
