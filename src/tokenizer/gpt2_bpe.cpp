// GPT-2 byte-level BPE: loading OpenAI's encoder.json + vocab.bpe, pre-tokenizing with PCRE2,
// merging by rank, and decoding.
//
// The files spell every byte as a printable Unicode character (GPT-2's byte-to-unicode table)
// so that merges can be written as text. We undo that mapping once at load time and then work
// on raw bytes and token ids only: a piece starts as one id per byte and adjacent ids are merged
// in rank order. Merging ids is equivalent to GPT-2's merging of strings because distinct ids
// stand for distinct byte strings.
#include "tokenizer/gpt2_bpe.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <bit>
#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/json_input.h"
#include "tokenizer/tokenizer_files.h"

namespace anetrain {
namespace {

constexpr std::string_view kEndOfTextText = "<|endoftext|>";

// GPT-2's pre-tokenization regex,
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// with \s spelled out as the Unicode White_Space property. That is what \s means in the Python
// `regex` module GPT-2 used and in the Rust regex behind OpenAI's tiktoken. PCRE2's own \s (in
// UCP mode) also matches U+180E, and JavaScript's \s (js-tiktoken) matches U+FEFF but not
// U+0085, so js-tiktoken may split text with those two characters differently from GPT-2.
std::string gpt2_pattern() {
  const std::string ws =
      "\\t-\\r "
      "\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}";
  return "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" + ws + "\\p{L}\\p{N}]+|[" + ws +
         "]+(?![^" + ws + "])|[" + ws + "]+";
}

// GPT-2's byte -> code point table: printable Latin-1 bytes stand for themselves, the other 68
// bytes (controls, space, DEL, NBSP, soft hyphen) are moved to U+0100 upwards in byte order.
std::array<uint32_t, 256> byte_to_codepoint() {
  std::array<uint32_t, 256> table{};
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    table[b] = printable ? b : next++;
  }
  return table;
}

// Decodes one UTF-8 code point at s[i], advancing i; returns false on malformed input. Used only
// on the vocabulary files, where every code point must then be in GPT-2's byte alphabet, so a
// lenient decoder suffices.
bool next_codepoint(std::string_view s, size_t& i, uint32_t& cp) {
  auto c = static_cast<unsigned char>(s[i]);
  int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || i + len > s.size()) return false;
  cp = len == 1 ? c : c & (0x7F >> len);
  for (int k = 1; k < len; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc >> 6) != 2) return false;
    cp = (cp << 6) | (cc & 0x3F);
  }
  i += len;
  return true;
}

// Undoes the byte table: turns a token string from the vocabulary files back into the bytes it
// stands for. Returns false if it holds a character that stands for no byte.
bool unmap_bytes(std::string_view text, std::string& bytes) {
  static const std::array<int16_t, 512> codepoint_byte = [] {
    std::array<int16_t, 512> inverse;
    inverse.fill(-1);
    auto table = byte_to_codepoint();
    for (int b = 0; b < 256; ++b) inverse[table[b]] = static_cast<int16_t>(b);
    return inverse;
  }();
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    if (!next_codepoint(text, i, cp) || cp >= codepoint_byte.size() || codepoint_byte[cp] < 0) {
      return false;
    }
    bytes.push_back(static_cast<char>(codepoint_byte[cp]));
  }
  return true;
}

// Length of the well-formed UTF-8 sequence starting at s[i] (Unicode's table 3-7: no overlong
// forms, no surrogates, nothing above U+10FFFF), or 0 if s[i] does not start one.
size_t utf8_sequence_length(const unsigned char* s, size_t i, size_t n) {
  unsigned c = s[i];
  if (c < 0x80) return 1;
  auto continuation = [&](size_t k, unsigned lo, unsigned hi) {
    return i + k < n && s[i + k] >= lo && s[i + k] <= hi;
  };
  if (c < 0xC2) return 0;
  if (c < 0xE0) return continuation(1, 0x80, 0xBF) ? 2 : 0;
  if (c < 0xF0) {
    bool ok = continuation(1, c == 0xE0 ? 0xA0 : 0x80, c == 0xED ? 0x9F : 0xBF) &&
              continuation(2, 0x80, 0xBF);
    return ok ? 3 : 0;
  }
  if (c < 0xF5) {
    bool ok = continuation(1, c == 0xF0 ? 0x90 : 0x80, c == 0xF4 ? 0x8F : 0xBF) &&
              continuation(2, 0x80, 0xBF) && continuation(3, 0x80, 0xBF);
    return ok ? 4 : 0;
  }
  return 0;
}

