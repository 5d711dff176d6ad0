// The private AppleNeuralEngine classes: _ANEInMemoryModelDescriptor, _ANEInMemoryModel,
// _ANEIOSurfaceObject, _ANERequest. Compile reads the model's temporary directory (not the
// descriptor), as the real compiler does, and validates the program exactly as anetrain's fake
// driver does; load runs what compile wrote there, so stale compiler output runs stale weights
// as it would on hardware. Numerics come from FakeDriver::evaluate (bit-identical to it).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "backends/ane/mil/parser.h"
#include "backends/ane/runtime/fake_driver.h"
#include "counters.h"
#include "foundation.h"
#include "io/sha256.h"
#include "iosurface.h"

namespace anemock {
namespace {

namespace fs = std::filesystem;
using anetrain::ane::DriverError;
using anetrain::ane::FakeDriver;

// NSError codes. 0x1d is the framework's code for mis-bound requests (ane.md).
constexpr long kRequestError = 0x1d;
constexpr long kBudgetError = 1, kDirectoryError = 2, kMismatchError = 3, kStaleFileError = 4,
               kCompileError = 5, kLoadError = 6, kNotLoadedError = 7, kEvaluateError = 8;

constexpr const char* kPrefix = "@model_path/";
constexpr const char* kCompiled = "anemock.compiled";

Class *c_desc, *c_model, *c_surface_object, *c_request;

struct Descriptor : Object {
  NSData* mil = nullptr;
  NSDictionary* weights = nullptr;
  Object* options = nullptr;  // may be nil
};
struct Model : Object {
  Descriptor* desc = nullptr;
  bool loaded = false;
  std::unique_ptr<FakeDriver> driver;
  int64_t handle = 0;
  anetrain::mil::Program program;  // of the loaded snapshot, for binding surfaces
};
struct SurfaceObject : Object {
  IOSurface* surface = nullptr;
};
struct Request : Object {
  NSArray *inputs = nullptr, *input_indices = nullptr, *outputs = nullptr,
          *output_indices = nullptr;
  Object *weights_buffer = nullptr, *perf_stats = nullptr, *procedure = nullptr;
};

void release_if(Object* o) {
  if (o) release(o);
}

void fin_desc(Object* o) {
  auto* d = static_cast<Descriptor*>(o);
  release_if(d->mil);
  release_if(d->weights);
  release_if(d->options);
  d->mil = nullptr, d->weights = nullptr, d->options = nullptr;
}
void fin_model(Object* o) {
  auto* m = static_cast<Model*>(o);
  if (m->loaded)
    fatal("_ANEInMemoryModel " + hex_pointer(m) +
          " released while loaded: unloadWithQoS:error: before releasing");
  release_if(m->desc);
  m->desc = nullptr;
  m->driver.reset();
  m->program = {};
}
void fin_surface_object(Object* o) {
  auto* s = static_cast<SurfaceObject*>(o);
  release_if(s->surface);
  s->surface = nullptr;
}
void fin_request(Object* o) {
  auto* r = static_cast<Request*>(o);
  for (Object* x : {static_cast<Object*>(r->inputs), static_cast<Object*>(r->input_indices),
                    static_cast<Object*>(r->outputs), static_cast<Object*>(r->output_indices),
                    r->weights_buffer, r->perf_stats, r->procedure})
    release_if(x);
  r->inputs = r->input_indices = r->outputs = r->output_indices = nullptr;
  r->weights_buffer = r->perf_stats = r->procedure = nullptr;
}

std::string env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// Sets *error (when given) to an autoreleased NSError; returns NO for the caller to return.
bool fail(id* error, long code, const std::string& message) {
  if (error) *error = autorelease(new_error(code, message));
  return false;
}

// The descriptor's weight files: "@model_path/weights/x.bin" -> bytes (validated at creation).
std::map<std::string, std::string> weight_files(const Descriptor* d) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : d->weights->entries)
    out[static_cast<NSString*>(k)->utf8] =
        static_cast<NSData*>(dict_get(static_cast<NSDictionary*>(v), "data"))->bytes;
  return out;
}

