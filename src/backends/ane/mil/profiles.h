// Hardware lint for MIL programs: rules a program must follow to compile and run correctly on
// the ANE of a given chip/OS, beyond being well typed (checker.h). The rules come from
// ../shared/reference/ane.md. Where sources disagree ("contested"), the rule is a flag in the
// profile, so a stricter or looser profile is a different set of flags, never different code.
//
// Profiles (lint_profile(name)):
//  - "m1-macos15": M1/M2-class ANE. Axes <= 16384, rank <= 5, I/O rows 64-byte aligned, the
//    ANE op allow-list (tile among it); multiple inputs/outputs allowed but ordered as reported
//    necessary (inputs ascending in size, outputs descending, both alphabetical by name).
//    Warned: what is contested (fp32 I/O, concat off the seed's form, runtime conv weights,
//    equal I/O sizes) and what was never seen to run or is reported to fail or corrupt
//    silently (inline literals, axis 0 above 1, input slices off a 32-element column, surfaces
//    over 16 MB, I/O widths off a multiple of 16, matmul contractions off a multiple of 32,
//    rsqrt right after a reduction, tile). docs/ANE-RULES.md gives every rule's sources and
//    severities.
//  - "m4-macos15": as m1-macos15 with axes <= 65536.
//  - "strict": only what the programs that ran on hardware used, the rest as errors: axes <=
//    16384, fp16 I/O, single input and single output of rank 4 ([1, C, 1, S]), conv weights
//    must be constants, only the ops the seed's kernels ran (concat among them: unwarned in the
//    seed's form, warned otherwise); the never-seen-to-run warnings as in m1-macos15.
//  - "permissive": no hardware limits: every op the checker knows (incl. silu, gelu,
//    reduce_mean, linear, tile), any dtype, size or I/O arrangement, no warnings; BLOBFILE
//    rules still apply. For programs meant for the CPU interpreter only.
// A caller may copy a profile and change flags (e.g. to test one contested rule on hardware).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "backends/ane/mil/ir.h"

namespace anetrain::mil {

enum class LintSeverity { kError, kWarning };

struct LintProfile {
  std::string name;
  std::string description;
  int64_t max_axis = 16384;  // every dimension of every value (rule "axis-size")
  int max_rank = 5;          // every value's rank ("rank")
  // Function inputs and outputs are fp16 ("io-dtype"). The ANE computes in fp16, but the
  // seed's benchmarks with fp32 I/O and casts ran, so chip profiles only warn.
  bool require_fp16_io = true;
  LintSeverity io_dtype_severity = LintSeverity::kWarning;
  bool require_rank4_io =
      false;  // I/O tensors are rank 4, the [1, C, 1, S] surface layout ("io-rank4")
  int64_t row_align_bytes = 64;       // the last axis of each I/O tensor, in bytes, is a multiple
                                      // of this; 0 disables ("row-align")
  std::set<std::string> allowed_ops;  // ops allowed ("op-allowed"); concat is governed below too
  // Contested (ane.md): concat accepted by some compilers, rejected by others ("concat").
  bool concat_allowed = true;
  // concat in the form the seed's hardware-run kernels used (axis 1 or the last axis of a rank-4
  // value, interleave false) ran: not warned even with warn_contested; any other concat is.
  bool concat_seed_form_ran = true;
  // Multi-input/multi-output requests reported to fail (error 0x1d) or return zeros ("multi-io").
  bool multi_io_allowed = true;
  // With several inputs: their byte sizes ascending in declaration order, which is the binding
  // order ("input-order"). A descending pair is an error (reported silent zeros); an equal pair
  // is a warning, because another report says the inputs of a request must be equal in size.
  bool require_ascending_input_sizes = true;
  // With several outputs: byte sizes descending in declaration order ("output-order"), equal
  // pairs a warning as above.
  bool require_descending_output_sizes = true;
  // With several inputs (outputs): declared in alphabetical order of their names ("io-names").
  bool require_alphabetical_io_names = true;
  // One source: all inputs must have equal sizes. Contradicts ascending sizes, so profiles turn
  // on at most one of the two unless multi-I/O is disallowed anyway ("input-equal-size").
  bool require_equal_input_sizes = false;
  // Contested: conv with a computed (non-const) weight ("conv-runtime-weight").
  bool conv_runtime_weights_allowed = true;
  // When a contested construct is allowed, still report it as a warning so the output of a
  // failing compile points at the likely cause.
  bool warn_contested = true;
  // BLOBFILE paths must start with this ("blob-path"); offsets are metadata records, so they
  // are multiples of 64 and at least 64 ("blob-offset").
  std::string weights_prefix = "@model_path/weights/";
  // Total BLOBFILE weight bytes above which performance falls off the on-chip SRAM cliff
  // (~32 MB); a warning ("sram-weights"). 0 disables.
  int64_t sram_weight_bytes = int64_t{32} << 20;
  // fp16 literals beyond 65504 become inf; nonzero ones below 2^-24 become 0 ("fp16-range",
  // warning).
  bool check_fp16_literal_range = true;
  // A literal written inline as an op's argument: every program seen to run on hardware names
  // each non-tensor operand as a const() value instead (the seed's generators), so an inline one
  // is a construct never seen to run ("inline-literal", warning).
  bool warn_inline_literals = true;

