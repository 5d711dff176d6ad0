// NSData, NSString, NSNumber, NSDictionary, NSArray, NSError and the CoreFoundation C functions
// that create and read them. CF Create functions return +1 objects (the caller CFReleases);
// objects the mock's methods hand out (e.g. an NSError's description) come back autoreleased.
#include "foundation.h"

#include <cstdint>
#include <cstring>

namespace anemock {
namespace {

constexpr uint32_t kUtf8 = 0x08000100;  // kCFStringEncodingUTF8, the only encoding supported

Class *c_data, *c_string, *c_number, *c_dict, *c_array, *c_error;

void need_default_allocator(const void* alloc, const char* fn) {
  if (alloc) fatal(std::string(fn) + ": only kCFAllocatorDefault (NULL) is supported");
}
void need_utf8(uint32_t encoding, const char* fn) {
  if (encoding != kUtf8)
    fatal(std::string(fn) + ": encoding " + std::to_string(encoding) +
          " is not kCFStringEncodingUTF8 (0x08000100)");
}

// Finalizers: release children, free buffers; the header stays as a tombstone.
void fin_data(Object* o) { std::string().swap(static_cast<NSData*>(o)->bytes); }
void fin_string(Object* o) { std::string().swap(static_cast<NSString*>(o)->utf8); }
void fin_error(Object* o) { std::string().swap(static_cast<NSError*>(o)->message); }
void fin_dict(Object* o) {
  std::vector<std::pair<Object*, Object*>> entries;
  entries.swap(static_cast<NSDictionary*>(o)->entries);
  for (auto& [k, v] : entries) {
    release(k);
    release(v);
  }
}
void fin_array(Object* o) {
  std::vector<Object*> items;
  items.swap(static_cast<NSArray*>(o)->items);
  for (Object* i : items) release(i);
}

// UTF-16 code units of a UTF-8 string: what CFStringGetLength counts.
long utf16_length(const std::string& s) {
  long n = 0;
  for (unsigned char ch : s) {
    if ((ch & 0xC0) == 0x80) continue;  // continuation byte
    n += ch >= 0xF0 ? 2 : 1;            // 4-byte sequences need a surrogate pair
  }
  return n;
}

NSString* as_string(id self, const char* what) {
  return static_cast<NSString*>(expect_kind(self, "NSString", what));
}

// Methods.
const char* s_UTF8String(id self, SEL) { return as_string(self, "UTF8String")->utf8.c_str(); }
unsigned long s_length(id self, SEL) {
  return static_cast<unsigned long>(utf16_length(as_string(self, "length")->utf8));
}
long long n_longLongValue(id self, SEL) { return static_cast<NSNumber*>(self)->value; }
int n_intValue(id self, SEL) { return static_cast<int>(static_cast<NSNumber*>(self)->value); }
unsigned n_unsignedIntValue(id self, SEL) {
  return static_cast<unsigned>(static_cast<NSNumber*>(self)->value);
}
const void* d_bytes(id self, SEL) { return static_cast<NSData*>(self)->bytes.data(); }
unsigned long d_length(id self, SEL) { return static_cast<NSData*>(self)->bytes.size(); }
unsigned long dict_count(id self, SEL) { return static_cast<NSDictionary*>(self)->entries.size(); }
id dict_objectForKey(id self, SEL, id key) {
  checked(key, "objectForKey:");
  for (auto& [k, v] : static_cast<NSDictionary*>(self)->entries) {
    if (k == key) return v;
    if (is_kind(k, "NSString") && is_kind(key, "NSString") &&
        static_cast<NSString*>(k)->utf8 == static_cast<NSString*>(key)->utf8)
      return v;
    if (is_kind(k, "NSNumber") && is_kind(key, "NSNumber") &&
        static_cast<NSNumber*>(k)->value == static_cast<NSNumber*>(key)->value)
      return v;
  }
  return nullptr;
}
unsigned long a_count(id self, SEL) { return static_cast<NSArray*>(self)->items.size(); }
id a_objectAtIndex(id self, SEL, unsigned long i) {
  auto* a = static_cast<NSArray*>(self);
  if (i >= a->items.size())
    fatal("objectAtIndex: " + std::to_string(i) + " beyond an NSArray of " +
          std::to_string(a->items.size()));
  return a->items[i];
}
long e_code(id self, SEL) { return static_cast<NSError*>(self)->code; }
id e_description(id self, SEL) {
  auto* e = static_cast<NSError*>(self);
  return autorelease(new_string("Error Domain=com.apple.appleneuralengine Code=" +
                                std::to_string(e->code) + " \"" + e->message + "\""));
}
id e_localizedDescription(id self, SEL) {
  return autorelease(new_string(static_cast<NSError*>(self)->message));
}

template <typename F>
void* fn(F f) {
  return reinterpret_cast<void*>(f);
}

}  // namespace

NSString* new_string(const std::string& utf8) {
  NSString* s = create<NSString>(c_string);
  s->utf8 = utf8;
  return s;
}

NSError* new_error(long code, const std::string& message) {
  NSError* e = create<NSError>(c_error);
  e->code = code;
  e->message = message;
  return e;
}

Object* dict_get(const NSDictionary* d, const std::string& key) {
  for (const auto& [k, v] : d->entries)
    if (is_kind(k, "NSString") && static_cast<NSString*>(k)->utf8 == key) return v;
  return nullptr;
}

std::vector<std::string> dict_string_keys(const NSDictionary* d, const char* what) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : d->entries) {
    if (!is_kind(k, "NSString"))
      fatal(std::string(what) + ": dictionary key is " + class_name_of(k) + ", not NSString");
    keys.push_back(static_cast<NSString*>(k)->utf8);
  }
  return keys;
}

