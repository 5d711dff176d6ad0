#include "backends/ane/mil/printer.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace anetrain::mil {
namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Shortest text that reads back to the same double (so print/parse/print is stable).
std::string number(double v, DType t) {
  if (t == DType::kBool) return v != 0 ? "true" : "false";
  if (t == DType::kInt32 || t == DType::kUint64) return std::to_string(static_cast<long long>(v));
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

void nested(std::ostringstream& out, const Literal& l, size_t dim, size_t& index) {
  out << "[";
  for (int64_t i = 0; i < l.type.shape[dim]; ++i) {
    if (i) out << ", ";
    if (dim + 1 == l.type.shape.size())
      out << number(l.numbers[index++], l.type.dtype);
    else
      nested(out, l, dim + 1, index);
  }
  out << "]";
}

}  // namespace

std::string print_type(const Type& t) {
  if (t.is_scalar()) return dtype_name(t.dtype);
  std::string s = std::string("tensor<") + dtype_name(t.dtype) + ", [";
  for (size_t i = 0; i < t.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(t.shape[i]);
  return s + "]>";
}

std::string print_literal(const Literal& l) {
  std::ostringstream out;
  if (l.is_blob) {
    out << print_type(l.type) << "(BLOBFILE(path = string(" << quote(l.blob_path)
        << "), offset = uint64(" << l.blob_offset << ")))";
    return out.str();
  }
  if (l.type.is_scalar()) {
    if (l.type.dtype == DType::kString) return "string(" + quote(l.strings.at(0)) + ")";
    if (l.type.dtype == DType::kBool) return l.numbers.at(0) != 0 ? "bool(true)" : "bool(false)";
    return std::string(dtype_name(l.type.dtype)) + "(" + number(l.numbers.at(0), l.type.dtype) +
           ")";
  }
  out << print_type(l.type) << "(";
  size_t index = 0;
  nested(out, l, 0, index);
  out << ")";
  return out.str();
}

std::string print_program(const Program& p) {
  std::ostringstream out;
  out << "program(" << p.version << ")\n";
  out << "[buildInfo = dict<string, string>({";
  for (size_t i = 0; i < p.build_info.size(); ++i)
    out << (i ? ", " : "") << "{" << quote(p.build_info[i].first) << ", "
        << quote(p.build_info[i].second) << "}";
  out << "})]\n{\n";
  const Function& f = p.main;
  out << "    func " << f.name << "<" << f.opset << ">(";
  for (size_t i = 0; i < f.inputs.size(); ++i)
    out << (i ? ", " : "") << print_type(f.inputs[i].second) << " " << f.inputs[i].first;
  out << ") {\n";
  for (const Operation& op : f.ops) {
    out << "        " << print_type(op.type) << " " << op.result << " = " << op.op << "(";
    for (size_t i = 0; i < op.args.size(); ++i) {
      const auto& [key, arg] = op.args[i];
      out << (i ? ", " : "") << key << " = ";
      if (arg.kind == Arg::Kind::kRef)
        out << arg.ref;
      else if (arg.kind == Arg::Kind::kLiteral)
        out << print_literal(arg.literal);
      else {
        out << "(";
        for (size_t j = 0; j < arg.list.size(); ++j) out << (j ? ", " : "") << arg.list[j];
        out << ")";
      }
    }
    out << ")[name = string(" << quote(op.result) << ")";
    if (op.op == "const") out << ", val = " << print_literal(op.val);
    out << "];\n";
  }
  out << "    } -> (";
  for (size_t i = 0; i < f.outputs.size(); ++i) out << (i ? ", " : "") << f.outputs[i];
  out << ");\n}\n";
  return out.str();
}

}  // namespace anetrain::mil