std::string hex_identifier(const Descriptor* d) {
  const std::string rule = env("ANEMOCK_HEX_RULE", "text-and-keys");
  if (rule != "text-and-keys" && rule != "text-and-data")
    fatal("ANEMOCK_HEX_RULE=" + rule + " (text-and-keys or text-and-data)");
  std::string digest_input = d->mil->bytes;
  for (const auto& [key, bytes] : weight_files(d)) {  // std::map: sorted keys
    digest_input += '\0' + key;
    if (rule == "text-and-data") digest_input += '\0' + bytes;
  }
  return anetrain::sha256_hex(digest_input);
}

std::string model_dir(const Model* m) {
  return env("TMPDIR", "/tmp") + "/" + hex_identifier(m->desc);
}

bool read_file(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

// The compiler's output file: the MIL text and weight files, each length-prefixed.
void put(std::string& out, const std::string& s) {
  const uint64_t n = s.size();
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  out += s;
}
bool get(const std::string& in, size_t& pos, std::string* s) {
  uint64_t n = 0;
  if (in.size() - pos < sizeof n) return false;
  std::memcpy(&n, in.data() + pos, sizeof n);
  pos += sizeof n;
  if (in.size() - pos < n) return false;
  *s = in.substr(pos, n);
  pos += n;
  return true;
}
std::string serialize(const std::string& mil, const std::map<std::string, std::string>& w) {
  std::string out;
  put(out, mil);
  put(out, std::to_string(w.size()));
  for (const auto& [k, v] : w) {
    put(out, k);
    put(out, v);
  }
  return out;
}
bool deserialize(const std::string& in, std::string* mil, std::map<std::string, std::string>* w) {
  size_t pos = 0;
  std::string count;
  if (!get(in, pos, mil) || !get(in, pos, &count)) return false;
  for (long i = 0, n = std::atol(count.c_str()); i < n; ++i) {
    std::string k, v;
    if (!get(in, pos, &k) || !get(in, pos, &v)) return false;
    (*w)[k] = v;
  }
  return pos == in.size();
}

// The mock's own budget check comes first; the fake driver only validates and runs.
anetrain::ane::FakeDriverOptions driver_options() {
  return {.compile_budget = 1 << 30,
          .lint_profile = env("ANEMOCK_LINT_PROFILE", "m4-macos15"),
          .cache_dir = ""};
}

// ---- _ANEInMemoryModelDescriptor ----

id desc_modelWithMILText(id, SEL, id mil, id weights, id options) {
  const char* what = "modelWithMILText:weights:optionsPlist:";
  if (!is_kind(mil, "NSData"))
    fatal(std::string(what) + " MIL text must be NSData (UTF-8 bytes), got " + class_name_of(mil));
  if (!weights)
    fatal(std::string(what) + " weights is nil (an empty weight set is an empty dictionary)");
  auto* w = static_cast<NSDictionary*>(expect_kind(weights, "NSDictionary", what));
  for (const auto& [k, v] : w->entries) {
    if (!is_kind(k, "NSString") || static_cast<NSString*>(k)->utf8.rfind(kPrefix, 0) != 0)
      fatal(std::string(what) + " weight keys must be NSStrings starting with @model_path/, got " +
            (is_kind(k, "NSString") ? "\"" + static_cast<NSString*>(k)->utf8 + "\""
                                    : std::string(class_name_of(k))));
    const std::string& key = static_cast<NSString*>(k)->utf8;
    if (!is_kind(v, "NSDictionary"))
      fatal(std::string(what) + " weight " + key + ": value must be an NSDictionary, got " +
            class_name_of(v));
    auto* entry = static_cast<NSDictionary*>(v);
    std::vector<std::string> keys = dict_string_keys(entry, what);
    std::sort(keys.begin(), keys.end());
    if (keys != std::vector<std::string>{"data", "offset"} ||
        !is_kind(dict_get(entry, "offset"), "NSNumber") ||
        !is_kind(dict_get(entry, "data"), "NSData"))
      fatal(std::string(what) + " weight " + key +
            ": value must be exactly {\"offset\": NSNumber, \"data\": NSData}");
  }
  if (options) checked(options, what);
  Descriptor* d = create<Descriptor>(c_desc);
  d->mil = static_cast<NSData*>(retain(mil));
  d->weights = static_cast<NSDictionary*>(retain(weights));
  d->options = options ? static_cast<Object*>(retain(options)) : nullptr;
  return autorelease(d);
}

// ---- _ANEInMemoryModel ----

id model_inMemoryModelWithDescriptor(id, SEL, id desc) {
  expect_kind(desc, "_ANEInMemoryModelDescriptor", "inMemoryModelWithDescriptor:");
  Model* m = create<Model>(c_model);
  m->desc = static_cast<Descriptor*>(retain(desc));
  return autorelease(m);
}

id model_hexStringIdentifier(id self, SEL) {
  return autorelease(new_string(hex_identifier(static_cast<Model*>(self)->desc)));
}

bool model_compile(id self, SEL, unsigned int, id options, id* error) {
  auto* m = static_cast<Model*>(self);
  expect_kind(options, "NSDictionary", "compileWithQoS:options:error: (options)");
  Counters& k = counters();
  const long budget = std::atol(env("ANEMOCK_COMPILE_BUDGET", "119").c_str());
  if (k.process_compiles >= budget)
    return fail(error, kBudgetError,
                "compile budget exhausted: this process has compiled " +
                    std::to_string(k.process_compiles.load()) + " programs (budget " +
                    std::to_string(budget) + ")");
  ++k.compiles;
  ++k.process_compiles;
  const std::string dir = model_dir(m);
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return fail(error, kDirectoryError, "model directory " + dir + " does not exist");
  std::string text;
  if (!read_file(dir + "/model.mil", &text))
    return fail(error, kDirectoryError, "cannot read " + dir + "/model.mil");
  if (text != m->desc->mil->bytes)
    return fail(error, kMismatchError, dir + "/model.mil differs from the descriptor's MIL text");
  const std::map<std::string, std::string> weights = weight_files(m->desc);
  std::set<std::string> expected = {"model.mil", kCompiled};
  for (const auto& [key, bytes] : weights) {
    const std::string rel = key.substr(std::strlen(kPrefix));
    const std::string path = dir + "/" + rel;
    expected.insert(rel);
    std::string on_disk;
    if (!read_file(path, &on_disk))
      return fail(error, kDirectoryError, "weight file " + path + " is missing");
    if (on_disk != bytes)
      return fail(error, kMismatchError, "weight file " + path + " differs from the descriptor's");
  }
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_directory()) continue;
    const std::string rel = fs::relative(it->path(), dir).string();
    if (!expected.count(rel))
      return fail(error, kStaleFileError,
                  dir + "/" + rel + " is not part of this model (a stale leftover?)");
  }
  try {
    FakeDriver validator(driver_options());
    validator.unload(validator.compile_and_load(text, weights));
  } catch (const std::exception& e) {
    return fail(error, kCompileError, e.what());
  }
  std::ofstream out(dir + "/" + kCompiled, std::ios::binary | std::ios::trunc);
  const std::string compiled = serialize(text, weights);
  out.write(compiled.data(), static_cast<std::streamsize>(compiled.size()));
  if (!out.flush()) return fail(error, kDirectoryError, "cannot write " + dir + "/" + kCompiled);
  return true;
}

