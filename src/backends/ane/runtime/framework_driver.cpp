#include "backends/ane/runtime/framework_driver.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include "backends/ane/runtime/compile_cache.h"

namespace anetrain::ane {
namespace {

// Opaque Objective-C / CoreFoundation types, spelled out so no Apple header is needed.
using id = void*;
using SEL = void*;
using CFTypeRef = const void*;
using CFIndex = long;

constexpr const char* kFrameworkPath =
    "/System/Library/PrivateFrameworks/AppleNeuralEngine.framework/AppleNeuralEngine";
constexpr long kQoS = 21;  // the QoS the seed passes to compile/load/evaluate

struct Api {
  void* objc = nullptr;
  void* cf = nullptr;
  void* iosurface = nullptr;
  void* ane = nullptr;
  id (*objc_getClass)(const char*) = nullptr;
  SEL (*sel_registerName)(const char*) = nullptr;
  void* objc_msgSend = nullptr;
  CFTypeRef (*CFDataCreate)(CFTypeRef, const uint8_t*, CFIndex) = nullptr;
  CFTypeRef (*CFStringCreateWithCString)(CFTypeRef, const char*, uint32_t) = nullptr;
  CFTypeRef (*CFNumberCreate)(CFTypeRef, CFIndex, const void*) = nullptr;
  CFTypeRef (*CFDictionaryCreate)(CFTypeRef, const void**, const void**, CFIndex, const void*,
                                  const void*) = nullptr;
  CFTypeRef (*CFArrayCreate)(CFTypeRef, const void**, CFIndex, const void*) = nullptr;
  void (*CFRelease)(CFTypeRef) = nullptr;
  bool (*CFStringGetCString)(CFTypeRef, char*, CFIndex, uint32_t) = nullptr;
  const void* kCFTypeDictionaryKeyCallBacks = nullptr;
  const void* kCFTypeDictionaryValueCallBacks = nullptr;
  const void* kCFTypeArrayCallBacks = nullptr;
  CFTypeRef (*IOSurfaceCreate)(CFTypeRef) = nullptr;
  int (*IOSurfaceLock)(CFTypeRef, uint32_t, uint32_t*) = nullptr;
  int (*IOSurfaceUnlock)(CFTypeRef, uint32_t, uint32_t*) = nullptr;
  void* (*IOSurfaceGetBaseAddress)(CFTypeRef) = nullptr;
  const CFTypeRef* kIOSurfaceWidth = nullptr;
  const CFTypeRef* kIOSurfaceHeight = nullptr;
  const CFTypeRef* kIOSurfaceBytesPerElement = nullptr;
  const CFTypeRef* kIOSurfaceBytesPerRow = nullptr;
  const CFTypeRef* kIOSurfaceAllocSize = nullptr;
  const CFTypeRef* kIOSurfacePixelFormat = nullptr;
};

constexpr uint32_t kUtf8 = 0x08000100;  // kCFStringEncodingUTF8
constexpr CFIndex kSInt64 = 4;          // kCFNumberSInt64Type

template <typename T>
bool sym(void* lib, const char* name, T& out, std::string* reason) {
  out = reinterpret_cast<T>(dlsym(lib, name));
  if (!out && reason) *reason = std::string("symbol ") + name + " not found";
  return out != nullptr;
}

bool load_api(Api& a, std::string* reason) {
  auto open = [&](const char* path, void*& handle) {
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) *reason = std::string("cannot load the framework: ") + dlerror();
    return handle != nullptr;
  };
  if (!open(kFrameworkPath, a.ane)) return false;
  if (!open("/usr/lib/libobjc.A.dylib", a.objc)) return false;
  if (!open("/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation", a.cf))
    return false;
  if (!open("/System/Library/Frameworks/IOSurface.framework/IOSurface", a.iosurface)) return false;
  return sym(a.objc, "objc_getClass", a.objc_getClass, reason) &&
         sym(a.objc, "sel_registerName", a.sel_registerName, reason) &&
         sym(a.objc, "objc_msgSend", a.objc_msgSend, reason) &&
         sym(a.cf, "CFDataCreate", a.CFDataCreate, reason) &&
         sym(a.cf, "CFStringCreateWithCString", a.CFStringCreateWithCString, reason) &&
         sym(a.cf, "CFNumberCreate", a.CFNumberCreate, reason) &&
         sym(a.cf, "CFDictionaryCreate", a.CFDictionaryCreate, reason) &&
         sym(a.cf, "CFArrayCreate", a.CFArrayCreate, reason) &&
         sym(a.cf, "CFRelease", a.CFRelease, reason) &&
         sym(a.cf, "CFStringGetCString", a.CFStringGetCString, reason) &&
         sym(a.cf, "kCFTypeDictionaryKeyCallBacks", a.kCFTypeDictionaryKeyCallBacks, reason) &&
         sym(a.cf, "kCFTypeDictionaryValueCallBacks", a.kCFTypeDictionaryValueCallBacks, reason) &&
         sym(a.cf, "kCFTypeArrayCallBacks", a.kCFTypeArrayCallBacks, reason) &&
         sym(a.iosurface, "IOSurfaceCreate", a.IOSurfaceCreate, reason) &&
         sym(a.iosurface, "IOSurfaceLock", a.IOSurfaceLock, reason) &&
         sym(a.iosurface, "IOSurfaceUnlock", a.IOSurfaceUnlock, reason) &&
         sym(a.iosurface, "IOSurfaceGetBaseAddress", a.IOSurfaceGetBaseAddress, reason) &&
         sym(a.iosurface, "kIOSurfaceWidth", a.kIOSurfaceWidth, reason) &&
         sym(a.iosurface, "kIOSurfaceHeight", a.kIOSurfaceHeight, reason) &&
         sym(a.iosurface, "kIOSurfaceBytesPerElement", a.kIOSurfaceBytesPerElement, reason) &&
         sym(a.iosurface, "kIOSurfaceBytesPerRow", a.kIOSurfaceBytesPerRow, reason) &&
         sym(a.iosurface, "kIOSurfaceAllocSize", a.kIOSurfaceAllocSize, reason) &&
         sym(a.iosurface, "kIOSurfacePixelFormat", a.kIOSurfacePixelFormat, reason) &&
         a.objc_getClass("_ANEInMemoryModelDescriptor") != nullptr &&
         a.objc_getClass("_ANEInMemoryModel") != nullptr &&
         a.objc_getClass("_ANERequest") != nullptr &&
         a.objc_getClass("_ANEIOSurfaceObject") != nullptr;
}

class FrameworkDriver final : public AneDriver {
 public:
  explicit FrameworkDriver(Api api) : a_(api) {}
  ~FrameworkDriver() override {
    for (auto& [handle, p] : programs_) unload(handle);
  }
  std::string name() const override { return "AppleNeuralEngine.framework"; }
  int64_t compiles() const override { return compiles_; }

