// WeightFormat::kHuggingFace: anetrain's weights survive export to a Hugging Face Llama
// directory and import back bit for bit; a PyTorch Llama written in Hugging Face's conventions
// (tools/hf_llama_reference.py: half-split RoPE, repeat_kv) computes our logits from an exported
// directory, which is what shows the query/key row reordering right; directories that script
// writes (F32, F16, BF16, sharded) import and give its logits; bad directories are one-line
// errors naming the file. The PyTorch tests are skipped when python3 cannot import torch.
#include "model/weights_hf.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <vector>

#include "core/fp16.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "model/weights.h"
#include "support/test_util.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;
namespace fs = std::filesystem;

std::string python() {
  const char* env = std::getenv("ANETRAIN_PYTHON");
  return env ? env : "/usr/bin/python3";
}

bool python_has_torch() {
  static const bool has =
      std::system((python() + " -c 'import torch' > /dev/null 2>&1").c_str()) == 0;
  return has;
}

// Runs tools/hf_llama_reference.py; "" on success, else the command and its stderr.
std::string run_reference(const std::string& args, const TempDir& scratch) {
  const std::string err = scratch.file("reference.err");
  const std::string command =
      python() + " " + source_dir() + "/tools/hf_llama_reference.py " + args + " 2> " + err;
  if (std::system(command.c_str()) == 0) return "";
  return command + ": " + read_bytes(err);
}

const std::vector<int32_t> kTokens = {1, 7, 3, 30, 12, 0, 5, 5, 19, 2, 44, 8, 23};

std::string token_list() {
  std::string out;
  for (int32_t t : kTokens) out += (out.empty() ? "" : ",") + std::to_string(t);
  return out;
}

struct Case {
  const char* name;
  int n_heads, n_kv_heads;
  bool tied;
  float rope_theta, norm_eps;
};
const Case kCases[] = {
    {"tied", 4, 4, true, 10000.0f, 1e-5f},
    {"untied", 4, 4, false, 500000.0f, 1e-6f},
    {"gqa", 4, 2, false, 10000.0f, 1e-5f},
};

void PrintTo(const Case& c, std::ostream* out) { *out << c.name; }

RunConfig config_of(const Case& c) {
  RunConfig config = load_config("tiny");
  ModelConfig& m = config.model;
  m.dim = 64, m.hidden_dim = 96, m.n_layers = 2, m.vocab_size = 48, m.seq_len = 32;
  m.n_heads = c.n_heads, m.n_kv_heads = c.n_kv_heads, m.tied_embeddings = c.tied;
  m.rope_theta = c.rope_theta, m.norm_eps = c.norm_eps;
  return config;
}

// The model of a case with random weights, norm gains around 1: large enough that every
// tensor moves the logits.
struct Model {
  RunConfig config;
  ParamLayout layout;
  std::vector<float> params;

  Model(const Case& c, uint64_t seed)
      : config(config_of(c)),
        layout(config.model),
        params(random_normal(seed, layout.total(), 0.15)) {
    for (const ParamInfo& t : layout.tensors())
      if (t.is_norm)
        for (int64_t i = 0; i < t.numel; ++i) params[t.offset + i] += 1.0f;
  }
  // Writes a Hugging Face directory with `metadata` and the model's config.
  std::string export_to(const std::string& dir, WeightsMetadata metadata = {}) const {
    metadata.config = config;
    write_weights(WeightFormat::kHuggingFace, dir, layout, params.data(), metadata);
    return dir;
  }
  std::vector<float> logits() const { return cpu_logits(config.model, params, kTokens); }
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// max |a - b| / max |b|.
double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return diff / scale;
}

nlohmann::json read_json(const std::string& path) {
  return nlohmann::json::parse(read_bytes(path));
}

void write_json(const std::string& path, const nlohmann::json& j) {
  std::ofstream(path) << j.dump(2);
}

// The metadata and weights an imported directory holds.
struct Imported {
  WeightsMetadata metadata;
  std::vector<float> params;
};
Imported import_dir(const std::string& dir) {
  Imported out;
  out.metadata = read_weights_metadata(WeightFormat::kHuggingFace, dir);
  const ParamLayout layout(out.metadata.config->model);
  out.params.resize(layout.total());
  read_weights(WeightFormat::kHuggingFace, dir, layout, out.params.data());
  return out;
}

