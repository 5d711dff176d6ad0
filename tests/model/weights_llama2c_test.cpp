// llama2.c's checkpoints (model/llama2c_format.h) and tokenizer.bin: both versions round-trip
// bit for bit with the same logits (tied, untied, grouped-query attention); files from
// tools/llama2c_writer.py, written from the format's description alone, load with its tensors,
// and it reads ours; detection claims only llama2.c files; every damaged or unsupported file is
// a one-line error naming it; tokenizer.bin holds SentencePiece's pieces and scores.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/npy.h"
#include "model/weights.h"
#include "support/test_util.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

const char* const kPython = "/usr/bin/python3";

RunConfig config_of(int n_kv_heads, bool tied) {
  RunConfig config;
  ModelConfig& m = config.model;
  m.dim = 32;
  m.hidden_dim = 48;
  m.n_layers = 2;
  m.n_heads = 4;
  m.n_kv_heads = n_kv_heads;
  m.vocab_size = 40;
  m.seq_len = 16;
  m.tied_embeddings = tied;
  return config;
}

const std::vector<int32_t> kTokens = {1, 7, 39, 0, 12, 12, 5, 30, 2, 17};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The config a llama2.c file reads as: defaults, the format's name, the header's model.
RunConfig as_read(const RunConfig& written, WeightFormat format) {
  RunConfig expected;
  expected.preset = weight_format_name(format);
  expected.model = written.model;
  return expected;
}

// What read_weights gives for the file at `path`, through detection, checking its metadata.
std::vector<float> load(const std::string& path, WeightFormat format, const RunConfig& config) {
  EXPECT_EQ(detect_weight_format(path), format);
  const WeightsMetadata metadata = read_weights_metadata(format, path);
  EXPECT_TRUE(metadata.config.has_value());
  if (!metadata.config) return {};
  EXPECT_EQ(config_to_json(*metadata.config), config_to_json(as_read(config, format)));
  EXPECT_LT(metadata.step, 0);
  EXPECT_EQ(metadata.tokenizer_spec, "");
  const ParamLayout layout(metadata.config->model);
  std::vector<float> params(layout.total());
  read_weights(format, path, layout, params.data());
  return params;
}

void expect_round_trip(WeightFormat format, const RunConfig& config) {
  SCOPED_TRACE(weight_format_name(format) + " " + config_to_json(config).dump());
  TempDir dir;
  const ParamLayout layout(config.model);
  const std::vector<float> params = random_normal(5, layout.total(), 0.08);
  const std::string path = dir.file("model.bin");
  write_weights(format, path, layout, params.data(), {config});
  const std::vector<float> back = load(path, format, config);
  EXPECT_TRUE(same_bits(back, params));
  EXPECT_EQ(cpu_logits(config.model, back, kTokens), cpu_logits(config.model, params, kTokens));
  EXPECT_FALSE(std::filesystem::exists(dir.file("tokenizer.bin")));
}

TEST(Llama2c, LegacyRoundTripsTiedAndUntied) {
  expect_round_trip(WeightFormat::kLlama2c, config_of(4, true));
  expect_round_trip(WeightFormat::kLlama2c, config_of(4, false));
  EXPECT_EQ(weight_format_name(WeightFormat::kLlama2c), "llama2c");
}

TEST(Llama2c, Version1RoundTripsTiedAndUntied) {
  expect_round_trip(WeightFormat::kLlama2cV1, config_of(4, true));
  expect_round_trip(WeightFormat::kLlama2cV1, config_of(4, false));
  EXPECT_EQ(weight_format_name(WeightFormat::kLlama2cV1), "llama2c-v1");
}

TEST(Llama2c, GroupedQueryAttentionRoundTrips) {
  expect_round_trip(WeightFormat::kLlama2c, config_of(2, false));
  expect_round_trip(WeightFormat::kLlama2cV1, config_of(1, true));
}

bool python_has_numpy() {
  static const bool has =
      std::system((std::string(kPython) + " -c 'import numpy' > /dev/null 2>&1").c_str()) == 0;
  return has;
}