bool model_load(id self, SEL, unsigned int, id options, id* error) {
  auto* m = static_cast<Model*>(self);
  expect_kind(options, "NSDictionary", "loadWithQoS:options:error: (options)");
  Counters& k = counters();
  auto failed = [&](const std::string& message) {
    ++k.failed_loads;
    return fail(error, kLoadError, message);
  };
  for (int n = k.fail_next_loads; n > 0; n = k.fail_next_loads)
    if (k.fail_next_loads.compare_exchange_weak(n, n - 1))
      return failed("load failed (transient failure injected by anemock_fail_next_loads)");
  if (m->loaded) return failed("the model is already loaded");
  const std::string path = model_dir(m) + "/" + kCompiled;
  std::string compiled, text;
  std::map<std::string, std::string> weights;
  if (!read_file(path, &compiled)) return failed("no compiled model at " + path);
  if (!deserialize(compiled, &text, &weights)) return failed(path + " is unreadable");
  try {
    auto driver = std::make_unique<FakeDriver>(driver_options());
    m->handle = driver->compile_and_load(text, weights);
    m->program = anetrain::mil::parse_program(text, path);
    m->driver = std::move(driver);
  } catch (const std::exception& e) {
    return failed(e.what());
  }
  m->loaded = true;
  ++k.loads;
  ++k.loaded_models;
  return true;
}

