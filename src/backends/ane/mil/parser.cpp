#include "backends/ane/mil/parser.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace anetrain::mil {

MilError::MilError(const std::string& source, int line, int column, const std::string& detail)
    : UserError(line > 0 ? source + ":" + std::to_string(line) + ":" + std::to_string(column) +
                               ": " + detail
                         : source + ": " + detail),
      line_(line),
      column_(column),
      detail_(detail) {}

namespace {

constexpr size_t kMaxRank = 16;
constexpr int64_t kMaxDim = (int64_t{1} << 31) - 1;
// uint64 scalars are stored as doubles in Literal::numbers: above 2^53 they would not print back
// to the same integer.
constexpr uint64_t kMaxExactUint = uint64_t{1} << 53;

enum class Tok { kIdent, kNumber, kString, kPunct, kArrow, kEnd };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;  // identifier, number text, unescaped string, or the punctuation char
  int line = 0, col = 0;
  int end_line = 0, end_col = 0;  // just past the token
};

bool is_ident_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c) || c == '@'; }

// Splits the text into tokens up front; the grammar never needs more than two tokens of
// lookahead, but whole-input lexing keeps the error positions of both passes consistent.
class Lexer {
 public:
  Lexer(std::string_view text, const std::string& source) : text_(text), source_(source) {}

  std::vector<Token> run() {
    std::vector<Token> out;
    for (;;) {
      skip_space();
      Token t;
      t.line = line_;
      t.col = col_;
      if (pos_ >= text_.size()) {
        t.kind = Tok::kEnd;
        t.end_line = line_;
        t.end_col = col_;
        out.push_back(std::move(t));
        return out;
      }
      const char c = text_[pos_];
      if (c == '"') {
        t.kind = Tok::kString;
        t.text = string_body();
      } else if (c == '-' && peek(1) == '>') {
        t.kind = Tok::kArrow;
        t.text = "->";
        advance(2);
      } else if (is_digit(c) || ((c == '-' || c == '+' || c == '.') && starts_number(1))) {
        t.kind = Tok::kNumber;
        t.text = number_text();
      } else if (is_ident_start(c)) {
        t.kind = Tok::kIdent;
        const size_t start = pos_;
        while (pos_ < text_.size() && is_ident_char(text_[pos_])) advance(1);
        t.text = std::string(text_.substr(start, pos_ - start));
      } else if (std::string_view("()[]{}<>,=;").find(c) != std::string_view::npos) {
        t.kind = Tok::kPunct;
        t.text = std::string(1, c);
        advance(1);
      } else {
        const unsigned char u = static_cast<unsigned char>(c);
        char buf[64];
        if (u >= 0x21 && u < 0x7f)
          std::snprintf(buf, sizeof buf, "unexpected character '%c'", c);
        else
          std::snprintf(buf, sizeof buf, "unexpected byte 0x%02x outside a string", u);
        throw MilError(source_, line_, col_, buf);
      }
      t.end_line = line_;
      t.end_col = col_;
      out.push_back(std::move(t));
    }
  }

 private:
  char peek(size_t k) const { return pos_ + k < text_.size() ? text_[pos_ + k] : '\0'; }

  void advance(size_t n) {
    for (size_t i = 0; i < n && pos_ < text_.size(); ++i) {
      if (text_[pos_] == '\n') {
        ++line_;
        col_ = 1;
      } else {
        ++col_;
      }
      ++pos_;
    }
  }