// Rewrites a safetensors file keeping its tensors' values (as F32) but passing each name and
// shape through `edit`, which may drop a tensor by returning an empty name.
void rewrite_tensors(const std::string& path,
                     const std::function<void(std::string&, std::vector<int64_t>&)>& edit) {
  const SafetensorsFile file = SafetensorsFile::open(path);
  std::vector<std::vector<float>> values;
  std::vector<std::pair<std::string, std::vector<int64_t>>> kept;
  for (const std::string& name : file.names()) {
    values.push_back(file.read_f32(name));
    std::string new_name = name;
    std::vector<int64_t> shape = file.shape(name);
    edit(new_name, shape);
    kept.emplace_back(new_name, shape);
  }
  SafetensorsWriter writer;
  for (size_t i = 0; i < kept.size(); ++i)
    if (!kept[i].first.empty()) writer.add_f32(kept[i].first, kept[i].second, values[i].data());
  writer.write(path);
}

class HfRoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(HfRoundTrip, ParamsAndLogitsSurviveExportAndImport) {
  TempDir dir;
  const Model model(GetParam(), 3);
  const RunConfig& config = model.config;
  const ParamLayout& layout = model.layout;
  const std::vector<float>& params = model.params;

  // anetrain -> hf -> anetrain.
  write_weights(WeightFormat::kAnetrain, dir.file("a.safetensors"), layout, params.data(),
                {config, 5});
  const WeightsMetadata from_anetrain =
      read_weights_metadata(WeightFormat::kAnetrain, dir.file("a.safetensors"));
  std::vector<float> loaded(layout.total());
  read_weights(WeightFormat::kAnetrain, dir.file("a.safetensors"), layout, loaded.data());
  const std::string hf = dir.file("hf");
  write_weights(WeightFormat::kHuggingFace, hf, layout, loaded.data(), from_anetrain);
  ASSERT_EQ(detect_weight_format(hf), WeightFormat::kHuggingFace);
  EXPECT_EQ(weight_format_name(WeightFormat::kHuggingFace), "hf");

  const Imported back = import_dir(hf);
  RunConfig expected;  // the model, and defaults for all the format does not hold
  expected.preset = "hf";
  expected.model = config.model;
  EXPECT_EQ(config_to_json(*back.metadata.config), config_to_json(expected));
  EXPECT_LT(back.metadata.step, 0);
  EXPECT_EQ(back.metadata.tokenizer_spec, "");
  EXPECT_TRUE(back.params == params) << "parameters differ after the round trip";
  write_weights(WeightFormat::kAnetrain, dir.file("b.safetensors"), layout, back.params.data(),
                back.metadata);
  std::vector<float> again(layout.total());
  read_weights(WeightFormat::kAnetrain, dir.file("b.safetensors"), layout, again.data());
  EXPECT_TRUE(again == params);
  EXPECT_EQ(cpu_logits(config.model, again, kTokens), model.logits());

  // What is on disk: Hugging Face's keys and names, rows reordered, lm_head only when untied.
  const nlohmann::json cj = read_json(hf + "/config.json");
  EXPECT_EQ(cj["architectures"], nlohmann::json({"LlamaForCausalLM"}));
  EXPECT_EQ(cj["model_type"], "llama");
  EXPECT_EQ(cj["num_key_value_heads"], config.model.n_kv_heads);
  EXPECT_EQ(cj["torch_dtype"], "float32");
  EXPECT_EQ(cj["rms_norm_eps"].dump(), GetParam().norm_eps == 1e-5f ? "1e-05" : "1e-06");
  const SafetensorsFile file = SafetensorsFile::open(hf + "/model.safetensors");
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_EQ(file.has("lm_head.weight"), !config.model.tied_embeddings);
  EXPECT_EQ(file.dtype("model.layers.1.mlp.down_proj.weight"), "F32");
  const std::vector<float> wk = file.read_f32("model.layers.1.self_attn.k_proj.weight");
  const float* meta_wk = params.data() + layout.layer(1).wk;
  EXPECT_FALSE(std::equal(wk.begin(), wk.end(), meta_wk));
  EXPECT_TRUE(std::equal(wk.begin(), wk.begin() + config.model.dim, meta_wk));  // row 0 stays
  const std::vector<float> w3 = file.read_f32("model.layers.0.mlp.up_proj.weight");
  EXPECT_TRUE(std::equal(w3.begin(), w3.end(), params.data() + layout.layer(0).w3));
}