bool model_unload(id self, SEL, unsigned int, id* error) {
  auto* m = static_cast<Model*>(self);
  if (!m->loaded) return fail(error, kNotLoadedError, "unloadWithQoS: the model is not loaded");
  m->driver->unload(m->handle);
  m->driver.reset();
  m->loaded = false;
  ++counters().unloads;
  --counters().loaded_models;
  return true;
}

// One side (inputs or outputs) of a request bound to the program: surfaces in the program's
// declared order, or an error message.
struct Bound {
  std::vector<IOSurface*> by_declared;  // per declared input/output
  std::vector<int64_t> bytes;           // the tensor's fp16 size, per declared input/output
};

std::string bind_side(const char* side, NSArray* objects, NSArray* indices,
                      const std::vector<std::pair<std::string, anetrain::mil::Type>>& decl,
                      bool ascending, Bound* out) {
  const size_t n = decl.size();
  if (objects->items.size() != n)
    return std::string("request has ") + std::to_string(objects->items.size()) + " " + side +
           " surfaces; the program has " + std::to_string(n);
  std::vector<size_t> alpha(n);  // alphabetical position -> declared position
  for (size_t i = 0; i < n; ++i) alpha[i] = i;
  std::sort(alpha.begin(), alpha.end(),
            [&](size_t a, size_t b) { return decl[a].first < decl[b].first; });
  out->by_declared.assign(n, nullptr);
  out->bytes.assign(n, 0);
  std::vector<std::pair<int64_t, size_t>> by_binding;  // (index, surface size)
  for (size_t k = 0; k < n; ++k) {
    const int64_t index = static_cast<NSNumber*>(indices->items[k])->value;
    if (index < 0 || index >= static_cast<int64_t>(n) || out->by_declared[alpha[index]])
      return std::string(side) + " indices must be a permutation of 0.." + std::to_string(n - 1) +
             "; got " + std::to_string(index) + " at position " + std::to_string(k);
    const size_t declared = alpha[index];
    IOSurface* s = static_cast<SurfaceObject*>(objects->items[k])->surface;
    const int64_t need = decl[declared].second.numel() * 2;
    if (static_cast<int64_t>(s->alloc_size) < need)
      return std::string(side) + " '" + decl[declared].first + "' needs " + std::to_string(need) +
             " bytes; its surface has " + std::to_string(s->alloc_size);
    out->by_declared[declared] = s;
    out->bytes[declared] = need;
    by_binding.push_back({index, s->alloc_size});
  }
  std::sort(by_binding.begin(), by_binding.end());
  const std::string rule = env("ANEMOCK_SURFACE_RULE", "equal");
  if (rule != "equal" && rule != "ascending")
    fatal("ANEMOCK_SURFACE_RULE=" + rule + " (equal or ascending)");
  for (size_t i = 1; i < by_binding.size(); ++i) {
    const size_t a = by_binding[i - 1].second, b = by_binding[i].second;
    const bool ok = rule == "equal" ? a == b : (ascending ? b > a : b < a);
    if (!ok)
      return std::string(side) + " surfaces break the " + rule + " rule (" +
             (rule == "equal" ? "every surface one size"
              : ascending     ? "strictly ascending sizes in binding order"
                              : "strictly descending sizes in binding order") +
             "): binding position " + std::to_string(i - 1) + " has " + std::to_string(a) +
             " bytes, position " + std::to_string(i) + " has " + std::to_string(b);
  }
  return "";
}

