// Kernel arguments meet program slots by name (backends/ane/slot_binding.h): the program's slot
// order decides where each tensor goes, whatever order the arguments are named in, and a slot
// or argument without its counterpart stops the run instead of shifting the others.
#include "backends/ane/slot_binding.h"

#include <gtest/gtest.h>

namespace anetrain::ane {
namespace {

const std::vector<SurfaceSlot> kSlots = {{"y", 8}, {"q", 16}, {"xnorm", 8}};

TEST(SlotBinding, FollowsTheProgramsOrderNotTheArguments) {
  float y = 0, q = 0, xnorm = 0;
  const std::map<std::string, float*> named = {{"xnorm", &xnorm}, {"y", &y}, {"q", &q}};
  EXPECT_EQ(bind(Kernel::kAttentionForward, kSlots, named), (std::vector<float*>{&y, &q, &xnorm}));
  std::vector<SurfaceSlot> reordered = {kSlots[2], kSlots[0], kSlots[1]};
  EXPECT_EQ(bind(Kernel::kAttentionForward, reordered, named),
            (std::vector<float*>{&xnorm, &y, &q}));
}

TEST(SlotBindingDeathTest, AnUnboundSlotOrAStrayArgumentStopsTheRun) {
  float t = 0;
  EXPECT_DEATH(
      bind(Kernel::kAttentionForward, kSlots, std::map<std::string, float*>{{"y", &t}, {"q", &t}}),
      "slot 'xnorm' is bound to no kernel argument");
  EXPECT_DEATH(bind(Kernel::kAttentionForward, kSlots,
                    std::map<std::string, float*>{{"y", &t}, {"q", &t}, {"xnorm", &t}, {"k", &t}}),
               "an argument is bound to no program slot");
}

TEST(SlotBinding, AttentionRowsAreHeadRowsOfTheirSequence) {
  KernelDims d;
  d.H = 2, d.B = 3, d.S = 4;
  // Channel h*S + i of sequence b is row i of head h: P[h][b][i][s].
  EXPECT_EQ(tensor_index(SlotLayout::kAttentionRows, d, 2, 1 * 4 + 3, 1),
            ((1 * 3 + 2) * 4 + 3) * 4 + 1);
  EXPECT_EQ(tensor_index(SlotLayout::kTokens, d, 2, 5, 1), 5 * 12 + 2 * 4 + 1);
}

}  // namespace
}  // namespace anetrain::ane
