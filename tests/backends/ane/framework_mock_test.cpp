// The AppleNeuralEngine framework mock (tests/ane_framework_mock/) proves itself here, called
// the way a driver calls the real frameworks: dlopen, dlsym, objc_msgSend cast to each method's
// real signature. Covered: the trampoline's argument passing (9 integer arguments, 3 of them on
// the stack) and return values; every rule that is fatal on a Mac dies with a clear message;
// pools and reference counts; compile -> load -> evaluate -> unload bit-identical to FakeDriver;
// compile reading the directory, not the descriptor; request binding and the surface rules;
// the hex identifier rules; the compile budget; injected load failures.
#include <gtest/gtest.h>

#ifndef ANETRAIN_FRAMEWORK_MOCK

TEST(FrameworkMock, Skipped) { GTEST_SKIP() << "the framework mock is built on x86-64 Linux only"; }

#else

#include <dlfcn.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "ane_framework_mock/anemock.h"
#include "core/fp16.h"
#include "backends/ane/blob/milblob.h"
#include "backends/ane/mil/builder.h"
#include "backends/ane/mil/printer.h"
#include "backends/ane/runtime/fake_driver.h"

namespace anetrain::ane {
namespace {

namespace fs = std::filesystem;
using id = void*;
using SEL = void*;
using CF = const void*;

constexpr uint32_t kUtf8 = 0x08000100;
constexpr long kSInt64 = 4;
constexpr unsigned kQoS = 21;
constexpr const char* kRequestSelector =
    "requestWithInputs:inputIndices:outputs:outputIndices:weightsBuffer:perfStats:"
    "procedureIndex:";

// The mock's API, resolved as the framework driver resolves it.
struct Api {
  void* lib = nullptr;
  id (*objc_getClass)(const char*);
  SEL (*sel_registerName)(const char*);
  void* objc_msgSend;
  void* (*pool_push)();
  void (*pool_pop)(void*);
  CF (*CFDataCreate)(CF, const uint8_t*, long);
  CF (*CFStringCreateWithCString)(CF, const char*, uint32_t);
  CF (*CFNumberCreate)(CF, long, const void*);
  CF (*CFDictionaryCreate)(CF, const void**, const void**, long, const void*, const void*);
  CF (*CFArrayCreate)(CF, const void**, long, const void*);
  void (*CFRelease)(CF);
  long (*CFGetRetainCount)(CF);
  bool (*CFStringGetCString)(CF, char*, long, uint32_t);
  const void *dict_keys, *dict_values, *array_callbacks;
  CF (*IOSurfaceCreate)(CF);
  int (*IOSurfaceLock)(CF, uint32_t, uint32_t*);
  int (*IOSurfaceUnlock)(CF, uint32_t, uint32_t*);
  void* (*IOSurfaceGetBaseAddress)(CF);
  const CF* surface_keys[6];
  void (*counts)(AneMockCounts*);
  void (*reset_counts)();
  int64_t (*live)(const char*);
  void (*fail_next_loads)(int);
};

template <typename T>
void sym(void* lib, const char* name, T& out) {
  out = reinterpret_cast<T>(dlsym(lib, name));
  if (!out) throw std::runtime_error(std::string("mock lacks ") + name);
}

const Api& api() {
  static const Api a = [] {
    Api a;
    a.lib = dlopen(ANETRAIN_FRAMEWORK_MOCK, RTLD_NOW | RTLD_LOCAL);
    if (!a.lib) throw std::runtime_error(dlerror());
    void* l = a.lib;
    sym(l, "objc_getClass", a.objc_getClass);
    sym(l, "sel_registerName", a.sel_registerName);
    sym(l, "objc_msgSend", a.objc_msgSend);
    sym(l, "objc_autoreleasePoolPush", a.pool_push);
    sym(l, "objc_autoreleasePoolPop", a.pool_pop);
    sym(l, "CFDataCreate", a.CFDataCreate);
    sym(l, "CFStringCreateWithCString", a.CFStringCreateWithCString);
    sym(l, "CFNumberCreate", a.CFNumberCreate);
    sym(l, "CFDictionaryCreate", a.CFDictionaryCreate);
    sym(l, "CFArrayCreate", a.CFArrayCreate);
    sym(l, "CFRelease", a.CFRelease);
    sym(l, "CFGetRetainCount", a.CFGetRetainCount);
    sym(l, "CFStringGetCString", a.CFStringGetCString);
    sym(l, "kCFTypeDictionaryKeyCallBacks", a.dict_keys);
    sym(l, "kCFTypeDictionaryValueCallBacks", a.dict_values);
    sym(l, "kCFTypeArrayCallBacks", a.array_callbacks);
    sym(l, "IOSurfaceCreate", a.IOSurfaceCreate);
    sym(l, "IOSurfaceLock", a.IOSurfaceLock);
    sym(l, "IOSurfaceUnlock", a.IOSurfaceUnlock);
    sym(l, "IOSurfaceGetBaseAddress", a.IOSurfaceGetBaseAddress);
    const char* keys[6] = {"kIOSurfaceWidth",           "kIOSurfaceHeight",
                           "kIOSurfaceBytesPerElement", "kIOSurfaceBytesPerRow",
                           "kIOSurfaceAllocSize",       "kIOSurfacePixelFormat"};
    for (int i = 0; i < 6; ++i) sym(l, keys[i], a.surface_keys[i]);
    sym(l, "anemock_counts", a.counts);
    sym(l, "anemock_reset_counts", a.reset_counts);
    sym(l, "anemock_live", a.live);
    sym(l, "anemock_fail_next_loads", a.fail_next_loads);
    return a;
  }();
  return a;
}

template <typename R, typename... A>
R send(id target, const char* selector, A... args) {
  auto fn = reinterpret_cast<R (*)(id, SEL, A...)>(api().objc_msgSend);
  return fn(target, api().sel_registerName(selector), args...);
}
id cls(const char* name) { return api().objc_getClass(name); }
// Hands a +1 object to the current pool: it lives until the pool is popped.
CF ar(CF o) { return send<id>(const_cast<void*>(o), "autorelease"); }
CF str(const std::string& s) {
  return ar(api().CFStringCreateWithCString(nullptr, s.c_str(), kUtf8));
}
CF data(const std::string& b) {
  return ar(api().CFDataCreate(nullptr, reinterpret_cast<const uint8_t*>(b.data()),
                               static_cast<long>(b.size())));
}
CF num(int64_t v) { return ar(api().CFNumberCreate(nullptr, kSInt64, &v)); }
CF dict(std::vector<CF> keys, std::vector<CF> values) {
  return ar(api().CFDictionaryCreate(nullptr, keys.data(), values.data(),
                                     static_cast<long>(keys.size()), api().dict_keys,
                                     api().dict_values));
}
CF array(std::vector<CF> items) {
  return ar(api().CFArrayCreate(nullptr, items.data(), static_cast<long>(items.size()),
                                api().array_callbacks));
}
std::string text(CF s) {
  char buf[4096] = {0};
  api().CFStringGetCString(s, buf, sizeof buf, kUtf8);
  return buf;
}
AneMockCounts counts() {
  AneMockCounts c;
  api().counts(&c);
  return c;
}

// A +1 IOSurface of `bytes` bytes, as ane.md describes (width = bytes, height 1).
CF new_surface(int64_t bytes) {
  const Api& a = api();
  std::vector<CF> keys, values;
  for (int i = 0; i < 6; ++i) keys.push_back(*a.surface_keys[i]);
  values = {num(bytes), num(1), num(1), num(bytes), num(bytes), num(0)};
  return a.IOSurfaceCreate(dict(keys, values));
}
void fill(CF s, const std::vector<uint16_t>& v) {
  api().IOSurfaceLock(s, 0, nullptr);
  std::memcpy(api().IOSurfaceGetBaseAddress(s), v.data(), v.size() * 2);
  api().IOSurfaceUnlock(s, 0, nullptr);
}
std::vector<uint16_t> read(CF s, size_t n) {
  std::vector<uint16_t> v(n);
  api().IOSurfaceLock(s, 1, nullptr);
  std::memcpy(v.data(), api().IOSurfaceGetBaseAddress(s), n * 2);
  api().IOSurfaceUnlock(s, 1, nullptr);
  return v;
}

struct Program {
  std::string mil;
  std::map<std::string, std::string> weights;
};

// One 1x1 conv of C channels over S columns, with its weight file (probe_command's conv_chain).
Program conv(int64_t C, int64_t S, float scale) {
  MilBlobWriter blob;
  mil::Builder b([&](const std::string&, const std::vector<float>& v) {
    std::vector<uint16_t> bits(v.size());
    for (size_t i = 0; i < v.size(); ++i) bits[i] = fp32_to_fp16(v[i]);
    return std::make_pair(std::string("@model_path/weights/weight.bin"),
                          blob.add_fp16(bits.data(), static_cast<int64_t>(bits.size())));
  });
  mil::Value x = b.input("x", {1, C, 1, S});
  std::vector<float> w(C * C);
  for (size_t i = 0; i < w.size(); ++i) w[i] = scale * static_cast<float>(i % 7) / C;
  b.output(b.conv1x1("c0", x, b.weight("w0", {C, C, 1, 1}, w)));
  return {mil::print_program(b.finish()), {{"@model_path/weights/weight.bin", blob.serialize()}}};
}

// Inputs declared "b" (64 channels) then "a" (32); outputs "zb" = b + b then "ya" = a * a:
// declaration order is the reverse of alphabetical order on both sides.
Program two_inputs() {
  mil::Builder b([](const std::string&, const std::vector<float>&) {
    return std::make_pair(std::string(), uint64_t{0});
  });
  mil::Value in_b = b.input("b", {1, 64, 1, 32});
  mil::Value in_a = b.input("a", {1, 32, 1, 32});
  b.output(b.add("zb", in_b, in_b));
  b.output(b.mul("ya", in_a, in_a));
  return {mil::print_program(b.finish()), {}};
}

std::vector<uint16_t> ramp(size_t n, float step) {
  std::vector<uint16_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = fp32_to_fp16(static_cast<float>(i % 113) * step - 1.0f);
  return v;
}

// The calls a driver makes, as helpers (no fixture state: death-test children run them too).
class MockCalls : public ::testing::Test {
 protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    api();
  }