  int64_t compile_and_load(const std::string& mil_text,
                           const std::map<std::string, std::string>& weight_files) override {
    ++compiles_;
    // weights: { "@model_path/weights/x.bin": { "offset": 0, "data": NSData } }
    std::vector<CFTypeRef> keys, values;
    for (const auto& [path, bytes] : weight_files) {
      CFTypeRef inner_keys[2] = {str("offset"), str("data")};
      int64_t zero = 0;
      CFTypeRef inner_values[2] = {a_.CFNumberCreate(nullptr, kSInt64, &zero), data(bytes)};
      keys.push_back(str(path));
      values.push_back(dict(inner_keys, inner_values, 2));
    }
    CFTypeRef weights = dict(keys.data(), values.data(), static_cast<CFIndex>(keys.size()));
    id desc = send<id, CFTypeRef, CFTypeRef, id>(
        cls("_ANEInMemoryModelDescriptor"),
        "modelWithMILText:weights:optionsPlist:", data(mil_text), weights, nullptr);
    if (!desc) throw DriverError("the framework rejected the model descriptor");
    id model = send<id, id>(cls("_ANEInMemoryModel"), "inMemoryModelWithDescriptor:", desc);
    if (!model) throw DriverError("the framework could not create an in-memory model");
    // The compiler reads model.mil and weights/ from a temporary directory named by the
    // model's hexStringIdentifier, and writes its output there.
    const std::string dir =
        temp_dir() + "/" + to_string(send<CFTypeRef>(model, "hexStringIdentifier"));
    // Restore an earlier compile's output (same program, weights and OS build) if cached.
    const std::string cache_root = default_compile_cache_dir();
    const std::string cached =
        cache_root.empty() ? "" : cache_root + "/" + compile_cache_key(mil_text, weight_files);
    std::error_code ec;
    if (!cached.empty() && std::filesystem::is_directory(cached, ec))
      std::filesystem::copy(cached, dir,
                            std::filesystem::copy_options::recursive |
                                std::filesystem::copy_options::overwrite_existing,
                            ec);
    std::filesystem::create_directories(dir + "/weights");
    std::ofstream(dir + "/model.mil", std::ios::binary) << mil_text;
    for (const auto& [path, bytes] : weight_files) {
      const std::string rel = path.substr(path.find("weights/"));
      std::ofstream(dir + "/" + rel, std::ios::binary) << bytes;
    }
    CFTypeRef empty = dict(nullptr, nullptr, 0);
    id error = nullptr;
    if (!send<bool, long, CFTypeRef, id*>(model, "compileWithQoS:options:error:", kQoS, empty,
                                          &error))
      throw DriverError("compile failed: " + describe(error));
    if (!send<bool, long, CFTypeRef, id*>(model, "loadWithQoS:options:error:", kQoS, empty, &error))
      throw DriverError("load failed: " + describe(error));
    if (!cached.empty() && !std::filesystem::exists(cached, ec)) {
      std::filesystem::create_directories(cached, ec);
      std::filesystem::copy(dir, cached, std::filesystem::copy_options::recursive, ec);
    }
    const int64_t handle = next_++;
    programs_[handle] = model;
    return handle;
  }