// Maps adjacent token pairs (left id, right id) to the merge's rank and resulting id. Open
// addressing over a power-of-two table: this lookup is the inner loop of BPE.
class PairTable {
 public:
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    slots_.assign(cap, Slot{});
    shift_ = 64 - std::countr_zero(cap);
  }
  // Returns false if the pair is already present.
  bool insert(int32_t left, int32_t right, int32_t rank, int32_t merged) {
    uint64_t key = make_key(left, right);
    for (size_t i = slot_of(key);; i = (i + 1) & (slots_.size() - 1)) {
      if (slots_[i].key == key) return false;
      if (slots_[i].key == kEmpty) {
        slots_[i] = Slot{key, rank, merged};
        return true;
      }
    }
  }
  // Rank of merging (left, right), or -1 if they never merge.
  int32_t find(int32_t left, int32_t right, int32_t* merged) const {
    uint64_t key = make_key(left, right);
    for (size_t i = slot_of(key);; i = (i + 1) & (slots_.size() - 1)) {
      const Slot& s = slots_[i];
      if (s.key == key) {
        *merged = s.merged;
        return s.rank;
      }
      if (s.key == kEmpty) return -1;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  struct Slot {
    uint64_t key = kEmpty;
    int32_t rank = -1, merged = -1;
  };
  static uint64_t make_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  size_t slot_of(uint64_t key) const { return (key * 0x9E3779B97F4A7C15ull) >> shift_; }
  std::vector<Slot> slots_;
  int shift_ = 64;
};

// Already-merged pieces. Natural text repeats a small set of words, so most pieces are found
// here. Sharded with one mutex each so that parallel encoders rarely wait on each other; each
// shard is simply emptied when it fills up, which bounds memory on huge, diverse corpora.
class PieceCache {
 public:
  // Pieces longer than this are not cached: they are rare and would only bloat the cache.
  static constexpr size_t kMaxPieceBytes = 64;

  bool lookup(std::string_view piece, size_t hash, std::vector<int32_t>& out) {
    Shard& s = shard(hash);
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.map.find(piece);
    if (it == s.map.end()) return false;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return true;
  }
  void store(std::string_view piece, size_t hash, const int32_t* ids, size_t count) {
    Shard& s = shard(hash);
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.map.size() >= kMaxEntriesPerShard) s.map.clear();
    s.map.try_emplace(std::string(piece), ids, ids + count);
  }

 private:
  static constexpr size_t kShards = 64;
  static constexpr size_t kMaxEntriesPerShard = 1 << 14;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::vector<int32_t>, Hash, std::equal_to<>> map;
  };
  // High bits pick the shard; the map itself uses the low bits of the same hash.
  Shard& shard(size_t hash) { return shards_[(static_cast<uint64_t>(hash) >> 40) % kShards]; }
  std::array<Shard, kShards> shards_;
};

struct CodeDeleter {
  void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
struct MatchDataDeleter {
  void operator()(pcre2_match_data* md) const { pcre2_match_data_free(md); }
};

[[noreturn]] void bad_file(const std::string& path, const std::string& what) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  throw UserError(path + ": " + what + "; expected OpenAI's GPT-2 file " +
                  "(scripts/fetch-tokenizer.sh gpt2 " + (dir.empty() ? "." : dir) + " fetches it)");
}

}  // namespace

struct Gpt2Tokenizer::Impl {
  std::string dir;
  std::string checksum;
  std::vector<std::string> token_bytes;  // id -> bytes
  std::array<int32_t, 256> byte_id{};    // single byte -> id
  PairTable merges;
  std::unique_ptr<pcre2_code, CodeDeleter> regex;
  bool jit = false;
  mutable PieceCache cache;

  void load_encoder(const std::string& path, const std::string& text);
  void load_merges(const std::string& path, const std::string& text);
  void compile_regex();
  void encode_segment(std::string_view text, pcre2_match_data* md, std::vector<int32_t>& out) const;
  void match_fragment(std::string_view text, pcre2_match_data* md, std::vector<int32_t>& out) const;
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
  void merge_bytes(std::string_view piece, std::vector<int32_t>& out) const;
};

