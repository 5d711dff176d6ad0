// FloatBuffer's storage starts on a cache line whatever its size, including the large blocks
// that glibc would otherwise place 16 bytes past a page boundary; and the training step's
// buffers (activations, per-thread scratch) are FloatBuffers.
#include "core/aligned_buffer.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "core/scratch.h"

namespace anetrain {
namespace {

bool on_cache_line(const void* p) { return reinterpret_cast<uintptr_t>(p) % kCacheLine == 0; }

TEST(AlignedBuffer, EverySizeStartsOnACacheLine) {
  for (size_t n : {1u, 3u, 17u, 1000u, 1u << 20, 3u << 20}) {
    FloatBuffer b(n, 1.0f);
    EXPECT_TRUE(on_cache_line(b.data())) << n << " floats";
    b.resize(n * 2 + 1);  // reallocation keeps the alignment
    EXPECT_TRUE(on_cache_line(b.data())) << n * 2 + 1 << " floats";
    EXPECT_EQ(b[0], 1.0f);
  }
}

TEST(AlignedBuffer, ThreadScratchIsAligned) {
  for (int slot = 0; slot < 4; ++slot) {
    EXPECT_TRUE(on_cache_line(thread_scratch(5, slot)));
    EXPECT_TRUE(on_cache_line(thread_scratch(1 << 19, slot)));
  }
}

}  // namespace
}  // namespace anetrain