  // An autoreleased model for `p` (descriptor built as the driver does).
  id model(const Program& p) {
    std::vector<CF> keys, values;
    for (const auto& [path, bytes] : p.weights) {
      keys.push_back(str(path));
      values.push_back(dict({str("offset"), str("data")}, {num(0), data(bytes)}));
    }
    id desc = send<id, CF, CF, id>(cls("_ANEInMemoryModelDescriptor"),
                                   "modelWithMILText:weights:optionsPlist:", data(p.mil),
                                   dict(keys, values), nullptr);
    return send<id, id>(cls("_ANEInMemoryModel"), "inMemoryModelWithDescriptor:", desc);
  }
  static std::string dir_of(id m) {
    return std::string(std::getenv("TMPDIR")) + "/" + text(send<CF>(m, "hexStringIdentifier"));
  }
  // Writes model.mil and weights/ where the compiler reads them.
  std::string write_dir(id m, const Program& p) {
    const std::string dir = dir_of(m);
    fs::create_directories(dir + "/weights");
    std::ofstream(dir + "/model.mil", std::ios::binary) << p.mil;
    for (const auto& [path, bytes] : p.weights)
      std::ofstream(dir + "/" + path.substr(std::strlen("@model_path/")), std::ios::binary)
          << bytes;
    return dir;
  }
  bool compile(id m, id* error) {
    return send<bool, unsigned, CF, id*>(m, "compileWithQoS:options:error:", kQoS, dict({}, {}),
                                         error);
  }
  bool load(id m, id* error) {
    return send<bool, unsigned, CF, id*>(m, "loadWithQoS:options:error:", kQoS, dict({}, {}),
                                         error);
  }
  bool unload(id m) {
    id error = nullptr;
    return send<bool, unsigned, id*>(m, "unloadWithQoS:error:", kQoS, &error);
  }
  id wrap(CF surface) {
    return send<id, CF>(cls("_ANEIOSurfaceObject"), "objectWithIOSurface:", surface);
  }
  id request(std::vector<CF> in, std::vector<int64_t> in_idx, std::vector<CF> out,
             std::vector<int64_t> out_idx) {
    std::vector<CF> in_objects, out_objects, in_numbers, out_numbers;
    for (CF s : in) in_objects.push_back(wrap(s));
    for (CF s : out) out_objects.push_back(wrap(s));
    for (int64_t i : in_idx) in_numbers.push_back(num(i));
    for (int64_t i : out_idx) out_numbers.push_back(num(i));
    return send<id, CF, CF, CF, CF, id, id, CF>(
        cls("_ANERequest"), kRequestSelector, array(in_objects), array(in_numbers),
        array(out_objects), array(out_numbers), nullptr, nullptr, num(0));
  }
  bool evaluate(id m, id req, id* error) {
    return send<bool, unsigned, CF, id, id*>(m, "evaluateWithQoS:options:request:error:", kQoS,
                                             dict({}, {}), req, error);
  }
  static long code(id error) { return send<long>(error, "code"); }
  static std::string description(id error) { return text(send<CF>(error, "description")); }
};

// Each test gets its own TMPDIR (removed afterwards) and fresh counts.
class FrameworkMock : public MockCalls {
 protected:
  void SetUp() override {
    MockCalls::SetUp();
    char pattern[] = "/tmp/anemock_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    tmp_ = pattern;
    const char* old = std::getenv("TMPDIR");
    old_tmpdir_ = old ? old : "";
    had_tmpdir_ = old != nullptr;
    setenv("TMPDIR", tmp_.c_str(), 1);
    api().reset_counts();
  }
  void TearDown() override {
    if (had_tmpdir_)
      setenv("TMPDIR", old_tmpdir_.c_str(), 1);
    else
      unsetenv("TMPDIR");
    for (const char* v : {"ANEMOCK_SURFACE_RULE", "ANEMOCK_HEX_RULE", "ANEMOCK_COMPILE_BUDGET",
                          "ANEMOCK_LINT_PROFILE"})
      unsetenv(v);
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  std::string tmp_, old_tmpdir_;
  bool had_tmpdir_ = false;
};

// Opens and closes a pool around a test body.
struct Pool {
  void* token = api().pool_push();
  ~Pool() { api().pool_pop(token); }
};

TEST_F(FrameworkMock, TrampolinePassesNineArgumentsAndReturnValues) {
  Pool pool;
  CF in = array({}), in_idx = array({}), out = array({}), out_idx = array({});
  CF weights = str("weights buffer"), stats = str("perf stats"), procedure = num(0);
  const std::vector<CF> args = {in, in_idx, out, out_idx, weights, stats, procedure};
  std::vector<long> before;
  for (CF a : args) before.push_back(api().CFGetRetainCount(a));
  id req = send<id, CF, CF, CF, CF, CF, CF, CF>(cls("_ANERequest"), kRequestSelector, in, in_idx,
                                                out, out_idx, weights, stats, procedure);
  ASSERT_NE(req, nullptr);
  // The request retained every argument, including the three passed on the stack.
  for (size_t i = 0; i < args.size(); ++i)
    EXPECT_EQ(api().CFGetRetainCount(args[i]), before[i] + 1) << "argument " << i;
  // Returns: pointer (a string), unsigned long, long long, int, bool.
  CF s = str("héllo");
  EXPECT_STREQ(send<const char*>(const_cast<void*>(s), "UTF8String"), "héllo");
  EXPECT_EQ(send<unsigned long>(const_cast<void*>(s), "length"), 5u);
  CF big = num(int64_t{1} << 40);
  EXPECT_EQ(send<long long>(const_cast<void*>(big), "longLongValue"), int64_t{1} << 40);
  EXPECT_EQ(send<int>(const_cast<void*>(num(-7)), "intValue"), -7);
  CF d = dict({str("k")}, {num(3)});
  EXPECT_EQ(send<unsigned long>(const_cast<void*>(d), "count"), 1u);
  EXPECT_EQ(send<long long>(send<id, CF>(const_cast<void*>(d), "objectForKey:", str("k")),
                            "longLongValue"),
            3);
  id error = nullptr;
  id m = model(conv(32, 32, 1.0f));
  EXPECT_FALSE(load(m, &error));  // nothing compiled: NO plus an NSError
  ASSERT_NE(error, nullptr);
  EXPECT_GT(code(error), 0);
  EXPECT_NE(description(error).find("no compiled model"), std::string::npos);
}

TEST_F(FrameworkMock, PoolsReleaseWhatWasAutoreleased) {
  const AneMockCounts start = counts();
  EXPECT_EQ(start.live_objects, 0);
  void* outer = api().pool_push();
  CF kept = api().CFStringCreateWithCString(nullptr, "kept", kUtf8);  // +1, not autoreleased
  {
    Pool inner;
    str("a");
    num(1);
    CF arr = array({str("b")});
    EXPECT_EQ(counts().pending_autoreleases, 4);
    EXPECT_EQ(counts().pool_depth, 2);
    EXPECT_EQ(api().live("NSString"), 3);
    EXPECT_EQ(api().CFGetRetainCount(arr), 1);
  }
  EXPECT_EQ(counts().pending_autoreleases, 0);
  EXPECT_EQ(api().live("NSString"), 1);
  ar(kept);
  api().pool_pop(outer);
  const AneMockCounts end = counts();
  EXPECT_EQ(end.live_objects, 0);
  EXPECT_EQ(end.pool_depth, 0);
}

TEST_F(FrameworkMock, CoreFoundationCalls) {
  Pool pool;
  CF s = str("abc");
  char small[3] = {'x', 'x', 'x'};
  EXPECT_FALSE(api().CFStringGetCString(s, small, sizeof small, kUtf8));  // "abc" + NUL: 4
  char fits[4];
  EXPECT_TRUE(api().CFStringGetCString(s, fits, sizeof fits, kUtf8));
  EXPECT_STREQ(fits, "abc");
  using RetainFn = CF (*)(CF);
  RetainFn retain = reinterpret_cast<RetainFn>(dlsym(api().lib, "CFRetain"));
  ASSERT_NE(retain, nullptr);
  EXPECT_EQ(retain(s), s);
  EXPECT_EQ(api().CFGetRetainCount(s), 2);
  api().CFRelease(s);
  EXPECT_EQ(text(*api().surface_keys[0]), "IOSurfaceWidth");
  CF surface = ar(new_surface(100));
  EXPECT_EQ(counts().live_surfaces, 1);
  EXPECT_EQ(counts().surfaces_created, 1);
  uint32_t seed = 0;
  EXPECT_EQ(api().IOSurfaceLock(surface, 0, &seed), 0);
  static_cast<char*>(api().IOSurfaceGetBaseAddress(surface))[99] = 7;  // locked: writable
  EXPECT_EQ(api().IOSurfaceUnlock(surface, 0, &seed), 0);
  EXPECT_EQ(api().live("IOSurface"), 1);
}

TEST_F(FrameworkMock, ReportAtTheOutermostPoolPop) {
  const std::string dir = tmp_ + "/reports";
  fs::create_directories(dir);
  setenv("ANEMOCK_REPORT_DIR", dir.c_str(), 1);
  CF kept = nullptr;
  {
    Pool outer;
    kept = api().CFStringCreateWithCString(nullptr, "kept", kUtf8);
    Pool inner;
    str("dropped");
  }
  unsetenv("ANEMOCK_REPORT_DIR");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].extension(), ".json");
  std::ifstream in(files[0]);
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["live_objects"], 1);
  EXPECT_EQ(j["pool_depth"], 0);
  EXPECT_EQ(j["live_by_class"], nlohmann::json({{"NSString", 1}}));
  for (const char* field :
       {"live_ane_objects", "live_surfaces", "surfaces_created", "pending_autoreleases", "compiles",
        "loads", "failed_loads", "unloads", "evaluates", "loaded_models"})
    EXPECT_TRUE(j.contains(field)) << field;
  api().CFRelease(kept);
}