void Gpt2Tokenizer::Impl::load_encoder(const std::string& path, const std::string& text) {
  nlohmann::json j;
  try {
    j = parse_json(text, "it");
  } catch (const UserError& e) {
    bad_file(path, e.what());
  }
  if (!j.is_object()) bad_file(path, "not a JSON object mapping token strings to ids");
  if (j.size() != static_cast<size_t>(kVocabSize)) {
    bad_file(path, "has " + std::to_string(j.size()) + " entries, GPT-2 has " +
                       std::to_string(kVocabSize));
  }
  token_bytes.assign(kVocabSize, std::string());
  std::vector<bool> seen(kVocabSize, false);
  for (const auto& [key, value] : j.items()) {
    if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
        value.get<int64_t>() >= kVocabSize) {
      bad_file(path, "entry \"" + key + "\" has id " + value.dump() + ", expected 0.." +
                         std::to_string(kVocabSize - 1));
    }
    auto id = value.get<int32_t>();
    if (seen[id]) bad_file(path, "id " + std::to_string(id) + " appears twice");
    seen[id] = true;
    std::string bytes;
    if (!unmap_bytes(key, bytes)) {
      bad_file(path, "entry \"" + key + "\" has a character outside GPT-2's byte alphabet");
    }
    if (bytes.empty()) bad_file(path, "has an empty token string");
    token_bytes[id] = std::move(bytes);
  }
  if (token_bytes[kEndOfText] != kEndOfTextText) {
    bad_file(path, "id " + std::to_string(kEndOfText) + " is not <|endoftext|>");
  }
}

void Gpt2Tokenizer::Impl::load_merges(const std::string& path, const std::string& text) {
  // bytes -> id for ordinary tokens; <|endoftext|> is only ever produced by the special-token
  // scan, never by merging.
  std::unordered_map<std::string_view, int32_t> id_of;
  id_of.reserve(kVocabSize);
  for (int32_t id = 0; id < kVocabSize; ++id) {
    if (id != kEndOfText) id_of.emplace(token_bytes[id], id);
  }
  for (int b = 0; b < 256; ++b) {
    const char byte = static_cast<char>(b);
    auto it = id_of.find(std::string_view(&byte, 1));
    if (it == id_of.end())
      bad_file(path, "encoder.json lacks the token for byte " + std::to_string(b));
    byte_id[b] = it->second;
  }

  // A merge may only use tokens that single bytes or earlier merges produce, and each token is
  // produced once. That is how BPE training writes the file, and it guarantees that a merge
  // never creates a pair that outranks the merge itself, which the heap in merge_bytes() relies
  // on to reproduce GPT-2's merge order exactly.
  std::vector<bool> available(kVocabSize, false);
  for (int b = 0; b < 256; ++b) available[byte_id[b]] = true;

  merges.reserve(kMergeCount);
  int32_t rank = 0;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string where = "line " + std::to_string(line_no);
    if (line_no == 1) {
      if (line != "#version: 0.2") {
        bad_file(path, "line 1 is not the header \"#version: 0.2\"");
      }
      continue;
    }
    if (line.empty()) continue;  // the file ends with a newline
    size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 == line.size() ||
        line.find(' ', space + 1) != std::string_view::npos) {
      bad_file(path, where + " is not a merge \"LEFT RIGHT\"");
    }
    std::string parts[2];
    std::string_view halves[2] = {line.substr(0, space), line.substr(space + 1)};
    for (int h = 0; h < 2; ++h) {
      if (!unmap_bytes(halves[h], parts[h])) {
        bad_file(path, where + " has a character outside GPT-2's byte alphabet");
      }
    }
    auto left = id_of.find(parts[0]);
    auto right = id_of.find(parts[1]);
    auto merged = id_of.find(parts[0] + parts[1]);
    if (left == id_of.end() || right == id_of.end() || merged == id_of.end()) {
      bad_file(path, where + " merges tokens that are not in encoder.json");
    }
    if (!available[left->second] || !available[right->second]) {
      bad_file(path, where + " uses a token that no earlier merge produces");
    }
    if (available[merged->second]) bad_file(path, where + " produces a token a second time");
    available[merged->second] = true;
    if (rank >= kMergeCount) {
      bad_file(path, "has more than " + std::to_string(kMergeCount) + " merges");
    }
    if (!merges.insert(left->second, right->second, rank, merged->second)) {
      bad_file(path, where + " repeats an earlier merge");
    }
    ++rank;
  }
  if (line_no == 0) bad_file(path, "is empty");
  if (rank != kMergeCount) {
    bad_file(path,
             "has " + std::to_string(rank) + " merges, GPT-2 has " + std::to_string(kMergeCount));
  }
}

