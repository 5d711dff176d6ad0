// The mock's object model: a tiny Objective-C runtime. Every object (class objects too) starts
// with the same header; a registry knows every object ever created, so a message to a stray or
// released pointer is caught instead of crashing somewhere later. Released objects stay in the
// registry as tombstones (their payload freed, their header kept) for exactly that reason.
//
// Methods are ordinary C++ functions with their real signatures `R fn(id self, SEL, args...)`;
// objc_msgSend (objc_msgsend_x86_64.S) asks anemock_lookup for the function and jumps to it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#define ANEMOCK_EXPORT __attribute__((visibility("default")))

namespace anemock {

using id = void*;
using SEL = const char*;  // interned: one pointer per selector name

constexpr uint64_t kMagic = 0x4b434f4d454e4121ull;  // "!ANEMOCK"

struct Class;

struct Object {
  uint64_t magic = kMagic;
  Class* isa = nullptr;  // the object's class; for a class object, itself
  int64_t refcount = 1;
  bool released = false;
  bool immortal = false;  // class objects and exported constants
  bool is_class = false;
};

// Frees an object's payload when its last reference goes (children released, buffers cleared);
// the header stays as a tombstone.
using Finalizer = void (*)(Object*);

struct Class : Object {
  std::string name;
  Class* super = nullptr;
  bool ane = false;  // counted in live_ane_objects
  Finalizer finalize = nullptr;
  std::vector<std::pair<SEL, void*>> class_methods, instance_methods;
};

[[noreturn]] void fatal(const std::string& message);
std::string hex_pointer(const void* p);  // "0x7f..." for messages

SEL sel(const char* name);
// Registers a class (idempotent by name) and its methods.
Class* define_class(const char* name, Class* super, Finalizer finalize, bool ane = false);
void add_class_method(Class* c, const char* selector, void* fn);
void add_instance_method(Class* c, const char* selector, void* fn);
Class* find_class(const char* name);  // nullptr if unknown

void register_object(Object* o);  // adds a new object to the registry and the live counts

// A new object (refcount 1) of class `c`. T derives from Object.
template <typename T>
T* create(Class* c) {
  T* o = new T();
  o->isa = c;
  register_object(o);
  return o;
}
void make_immortal(Object* o);

// The object behind `p`, checked: known to the registry and not released (fatal otherwise,
// naming `what`, e.g. "CFRelease").
Object* checked(const void* p, const char* what);
// True if `p` is a live instance of class `name` or a subclass.
bool is_kind(const void* p, const char* name);
// `p` checked and of class `name` (fatal otherwise, naming `what` and the class found).
Object* expect_kind(const void* p, const char* name, const char* what);
const char* class_name_of(const void* p);  // "(nil)" for null, "(unknown)" if not an object

id retain(id o);
void release(id o);
id autorelease(id o);  // fatal without a pool on this thread

// Counts and the JSON report (counts.cpp).
void count_created(Class* c);
void count_released(Class* c);
void write_report();
int64_t pool_depth();
int64_t pending_autoreleases();

// Class setup done once at library load (each file registers its own classes).
void register_foundation();
void register_iosurface();
void register_ane_classes();

}  // namespace anemock

// Called by the objc_msgSend trampoline: the method for (self, sel), or a fatal error.
extern "C" __attribute__((visibility("hidden"))) void* anemock_lookup(void* self, const char* sel);