// No temporary directory: a death-test child re-runs SetUp and dies before any TearDown.
using FrameworkMockDeathTest = MockCalls;

TEST_F(FrameworkMockDeathTest, FatalRulesDieWithAClearMessage) {
  EXPECT_DEATH(([&] {
                 Pool pool;
                 send<id>(const_cast<void*>(str("x")), "frobnicate");
               })(),
               "anemock: unknown selector frobnicate sent to instance of NSString");
  EXPECT_DEATH(([&] {
                 Pool pool;
                 id m = model(conv(32, 32, 1.0f));
                 send<id, id>(m, "inMemoryModelWithDescriptor:", nullptr);
               })(),
               "anemock: class method \\+inMemoryModelWithDescriptor: sent to instance of "
               "_ANEInMemoryModel");
  EXPECT_DEATH(([&] {
                 Pool pool;
                 send<id, CF, CF, id>(cls("_ANEInMemoryModelDescriptor"),
                                      "modelWithMILText:weights:optionsPlist:", str("program"),
                                      dict({}, {}), nullptr);
               })(),
               "anemock: .*MIL text must be NSData.*got NSString");
  EXPECT_DEATH(([&] {
                 Pool pool;
                 send<id, CF, CF, id>(cls("_ANEInMemoryModelDescriptor"),
                                      "modelWithMILText:weights:optionsPlist:", data("program"),
                                      nullptr, nullptr);
               })(),
               "anemock: .*weights is nil");
  EXPECT_DEATH(([&] {
                 CF s = api().CFStringCreateWithCString(nullptr, "gone", kUtf8);
                 api().CFRelease(s);
                 send<unsigned long>(const_cast<void*>(s), "length");
               })(),
               "anemock: length: instance of NSString at 0x[0-9a-f]+ was already released");
  EXPECT_DEATH(([&] {
                 CF s = api().CFStringCreateWithCString(nullptr, "orphan", kUtf8);
                 send<id>(const_cast<void*>(s), "autorelease");
               })(),
               "anemock: autorelease of instance of NSString .* with no autorelease pool");
  EXPECT_DEATH(api().CFRelease(nullptr), "anemock: CFRelease\\(NULL\\)");
  // Pools are per thread: one pushed here does not cover another thread.
  EXPECT_DEATH(
      ([&] {
        Pool pool;
        std::thread([] {
          send<id>(const_cast<void*>(api().CFStringCreateWithCString(nullptr, "elsewhere", kUtf8)),
                   "autorelease");
        }).join();
      })(),
      "anemock: autorelease .* with no autorelease pool on this thread");
  EXPECT_DEATH(send<unsigned long>(nullptr, "length"), "anemock: message length sent to nil");
  int not_an_object = 0;
  EXPECT_DEATH(send<unsigned long>(&not_an_object, "length"),
               "anemock: length: 0x[0-9a-f]+ is not an object");
  EXPECT_DEATH(send<id>(cls("_ANEInMemoryModel"), "hexStringIdentifier"),
               "anemock: instance method -hexStringIdentifier sent to class _ANEInMemoryModel");
  EXPECT_DEATH(api().pool_pop(reinterpret_cast<void*>(12345)),
               "anemock: objc_autoreleasePoolPop.*not the innermost");
  EXPECT_DEATH(([&] {
                 Pool pool;
                 CF s = new_surface(64);
                 api().IOSurfaceLock(s, 0, nullptr);
                 api().IOSurfaceLock(s, 0, nullptr);
               })(),
               "anemock: IOSurfaceLock: surface is already locked");
  EXPECT_DEATH(([&] {
                 Pool pool;
                 CF s = new_surface(64);
                 static_cast<volatile char*>(api().IOSurfaceGetBaseAddress(s))[3] = 1;
               })(),
               "anemock: surface 0x[0-9a-f]+ accessed while unlocked");
  EXPECT_DEATH(
      ([&] {
        Pool pool;
        CF s = new_surface(64);
        api().IOSurfaceLock(s, 1, nullptr);
        static_cast<volatile char*>(api().IOSurfaceGetBaseAddress(s))[0] = 1;
      })(),
      "anemock: surface 0x[0-9a-f]+ accessed while unlocked \\(or written under a read-only");
  // The pool releases a model that is still loaded.
  EXPECT_DEATH(([&] {
                 Pool pool;
                 char tmp[] = "/tmp/anemock_death_XXXXXX";
                 setenv("TMPDIR", mkdtemp(tmp), 1);
                 const Program p = conv(32, 32, 1.0f);
                 id m = model(p);
                 write_dir(m, p);
                 id error = nullptr;
                 compile(m, &error);
                 load(m, &error);
                 fs::remove_all(tmp);  // before dying: this child runs no TearDown
               })(),
               "anemock: _ANEInMemoryModel .* released while loaded");
}

