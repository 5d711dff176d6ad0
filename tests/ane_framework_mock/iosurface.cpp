// IOSurfaceCreate/Lock/Unlock and the property keys. Surfaces are mmap'ed whole pages kept
// PROT_NONE while unlocked, so reading or writing one outside a lock (or writing under a
// read-only lock) faults; a SIGSEGV handler names the surface and aborts instead of a bare crash.
#include "iosurface.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "counters.h"
#include "foundation.h"

namespace anemock {
namespace {

Class* c_surface;

// Mapped ranges, readable from the signal handler without locks: [begin, end) per slot.
constexpr int kSlots = 4096;
std::atomic<uintptr_t> g_begin[kSlots], g_end[kSlots];
std::mutex g_slots_mu;  // serializes slot allocation only
struct sigaction g_previous;

int take_slot(void* base, size_t bytes) {
  std::lock_guard lock(g_slots_mu);
  for (int i = 0; i < kSlots; ++i)
    if (g_end[i].load() == 0) {
      g_begin[i] = reinterpret_cast<uintptr_t>(base);
      g_end[i] = reinterpret_cast<uintptr_t>(base) + bytes;
      return i;
    }
  fatal("more than 4096 IOSurfaces alive at once");
}

void write_str(const char* s) {
  ssize_t r = write(STDERR_FILENO, s, std::strlen(s));
  (void)r;
}

void on_segv(int sig, siginfo_t* info, void* context) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (int i = 0; i < kSlots; ++i) {
    if (addr >= g_begin[i].load() && addr < g_end[i].load()) {
      char hex[19] = "0x";
      for (int k = 0; k < 16; ++k)
        hex[2 + k] = "0123456789abcdef"[(g_begin[i] >> (60 - 4 * k)) & 15];
      hex[18] = 0;
      write_str("anemock: surface ");
      write_str(hex);
      write_str(" accessed while unlocked (or written under a read-only lock)\n");
      abort();
    }
  }
  // Not ours: hand the fault to whoever handled it before (a sanitizer, or the default).
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction) return g_previous.sa_sigaction(sig, info, context);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    return g_previous.sa_handler(sig);
  }
  sigaction(SIGSEGV, &g_previous, nullptr);  // default action: the access faults again and dies
}

int64_t number(const NSDictionary* props, const char* key) {
  Object* v = dict_get(props, key);
  if (!v) fatal(std::string("IOSurfaceCreate: property ") + key + " is missing");
  if (!is_kind(v, "NSNumber"))
    fatal(std::string("IOSurfaceCreate: property ") + key + " is " + class_name_of(v) +
          ", not NSNumber");
  return static_cast<NSNumber*>(v)->value;
}

void fin_surface(Object* o) {
  auto* s = static_cast<IOSurface*>(o);
  if (s->locked) fatal("IOSurface " + hex_pointer(s) + " released while locked (unlock it first)");
  g_end[s->slot] = 0;
  g_begin[s->slot] = 0;
  munmap(s->base, s->mapped);
  s->base = nullptr;
}

void protect(IOSurface* s, int prot) {
  if (mprotect(s->base, s->mapped, prot) != 0) fatal("mprotect failed on an IOSurface");
}

const char* kKeys[] = {"IOSurfaceWidth",       "IOSurfaceHeight",    "IOSurfaceBytesPerElement",
                       "IOSurfaceBytesPerRow", "IOSurfaceAllocSize", "IOSurfacePixelFormat"};

}  // namespace

IOSurface* as_surface(const void* p, const char* what) {
  return static_cast<IOSurface*>(expect_kind(p, "IOSurface", what));
}

void surface_read(IOSurface* s, void* dst, size_t n) {
  protect(s, PROT_READ);
  std::memcpy(dst, s->base, n);
  protect(s, PROT_NONE);
}

void surface_write(IOSurface* s, const void* src, size_t n) {
  protect(s, PROT_READ | PROT_WRITE);
  std::memcpy(s->base, src, n);
  protect(s, PROT_NONE);
}

}  // namespace anemock

using namespace anemock;

// The property keys: the driver dlsyms each variable and dereferences it, as on macOS.
extern "C" {
ANEMOCK_EXPORT const void* kIOSurfaceWidth = nullptr;
ANEMOCK_EXPORT const void* kIOSurfaceHeight = nullptr;
ANEMOCK_EXPORT const void* kIOSurfaceBytesPerElement = nullptr;
ANEMOCK_EXPORT const void* kIOSurfaceBytesPerRow = nullptr;
ANEMOCK_EXPORT const void* kIOSurfaceAllocSize = nullptr;
ANEMOCK_EXPORT const void* kIOSurfacePixelFormat = nullptr;
}

