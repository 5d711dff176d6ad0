#include "backends/ane/runtime/framework_driver.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <vector>

#include "backends/ane/mil/parser.h"
#include "backends/ane/runtime/compile_cache.h"
#include "backends/ane/runtime/objc_bridge.h"
#include "core/error.h"

namespace anetrain::ane {
namespace {
namespace fs = std::filesystem;

constexpr uint32_t kQoS = 21;  // the QoS every runtime that ran on hardware passes

// One surface of a program's request, created at load and reused by every evaluate.
struct Port {
  RequestTensor tensor;
  CfRef surface;
  Retained wrapper;  // the _ANEIOSurfaceObject around `surface`
};

// Members are released in reverse order: request, then wrappers and surfaces, then the model.
struct LoadedProgram {
  Retained model;
  std::string dir;                    // $TMPDIR/<hexStringIdentifier>
  std::vector<Port> inputs, outputs;  // in the function's declaration order
  Retained request;
};

std::string temp_dir() {
  const char* t = std::getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.flush())
    throw DriverError("cannot write " + path.string() +
                      " for the ANE compiler: " + std::strerror(errno));
}

// The compiler's input: exactly model.mil and the weight files, nothing a previous version of
// the program (or a crashed run) left behind, which could otherwise run stale weights.
void write_program_directory(const std::string& dir, const std::string& mil_text,
                             const std::map<std::string, std::string>& weight_files) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(fs::path(dir) / "weights");
  write_file(fs::path(dir) / "model.mil", mil_text);
  for (const auto& [path, bytes] : weight_files) {
    const size_t at = path.find("weights/");
    if (at == std::string::npos)
      throw DriverError("weight file " + path + " is not under @model_path/weights/");
    write_file(fs::path(dir) / path.substr(at), bytes);
  }
}

// Copies `from` to `to` through a temporary name and a rename, so a reader never sees half.
void copy_directory_atomically(const std::string& from, const std::string& to) {
  std::error_code ec;
  const std::string partial = to + ".partial-" + std::to_string(getpid());
  fs::remove_all(partial, ec);
  fs::copy(from, partial, fs::copy_options::recursive, ec);
  if (!ec) fs::rename(partial, to, ec);
  if (ec) fs::remove_all(partial, ec);
}

class FrameworkDriver final : public AneDriver {
 public:
  FrameworkDriver(FrameworkApi api, FrameworkDriverOptions options, std::string library)
      : objc_(api), options_(std::move(options)), library_(std::move(library)) {}

  ~FrameworkDriver() override {
    AutoreleasePool pool(objc_);
    while (!programs_.empty()) unload(programs_.begin()->first);
    empty_options_.reset();
  }

  std::string name() const override {
    return library_ == system_framework_libraries().ane
               ? "AppleNeuralEngine.framework"
               : "the AppleNeuralEngine API in " + library_;
  }
  int64_t compiles() const override { return compiles_; }

