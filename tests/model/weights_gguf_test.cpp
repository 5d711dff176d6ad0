// The GGUF weight format (model/weights_gguf.cpp): anetrain -> GGUF -> anetrain is exact in f32
// (tensors and logits) and fp16-rounded in f16 with the norms exact; tools/gguf_read.py, a
// reader written independently in Python, finds the keys, tensors, offsets and tokenizer
// metadata the format promises; files anetrain does not read give one-line errors naming them.
#include <gtest/gtest.h>
#include <sentencepiece_processor.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/fp16.h"
#include "io/npy.h"
#include "model/weights.h"
#include "support/test_util.h"
#include "tokenizer/gpt2_bpe.h"
#include "tokenizer/sentencepiece_tokenizer.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;
using nlohmann::json;

// tiny's dims (D 64, F 192, 4 query heads, 2 kv heads: GQA), two layers, a theta and eps of
// their own so that the keys are checked to carry them.
RunConfig gqa_config(bool tied, int vocab_size = 48) {
  RunConfig config = load_config("tiny");
  config.model.n_layers = 2;
  config.model.vocab_size = vocab_size;
  config.model.seq_len = 32;
  config.model.tied_embeddings = tied;
  config.model.rope_theta = 500000.0f;
  config.model.norm_eps = 1e-6f;
  return config;
}

void expect_same_model(const ModelConfig& got, const ModelConfig& want) {
  EXPECT_EQ(got.dim, want.dim);
  EXPECT_EQ(got.hidden_dim, want.hidden_dim);
  EXPECT_EQ(got.n_layers, want.n_layers);
  EXPECT_EQ(got.n_heads, want.n_heads);
  EXPECT_EQ(got.n_kv_heads, want.n_kv_heads);
  EXPECT_EQ(got.vocab_size, want.vocab_size);
  EXPECT_EQ(got.seq_len, want.seq_len);
  EXPECT_EQ(got.tied_embeddings, want.tied_embeddings);
  EXPECT_EQ(got.norm_eps, want.norm_eps);
  EXPECT_EQ(got.rope_theta, want.rope_theta);
}

// Writes random weights for `config` as GGUF; returns them.
std::vector<float> write_gguf(const std::string& path, const RunConfig& config,
                              const std::string& dtype = "f32", TokenizerFiles tokenizer = {}) {
  const ParamLayout layout(config.model);
  std::vector<float> params = random_normal(7, layout.total(), 0.05);
  WeightsMetadata metadata;
  metadata.config = config;
  metadata.dtype = dtype;
  metadata.tokenizer_files = std::move(tokenizer);
  write_weights(WeightFormat::kGguf, path, layout, params.data(), metadata);
  return params;
}

// What anetrain reads back: the config from the file's keys, then the weights laid out by it.
std::vector<float> read_gguf(const std::string& path, ModelConfig* model) {
  const WeightsMetadata metadata = read_weights_metadata(WeightFormat::kGguf, path);
  EXPECT_TRUE(metadata.config.has_value());
  if (!metadata.config) return {};
  EXPECT_EQ(metadata.config->preset, "gguf");
  EXPECT_LT(metadata.step, 0);
  EXPECT_EQ(metadata.tokenizer_spec, "");
  *model = metadata.config->model;
  const ParamLayout layout(*model);
  std::vector<float> params(layout.total());
  read_weights(WeightFormat::kGguf, path, layout, params.data());
  return params;
}

TEST(Gguf, F32RoundTripIsBitIdenticalTiedAndUntiedWithGqa) {
  TempDir dir;
  for (bool tied : {true, false}) {
    SCOPED_TRACE(tied ? "tied" : "untied");
    const RunConfig config = gqa_config(tied);
    const std::string path = dir.file(tied ? "tied.gguf" : "untied.gguf");
    const std::vector<float> params = write_gguf(path, config);
    ASSERT_EQ(detect_weight_format(path), WeightFormat::kGguf);
    EXPECT_EQ(weight_format_name(WeightFormat::kGguf), "gguf");
    ModelConfig model;
    const std::vector<float> back = read_gguf(path, &model);
    expect_same_model(model, config.model);
    EXPECT_TRUE(back == params);
    const std::vector<int32_t> tokens = {1, 5, 9, 2, 47, 0, 33, 12, 8, 8, 40};
    EXPECT_TRUE(cpu_logits(model, back, tokens) == cpu_logits(config.model, params, tokens));
  }
}

