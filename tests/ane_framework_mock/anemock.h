// The control and inspection API of the AppleNeuralEngine framework mock (libane_framework_mock,
// built from this folder on x86-64 Linux). The mock exports the C symbols the framework driver
// resolves (Objective-C runtime, CoreFoundation, IOSurface) and implements the _ANE* and NS
// classes it messages; tests dlopen the same library and read these functions through dlsym.
//
// Rules the mock enforces (a breach is fatal: "anemock: ..." on stderr, then abort()):
// unknown selectors, class-vs-instance receivers, argument classes, messages to released
// objects, autorelease with no pool, surface lock misuse (surfaces are PROT_NONE while unlocked
// and read-only under a read-only lock), CF calls with the wrong allocator or callbacks.
//
// Switches, read from the environment at each decision (tests set them per case):
//   ANEMOCK_SURFACE_RULE   equal (default): every input surface of a request has one size, and
//                          every output surface one size; ascending: inputs strictly ascending
//                          and outputs strictly descending in binding order. Either way
//                          surfaces bind to the program's inputs/outputs in alphabetical order
//                          of their MIL names (inputIndices/outputIndices give that position),
//                          and a tensor occupies the start of a surface at least its size.
//   ANEMOCK_HEX_RULE       text-and-keys (default): hexStringIdentifier digests the MIL text and
//                          the weight keys; text-and-data: also every weight file's bytes.
//   ANEMOCK_COMPILE_BUDGET compiles allowed per process (default 119); beyond, compile fails.
//   ANEMOCK_LINT_PROFILE   the lint profile compile applies (default m4-macos15).
//   ANEMOCK_REPORT_DIR     when set, the mock (re)writes <dir>/<pid>-<load time ns>.json with
//                          the counts below whenever the outermost autorelease pool is popped and
//                          when the library is unloaded, so a test can check every process of a
//                          run, including the ones that exec()ed.
#pragma once

#include <cstdint>

extern "C" {

struct AneMockCounts {
  int64_t live_objects;          // objects alive, every class (immortal constants excluded)
  int64_t live_ane_objects;      // _ANEInMemoryModelDescriptor, _ANEInMemoryModel, _ANERequest,
                                 // _ANEIOSurfaceObject instances alive
  int64_t live_surfaces;         // IOSurfaces alive
  int64_t surfaces_created;      // IOSurfaceCreate calls that succeeded
  int64_t pool_depth;            // autorelease pools pushed and not popped (this thread)
  int64_t pending_autoreleases;  // objects waiting in this thread's pools
  int64_t compiles;              // compileWithQoS calls that ran the compiler (success or failure)
  int64_t loads;                 // loadWithQoS calls that succeeded
  int64_t failed_loads;          // loadWithQoS calls that failed
  int64_t unloads;               // unloadWithQoS calls
  int64_t evaluates;             // evaluateWithQoS calls that succeeded
  int64_t loaded_models;         // models loaded and not unloaded
  int64_t process_compiles;      // compiles since the process started (never reset): what
                                 // ANEMOCK_COMPILE_BUDGET is compared with
};

// The counts now. Cumulative ones (surfaces_created, compiles, loads, failed_loads, unloads,
// evaluates) run from the last anemock_reset_counts(); live ones are always current.
void anemock_counts(AneMockCounts* out);
void anemock_reset_counts(void);
// Instances of `class_name` ("NSData", "_ANERequest", "IOSurface", ...) alive now.
int64_t anemock_live(const char* class_name);
// The next `n` loadWithQoS calls fail with an NSError (a transient failure, as reported once on
// hardware), whatever is on disk.
void anemock_fail_next_loads(int n);
}
