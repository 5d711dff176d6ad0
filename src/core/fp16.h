// IEEE 754 binary16 ("fp16", the ANE's native element type) <-> binary32 conversion on bit
// patterns, in portable integer code so results are identical on every host and compiler,
// with or without hardware half-precision support.
//
// fp32_to_fp16 rounds to nearest, ties to even; magnitudes from 65520 (65504 plus half an ulp)
// up overflow to infinity, tiny values become fp16 subnormals or signed zero. NaNs stay NaN and
// keep the top 10 bits of their payload, so fp16 -> fp32 -> fp16 reproduces all 65536 patterns.
#pragma once

#include <cstdint>

namespace anetrain {

uint16_t fp32_to_fp16(float value);
float fp16_to_fp32(uint16_t bits);

}  // namespace anetrain