void Gpt2Tokenizer::Impl::compile_regex() {
  int error = 0;
  PCRE2_SIZE offset = 0;
  // Subjects are always valid UTF-8: encode_segment() splits off invalid bytes first.
  const std::string pattern = gpt2_pattern();
  regex.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(),
                            PCRE2_UTF, &error, &offset, nullptr));
  if (!regex) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    ANETRAIN_CHECK(false, std::string("GPT-2 regex: ") + reinterpret_cast<char*>(message));
  }
  // JIT makes matching several times faster; without it (some platforms) pcre2_match interprets.
  jit = pcre2_jit_compile(regex.get(), PCRE2_JIT_COMPLETE) == 0;
}

std::unique_ptr<Gpt2Tokenizer> Gpt2Tokenizer::load(const std::string& dir) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  // DIR/encoder.json and DIR/vocab.bpe, or Hugging Face's DIR/vocab.json and DIR/merges.txt.
  const std::vector<std::string> paths = tokenizer_spec_files("gpt2:" + dir);
  const std::string& encoder_path = paths[0];
  const std::string& merges_path = paths[1];
  for (const std::string& path : {encoder_path, merges_path}) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      throw UserError(path + ": not found; fetch GPT-2's vocabulary with " +
                      "scripts/fetch-tokenizer.sh gpt2 " + dir);
    }
  }
  std::string encoder_text = read_file(encoder_path);
  std::string merges_text = read_file(merges_path);
  impl->load_encoder(encoder_path, encoder_text);
  impl->load_merges(merges_path, merges_text);
  impl->checksum = tokenizer_files_checksum({encoder_text, merges_text});
  impl->compile_regex();
  return std::unique_ptr<Gpt2Tokenizer>(new Gpt2Tokenizer(std::move(impl)));
}

Gpt2Tokenizer::Gpt2Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Gpt2Tokenizer::~Gpt2Tokenizer() = default;

std::string gpt2_byte_spelling(uint8_t byte) {
  static const std::array<uint32_t, 256> table = byte_to_codepoint();
  const uint32_t cp = table[byte];  // below U+0800: one or two UTF-8 bytes
  if (cp < 0x80) return std::string(1, static_cast<char>(cp));
  return {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
}

std::string Gpt2Tokenizer::spec() const { return "gpt2:" + impl_->dir; }
std::string Gpt2Tokenizer::checksum() const { return impl_->checksum; }

std::vector<int32_t> Gpt2Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 8);
  // Match data holds per-match state, so each call gets its own; the compiled regex is shared.
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> md(
      pcre2_match_data_create_from_pattern(impl_->regex.get(), nullptr));
  ANETRAIN_CHECK(md != nullptr, "pcre2_match_data_create_from_pattern");
  size_t start = 0;
  for (;;) {
    size_t special = text.find(kEndOfTextText, start);
    size_t end = special == std::string_view::npos ? text.size() : special;
    // Each segment is matched on its own, as tiktoken does: the regex's lookahead sees the
    // segment's end, not the special token.
    impl_->encode_segment(text.substr(start, end - start), md.get(), out);
    if (special == std::string_view::npos) break;
    out.push_back(kEndOfText);
    start = special + kEndOfTextText.size();
  }
  return out;
}

void Gpt2Tokenizer::Impl::encode_segment(std::string_view text, pcre2_match_data* md,
                                         std::vector<int32_t>& out) const {
  // Invalid UTF-8 splits the text into valid fragments, each matched as a subject of its own,
  // and the invalid bytes between them become pieces of their own (decode() must give them
  // back). PCRE2_MATCH_INVALID_UTF would do the same splitting inside PCRE2, but without JIT it
  // re-validates the rest of the subject on every call, which is quadratic in the text length.
  auto bytes = reinterpret_cast<const unsigned char*>(text.data());
  size_t pos = 0;
  while (pos < text.size()) {
    size_t valid_end = pos;
    while (valid_end < text.size()) {
      size_t len = utf8_sequence_length(bytes, valid_end, text.size());
      if (len == 0) break;
      valid_end += len;
    }
    if (valid_end > pos) match_fragment(text.substr(pos, valid_end - pos), md, out);
    size_t invalid_end = valid_end;
    while (invalid_end < text.size() &&
           utf8_sequence_length(bytes, invalid_end, text.size()) == 0) {
      ++invalid_end;
    }
    if (invalid_end > valid_end) encode_piece(text.substr(valid_end, invalid_end - valid_end), out);
    pos = invalid_end;
  }
}

