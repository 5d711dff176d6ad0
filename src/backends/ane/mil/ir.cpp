#include "backends/ane/mil/ir.h"

namespace anetrain::mil {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kFp16:
      return "fp16";
    case DType::kFp32:
      return "fp32";
    case DType::kInt32:
      return "int32";
    case DType::kBool:
      return "bool";
    case DType::kString:
      return "string";
    case DType::kUint64:
      return "uint64";
  }
  return "?";
}

int64_t Type::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const Arg* Operation::arg(const std::string& name) const {
  for (const auto& [key, value] : args)
    if (key == name) return &value;
  return nullptr;
}

}  // namespace anetrain::mil