TEST(Gguf, F16RoundTripRoundsMatricesAndKeepsNormsExact) {
  TempDir dir;
  const RunConfig config = gqa_config(false);
  const std::vector<float> params = write_gguf(dir.file("half.gguf"), config, "f16");
  ModelConfig model;
  const std::vector<float> back = read_gguf(dir.file("half.gguf"), &model);
  expect_same_model(model, config.model);
  ASSERT_EQ(back.size(), params.size());
  int64_t rounded = 0;
  const ParamLayout layout(config.model);  // a temporary's tensors() would dangle in the loop
  for (const ParamInfo& t : layout.tensors()) {
    for (int64_t i = t.offset; i < t.offset + t.numel; ++i) {
      const float want = t.is_norm ? params[i] : fp16_to_fp32(fp32_to_fp16(params[i]));
      ASSERT_EQ(back[i], want) << t.name << " element " << i - t.offset;
      rounded += back[i] != params[i];
    }
  }
  EXPECT_GT(rounded, 0);  // the matrices really were stored as fp16
}

// ---- tools/gguf_read.py ----

bool python_has_numpy() {
  return std::system("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") == 0;
}

#define SKIP_WITHOUT_NUMPY() \
  if (!python_has_numpy()) GTEST_SKIP() << "/usr/bin/python3 without numpy"

