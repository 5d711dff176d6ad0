#include "backends/ane/runtime/framework_api.h"

#include <dlfcn.h>

#include <cstdlib>

namespace anetrain::ane {
namespace {

template <typename T>
bool sym(void* lib, const char* name, T& out, std::string* reason) {
  out = reinterpret_cast<T>(dlsym(lib, name));
  if (!out) *reason = std::string("symbol ") + name + " not found";
  return out != nullptr;
}

}  // namespace

FrameworkLibraries system_framework_libraries() {
  return {
      .ane = "/System/Library/PrivateFrameworks/AppleNeuralEngine.framework/AppleNeuralEngine",
      .objc = "/usr/lib/libobjc.A.dylib",
      .core_foundation = "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation",
      .iosurface = "/System/Library/Frameworks/IOSurface.framework/IOSurface",
  };
}

FrameworkLibraries framework_libraries_from_environment() {
  if (const char* mock = std::getenv("ANETRAIN_TEST_ANE_FRAMEWORK"); mock && *mock)
    return {mock, mock, mock, mock};
  return system_framework_libraries();
}

bool load_framework_api(const FrameworkLibraries& libraries, FrameworkApi* api,
                        std::string* reason) {
  // The handles stay open for the process's life: the classes and functions resolved from them
  // are used until exit.
  void *ane = nullptr, *objc = nullptr, *cf = nullptr, *iosurface = nullptr;
  auto open = [&](const std::string& path, void*& handle) {
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) *reason = std::string("cannot load the framework: ") + dlerror();
    return handle != nullptr;
  };
  if (!open(libraries.ane, ane) || !open(libraries.objc, objc) ||
      !open(libraries.core_foundation, cf) || !open(libraries.iosurface, iosurface))
    return false;
  FrameworkApi& a = *api;
  const bool resolved =
      sym(objc, "objc_getClass", a.objc_getClass, reason) &&
      sym(objc, "sel_registerName", a.sel_registerName, reason) &&
      sym(objc, "objc_msgSend", a.objc_msgSend, reason) &&
      sym(objc, "objc_autoreleasePoolPush", a.objc_autoreleasePoolPush, reason) &&
      sym(objc, "objc_autoreleasePoolPop", a.objc_autoreleasePoolPop, reason) &&
      sym(cf, "CFDataCreate", a.CFDataCreate, reason) &&
      sym(cf, "CFStringCreateWithCString", a.CFStringCreateWithCString, reason) &&
      sym(cf, "CFNumberCreate", a.CFNumberCreate, reason) &&
      sym(cf, "CFDictionaryCreate", a.CFDictionaryCreate, reason) &&
      sym(cf, "CFArrayCreate", a.CFArrayCreate, reason) &&
      sym(cf, "CFRelease", a.CFRelease, reason) &&
      sym(cf, "CFStringGetLength", a.CFStringGetLength, reason) &&
      sym(cf, "CFStringGetMaximumSizeForEncoding", a.CFStringGetMaximumSizeForEncoding, reason) &&
      sym(cf, "CFStringGetCString", a.CFStringGetCString, reason) &&
      sym(cf, "kCFTypeDictionaryKeyCallBacks", a.kCFTypeDictionaryKeyCallBacks, reason) &&
      sym(cf, "kCFTypeDictionaryValueCallBacks", a.kCFTypeDictionaryValueCallBacks, reason) &&
      sym(cf, "kCFTypeArrayCallBacks", a.kCFTypeArrayCallBacks, reason) &&
      sym(iosurface, "IOSurfaceCreate", a.IOSurfaceCreate, reason) &&
      sym(iosurface, "IOSurfaceLock", a.IOSurfaceLock, reason) &&
      sym(iosurface, "IOSurfaceUnlock", a.IOSurfaceUnlock, reason) &&
      sym(iosurface, "IOSurfaceGetBaseAddress", a.IOSurfaceGetBaseAddress, reason) &&
      sym(iosurface, "kIOSurfaceWidth", a.kIOSurfaceWidth, reason) &&
      sym(iosurface, "kIOSurfaceHeight", a.kIOSurfaceHeight, reason) &&
      sym(iosurface, "kIOSurfaceBytesPerElement", a.kIOSurfaceBytesPerElement, reason) &&
      sym(iosurface, "kIOSurfaceBytesPerRow", a.kIOSurfaceBytesPerRow, reason) &&
      sym(iosurface, "kIOSurfaceAllocSize", a.kIOSurfaceAllocSize, reason) &&
      sym(iosurface, "kIOSurfacePixelFormat", a.kIOSurfacePixelFormat, reason);
  if (!resolved) return false;
  for (const char* name :
       {"_ANEInMemoryModelDescriptor", "_ANEInMemoryModel", "_ANERequest", "_ANEIOSurfaceObject"})
    if (!a.objc_getClass(name)) {
      *reason = std::string("the framework lacks the class ") + name + " this runtime uses";
      return false;
    }
  return true;
}

}  // namespace anetrain::ane