  void evaluate(int64_t handle, const std::vector<const Surface*>& inputs,
                const std::vector<Surface*>& outputs) override {
    id model = programs_.at(handle);
    std::vector<CFTypeRef> in_surfaces, out_surfaces, in_objects, out_objects, in_idx, out_idx;
    for (size_t i = 0; i < inputs.size(); ++i) {
      CFTypeRef s = surface(inputs[i]->bytes());
      copy_in(s, *inputs[i]);
      in_surfaces.push_back(s);
      in_objects.push_back(
          send<id, CFTypeRef>(cls("_ANEIOSurfaceObject"), "objectWithIOSurface:", s));
      int64_t index = static_cast<int64_t>(i);
      in_idx.push_back(a_.CFNumberCreate(nullptr, kSInt64, &index));
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      CFTypeRef s = surface(outputs[i]->bytes());
      out_surfaces.push_back(s);
      out_objects.push_back(
          send<id, CFTypeRef>(cls("_ANEIOSurfaceObject"), "objectWithIOSurface:", s));
      int64_t index = static_cast<int64_t>(i);
      out_idx.push_back(a_.CFNumberCreate(nullptr, kSInt64, &index));
    }
    int64_t zero = 0;
    id request = send<id, CFTypeRef, CFTypeRef, CFTypeRef, CFTypeRef, id, id, CFTypeRef>(
        cls("_ANERequest"),
        "requestWithInputs:inputIndices:outputs:outputIndices:weightsBuffer:perfStats:"
        "procedureIndex:",
        array(in_objects), array(in_idx), array(out_objects), array(out_idx), nullptr, nullptr,
        a_.CFNumberCreate(nullptr, kSInt64, &zero));
    id error = nullptr;
    if (!send<bool, long, CFTypeRef, id, id*>(model, "evaluateWithQoS:options:request:error:", kQoS,
                                              dict(nullptr, nullptr, 0), request, &error))
      throw DriverError("evaluate failed: " + describe(error));
    for (size_t i = 0; i < outputs.size(); ++i) copy_out(out_surfaces[i], *outputs[i]);
  }

  void unload(int64_t handle) override {
    auto it = programs_.find(handle);
    if (it == programs_.end()) return;
    id error = nullptr;
    send<bool, long, id*>(it->second, "unloadWithQoS:error:", kQoS, &error);
    programs_.erase(it);
  }

