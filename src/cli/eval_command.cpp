// `anetrain eval --checkpoint PATH --data DIR|GLOB`: mean loss, perplexity and bits per byte of
// a model (any format train/model_source.h opens) over the full windows of a dataset.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "backends/backend.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/config_flags.h"
#include "core/error.h"
#include "core/parallel.h"
#include "data/data_loader.h"
#include "data/dataset_dir.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/transformer.h"

namespace anetrain {
namespace {

struct EvalTotals {
  int64_t windows = 0, tokens = 0, bytes = 0;
  double loss_sum = 0;  // nats, summed over predicted tokens
};

int run_eval(const Args& args) {
  const InferenceModel model = load_inference_model(args.get("checkpoint"), args.get("adapters"));
  const ModelConfig& mc = model.config.model;
  const DatasetSource data = resolve_dataset(args.get("data"), "", !args.has("no-verify"));
  if (!data.verification.empty()) std::fprintf(stderr, "%s\n", data.verification.c_str());
  // A prepared dataset is evaluated on its validation split when it has one.
  const std::string glob = data.val_glob.empty() ? data.train_glob : data.val_glob;
  const long long batch = args.get_int("batch"), max_windows = args.get_int("max-windows");
  if (batch < 1) throw UserError("anetrain eval: --batch must be at least 1");
  if (max_windows < 0) throw UserError("anetrain eval: --max-windows must be >= 0");
  SequentialLoader loader(glob, mc.seq_len, mc.vocab_size);
  const int64_t available = loader.num_windows();
  if (available == 0)
    throw UserError("anetrain eval: '" + glob + "' holds no full window of " +
                    std::to_string(mc.seq_len + 1) + " tokens");
  // --max-windows: every k-th window, spread over the whole data.
  const int64_t wanted = max_windows > 0 ? std::min<int64_t>(max_windows, available) : available;
  const int64_t stride = std::max<int64_t>(1, available / wanted);

  std::unique_ptr<Tokenizer> tokenizer;
  std::string spec = model.tokenizer_spec.empty() ? data.tokenizer_spec : model.tokenizer_spec;
  if (!spec.empty()) tokenizer = load_tokenizer(spec);

  init_thread_pool();
  std::unique_ptr<Backend> backend =
      make_backend(args.get("backend"), BackendOptions::from(model.config.train));
  backend->prepare_run(mc);
  Transformer net(mc, *backend, batch, mc.seq_len, false, false);
  const int64_t S = mc.seq_len;
  std::vector<int32_t> in(S), tg(S), inputs(batch * S), targets(batch * S);
  EvalTotals t;
  const auto start = std::chrono::steady_clock::now();
  auto last_report = start;
  const bool json = args.has("json");
  int64_t filled = 0;
  auto flush = [&] {
    if (filled == 0) return;
    // The last, partial batch runs on a model of its own size.
    std::unique_ptr<Transformer> tail;
    if (filled < batch) tail = std::make_unique<Transformer>(mc, *backend, filled, S, false, false);
    t.loss_sum += (tail ? *tail : net).forward(model.params.data(), inputs.data(), targets.data());
    t.windows += filled, t.tokens += filled * S;
    filled = 0;
  };
  for (int64_t w = 0; w < available && t.windows + filled < wanted; ++w) {
    loader.next_batch(1, in.data(), tg.data());
    if (w % stride != 0) continue;
    std::copy(in.begin(), in.end(), inputs.begin() + filled * S);
    std::copy(tg.begin(), tg.end(), targets.begin() + filled * S);
    if (tokenizer) t.bytes += static_cast<int64_t>(tokenizer->decode(tg).size());
    if (++filled == batch) flush();
    const auto now = std::chrono::steady_clock::now();
    if (!json && now - last_report > std::chrono::seconds(2)) {
      last_report = now;
      const double secs = std::chrono::duration<double>(now - start).count();
      const double rate = (t.windows + filled) / secs;
      std::fprintf(stderr, "eval: window %lld/%lld | loss %.4f | %.0f tok/s | ETA %.0fs\n",
                   static_cast<long long>(t.windows + filled), static_cast<long long>(wanted),
                   t.tokens ? t.loss_sum / t.tokens : 0.0, rate * S,
                   (wanted - t.windows - filled) / rate);
    }
  }
  flush();
  const double loss = t.loss_sum / static_cast<double>(t.tokens);
  const double bpb = t.bytes > 0 ? t.loss_sum / std::log(2.0) / static_cast<double>(t.bytes) : -1;
  const std::string scope = t.windows == available
                                ? "all " + std::to_string(available) + " windows"
                                : std::to_string(t.windows) + " of " + std::to_string(available) +
                                      " windows (one in every " + std::to_string(stride) + ")";
  if (json) {
    nlohmann::json j = {
        {"checkpoint", args.get("checkpoint")}, {"data", glob},       {"windows", t.windows},
        {"windows_available", available},       {"tokens", t.tokens}, {"loss", loss},
        {"perplexity", std::exp(loss)}};
    j["bits_per_byte"] = bpb >= 0 ? nlohmann::json(bpb) : nlohmann::json(nullptr);
    std::printf("%s\n", j.dump().c_str());
  } else {
    char bits[64] = "n/a (no tokenizer to count bytes)";
    if (bpb >= 0) std::snprintf(bits, sizeof bits, "%.4f", bpb);
    std::printf("eval %s on %s, %s (%lld tokens): loss %.4f | perplexity %.3f | bits per byte %s\n",
                args.get("checkpoint").c_str(), glob.c_str(), scope.c_str(),
                static_cast<long long>(t.tokens), loss, std::exp(loss), bits);
  }
  return 0;
}

}  // namespace

Command eval_command() {
  return {
      .name = "eval",
      .summary = "mean loss, perplexity and bits per byte of a model on a dataset",
      .flags = {{.name = "checkpoint",
                 .value = "PATH",
                 .help = "a run directory, or a model in any format 'anetrain info' reads",
                 .required = true},
                adapters_flag(),
                {.name = "data",
                 .value = "DIR|GLOB",
                 .help = "a prepared dataset (its validation split when it has one) or a glob of "
                         "token shards",
                 .required = true},
                {.name = "no-verify",
                 .help = "skip the sha256 check of a dataset directory's shards against its "
                         "manifest (which shards there are and their sizes are still checked)"},
                {.name = "max-windows",
                 .value = "N",
                 .default_value = "0",
                 .help = "evaluate at most N windows spread evenly over the data (0: all)"},
                {.name = "batch", .value = "N", .default_value = "4", .help = "windows a forward"},
                {.name = "backend",
                 .value = "cpu|ane",
                 .default_value = "cpu",
                 .help = "where the forward pass runs"},
                {.name = "json", .help = "print one JSON object instead of a line"}},
      .run = run_eval,
  };
}

}  // namespace anetrain