TEST_F(FrameworkMock, CompileLoadEvaluateUnloadMatchesTheFakeDriver) {
  const int64_t C = 64, S = 32;
  const Program p = conv(C, S, 0.5f);
  const std::vector<uint16_t> input = ramp(C * S, 0.03f);
  {
    Pool pool;
    id m = send<id>(model(p), "retain");  // kept past this pool, as a driver keeps its models
    write_dir(m, p);
    id error = nullptr;
    ASSERT_TRUE(compile(m, &error)) << description(error);
    ASSERT_TRUE(load(m, &error)) << description(error);
    CF in = new_surface(C * S * 2), out = new_surface(C * S * 2);
    fill(in, input);
    id req = send<id>(request({in}, {0}, {out}, {0}), "retain");
    for (int run = 0; run < 2; ++run) {  // one request, reused
      ASSERT_TRUE(evaluate(m, req, &error)) << description(error);
      FakeDriver fake;
      Surface fin{C, S, input}, fout{C, S, {}};
      const int64_t h = fake.compile_and_load(p.mil, p.weights);
      fake.evaluate(h, {&fin}, {&fout});
      EXPECT_EQ(read(out, C * S), fout.fp16);
    }
    EXPECT_TRUE(unload(m));
    EXPECT_FALSE(unload(m));
    api().CFRelease(req);
    api().CFRelease(in);
    api().CFRelease(out);
    api().CFRelease(m);
  }
  const AneMockCounts c = counts();
  EXPECT_EQ(c.compiles, 1);
  EXPECT_EQ(c.loads, 1);
  EXPECT_EQ(c.evaluates, 2);
  EXPECT_EQ(c.unloads, 1);
  EXPECT_EQ(c.loaded_models, 0);
  EXPECT_EQ(c.surfaces_created, 2);
  EXPECT_EQ(c.live_surfaces, 0);
  EXPECT_EQ(c.live_ane_objects, 0);
  EXPECT_EQ(c.live_objects, 0);
}