  int64_t compile_and_load(const std::string& mil_text,
                           const std::map<std::string, std::string>& weight_files) override {
    ProgramIo io;
    try {
      io = program_io(mil::parse_program(mil_text, "model.mil").main);
    } catch (const UserError& e) {
      throw DriverError(std::string("compile failed: ") + e.what());
    }
    AutoreleasePool pool(objc_);
    LoadedProgram p;
    p.model = objc_.retain(model_for(mil_text, weight_files));
    const std::string hex = objc_.to_string(objc_.send<id>(p.model.get(), "hexStringIdentifier"));
    if (hex.empty() || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
      throw DriverError("the framework gave the model the identifier '" + hex +
                        "', which cannot name its compile directory");
    p.dir = temp_dir() + "/" + hex;
    const bool in_use = dir_users_.count(p.dir) > 0;

    const std::string cached =
        options_.cache_dir.empty()
            ? ""
            : options_.cache_dir + "/" + compile_cache_key(mil_text, weight_files);
    std::string why;
    bool loaded = false;
    std::error_code ec;
    if (!cached.empty() && fs::is_directory(cached, ec)) {
      // A complete earlier compile of this text and these weights: load it as it is.
      fs::remove_all(p.dir, ec);
      fs::copy(cached, p.dir, fs::copy_options::recursive, ec);
      loaded = !ec && load(p.model.get(), &why);
      if (loaded) touch_cache_entry(cached);
    }
    if (!loaded) {
      try {
        write_program_directory(p.dir, mil_text, weight_files);
        ++compiles_;
        if (!call_with_error(p.model.get(), "compileWithQoS:options:error:", &why))
          throw DriverError("compile failed: " + why, last_error_code_);
        if (!load(p.model.get(), &why)) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));  // retried once, as
          if (!load(p.model.get(), &why))                               // on hardware
            throw DriverError("load failed: " + why, last_error_code_);
        }
      } catch (...) {
        if (!in_use) fs::remove_all(p.dir, ec);
        throw;
      }
      if (!cached.empty()) {
        fs::create_directories(options_.cache_dir, ec);
        copy_directory_atomically(p.dir, cached);
        prune_compile_cache(options_.cache_dir, options_.cache_limit_bytes);
      }
    }
    try {
      bind_surfaces(p, io);
    } catch (...) {
      unload_model(p.model.get());
      if (!in_use) fs::remove_all(p.dir, ec);
      throw;
    }
    ++dir_users_[p.dir];
    const int64_t handle = next_++;
    programs_.emplace(handle, std::move(p));
    return handle;
  }

  void evaluate(int64_t handle, const std::vector<const Surface*>& inputs,
                const std::vector<Surface*>& outputs) override {
    auto it = programs_.find(handle);
    if (it == programs_.end())
      throw DriverError("evaluate: program " + std::to_string(handle) + " is not loaded");
    LoadedProgram& p = it->second;
    if (inputs.size() != p.inputs.size() || outputs.size() != p.outputs.size())
      throw DriverError("request has " + std::to_string(inputs.size()) + " inputs and " +
                        std::to_string(outputs.size()) + " outputs; the program has " +
                        std::to_string(p.inputs.size()) + " and " +
                        std::to_string(p.outputs.size()));
    AutoreleasePool pool(objc_);
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Surface& s = *inputs[i];
      check_shape(p.inputs[i].tensor, s, "input");
      if (static_cast<int64_t>(s.fp16.size()) != s.channels * s.width)
        throw DriverError("input '" + p.inputs[i].tensor.name + "' holds " +
                          std::to_string(s.fp16.size()) + " values, not channels x width");
      CFTypeRef surface = p.inputs[i].surface.get();
      objc_.api().IOSurfaceLock(surface, 0, nullptr);
      std::memcpy(objc_.api().IOSurfaceGetBaseAddress(surface), s.fp16.data(), s.bytes());
      objc_.api().IOSurfaceUnlock(surface, 0, nullptr);
    }
    std::string why;
    if (!call_with_error(p.model.get(), "evaluateWithQoS:options:request:error:", &why,
                         p.request.get()))
      throw DriverError("evaluate failed: " + why, last_error_code_);
    for (size_t o = 0; o < outputs.size(); ++o) {
      Surface& s = *outputs[o];
      check_shape(p.outputs[o].tensor, s, "output");
      s.fp16.resize(s.channels * s.width);
      CFTypeRef surface = p.outputs[o].surface.get();
      objc_.api().IOSurfaceLock(surface, kIOSurfaceLockReadOnly, nullptr);
      std::memcpy(s.fp16.data(), objc_.api().IOSurfaceGetBaseAddress(surface), s.bytes());
      objc_.api().IOSurfaceUnlock(surface, kIOSurfaceLockReadOnly, nullptr);
    }
  }

  void unload(int64_t handle) override {
    auto it = programs_.find(handle);
    if (it == programs_.end()) return;
    AutoreleasePool pool(objc_);
    unload_model(it->second.model.get());
    const std::string dir = it->second.dir;
    programs_.erase(it);  // releases request, wrappers, surfaces, model
    if (--dir_users_[dir] == 0) {
      dir_users_.erase(dir);
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  }

 private:
  // An autoreleased _ANEInMemoryModel for the text and weights; the caller retains it.
  id model_for(const std::string& mil_text,
               const std::map<std::string, std::string>& weight_files) {
    // weights: { "@model_path/weights/x.bin": { "offset": 0, "data": NSData } }
    std::vector<CfRef> owned;
    std::vector<CFTypeRef> keys, values;
    const CfRef offset_key = objc_.string("offset"), data_key = objc_.string("data");
    const CfRef zero = objc_.number(0);
    for (const auto& [path, bytes] : weight_files) {
      CfRef key = objc_.string(path), data = objc_.data(bytes);
      CfRef entry = objc_.dictionary({offset_key.get(), data_key.get()}, {zero.get(), data.get()});
      keys.push_back(key.get());
      values.push_back(entry.get());
      owned.push_back(std::move(key));
      owned.push_back(std::move(entry));
    }
    const CfRef weights = objc_.dictionary(keys, values);
    const CfRef text = objc_.data(mil_text);
    id descriptor = objc_.send<id, CFTypeRef, CFTypeRef, id>(
        objc_.cls("_ANEInMemoryModelDescriptor"),
        "modelWithMILText:weights:optionsPlist:", text.get(), weights.get(), nullptr);
    if (!descriptor) throw DriverError("the framework rejected the model descriptor");
    id model = objc_.send<id, id>(objc_.cls("_ANEInMemoryModel"),
                                  "inMemoryModelWithDescriptor:", descriptor);
    if (!model) throw DriverError("the framework could not create an in-memory model");
    return model;
  }

  // [model selector:QoS options:@{} (request:) error:&e]; false with *why and
  // last_error_code_ from the NSError when it fails.
  template <typename... Extra>
  bool call_with_error(id model, const char* selector, std::string* why, Extra... extra) {
    id error = nullptr;
    const bool ok = objc_.send<bool, uint32_t, CFTypeRef, Extra..., id*>(
        model, selector, kQoS, empty_options(), extra..., &error);
    last_error_code_ = 0;
    if (!ok) {
      *why = error ? objc_.to_string(objc_.send<id>(error, "description")) : "";
      if (why->empty()) *why = "no error detail";
      if (error) last_error_code_ = static_cast<int>(objc_.send<long>(error, "code"));
    }
    return ok;
  }

  bool load(id model, std::string* why) {
    return call_with_error(model, "loadWithQoS:options:error:", why);
  }

  void unload_model(id model) {
    id error = nullptr;
    objc_.send<bool, uint32_t, id*>(model, "unloadWithQoS:error:", kQoS, &error);
  }

  CFTypeRef empty_options() {
    if (!empty_options_) empty_options_ = objc_.dictionary({}, {});
    return empty_options_.get();
  }

  // The request's surfaces and wrappers, in binding order (request_layout.h), made once.
  void bind_surfaces(LoadedProgram& p, const ProgramIo& io) {
    const RequestLayout layout = plan_request(io, options_.surface_rule);
    auto make_ports = [&](const std::vector<RequestTensor>& tensors,
                          const std::vector<RequestSlot>& slots, std::vector<Port>& ports,
                          std::vector<CFTypeRef>& wrappers, std::vector<CfRef>& indices) {
      wrappers.assign(tensors.size(), nullptr);
      for (size_t i = 0; i < tensors.size(); ++i) {
        Port port{tensors[i], make_surface(slots[i].surface_bytes), nullptr};
        port.wrapper = objc_.retain(objc_.send<id, CFTypeRef>(
            objc_.cls("_ANEIOSurfaceObject"), "objectWithIOSurface:", port.surface.get()));
        if (!port.wrapper) throw DriverError("the framework could not wrap an IOSurface");
        wrappers[slots[i].position] = port.wrapper.get();
        ports.push_back(std::move(port));
      }
      for (size_t k = 0; k < tensors.size(); ++k)
        indices.push_back(objc_.number(static_cast<int64_t>(k)));
    };
    std::vector<CFTypeRef> in_wrappers, out_wrappers;
    std::vector<CfRef> in_indices, out_indices;
    make_ports(io.inputs, layout.inputs, p.inputs, in_wrappers, in_indices);
    make_ports(io.outputs, layout.outputs, p.outputs, out_wrappers, out_indices);
    auto refs = [](const std::vector<CfRef>& v) {
      std::vector<CFTypeRef> out;
      for (const CfRef& r : v) out.push_back(r.get());
      return out;
    };
    const CfRef inputs = objc_.array(in_wrappers), outputs = objc_.array(out_wrappers);
    const CfRef input_indices = objc_.array(refs(in_indices));
    const CfRef output_indices = objc_.array(refs(out_indices));
    const CfRef procedure = objc_.number(0);
    p.request =
        objc_.retain(objc_.send<id, CFTypeRef, CFTypeRef, CFTypeRef, CFTypeRef, id, id, CFTypeRef>(
            objc_.cls("_ANERequest"),
            "requestWithInputs:inputIndices:outputs:outputIndices:weightsBuffer:perfStats:"
            "procedureIndex:",
            inputs.get(), input_indices.get(), outputs.get(), output_indices.get(), nullptr,
            nullptr, procedure.get()));
    if (!p.request) throw DriverError("the framework could not create a request");
  }

  // An IOSurface of `bytes` bytes: width = bytes, height 1, one byte per element (ane.md).
  CfRef make_surface(int64_t bytes) {
    const FrameworkApi& a = objc_.api();
    const CfRef size = objc_.number(bytes), one = objc_.number(1), zero = objc_.number(0);
    const CfRef properties = objc_.dictionary(
        {*a.kIOSurfaceWidth, *a.kIOSurfaceHeight, *a.kIOSurfaceBytesPerElement,
         *a.kIOSurfaceBytesPerRow, *a.kIOSurfaceAllocSize, *a.kIOSurfacePixelFormat},
        {size.get(), one.get(), one.get(), size.get(), size.get(), zero.get()});
    CfRef surface = objc_.owned(a.IOSurfaceCreate(properties.get()));
    if (!surface)
      throw DriverError("IOSurfaceCreate failed for " + std::to_string(bytes) + " bytes");
    return surface;
  }

  static void check_shape(const RequestTensor& t, const Surface& s, const char* what) {
    if (s.channels != t.channels || s.width != t.width)
      throw DriverError(std::string(what) + " '" + t.name + "' is [1, " +
                        std::to_string(t.channels) + ", 1, " + std::to_string(t.width) +
                        "]; the surface given is [1, " + std::to_string(s.channels) + ", 1, " +
                        std::to_string(s.width) + "]");
  }

  ObjcBridge objc_;
  FrameworkDriverOptions options_;
  std::string library_;  // where the framework was loaded from
  CfRef empty_options_{nullptr, CfReleaser{&objc_.api()}};
  std::map<int64_t, LoadedProgram> programs_;
  std::map<std::string, int> dir_users_;  // loaded programs per compile directory
  int64_t next_ = 1, compiles_ = 0;
  int last_error_code_ = 0;
};

}  // namespace

FrameworkDriverOptions framework_driver_options_from_environment() {
  FrameworkDriverOptions options;
  if (const char* rule = std::getenv("ANETRAIN_ANE_SURFACE_RULE"))
    options.surface_rule = parse_surface_size_rule(rule, "ANETRAIN_ANE_SURFACE_RULE");
  options.cache_dir = default_compile_cache_dir();
  options.cache_limit_bytes = compile_cache_limit_bytes();
  return options;
}

std::unique_ptr<AneDriver> open_framework_driver(const FrameworkLibraries& libraries,
                                                 const FrameworkDriverOptions& options,
                                                 std::string* reason) {
  FrameworkApi api;
  std::string why;
  if (!load_framework_api(libraries, &api, &why)) {
    if (reason) *reason = why;
    return nullptr;
  }
  return std::make_unique<FrameworkDriver>(api, options, libraries.ane);
}

std::unique_ptr<AneDriver> open_framework_driver(std::string* reason) {
  return open_framework_driver(framework_libraries_from_environment(),
                               framework_driver_options_from_environment(), reason);
}

}  // namespace anetrain::ane