INSTANTIATE_TEST_SUITE_P(Configs, HfRoundTrip, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(HfExport, F16ReadsBackWithinFp16Rounding) {
  TempDir dir;
  const Model model(kCases[2], 4);
  const std::vector<float>& params = model.params;
  WeightsMetadata metadata;
  metadata.dtype = "f16";
  model.export_to(dir.file("hf"), metadata);
  EXPECT_EQ(read_json(dir.file("hf/config.json"))["torch_dtype"], "float16");
  const SafetensorsFile file = SafetensorsFile::open(dir.file("hf/model.safetensors"));
  for (const std::string& name : file.names()) EXPECT_EQ(file.dtype(name), "F16") << name;

  const Imported back = import_dir(dir.file("hf"));
  ASSERT_EQ(back.params.size(), params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    ASSERT_EQ(back.params[i], fp16_to_fp32(fp32_to_fp16(params[i]))) << "parameter " << i;
  }
  EXPECT_LT(max_rel_diff(cpu_logits(model.config.model, back.params, kTokens), model.logits()),
            1e-2);

  metadata.dtype = "bf16";
  EXPECT_TRUE(contains(user_error_of([&] { model.export_to(dir.file("x"), metadata); }),
                       "written as f32 or f16"));
  EXPECT_TRUE(contains(user_error_of([&] {
                         write_weights(WeightFormat::kHuggingFace, dir.file("y"), model.layout,
                                       params.data(), {});
                       }),
                       "without the model's config"));
}

TEST(HfRotary, ReorderIsABijectionAndNotTheIdentity) {
  const int heads = 3, head_dim = 8;
  const int64_t cols = 5, numel = heads * head_dim * cols;
  const std::vector<float> meta = random_normal(9, numel, 1.0);
  std::vector<float> hf(numel), back(numel);
  rotary_rows_to_hf(meta.data(), hf.data(), heads, head_dim, cols);
  rotary_rows_from_hf(hf.data(), back.data(), heads, head_dim, cols);
  EXPECT_TRUE(back == meta);
  EXPECT_FALSE(hf == meta);
  // Row 2i + p of Meta's head is row p * head_dim/2 + i of Hugging Face's: per head, Meta's
  // rows 0, 2, 4, 6 then 1, 3, 5, 7.
  const int order[head_dim] = {0, 2, 4, 6, 1, 3, 5, 7};
  for (int h = 0; h < heads; ++h)
    for (int r = 0; r < head_dim; ++r)
      for (int64_t c = 0; c < cols; ++c)
        ASSERT_EQ(hf[((h * head_dim) + r) * cols + c], meta[((h * head_dim) + order[r]) * cols + c])
            << "head " << h << " row " << r;

  EXPECT_EQ(hf_tensor_name("tok_embeddings.weight"), "model.embed_tokens.weight");
  EXPECT_EQ(hf_tensor_name("layers.11.attention_norm.weight"),
            "model.layers.11.input_layernorm.weight");
  EXPECT_EQ(hf_tensor_name("layers.0.attention.wk.weight"),
            "model.layers.0.self_attn.k_proj.weight");
  EXPECT_EQ(hf_tensor_name("layers.2.ffn_norm.weight"),
            "model.layers.2.post_attention_layernorm.weight");
  EXPECT_EQ(hf_tensor_name("layers.2.feed_forward.w1.weight"),
            "model.layers.2.mlp.gate_proj.weight");
  EXPECT_EQ(hf_tensor_name("layers.2.feed_forward.w2.weight"),
            "model.layers.2.mlp.down_proj.weight");
  EXPECT_EQ(hf_tensor_name("layers.2.feed_forward.w3.weight"), "model.layers.2.mlp.up_proj.weight");
  EXPECT_EQ(hf_tensor_name("norm.weight"), "model.norm.weight");
  EXPECT_EQ(hf_tensor_name("output.weight"), "lm_head.weight");
}

// An exported directory, for the tests that then break it.
std::string exported(const TempDir& dir) { return Model(kCases[2], 6).export_to(dir.file("hf")); }

TEST(HfDetect, RecognizesLlamaDirectoriesOnly) {
  TempDir dir;
  const std::string hf = exported(dir);
  EXPECT_EQ(detect_weight_format(hf), WeightFormat::kHuggingFace);
  EXPECT_EQ(detect_weight_format(hf + "/model.safetensors"), WeightFormat::kAnetrain);

  // Known by its architecture alone.
  nlohmann::json cj = read_json(hf + "/config.json");
  cj.erase("model_type");
  write_json(hf + "/config.json", cj);
  EXPECT_EQ(detect_weight_format(hf), WeightFormat::kHuggingFace);
  EXPECT_EQ(read_weights_metadata(WeightFormat::kHuggingFace, hf).config->model.dim, 64);

  cj["model_type"] = "mistral";
  cj["architectures"] = {"MistralForCausalLM"};
  write_json(hf + "/config.json", cj);
  auto detect_error = [](const std::string& path) {
    return user_error_of([&] { detect_weight_format(path); });
  };
  EXPECT_TRUE(contains(detect_error(hf), "hf' is in no weights format anetrain reads (anetrain,"));
  EXPECT_TRUE(contains(detect_error(hf), ", hf"));
  fs::create_directories(dir.file("empty"));
  EXPECT_TRUE(contains(detect_error(dir.file("empty")), "empty' is in no weights format"));
  EXPECT_TRUE(contains(detect_error(dir.file("absent")),
                       "absent' is not a weights file (no such file or directory)"));
}

// The message of the UserError fn throws, checked to be one line naming `file`.
std::string one_line_error(const std::function<void()>& fn, const std::string& file) {
  const std::string message = user_error_of(fn);
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_NE(message.find("'" + file), std::string::npos) << message;
  return message;
}

TEST(HfErrors, BadConfigsNameTheFileAndKey) {
  TempDir dir;
  const std::string hf = exported(dir);
  const std::string path = hf + "/config.json";
  const nlohmann::json good = read_json(path);
  auto metadata_error = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json cj = good;
    edit(cj);
    write_json(path, cj);
    return one_line_error([&] { read_weights_metadata(WeightFormat::kHuggingFace, hf); }, path);
  };
  EXPECT_TRUE(contains(metadata_error([](auto& j) { j["model_type"] = "gpt2"; }),
                       "key 'model_type' is \"gpt2\", not \"llama\""));
  EXPECT_TRUE(contains(metadata_error([](auto& j) { j.erase("hidden_size"); }),
                       "key 'hidden_size' is missing"));
  EXPECT_TRUE(contains(metadata_error([](auto& j) { j["hidden_size"] = "64"; }),
                       "key 'hidden_size' must be a positive integer, not \"64\""));
  EXPECT_TRUE(contains(metadata_error([](auto& j) { j["num_hidden_layers"] = 2.5; }),
                       "key 'num_hidden_layers' must be a positive integer"));
  EXPECT_TRUE(contains(metadata_error([](auto& j) { j["head_dim"] = 32; }),
                       "key 'head_dim' (32) differs from hidden_size / num_attention_heads (16)"));
  EXPECT_TRUE(contains(metadata_error([](auto& j) { j["num_attention_heads"] = 5; }),
                       "key 'hidden_size' (64) is not a multiple of num_attention_heads (5)"));
  EXPECT_TRUE(contains(metadata_error([](auto& j) { j["num_key_value_heads"] = 3; }),
                       "key 'num_key_value_heads' (3) does not divide num_attention_heads (4)"));
  EXPECT_TRUE(contains(metadata_error([](auto& j) {
                         j["num_attention_heads"] = 64;
                         j.erase("head_dim");
                       }),
                       "invalid model config: head dim (dim / n_heads) must be even"));
  EXPECT_TRUE(contains(metadata_error([](auto& j) { j["tie_word_embeddings"] = "yes"; }),
                       "key 'tie_word_embeddings' must be true or false"));
  EXPECT_TRUE(contains(metadata_error([](auto& j) { j["rms_norm_eps"] = -1; }),
                       "key 'rms_norm_eps' must be a positive number"));
  EXPECT_TRUE(contains(metadata_error([](auto& j) {
                         j["rope_scaling"] = {{"type", "linear"}};
                       }),
                       "key 'rope_scaling'"));
  EXPECT_TRUE(
      contains(metadata_error([](auto& j) { j["hidden_act"] = "gelu"; }), "key 'hidden_act'"));
  EXPECT_TRUE(contains(metadata_error([](auto& j) { j = nlohmann::json::array(); }),
                       "is not a JSON object"));
  fs::remove(path);
  EXPECT_TRUE(
      contains(one_line_error([&] { read_weights_metadata(WeightFormat::kHuggingFace, hf); }, path),
               "is missing"));
}