// Runs tools/gguf_read.py FILE ARGS; returns its exit status, stdout in *out, stderr in *err.
int gguf_read(const TempDir& dir, const std::string& args, std::string* out,
              std::string* err = nullptr) {
  const std::string command = "/usr/bin/python3 " + source_dir() + "/tools/gguf_read.py " + args +
                              " > " + dir.file("py.out") + " 2> " + dir.file("py.err");
  const int status = std::system(command.c_str());
  *out = read_bytes(dir.file("py.out"));
  if (err) *err = read_bytes(dir.file("py.err"));
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The JSON the reader prints for `path` (the test fails when it reports an error).
json gguf_json(const TempDir& dir, const std::string& path, const std::string& more = "") {
  std::string out, err;
  EXPECT_EQ(gguf_read(dir, path + " --json" + more, &out, &err), 0) << err;
  return out.empty() ? json() : json::parse(out);
}

const json& value(const json& file, const std::string& key, const std::string& type) {
  const json& entry = file.at("metadata").at(key);
  EXPECT_EQ(entry.at("type"), type) << key;
  return entry.at("value");
}

const json& items(const json& file, const std::string& key, const std::string& element_type) {
  const json& array = value(file, key, "array");
  EXPECT_EQ(array.at("element_type"), element_type) << key;
  return array.at("items");
}

TEST(Gguf, IndependentReaderSeesTheKeysTensorsAndAlignedOffsets) {
  SKIP_WITHOUT_NUMPY();
  TempDir dir;
  const RunConfig config = gqa_config(false);
  const ModelConfig& m = config.model;
  const std::string path = dir.file("model.gguf");
  const std::vector<float> params = write_gguf(path, config, "f16");
  const json file = gguf_json(dir, path,
                              " --dump blk.1.attn_k.weight " + dir.file("k.npy") +
                                  " --dump output_norm.weight " + dir.file("norm.npy"));
  ASSERT_TRUE(file.is_object());

  EXPECT_EQ(file.at("version"), 3);
  EXPECT_EQ(value(file, "general.architecture", "string"), "llama");
  EXPECT_EQ(value(file, "general.name", "string"), "model");
  EXPECT_EQ(value(file, "general.alignment", "uint32"), 32);
  EXPECT_EQ(value(file, "general.file_type", "uint32"), 1);
  EXPECT_EQ(value(file, "llama.context_length", "uint32"), m.seq_len);
  EXPECT_EQ(value(file, "llama.embedding_length", "uint32"), m.dim);
  EXPECT_EQ(value(file, "llama.block_count", "uint32"), m.n_layers);
  EXPECT_EQ(value(file, "llama.feed_forward_length", "uint32"), m.hidden_dim);
  EXPECT_EQ(value(file, "llama.attention.head_count", "uint32"), 4);
  EXPECT_EQ(value(file, "llama.attention.head_count_kv", "uint32"), 2);
  EXPECT_EQ(value(file, "llama.rope.dimension_count", "uint32"), 16);
  EXPECT_EQ(value(file, "llama.rope.freq_base", "float32"), 500000.0);
  EXPECT_EQ(value(file, "llama.attention.layer_norm_rms_epsilon", "float32").get<float>(), 1e-6f);
  EXPECT_EQ(value(file, "llama.vocab_size", "uint32"), m.vocab_size);
  EXPECT_EQ(value(file, "tokenizer.ggml.model", "string"), "none");  // bare token ids

  // llama.cpp's names in anetrain's layout order, numpy (row-major) shapes, F16 matrices.
  std::vector<std::tuple<std::string, std::vector<int64_t>, std::string>> want = {
      {"token_embd.weight", {48, 64}, "F16"}};
  for (int l = 0; l < 2; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    want.insert(want.end(), {{b + "attn_norm.weight", {64}, "F32"},
                             {b + "attn_q.weight", {64, 64}, "F16"},
                             {b + "attn_k.weight", {32, 64}, "F16"},
                             {b + "attn_v.weight", {32, 64}, "F16"},
                             {b + "attn_output.weight", {64, 64}, "F16"},
                             {b + "ffn_norm.weight", {64}, "F32"},
                             {b + "ffn_gate.weight", {192, 64}, "F16"},
                             {b + "ffn_down.weight", {64, 192}, "F16"},
                             {b + "ffn_up.weight", {192, 64}, "F16"}});
  }
  want.insert(want.end(),
              {{"output_norm.weight", {64}, "F32"}, {"output.weight", {48, 64}, "F16"}});
  const json& tensors = file.at("tensors");
  ASSERT_EQ(tensors.size(), want.size());
  const uint64_t data_offset = file.at("data_offset"), file_size = file.at("file_size");
  EXPECT_EQ(data_offset % 32, 0u);
  for (size_t i = 0; i < want.size(); ++i) {
    const json& t = tensors[i];
    EXPECT_EQ(t.at("name"), std::get<0>(want[i]));
    EXPECT_EQ(t.at("shape").get<std::vector<int64_t>>(), std::get<1>(want[i])) << t.at("name");
    EXPECT_EQ(t.at("type"), std::get<2>(want[i])) << t.at("name");
    const uint64_t offset = t.at("offset"), bytes = t.at("nbytes");
    EXPECT_EQ(offset % 32, 0u) << t.at("name");
    EXPECT_LE(data_offset + offset + bytes, file_size) << t.at("name");
  }

  // The dumped tensors are ours: K of layer 1 (its rows as Meta orders them) and the final norm.
  const ParamLayout layout(m);
  const ParamInfo* wk = layout.find("layers.1.attention.wk.weight");
  const NpyArray k = read_npy(dir.file("k.npy"));
  EXPECT_EQ(k.shape, wk->shape);
  ASSERT_EQ(static_cast<int64_t>(k.values.size()), wk->numel);
  for (int64_t i = 0; i < wk->numel; ++i)
    ASSERT_EQ(k.values[i], fp16_to_fp32(fp32_to_fp16(params[wk->offset + i]))) << i;
  const NpyArray norm = read_npy(dir.file("norm.npy"));
  EXPECT_TRUE(norm.values == std::vector<float>(params.begin() + layout.final_norm(),
                                                params.begin() + layout.final_norm() + 64));

  // The text form, and a damaged file refused by the Python reader too.
  std::string out, err;
  ASSERT_EQ(gguf_read(dir, path, &out), 0);
  EXPECT_NE(out.find("key general.architecture (string) = 'llama'"), std::string::npos) << out;
  EXPECT_NE(out.find("tensor blk.0.ffn_down.weight F16 shape (64, 192)"), std::string::npos) << out;
  EXPECT_NE(out.find("checks: ok"), std::string::npos) << out;
  const std::string bytes = read_bytes(path);
  std::ofstream(dir.file("cut.gguf"), std::ios::binary) << bytes.substr(0, bytes.size() - 64);
  EXPECT_EQ(gguf_read(dir, dir.file("cut.gguf"), &out, &err), 1);
  EXPECT_NE(err.find("end past the end of the file"), std::string::npos) << err;
}

TEST(Gguf, SentencePieceTokensScoresAndTypesMatchTheModel) {
  SKIP_WITHOUT_NUMPY();
  TempDir dir;
  std::ofstream(dir.file("input.txt")) << english_lines(800, 4);
  train_small_sentencepiece(dir.file("input.txt"), dir.file("tok.model"));
  const auto tokenizer = SentencePieceTokenizer::load(dir.file("tok.model"));
  const RunConfig config = gqa_config(true, tokenizer->vocab_size());
  write_gguf(dir.file("sp.gguf"), config, "f32", read_tokenizer_files(*tokenizer));
  const json file = gguf_json(dir, dir.file("sp.gguf"));
  ASSERT_TRUE(file.is_object());

  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load(dir.file("tok.model")).ok());
  EXPECT_EQ(value(file, "tokenizer.ggml.model", "string"), "llama");
  const json& tokens = items(file, "tokenizer.ggml.tokens", "string");
  const json& scores = items(file, "tokenizer.ggml.scores", "float32");
  const json& types = items(file, "tokenizer.ggml.token_type", "int32");
  ASSERT_EQ(tokens.size(), static_cast<size_t>(config.model.vocab_size));
  ASSERT_EQ(scores.size(), tokens.size());
  ASSERT_EQ(types.size(), tokens.size());
  int bytes = 0, normal = 0;
  for (int id = 0; id < sp.GetPieceSize(); ++id) {
    EXPECT_EQ(tokens[id], sp.IdToPiece(id)) << id;
    EXPECT_EQ(scores[id].get<float>(), sp.GetScore(id)) << id;
    const int type = types[id];
    if (id == sp.unk_id()) EXPECT_EQ(type, 2);
    if (id == sp.bos_id() || id == sp.eos_id()) EXPECT_EQ(type, 3);
    if (sp.IsByte(id)) EXPECT_EQ(type, 6) << sp.IdToPiece(id);
    bytes += type == 6;
    normal += type == 1;
  }
  EXPECT_EQ(bytes, 256);  // byte fallback
  EXPECT_EQ(normal, sp.GetPieceSize() - 256 - 3);
  EXPECT_EQ(value(file, "tokenizer.ggml.bos_token_id", "uint32"), sp.bos_id());
  EXPECT_EQ(value(file, "tokenizer.ggml.eos_token_id", "uint32"), sp.eos_id());
  EXPECT_EQ(value(file, "tokenizer.ggml.unknown_token_id", "uint32"), sp.unk_id());
  EXPECT_FALSE(file.at("metadata").contains("tokenizer.ggml.merges"));
}