 private:
  template <typename R, typename... A>
  R send(id target, const char* selector, A... args) {
    auto fn = reinterpret_cast<R (*)(id, SEL, A...)>(a_.objc_msgSend);
    return fn(target, a_.sel_registerName(selector), args...);
  }
  id cls(const char* name) { return a_.objc_getClass(name); }
  CFTypeRef str(const std::string& s) {
    return a_.CFStringCreateWithCString(nullptr, s.c_str(), kUtf8);
  }
  CFTypeRef data(const std::string& bytes) {
    return a_.CFDataCreate(nullptr, reinterpret_cast<const uint8_t*>(bytes.data()),
                           static_cast<CFIndex>(bytes.size()));
  }
  CFTypeRef dict(const CFTypeRef* keys, const CFTypeRef* values, CFIndex n) {
    return a_.CFDictionaryCreate(
        nullptr, const_cast<const void**>(keys), const_cast<const void**>(values), n,
        a_.kCFTypeDictionaryKeyCallBacks, a_.kCFTypeDictionaryValueCallBacks);
  }
  CFTypeRef array(const std::vector<CFTypeRef>& items) {
    return a_.CFArrayCreate(nullptr, const_cast<const void**>(items.data()),
                            static_cast<CFIndex>(items.size()), a_.kCFTypeArrayCallBacks);
  }
  std::string to_string(CFTypeRef s) {
    char buf[1024] = {0};
    if (s) a_.CFStringGetCString(s, buf, sizeof buf, kUtf8);
    return buf;
  }
  std::string describe(id error) {
    return error ? to_string(send<CFTypeRef>(error, "description")) : "no error detail";
  }
  static std::string temp_dir() {
    const char* t = std::getenv("TMPDIR");
    return t ? t : "/tmp";
  }
  // An IOSurface of `bytes` bytes: width = bytes, height 1, one byte per element (ane.md).
  CFTypeRef surface(int64_t bytes) {
    int64_t one = 1, zero = 0;
    CFTypeRef keys[6] = {*a_.kIOSurfaceWidth,           *a_.kIOSurfaceHeight,
                         *a_.kIOSurfaceBytesPerElement, *a_.kIOSurfaceBytesPerRow,
                         *a_.kIOSurfaceAllocSize,       *a_.kIOSurfacePixelFormat};
    CFTypeRef values[6] = {
        a_.CFNumberCreate(nullptr, kSInt64, &bytes), a_.CFNumberCreate(nullptr, kSInt64, &one),
        a_.CFNumberCreate(nullptr, kSInt64, &one),   a_.CFNumberCreate(nullptr, kSInt64, &bytes),
        a_.CFNumberCreate(nullptr, kSInt64, &bytes), a_.CFNumberCreate(nullptr, kSInt64, &zero)};
    CFTypeRef s = a_.IOSurfaceCreate(dict(keys, values, 6));
    if (!s) throw DriverError("IOSurfaceCreate failed for " + std::to_string(bytes) + " bytes");
    return s;
  }
  void copy_in(CFTypeRef s, const Surface& src) {
    a_.IOSurfaceLock(s, 0, nullptr);
    std::memcpy(a_.IOSurfaceGetBaseAddress(s), src.fp16.data(), src.bytes());
    a_.IOSurfaceUnlock(s, 0, nullptr);
  }
  void copy_out(CFTypeRef s, Surface& dst) {
    dst.fp16.resize(dst.channels * dst.width);
    a_.IOSurfaceLock(s, 1, nullptr);  // read-only lock
    std::memcpy(dst.fp16.data(), a_.IOSurfaceGetBaseAddress(s), dst.bytes());
    a_.IOSurfaceUnlock(s, 1, nullptr);
  }

  Api a_;
  std::map<int64_t, id> programs_;
  int64_t next_ = 1, compiles_ = 0;
};

}  // namespace

std::unique_ptr<AneDriver> open_framework_driver(std::string* reason) {
  Api api;
  std::string why;
  if (!load_api(api, &why)) {
    if (why.empty()) why = "the framework lacks the _ANE classes this runtime uses";
    if (reason) *reason = why;
    return nullptr;
  }
  return std::make_unique<FrameworkDriver>(api);
}

}  // namespace anetrain::ane
