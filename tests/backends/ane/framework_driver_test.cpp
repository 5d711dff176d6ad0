// The framework driver, unchanged, over the mock of the Objective-C runtime and the frameworks
// (tests/ane_framework_mock): each test pins down one memory or protocol rule the runtimes that
// ran on hardware follow (ane.md), and the driver's results equal the fake driver's bit for bit
// (both run the same fp16 interpreter). The mock turns a broken rule into a fatal error or a
// count that does not come back to zero.
#include "backends/ane/runtime/framework_driver.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "ane_framework_mock/anemock.h"
#include "core/fp16.h"
#include "backends/ane/blob/milblob.h"
#include "backends/ane/mil/builder.h"
#include "backends/ane/mil/printer.h"
#include "backends/ane/runtime/fake_driver.h"
#include "support/test_util.h"

namespace anetrain::ane {
namespace {
namespace fs = std::filesystem;
using namespace anetrain::testing;

constexpr const char* kWeights = "@model_path/weights/weight.bin";

struct Program {
  std::string text;
  std::map<std::string, std::string> weights;
};

// A builder's weights as fp16 records of one weight file.
mil::WeightSink into(MilBlobWriter& blob) {
  return [&blob](const std::string&, const std::vector<float>& v) {
    std::vector<uint16_t> bits(v.size());
    for (size_t i = 0; i < v.size(); ++i) bits[i] = fp32_to_fp16(v[i]);
    return std::make_pair(std::string(kWeights),
                          blob.add_fp16(bits.data(), static_cast<int64_t>(bits.size())));
  };
}

// x [1, C, 1, S] through a 1x1 conv of C x C with weights `scale` / C, then + x.
Program conv_program(int64_t C, int64_t S, float scale) {
  MilBlobWriter blob;
  mil::Builder b(into(blob));
  const mil::Value x = b.input("x", {1, C, 1, S});
  const mil::Value w = b.weight("w", {C, C, 1, 1}, std::vector<float>(C * C, scale / C));
  b.output(b.add("y", b.conv1x1("c", x, w), x));
  return {mil::print_program(b.finish()), {{kWeights, blob.serialize()}}};
}

// Two inputs and two outputs of different sizes, declared out of alphabetical order: inputs
// b [1, 32, 1, 32] then a [1, 64, 1, 32]; outputs z = conv(a) + b [1, 32, 1, 32] then
// w = conv(b) [1, 16, 1, 32].
Program two_in_two_out() {
  MilBlobWriter blob;
  mil::Builder builder(into(blob));
  const mil::Value b = builder.input("b", {1, 32, 1, 32});
  const mil::Value a = builder.input("a", {1, 64, 1, 32});
  const mil::Value wz = builder.weight("wz", {32, 64, 1, 1}, random_normal(1, 32 * 64, 0.1));
  const mil::Value ww = builder.weight("ww", {16, 32, 1, 1}, random_normal(2, 16 * 32, 0.1));
  builder.output(builder.add("z", builder.conv1x1("za", a, wz), b));
  builder.output(builder.conv1x1("w", b, ww));
  return {mil::print_program(builder.finish()), {{kWeights, blob.serialize()}}};
}

Surface input_surface(int64_t C, int64_t S, uint64_t seed) {
  Surface s{C, S, {}};
  for (float v : random_normal(seed, C * S, 1.0)) s.fp16.push_back(fp32_to_fp16(v));
  return s;
}

// The mock's inspection API, read from the same library the driver loads.
struct MockApi {
  void* handle = nullptr;
  void (*counts)(AneMockCounts*) = nullptr;
  void (*reset_counts)() = nullptr;
  int64_t (*live)(const char*) = nullptr;
  void (*fail_next_loads)(int) = nullptr;
};

class FrameworkDriverOverMock : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef ANETRAIN_FRAMEWORK_MOCK
    GTEST_SKIP() << "the framework mock is built on x86-64 Linux only";
#else
    mock_path_ = ANETRAIN_FRAMEWORK_MOCK;
    mock_.handle = dlopen(mock_path_.c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(mock_.handle, nullptr) << dlerror();
    mock_.counts = reinterpret_cast<decltype(mock_.counts)>(dlsym(mock_.handle, "anemock_counts"));
    mock_.reset_counts =
        reinterpret_cast<decltype(mock_.reset_counts)>(dlsym(mock_.handle, "anemock_reset_counts"));
    mock_.live = reinterpret_cast<decltype(mock_.live)>(dlsym(mock_.handle, "anemock_live"));
    mock_.fail_next_loads = reinterpret_cast<decltype(mock_.fail_next_loads)>(
        dlsym(mock_.handle, "anemock_fail_next_loads"));
    ASSERT_TRUE(mock_.counts && mock_.reset_counts && mock_.live && mock_.fail_next_loads);
    if (const char* t = std::getenv("TMPDIR")) saved_tmpdir_ = t;
    fs::create_directories(tmp());
    setenv("TMPDIR", tmp().c_str(), 1);
    for (const char* v : {"ANEMOCK_SURFACE_RULE", "ANEMOCK_HEX_RULE", "ANEMOCK_COMPILE_BUDGET",
                          "ANEMOCK_LINT_PROFILE", "ANEMOCK_REPORT_DIR"})
      unsetenv(v);
    mock_.reset_counts();
#endif
  }
  void TearDown() override {
    if (saved_tmpdir_.empty())
      unsetenv("TMPDIR");
    else
      setenv("TMPDIR", saved_tmpdir_.c_str(), 1);
    for (const char* v : {"ANEMOCK_SURFACE_RULE", "ANEMOCK_HEX_RULE", "ANEMOCK_LINT_PROFILE",
                          "ANEMOCK_COMPILE_BUDGET"})
      unsetenv(v);
    if (mock_.handle) dlclose(mock_.handle);
  }

