// `anetrain tokenizer train|encode|decode`:
//   train   --input FILE... --vocab-size N --out FILE.model   (SentencePiece BPE, byte fallback)
//   encode  --tokenizer SPEC   text on stdin -> ids on stdout, space separated
//   decode  --tokenizer SPEC   ids on stdin -> text on stdout
#include <cerrno>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "data/tokenizer_training.h"
#include "tokenizer/tokenizer.h"

namespace anetrain {

namespace {

int run_train(const Args& args) {
  SentencePieceTrainOptions o;
  o.inputs = args.all("input");
  o.out_path = args.get("out");
  o.vocab_size = static_cast<int>(args.get_int("vocab-size"));
  o.max_sentences = args.get_int("max-sentences");
  train_sentencepiece(o);
  std::string model = o.out_path.ends_with(".model") ? o.out_path : o.out_path + ".model";
  auto t = load_tokenizer("sp:" + model);
  std::printf("trained %s: %d pieces (use --tokenizer sp:%s)\n", model.c_str(), t->vocab_size(),
              model.c_str());
  return 0;
}

int run_encode(const Args& args) {
  auto tokenizer = load_tokenizer(args.get("tokenizer"));
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  const std::vector<int32_t> ids = tokenizer->encode(input);
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ' ';
    out += std::to_string(ids[i]);
  }
  std::printf("%s\n", out.c_str());
  return 0;
}

int run_decode(const Args& args) {
  auto tokenizer = load_tokenizer(args.get("tokenizer"));
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  std::vector<int32_t> ids;
  std::istringstream in(input);
  std::string word;
  while (in >> word) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(word.c_str(), &end, 10);
    if (*end != '\0' || word.empty())
      throw UserError("anetrain tokenizer decode: '" + word + "' is not a token id");
    // Checked here, before narrowing to int32: 4294967396 would otherwise wrap to id 100.
    if (errno == ERANGE || v < 0 || v >= tokenizer->vocab_size())
      throw UserError("anetrain tokenizer decode: '" + word + "' is outside the tokenizer's ids " +
                      "(0.." + std::to_string(tokenizer->vocab_size() - 1) + ")");
    ids.push_back(static_cast<int32_t>(v));
  }
  const std::string text = tokenizer->decode(ids);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

Flag tokenizer_flag() {
  return {.name = "tokenizer",
          .value = "SPEC",
          .help = "bytes | sp:PATH.model | gpt2:DIR (encoder.json + vocab.bpe)",
          .required = true};
}

}  // namespace

std::vector<Command> tokenizer_commands() {
  const SentencePieceTrainOptions defaults;
  return {
      {.name = "tokenizer train",
       .summary = "train a SentencePiece BPE tokenizer (byte fallback, llama2.c's settings)",
       .flags =
           {
               {.name = "input",
                .value = "PATH",
                .help = "a .txt, .jsonl or .json corpus file, or a directory of them",
                .required = true,
                .repeated = true},
               {.name = "vocab-size",
                .value = "N",
                .default_value = "4096",
                .help = "pieces in the vocabulary"},
               {.name = "out",
                .value = "FILE.model",
                .help = "where the model goes",
                .required = true},
               {.name = "max-sentences",
                .value = "N",
                .default_value = std::to_string(defaults.max_sentences),
                .help = "input lines sampled for training"},
           },
       .run = run_train},
      {.name = "tokenizer encode",
       .summary = "text on stdin -> token ids on stdout, space separated",
       .flags = {tokenizer_flag()},
       .run = run_encode},
      {.name = "tokenizer decode",
       .summary = "token ids on stdin -> text on stdout",
       .flags = {tokenizer_flag()},
       .run = run_decode},
  };
}

}  // namespace anetrain
