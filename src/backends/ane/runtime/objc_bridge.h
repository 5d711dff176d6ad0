// Calling Objective-C and CoreFoundation from plain C++ with their memory rules made explicit
// (ane.md, "What the runtimes that ran on hardware do"): CF objects the driver creates are owned
// (CFRelease'd by CfRef), objects the framework hands back autoreleased are retained only where
// the driver keeps them (Retained sends release), and every framework call runs inside an
// AutoreleasePool so what the framework autoreleases is freed when the call returns.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/ane/runtime/framework_api.h"

namespace anetrain::ane {

class ObjcBridge;

struct CfReleaser {
  const FrameworkApi* api = nullptr;
  void operator()(const void* ref) const {
    if (ref) api->CFRelease(ref);
  }
};
using CfRef = std::unique_ptr<const void, CfReleaser>;

struct ObjcReleaser {
  const ObjcBridge* objc = nullptr;
  void operator()(void* object) const;
};
using Retained = std::unique_ptr<void, ObjcReleaser>;

class ObjcBridge {
 public:
  explicit ObjcBridge(FrameworkApi api) : api_(api) {}
  const FrameworkApi& api() const { return api_; }

  // `[target selector args...]` with the method's real signature R(id, SEL, A...).
  template <typename R, typename... A>
  R send(id target, const char* selector, A... args) const {
    auto method = reinterpret_cast<R (*)(id, SEL, A...)>(api_.objc_msgSend);
    return method(target, api_.sel_registerName(selector), args...);
  }
  id cls(const char* name) const { return api_.objc_getClass(name); }
  // Keeps an object past the current pool: +1 now, released when the Retained goes.
  Retained retain(id object) const;

  // Create-rule objects, released when the CfRef goes.
  CfRef string(const std::string& text) const;
  CfRef data(const std::string& bytes) const;
  CfRef number(int64_t value) const;
  CfRef dictionary(const std::vector<CFTypeRef>& keys, const std::vector<CFTypeRef>& values) const;
  CfRef array(const std::vector<CFTypeRef>& items) const;
  CfRef owned(CFTypeRef created) const { return CfRef(created, CfReleaser{&api_}); }

  // The UTF-8 text of an NSString/CFString, whatever its length ("" for nil).
  std::string to_string(CFTypeRef string) const;

 private:
  FrameworkApi api_;
};

// objc_autoreleasePoolPush on construction, objc_autoreleasePoolPop on destruction.
class AutoreleasePool {
 public:
  explicit AutoreleasePool(const ObjcBridge& objc)
      : objc_(objc), token_(objc.api().objc_autoreleasePoolPush()) {}
  ~AutoreleasePool() { objc_.api().objc_autoreleasePoolPop(token_); }
  AutoreleasePool(const AutoreleasePool&) = delete;
  AutoreleasePool& operator=(const AutoreleasePool&) = delete;

 private:
  const ObjcBridge& objc_;
  void* token_;
};

}  // namespace anetrain::ane
