// binary16 <-> binary32 conversion by bit manipulation; see fp16.h for the rounding contract.
#include "core/fp16.h"

#include <bit>

namespace anetrain {
namespace {

constexpr uint32_t kF32ExpMask = 0x7f800000u;
// Smallest fp32 magnitude that rounds to fp16 infinity: 65520 = 65504 + half an fp16 ulp there.
// It is an exact tie, and 65504's mantissa (0x3ff) is odd, so ties-to-even rounds it up.
constexpr uint32_t kF32OverflowBits = 0x477ff000u;
// 2^-14, the smallest normal fp16; below it the result is an fp16 subnormal (or zero).
constexpr uint32_t kF32MinNormalHalfBits = 0x38800000u;
// 2^-25, half the smallest fp16 subnormal: a tie between 0 and 2^-24 that goes to 0 (even).
constexpr uint32_t kF32HalfMinSubnormalBits = 0x33000000u;
// fp32 and fp16 exponent biases differ by 127 - 15.
constexpr uint32_t kBiasDelta = 112;

}  // namespace

uint16_t fp32_to_fp16(float value) {
  const uint32_t x = std::bit_cast<uint32_t>(value);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t magnitude = x & 0x7fffffffu;

  if (magnitude > kF32ExpMask) {
    // NaN: keep the payload's top bits. If they are all zero the result would read as infinity,
    // so fall back to the quiet bit.
    uint32_t payload = (magnitude >> 13) & 0x3ffu;
    if (payload == 0) payload = 0x200u;
    return static_cast<uint16_t>(sign | 0x7c00u | payload);
  }
  if (magnitude >= kF32OverflowBits) return static_cast<uint16_t>(sign | 0x7c00u);  // incl. inf
  if (magnitude >= kF32MinNormalHalfBits) {
    // Normal: rebias the exponent, then round the 13 dropped mantissa bits to nearest even.
    // A mantissa carry correctly bumps the exponent; the overflow test above keeps the result
    // at or below 0x7bff.
    uint32_t r = magnitude - (kBiasDelta << 23);
    r += 0xfffu + ((r >> 13) & 1u);
    return static_cast<uint16_t>(sign | (r >> 13));
  }
  if (magnitude <= kF32HalfMinSubnormalBits) return sign;  // rounds to signed zero

  // Subnormal result: the value in units of 2^-24 is mantissa * 2^(exp - 126), exp in
  // [102, 112], so shift right by 126 - exp (14..24) and round the dropped bits to even. A
  // round-up to 0x400 yields the smallest normal, which is exactly the right encoding.
  const uint32_t exponent = magnitude >> 23;
  const uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126 - exponent;
  uint32_t q = mantissa >> shift;
  const uint32_t rest = mantissa & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (q & 1u))) ++q;
  return static_cast<uint16_t>(sign | q);
}

float fp16_to_fp32(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  const uint32_t mantissa = bits & 0x3ffu;

  if (exponent == 0x1f) {  // infinity or NaN (payload kept so fp32_to_fp16 restores it)
    return std::bit_cast<float>(sign | kF32ExpMask | (mantissa << 13));
  }
  if (exponent != 0) {
    return std::bit_cast<float>(sign | ((exponent + kBiasDelta) << 23) | (mantissa << 13));
  }
  // Zero or subnormal: mantissa * 2^-24 is exact in fp32 (at most 10 significant bits).
  const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
  return sign ? -magnitude : magnitude;
}

}  // namespace anetrain