TEST(HfErrors, BadTensorsNameTheFileAndTensor) {
  TempDir dir;
  const std::string hf = exported(dir);
  const std::string model = hf + "/model.safetensors";
  const std::string original = read_bytes(model);
  auto read_error = [&] { return one_line_error([&] { import_dir(hf); }, model); };
  auto restore = [&] { std::ofstream(model, std::ios::binary) << original; };

  rewrite_tensors(model, [](std::string& name, std::vector<int64_t>&) {
    if (name == "model.layers.1.mlp.up_proj.weight") name.clear();
  });
  EXPECT_TRUE(contains(read_error(), "has no tensor 'model.layers.1.mlp.up_proj.weight'"));
  restore();

  // A config asking for a wider MLP than the tensors hold.
  nlohmann::json cj = read_json(hf + "/config.json");
  cj["intermediate_size"] = 128;
  write_json(hf + "/config.json", cj);
  EXPECT_TRUE(contains(read_error(),
                       "tensor 'model.layers.0.mlp.gate_proj.weight' has shape [96, 64] "
                       "where the model of config.json has [128, 64]"));
  cj["intermediate_size"] = 96;
  write_json(hf + "/config.json", cj);
  EXPECT_NO_THROW(import_dir(hf));

  std::ofstream(model, std::ios::binary) << original.substr(0, original.size() - 100);
  EXPECT_TRUE(contains(read_error(), "truncated"));
  std::ofstream(model, std::ios::binary) << original.substr(0, 5);
  EXPECT_TRUE(contains(read_error(), "not a valid safetensors file"));
  fs::remove(model);
  EXPECT_TRUE(contains(read_error(), "cannot read"));
}