namespace anemock {

void register_iosurface() {
  c_surface = define_class("IOSurface", find_class("NSObject"), fin_surface);
  const void** vars[] = {&kIOSurfaceWidth,       &kIOSurfaceHeight,    &kIOSurfaceBytesPerElement,
                         &kIOSurfaceBytesPerRow, &kIOSurfaceAllocSize, &kIOSurfacePixelFormat};
  for (int i = 0; i < 6; ++i) {
    NSString* s = new_string(kKeys[i]);
    make_immortal(s);
    *vars[i] = s;
  }
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &g_previous);
}

}  // namespace anemock

extern "C" ANEMOCK_EXPORT const void* IOSurfaceCreate(const void* properties) {
  auto* props =
      static_cast<NSDictionary*>(expect_kind(properties, "NSDictionary", "IOSurfaceCreate"));
  for (const std::string& key : dict_string_keys(props, "IOSurfaceCreate")) {
    bool known = false;
    for (const char* k : kKeys) known |= key == k;
    if (!known) fatal("IOSurfaceCreate: unexpected property " + key);
  }
  const int64_t width = number(props, "IOSurfaceWidth");
  const int64_t height = number(props, "IOSurfaceHeight");
  const int64_t bpe = number(props, "IOSurfaceBytesPerElement");
  const int64_t bpr = number(props, "IOSurfaceBytesPerRow");
  const int64_t alloc = number(props, "IOSurfaceAllocSize");
  const int64_t format = number(props, "IOSurfacePixelFormat");
  if (width <= 0 || height != 1 || bpe != 1 || bpr != width || alloc < width || format != 0)
    fatal(
        "IOSurfaceCreate: properties must be width = bytes per row = N > 0, height 1, "
        "bytes per element 1, alloc size >= N, pixel format 0; got width " +
        std::to_string(width) + ", height " + std::to_string(height) + ", bytes per element " +
        std::to_string(bpe) + ", bytes per row " + std::to_string(bpr) + ", alloc size " +
        std::to_string(alloc) + ", pixel format " + std::to_string(format));
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t mapped = (static_cast<size_t>(alloc) + page - 1) / page * page;
  void* base = mmap(nullptr, mapped, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return nullptr;
  IOSurface* s = create<IOSurface>(c_surface);
  s->base = base;
  s->mapped = mapped;
  s->alloc_size = static_cast<size_t>(alloc);
  s->bytes_per_row = static_cast<size_t>(bpr);
  s->slot = take_slot(base, mapped);
  ++counters().surfaces_created;
  return s;
}

extern "C" ANEMOCK_EXPORT int IOSurfaceLock(const void* surface, uint32_t options, uint32_t* seed) {
  IOSurface* s = as_surface(surface, "IOSurfaceLock");
  if (options > 1)
    fatal("IOSurfaceLock: options " + std::to_string(options) +
          " (0 = read-write, 1 = kIOSurfaceLockReadOnly)");
  if (s->locked) fatal("IOSurfaceLock: surface is already locked (unlock it first)");
  s->locked = true;
  s->lock_options = options;
  protect(s, options == 1 ? PROT_READ : PROT_READ | PROT_WRITE);
  if (seed) *seed = s->seed;
  return 0;  // kIOReturnSuccess
}

extern "C" ANEMOCK_EXPORT int IOSurfaceUnlock(const void* surface, uint32_t options,
                                              uint32_t* seed) {
  IOSurface* s = as_surface(surface, "IOSurfaceUnlock");
  if (!s->locked) fatal("IOSurfaceUnlock: surface is not locked");
  if (options != s->lock_options)
    fatal("IOSurfaceUnlock: options " + std::to_string(options) + " but it was locked with " +
          std::to_string(s->lock_options));
  if (options == 0) ++s->seed;  // a read-write lock may have changed the contents
  s->locked = false;
  protect(s, PROT_NONE);
  if (seed) *seed = s->seed;
  return 0;
}

extern "C" ANEMOCK_EXPORT void* IOSurfaceGetBaseAddress(const void* surface) {
  return as_surface(surface, "IOSurfaceGetBaseAddress")->base;
}
extern "C" ANEMOCK_EXPORT size_t IOSurfaceGetAllocSize(const void* surface) {
  return as_surface(surface, "IOSurfaceGetAllocSize")->alloc_size;
}
extern "C" ANEMOCK_EXPORT size_t IOSurfaceGetBytesPerRow(const void* surface) {
  return as_surface(surface, "IOSurfaceGetBytesPerRow")->bytes_per_row;
}
