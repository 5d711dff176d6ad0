// Platform-independent part of core/gemm.h: naming the precision modes.
#include "core/error.h"
#include "core/gemm.h"

namespace anetrain {

GemmPrecision parse_gemm_precision(const std::string& name) {
  if (name == "fp32") return GemmPrecision::kFp32;
  if (name == "bf16") return GemmPrecision::kBf16;
  throw UserError("precision '" + name + "' is unknown: use fp32 or bf16");
}

}  // namespace anetrain