bool model_evaluate(id self, SEL, unsigned int, id options, id request, id* error) {
  auto* m = static_cast<Model*>(self);
  expect_kind(options, "NSDictionary", "evaluateWithQoS:options:request:error: (options)");
  auto* r = static_cast<Request*>(
      expect_kind(request, "_ANERequest", "evaluateWithQoS:options:request:error: (request)"));
  if (!m->loaded) return fail(error, kNotLoadedError, "evaluateWithQoS: the model is not loaded");
  for (NSArray* side : {r->inputs, r->outputs})
    for (Object* o : side->items) {
      IOSurface* s = static_cast<SurfaceObject*>(o)->surface;
      checked(s, "evaluateWithQoS: (request surface)");
      if (s->locked)
        fatal(
            "evaluateWithQoS: a surface of the request is still locked (unlock before "
            "evaluating)");
    }
  const anetrain::mil::Function& f = m->program.main;
  std::vector<std::pair<std::string, anetrain::mil::Type>> outputs;
  for (const std::string& name : f.outputs) {
    anetrain::mil::Type t;
    for (const auto& op : f.ops)
      if (op.result == name) t = op.type;
    for (const auto& [in, type] : f.inputs)
      if (in == name) t = type;
    outputs.push_back({name, t});
  }
  Bound in, out;
  std::string why = bind_side("input", r->inputs, r->input_indices, f.inputs, true, &in);
  if (why.empty()) why = bind_side("output", r->outputs, r->output_indices, outputs, false, &out);
  if (!why.empty()) return fail(error, kRequestError, why);
  auto shape_of = [](const anetrain::mil::Type& t) {
    return t.shape.size() == 4 ? std::make_pair(t.shape[1], t.shape[3])
                               : std::make_pair(int64_t{1}, t.numel());
  };
  std::vector<anetrain::ane::Surface> ins(f.inputs.size()), outs(outputs.size());
  std::vector<const anetrain::ane::Surface*> in_ptrs;
  std::vector<anetrain::ane::Surface*> out_ptrs;
  for (size_t i = 0; i < ins.size(); ++i) {
    auto [c, w] = shape_of(f.inputs[i].second);
    ins[i] = {c, w, std::vector<uint16_t>(c * w)};
    surface_read(in.by_declared[i], ins[i].fp16.data(), in.bytes[i]);
    in_ptrs.push_back(&ins[i]);
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    auto [c, w] = shape_of(outputs[i].second);
    outs[i] = {c, w, {}};
    out_ptrs.push_back(&outs[i]);
  }
  try {
    m->driver->evaluate(m->handle, in_ptrs, out_ptrs);
  } catch (const DriverError& e) {
    return fail(error, e.code() ? e.code() : kEvaluateError, e.what());
  } catch (const std::exception& e) {
    return fail(error, kEvaluateError, e.what());
  }
  for (size_t i = 0; i < outs.size(); ++i)
    surface_write(out.by_declared[i], outs[i].fp16.data(),
                  std::min<size_t>(outs[i].fp16.size() * 2, out.bytes[i]));
  ++counters().evaluates;
  return true;
}

// ---- _ANEIOSurfaceObject, _ANERequest ----