  // Never seen to run, or reported to fail or corrupt silently: warnings (0 or false disables).
  // A rank-4 value (not a const) with axis 0 above 1: the seed's programs keep axis 0 at 1 and
  // heads on axis 1 ("axis0").
  bool warn_axis0 = true;
  // slice_by_size / slice_by_index reading a function input directly whose begin on the last
  // axis is not a multiple of this many elements; the seed's dynamic weight blocks start at
  // multiples of the sequence length. Slices of intermediate values are not checked
  // ("slice-align").
  int64_t slice_align_elements = 32;
  // A function input or output larger than this many bytes; the seed's largest surface is ~11 MB
  // and on-chip SRAM ~32 MB ("surface-budget").
  int64_t surface_budget_bytes = int64_t{16} << 20;
  // The last axis (spatial width) of a function input or output a multiple of this; reported
  // as needed to avoid silent corruption ("io-width").
  int64_t io_width_multiple = 16;
  // A matmul's contraction dimension (x's, after transpose_x; y's, after transpose_y, when x's
  // type is unknown) a multiple of this; reported as needed to avoid silent corruption
  // ("matmul-inner").
  int64_t matmul_inner_multiple = 32;
  // rsqrt whose x is the direct result of a reduce_* op: reported to fail to compile; the seed
  // adds eps and writes pow(x, -0.5) ("rsqrt-after-reduction").
  bool warn_rsqrt_after_reduction = true;
  // The op tile, never seen to run; the op-allowed rule decides separately whether it is
  // allowed at all ("tile").
  bool warn_tile = true;
};

struct LintIssue {
  int line = 0;         // source line of the op, 0 for function I/O or built programs
  std::string op;       // result name of the op involved, or "" for function I/O
  std::string rule;     // stable rule id, e.g. "axis-size" (see LintProfile)
  std::string message;  // what is wrong and what the limit is, naming the value
  LintSeverity severity = LintSeverity::kError;
};

// The named profile; throws UserError listing the known names for an unknown one.
const LintProfile& lint_profile(const std::string& name);
std::vector<std::string> lint_profile_names();

// Every issue, in program order (inputs, ops, outputs, program-wide). Reads declared types, so
// run check_program first for meaningful results; never throws on malformed programs.
std::vector<LintIssue> lint_program(const Program& program, const LintProfile& profile);

bool has_lint_errors(const std::vector<LintIssue>& issues);

// "model.mil:12: error [axis-size] op 'q': ..." (no line number when the issue has none).
std::string format_lint_issue(const LintIssue& issue, const std::string& source_name);

}  // namespace anetrain::mil
