// The C entry points the framework driver uses, resolved at run time with dlopen/dlsym from the
// Objective-C runtime, CoreFoundation, IOSurface and the private AppleNeuralEngine framework, so
// the driver builds with the normal C++ compiler on Linux and macOS alike and no Apple header is
// needed. Objective-C methods are called through objc_msgSend cast to each method's signature.
#pragma once

#include <cstdint>
#include <string>

namespace anetrain::ane {

// Opaque Objective-C / CoreFoundation types, spelled out so no Apple header is needed.
using id = void*;
using SEL = void*;
using CFTypeRef = const void*;
using CFIndex = long;

constexpr uint32_t kCFStringEncodingUTF8 = 0x08000100;
constexpr CFIndex kCFNumberSInt64Type = 4;
constexpr uint32_t kIOSurfaceLockReadOnly = 1;

// Where the four libraries live. On a Mac: the system paths. Tests point all four at the
// framework mock (tests/ane_framework_mock) through ANETRAIN_TEST_ANE_FRAMEWORK; nothing else
// in the driver knows.
struct FrameworkLibraries {
  std::string ane, objc, core_foundation, iosurface;
};
FrameworkLibraries system_framework_libraries();
// The system paths, or all four set to $ANETRAIN_TEST_ANE_FRAMEWORK when that is set.
FrameworkLibraries framework_libraries_from_environment();

struct FrameworkApi {
  id (*objc_getClass)(const char*) = nullptr;
  SEL (*sel_registerName)(const char*) = nullptr;
  void* objc_msgSend = nullptr;
  void* (*objc_autoreleasePoolPush)() = nullptr;
  void (*objc_autoreleasePoolPop)(void*) = nullptr;
  CFTypeRef (*CFDataCreate)(CFTypeRef, const uint8_t*, CFIndex) = nullptr;
  CFTypeRef (*CFStringCreateWithCString)(CFTypeRef, const char*, uint32_t) = nullptr;
  CFTypeRef (*CFNumberCreate)(CFTypeRef, CFIndex, const void*) = nullptr;
  CFTypeRef (*CFDictionaryCreate)(CFTypeRef, const void**, const void**, CFIndex, const void*,
                                  const void*) = nullptr;
  CFTypeRef (*CFArrayCreate)(CFTypeRef, const void**, CFIndex, const void*) = nullptr;
  void (*CFRelease)(CFTypeRef) = nullptr;
  CFIndex (*CFStringGetLength)(CFTypeRef) = nullptr;
  CFIndex (*CFStringGetMaximumSizeForEncoding)(CFIndex, uint32_t) = nullptr;
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

// Opens the libraries and resolves every entry point and the four _ANE classes; false with
// *reason ("cannot load the framework: <dlerror>", "symbol X not found", ...) otherwise.
bool load_framework_api(const FrameworkLibraries& libraries, FrameworkApi* api,
                        std::string* reason);

}  // namespace anetrain::ane
