// `anetrain data prepare`: a text corpus -> a dataset directory the trainer reads.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "data/prepare.h"

namespace anetrain {
namespace {

int run_prepare(const Args& args) {
  PrepareOptions o;
  o.tokenizer_spec = args.get("tokenizer");
  o.inputs = args.all("input");
  o.out_dir = args.get("out");
  o.val_fraction = args.get_double("val-fraction");
  o.text_field = args.get("text-field");
  o.shard_tokens = args.get_int("shard-tokens");
  o.force = args.has("force");
  o.progress = !args.has("quiet");
  const PrepareResult r = prepare_dataset(o);
  std::printf(
      "prepared %s: %lld train tokens (%lld documents), %lld val tokens (%lld documents), "
      "%lld skipped, %.1f MB in %.1f s (%.2f MB/s)\n",
      o.out_dir.c_str(), static_cast<long long>(r.train_tokens),
      static_cast<long long>(r.train_documents), static_cast<long long>(r.val_tokens),
      static_cast<long long>(r.val_documents), static_cast<long long>(r.skipped), r.bytes / 1e6,
      r.seconds, r.bytes / 1e6 / std::max(r.seconds, 1e-9));
  return 0;
}

std::string number_text(double v) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", v);
  return text;
}

}  // namespace

std::vector<Command> data_commands() {
  const PrepareOptions defaults;
  return {{
      .name = "data prepare",
      .summary = "tokenize a corpus into train/validation token shards and a manifest",
      .flags =
          {
              {.name = "tokenizer",
               .value = "SPEC",
               .help = "bytes | sp:PATH.model | gpt2:DIR (encoder.json + vocab.bpe)",
               .required = true},
              {.name = "input",
               .value = "PATH",
               .help = "a .txt file (one document; over 4 MB, ~1 MB documents), a .jsonl/.json "
                       "file (one document per line), or a directory of them",
               .required = true,
               .repeated = true},
              {.name = "out", .value = "DIR", .help = "the dataset directory", .required = true},
              {.name = "val-fraction",
               .value = "F",
               .default_value = number_text(defaults.val_fraction),
               .help = "share held out for validation: every k-th document (k = 1/F), or, with "
                       "fewer than k documents, the last F of the tokens cut at a line start; 0 "
                       "for none"},
              {.name = "text-field",
               .value = "NAME",
               .default_value = defaults.text_field,
               .help = "the JSON field that holds each document's text"},
              {.name = "shard-tokens",
               .value = "N",
               .default_value = std::to_string(defaults.shard_tokens),
               .help = "tokens per shard file"},
              {.name = "force",
               .help = "replace the dataset in --out (the new one is built beside it and swapped "
                       "in when complete; a directory holding other files is refused)"},
              {.name = "quiet", .help = "no progress bar"},
          },
      .run = run_prepare,
  }};
}

}  // namespace anetrain
