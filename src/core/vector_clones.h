// ANETRAIN_AVX512_CLONES on a function: on x86-64 Linux with GCC, the function is compiled twice,
// for the build's floor (x86-64-v3: 256-bit vectors) and for x86-64-v4 (AVX-512: 512-bit
// vectors), and the dynamic loader binds the one the CPU can run when the program starts
// (target_clones, an ifunc resolved by CPUID). One binary thus runs everywhere and still uses
// AVX-512 where it exists, for the loops where vector width pays: exp and sigmoid over long rows
// (attention's softmax, the vocabulary's cross-entropy, SwiGLU). Memory-bound loops (AdamW,
// RMSNorm, copies) gain nothing from wider vectors and are not cloned.
//
// A lambda's body is a function of its own and is not cloned with its enclosing function, so the
// cloned work lives in free functions that lambdas call. Everything such a function inlines
// (vec_math.h) is compiled into each clone for that clone's target.
#pragma once

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__AVX512F__)
#define ANETRAIN_AVX512_CLONES __attribute__((target_clones("arch=x86-64-v4", "default")))
// For `anetrain --version` (core/cpu_info.h).
#define ANETRAIN_AVX512_CLONES_NOTE \
  "; AVX-512 versions of softmax, cross-entropy, SwiGLU chosen at run time"
#else
#define ANETRAIN_AVX512_CLONES
#define ANETRAIN_AVX512_CLONES_NOTE ""
#endif