TEST(HfErrors, BadShardIndexNamesTheIndex) {
  TempDir dir;
  const std::string hf = exported(dir);
  fs::rename(hf + "/model.safetensors", hf + "/model-00001-of-00001.safetensors");
  const std::string index = hf + "/model.safetensors.index.json";
  write_json(index,
             {{"weight_map", {{"model.embed_tokens.weight", "model-00001-of-00001.safetensors"}}}});
  EXPECT_TRUE(contains(one_line_error([&] { import_dir(hf); }, index),
                       "names no file for tensor 'model.layers.0.input_layernorm.weight'"));
  write_json(index, {{"weight_map", {{"model.embed_tokens.weight", "../elsewhere.safetensors"}}}});
  EXPECT_TRUE(
      contains(one_line_error([&] { import_dir(hf); }, index), "not a file name in the directory"));
  write_json(index, {{"metadata", {}}});
  EXPECT_TRUE(contains(one_line_error([&] { import_dir(hf); }, index), "no \"weight_map\""));
}

TEST(HfTokenizer, FilesUnderHuggingFaceNamesAndTheSpecThatLoadsThem) {
  TempDir dir;
  const Model model(kCases[0], 8);

  WeightsMetadata sp;
  sp.tokenizer_files = {"sp", "", {{"tokenizer.model", "sentencepiece bytes"}}};
  model.export_to(dir.file("sp"), sp);
  EXPECT_EQ(read_bytes(dir.file("sp/tokenizer.model")), "sentencepiece bytes");
  EXPECT_EQ(read_json(dir.file("sp/tokenizer_config.json"))["tokenizer_class"], "LlamaTokenizer");
  EXPECT_EQ(read_weights_metadata(WeightFormat::kHuggingFace, dir.file("sp")).tokenizer_spec,
            "sp:" + dir.file("sp/tokenizer.model"));

  WeightsMetadata gpt2;
  gpt2.tokenizer_files = {"gpt2", "", {{"encoder.json", "{}"}, {"vocab.bpe", "#version: 0.2\n"}}};
  model.export_to(dir.file("gpt2"), gpt2);
  EXPECT_EQ(read_bytes(dir.file("gpt2/vocab.json")), "{}");
  EXPECT_EQ(read_bytes(dir.file("gpt2/merges.txt")), "#version: 0.2\n");
  EXPECT_FALSE(fs::exists(dir.file("gpt2/encoder.json")));
  EXPECT_EQ(read_json(dir.file("gpt2/tokenizer_config.json"))["tokenizer_class"], "GPT2Tokenizer");
  EXPECT_EQ(read_weights_metadata(WeightFormat::kHuggingFace, dir.file("gpt2")).tokenizer_spec,
            "gpt2:" + dir.file("gpt2"));

  WeightsMetadata bytes;
  bytes.tokenizer_files = {"bytes", "", {}};
  model.export_to(dir.file("bytes"), bytes);
  EXPECT_FALSE(fs::exists(dir.file("bytes/tokenizer_config.json")));
  EXPECT_EQ(read_weights_metadata(WeightFormat::kHuggingFace, dir.file("bytes")).tokenizer_spec,
            "");
}