TEST(Gguf, Gpt2MergesAndTheBytesTokenizerAsByteTokens) {
  SKIP_WITHOUT_NUMPY();
  TempDir dir;
  // A GPT-2-style vocabulary in miniature: the 256 byte tokens, three merges, <|endoftext|>.
  json encoder = json::object();
  for (int b = 0; b < 256; ++b) encoder[gpt2_byte_spelling(static_cast<uint8_t>(b))] = b;
  const std::string space_t = gpt2_byte_spelling(' ') + "t";
  encoder[space_t] = 256;
  encoder["he"] = 257;
  encoder[space_t + "he"] = 258;
  encoder["<|endoftext|>"] = 259;
  const std::string merges =
      "#version: 0.2\n" + gpt2_byte_spelling(' ') + " t\nh e\n" + space_t + " he\n";
  const TokenizerFiles gpt2{"gpt2", "", {{"encoder.json", encoder.dump()}, {"vocab.bpe", merges}}};
  write_gguf(dir.file("gpt2.gguf"), gqa_config(true, 264), "f32", gpt2);
  json file = gguf_json(dir, dir.file("gpt2.gguf"));
  ASSERT_TRUE(file.is_object());
  EXPECT_EQ(value(file, "tokenizer.ggml.model", "string"), "gpt2");
  EXPECT_EQ(value(file, "tokenizer.ggml.pre", "string"), "gpt-2");
  EXPECT_EQ(items(file, "tokenizer.ggml.merges", "string"),
            json({gpt2_byte_spelling(' ') + " t", "h e", space_t + " he"}));
  const json& tokens = items(file, "tokenizer.ggml.tokens", "string");
  const json& types = items(file, "tokenizer.ggml.token_type", "int32");
  ASSERT_EQ(tokens.size(), 264u);  // padded to the model's vocab_size
  for (const auto& [token, id] : encoder.items()) EXPECT_EQ(tokens[id.get<int>()], token);
  EXPECT_EQ(tokens[263], "[PAD263]");
  EXPECT_EQ(types[65], 1);
  EXPECT_EQ(types[259], 3);  // <|endoftext|>: control
  EXPECT_EQ(types[260], 5);  // padding: unused
  EXPECT_EQ(value(file, "tokenizer.ggml.eos_token_id", "uint32"), 259);
  EXPECT_FALSE(file.at("metadata").contains("tokenizer.ggml.scores"));

  // The bytes tokenizer: 256 byte tokens spelled as GPT-2 spells bytes, no merges, NUL as EOS.
  write_gguf(dir.file("bytes.gguf"), gqa_config(true, 256), "f32", TokenizerFiles{"bytes"});
  file = gguf_json(dir, dir.file("bytes.gguf"));
  ASSERT_TRUE(file.is_object());
  EXPECT_EQ(value(file, "tokenizer.ggml.model", "string"), "gpt2");
  const json& byte_tokens = items(file, "tokenizer.ggml.tokens", "string");
  ASSERT_EQ(byte_tokens.size(), 256u);
  EXPECT_EQ(byte_tokens[size_t{'A'}], "A");
  EXPECT_EQ(byte_tokens[size_t{' '}], "\xC4\xA0");  // U+0120
  EXPECT_EQ(byte_tokens[size_t{0}], "\xC4\x80");    // U+0100
  EXPECT_TRUE(items(file, "tokenizer.ggml.merges", "string").empty());
  EXPECT_EQ(value(file, "tokenizer.ggml.eos_token_id", "uint32"), 0);
}