// Runs tools/llama2c_writer.py with `args`; its stdout. Fails the test on a nonzero exit.
std::string run_script(const TempDir& dir, const std::string& args) {
  const std::string out = dir.file("script.out"), err = dir.file("script.err");
  const std::string command = std::string(kPython) + " " + source_dir() +
                              "/tools/llama2c_writer.py " + args + " > " + out + " 2> " + err;
  EXPECT_EQ(std::system(command.c_str()), 0) << command << "\n" << read_bytes(err);
  return read_bytes(out);
}

// Every tensor of `layout` from NPY_DIR/NAME.npy, laid out as params.
std::vector<float> params_from_npy(const std::string& npy_dir, const ParamLayout& layout) {
  std::vector<float> params(layout.total());
  for (const ParamInfo& t : layout.tensors()) {
    const NpyArray array = read_npy(npy_dir + "/" + t.name + ".npy");
    EXPECT_EQ(array.shape, t.shape) << t.name;
    if (array.values.size() == static_cast<size_t>(t.numel))
      std::copy(array.values.begin(), array.values.end(), params.begin() + t.offset);
  }
  return params;
}

std::string script_dims(const RunConfig& config) {
  const ModelConfig& m = config.model;
  return " --dim " + std::to_string(m.dim) + " --hidden-dim " + std::to_string(m.hidden_dim) +
         " --layers " + std::to_string(m.n_layers) + " --heads " + std::to_string(m.n_heads) +
         " --kv-heads " + std::to_string(m.n_kv_heads) + " --vocab " +
         std::to_string(m.vocab_size) + " --seq-len " + std::to_string(m.seq_len) +
         (m.tied_embeddings ? "" : " --untied");
}

struct Case {
  WeightFormat format;
  RunConfig config;
};
const std::vector<Case>& script_cases() {
  static const std::vector<Case> cases = {{WeightFormat::kLlama2c, config_of(4, true)},
                                          {WeightFormat::kLlama2c, config_of(2, false)},
                                          {WeightFormat::kLlama2cV1, config_of(4, false)},
                                          {WeightFormat::kLlama2cV1, config_of(2, true)}};
  return cases;
}

std::string version_of(WeightFormat format) { return format == WeightFormat::kLlama2c ? "0" : "1"; }

TEST(Llama2c, ReadsFilesAnIndependentWriterWrote) {
  if (!python_has_numpy()) GTEST_SKIP() << kPython << " cannot import numpy";
  for (const Case& c : script_cases()) {
    SCOPED_TRACE(weight_format_name(c.format) + " " + config_to_json(c.config).dump());
    TempDir dir;
    run_script(dir, "write " + dir.file("model.bin") + " " + dir.file("npy") + " --version " +
                        version_of(c.format) + script_dims(c.config) + " --seed 11");
    const std::vector<float> params = load(dir.file("model.bin"), c.format, c.config);
    const std::vector<float> expected =
        params_from_npy(dir.file("npy"), ParamLayout(c.config.model));
    EXPECT_TRUE(same_bits(params, expected));
    EXPECT_EQ(cpu_logits(c.config.model, params, kTokens),
              cpu_logits(c.config.model, expected, kTokens));
  }
}

TEST(Llama2c, AnIndependentReaderReadsOurFiles) {
  if (!python_has_numpy()) GTEST_SKIP() << kPython << " cannot import numpy";
  for (const Case& c : script_cases()) {
    SCOPED_TRACE(weight_format_name(c.format) + " " + config_to_json(c.config).dump());
    TempDir dir;
    const ParamLayout layout(c.config.model);
    const std::vector<float> params = random_normal(9, layout.total(), 0.08);
    write_weights(c.format, dir.file("model.bin"), layout, params.data(), {c.config});
    const auto header = nlohmann::json::parse(
        run_script(dir, "read " + dir.file("model.bin") + " " + dir.file("npy")));
    const ModelConfig& m = c.config.model;
    EXPECT_EQ(header["version"], c.format == WeightFormat::kLlama2c ? 0 : 1);
    EXPECT_EQ(header["bytes"], std::filesystem::file_size(dir.file("model.bin")));
    EXPECT_EQ(header["dim"], m.dim);
    EXPECT_EQ(header["hidden_dim"], m.hidden_dim);
    EXPECT_EQ(header["n_layers"], m.n_layers);
    EXPECT_EQ(header["n_heads"], m.n_heads);
    EXPECT_EQ(header["n_kv_heads"], m.n_kv_heads);
    EXPECT_EQ(header["vocab_size"], m.vocab_size);
    EXPECT_EQ(header["seq_len"], m.seq_len);
    EXPECT_EQ(header["shared"], m.tied_embeddings);
    EXPECT_TRUE(same_bits(params_from_npy(dir.file("npy"), layout), params));
  }
}