  std::string tmp() const { return dir_.file("tmp"); }
  std::string cache() const { return dir_.file("cache"); }
  FrameworkDriverOptions options() const { return {.cache_dir = cache()}; }

  std::unique_ptr<AneDriver> open(FrameworkDriverOptions options) {
    std::string reason;
    auto driver = open_framework_driver({.ane = mock_path_,
                                         .objc = mock_path_,
                                         .core_foundation = mock_path_,
                                         .iosurface = mock_path_},
                                        options, &reason);
    EXPECT_NE(driver, nullptr) << reason;
    return driver;
  }
  std::unique_ptr<AneDriver> open() { return open(options()); }

  AneMockCounts counts() const {
    AneMockCounts c{};
    mock_.counts(&c);
    return c;
  }
  int64_t entries(const std::string& dir) const {
    std::error_code ec;
    int64_t n = 0;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); ++it)
      ++n;
    return n;
  }
  // Everything the driver ever held is gone: objects, surfaces, pools, loaded models and
  // compile directories.
  void expect_nothing_left() const {
    const AneMockCounts c = counts();
    EXPECT_EQ(c.live_objects, 0);
    EXPECT_EQ(c.live_ane_objects, 0);
    EXPECT_EQ(c.live_surfaces, 0);
    EXPECT_EQ(c.pool_depth, 0);
    EXPECT_EQ(c.pending_autoreleases, 0);
    EXPECT_EQ(c.loaded_models, 0);
    EXPECT_EQ(entries(tmp()), 0) << "compile directories left in $TMPDIR";
  }

  TempDir dir_;
  std::string mock_path_, saved_tmpdir_;
  MockApi mock_;
};

// Defects 1 (no pools), 2 (model not retained), 4 (CF objects never released), 5 (destructor
// erasing while iterating) and 6 (unload left objects and directories): three programs
// compiled, evaluated and left loaded; destroying the driver releases everything.
TEST_F(FrameworkDriverOverMock, NothingOutlivesTheDriver) {
  {
    auto driver = open();
    for (int i = 0; i < 3; ++i) {
      const Program p = conv_program(64, 32, 0.5f + i);
      const int64_t h = driver->compile_and_load(p.text, p.weights);
      Surface in = input_surface(64, 32, i), out{64, 32, {}};
      for (int k = 0; k < 3; ++k) driver->evaluate(h, {&in}, {&out});
    }
    EXPECT_EQ(counts().pool_depth, 0) << "every call pops the pool it pushed";
    EXPECT_EQ(counts().pending_autoreleases, 0);
    EXPECT_EQ(counts().loaded_models, 3);
  }
  EXPECT_EQ(counts().unloads, 3);
  expect_nothing_left();
}

