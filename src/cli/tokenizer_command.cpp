// `anetrain tokenizer train|encode|decode`:
//   train   --input FILE... --vocab-size N --out FILE.model   (SentencePiece BPE, byte fallback)
//   encode  --tokenizer SPEC   text on stdin -> ids on stdout, space separated
//   decode  --tokenizer SPEC   ids on stdin -> text on stdout
#include <cstdio>
#include <iostream>
#include <iterator>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace anetrain {

int run_tokenizer_command(const std::vector<std::string>& argv) {
  if (argv.empty())
    throw UserError("anetrain tokenizer: expected train, encode or decode (run 'anetrain help')");
  const std::string verb = argv[0];
  const std::vector<std::string> rest(argv.begin() + 1, argv.end());
  if (verb == "train") {
    Args args("tokenizer train", rest, {"input", "vocab-size", "out", "max-sentences"}, {});
    SentencePieceTrainOptions o;
    o.inputs = args.all("input");
    o.out_path = args.require("out");
    o.vocab_size = static_cast<int>(args.get_int("vocab-size", 4096));
    o.max_sentences = args.get_int("max-sentences", o.max_sentences);
    if (o.inputs.empty()) args.require("input");
    train_sentencepiece(o);
    std::string model = o.out_path.ends_with(".model") ? o.out_path : o.out_path + ".model";
    auto t = load_tokenizer("sp:" + model);
    std::printf("trained %s: %d pieces (use --tokenizer sp:%s)\n", model.c_str(), t->vocab_size(),
                model.c_str());
    return 0;
  }
  if (verb == "encode" || verb == "decode") {
    Args args("tokenizer " + verb, rest, {"tokenizer"}, {});
    auto tokenizer = load_tokenizer(args.require("tokenizer"));
    std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    if (verb == "encode") {
      const std::vector<int32_t> ids = tokenizer->encode(input);
      std::string out;
      for (size_t i = 0; i < ids.size(); ++i) out += (i ? " " : "") + std::to_string(ids[i]);
      std::printf("%s\n", out.c_str());
    } else {
      std::vector<int32_t> ids;
      std::istringstream in(input);
      std::string word;
      while (in >> word) {
        char* end = nullptr;
        const long v = std::strtol(word.c_str(), &end, 10);
        if (*end != '\0' || word.empty())
          throw UserError("anetrain tokenizer decode: '" + word + "' is not a token id");
        ids.push_back(static_cast<int32_t>(v));
      }
      const std::string text = tokenizer->decode(ids);
      std::fwrite(text.data(), 1, text.size(), stdout);
    }
    return 0;
  }
  throw UserError("anetrain tokenizer: unknown action '" + verb + "': use train, encode or decode");
}

}  // namespace anetrain
