// The object registry, classes, selectors, message lookup, reference counting and per-thread
// autorelease pools, plus the Objective-C runtime's exported C functions.
#include "runtime.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <unordered_set>

namespace anemock {
namespace {

// Everything shared lives in function-local statics: the library's load-time constructor (at
// the bottom) runs before the C++ dynamic initializers of this library's globals.
struct Registry {
  std::recursive_mutex mu;
  std::unordered_set<const void*> objects;  // every object ever created, tombstones included
  std::map<std::string, Class*> classes;
  std::set<std::string> selectors;  // node-based: the c_str() pointers are stable
};

Registry& reg() {
  static Registry* r = new Registry();  // never destroyed: used from the library destructor
  return *r;
}

struct Pool {
  uintptr_t token;
  size_t start;  // index into pending
};
struct ThreadPools {
  std::vector<Pool> stack;
  std::vector<Object*> pending;
};
thread_local ThreadPools t_pools;
std::atomic<uintptr_t> g_next_token{1};

// Finds a method in `c` or its superclasses.
void* find_method(Class* c, SEL s, bool class_side) {
  for (; c; c = c->super)
    for (const auto& [sel_, fn] : class_side ? c->class_methods : c->instance_methods)
      if (sel_ == s) return fn;
  return nullptr;
}

std::string describe(const Object* o) {
  return std::string(o->is_class ? "class " : "instance of ") + o->isa->name + " at " +
         hex_pointer(o);
}

// NSObject's reference-counting methods, shared by every instance.
id m_retain(id self, SEL) { return retain(self); }
void m_release(id self, SEL) { release(self); }
id m_autorelease(id self, SEL) { return autorelease(self); }
unsigned long m_retainCount(id self, SEL) {
  return static_cast<unsigned long>(static_cast<Object*>(self)->refcount);
}

}  // namespace

void fatal(const std::string& message) {
  std::fprintf(stderr, "anemock: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

std::string hex_pointer(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

SEL sel(const char* name) {
  Registry& r = reg();
  std::lock_guard lock(r.mu);
  return r.selectors.insert(name).first->c_str();
}

Class* define_class(const char* name, Class* super, Finalizer finalize, bool ane) {
  Registry& r = reg();
  std::lock_guard lock(r.mu);
  auto it = r.classes.find(name);
  if (it != r.classes.end()) return it->second;
  Class* c = new Class();
  c->isa = c;
  c->immortal = c->is_class = true;
  c->name = name;
  c->super = super;
  c->finalize = finalize;
  c->ane = ane;
  r.classes[name] = c;
  r.objects.insert(c);
  return c;
}

void add_class_method(Class* c, const char* selector, void* fn) {
  c->class_methods.push_back({sel(selector), fn});
}
void add_instance_method(Class* c, const char* selector, void* fn) {
  c->instance_methods.push_back({sel(selector), fn});
}

Class* find_class(const char* name) {
  Registry& r = reg();
  std::lock_guard lock(r.mu);
  auto it = r.classes.find(name ? name : "");
  return it == r.classes.end() ? nullptr : it->second;
}

void register_object(Object* o) {
  Registry& r = reg();
  std::lock_guard lock(r.mu);
  r.objects.insert(o);
  count_created(o->isa);
}

void make_immortal(Object* o) {
  Registry& r = reg();
  std::lock_guard lock(r.mu);
  if (!o->immortal) count_released(o->isa);  // constants are not live objects
  o->immortal = true;
}

Object* checked(const void* p, const char* what) {
  if (!p) fatal(std::string(what) + ": nil object");
  Registry& r = reg();
  std::lock_guard lock(r.mu);
  if (!r.objects.count(p)) {
    fatal(std::string(what) + ": " + hex_pointer(p) +
          " is not an object (never created by the mock)");
  }
  auto* o = static_cast<Object*>(const_cast<void*>(p));
  if (o->released) fatal(std::string(what) + ": " + describe(o) + " was already released");
  return o;
}

bool is_kind(const void* p, const char* name) {
  if (!p) return false;
  Registry& r = reg();
  std::lock_guard lock(r.mu);
  if (!r.objects.count(p)) return false;
  const auto* o = static_cast<const Object*>(p);
  if (o->released || o->is_class) return false;
  for (const Class* c = o->isa; c; c = c->super)
    if (c->name == name) return true;
  return false;
}

Object* expect_kind(const void* p, const char* name, const char* what) {
  if (!p) fatal(std::string(what) + ": expected " + name + ", got nil");
  Object* o = checked(p, what);
  if (!is_kind(p, name))
    fatal(std::string(what) + ": expected " + name + ", got " +
          (o->is_class ? "class " + o->isa->name : o->isa->name));
  return o;
}

const char* class_name_of(const void* p) {
  if (!p) return "(nil)";
  Registry& r = reg();
  std::lock_guard lock(r.mu);
  if (!r.objects.count(p)) return "(unknown)";
  return static_cast<const Object*>(p)->isa->name.c_str();
}

id retain(id p) {
  Object* o = checked(p, "retain");
  std::lock_guard lock(reg().mu);
  if (!o->immortal) ++o->refcount;
  return p;
}

void release(id p) {
  Object* o = checked(p, "release");
  {
    std::lock_guard lock(reg().mu);
    if (o->immortal) return;
    if (o->refcount <= 0) fatal("release: refcount underflow on " + describe(o));
    if (--o->refcount > 0) return;
    o->released = true;
    count_released(o->isa);
  }
  // Outside the lock's scope of this object: the finalizer releases children and may abort.
  for (Class* c = o->isa; c; c = c->super)
    if (c->finalize) {
      c->finalize(o);
      break;
    }
}

id autorelease(id p) {
  Object* o = checked(p, "autorelease");
  if (t_pools.stack.empty())
    fatal("autorelease of " + describe(o) +
          " with no autorelease pool on this thread (objc_autoreleasePoolPush first)");
  t_pools.pending.push_back(o);
  return p;
}

int64_t pool_depth() { return static_cast<int64_t>(t_pools.stack.size()); }
int64_t pending_autoreleases() { return static_cast<int64_t>(t_pools.pending.size()); }

}  // namespace anemock

using namespace anemock;

extern "C" void* anemock_lookup(void* self, const char* s) {
  if (!self) fatal(std::string("message ") + (s ? s : "(null)") + " sent to nil");
  Object* o = checked(self, s ? s : "objc_msgSend");
  Class* c = o->isa;
  if (void* fn = find_method(c, s, o->is_class)) return fn;
  if (find_method(c, s, !o->is_class))
    fatal(std::string(o->is_class ? "instance method -" : "class method +") + s + " sent to " +
          describe(o));
  fatal(std::string("unknown selector ") + s + " sent to " + describe(o));
}

extern "C" ANEMOCK_EXPORT void* objc_getClass(const char* name) { return find_class(name); }
extern "C" ANEMOCK_EXPORT const char* sel_registerName(const char* name) { return sel(name); }
extern "C" ANEMOCK_EXPORT const char* sel_getName(const char* s) { return s; }

extern "C" ANEMOCK_EXPORT void* objc_autoreleasePoolPush(void) {
  const uintptr_t token = g_next_token.fetch_add(1);
  t_pools.stack.push_back({token, t_pools.pending.size()});
  return reinterpret_cast<void*>(token);
}

extern "C" ANEMOCK_EXPORT void objc_autoreleasePoolPop(void* token) {
  auto& pools = t_pools;
  if (pools.stack.empty() || pools.stack.back().token != reinterpret_cast<uintptr_t>(token)) {
    fatal("objc_autoreleasePoolPop(" + hex_pointer(token) +
          "): not the innermost autorelease pool of this thread");
  }
  // Releasing may autorelease more into this pool: drain until back at the pool's start.
  while (pools.pending.size() > pools.stack.back().start) {
    Object* o = pools.pending.back();
    pools.pending.pop_back();
    release(o);
  }
  pools.stack.pop_back();
  if (pools.stack.empty()) write_report();
}

namespace {

__attribute__((constructor)) void anemock_load() {
  Class* root = define_class("NSObject", nullptr, nullptr);
  add_instance_method(root, "retain", reinterpret_cast<void*>(&m_retain));
  add_instance_method(root, "release", reinterpret_cast<void*>(&m_release));
  add_instance_method(root, "autorelease", reinterpret_cast<void*>(&m_autorelease));
  add_instance_method(root, "retainCount", reinterpret_cast<void*>(&m_retainCount));
  register_foundation();
  register_iosurface();
  register_ane_classes();
}

__attribute__((destructor)) void anemock_unload() { write_report(); }

}  // namespace