  void skip_space() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        advance(1);
      } else if (c == '/' && peek(1) == '/') {
        while (pos_ < text_.size() && text_[pos_] != '\n') advance(1);
      } else {
        return;
      }
    }
  }

  // After a sign or a dot: a digit, a dot then a digit, or inf/nan make a number.
  bool starts_number(size_t k) const {
    const char c = peek(k);
    if (is_digit(c)) return true;
    if (c == '.' && is_digit(peek(k + 1))) return true;
    return text_[pos_] != '.' && (c == 'i' || c == 'n');
  }

  // The maximal run that could be a number; its validity is decided where its type is known.
  std::string number_text() {
    const size_t start = pos_;
    if (text_[pos_] == '-' || text_[pos_] == '+') advance(1);
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      const char prev = pos_ > start ? text_[pos_ - 1] : '\0';
      const bool exponent_sign =
          (c == '+' || c == '-') && (prev == 'e' || prev == 'E' || prev == 'p' || prev == 'P');
      if (is_ident_char(c) || c == '.' || exponent_sign)
        advance(1);
      else
        break;
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  std::string string_body() {
    const int line = line_, col = col_;
    advance(1);  // opening quote
    std::string out;
    for (;;) {
      if (pos_ >= text_.size())
        throw MilError(source_, line, col,
                       "unterminated string (no closing quote before end of input)");
      const char c = text_[pos_];
      if (c == '\n')
        throw MilError(source_, line, col,
                       "unterminated string (newline before the closing quote)");
      if (c == '"') {
        advance(1);
        return out;
      }
      if (c == '\\') {
        const char e = peek(1);
        if (e != '"' && e != '\\') {
          // Only the escapes the printer writes are accepted, so every string reads back
          // exactly as it prints.
          throw MilError(source_, line_, col_,
                         "unsupported escape in string (only \\\" and \\\\ are allowed)");
        }
        out += e;
        advance(2);
        continue;
      }
      out += c;
      advance(1);
    }
  }

  std::string_view text_;
  const std::string& source_;
  size_t pos_ = 0;
  int line_ = 1, col_ = 1;
};

bool dtype_from_name(const std::string& s, DType* out) {
  static const std::pair<const char*, DType> kNames[] = {
      {"fp16", DType::kFp16}, {"fp32", DType::kFp32},     {"int32", DType::kInt32},
      {"bool", DType::kBool}, {"string", DType::kString}, {"uint64", DType::kUint64}};
  for (const auto& [name, t] : kNames)
    if (s == name) {
      *out = t;
      return true;
    }
  return false;
}

// MIL dtypes that exist but that the IR cannot hold: named in errors so the message is
// "not supported" instead of "unknown".
bool is_unsupported_dtype(const std::string& s) {
  static const char* kOthers[] = {"fp64",   "bf16",  "int8",   "uint8", "int16",
                                  "uint16", "int64", "uint32", "int4",  "uint4"};
  for (const char* n : kOthers)
    if (s == n) return true;
  return false;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_digit(c)) return false;
  return true;
}

// Decimal: digits[.digits][e[+-]digits] (either side of the dot may be empty, not both).
bool valid_decimal(std::string_view s) {
  size_t i = 0, digits = 0;
  while (i < s.size() && is_digit(s[i])) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i])) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!all_digits(s.substr(i))) return false;
    return true;
  }
  return i == s.size();
}

bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Hex float as C writes it (after 0x): hexdigits[.hexdigits]p[+-]digits.
bool valid_hex_float(std::string_view s) {
  size_t i = 0, digits = 0;
  while (i < s.size() && is_hex(s[i])) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_hex(s[i])) ++i, ++digits;
  }
  if (digits == 0 || i >= s.size() || (s[i] != 'p' && s[i] != 'P')) return false;
  ++i;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  return all_digits(s.substr(i));
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, const std::string& source)
      : toks_(std::move(tokens)), source_(source) {}

  Program program() {
    Program p;
    expect_word("program", "at the start of a MIL program");
    expect_punct('(', "after 'program'");
    const Token& v = next();
    if (v.kind != Tok::kNumber || !valid_version(v.text))
      fail(v, "expected a program version such as 1.3, found " + describe(v));
    p.version = v.text;
    expect_punct(')', "after the program version");
    if (is_punct(peek(), '[')) build_info(p);
    expect_punct('{', "to open the program body");
    function(p.main);
    if (is_word(peek(), "func")) fail(peek(), "only one function per program is supported");
    expect_punct('}', "to close the program body");
    if (peek().kind != Tok::kEnd)
      fail(peek(), "unexpected " + describe(peek()) + " after the end of the program");
    return p;
  }

 private:
  // ---- token helpers ----
  const Token& peek(size_t k = 0) const {
    const size_t i = pos_ + k;
    return i < toks_.size() ? toks_[i] : toks_.back();
  }
  const Token& next() {
    const Token& t = peek();
    if (pos_ < toks_.size() - 1) ++pos_;
    return t;
  }
  static bool is_punct(const Token& t, char c) { return t.kind == Tok::kPunct && t.text[0] == c; }
  static bool is_word(const Token& t, const char* w) {
    return t.kind == Tok::kIdent && t.text == w;
  }

  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Tok::kEnd:
        return "end of input";
      case Tok::kString: {
        std::string s = t.text.size() > 24 ? t.text.substr(0, 24) + "..." : t.text;
        return "string \"" + s + "\"";
      }
      case Tok::kNumber:
        return "number '" + t.text + "'";
      default:
        return "'" + t.text + "'";
    }
  }

  [[noreturn]] void fail(const Token& at, const std::string& what) const {
    throw MilError(source_, at.line, at.col, context_ + what);
  }

  // A missing token belongs where the previous one ended: when the next token is on a later
  // line (or there is none), report the end of the previous line, where the fix goes.
  [[noreturn]] void fail_expected(const std::string& what) const {
    const Token& found = peek();
    const std::string msg = "expected " + what + ", found " + describe(found);
    if (pos_ > 0) {
      const Token& prev = toks_[pos_ - 1];
      if (found.kind == Tok::kEnd || found.line > prev.end_line)
        throw MilError(source_, prev.end_line, prev.end_col, context_ + msg);
    }
    fail(found, msg);
  }

  void expect_punct(char c, const std::string& where) {
    if (!is_punct(peek(), c)) fail_expected(std::string("'") + c + "' " + where);
    next();
  }
  void expect_word(const char* w, const std::string& where) {
    if (!is_word(peek(), w)) fail_expected(std::string("'") + w + "' " + where);
    next();
  }
  const Token& expect_ident(const std::string& what) {
    if (peek().kind != Tok::kIdent) fail_expected(what);
    return next();
  }

  static bool valid_version(const std::string& s) {
    const size_t dot = s.find('.');
    if (dot == std::string::npos) return all_digits(s);
    return all_digits(std::string_view(s).substr(0, dot)) &&
           all_digits(std::string_view(s).substr(dot + 1));
  }

  // ---- program-level pieces ----
  void build_info(Program& p) {
    next();  // '['
    const Token& key = expect_ident("a program attribute name");
    if (key.text != "buildInfo")
      fail(key, "unknown program attribute '" + key.text + "' (only buildInfo is supported)");
    expect_punct('=', "after buildInfo");
    expect_word("dict", "(buildInfo is a dict<string, string>)");
    expect_punct('<', "after dict");
    string_type("dict key type");
    expect_punct(',', "between the dict's key and value types");
    string_type("dict value type");
    expect_punct('>', "to close the dict type");
    expect_punct('(', "before the dict's entries");
    expect_punct('{', "to open the dict's entries");
    if (!is_punct(peek(), '}')) {
      for (;;) {
        expect_punct('{', "to open a {key, value} entry");
        std::string k = dict_string();
        expect_punct(',', "between a dict key and its value");
        std::string v = dict_string();
        expect_punct('}', "to close a {key, value} entry");
        p.build_info.emplace_back(std::move(k), std::move(v));
        if (!is_punct(peek(), ',')) break;
        next();
      }
    }
    expect_punct('}', "to close the dict's entries");
    expect_punct(')', "after the dict's entries");
    expect_punct(']', "to close the program attributes");
  }

  void string_type(const char* what) {
    const Token& at = peek();
    Type t = type();
    if (!(t.dtype == DType::kString && t.is_scalar()))
      fail(at, std::string(what) + " must be string");
  }

  // A dict entry is a bare string in practice; a typed string literal is accepted too.
  std::string dict_string() {
    if (peek().kind == Tok::kString) return next().text;
    if (peek().kind == Tok::kIdent && starts_literal()) {
      const Token& at = peek();
      Literal l = literal();
      if (!(l.type.dtype == DType::kString && l.type.is_scalar()) || l.is_blob)
        fail(at, "buildInfo entries must be strings");
      return l.strings.at(0);
    }
    fail_expected("a string");
  }

  void function(Function& f) {
    expect_word("func", "to start a function");
    const Token& name = expect_ident("a function name");
    f.name = name.text;
    expect_punct('<', "before the function's opset (e.g. main<ios18>)");
    f.opset = expect_ident("an opset name such as ios18").text;
    expect_punct('>', "after the opset");
    expect_punct('(', "to open the function's inputs");
    context_ = "function '" + f.name + "': ";
    if (!is_punct(peek(), ')')) {
      for (;;) {
        Type t = type();
        const Token& in = expect_ident("an input name");
        define(in, "input '" + in.text + "'");
        f.inputs.emplace_back(in.text, std::move(t));
        if (!is_punct(peek(), ',')) break;
        next();
      }
    }
    expect_punct(')', "to close the function's inputs");
    expect_punct('{', "to open the function body");
    context_.clear();
    while (!is_punct(peek(), '}')) {
      if (peek().kind == Tok::kEnd) {
        context_ = "function '" + f.name + "': ";
        fail_expected("'}' to close the function body");
      }
      f.ops.push_back(statement());
    }
    next();  // '}'
    context_ = "function '" + f.name + "': ";
    if (peek().kind != Tok::kArrow) fail_expected("'-> (outputs)' after the function body");
    next();
    expect_punct('(', "to open the output list");
    if (!is_punct(peek(), ')')) {
      std::unordered_set<std::string> seen;
      for (;;) {
        const Token& out = expect_ident("an output name");
        if (!defined_.count(out.text)) fail(out, "output '" + out.text + "' is not defined");
        if (!seen.insert(out.text).second) fail(out, "output '" + out.text + "' is listed twice");
        f.outputs.push_back(out.text);
        if (!is_punct(peek(), ',')) break;
        next();
      }
    }
    expect_punct(')', "to close the output list");
    expect_punct(';', "after the output list");
    context_.clear();
  }

  // `what` names the definition, e.g. "input 'x'" or "op 'q': value 'q'".
  void define(const Token& name, const std::string& what) {
    auto [it, inserted] = defined_.emplace(name.text, name.line);
    if (!inserted)
      fail(name, what + " is already defined (line " + std::to_string(it->second) + ")");
  }

  // ---- statements ----
  Operation statement() {
    Operation op;
    const Token& first = peek();
    op.line = first.line;
    op.column = first.col;
    if (first.kind != Tok::kIdent || !(first.text == "tensor" || is_type_word(first.text)))
      fail_expected("a statement (TYPE name = op(...)[name = ...];) or '}'");
    op.type = type();
    const Token& result = expect_ident("the statement's result name");
    op.result = result.text;
    if (is_punct(peek(), ','))
      fail(peek(), "op '" + op.result + "': statements with several results are not supported");
    define(result, "op '" + op.result + "': value '" + op.result + "'");
    context_ = "op '" + op.result + "': ";
    expect_punct('=', "after the result name");
    op.op = expect_ident("an op name").text;
    expect_punct('(', "to open the op's arguments");
    if (!is_punct(peek(), ')')) {
      std::unordered_set<std::string> keys;
      for (;;) {
        const Token& key = expect_ident("an argument name");
        if (!keys.insert(key.text).second) fail(key, "argument '" + key.text + "' given twice");
        expect_punct('=', "after argument '" + key.text + "'");
        Arg value = arg_value();
        op.args.emplace_back(key.text, std::move(value));
        if (!is_punct(peek(), ',')) break;
        next();
      }
    }
    expect_punct(')', "to close the op's arguments");
    bool has_val = false;
    if (is_punct(peek(), '[')) {
      next();
      bool has_name = false;
      for (;;) {
        const Token& key = expect_ident("an attribute name (name or val)");
        expect_punct('=', "after attribute '" + key.text + "'");
        if (key.text == "name") {
          if (has_name) fail(key, "attribute 'name' given twice");
          has_name = true;
          // Apple's converters sometimes name an op differently from its result; the IR
          // keeps only the result name, which is what the printer writes back.
          const Token& at = peek();
          if (!(at.kind == Tok::kIdent && starts_literal()))
            fail_expected("a string literal for the name attribute");
          Literal l = literal();
          if (!(l.type.dtype == DType::kString && l.type.is_scalar()) || l.is_blob)
            fail(at, "the name attribute must be a string");
        } else if (key.text == "val") {
          if (has_val) fail(key, "attribute 'val' given twice");
          if (op.op != "const")
            fail(key, "attribute 'val' is only valid on const, not on " + op.op);
          has_val = true;
          if (!(peek().kind == Tok::kIdent && starts_literal()))
            fail_expected("a literal for the val attribute");
          op.val = literal();
        } else {
          fail(key, "unknown attribute '" + key.text + "' (expected name or val)");
        }
        if (!is_punct(peek(), ',')) break;
        next();
      }
      expect_punct(']', "to close the attributes");
    }
    if (op.op == "const" && !has_val) fail(first, "const needs a val attribute");
    expect_punct(';', "to end the statement");
    context_.clear();
    return op;
  }

  Arg arg_value() {
    const Token& t = peek();
    if (is_punct(t, '(')) {
      next();
      std::vector<std::string> names;
      if (!is_punct(peek(), ')')) {
        for (;;) {
          const Token& n = expect_ident("a value name in the list");
          require_defined(n);
          names.push_back(n.text);
          if (!is_punct(peek(), ',')) break;
          next();
        }
      }
      expect_punct(')', "to close the list");
      return Arg::refs(std::move(names));
    }
    if (t.kind == Tok::kIdent) {
      if (starts_literal()) return Arg::lit(literal());
      next();
      require_defined(t);
      return Arg::value(t.text);
    }
    if (t.kind == Tok::kNumber || t.kind == Tok::kString)
      fail(t, "untyped literal " + describe(t) +
                  ": write it with its type, e.g. fp16(0.5), int32(1) or string(\"valid\")");
    fail_expected("a value name, a typed literal or a (list)");
  }

  void require_defined(const Token& name) {
    if (!defined_.count(name.text))
      fail(name, "unknown value '" + name.text + "' (not defined before use)");
  }

  static bool is_type_word(const std::string& s) {
    DType d;
    return dtype_from_name(s, &d) || is_unsupported_dtype(s);
  }

  // An identifier starts a literal when it is a type followed by its opening token; a value may
  // still be named like a type (`x = fp16` is a reference).
  bool starts_literal() const {
    const Token& t = peek();
    if (t.kind != Tok::kIdent) return false;
    if (t.text == "tensor") return is_punct(peek(1), '<');
    return is_type_word(t.text) && is_punct(peek(1), '(');
  }

  // ---- types and literals ----
  DType dtype_word(const Token& t) {
    DType d;
    if (t.kind == Tok::kIdent && dtype_from_name(t.text, &d)) return d;
    if (t.kind == Tok::kIdent && is_unsupported_dtype(t.text))
      fail(t, "dtype '" + t.text + "' is not supported");
    fail(t, "expected a type (fp16, fp32, int32, bool, string, uint64 or tensor<...>), found " +
                describe(t));
  }

  Type type() {
    const Token& t = peek();
    if (!is_word(t, "tensor")) {
      if (t.kind != Tok::kIdent) fail_expected("a type");
      next();
      return Type{dtype_word(t), {}};
    }
    next();
    expect_punct('<', "after tensor");
    Type out;
    out.dtype = dtype_word(next());
    expect_punct(',', "between the tensor's dtype and shape");
    expect_punct('[', "to open the tensor's shape");
    if (!is_punct(peek(), ']')) {
      for (;;) {
        const Token& d = peek();
        if (d.kind == Tok::kIdent)
          fail(d, "dynamic dimension '" + d.text + "' is not supported: shapes must be static");
        if (d.kind != Tok::kNumber) fail_expected("a dimension");
        next();
        int64_t v = 0;
        const auto r = std::from_chars(d.text.data(), d.text.data() + d.text.size(), v);
        if (!all_digits(d.text) || r.ec != std::errc() || v > kMaxDim)
          fail(d, "bad dimension '" + d.text + "': expected an integer from 0 to 2147483647");
        if (out.shape.size() == kMaxRank)
          fail(d, "tensor rank exceeds the parser's limit of " + std::to_string(kMaxRank));
        out.shape.push_back(v);
        if (!is_punct(peek(), ',')) break;
        next();
      }
    }
    expect_punct(']', "to close the tensor's shape");
    expect_punct('>', "to close the tensor type");
    return out;
  }

  // TYPE(value), TYPE([nested, ...]) or TYPE(BLOBFILE(path = ..., offset = ...)).
  Literal literal(uint64_t* exact_uint = nullptr) {
    Literal l;
    l.type = type();
    expect_punct('(', "to open the literal's value");
    if (is_word(peek(), "BLOBFILE") && is_punct(peek(1), '(')) {
      blobfile(l);
    } else if (l.type.is_scalar()) {
      scalar_value(l, exact_uint);
    } else {
      if (l.type.dtype == DType::kString)
        fail(peek(), "string tensors of rank >= 1 are not supported");
      nested(l, 0);
    }
    expect_punct(')', "to close the literal");
    return l;
  }

  void blobfile(Literal& l) {
    const Token& at = next();  // BLOBFILE
    if (l.type.dtype == DType::kString || l.type.dtype == DType::kBool)
      fail(at,
           std::string("BLOBFILE needs a numeric tensor type, not ") + dtype_name(l.type.dtype));
    next();  // '('
    l.is_blob = true;
    bool has_path = false, has_offset = false;
    for (;;) {
      const Token& key = expect_ident("path or offset");
      expect_punct('=', "after '" + key.text + "'");
      const Token& value_at = peek();
      if (!(value_at.kind == Tok::kIdent && starts_literal())) fail_expected("a typed literal");
      if (key.text == "path") {
        if (has_path) fail(key, "BLOBFILE path given twice");
        has_path = true;
        Literal p = literal();
        if (!(p.type.dtype == DType::kString && p.type.is_scalar()) || p.is_blob)
          fail(value_at, "BLOBFILE path must be a string");
        l.blob_path = p.strings.at(0);
      } else if (key.text == "offset") {
        if (has_offset) fail(key, "BLOBFILE offset given twice");
        has_offset = true;
        uint64_t exact = 0;
        Literal o = literal(&exact);
        if (!(o.type.dtype == DType::kUint64 && o.type.is_scalar()) || o.is_blob)
          fail(value_at, "BLOBFILE offset must be a uint64");
        l.blob_offset = exact;
      } else {
        fail(key, "unknown BLOBFILE argument '" + key.text + "' (expected path and offset)");
      }
      if (!is_punct(peek(), ',')) break;
      next();
    }
    expect_punct(')', "to close BLOBFILE(...)");
    if (!has_path || !has_offset) fail(at, "BLOBFILE needs both path and offset");
  }

  void scalar_value(Literal& l, uint64_t* exact_uint) {
    const Token& t = peek();
    if (l.type.dtype == DType::kString) {
      if (t.kind != Tok::kString) fail_expected("a quoted string");
      l.strings.push_back(next().text);
      return;
    }
    l.numbers.push_back(element(l.type.dtype, exact_uint));
  }

  // Nested brackets, one level per axis, with exactly shape[axis] entries at each level. The
  // recursion depth is bounded by the rank limit.
  void nested(Literal& l, size_t axis) {
    const int64_t want = l.type.shape[axis];
    const Token& open = peek();
    expect_punct('[', "to open axis " + std::to_string(axis) + " of the tensor literal");
    int64_t count = 0;
    if (!is_punct(peek(), ']')) {
      for (;;) {
        if (count == want)
          fail(peek(), "too many entries along axis " + std::to_string(axis) +
                           " of the tensor literal (its type says " + std::to_string(want) + ")");
        if (axis + 1 == l.type.shape.size())
          l.numbers.push_back(element(l.type.dtype, nullptr));
        else
          nested(l, axis + 1);
        ++count;
        if (!is_punct(peek(), ',')) break;
        next();
      }
    }
    if (!is_punct(peek(), ']')) fail_expected("',' or ']' in the tensor literal");
    next();
    if (count != want)
      fail(open, "axis " + std::to_string(axis) + " of the tensor literal has " +
                     std::to_string(count) + " entries, its type says " + std::to_string(want));
  }

  // One number (or true/false) of the given dtype.
  double element(DType dtype, uint64_t* exact_uint) {
    const Token& t = peek();
    if (dtype == DType::kBool) {
      if (is_word(t, "true") || is_word(t, "false")) {
        next();
        return t.text == "true" ? 1.0 : 0.0;
      }
      fail_expected("true or false");
    }
    const bool word = t.kind == Tok::kIdent && (t.text == "inf" || t.text == "nan");
    if (t.kind != Tok::kNumber && !word)
      fail_expected(std::string("a ") + dtype_name(dtype) + " number");
    next();
    const std::string& s = t.text;
    if (dtype == DType::kInt32 || dtype == DType::kUint64) {
      const size_t skip = (s[0] == '-' || s[0] == '+') ? 1 : 0;
      if (!all_digits(std::string_view(s).substr(skip)))
        fail(t, "bad number '" + s + "': " + dtype_name(dtype) + " needs an integer");
      if (dtype == DType::kInt32) {
        int64_t v = 0;
        const auto r = std::from_chars(s.data() + skip, s.data() + s.size(), v);
        if (r.ec != std::errc() || v > (int64_t{1} << 31) - (skip && s[0] == '-' ? 0 : 1))
          fail(t, "int32 value '" + s + "' is out of range");
        return s[0] == '-' ? -static_cast<double>(v) : static_cast<double>(v);
      }
      if (s[0] == '-') fail(t, "uint64 value '" + s + "' is negative");
      uint64_t v = 0;
      const auto r = std::from_chars(s.data() + skip, s.data() + s.size(), v);
      if (r.ec != std::errc()) fail(t, "uint64 value '" + s + "' is out of range");
      if (exact_uint)
        *exact_uint = v;
      else if (v > kMaxExactUint)
        fail(t, "uint64 value '" + s + "' exceeds 2^53");
      return static_cast<double>(v);
    }
    // Floating point: decimal, C hex float, inf or nan, with an optional sign.
    const bool negative = s[0] == '-';
    std::string_view body = std::string_view(s).substr((s[0] == '-' || s[0] == '+') ? 1 : 0);
    double v = 0;
    if (body == "inf" || body == "nan") {
      v = body == "inf" ? std::numeric_limits<double>::infinity()
                        : std::numeric_limits<double>::quiet_NaN();
    } else if (body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')) {
      body.remove_prefix(2);
      const auto r =
          std::from_chars(body.data(), body.data() + body.size(), v, std::chars_format::hex);
      if (!valid_hex_float(body) || r.ptr != body.data() + body.size())
        fail(t, "bad number '" + s + "'");
      if (r.ec != std::errc()) fail(t, "number '" + s + "' is out of range");
    } else {
      const auto r =
          std::from_chars(body.data(), body.data() + body.size(), v, std::chars_format::general);
      if (!valid_decimal(body) || r.ptr != body.data() + body.size())
        fail(t, "bad number '" + s + "'");
      if (r.ec != std::errc()) fail(t, "number '" + s + "' is out of range");
    }
    return negative ? -v : v;
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
  const std::string& source_;
  std::string context_;  // "op 'q': " while inside a statement, prefixed to every error
  std::unordered_map<std::string, int> defined_;  // value name -> line of its definition
};

}  // namespace

Program parse_program(std::string_view text, const std::string& source_name) {
  Parser parser(Lexer(text, source_name).run(), source_name);
  return parser.program();
}

}  // namespace anetrain::mil
