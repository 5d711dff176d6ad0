// Reads MIL text (../shared/reference/ane.md "MIL text") into a Program. Two dialects:
//  - ours and Apple's current one: program(1.3), func main<ios18>, scalars written `fp16(1.0)`,
//    `string("valid")`, `uint64(64)`, `bool(true)`, `int32(3)`;
//  - the older ios16/ios17 one: program(1.0), func main<ios16>, every scalar a rank-0 tensor,
//    `tensor<string, []>("valid")`, types `tensor<fp32, []>`.
// Both read into the same IR (a rank-0 tensor type is a scalar), so printing a parsed ios16
// program emits the current dialect. Whitespace and newlines are insignificant; `//` starts a
// comment running to the end of the line; the `[buildInfo = ...]` attribute is optional.
//
// The parser checks syntax and names: every value is defined exactly once, before its first
// use, and every function output is defined. What an op means (known op, argument types,
// shapes) is the checker's job (checker.h). Any malformed input ends in a MilError; the parser
// never crashes, recurses without bound or loops on bad input (it is fuzzed:
// fuzz/mil_parser_fuzz.cpp).
//
// Limits, reported as errors: tensor rank <= 16, dimensions < 2^31, int32 literals in range,
// uint64 literals <= 2^53 (they are stored as doubles; BLOBFILE offsets are exact), floating
// literals finite in double or inf/nan, strings on one line with only \" and \\ escapes, one
// function per program, one result per statement, no dynamic (`?`) dimensions.
#pragma once

#include <string>
#include <string_view>

#include "backends/ane/mil/ir.h"
#include "core/error.h"

namespace anetrain::mil {

// An error in a MIL program, located in its source. what() is
// "<source>:<line>:<column>: <detail>", or "<source>: <detail>" when the location is unknown
// (line 0: programs built in memory carry no lines). Details name the op (by result name) or
// value involved, e.g. "model.mil:12:32: op 'q': unknown value 'xn' (not defined before use)".
class MilError : public UserError {
 public:
  MilError(const std::string& source, int line, int column, const std::string& detail);
  int line() const { return line_; }      // 1-based; 0 when unknown
  int column() const { return column_; }  // 1-based byte column; 0 when unknown
  const std::string& detail() const { return detail_; }

 private:
  int line_;
  int column_;
  std::string detail_;
};

// Parses a whole program. source_name only labels error messages (usually the file's path).
// Each Operation gets the line and column of its statement's first token.
Program parse_program(std::string_view text, const std::string& source_name);

}  // namespace anetrain::mil