// Defect 2: the model outlives the pool of the call that made it, and results equal the fake
// driver's bit for bit.
TEST_F(FrameworkDriverOverMock, EvaluatesLikeTheFakeDriver) {
  const Program p = conv_program(64, 32, 0.7f);
  auto driver = open();
  FakeDriver fake;
  const int64_t h = driver->compile_and_load(p.text, p.weights);
  const int64_t f = fake.compile_and_load(p.text, p.weights);
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    Surface in = input_surface(64, 32, seed), out{64, 32, {}}, expected{64, 32, {}};
    driver->evaluate(h, {&in}, {&out});
    fake.evaluate(f, {&in}, {&expected});
    EXPECT_EQ(out.fp16, expected.fp16) << "seed " << seed;
  }
}

// Defect 3: surfaces, wrappers and the request are made once per loaded program, not per
// evaluate.
TEST_F(FrameworkDriverOverMock, MakesSurfacesAndTheRequestOncePerProgram) {
  const Program p = conv_program(64, 32, 1.0f);
  auto driver = open();
  const int64_t h = driver->compile_and_load(p.text, p.weights);
  const AneMockCounts loaded = counts();
  EXPECT_EQ(loaded.surfaces_created, 2);
  Surface in = input_surface(64, 32, 3), out{64, 32, {}};
  for (int k = 0; k < 20; ++k) driver->evaluate(h, {&in}, {&out});
  const AneMockCounts after = counts();
  EXPECT_EQ(after.evaluates, 20);
  EXPECT_EQ(after.surfaces_created, 2);
  EXPECT_EQ(after.live_surfaces, 2);
  EXPECT_EQ(after.live_objects, loaded.live_objects);
  EXPECT_EQ(mock_.live("_ANERequest"), 1);
  EXPECT_EQ(mock_.live("_ANEIOSurfaceObject"), 2);
}

// Defect 4: every CF object the driver creates (MIL data, weight copies, dictionaries,
// numbers, strings, arrays) is released once the framework no longer needs it.
TEST_F(FrameworkDriverOverMock, ReleasesWhatItCreates) {
  const Program p = conv_program(64, 32, 1.0f);
  auto driver = open();
  driver->unload(driver->compile_and_load(p.text, p.weights));
  // What the driver holds between programs: the options dictionary it passes to every call.
  EXPECT_EQ(counts().live_objects, 1);
  EXPECT_EQ(mock_.live("NSDictionary"), 1);
  driver.reset();
  for (const char* cls : {"NSData", "NSString", "NSNumber", "NSDictionary", "NSArray", "NSError",
                          "IOSurface", "_ANEInMemoryModel", "_ANEInMemoryModelDescriptor"})
    EXPECT_EQ(mock_.live(cls), 0) << cls;
  expect_nothing_left();
}

// Defect 7: a cached compile loads without compiling (and without counting a compile); a
// cache entry that no longer loads falls back to compiling.
TEST_F(FrameworkDriverOverMock, LoadsACachedCompileWithoutCompiling) {
  const Program p = conv_program(64, 32, 1.0f);
  Surface in = input_surface(64, 32, 4), first{64, 32, {}}, second{64, 32, {}};
  {
    auto driver = open();
    driver->evaluate(driver->compile_and_load(p.text, p.weights), {&in}, {&first});
    EXPECT_EQ(driver->compiles(), 1);
  }
  EXPECT_EQ(counts().compiles, 1);
  mock_.reset_counts();
  {
    auto driver = open();  // a later process
    driver->evaluate(driver->compile_and_load(p.text, p.weights), {&in}, {&second});
    EXPECT_EQ(driver->compiles(), 0);
  }
  EXPECT_EQ(counts().compiles, 0);
  EXPECT_EQ(counts().loads, 1);
  EXPECT_EQ(first.fp16, second.fp16);
  // Spoil the cache entry: the load fails and the driver compiles instead.
  ASSERT_EQ(entries(cache()), 1);
  for (const auto& f : fs::recursive_directory_iterator(cache()))
    if (f.is_regular_file() && f.path().filename() != "model.mil" &&
        f.path().parent_path().filename() != "weights")
      fs::remove(f.path());
  mock_.reset_counts();
  {
    auto driver = open();
    driver->evaluate(driver->compile_and_load(p.text, p.weights), {&in}, {&second});
    EXPECT_EQ(driver->compiles(), 1);
  }
  EXPECT_EQ(counts().failed_loads, 1);
  EXPECT_EQ(first.fp16, second.fp16);
  expect_nothing_left();
}