// A file of the format with its params written by anetrain; returns its path.
std::string written(const TempDir& dir, WeightFormat format, const RunConfig& config) {
  const ParamLayout layout(config.model);
  const std::vector<float> params = random_normal(3, layout.total(), 0.08);
  const std::string path = dir.file(weight_format_name(format) + ".bin");
  write_weights(format, path, layout, params.data(), {config});
  return path;
}

void overwrite_int(const std::string& path, int64_t at, int32_t value) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(at);
  f.write(reinterpret_cast<const char*>(&value), sizeof value);
}

void resize(const std::string& path, int64_t delta) {
  std::filesystem::resize_file(path, std::filesystem::file_size(path) + delta);
}

TEST(Llama2c, DetectionClaimsOnlyLlama2cFiles) {
  TempDir dir;
  const RunConfig config = config_of(4, false);
  const ParamLayout layout(config.model);
  const std::vector<float> params(layout.total(), 0.5f);
  write_weights(WeightFormat::kAnetrain, dir.file("a.safetensors"), layout, params.data(),
                {config});
  EXPECT_EQ(detect_weight_format(dir.file("a.safetensors")), WeightFormat::kAnetrain);
  // Plausible numbers, but not the file's size: not claimed.
  const std::string legacy = written(dir, WeightFormat::kLlama2c, config);
  resize(legacy, 4);
  const std::string message = user_error_of([&] { detect_weight_format(legacy); });
  EXPECT_NE(message.find("llama2c.bin' is in no weights format anetrain reads (anetrain, "),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("llama2c-v1"), std::string::npos) << message;
  std::ofstream(dir.file("noise.bin")) << std::string(4096, '\x11');
  EXPECT_NE(user_error_of([&] { detect_weight_format(dir.file("noise.bin")); }), "(no UserError)");
}