void register_foundation() {
  Class* root = find_class("NSObject");
  c_data = define_class("NSData", root, fin_data);
  add_instance_method(c_data, "bytes", fn(d_bytes));
  add_instance_method(c_data, "length", fn(d_length));
  c_string = define_class("NSString", root, fin_string);
  add_instance_method(c_string, "UTF8String", fn(s_UTF8String));
  add_instance_method(c_string, "length", fn(s_length));
  c_number = define_class("NSNumber", root, nullptr);
  add_instance_method(c_number, "longLongValue", fn(n_longLongValue));
  add_instance_method(c_number, "intValue", fn(n_intValue));
  add_instance_method(c_number, "unsignedIntValue", fn(n_unsignedIntValue));
  c_dict = define_class("NSDictionary", root, fin_dict);
  add_instance_method(c_dict, "count", fn(dict_count));
  add_instance_method(c_dict, "objectForKey:", fn(dict_objectForKey));
  c_array = define_class("NSArray", root, fin_array);
  add_instance_method(c_array, "count", fn(a_count));
  add_instance_method(c_array, "objectAtIndex:", fn(a_objectAtIndex));
  c_error = define_class("NSError", root, fin_error);
  add_instance_method(c_error, "code", fn(e_code));
  add_instance_method(c_error, "description", fn(e_description));
  add_instance_method(c_error, "localizedDescription", fn(e_localizedDescription));
}

}  // namespace anemock

using namespace anemock;

// The callback tables CF collections are created with. Only their addresses matter: the mock
// accepts exactly these (kCFType... semantics: retain on insert, release on removal).
struct AnemockCallBacks {
  const char* name;
};
extern "C" ANEMOCK_EXPORT const AnemockCallBacks kCFTypeDictionaryKeyCallBacks = {"dict keys"};
extern "C" ANEMOCK_EXPORT const AnemockCallBacks kCFTypeDictionaryValueCallBacks = {"dict values"};
extern "C" ANEMOCK_EXPORT const AnemockCallBacks kCFTypeArrayCallBacks = {"array"};

extern "C" ANEMOCK_EXPORT const void* CFDataCreate(const void* alloc, const uint8_t* bytes,
                                                   long length) {
  need_default_allocator(alloc, "CFDataCreate");
  if (length < 0 || (length > 0 && !bytes)) fatal("CFDataCreate: bad bytes/length");
  NSData* d = create<NSData>(c_data);
  d->bytes.assign(reinterpret_cast<const char*>(bytes), static_cast<size_t>(length));
  return d;
}

extern "C" ANEMOCK_EXPORT const void* CFStringCreateWithCString(const void* alloc, const char* s,
                                                                uint32_t encoding) {
  need_default_allocator(alloc, "CFStringCreateWithCString");
  need_utf8(encoding, "CFStringCreateWithCString");
  if (!s) fatal("CFStringCreateWithCString: NULL string");
  return new_string(s);
}