// Defect 7, second half: whatever an earlier program left in the compile directory (a crashed
// run, another weight set under the same identifier) is cleared before the compiler reads it.
TEST_F(FrameworkDriverOverMock, ClearsStaleFilesBeforeCompiling) {
  const Program p = conv_program(64, 32, 1.0f);
  std::string hex;
  {
    auto driver = open({});  // no cache
    driver->compile_and_load(p.text, p.weights);
    ASSERT_EQ(entries(tmp()), 1);
    hex = fs::directory_iterator(tmp())->path().filename();
  }
  fs::create_directories(tmp() + "/" + hex + "/weights");
  std::ofstream(tmp() + "/" + hex + "/weights/old.bin") << "stale";
  std::ofstream(tmp() + "/" + hex + "/model.mil") << "stale";
  auto driver = open({});
  EXPECT_NO_THROW(driver->compile_and_load(p.text, p.weights));
  EXPECT_EQ(driver->compiles(), 1);
}

// Two weight sets of one program: under either identifier rule each runs its own weights,
// including while both are loaded.
TEST_F(FrameworkDriverOverMock, EveryWeightSetRunsItsOwnWeights) {
  for (const char* rule : {"text-and-keys", "text-and-data"}) {
    setenv("ANEMOCK_HEX_RULE", rule, 1);
    const Program a = conv_program(64, 32, 1.0f), b = conv_program(64, 32, -2.0f);
    auto driver = open({});
    FakeDriver fake;
    const int64_t ha = driver->compile_and_load(a.text, a.weights);
    const int64_t hb = driver->compile_and_load(b.text, b.weights);
    Surface in = input_surface(64, 32, 5), out{64, 32, {}}, expected{64, 32, {}};
    driver->evaluate(ha, {&in}, {&out});
    fake.evaluate(fake.compile_and_load(a.text, a.weights), {&in}, {&expected});
    EXPECT_EQ(out.fp16, expected.fp16) << rule;
    driver->evaluate(hb, {&in}, {&out});
    fake.evaluate(fake.compile_and_load(b.text, b.weights), {&in}, {&expected});
    EXPECT_EQ(out.fp16, expected.fp16) << rule;
    driver->unload(ha);
    driver->evaluate(hb, {&in}, {&out});
    EXPECT_EQ(out.fp16, expected.fp16) << rule << ": unloading one weight set broke the other";
    driver.reset();
    expect_nothing_left();
  }
}

// The static pipeline makes new programs every step: the cache stays within its limit.
TEST_F(FrameworkDriverOverMock, KeepsTheCompileCacheWithinItsLimit) {
  FrameworkDriverOptions o = options();
  o.cache_limit_bytes = 64 << 10;
  auto driver = open(o);
  int64_t largest = 0;
  for (int i = 0; i < 12; ++i) {
    const Program p = conv_program(64, 32, 0.1f * (i + 1));
    driver->unload(driver->compile_and_load(p.text, p.weights));
    int64_t total = 0;
    for (const auto& f : fs::recursive_directory_iterator(cache()))
      if (f.is_regular_file()) total += static_cast<int64_t>(f.file_size());
    largest = std::max(largest, total);
  }
  EXPECT_LE(largest, o.cache_limit_bytes);
  EXPECT_GE(entries(cache()), 1);
  driver.reset();
  expect_nothing_left();
}

