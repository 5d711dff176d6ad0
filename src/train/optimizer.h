// The optimizer interface, global-norm gradient clipping matching torch.nn.utils.clip_grad_norm_,
// and the warmup + cosine learning-rate schedule.
//
// An optimizer owns named state tensors, each one float per parameter of the layout it updates
// (AdamW: "m" and "v"; Lion: "m"). Everything outside the optimizer goes through those names:
// checkpoints store state tensor S of parameter NAME as "S.NAME" in optimizer.safetensors
// (train/checkpoint.h), the memory formula counts state_bytes_per_param(), and resume reads the
// tensors back by name. The config key `optimizer` chooses one from optimizer_kinds().
//
// Adding an optimizer: its own file (a class derived from Optimizer and a make_ function, as
// train/lion.cpp), that function's declaration and one line in optimizer_kinds()
// (train/optimizer_registry.cpp), its tests. Code outside uses make_optimizer() and this
// interface only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "model/config.h"
#include "model/params.h"
#include "train/grad_norm.h"

namespace anetrain {

// lr at 0-based step t of total: linear warmup to lr over warmup steps ((t+1)/warmup), then
// cosine from lr down to lr * min_lr_frac at the last step.
float learning_rate(const TrainConfig& c, int64_t step, int64_t total_steps);

// The factor that brings a global norm down to max_norm (1 when it is already below, or when
// max_norm <= 0), computed as torch.nn.utils.clip_grad_norm_ does.
float clip_coefficient(double norm, float max_norm);

// One state tensor: `values` holds one float per parameter of Optimizer::layout(), in the
// layout's order, so the slice of parameter tensor t is values[t.offset, t.offset + t.numel).
struct OptimizerState {
  std::string name;  // "m", "v": the prefix of its tensors in optimizer.safetensors
  FloatBuffer values;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // The config key's value that chooses it ("adamw").
  const std::string& name() const { return name_; }
  // The parameters it updates (the whole model; an adapter's layout for adapters).
  const ParamLayout& layout() const { return layout_; }
  // The profiler's label for update() ("host AdamW").
  const char* profile_label() const { return profile_label_; }

  // Sharded optimizer state (ZeRO stage 1, dist/grad_exchange.h): from now on this optimizer
  // updates only parameters [begin, end) of the layout and holds state for those alone (each
  // state tensor end - begin floats, zeroed; index i is parameter begin + i). update() still
  // takes whole-layout params and grads and reads only that range of them.
  void restrict_to(int64_t begin, int64_t end);
  int64_t first_param() const { return shard_begin_; }
  int64_t end_param() const { return shard_end_; }

  // One update of every parameter; `step` is the 1-based count of updates including this one.
  // The update reads grads[i] * grad_multiplier, which is how the trainer clips: folding the
  // clip coefficient in saves a read-modify-write pass over every gradient (the update is
  // memory-bound) and gives the same floats as clipping in place first.
  virtual void update(float* params, const float* grads, float lr, int64_t step,
                      float grad_multiplier = 1.0f) = 0;
  // The end of every step: the global gradient norm (finished from `norm`, which start()ed on
  // these grads and may already have summed the parts backward finished), then update() with
  // the clip coefficient folded in. Returns the norm (before clipping). A norm that is not
  // finite (inf or nan gradients) leaves the parameters and the state untouched: the step is not
  // applied. Profiled as "host grad norm" and the optimizer's own label ("host AdamW").
  double clipped_update(float* params, const float* grads, float lr, int64_t step, float max_norm,
                        GradNorm& norm);

  // The named state tensors, in the order checkpoints write them.
  std::vector<OptimizerState>& state() { return state_; }
  const std::vector<OptimizerState>& state() const { return state_; }
  // The state tensor called `name`; std::logic_error if it has none.
  FloatBuffer& state(const std::string& name);
  const FloatBuffer& state(const std::string& name) const;

  // The bytes one update() must move: it reads the parameters, their gradients and each state
  // tensor and writes back the parameters and the state, 4 bytes each, over the parameters it
  // updates.
  double update_bytes() const;

  // Bytes of state this process holds per parameter, for the memory formula (model/memory.h):
  // 4 per state tensor (a sharded optimizer holds a fraction of each).
  virtual double state_bytes_per_param() const;

 protected:
  // Allocates one zeroed state tensor per name. `profile_label` is a string literal.
  Optimizer(std::string name, const char* profile_label, const TrainConfig& config,
            const ParamLayout& layout, const std::vector<std::string>& state_names);

  // Runs span(s) over every parameter it updates ([0, layout().total()), or the range given to
  // restrict_to) in one parallel region, in spans that never cross a tensor. The span function
  // is where an optimizer's element loop goes.
  struct Span {
    int64_t begin, end;  // parameters [begin, end) of the layout
    int64_t state;       // index of parameter `begin` in the state tensors
    float shrink;  // 1 - lr * the tensor's weight decay (weight_decay, or 0 for norm gains unless
                   // decay_norms): decoupled weight decay multiplies each parameter by it
  };
  void for_each_span(float lr, const std::function<void(const Span&)>& span) const;

  const TrainConfig config_;

 private:
  std::string name_;
  const char* profile_label_;
  ParamLayout layout_;
  std::vector<OptimizerState> state_;
  // One (offset, numel) range per tensor, back to back from 0, and its weight decay.
  std::vector<std::pair<int64_t, int64_t>> decay_ranges_;
  std::vector<float> range_decay_;
  int64_t shard_begin_ = 0, shard_end_ = 0;
};

// A registered optimizer: the `optimizer` config value, what it is and how to make one.
struct OptimizerKind {
  std::string name, summary;
  std::function<std::unique_ptr<Optimizer>(const TrainConfig&, const ParamLayout&)> make;
};
const std::vector<OptimizerKind>& optimizer_kinds();

// The kind called `name`; a UserError naming the known ones otherwise.
const OptimizerKind& optimizer_kind(const std::string& name);

// The optimizer config.optimizer names, over `layout`'s parameters. Throws UserError for an
// unknown name.
std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& config, const ParamLayout& layout);

}  // namespace anetrain