// ---- Files anetrain does not read ----

// `bytes` with `replacement` written over it at the first occurrence of `at` (+ skip).
std::string patched(std::string bytes, const std::string& at, size_t skip,
                    const std::string& replacement) {
  const size_t pos = bytes.find(at);
  EXPECT_NE(pos, std::string::npos) << at;
  return bytes.replace(pos + skip, replacement.size(), replacement);
}

TEST(Gguf, FilesAnetrainDoesNotReadGiveOneLineErrorsNamingThem) {
  TempDir dir;
  const RunConfig config = gqa_config(true);
  const std::string good = dir.file("good.gguf");
  write_gguf(good, config);
  const std::string bytes = read_bytes(good);
  const uint32_t q4_0 = 2, misaligned = 8;
  // The tensor info after the name "token_embd.weight": n_dims (4 bytes), 2 dims (16), type (4),
  // offset (8).
  const size_t type_at = std::string("token_embd.weight").size() + 4 + 16;
  const struct {
    std::string name, contents, problem;
  } cases[] = {
      {"magic.gguf", "GGUX" + bytes.substr(4), "is not a GGUF file"},
      {"v2.gguf", patched(bytes, "GGUF", 4, std::string("\x02", 1)), "is GGUF version 2"},
      {"short.gguf", bytes.substr(0, 200), "is truncated"},
      {"cut.gguf", bytes.substr(0, bytes.size() - 64), "ends past the end of the file"},
      {"q4.gguf",
       patched(bytes, "token_embd.weight", type_at,
               std::string(reinterpret_cast<const char*>(&q4_0), 4)),
       "tensor 'token_embd.weight' of type Q4_0"},
      {"odd.gguf",
       patched(bytes, "token_embd.weight", type_at + 4,
               std::string(reinterpret_cast<const char*>(&misaligned), 4)),
       "not a multiple of the alignment 32"},
      {"qwen.gguf", patched(bytes, "llama", 0, "qwen2"), "holds a 'qwen2' model"},
  };
  const ParamLayout layout(config.model);
  std::vector<float> params(layout.total());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir.file(c.name);
    std::ofstream(path, std::ios::binary) << c.contents;
    for (const std::string& message :
         {user_error_of([&] { read_weights_metadata(WeightFormat::kGguf, path); }),
          user_error_of([&] { read_weights(WeightFormat::kGguf, path, layout, params.data()); })}) {
      EXPECT_NE(message.find("'" + path + "'"), std::string::npos) << message;
      EXPECT_NE(message.find(c.problem), std::string::npos) << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
  }
  // Found while writing fuzz/gguf_fuzz.cpp: a name from the file with a newline in it kept it
  // in the message; a header naming a model far larger than the file's tensors (here 2^31-1 layers)
  // had the caller allocate it before any tensor was found missing.
  {
    const std::string path = dir.file("newline.gguf");
    std::ofstream(path, std::ios::binary) << patched(bytes, "llama", 2, "\n");
    const std::string message =
        user_error_of([&] { read_weights_metadata(WeightFormat::kGguf, path); });
    EXPECT_NE(message.find("holds a 'll?ma' model"), std::string::npos) << message;
    const uint32_t huge = 0x7fffffff;
    const std::string key = "llama.block_count";
    std::ofstream(path, std::ios::binary) << patched(
        bytes, key, key.size() + 4, std::string(reinterpret_cast<const char*>(&huge), 4));
    const std::string deep =
        user_error_of([&] { read_weights_metadata(WeightFormat::kGguf, path); });
    EXPECT_NE(deep.find("more than its tensors hold"), std::string::npos) << deep;
  }
  EXPECT_NE(user_error_of([&] {
              detect_weight_format(dir.file("magic.gguf"));
            }).find("is in no weights format anetrain reads"),
            std::string::npos);

  // A good file read for a model it was not written for.
  RunConfig deeper = config, untied = config;
  deeper.model.n_layers = 3;
  untied.model.tied_embeddings = false;
  const ParamLayout deeper_layout(deeper.model);
  std::vector<float> more(deeper_layout.total());
  EXPECT_NE(user_error_of([&] {
              read_weights(WeightFormat::kGguf, good, deeper_layout, more.data());
            }).find("good.gguf' has no tensor 'blk.2.attn_norm.weight'"),
            std::string::npos);
  write_gguf(dir.file("untied.gguf"), untied);
  EXPECT_NE(user_error_of([&] {
              read_weights(WeightFormat::kGguf, dir.file("untied.gguf"), layout, params.data());
            }).find("has its own output.weight"),
            std::string::npos);
}

