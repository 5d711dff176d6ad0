#include "backends/ane/mil/profiles.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <unordered_map>

#include "backends/ane/mil/checker.h"
#include "backends/ane/mil/printer.h"
#include "core/error.h"

namespace anetrain::mil {
namespace {

// The ops the seed's kernels compiled and ran on the ANE (ane.md "Ops used by the seed's
// kernels"), concat excluded: it has its own contested flag.
const std::set<std::string>& seed_ops() {
  static const std::set<std::string> ops = {
      "const",         "conv",           "matmul",  "add",     "sub",        "mul",     "real_div",
      "pow",           "rsqrt",          "sigmoid", "softmax", "reduce_sum", "reshape", "transpose",
      "slice_by_size", "slice_by_index", "cast"};
  return ops;
}

std::map<std::string, LintProfile> make_profiles() {
  std::map<std::string, LintProfile> out;

  LintProfile m1;
  m1.name = "m1-macos15";
  m1.description =
      "M1/M2-class ANE on macOS 15: axes <= 16384, ordered multi-I/O, contested constructs warned";
  m1.max_axis = 16384;
  m1.allowed_ops = seed_ops();
  // Element-wise and shape ops that coremltools routinely places on the ANE; gelu, silu and
  // reduce_mean stay out (contested or absent in the seed's experience). tile is allowed but
  // warned by its own rule (never seen to run).
  for (const char* op : {"sqrt", "exp", "log", "maximum", "minimum", "reduce_max", "relu", "tanh",
                         "expand_dims", "squeeze", "tile"})
    m1.allowed_ops.insert(op);
  out[m1.name] = m1;

  LintProfile m4 = m1;
  m4.name = "m4-macos15";
  m4.description = "M3/M4-class ANE on macOS 15: as m1-macos15 with axes <= 65536";
  m4.max_axis = 65536;
  out[m4.name] = m4;

  LintProfile strict;
  strict.name = "strict";
  strict.description =
      "only what ran on hardware: fp16 rank-4 single input and output, constant conv weights, "
      "seed ops only";
  strict.max_axis = 16384;
  strict.require_rank4_io = true;
  strict.allowed_ops = seed_ops();
  strict.io_dtype_severity = LintSeverity::kError;
  strict.multi_io_allowed = false;
  strict.require_equal_input_sizes = true;
  strict.conv_runtime_weights_allowed = false;
  out[strict.name] = strict;

  LintProfile loose;
  loose.name = "permissive";
  loose.description = "no hardware limits (CPU interpreter only); BLOBFILE rules still apply";
  loose.max_axis = std::numeric_limits<int64_t>::max();
  loose.max_rank = std::numeric_limits<int>::max();
  loose.require_fp16_io = false;
  loose.row_align_bytes = 0;
  loose.allowed_ops.insert(checked_ops().begin(), checked_ops().end());
  loose.require_ascending_input_sizes = false;
  loose.require_descending_output_sizes = false;
  loose.require_alphabetical_io_names = false;
  loose.warn_contested = false;
  loose.sram_weight_bytes = 0;
  loose.check_fp16_literal_range = false;
  loose.warn_inline_literals = false;
  loose.warn_axis0 = false;
  loose.slice_align_elements = 0;
  loose.surface_budget_bytes = 0;
  loose.io_width_multiple = 0;
  loose.matmul_inner_multiple = 0;
  loose.warn_rsqrt_after_reduction = false;
  loose.warn_tile = false;
  out[loose.name] = loose;
  return out;
}

const std::map<std::string, LintProfile>& profiles() {
  static const std::map<std::string, LintProfile> all = make_profiles();
  return all;
}

int64_t dtype_bytes(DType t) {
  switch (t) {
    case DType::kFp16:
      return 2;
    case DType::kFp32:
      return 4;
    case DType::kInt32:
      return 4;
    case DType::kBool:
      return 1;
    case DType::kUint64:
      return 8;
    case DType::kString:
      return 0;
  }
  return 0;
}

int64_t byte_size(const Type& t) {
  int64_t n = saturating_numel(t.shape);
  if (__builtin_mul_overflow(n, dtype_bytes(t.dtype), &n))
    return std::numeric_limits<int64_t>::max();
  return n;
}

// "17.25": megabytes (2^20 bytes) with at most two decimals.
std::string megabytes(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", static_cast<double>(bytes) / (1 << 20));
  std::string s = text;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

class Linter {
 public:
  Linter(const Program& p, const LintProfile& profile) : p_(p), prof_(profile) {}

  std::vector<LintIssue> run() {
    const Function& f = p_.main;
    for (const auto& [name, type] : f.inputs) {
      types_[name] = &type;
      inputs_.emplace(name, &type);
      value_limits(0, "", "input '" + name + "'", type);
      axis0_rule(0, "", "input '" + name + "'", type);
      io_rules(type, "input '" + name + "'");
    }
    io_arrangement();
    for (const Operation& op : f.ops) {
      types_[op.result] = &op.type;
      producers_[op.result] = &op;
      if (op.op == "const") consts_[op.result] = &op;
      op_rules(op);
    }
    for (const std::string& name : f.outputs) {
      const auto it = types_.find(name);
      if (it != types_.end()) io_rules(*it->second, "output '" + name + "'");
    }
    if (prof_.sram_weight_bytes > 0 && weight_bytes_ > prof_.sram_weight_bytes)
      add(0, "", "sram-weights", LintSeverity::kWarning,
          "BLOBFILE weights total " + std::to_string(weight_bytes_) + " bytes, above the ~" +
              std::to_string(prof_.sram_weight_bytes >> 20) +
              " MB on-chip SRAM: expect a large slowdown");
    return std::move(issues_);
  }

 private:
  void add(int line, const std::string& op, const char* rule, LintSeverity severity,
           std::string message) {
    issues_.push_back(LintIssue{line, op, rule, std::move(message), severity});
  }

  void axis0_rule(int line, const std::string& op, const std::string& what, const Type& t) {
    if (prof_.warn_axis0 && t.shape.size() == 4 && t.shape[0] > 1)
      add(line, op, "axis0", LintSeverity::kWarning,
          what + " " + print_type(t) + ": axis 0 is " + std::to_string(t.shape[0]) +
              ", above 1; programs seen to run keep axis 0 at 1 (heads on axis 1)");
  }

  void value_limits(int line, const std::string& op, const std::string& what, const Type& t) {
    if (static_cast<int64_t>(t.shape.size()) > prof_.max_rank)
      add(line, op, "rank", LintSeverity::kError,
          what + " " + print_type(t) + " has rank " + std::to_string(t.shape.size()) +
              ", above the limit " + std::to_string(prof_.max_rank));
    for (size_t i = 0; i < t.shape.size(); ++i) {
      if (t.shape[i] > prof_.max_axis) {
        add(line, op, "axis-size", LintSeverity::kError,
            what + " " + print_type(t) + ": axis " + std::to_string(i) + " is " +
                std::to_string(t.shape[i]) + ", above the per-axis limit " +
                std::to_string(prof_.max_axis));
        break;
      }
    }
  }

  void io_rules(const Type& t, const std::string& what) {
    if (prof_.require_fp16_io && t.dtype != DType::kFp16)
      add(0, "", "io-dtype", prof_.io_dtype_severity,
          what + " is " + print_type(t) + "; ANE I/O surfaces are fp16");
    if (prof_.require_rank4_io && t.shape.size() != 4)
      add(0, "", "io-rank4", LintSeverity::kError,
          what + " is " + print_type(t) + "; I/O must be rank 4 ([1, C, 1, S])");
    if (prof_.row_align_bytes > 0 && !t.shape.empty()) {
      const int64_t last = t.shape.back();
      int64_t bytes = 0;
      if (__builtin_mul_overflow(last, dtype_bytes(t.dtype), &bytes) ||
          bytes % prof_.row_align_bytes != 0) {
        const int64_t bytes_per = dtype_bytes(t.dtype);
        const int64_t multiple = bytes_per > 0 ? prof_.row_align_bytes / bytes_per : 0;
        add(0, "", "row-align", LintSeverity::kError,
            what + " " + print_type(t) + ": last axis " + std::to_string(last) + " is " +
                std::to_string(bytes) + " bytes, not a multiple of " +
                std::to_string(prof_.row_align_bytes) +
                (multiple > 0 ? " (use a multiple of " + std::to_string(multiple) + " elements)"
                              : ""));
      }
    }
    if (prof_.io_width_multiple > 0 && !t.shape.empty() &&
        t.shape.back() % prof_.io_width_multiple != 0)
      add(0, "", "io-width", LintSeverity::kWarning,
          what + " " + print_type(t) + ": width (last axis) " + std::to_string(t.shape.back()) +
              " is not a multiple of " + std::to_string(prof_.io_width_multiple) +
              ", reported as needed to avoid silent corruption");
    const int64_t bytes = byte_size(t);
    if (prof_.surface_budget_bytes > 0 && bytes > prof_.surface_budget_bytes)
      add(0, "", "surface-budget", LintSeverity::kWarning,
          what + " " + print_type(t) + " is " + megabytes(bytes) + " MB (" + std::to_string(bytes) +
              " bytes), above the surface budget of " + megabytes(prof_.surface_budget_bytes) +
              " MB (the seed's largest surface is ~11 MB; on-chip SRAM ~32 MB)");
  }

  void io_arrangement() {
    const Function& f = p_.main;
    // Outputs are declared after the body: look their types up before the ops are walked.
    std::unordered_map<std::string, const Type*> declared;
    for (const auto& in : f.inputs) declared.emplace(in.first, &in.second);
    for (const Operation& op : f.ops) declared.emplace(op.result, &op.type);
    std::vector<std::pair<std::string, Type>> outputs;
    for (const std::string& name : f.outputs) {
      const auto it = declared.find(name);
      if (it != declared.end()) outputs.emplace_back(name, *it->second);
    }
    if (!prof_.multi_io_allowed) {
      if (f.inputs.size() > 1 || f.outputs.size() > 1)
        add(0, "", "multi-io", LintSeverity::kError,
            "function has " + std::to_string(f.inputs.size()) + " inputs and " +
                std::to_string(f.outputs.size()) +
                " outputs; this profile allows one of each (multi-I/O requests are reported to "
                "fail)");
      return;
    }
    ordering(f.inputs, "input", prof_.require_ascending_input_sizes, true);
    ordering(outputs, "output", prof_.require_descending_output_sizes, false);
    if (prof_.require_equal_input_sizes && f.inputs.size() > 1) {
      for (size_t i = 1; i < f.inputs.size(); ++i)
        if (byte_size(f.inputs[i].second) != byte_size(f.inputs[0].second)) {
          add(0, "", "input-equal-size", LintSeverity::kError,
              "input '" + f.inputs[i].first + "' has " +
                  std::to_string(byte_size(f.inputs[i].second)) + " bytes but '" +
                  f.inputs[0].first + "' has " + std::to_string(byte_size(f.inputs[0].second)) +
                  "; this profile needs equal sizes");
          break;
        }
    }
  }

  void ordering(const std::vector<std::pair<std::string, Type>>& list, const std::string& what,
                bool sizes, bool ascending) {
    if (list.size() < 2) return;
    for (size_t i = 1; i < list.size(); ++i) {
      const auto& [prev_name, prev_type] = list[i - 1];
      const auto& [name, type] = list[i];
      const int64_t a = byte_size(prev_type), b = byte_size(type);
      if (sizes && a == b)
        add(0, "", ascending ? "input-order" : "output-order", LintSeverity::kWarning,
            what + " '" + name + "' has the size of '" + prev_name + "' (" + std::to_string(b) +
                " bytes): contested, one report needs strictly " +
                (ascending ? "ascending" : "descending") + " sizes, another equal ones");
      else if (sizes && (ascending ? b < a : b > a))
        add(0, "", ascending ? "input-order" : "output-order", LintSeverity::kError,
            what + " '" + name + "' (" + std::to_string(b) + " bytes) follows '" + prev_name +
                "' (" + std::to_string(a) + " bytes): " + what + "s must be declared in strictly " +
                (ascending ? "ascending" : "descending") + " order of size");
      if (prof_.require_alphabetical_io_names && !(prev_name < name))
        add(0, "", "io-names", LintSeverity::kError,
            what + " '" + name + "' follows '" + prev_name + "': " + what +
                "s must be declared in alphabetical order of name");
    }
  }

  void op_rules(const Operation& op) {
    const int line = op.line;
    value_limits(line, op.result, "result", op.type);
    // Weights keep their own layout ([OC, IC, kH, kW] for conv): axis0 is about activations.
    if (op.op != "const") axis0_rule(line, op.result, "result", op.type);
    if (op.op == "concat") {
      concat_rule(op);
    } else if (!prof_.allowed_ops.count(op.op)) {
      add(line, op.result, "op-allowed", LintSeverity::kError,
          "op " + op.op + " is not in profile " + prof_.name + "'s allow-list");
    }
    if (op.op == "tile" && prof_.warn_tile)
      add(line, op.result, "tile", LintSeverity::kWarning,
          "op tile was never seen to run on the ANE (no program that ran uses it)");
    if (op.op == "slice_by_size" || op.op == "slice_by_index") slice_rule(op);
    if (op.op == "matmul") matmul_rule(op);
    if (op.op == "rsqrt" && prof_.warn_rsqrt_after_reduction) {
      const Arg* x = op.arg("x");
      const auto from =
          x && x->kind == Arg::Kind::kRef ? producers_.find(x->ref) : producers_.end();
      if (from != producers_.end() && from->second->op.rfind("reduce_", 0) == 0)
        add(line, op.result, "rsqrt-after-reduction", LintSeverity::kWarning,
            "rsqrt reads '" + x->ref + "', the result of " + from->second->op +
                ", directly: reported to fail to compile (the seed adds eps and writes "
                "pow(x, -0.5))");
    }
    if (op.op == "conv") {
      const Arg* w = op.arg("weight");
      if (w && w->kind == Arg::Kind::kRef && !consts_.count(w->ref)) {
        const std::string msg = "conv weight '" + w->ref + "' is computed, not a constant";
        if (!prof_.conv_runtime_weights_allowed)
          add(line, op.result, "conv-runtime-weight", LintSeverity::kError,
              msg + " (not allowed by this profile)");
        else if (prof_.warn_contested)
          add(line, op.result, "conv-runtime-weight", LintSeverity::kWarning,
              msg + " (contested on the ANE)");
      }
    }
    if (op.op == "const") literal_rules(op, op.val, "val");
    for (const auto& [key, arg] : op.args) {
      if (arg.kind != Arg::Kind::kLiteral) continue;
      literal_rules(op, arg.literal, "argument '" + key + "'");
      if (prof_.warn_inline_literals && !arg.literal.is_blob)
        add(line, op.result, "inline-literal", LintSeverity::kWarning,
            "argument '" + key + "' of " + op.op +
                " is an inline literal; programs seen to run on the ANE pass it as a named "
                "const() value");
    }
  }

  // concat in the seed's form ran on hardware; other forms are contested.
  void concat_rule(const Operation& op) {
    if (!prof_.concat_allowed) {
      add(op.line, op.result, "concat", LintSeverity::kError,
          "concat is not allowed by this profile (contested on the ANE)");
      return;
    }
    if (!prof_.warn_contested) return;
    const auto rank = static_cast<int64_t>(op.type.shape.size());
    int64_t axis = last_int(op, "axis", 0);
    if (axis < 0) axis += rank;
    const bool interleave = last_int(op, "interleave", 0) != 0;
    const bool seed_form = rank == 4 && (axis == 1 || axis == 3) && !interleave;
    if (seed_form && prof_.concat_seed_form_ran) return;
    add(op.line, op.result, "concat", LintSeverity::kWarning,
        "concat on axis " + std::to_string(axis) + " of a rank-" + std::to_string(rank) + " value" +
            (interleave ? " with interleave" : "") + " is contested: some ANE compilers reject it" +
            (seed_form ? ""
                       : "; the seed's hardware-run kernels concatenate only on axis 1 or 3 of "
                         "rank-4 values, without interleave"));
  }

  // Slices of a function input (the dynamic weight blocks of a surface) start on an aligned
  // column of its last axis.
  void slice_rule(const Operation& op) {
    const Arg* x = op.arg("x");
    if (prof_.slice_align_elements <= 0 || !x || x->kind != Arg::Kind::kRef) return;
    const auto input = inputs_.find(x->ref);
    if (input == inputs_.end() || !constant(op, "begin") || input->second->shape.empty()) return;
    const Type& t = *input->second;
    const int64_t dim = t.shape.back();
    int64_t first = last_int(op, "begin", 0);
    if (first < 0) first += dim;
    if (op.op == "slice_by_index" && last_int(op, "begin_mask", 0) != 0)
      first = last_int(op, "stride", 1) < 0 ? dim - 1 : 0;
    if (first % prof_.slice_align_elements == 0) return;
    add(op.line, op.result, "slice-align", LintSeverity::kWarning,
        op.op + " of input '" + x->ref + "' begins at element " + std::to_string(first) +
            " of its last axis, not a multiple of " + std::to_string(prof_.slice_align_elements) +
            " (" + std::to_string(prof_.slice_align_elements * dtype_bytes(t.dtype)) +
            " bytes of " + dtype_name(t.dtype) +
            "); the seed's weight blocks start at multiples of the sequence length");
  }

  // The contraction dimension: x's last axis (second to last with transpose_x), or, when x's
  // type is unknown, y's second to last (last with transpose_y); rank-1 operands have one.
  void matmul_rule(const Operation& op) {
    if (prof_.matmul_inner_multiple <= 0) return;
    auto contracted = [&](const char* name, const char* flag, bool last_unless_flag) {
      const Type* t = value_type(op.arg(name));
      if (!t || t->shape.empty()) return std::optional<int64_t>();
      const bool last = t->shape.size() == 1 || (last_int(op, flag, 0) != 0) != last_unless_flag;
      return std::optional<int64_t>(t->shape[t->shape.size() - (last ? 1 : 2)]);
    };
    std::optional<int64_t> inner = contracted("x", "transpose_x", true);
    if (!inner) inner = contracted("y", "transpose_y", false);
    if (!inner || *inner % prof_.matmul_inner_multiple == 0) return;
    add(op.line, op.result, "matmul-inner", LintSeverity::kWarning,
        "matmul contracts over " + std::to_string(*inner) + " elements, not a multiple of " +
            std::to_string(prof_.matmul_inner_multiple) +
            ", reported as needed to avoid silent corruption");
  }

  // A constant argument's values (inline literal or const op), nullptr when absent, computed,
  // a BLOBFILE or empty.
  const Literal* constant(const Operation& op, const char* name) const {
    const Arg* a = op.arg(name);
    const Literal* l = nullptr;
    if (a && a->kind == Arg::Kind::kLiteral) l = &a->literal;
    if (a && a->kind == Arg::Kind::kRef) {
      const auto it = consts_.find(a->ref);
      if (it != consts_.end()) l = &it->second->val;
    }
    return l && !l->is_blob && !l->numbers.empty() ? l : nullptr;
  }

  // The last value of a constant argument (the value of a scalar) as an integer, or `fallback`.
  // Clamped: an unchecked program may hold any number there.
  int64_t last_int(const Operation& op, const char* name, int64_t fallback) const {
    const Literal* l = constant(op, name);
    if (!l) return fallback;
    const double v = l->numbers.back();
    return std::isfinite(v) ? static_cast<int64_t>(std::clamp(v, -1e15, 1e15)) : fallback;
  }

  const Type* value_type(const Arg* a) const {
    if (a && a->kind == Arg::Kind::kLiteral) return &a->literal.type;
    if (!a || a->kind != Arg::Kind::kRef) return nullptr;
    const auto it = types_.find(a->ref);
    return it == types_.end() ? nullptr : it->second;
  }

  void literal_rules(const Operation& op, const Literal& l, const std::string& what) {
    if (l.is_blob) {
      const std::string& path = l.blob_path;
      if (path.rfind(prof_.weights_prefix, 0) != 0 || path.find("/../") != std::string::npos ||
          path.size() == prof_.weights_prefix.size())
        add(op.line, op.result, "blob-path", LintSeverity::kError,
            what + ": BLOBFILE path \"" + path + "\" is not a file under " + prof_.weights_prefix);
      if (l.blob_offset < 64 || l.blob_offset % 64 != 0)
        add(op.line, op.result, "blob-offset", LintSeverity::kError,
            what + ": BLOBFILE offset " + std::to_string(l.blob_offset) +
                " must point at a 64-byte aligned metadata record (>= 64; the first is at 64)");
      if (seen_blobs_.emplace(path + "\n" + std::to_string(l.blob_offset), true).second &&
          __builtin_add_overflow(weight_bytes_, byte_size(l.type), &weight_bytes_))
        weight_bytes_ = std::numeric_limits<int64_t>::max();
      return;
    }
    if (!prof_.check_fp16_literal_range || l.type.dtype != DType::kFp16) return;
    for (double v : l.numbers) {
      const double a = std::fabs(v);
      if (std::isfinite(v) && (a > 65504.0 || (a != 0 && a < 5.9604644775390625e-08))) {
        add(op.line, op.result, "fp16-range", LintSeverity::kWarning,
            what + ": value " + std::to_string(v) +
                (a > 65504.0 ? " overflows fp16 (max 65504)" : " underflows fp16 to 0"));
        return;
      }
    }
  }

  const Program& p_;
  const LintProfile& prof_;
  std::vector<LintIssue> issues_;
  std::unordered_map<std::string, const Type*> types_;
  std::unordered_map<std::string, const Type*> inputs_;
  std::unordered_map<std::string, const Operation*> producers_;  // value -> op computing it
  std::unordered_map<std::string, const Operation*> consts_;
  std::unordered_map<std::string, bool> seen_blobs_;
  int64_t weight_bytes_ = 0;
};

}  // namespace

const LintProfile& lint_profile(const std::string& name) {
  const auto& all = profiles();
  const auto it = all.find(name);
  if (it == all.end()) {
    std::string known;
    for (const auto& [n, p] : all) known += (known.empty() ? "" : ", ") + n;
    throw UserError("unknown lint profile '" + name + "' (known: " + known + ")");
  }
  return it->second;
}

std::vector<std::string> lint_profile_names() {
  std::vector<std::string> names;
  for (const auto& [n, p] : profiles()) names.push_back(n);
  return names;
}

std::vector<LintIssue> lint_program(const Program& program, const LintProfile& profile) {
  return Linter(program, profile).run();
}

bool has_lint_errors(const std::vector<LintIssue>& issues) {
  for (const LintIssue& i : issues)
    if (i.severity == LintSeverity::kError) return true;
  return false;
}

std::string format_lint_issue(const LintIssue& issue, const std::string& source_name) {
  std::string s = source_name;
  if (issue.line > 0) s += ":" + std::to_string(issue.line);
  s += issue.severity == LintSeverity::kError ? ": error [" : ": warning [";
  s += issue.rule + "] ";
  if (!issue.op.empty()) s += "op '" + issue.op + "': ";
  return s + issue.message;
}

}  // namespace anetrain::mil
