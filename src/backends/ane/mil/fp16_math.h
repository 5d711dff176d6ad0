// IEEE 754 binary16 ("fp16", the ANE's storage and compute type) conversions for the MIL
// interpreter: fp32 -> fp16 bits with round-to-nearest-even (overflow to inf, gradual underflow
// to subnormals, NaN kept NaN), fp16 bits -> fp32 (always exact), and round_fp16(), which
// snaps an fp32 value to the nearest fp16 value while keeping it as a float.
//
// Written with integer bit manipulation only, so the result does not depend on the FP rounding
// mode, compiler flags, or the availability of a hardware half type.
#pragma once

#include <bit>
#include <cstdint>

namespace anetrain::mil {

inline constexpr float kFp16Max = 65504.0f;                          // largest finite fp16
inline constexpr float kFp16MinNormal = 6.103515625e-05f;            // 2^-14
inline constexpr float kFp16MinSubnormal = 5.9604644775390625e-08f;  // 2^-24

inline uint16_t to_fp16_bits(float value) {
  const uint32_t f = std::bit_cast<uint32_t>(value);
  const uint32_t sign = (f >> 16) & 0x8000u;
  const uint32_t abs = f & 0x7fffffffu;
  if (abs >= 0x7f800000u) {
    // inf stays inf; NaN keeps its top payload bits and is forced quiet so it cannot turn
    // into inf when the payload's high bits are all zero.
    if (abs == 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u);
    return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
  }
  // 65520 is the midpoint between 65504 (odd mantissa) and 2^16; the tie goes to the even
  // neighbour, which is 2^16 = inf. Everything at or above it overflows.
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (abs >= 0x38800000u) {  // normal fp16 range (>= 2^-14)
    // Add half an fp16 ulp minus one, plus the current lowest kept bit: the truncating
    // shift then rounds to nearest with ties to even. A carry out of the mantissa bumps the
    // exponent, which is exactly the right rounded value.
    const uint32_t lowest_kept = (abs >> 13) & 1u;
    const uint32_t rounded = abs + 0xfffu + lowest_kept;
    return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
  }
  // Subnormal fp16 results are multiples of 2^-24. At or below 2^-25 (half of the smallest
  // subnormal, whose tie goes to the even zero) everything flushes to signed zero.
  if (abs <= 0x33000000u) return static_cast<uint16_t>(sign);
  const uint32_t exponent = abs >> 23;  // 102..112 here
  const uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - exponent;  // 14..24: value / 2^-24 = mantissa >> shift
  uint32_t m = mantissa >> shift;
  const uint32_t remainder = mantissa & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  if (remainder > half || (remainder == half && (m & 1u))) ++m;  // m == 0x400 encodes 2^-14
  return static_cast<uint16_t>(sign | m);
}

inline float from_fp16_bits(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {
    // Subnormal (or zero): mantissa * 2^-24, exact in fp32.
    const float magnitude = static_cast<float>(mantissa) * kFp16MinSubnormal;
    return sign ? -magnitude : magnitude;
  }
  return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

// The fp16 value nearest to `value` (ties to even), as a float.
inline float round_fp16(float value) { return from_fp16_bits(to_fp16_bits(value)); }

// The fp16 value nearest to a double (MIL literals are stored as doubles). Going through a
// plain double->float conversion first could round twice (e.g. 2049 + 2^-20 -> 2049.0f ->
// 2048 instead of 2050), so the float step rounds to odd: an inexact result keeps a set
// lowest bit, which records "a bit below was nonzero" for the second rounding to fp16. That
// is exact because fp32 carries more than two bits beyond fp16's 11.
inline float round_fp16_from_double(double value) {
  float f = static_cast<float>(value);
  if (static_cast<double>(f) != value && f - f == 0.0f) {  // inexact and finite
    const uint32_t bits = std::bit_cast<uint32_t>(f);
    if ((bits & 1u) == 0) {
      // The other float neighbour of `value` has the odd lowest bit; step one ulp toward it.
      const bool away_from_zero =
          (value > static_cast<double>(f)) == (f > 0.0f || (f == 0.0f && value > 0));
      f = std::bit_cast<float>(away_from_zero ? bits + 1u : bits - 1u);
    }
  }
  return round_fp16(f);
}

}  // namespace anetrain::mil