TEST(Gguf, WritingNeedsTheConfigAKnownDtypeAndAVocabularyThatFits) {
  TempDir dir;
  const RunConfig config = gqa_config(true);
  const ParamLayout layout(config.model);
  const std::vector<float> params(layout.total(), 0.5f);
  WeightsMetadata bare;
  EXPECT_NE(user_error_of([&] {
              write_weights(WeightFormat::kGguf, dir.file("a.gguf"), layout, params.data(), bare);
            }).find("needs the model config"),
            std::string::npos);
  WeightsMetadata bf16{config};
  bf16.dtype = "bf16";
  EXPECT_NE(user_error_of([&] {
              write_weights(WeightFormat::kGguf, dir.file("b.gguf"), layout, params.data(), bf16);
            }).find("f32 or f16, not 'bf16'"),
            std::string::npos);
  WeightsMetadata bytes{config};
  bytes.tokenizer_files.kind = "bytes";  // 256 tokens for a vocabulary of 48
  EXPECT_NE(user_error_of([&] {
              write_weights(WeightFormat::kGguf, dir.file("c.gguf"), layout, params.data(), bytes);
            }).find("the tokenizer has 256 tokens, more than the model's vocab_size 48"),
            std::string::npos);
}

}  // namespace
}  // namespace anetrain