id surface_objectWithIOSurface(id, SEL, const void* surface) {
  IOSurface* s = as_surface(surface, "objectWithIOSurface:");
  SurfaceObject* o = create<SurfaceObject>(c_surface_object);
  o->surface = static_cast<IOSurface*>(retain(s));
  return autorelease(o);
}

NSArray* array_of(id a, const char* element_class, const char* what) {
  auto* arr = static_cast<NSArray*>(expect_kind(a, "NSArray", what));
  for (Object* item : arr->items)
    if (!is_kind(item, element_class))
      fatal(std::string(what) + ": elements must be " + element_class + ", got " +
            class_name_of(item));
  return arr;
}

id request_create(id, SEL, id inputs, id input_indices, id outputs, id output_indices,
                  id weights_buffer, id perf_stats, id procedure) {
  const char* what =
      "requestWithInputs:inputIndices:outputs:outputIndices:weightsBuffer:perfStats:"
      "procedureIndex:";
  NSArray* in = array_of(inputs, "_ANEIOSurfaceObject", what);
  NSArray* in_idx = array_of(input_indices, "NSNumber", what);
  NSArray* out = array_of(outputs, "_ANEIOSurfaceObject", what);
  NSArray* out_idx = array_of(output_indices, "NSNumber", what);
  if (in->items.size() != in_idx->items.size() || out->items.size() != out_idx->items.size())
    fatal(std::string(what) + ": " + std::to_string(in->items.size()) + " inputs with " +
          std::to_string(in_idx->items.size()) + " indices, " + std::to_string(out->items.size()) +
          " outputs with " + std::to_string(out_idx->items.size()) + " indices");
  expect_kind(procedure, "NSNumber", what);
  if (weights_buffer) checked(weights_buffer, what);
  if (perf_stats) checked(perf_stats, what);
  Request* r = create<Request>(c_request);
  r->inputs = static_cast<NSArray*>(retain(in));
  r->input_indices = static_cast<NSArray*>(retain(in_idx));
  r->outputs = static_cast<NSArray*>(retain(out));
  r->output_indices = static_cast<NSArray*>(retain(out_idx));
  r->weights_buffer = weights_buffer ? static_cast<Object*>(retain(weights_buffer)) : nullptr;
  r->perf_stats = perf_stats ? static_cast<Object*>(retain(perf_stats)) : nullptr;
  r->procedure = static_cast<Object*>(retain(procedure));
  return autorelease(r);
}

template <typename F>
void* fn(F f) {
  return reinterpret_cast<void*>(f);
}

}  // namespace

void register_ane_classes() {
  Class* root = find_class("NSObject");
  c_desc = define_class("_ANEInMemoryModelDescriptor", root, fin_desc, true);
  add_class_method(c_desc, "modelWithMILText:weights:optionsPlist:", fn(desc_modelWithMILText));
  c_model = define_class("_ANEInMemoryModel", root, fin_model, true);
  add_class_method(c_model, "inMemoryModelWithDescriptor:", fn(model_inMemoryModelWithDescriptor));
  add_instance_method(c_model, "hexStringIdentifier", fn(model_hexStringIdentifier));
  add_instance_method(c_model, "compileWithQoS:options:error:", fn(model_compile));
  add_instance_method(c_model, "loadWithQoS:options:error:", fn(model_load));
  add_instance_method(c_model, "evaluateWithQoS:options:request:error:", fn(model_evaluate));
  add_instance_method(c_model, "unloadWithQoS:error:", fn(model_unload));
  c_surface_object = define_class("_ANEIOSurfaceObject", root, fin_surface_object, true);
  add_class_method(c_surface_object, "objectWithIOSurface:", fn(surface_objectWithIOSurface));
  c_request = define_class("_ANERequest", root, fin_request, true);
  add_class_method(c_request,
                   "requestWithInputs:inputIndices:outputs:outputIndices:weightsBuffer:"
                   "perfStats:procedureIndex:",
                   fn(request_create));
}

}  // namespace anemock