TEST_F(FrameworkMock, CompileReadsTheDirectoryNotTheDescriptor) {
  Pool pool;
  const Program p = conv(32, 32, 1.0f);
  id m = model(p);
  id error = nullptr;
  EXPECT_FALSE(compile(m, &error));  // no directory yet
  EXPECT_NE(description(error).find("does not exist"), std::string::npos);
  const std::string dir = write_dir(m, p);
  std::ofstream(dir + "/model.mil", std::ios::app) << "// edited\n";
  error = nullptr;
  EXPECT_FALSE(compile(m, &error));
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(code(error), 3);
  EXPECT_NE(description(error).find("model.mil differs"), std::string::npos) << description(error);
  write_dir(m, p);
  std::ofstream(dir + "/weights/old.bin") << "stale";
  EXPECT_FALSE(compile(m, &error));
  EXPECT_EQ(code(error), 4);
  EXPECT_NE(description(error).find("weights/old.bin"), std::string::npos) << description(error);
  fs::remove(dir + "/weights/old.bin");
  EXPECT_TRUE(compile(m, &error)) << description(error);
  EXPECT_EQ(counts().compiles, 4);
}

TEST_F(FrameworkMock, LoadRunsTheCompiledSnapshotNotTheCurrentWeights) {
  const int64_t C = 32, S = 32;
  const Program p1 = conv(C, S, 1.0f), p2 = conv(C, S, 2.0f);  // same text and keys
  Pool pool;
  id m1 = model(p1);
  write_dir(m1, p1);
  id error = nullptr;
  ASSERT_TRUE(compile(m1, &error)) << description(error);
  id m2 = model(p2);
  ASSERT_EQ(dir_of(m1), dir_of(m2));  // text-and-keys: the weights do not change the name
  write_dir(m2, p2);                  // new weights, but no compile: stale output runs
  ASSERT_TRUE(load(m2, &error)) << description(error);
  CF in = ar(new_surface(C * S * 2)), out = ar(new_surface(C * S * 2));
  const std::vector<uint16_t> input = ramp(C * S, 0.01f);
  fill(in, input);
  ASSERT_TRUE(evaluate(m2, request({in}, {0}, {out}, {0}), &error)) << description(error);
  FakeDriver fake;
  Surface fin{C, S, input}, fout{C, S, {}};
  fake.evaluate(fake.compile_and_load(p1.mil, p1.weights), {&fin}, {&fout});
  EXPECT_EQ(read(out, C * S), fout.fp16);
  EXPECT_TRUE(unload(m2));
}

