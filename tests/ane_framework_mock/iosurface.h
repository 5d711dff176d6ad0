// The mock IOSurface (a CF type): page-granular memory that is PROT_NONE while unlocked and
// read-only under a read-only lock, so a copy outside a lock faults at the offending access.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime.h"

namespace anemock {

struct IOSurface : Object {
  void* base = nullptr;
  size_t mapped = 0;  // whole pages
  size_t alloc_size = 0, bytes_per_row = 0;
  bool locked = false;
  uint32_t lock_options = 0;
  uint32_t seed = 0;
  int slot = -1;  // in the fault handler's table of mapped ranges
};

// The surface behind `p` (fatal, naming `what`, if it is not a live mock IOSurface).
IOSurface* as_surface(const void* p, const char* what);
// Copies to/from the start of an unlocked surface (the mock's own access, as the ANE's DMA).
void surface_read(IOSurface* s, void* dst, size_t n);
void surface_write(IOSurface* s, const void* src, size_t n);

}  // namespace anemock