// The message reading `path` as `format` gives: one line naming the file.
std::string read_error(WeightFormat format, const std::string& path) {
  const std::string message = user_error_of([&] { read_weights_metadata(format, path); });
  EXPECT_NE(message.find("'" + path + "'"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  return message;
}

#define EXPECT_HAS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

TEST(Llama2c, DamagedOrUnsupportedFilesAreOneLineErrorsNamingThem) {
  TempDir dir;
  const RunConfig config = config_of(4, false);
  const std::string legacy = written(dir, WeightFormat::kLlama2c, config);
  const std::string v1 = written(dir, WeightFormat::kLlama2cV1, config);
  const auto legacy_size = std::filesystem::file_size(legacy);

  resize(legacy, -4);
  EXPECT_HAS(read_error(WeightFormat::kLlama2c, legacy),
             ": " + std::to_string(legacy_size - 4) +
                 " bytes, but its llama2.c header (dim 32, "
                 "hidden_dim 48, n_layers 2, n_heads 4, n_kv_heads 4, vocab_size 40, seq_len 16, "
                 "separate classifier) needs " +
                 std::to_string(legacy_size) + ": the file is truncated");
  resize(legacy, 12);
  EXPECT_HAS(read_error(WeightFormat::kLlama2c, legacy), "extra bytes follow the tensors");
  resize(legacy, -8);
  // A classifier too few (the sign says shared): the size no longer fits.
  overwrite_int(legacy, 20, 40);
  EXPECT_HAS(read_error(WeightFormat::kLlama2c, legacy), "shared classifier) needs");
  overwrite_int(legacy, 20, -40);
  overwrite_int(legacy, 0, 30);  // dim 30 with 4 heads
  EXPECT_HAS(read_error(WeightFormat::kLlama2c, legacy),
             "invalid model config: dim (30) must be divisible by n_heads (4)");
  overwrite_int(legacy, 0, 32);
  overwrite_int(legacy, 8, 0);  // no layers
  EXPECT_HAS(read_error(WeightFormat::kLlama2c, legacy), "must be positive");
  overwrite_int(legacy, 8, 2);
  overwrite_int(legacy, 16, 3);  // 3 kv heads for 4 heads
  EXPECT_HAS(read_error(WeightFormat::kLlama2c, legacy), "n_kv_heads (3) must divide n_heads");
  std::ofstream(dir.file("short.bin")) << "ak";
  EXPECT_HAS(read_error(WeightFormat::kLlama2c, dir.file("short.bin")),
             "2 bytes, too short for a llama2.c legacy header (28 bytes)");

  resize(v1, -1);
  EXPECT_EQ(detect_weight_format(v1), WeightFormat::kLlama2cV1);
  EXPECT_HAS(read_error(WeightFormat::kLlama2cV1, v1), "the file is truncated");
  resize(v1, 5);
  EXPECT_HAS(read_error(WeightFormat::kLlama2cV1, v1), "extra bytes follow the tensors");
  resize(v1, -4);
  overwrite_int(v1, 4, 2);
  EXPECT_EQ(detect_weight_format(v1), WeightFormat::kLlama2cV1);
  EXPECT_HAS(read_error(WeightFormat::kLlama2cV1, v1),
             "': llama2.c version 2 (int8 Q8_0) is not supported; export version 0 or 1");
  overwrite_int(v1, 4, 7);
  EXPECT_HAS(read_error(WeightFormat::kLlama2cV1, v1), "llama2.c version 7 is unknown");
  overwrite_int(v1, 4, 1);
  overwrite_int(v1, 36, 3);  // the shared flag
  EXPECT_HAS(read_error(WeightFormat::kLlama2cV1, v1), "shared-classifier flag is 3, not 0 or 1");
  overwrite_int(v1, 36, 0);
  overwrite_int(v1, 28, -5);  // vocab_size
  EXPECT_HAS(read_error(WeightFormat::kLlama2cV1, v1), "vocab_size at least 2");
  overwrite_int(v1, 28, 40);
  EXPECT_HAS(read_error(WeightFormat::kLlama2cV1, legacy), "no magic \"ak42\"");
  EXPECT_HAS(read_error(WeightFormat::kLlama2cV1, dir.file("absent.bin")), "no such file");

  // A file read for another model names what it holds.
  RunConfig other = config;
  other.model.n_layers = 1;
  const ParamLayout other_layout(other.model);
  std::vector<float> params(other_layout.total());
  EXPECT_HAS(user_error_of(
                 [&] { read_weights(WeightFormat::kLlama2cV1, v1, other_layout, params.data()); }),
             "v1.bin' holds a model (dim 32, hidden_dim 48, n_layers 2");
}

TEST(Llama2c, WritesOnlyWhatRunCComputes) {
  TempDir dir;
  RunConfig config = config_of(4, true);
  const ParamLayout layout(config.model);
  const std::vector<float> params(layout.total(), 0.25f);
  const std::string path = dir.file("m.bin");
  auto write = [&](const WeightsMetadata& metadata) {
    return user_error_of(
        [&] { write_weights(WeightFormat::kLlama2c, path, layout, params.data(), metadata); });
  };
  EXPECT_HAS(write({}), "writing '" + path + "' as llama2.c needs the model's config");
  WeightsMetadata f16{config};
  f16.dtype = "f16";
  EXPECT_HAS(write(f16), "llama2.c checkpoints (versions 0 and 1) hold f32 tensors, not f16");
  config.model.rope_theta = 500000.0f;
  EXPECT_HAS(write({config}), "this model has norm_eps 1e-05 and rope_theta 500000");
  EXPECT_FALSE(std::filesystem::exists(path));
}

// tokenizer.bin parsed back: max_token_length, then (score, piece) for every id.
struct TokenizerBin {
  int32_t max_length = 0;
  std::vector<float> scores;
  std::vector<std::string> pieces;
};
TokenizerBin parse_tokenizer_bin(const std::string& bytes) {
  TokenizerBin out;
  size_t at = 0;
  auto take = [&](void* to, size_t n) {
    if (at + n > bytes.size()) throw std::runtime_error("tokenizer.bin ends early");
    std::memcpy(to, bytes.data() + at, n);
    at += n;
  };
  take(&out.max_length, 4);
  while (at < bytes.size()) {
    float score;
    int32_t length;
    take(&score, 4);
    take(&length, 4);
    std::string piece(length, '\0');
    take(piece.data(), length);
    out.scores.push_back(score);
    out.pieces.push_back(piece);
  }
  return out;
}

std::string small_sentencepiece(const TempDir& dir) {
  std::ofstream(dir.file("corpus.txt")) << english_lines(400);
  train_small_sentencepiece(dir.file("corpus.txt"), dir.file("sp.model"));
  return dir.file("sp.model");
}

TEST(Llama2cTokenizer, HoldsSentencePiecesPiecesAndScores) {
  TempDir dir;
  const std::string model = small_sentencepiece(dir);
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load(model).ok());
  const TokenizerBin bin = parse_tokenizer_bin(llama2c_tokenizer_bin(model));
  ASSERT_EQ(bin.pieces.size(), static_cast<size_t>(sp.GetPieceSize()));
  size_t longest = 0;
  int byte_pieces = 0, spaced = 0;
  for (int id = 0; id < sp.GetPieceSize(); ++id) {
    std::string piece = sp.IdToPiece(id);
    for (size_t at; (at = piece.find("\xE2\x96\x81")) != std::string::npos;)
      piece.replace(at, 3, " ");
    if (id == sp.bos_id()) piece = "\n<s>\n";
    if (id == sp.eos_id()) piece = "\n</s>\n";
    EXPECT_EQ(bin.pieces[id], piece) << id;
    EXPECT_EQ(bin.scores[id], sp.GetScore(id)) << id;
    longest = std::max(longest, piece.size());
    byte_pieces += piece == "<0x0A>";
    spaced += piece.starts_with(" ");
  }
  EXPECT_EQ(bin.max_length, static_cast<int32_t>(longest));
  EXPECT_EQ(byte_pieces, 1);  // byte fallback pieces are kept as written
  EXPECT_GT(spaced, 0);       // word-initial pieces
  EXPECT_EQ(bin.pieces[1], "\n<s>\n");
}

TEST(Llama2cTokenizer, WrittenBesideTheModelForASentencePieceTokenizer) {
  TempDir dir;
  const std::string model = small_sentencepiece(dir);
  const auto tokenizer = SentencePieceTokenizer::load(model);
  RunConfig config = config_of(4, true);
  config.model.vocab_size = tokenizer->vocab_size();
  const ParamLayout layout(config.model);
  const std::vector<float> params = random_normal(4, layout.total(), 0.08);
  std::filesystem::create_directories(dir.file("out"));
  WeightsMetadata metadata{config};
  metadata.tokenizer_files = read_tokenizer_files(*tokenizer);
  write_weights(WeightFormat::kLlama2cV1, dir.file("out/model.bin"), layout, params.data(),
                metadata);
  EXPECT_TRUE(read_bytes(dir.file("out/tokenizer.bin")) == llama2c_tokenizer_bin(model));
  EXPECT_TRUE(same_bits(load(dir.file("out/model.bin"), WeightFormat::kLlama2cV1, config), params));

  // Other tokenizers have no tokenizer.bin: asked for, an error; with weights, none written.
  TokenizerFiles bytes;
  bytes.kind = "bytes";
  EXPECT_HAS(user_error_of([&] { llama2c_tokenizer_bin(bytes); }),
             "llama2.c's tokenizer.bin needs a SentencePiece tokenizer");
  metadata.tokenizer_files = bytes;
  write_weights(WeightFormat::kLlama2c, dir.file("model.bin"), layout, params.data(), metadata);
  EXPECT_FALSE(std::filesystem::exists(dir.file("tokenizer.bin")));
  EXPECT_HAS(user_error_of([&] { llama2c_tokenizer_bin(dir.file("corpus.txt")); }),
             "corpus.txt' is not a SentencePiece model");
}

}  // namespace
}  // namespace anetrain