TEST_F(FrameworkMock, HexIdentifierDependsOnWeightDataOnlyUnderTextAndData) {
  Pool pool;
  const Program p1 = conv(32, 32, 1.0f), p2 = conv(32, 32, 2.0f);
  id m1 = model(p1), m2 = model(p2);
  const std::string h1 = text(send<CF>(m1, "hexStringIdentifier"));
  EXPECT_EQ(h1.size(), 64u);
  EXPECT_EQ(h1.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(h1, text(send<CF>(m2, "hexStringIdentifier")));
  setenv("ANEMOCK_HEX_RULE", "text-and-data", 1);
  EXPECT_NE(text(send<CF>(m1, "hexStringIdentifier")), text(send<CF>(m2, "hexStringIdentifier")));
  EXPECT_NE(text(send<CF>(m1, "hexStringIdentifier")), h1);
}

TEST_F(FrameworkMock, CompileBudgetAndInjectedLoadFailures) {
  Pool pool;
  const Program p = conv(32, 32, 1.0f);
  id m = model(p);
  write_dir(m, p);
  setenv("ANEMOCK_COMPILE_BUDGET", std::to_string(counts().process_compiles + 1).c_str(), 1);
  id error = nullptr;
  EXPECT_TRUE(compile(m, &error)) << description(error);
  EXPECT_FALSE(compile(m, &error));
  EXPECT_EQ(code(error), 1);
  EXPECT_NE(description(error).find("compile budget exhausted"), std::string::npos);
  EXPECT_EQ(counts().compiles, 1);
  api().fail_next_loads(1);
  EXPECT_FALSE(load(m, &error));
  EXPECT_NE(description(error).find("transient"), std::string::npos);
  EXPECT_TRUE(load(m, &error)) << description(error);
  EXPECT_FALSE(load(m, &error));  // already loaded
  EXPECT_EQ(counts().loads, 1);
  EXPECT_EQ(counts().failed_loads, 2);
  EXPECT_TRUE(unload(m));
}

class FrameworkMockBinding : public FrameworkMock {
 protected:
  // Compiles and loads two_inputs() (permissive lint: its I/O ignores the hardware ordering).
  void SetUp() override {
    FrameworkMock::SetUp();
    setenv("ANEMOCK_LINT_PROFILE", "permissive", 1);
    pool_ = api().pool_push();
    m_ = model(p_);
    write_dir(m_, p_);
    id error = nullptr;
    ASSERT_TRUE(compile(m_, &error)) << description(error);
    ASSERT_TRUE(load(m_, &error)) << description(error);
  }
  void TearDown() override {
    unload(m_);
    api().pool_pop(pool_);
    EXPECT_EQ(counts().live_objects, 0);
    FrameworkMock::TearDown();
  }
  // Evaluates with surfaces of the given sizes, bound as given: inputs a, b and outputs ya, zb
  // (alphabetical positions 0 and 1) listed in reverse order in the request. Returns the error
  // code (0 on success) and checks the outputs on success.
  long run(int64_t a_bytes, int64_t b_bytes, int64_t ya_bytes, int64_t zb_bytes) {
    CF a = ar(new_surface(a_bytes)), b = ar(new_surface(b_bytes));
    CF ya = ar(new_surface(ya_bytes)), zb = ar(new_surface(zb_bytes));
    const std::vector<uint16_t> va = ramp(32 * 32, 0.02f), vb = ramp(64 * 32, 0.05f);
    fill(a, va);
    fill(b, vb);
    id error = nullptr;
    if (!evaluate(m_, request({b, a}, {1, 0}, {zb, ya}, {1, 0}), &error)) {
      EXPECT_NE(error, nullptr);
      return error ? code(error) : -1;
    }
    FakeDriver fake(FakeDriverOptions{.lint_profile = "permissive"});
    Surface fb{64, 32, vb}, fa{32, 32, va}, fzb{64, 32, {}}, fya{32, 32, {}};
    fake.evaluate(fake.compile_and_load(p_.mil, {}), {&fb, &fa}, {&fzb, &fya});
    EXPECT_EQ(read(ya, 32 * 32), fya.fp16);
    EXPECT_EQ(read(zb, 64 * 32), fzb.fp16);
    return 0;
  }
  const Program p_ = two_inputs();
  void* pool_ = nullptr;
  id m_ = nullptr;
};

TEST_F(FrameworkMockBinding, EqualRule) {
  EXPECT_EQ(run(4096, 4096, 4096, 4096), 0);  // binds by alphabetical index
  EXPECT_EQ(run(2048, 4096, 4096, 4096), 0x1d);
  EXPECT_EQ(run(4096, 4096, 2048, 4096), 0x1d);
  EXPECT_EQ(run(1024, 1024, 4096, 4096), 0x1d);  // smaller than the tensors
  EXPECT_EQ(counts().evaluates, 1);
}

TEST_F(FrameworkMockBinding, AscendingRule) {
  setenv("ANEMOCK_SURFACE_RULE", "ascending", 1);
  EXPECT_EQ(run(2048, 4096, 8192, 4096), 0);     // inputs ascending, outputs descending
  EXPECT_EQ(run(4096, 4096, 4096, 4096), 0x1d);  // equal is not strictly ascending
  EXPECT_EQ(run(2048, 4096, 2048, 4096), 0x1d);  // outputs ascending
  EXPECT_EQ(counts().evaluates, 1);
}

TEST_F(FrameworkMockBinding, IndicesMustBeAPermutationOfTheProgramsCount) {
  CF a = ar(new_surface(4096)), b = ar(new_surface(4096)), y = ar(new_surface(4096)),
     z = ar(new_surface(4096));
  id error = nullptr;
  EXPECT_FALSE(evaluate(m_, request({a, b}, {0, 0}, {y, z}, {0, 1}), &error));
  EXPECT_EQ(code(error), 0x1d);
  EXPECT_NE(description(error).find("permutation"), std::string::npos) << description(error);
  EXPECT_FALSE(evaluate(m_, request({a}, {0}, {y, z}, {0, 1}), &error));
  EXPECT_EQ(code(error), 0x1d);
}

}  // namespace
}  // namespace anetrain::ane

#endif  // ANETRAIN_FRAMEWORK_MOCK
