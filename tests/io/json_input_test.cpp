// Tests for the strict JSON reader every file goes through (io/json_input.h): deep nesting,
// duplicate keys and syntax errors are one-line UserErrors naming the input, never a stack
// overflow; the skipping variant (JSONL records) drops such records instead; and the readers
// built on it (config files, metrics.jsonl, JSONL corpora, the CLI) refuse or skip them.
#include "io/json_input.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "core/error.h"
#include "data/document_stream.h"
#include "model/config.h"
#include "support/test_util.h"
#include "train/metrics_log.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

std::string nested_arrays(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string nested_objects(int depth) {
  std::string text;
  for (int i = 0; i < depth; ++i) text += "{\"a\":";
  text += "1";
  return text + std::string(depth, '}');
}

std::string parse_error(const std::string& text, const std::string& what = "'in.json'") {
  return user_error_of([&] { (void)parse_json(text, what); });
}

bool one_line(const std::string& message) {
  return message.find('\n') == std::string::npos && message.size() < 400;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(JsonInput, AcceptsOrdinaryJson) {
  const nlohmann::json j = parse_json(R"({"a": [1, {"b": "x"}], "c": {"a": 2}})", "'x'");
  EXPECT_EQ(j["a"][1]["b"], "x");
  EXPECT_EQ(j["c"]["a"], 2);
  // The same key in different objects is fine, also in sibling objects of one array.
  EXPECT_NO_THROW(parse_json(R"([{"k": 1}, {"k": 2}, {"k": {"k": 3}}])", "'x'"));
  EXPECT_NO_THROW(parse_json(" 17 ", "'x'"));
}

TEST(JsonInput, NestingIsLimited) {
  EXPECT_NO_THROW(parse_json(nested_arrays(kMaxJsonDepth), "'x'"));
  EXPECT_NO_THROW(parse_json(nested_objects(kMaxJsonDepth), "'x'"));
  for (const std::string& text :
       {nested_arrays(kMaxJsonDepth + 1), nested_objects(kMaxJsonDepth + 1), nested_arrays(200000),
        nested_objects(200000), std::string(200000, '[')}) {
    const std::string message = parse_error(text);
    EXPECT_TRUE(contains(message, "'in.json' nests JSON deeper than 64 levels")) << message;
    EXPECT_TRUE(one_line(message)) << message;
  }
}

TEST(JsonInput, DuplicateKeysAreRefusedByName) {
  std::string message = parse_error(R"({"dim": 64, "lr": 1, "dim": 128})");
  EXPECT_TRUE(contains(message, "'in.json' has the key \"dim\" twice in one object")) << message;
  message = parse_error(R"({"a": {"b": [1, {"c": 1, "c": 2}]}})");
  EXPECT_TRUE(contains(message, "\"c\" twice")) << message;
  // A key holding a newline and bytes above ASCII is shown on one printable line.
  message = parse_error("{\"x\\ny\\u00e9\": 1, \"x\\ny\\u00e9\": 2}");
  EXPECT_TRUE(contains(message, "\"x?y??\" twice")) << message;
  EXPECT_TRUE(one_line(message)) << message;
}

TEST(JsonInput, SyntaxErrorsAreOneShortLineNamingTheInput) {
  for (const std::string& text :
       {std::string("{ not json"), std::string("{\"a\": 1} x"), std::string("{\"a\":\n\n"),
        std::string("\"\xff\xfe\""), std::string("\"") + std::string(100000, 'x'),
        std::string("{\"a\": \"line\nbreak\"}"), std::string()}) {
    const std::string message = parse_error(text, "config file 'c.json'");
    EXPECT_TRUE(contains(message, "config file 'c.json' is not valid JSON: ")) << message;
    EXPECT_FALSE(contains(message, "json.exception")) << message;
    EXPECT_TRUE(one_line(message)) << message;
    EXPECT_TRUE(std::all_of(message.begin(), message.end(), [](char c) {
      return c >= 0x20 && c < 0x7f;
    })) << message;
  }
}

TEST(JsonInput, SkippingVariantDiscards) {
  EXPECT_TRUE(parse_json_or_discarded(R"({"step": 1})").is_object());
  for (const std::string& text : {std::string("{\"step\": 1"), std::string("{\"a\":1,\"a\":2}"),
                                  nested_arrays(200000), nested_objects(100)}) {
    const nlohmann::json j = parse_json_or_discarded(text);
    EXPECT_TRUE(j.is_discarded());
    EXPECT_FALSE(j.is_object());
  }
}

TEST(JsonInput, ConfigFileWithDuplicateKeyOrDeepNestingIsRefused) {
  TempDir dir;
  const std::string path = dir.file("dup.json");
  std::ofstream(path) << R"({"preset": "tiny", "dim": 64, "dim": 128})";
  std::string message = user_error_of([&] { load_config(path); });
  EXPECT_TRUE(contains(message, "config file '" + path + "' has the key \"dim\" twice")) << message;

  const std::string deep = dir.file("deep.json");
  std::ofstream(deep) << "{\"dim\": " << nested_arrays(200000) << "}";
  message = user_error_of([&] { load_config(deep); });
  EXPECT_TRUE(contains(message, "nests JSON deeper than 64 levels")) << message;

  // Within the limit, a nested value is an ordinary bad value.
  std::ofstream(deep) << "{\"dim\": " << nested_arrays(60) << "}";
  message = user_error_of([&] { load_config(deep); });
  EXPECT_TRUE(contains(message, "config key 'dim'")) << message;
  EXPECT_TRUE(one_line(message)) << message;
}

TEST(JsonInput, ConfigPresetMustBeAString) {
  TempDir dir;
  const std::string path = dir.file("preset.json");
  std::ofstream(path) << R"({"preset": 5})";
  std::string message = user_error_of([&] { load_config(path); });
  EXPECT_TRUE(contains(message, "key 'preset' must be a string")) << message;
  EXPECT_TRUE(one_line(message)) << message;
  // The same inside state.json and model metadata (config_from_json).
  message = user_error_of([] { config_from_json(nlohmann::json{{"preset", {1, 2}}}); });
  EXPECT_TRUE(contains(message, "key 'preset' must be a string")) << message;
  message = user_error_of([] { config_from_json(nlohmann::json(3)); });
  EXPECT_TRUE(contains(message, "must be a JSON object")) << message;
}

TEST(JsonInput, CliRefusesConfigWithDuplicateKey) {
  TempDir dir;
  const std::string data = dir.file("ok.bin");
  write_shard(data, pattern_tokens(5000, 512, 1));
  const std::string config = dir.file("dup.json");
  std::ofstream(config) << "{\"lr\": 0.001,\n \"lr\": 0.1}\n";
  for (const std::string& bad : {config, dir.file("preset.json")}) {
    if (bad != config) std::ofstream(bad) << R"({"preset": 5})";
    const CommandResult r = run_anetrain(
        {"train", "--config", bad, "--data", data, "--steps", "1", "--out", dir.file("out")});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_TRUE(contains(r.err, bad == config ? "has the key \"lr\" twice" : "'preset'")) << r.err;
  }
}

TEST(JsonInput, MetricsLogDropsDeepAndDuplicateLines) {
  TempDir dir;
  std::ofstream(dir.file("metrics.jsonl")) << "{\"step\": 1, \"loss\": 2.5}\n"
                                           << nested_arrays(200000) << "\n"
                                           << "{\"step\": 2, \"step\": 0}\n"
                                           << "{\"step\": 3, \"loss\": 2.0}\n";
  { MetricsLog log(dir.path(), 10); }
  EXPECT_EQ(read_bytes(dir.file("metrics.jsonl")),
            "{\"step\": 1, \"loss\": 2.5}\n{\"step\": 3, \"loss\": 2.0}\n");
}

TEST(JsonInput, JsonlCorpusSkipsDeepAndDuplicateRecords) {
  TempDir dir;
  std::ofstream(dir.file("c.jsonl")) << "{\"text\": \"one\"}\n"
                                     << "{\"text\": " << nested_arrays(200000) << "}\n"
                                     << "{\"text\": \"a\", \"text\": \"b\"}\n"
                                     << "{\"text\": \"two\"}\n";
  DocumentStream stream({dir.file("c.jsonl")});
  std::string text;
  std::vector<std::string> docs;
  while (stream.next(text)) docs.push_back(text);
  EXPECT_EQ(docs, (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(stream.skipped().bad_json, 2);
}

}  // namespace
}  // namespace anetrain
