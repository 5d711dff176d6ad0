// Writes a Program as MIL text in Apple's current syntax (program(1.3), func main<ios18>):
// typed statements, `[name = string("...")]` attributes, BLOBFILE constants. The output is
// canonical: print(parse(print(p))) == print(p).
#pragma once

#include <string>

#include "backends/ane/mil/ir.h"

namespace anetrain::mil {

std::string print_program(const Program& program);
std::string print_type(const Type& type);
std::string print_literal(const Literal& literal);

}  // namespace anetrain::mil
