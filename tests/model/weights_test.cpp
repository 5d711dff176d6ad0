// The weight-format seam (model/weights.h): the anetrain format reads back what it wrote with
// its metadata, writes the bytes checkpoints always had, and names the file and tensor when a
// file does not fit the model.
#include "model/weights.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "io/safetensors.h"
#include "support/test_util.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

RunConfig small_config() {
  RunConfig config = load_config("tiny");
  config.model.n_layers = 1;
  config.model.vocab_size = 32;
  return config;
}

std::vector<float> numbered(int64_t n) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = 0.001f * static_cast<float>(i % 1000) - 0.5f;
  return v;
}

// Meta's names in layout order, as anetrain always wrote them; no metadata.
SafetensorsWriter meta_named(const ParamLayout& layout, const std::vector<float>& params) {
  SafetensorsWriter writer;
  for (const ParamInfo& t : layout.tensors())
    writer.add_f32(t.name, t.shape, params.data() + t.offset);
  return writer;
}

TEST(Weights, AnetrainFormatRoundTripsTensorsAndMetadata) {
  TempDir dir;
  RunConfig config = small_config();
  config.train.lr = 5e-4f;
  const ParamLayout layout(config.model);
  const std::vector<float> params = numbered(layout.total());
  const std::string path = dir.file("model.safetensors");
  write_weights(WeightFormat::kAnetrain, path, layout, params.data(), {config, 17});
  ASSERT_EQ(detect_weight_format(path), WeightFormat::kAnetrain);
  EXPECT_EQ(weight_format_name(WeightFormat::kAnetrain), "anetrain");
  const WeightsMetadata metadata = read_weights_metadata(WeightFormat::kAnetrain, path);
  ASSERT_TRUE(metadata.config.has_value());
  EXPECT_EQ(config_to_json(*metadata.config), config_to_json(config));
  EXPECT_EQ(metadata.step, 17);
  std::vector<float> back(layout.total());
  read_weights(WeightFormat::kAnetrain, path, layout, back.data());
  EXPECT_EQ(back, params);
}

// The bytes checkpoints wrote before the seam existed: Meta's names in layout order and the
// metadata format, config and step.
TEST(Weights, AnetrainFormatWritesTheCheckpointBytes) {
  TempDir dir;
  const RunConfig config = small_config();
  const ParamLayout layout(config.model);
  const std::vector<float> params = numbered(layout.total());
  SafetensorsWriter expected = meta_named(layout, params);
  expected.set_metadata("format", "anetrain");
  expected.set_metadata("config", config_to_json(config).dump());
  expected.set_metadata("step", "3");
  write_weights(WeightFormat::kAnetrain, dir.file("w.safetensors"), layout, params.data(),
                {config, 3});
  EXPECT_TRUE(read_bytes(dir.file("w.safetensors")) == expected.serialize());
}

TEST(Weights, FilesWithoutMetadataOrTensorsSayWhatIsMissing) {
  TempDir dir;
  const RunConfig config = small_config();
  const ParamLayout layout(config.model);
  const std::vector<float> params = numbered(layout.total());
  // Meta's names but no metadata: the weights read, the config is unknown.
  meta_named(layout, params).write(dir.file("bare.safetensors"));
  const WeightsMetadata metadata =
      read_weights_metadata(WeightFormat::kAnetrain, dir.file("bare.safetensors"));
  EXPECT_FALSE(metadata.config.has_value());
  EXPECT_LT(metadata.step, 0);
  std::vector<float> back(layout.total());
  read_weights(WeightFormat::kAnetrain, dir.file("bare.safetensors"), layout, back.data());
  EXPECT_EQ(back, params);

  // A model with two layers wants tensors this file lacks.
  RunConfig deeper = config;
  deeper.model.n_layers = 2;
  const ParamLayout deeper_layout(deeper.model);
  std::vector<float> more(deeper_layout.total());
  EXPECT_NE(user_error_of([&] {
              read_weights(WeightFormat::kAnetrain, dir.file("bare.safetensors"), deeper_layout,
                           more.data());
            }).find("bare.safetensors' has no tensor 'layers.1.attention_norm.weight'"),
            std::string::npos);

  std::ofstream(dir.file("notes.txt")) << "not weights";
  EXPECT_NE(user_error_of([&] {
              detect_weight_format(dir.file("notes.txt"));
            }).find("notes.txt' is in no weights format anetrain reads"),
            std::string::npos);
  EXPECT_NE(user_error_of([&] {
              detect_weight_format(dir.file("absent.safetensors"));
            }).find("absent.safetensors' is not a weights file"),
            std::string::npos);
}

}  // namespace
}  // namespace anetrain