// ---------------------------------------------------------------------------------------------
// Against PyTorch

class HfTorch : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (!python_has_torch()) GTEST_SKIP() << python() << " cannot import torch";
  }
};

// The reference's logits [T, V] for our export of `params`.
std::vector<float> reference_logits(const std::string& hf, const TempDir& dir) {
  const std::string out = dir.file("logits.npy");
  const std::string failure =
      run_reference("logits --model " + hf + " --tokens " + token_list() + " --out " + out, dir);
  EXPECT_EQ(failure, "");
  if (!failure.empty()) return {};
  const NpyArray logits = read_npy(out);
  EXPECT_EQ(logits.shape, (std::vector<int64_t>{static_cast<int64_t>(kTokens.size()), 48}));
  return logits.values;
}

TEST_P(HfTorch, HalfSplitReferenceComputesOurLogitsFromTheExport) {
  TempDir dir;
  const Model model(GetParam(), 11);
  EXPECT_LT(max_rel_diff(reference_logits(model.export_to(dir.file("hf")), dir), model.logits()),
            1e-4);
}

INSTANTIATE_TEST_SUITE_P(Configs, HfTorch, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

// The control: the same export with query and key rows left in Meta's order gives the reference
// other logits, so the agreement above depends on the reordering.
TEST_P(HfTorch, ReferenceDisagreesWithoutTheRowReorder) {
  TempDir dir;
  const Model model(GetParam(), 11);
  const std::string hf = model.export_to(dir.file("hf"));
  SafetensorsWriter meta_order;
  for (const ParamInfo& t : model.layout.tensors())
    meta_order.add_f32(hf_tensor_name(t.name), t.shape, model.params.data() + t.offset);
  meta_order.write(hf + "/model.safetensors");
  EXPECT_GT(max_rel_diff(reference_logits(hf, dir), model.logits()), 1e-2);
}

struct ScriptCase {
  const char* name;
  std::string args;
};

void PrintTo(const ScriptCase& c, std::ostream* out) { *out << c.name << ": " << c.args; }

class HfScriptDirectory : public ::testing::TestWithParam<ScriptCase> {
 protected:
  void SetUp() override {
    if (!python_has_torch()) GTEST_SKIP() << python() << " cannot import torch";
  }
};

TEST_P(HfScriptDirectory, ImportsWithTheScriptsLogits) {
  TempDir dir;
  const std::string hf = dir.file("random");
  ASSERT_EQ(run_reference("random --out " + hf + " " + GetParam().args + " --tokens " +
                              token_list() + " --logits-out " + dir.file("logits.npy"),
                          dir),
            "");
  ASSERT_EQ(detect_weight_format(hf), WeightFormat::kHuggingFace);
  const Imported imported = import_dir(hf);
  const NpyArray expected = read_npy(dir.file("logits.npy"));
  EXPECT_LT(max_rel_diff(cpu_logits(imported.metadata.config->model, imported.params, kTokens),
                         expected.values),
            1e-4);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, HfScriptDirectory,
    ::testing::Values(ScriptCase{"f32_gqa", "--seed 1 --vocab 48 --heads 8 --kv-heads 2"},
                      ScriptCase{"bf16_tied_sharded",
                                 "--seed 2 --vocab 48 --dtype bf16 --tied --shards 3 "
                                 "--rope-theta 500000 --eps 1e-6"},
                      ScriptCase{"f16_sharded",
                                 "--seed 3 --vocab 48 --dtype f16 --shards 2 "
                                 "--heads 2 --kv-heads 2 --layers 3"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace anetrain