void Gpt2Tokenizer::Impl::match_fragment(std::string_view text, pcre2_match_data* md,
                                         std::vector<int32_t>& out) const {
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(md);
  size_t pos = 0;
  while (pos < text.size()) {
    // NO_UTF_CHECK: encode_segment() has validated the fragment (pcre2_jit_match never checks).
    int rc =
        jit ? pcre2_jit_match(regex.get(), subject, text.size(), pos, 0, md, nullptr)
            : pcre2_match(regex.get(), subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr);
    // Every character matches one of the alternatives (the fourth takes anything that is not
    // a letter, number or space), and none of them can hit PCRE2's backtracking limits, so each
    // match starts where the previous one ended and is non-empty.
    ANETRAIN_CHECK(rc > 0, "GPT-2 regex failed with PCRE2 error " + std::to_string(rc));
    ANETRAIN_CHECK(ovector[0] == pos && ovector[1] > pos, "GPT-2 regex skipped text");
    encode_piece(text.substr(pos, ovector[1] - pos), out);
    pos = ovector[1];
  }
}

void Gpt2Tokenizer::Impl::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.size() == 1) {
    out.push_back(byte_id[static_cast<unsigned char>(piece[0])]);
    return;
  }
  if (piece.size() > PieceCache::kMaxPieceBytes) {
    merge_bytes(piece, out);
    return;
  }
  size_t hash = std::hash<std::string_view>{}(piece);
  if (cache.lookup(piece, hash, out)) return;
  size_t first = out.size();
  merge_bytes(piece, out);
  cache.store(piece, hash, out.data() + first, out.size() - first);
}

// GPT-2's BPE on one piece: repeatedly merge the adjacent pair with the lowest rank, all its
// occurrences left to right, until no adjacent pair is a merge. A min-heap of candidate pairs
// ordered by (rank, position) visits pairs in exactly that order (load_merges() checks that a
// merge never creates a pair ranked before itself), in O(n log n) even for very long pieces.
// Heap entries are not removed when a neighbour changes; a popped entry is used only if both
// its tokens are still in place.
void Gpt2Tokenizer::Impl::merge_bytes(std::string_view piece, std::vector<int32_t>& out) const {
  const size_t n = piece.size();
  struct Candidate {
    int32_t rank;
    uint32_t pos;  // index of the left token; indices keep their order as tokens merge
    int32_t left, right, merged;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  thread_local std::vector<int32_t> tok;
  thread_local std::vector<uint32_t> next, prev;
  thread_local std::vector<Candidate> heap;
  tok.resize(n);
  next.resize(n);
  prev.resize(n);
  heap.clear();
  constexpr uint32_t kNone = ~uint32_t{0};
  for (size_t i = 0; i < n; ++i) {
    tok[i] = byte_id[static_cast<unsigned char>(piece[i])];
    next[i] = i + 1 < n ? static_cast<uint32_t>(i + 1) : kNone;
    prev[i] = i > 0 ? static_cast<uint32_t>(i - 1) : kNone;
  }
  auto consider = [&](uint32_t pos) {
    if (pos == kNone || next[pos] == kNone) return;
    int32_t merged = -1;
    int32_t rank = merges.find(tok[pos], tok[next[pos]], &merged);
    if (rank < 0) return;
    heap.push_back(Candidate{rank, pos, tok[pos], tok[next[pos]], merged});
    std::push_heap(heap.begin(), heap.end(), std::greater<>());
  };
  for (size_t i = 0; i + 1 < n; ++i) consider(static_cast<uint32_t>(i));
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    Candidate c = heap.back();
    heap.pop_back();
    uint32_t right = next[c.pos];
    // Stale if the left token has merged since (its id changed, or it is -1 because it was
    // merged into its left neighbour) or the right neighbour is no longer the same token.
    if (tok[c.pos] != c.left || right == kNone || tok[right] != c.right) continue;
    tok[c.pos] = c.merged;
    tok[right] = -1;  // marks right as gone for stale candidates that start there
    next[c.pos] = next[right];
    if (next[right] != kNone) prev[next[right]] = c.pos;
    consider(prev[c.pos]);
    consider(c.pos);
  }
  for (uint32_t i = 0; i != kNone; i = next[i]) out.push_back(tok[i]);
  if (n > (1 << 16)) {  // do not keep a huge piece's scratch memory alive in every thread
    tok = {};
    next = {};
    prev = {};
    heap = {};
  }
}

std::string Gpt2Tokenizer::decode(const std::vector<int32_t>& ids) const {
  size_t total = 0;
  for (int32_t id : ids) {
    if (id < 0 || id >= kVocabSize) {
      throw UserError("token id " + std::to_string(id) + " is outside the gpt2 vocabulary (" +
                      std::to_string(kVocabSize) + ")");
    }
    total += impl_->token_bytes[id].size();
  }
  std::string text;
  text.reserve(total);
  for (int32_t id : ids) text += impl_->token_bytes[id];
  return text;
}

}  // namespace anetrain
