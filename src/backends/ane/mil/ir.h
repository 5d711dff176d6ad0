// In-memory form of a MIL program, the text the ANE compiler ingests (../shared/reference/ane.md
// "MIL text"). The builder (builder.h) creates it, the printer (printer.h) writes Apple's syntax,
// the parser (parser.h) reads that syntax (and the older ios16 dialect) back, the checker
// (checker.h) infers types and lints against hardware profiles, and the interpreter
// (interpreter.h) runs it in fp16 on the CPU.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace anetrain::mil {

enum class DType { kFp16, kFp32, kInt32, kBool, kString, kUint64 };
const char* dtype_name(DType t);  // "fp16", "fp32", "int32", "bool", "string", "uint64"

// A value's type: a scalar (rank 0, written `fp16`, or `tensor<fp16, []>` in the old dialect) or
// a tensor with a static shape.
struct Type {
  DType dtype = DType::kFp16;
  std::vector<int64_t> shape;  // empty: scalar
  bool is_scalar() const { return shape.empty(); }
  int64_t numel() const;
  bool operator==(const Type&) const = default;
};

// A literal: numbers (stored as double; fp16/fp32/int32/bool/uint64), strings, or a BLOBFILE
// reference to a weight file (path like "@model_path/weights/w.bin", offset of its record).
struct Literal {
  Type type;
  std::vector<double> numbers;       // row-major, type.numel() of them (1 for a scalar)
  std::vector<std::string> strings;  // for string scalars
  bool is_blob = false;
  std::string blob_path;
  uint64_t blob_offset = 0;
};

// An operation argument: a reference to an earlier value, an inline literal, or a list of
// references (concat's `values = (a, b, c)`).
struct Arg {
  enum class Kind { kRef, kLiteral, kList };
  Kind kind = Kind::kRef;
  std::string ref;
  Literal literal;
  std::vector<std::string> list;

  static Arg value(std::string name) { return Arg{Kind::kRef, std::move(name), {}, {}}; }
  static Arg lit(Literal l) { return Arg{Kind::kLiteral, {}, std::move(l), {}}; }
  static Arg refs(std::vector<std::string> names) {
    return Arg{Kind::kList, {}, {}, std::move(names)};
  }
};

// `TYPE result = op(args...)[name = string("..."), val = ...];` For const, the value lives in
// `val`; other ops keep only the name attribute.
struct Operation {
  Type type;
  std::string result;
  std::string op;
  std::vector<std::pair<std::string, Arg>> args;
  Literal val;     // const only
  int line = 0;    // source line when parsed (0 when built)
  int column = 0;  // source column of the statement's first token when parsed (0 when built)

  const Arg* arg(const std::string& name) const;
};

struct Function {
  std::string name = "main";
  std::string opset = "ios18";
  std::vector<std::pair<std::string, Type>> inputs;
  std::vector<Operation> ops;
  std::vector<std::string> outputs;
};

struct Program {
  std::string version = "1.3";
  std::vector<std::pair<std::string, std::string>> build_info;
  Function main;
};

}  // namespace anetrain::mil
