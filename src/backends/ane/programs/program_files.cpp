#include "backends/ane/programs/program_files.h"

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/fp16.h"
#include "backends/ane/mil/printer.h"
#include "core/error.h"
#include "io/atomic_file.h"

namespace anetrain::ane {

std::string serialize_weights(const KernelProgram& kp) {
  MilBlobWriter writer;
  std::vector<uint16_t> bits;
  for (const BlobTensor& t : kp.weights) {
    bits.resize(t.values.size());
    for (size_t i = 0; i < bits.size(); ++i) bits[i] = fp32_to_fp16(t.values[i]);
    const uint64_t offset = writer.add_fp16(bits.data(), static_cast<int64_t>(bits.size()));
    ANETRAIN_CHECK(offset == t.record_offset, "weight '" + t.name + "' record offset mismatch");
  }
  return writer.serialize();
}

void write_program_dir(const KernelProgram& kp, const std::string& dir) {
  namespace fs = std::filesystem;
  create_directory_tree((fs::path(dir) / "weights").string());
  const std::string mil = mil::print_program(kp.program);
  write_file_atomic((fs::path(dir) / "model.mil").string(), mil.data(), mil.size());
  const std::string blob = serialize_weights(kp);
  write_file_atomic((fs::path(dir) / "weights" / "weight.bin").string(), blob.data(), blob.size());
  nlohmann::json io = {{"kernel", kp.kernel},
                       {"part", kp.part},
                       {"variant", kp.variant},
                       {"seq", kp.seq},
                       {"dtype", "fp16"},
                       {"layout", "[1, C, 1, W]: each tensor C rows of S values at (channel, "
                                  "column); outputs concatenated along C"}};
  for (const auto* slots : {&kp.inputs, &kp.outputs}) {
    nlohmann::json list = nlohmann::json::array();
    int64_t at = 0;
    for (size_t i = 0; i < slots->size(); ++i) {
      const SurfaceSlot& s = (*slots)[i];
      const bool input = slots == &kp.inputs;
      const auto [channel, column] =
          input ? kp.input_positions.at(i) : std::pair<int64_t, int64_t>{at, 0};
      list.push_back({{"name", s.name},
                      {"channel_offset", channel},
                      {"column_offset", column},
                      {"channels", s.channels},
                      {"tensor_channel_offset", s.offset}});
      at += s.channels;
    }
    io[slots == &kp.inputs ? "input" : "output"] = {{"tensors", list}};
  }
  io["input"]["surface"] = {1, kp.surface_channels, 1, kp.surface_columns};
  io["output"]["surface"] = {1, kp.output_channels(), 1, kp.seq};
  nlohmann::json weights = nlohmann::json::array();
  for (const SurfaceWeight& w : kp.surface_weights)
    weights.push_back({{"name", w.name},
                       {"rows", w.rows},
                       {"cols", w.cols},
                       {"column", w.column},
                       {"channel", w.channel},
                       {"matrix", w.rows_are_outputs ? "A" : "A^T"},
                       {"lora", w.source.adapter != nullptr}});
  // Dynamic variant, and LoRA adapters in both: M at rows [channel, channel + rows).
  io["input"]["weights"] = weights;
  const std::string text = io.dump(2) + "\n";
  write_file_atomic((fs::path(dir) / "io.json").string(), text.data(), text.size());
}

mil::BlobLoader blob_loader(const MilBlobFile& file, std::string blob_path) {
  return [&file, expected = std::move(blob_path)](const std::string& path, uint64_t offset,
                                                  const mil::Type& type) {
    if (path != expected) throw UserError("BLOBFILE path '" + path + "' is not " + expected);
    const MilBlobEntry& e = file.at_record(offset);
    const bool fp32 = type.dtype == mil::DType::kFp32;
    const int64_t width = fp32 ? 4 : 2;
    if (e.dtype != (fp32 ? BlobDType::kFp32 : BlobDType::kFp16) ||
        static_cast<int64_t>(e.size) != width * type.numel())
      throw UserError("'" + file.name() + "': record at " + std::to_string(offset) +
                      " does not hold " + std::to_string(type.numel()) +
                      (fp32 ? " fp32" : " fp16") + " values");
    std::string_view bytes = file.data(e);
    mil::HostTensor t{type, std::vector<float>(type.numel())};
    for (int64_t i = 0; i < type.numel(); ++i) {
      if (fp32) {
        std::memcpy(&t.data[i], bytes.data() + 4 * i, 4);
        continue;
      }
      uint16_t bits;
      std::memcpy(&bits, bytes.data() + 2 * i, 2);
      t.data[i] = fp16_to_fp32(bits);
    }
    return t;
  };
}

}  // namespace anetrain::ane
