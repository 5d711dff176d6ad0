#include "support/torch_golden.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "model/params.h"

namespace anetrain::testing {

Diff compare(const float* a, const std::vector<float>& b) {
  double diff2 = 0, ref2 = 0, max_abs = 0, max_ref = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    diff2 += d * d;
    ref2 += static_cast<double>(b[i]) * b[i];
    max_abs = std::max(max_abs, std::fabs(d));
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(b[i])));
  }
  return {std::sqrt(diff2 / std::max(ref2, 1e-30)), max_abs / std::max(max_ref, 1e-30)};
}

RunConfig gqa_golden_config() {
  RunConfig config = load_config("tiny");
  config.model.dim = 96;
  config.model.n_heads = 6;
  config.model.n_kv_heads = 2;  // three query heads per kv head
  config.model.n_layers = 3;
  config.model.hidden_dim = 160;
  config.model.seq_len = 33;
  config.model.vocab_size = 301;
  config.model.tied_embeddings = false;
  config.train.batch_size = 3;
  config.train.grad_accum = 2;
  return config;
}

std::vector<int32_t> write_golden_case(const TempDir& dir, const RunConfig& config, int steps,
                                       const std::vector<float>& params) {
  nlohmann::json cj = config_to_json(config);
  cj["steps"] = steps;
  std::ofstream(dir.file("config.json")) << cj.dump();
  const ParamLayout layout(config.model);
  SafetensorsWriter writer;
  for (const ParamInfo& t : layout.tensors())
    writer.add_f32(t.name, t.shape, params.data() + t.offset);
  writer.write(dir.file("model.safetensors"));
  const int64_t windows =
      static_cast<int64_t>(steps) * config.train.grad_accum * config.train.batch_size;
  std::vector<int32_t> batches =
      pattern_tokens(windows * (config.model.seq_len + 1), config.model.vocab_size, 5);
  std::ofstream out(dir.file("batches.bin"), std::ios::binary);
  out.write(reinterpret_cast<const char*>(batches.data()), batches.size() * 4);
  return batches;
}

::testing::AssertionResult run_torch_golden(const TempDir& dir) {
  const char* env = std::getenv("ANETRAIN_PYTHON");
  const std::string command = std::string(env ? env : "/usr/bin/python3") + " " + source_dir() +
                              "/tools/torch_golden.py --case " + dir.path() + " --out " +
                              dir.file("golden.safetensors");
  if (std::system(command.c_str()) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "PyTorch golden run failed (is python3-torch installed? run scripts/setup.sh): "
         << command;
}

void GoldenBatches::next(int32_t* inputs, int32_t* targets) {
  const int64_t window = seq_ + 1;
  const int32_t* base = windows_.data() + next_ * batch_ * window;
  for (int64_t b = 0; b < batch_; ++b)
    for (int64_t s = 0; s < seq_; ++s) {
      inputs[b * seq_ + s] = base[b * window + s];
      targets[b * seq_ + s] = base[b * window + s + 1];
    }
  ++next_;
}

}  // namespace anetrain::testing
