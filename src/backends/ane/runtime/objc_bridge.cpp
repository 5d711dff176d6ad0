#include "backends/ane/runtime/objc_bridge.h"

namespace anetrain::ane {

void ObjcReleaser::operator()(void* object) const {
  if (object) objc->send<void>(object, "release");
}

Retained ObjcBridge::retain(id object) const {
  return Retained(object ? send<id>(object, "retain") : nullptr, ObjcReleaser{this});
}

CfRef ObjcBridge::string(const std::string& text) const {
  return owned(api_.CFStringCreateWithCString(nullptr, text.c_str(), kCFStringEncodingUTF8));
}

CfRef ObjcBridge::data(const std::string& bytes) const {
  return owned(api_.CFDataCreate(nullptr, reinterpret_cast<const uint8_t*>(bytes.data()),
                                 static_cast<CFIndex>(bytes.size())));
}

CfRef ObjcBridge::number(int64_t value) const {
  return owned(api_.CFNumberCreate(nullptr, kCFNumberSInt64Type, &value));
}

CfRef ObjcBridge::dictionary(const std::vector<CFTypeRef>& keys,
                             const std::vector<CFTypeRef>& values) const {
  // The CFType callbacks make the dictionary retain its keys and values, so the caller's own
  // references can be released right after.
  return owned(api_.CFDictionaryCreate(
      nullptr, const_cast<const void**>(keys.data()), const_cast<const void**>(values.data()),
      static_cast<CFIndex>(keys.size()), api_.kCFTypeDictionaryKeyCallBacks,
      api_.kCFTypeDictionaryValueCallBacks));
}

CfRef ObjcBridge::array(const std::vector<CFTypeRef>& items) const {
  return owned(api_.CFArrayCreate(nullptr, const_cast<const void**>(items.data()),
                                  static_cast<CFIndex>(items.size()), api_.kCFTypeArrayCallBacks));
}

std::string ObjcBridge::to_string(CFTypeRef string) const {
  if (!string) return "";
  const CFIndex capacity = api_.CFStringGetMaximumSizeForEncoding(api_.CFStringGetLength(string),
                                                                  kCFStringEncodingUTF8) +
                           1;
  std::string buffer(static_cast<size_t>(capacity), '\0');
  if (!api_.CFStringGetCString(string, buffer.data(), capacity, kCFStringEncodingUTF8)) return "";
  buffer.resize(buffer.find('\0'));
  return buffer;
}

}  // namespace anetrain::ane
