// Type checking for MIL programs, parsed (parser.h) or built in memory (builder.h): infers each
// op's result type from its inputs with coremltools opset semantics and compares it with the
// declared type. Also checks what the parser cannot see in a built program: names are valid
// identifiers, unique and defined before use; function outputs exist; literals hold as many
// values as their type says; arguments have the right kind (e.g. `axes` an int32 tensor
// constant, `keep_dims` a bool constant); unknown ops and unknown or missing arguments.
//
// Ops and their arguments (optional ones in brackets, with coremltools' defaults):
//   const()[val]
//   conv(x [N, C, *spatial] (rank 3..5), weight [OC, C/groups, *kernel], [bias [OC]],
//        [strides = 1s], [pad_type = "valid" | "same" | "same_lower" | "custom"], [pad = 0s],
//        [dilations = 1s], [groups = 1])                      -> [N, OC, *spatial']
//   linear(x [..., I], weight [O, I], [bias [O]])                 -> [..., O]
//   matmul(x, y, [transpose_x = false], [transpose_y = false])   rank >= 1, batch dims broadcast
//   add sub mul real_div pow maximum minimum (x, y)                numpy broadcasting, same dtype
//   sqrt exp sigmoid tanh relu silu abs square (x); rsqrt log (x, [epsilon]); gelu (x, [mode])
//   softmax(x, [axis = -1])
//   reduce_sum reduce_max reduce_min reduce_mean (x, [axes = all], [keep_dims = false])
//   reshape(x, shape)          shape entries > 0, or one -1 (inferred), or 0 (copy x's dim)
//   transpose(x, perm)
//   slice_by_size(x, begin, size)        size -1 runs to the end of the axis
//   slice_by_index(x, begin, end, [stride], [begin_mask], [end_mask], [squeeze_mask])
//   concat(values = (a, b, ...), axis, [interleave = false])
//   tile(x, reps)              reps int32 [rank of x], entries >= 1: dim i is x's dim i * reps[i]
//   cast(x, dtype = "fp16" | "fp32" | "int32" | "bool")
//   expand_dims(x, axes); squeeze(x, [axes = every size-1 axis])
// Float ops take fp16 or fp32; whether an op or dtype suits the ANE is the linter's question
// (profiles.h), not the checker's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backends/ane/mil/ir.h"
#include "backends/ane/mil/parser.h"

namespace anetrain::mil {

// Checks the program and returns the inferred result type of every op (index-aligned with
// program.main.ops) without comparing them to the declared types; ops see the inferred types
// of earlier ops. Throws MilError (located at the op's line when the program was parsed).
std::vector<Type> infer_types(const Program& program, const std::string& source_name = "<mil>");

// Checks the program, requiring every declared type to equal the inferred one. Throws MilError
// on the first problem, e.g. "model.mil:7:9: op 'y' (matmul): declared type tensor<fp16, [1, 4]>
// but the inputs give tensor<fp16, [1, 3]>".
void check_program(const Program& program, const std::string& source_name = "<mil>");

// The op names the checker knows, sorted.
const std::vector<std::string>& checked_ops();

// numpy broadcasting of two shapes; false when they do not broadcast.
bool broadcast_shape(const std::vector<int64_t>& a, const std::vector<int64_t>& b,
                     std::vector<int64_t>* out);

// Element count that saturates at INT64_MAX instead of overflowing: shapes come from untrusted
// text and may be absurd.
int64_t saturating_numel(const std::vector<int64_t>& shape);

// [A-Za-z_][A-Za-z0-9_@]*: the names MIL text can hold.
bool is_mil_identifier(const std::string& name);

}  // namespace anetrain::mil