extern "C" ANEMOCK_EXPORT const void* CFNumberCreate(const void* alloc, long type,
                                                     const void* value) {
  need_default_allocator(alloc, "CFNumberCreate");
  if (!value) fatal("CFNumberCreate: NULL value pointer");
  int64_t v = 0;
  switch (type) {
    case 3:  // kCFNumberSInt32Type
      v = *static_cast<const int32_t*>(value);
      break;
    case 9:  // kCFNumberIntType
      v = *static_cast<const int*>(value);
      break;
    case 4:   // kCFNumberSInt64Type
    case 10:  // kCFNumberLongType
    case 11:  // kCFNumberLongLongType
      v = *static_cast<const int64_t*>(value);
      break;
    default:
      fatal("CFNumberCreate: number type " + std::to_string(type) +
            " is not supported (3, 4, 9, 10, 11 are)");
  }
  NSNumber* n = create<NSNumber>(c_number);
  n->value = v;
  return n;
}

extern "C" ANEMOCK_EXPORT const void* CFDictionaryCreate(const void* alloc, const void** keys,
                                                         const void** values, long n,
                                                         const void* key_callbacks,
                                                         const void* value_callbacks) {
  need_default_allocator(alloc, "CFDictionaryCreate");
  if (key_callbacks != &kCFTypeDictionaryKeyCallBacks ||
      value_callbacks != &kCFTypeDictionaryValueCallBacks)
    fatal(
        "CFDictionaryCreate: callbacks must be &kCFTypeDictionaryKeyCallBacks and "
        "&kCFTypeDictionaryValueCallBacks");
  if (n < 0 || (n > 0 && (!keys || !values))) fatal("CFDictionaryCreate: bad keys/values/count");
  for (long i = 0; i < n; ++i) {
    checked(keys[i], "CFDictionaryCreate (key)");
    checked(values[i], "CFDictionaryCreate (value)");
  }
  NSDictionary* d = create<NSDictionary>(c_dict);
  for (long i = 0; i < n; ++i)
    d->entries.push_back({static_cast<Object*>(retain(const_cast<void*>(keys[i]))),
                          static_cast<Object*>(retain(const_cast<void*>(values[i])))});
  return d;
}

extern "C" ANEMOCK_EXPORT const void* CFArrayCreate(const void* alloc, const void** items, long n,
                                                    const void* callbacks) {
  need_default_allocator(alloc, "CFArrayCreate");
  if (callbacks != &kCFTypeArrayCallBacks)
    fatal("CFArrayCreate: callbacks must be &kCFTypeArrayCallBacks");
  if (n < 0 || (n > 0 && !items)) fatal("CFArrayCreate: bad items/count");
  for (long i = 0; i < n; ++i) checked(items[i], "CFArrayCreate (item)");
  NSArray* a = create<NSArray>(c_array);
  for (long i = 0; i < n; ++i)
    a->items.push_back(static_cast<Object*>(retain(const_cast<void*>(items[i]))));
  return a;
}

extern "C" ANEMOCK_EXPORT const void* CFRetain(const void* o) {
  if (!o) fatal("CFRetain(NULL)");
  return retain(const_cast<void*>(o));
}

extern "C" ANEMOCK_EXPORT void CFRelease(const void* o) {
  if (!o) fatal("CFRelease(NULL) (CoreFoundation crashes on it too)");
  release(const_cast<void*>(o));
}

extern "C" ANEMOCK_EXPORT long CFGetRetainCount(const void* o) {
  return static_cast<long>(checked(o, "CFGetRetainCount")->refcount);
}

extern "C" ANEMOCK_EXPORT long CFStringGetLength(const void* s) {
  return utf16_length(as_string(const_cast<void*>(s), "CFStringGetLength")->utf8);
}

extern "C" ANEMOCK_EXPORT long CFStringGetMaximumSizeForEncoding(long length, uint32_t encoding) {
  need_utf8(encoding, "CFStringGetMaximumSizeForEncoding");
  return length * 3;
}

extern "C" ANEMOCK_EXPORT bool CFStringGetCString(const void* s, char* buf, long size,
                                                  uint32_t encoding) {
  need_utf8(encoding, "CFStringGetCString");
  const std::string& text = as_string(const_cast<void*>(s), "CFStringGetCString")->utf8;
  if (!buf || size < static_cast<long>(text.size()) + 1) return false;  // does not fit: as CF
  std::memcpy(buf, text.c_str(), text.size() + 1);
  return true;
}
