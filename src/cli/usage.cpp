#include <cstdio>

#include "cli/commands.h"

namespace anetrain {

void print_usage() {
  std::printf(
      "anetrain: train Llama-family transformers on the CPU or Apple's Neural Engine\n"
      "\n"
      "usage:\n"
      "  anetrain train --config PRESET|FILE.json [--set key=value]... --data GLOB\n"
      "                 [--val GLOB] --steps N --out DIR [--resume] [--backend cpu|ane]\n"
      "                 [--seed S] [--tokenizer SPEC] [--precision fp32|bf16]\n"
      "  anetrain sample --checkpoint DIR [--prompt \"ID ID ...\"] [--max-tokens N]\n"
      "                  [--temperature T] [--top-p P] [--seed S] [--ids]\n"
      "  anetrain bench --config PRESET|FILE.json [--set key=value]... [--steps N]\n"
      "                 [--warmup N] [--backend cpu] [--precision fp32|bf16] [--json] [--profile]\n"
      "                 [--measure-peak]\n"
      "  anetrain tokenizer train --input PATH [--input PATH]... --vocab-size N --out FILE.model\n"
      "  anetrain tokenizer encode|decode --tokenizer SPEC   (stdin -> stdout)\n"
      "  anetrain data prepare --tokenizer SPEC --input PATH [--input PATH]... --out DIR\n"
      "                 [--val-fraction 0.05] [--text-field text] [--shard-tokens N] [--force]\n"
      "  anetrain ane emit --config PRESET --out DIR      (MIL programs + weights a Mac compiles)\n"
      "  anetrain ane lint FILE.mil [--profile m1-macos15|m4-macos15|strict]\n"
      "  anetrain ane check --config PRESET [--profile P] (fp16 interpreter vs CPU backend)\n"
      "  anetrain probe [--runs N]   ANE availability; on a Mac, dispatch latency and TFLOPS\n"
      "\n"
      "tokenizer SPEC: bytes | sp:PATH.model | gpt2:DIR (encoder.json + vocab.bpe)\n"
      "presets: tiny, stories15M, stories42M, stories110M, layer768\n"
      "--steps is the run's total: with --resume training continues until it.\n"
      "Config keys for --set are listed in docs/DESIGN.md (e.g. dim, n_layers, lr,\n"
      "batch_size, grad_accum, warmup_steps, decay_steps, weight_decay, grad_clip,\n"
      "recompute, val_every, save_every).\n");
}

}  // namespace anetrain
