// WeightFormat::kLlama2c ("llama2c", llama2.c's legacy version-0 file) and kLlama2cV1
// ("llama2c-v1"): fp32 checkpoints that llama2.c's run.c reads (model/llama2c_format.h has the
// layouts). The header holds the model's numbers only, so the metadata read is a RunConfig of
// defaults with those, and no step or tokenizer. Writing one also writes llama2.c's
// tokenizer.bin beside it when the metadata carries a SentencePiece tokenizer.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "io/atomic_file.h"
#include "model/llama2c_format.h"
#include "model/weight_codec.h"
#include "tokenizer/llama2c_tokenizer.h"

namespace anetrain {
namespace {

bool same_tensors(const ParamLayout& a, const ParamLayout& b) {
  if (a.tensors().size() != b.tensors().size()) return false;
  for (size_t i = 0; i < a.tensors().size(); ++i)
    if (a.tensors()[i].name != b.tensors()[i].name || a.tensors()[i].shape != b.tensors()[i].shape)
      return false;
  return true;
}

// run.c fixes what the header does not hold; a model that needs other values would run wrong.
void check_writable(const std::string& path, const WeightsMetadata& metadata) {
  const std::string file = "'" + path + "'";
  if (!metadata.config)
    throw UserError("writing " + file + " as llama2.c needs the model's config");
  if (metadata.dtype != "f32")
    throw UserError(file + ": llama2.c checkpoints (versions 0 and 1) hold f32 tensors, not " +
                    metadata.dtype);
  const ModelConfig& m = metadata.config->model;
  m.validate();
  if (m.norm_eps != 1e-5f || m.rope_theta != 10000.0f) {
    std::ostringstream message;
    message << file << ": llama2.c's run.c computes with norm_eps 1e-05 and rope_theta 10000, "
            << "but this model has norm_eps " << m.norm_eps << " and rope_theta " << m.rope_theta;
    throw UserError(message.str());
  }
}

class Llama2cCodec final : public WeightCodec {
 public:
  Llama2cCodec(int version, const char* name) : version_(version), name_(name) {}

  // Version 1: the magic (any version, so that reading names what is wrong with it). Legacy:
  // a header describing a model whose size is exactly the file's, since it has no magic.
  bool recognizes(const std::string& path) const override {
    if (version_ != 0) {
      uint32_t magic = 0;
      std::ifstream in(path, std::ios::binary);
      return in.read(reinterpret_cast<char*>(&magic), sizeof magic) && magic == llama2c::kMagic;
    }
    try {
      llama2c::read_header(path, 0);
      return true;
    } catch (const UserError&) {
      return false;
    }
  }

  WeightsMetadata read_metadata(const std::string& path) const override {
    RunConfig config;
    config.preset = name_;
    config.model = llama2c::read_header(path, version_).model;  // validated
    WeightsMetadata out;
    out.config = config;
    return out;
  }

  void read(const std::string& path, const ParamLayout& layout, float* params) const override {
    const ModelConfig model = llama2c::read_header(path, version_).model;
    if (!same_tensors(ParamLayout(model), layout))
      throw UserError("'" + path + "' holds a model (" + llama2c::describe(model) +
                      ") other than the one it is read for: its tensors have other shapes");
    std::ifstream in(path, std::ios::binary);
    in.seekg(version_ == 0 ? llama2c::kLegacyHeaderBytes : llama2c::kV1HeaderBytes);
    for (const llama2c::Span& span : llama2c::file_order(version_, model, layout)) {
      if (span.offset < 0)
        in.seekg(span.count * 4, std::ios::cur);
      else
        in.read(reinterpret_cast<char*>(params + span.offset), span.count * 4);
    }
    if (!in) throw UserError("'" + path + "' could not be read to its end");
  }

  void write(const std::string& path, const ParamLayout& layout, const float* params,
             const WeightsMetadata& metadata) const override {
    check_writable(path, metadata);
    const ModelConfig& model = metadata.config->model;
    ANETRAIN_CHECK(same_tensors(ParamLayout(model), layout), "params laid out for another config");
    const bool with_tokenizer = metadata.tokenizer_files.kind == "sp";
    const std::string tokenizer =
        with_tokenizer ? llama2c_tokenizer_bin(metadata.tokenizer_files) : std::string();
    const std::string header = llama2c::header_bytes(version_, model);
    write_file_atomic(path, [&](std::FILE* f) {
      std::fwrite(header.data(), 1, header.size(), f);
      for (const llama2c::Span& span : llama2c::file_order(version_, model, layout)) {
        if (span.offset >= 0) {
          std::fwrite(params + span.offset, sizeof(float), span.count, f);
          continue;
        }
        const std::vector<float> table = llama2c::rope_table(model);
        std::fwrite(table.data(), sizeof(float), table.size(), f);
      }
    });
    if (with_tokenizer) {
      const auto beside = std::filesystem::path(path).parent_path() / "tokenizer.bin";
      write_file_atomic(beside.string(), tokenizer.data(), tokenizer.size());
    }
  }

 private:
  int version_;
  const char* name_;
};

}  // namespace

const WeightCodec& llama2c_codec() {
  static const Llama2cCodec codec(0, "llama2c");
  return codec;
}

const WeightCodec& llama2c_v1_codec() {
  static const Llama2cCodec codec(1, "llama2c-v1");
  return codec;
}

}  // namespace anetrain