// Defect 8: several inputs and outputs bind by alphabetical MIL name with surfaces sized by
// the request rule; the driver follows whichever rule it is given, and the mock refuses a
// request that breaks its rule (error 0x1d, carried into DriverError).
TEST_F(FrameworkDriverOverMock, BindsSeveralInputsAndOutputsByTheRequestRule) {
  setenv("ANEMOCK_LINT_PROFILE", "permissive", 1);
  const Program p = two_in_two_out();
  Surface b = input_surface(32, 32, 6), a = input_surface(64, 32, 7);
  for (const char* rule : {"equal", "ascending"}) {
    setenv("ANEMOCK_SURFACE_RULE", rule, 1);
    const SurfaceSizeRule r = parse_surface_size_rule(rule, "rule");
    auto driver = open({.surface_rule = r});
    FakeDriver fake({.lint_profile = "permissive", .surface_rule = r});
    Surface z{32, 32, {}}, w{16, 32, {}}, fz{32, 32, {}}, fw{16, 32, {}};
    driver->evaluate(driver->compile_and_load(p.text, p.weights), {&b, &a}, {&z, &w});
    fake.evaluate(fake.compile_and_load(p.text, p.weights), {&b, &a}, {&fz, &fw});
    EXPECT_EQ(z.fp16, fz.fp16) << rule;
    EXPECT_EQ(w.fp16, fw.fp16) << rule;
    // The other rule's surfaces break this one.
    const SurfaceSizeRule other =
        r == SurfaceSizeRule::kEqual ? SurfaceSizeRule::kAscending : SurfaceSizeRule::kEqual;
    auto wrong = open({.surface_rule = other});
    const int64_t h = wrong->compile_and_load(p.text, p.weights);
    try {
      wrong->evaluate(h, {&b, &a}, {&z, &w});
      ADD_FAILURE() << "a request breaking the " << rule << " rule was accepted";
    } catch (const DriverError& e) {
      EXPECT_EQ(e.code(), 0x1d) << e.what();
    }
  }
  unsetenv("ANEMOCK_SURFACE_RULE");
  const RequestLayout layout =
      plan_request({{{"b", 32, 32}, {"a", 64, 32}}, {{"z", 32, 32}, {"w", 16, 32}}},
                   SurfaceSizeRule::kAscending);
  EXPECT_EQ(layout.inputs[0].position, 1);  // b binds second
  EXPECT_EQ(layout.inputs[1].position, 0);
  EXPECT_GT(layout.inputs[0].surface_bytes, layout.inputs[1].surface_bytes);
  EXPECT_EQ(layout.outputs[1].position, 0);  // w binds first, and is the larger surface
  EXPECT_GT(layout.outputs[1].surface_bytes, layout.outputs[0].surface_bytes);
}

// Smaller defects: a failed load is retried once; the NSError's code and its whole
// description (however long) reach DriverError.
TEST_F(FrameworkDriverOverMock, RetriesALoadOnceAndReportsFrameworkErrors) {
  const Program p = conv_program(64, 32, 1.0f);
  auto driver = open({});
  mock_.fail_next_loads(1);
  EXPECT_NO_THROW(driver->compile_and_load(p.text, p.weights));
  EXPECT_EQ(counts().failed_loads, 1);
  mock_.fail_next_loads(2);
  try {
    driver->compile_and_load(p.text, p.weights);
    ADD_FAILURE() << "two failed loads were not reported";
  } catch (const DriverError& e) {
    EXPECT_NE(std::string(e.what()).find("load failed: "), std::string::npos) << e.what();
    EXPECT_NE(e.code(), 0);
  }
  // A compile error whose description is far longer than 1023 bytes: the lint profile wants
  // inputs in alphabetical order, and these two have names of 1500 characters.
  mil::Builder builder([](const std::string&, const std::vector<float>&) {
    return std::make_pair(std::string(kWeights), uint64_t{64});
  });
  const std::string late(1500, 'z'), early(1500, 'a');
  const mil::Value x = builder.input(late, {1, 32, 1, 32});
  const mil::Value y = builder.input(early, {1, 64, 1, 32});
  builder.output(builder.add("s", builder.slice_by_size("t", y, {0, 0, 0, 0}, {1, 32, 1, 32}), x));
  try {
    driver->compile_and_load(mil::print_program(builder.finish()), {});
    ADD_FAILURE() << "inputs out of alphabetical order compiled under m4-macos15";
  } catch (const DriverError& e) {
    EXPECT_NE(std::string(e.what()).find(early), std::string::npos) << e.what();
    EXPECT_NE(e.code(), 0);
  }
  driver.reset();
  expect_nothing_left();
}

}  // namespace
}  // namespace anetrain::ane
