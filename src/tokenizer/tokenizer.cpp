#include "tokenizer/tokenizer.h"

#include "core/error.h"
#include "tokenizer/bytes_tokenizer.h"
#include "tokenizer/gpt2_bpe.h"
#include "tokenizer/sentencepiece_tokenizer.h"

namespace anetrain {

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& spec) {
  if (spec == "bytes") return std::make_unique<BytesTokenizer>();
  if (spec.rfind("sp:", 0) == 0) return SentencePieceTokenizer::load(spec.substr(3));
  if (spec.rfind("gpt2:", 0) == 0) return Gpt2Tokenizer::load(spec.substr(5));
  throw UserError("unknown tokenizer spec '" + spec +
                  "': use bytes, sp:PATH.model or gpt2:DIR (with encoder.json and vocab.bpe; "
                  "scripts/fetch-tokenizer.sh gpt2 fetches them)");
}

}  // namespace anetrain
