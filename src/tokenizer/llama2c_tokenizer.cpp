#include "tokenizer/llama2c_tokenizer.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace anetrain {
namespace {

template <typename T>
void append_raw(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

// A piece as run.c prints it: U+2581 (UTF-8 E2 96 81) is the space it stands for.
std::string spaced(const std::string& piece) {
  static const std::string_view kMarker = "\xE2\x96\x81";
  std::string out;
  for (size_t at = 0; at < piece.size();) {
    const bool marker = piece.compare(at, kMarker.size(), kMarker) == 0;
    out += marker ? ' ' : piece[at];
    at += marker ? kMarker.size() : 1;
  }
  return out;
}

std::string tokenizer_bin(const sentencepiece::SentencePieceProcessor& sp) {
  const int n = sp.GetPieceSize();
  std::vector<std::string> pieces(n);
  int32_t max_length = 0;
  for (int id = 0; id < n; ++id) {
    if (id == sp.bos_id())
      pieces[id] = "\n<s>\n";
    else if (id == sp.eos_id())
      pieces[id] = "\n</s>\n";
    else
      pieces[id] = spaced(sp.IdToPiece(id));
    max_length = std::max(max_length, static_cast<int32_t>(pieces[id].size()));
  }
  std::string out;
  append_raw(out, max_length);
  for (int id = 0; id < n; ++id) {
    append_raw(out, sp.GetScore(id));
    append_raw(out, static_cast<int32_t>(pieces[id].size()));
    out += pieces[id];
  }
  return out;
}

}  // namespace

std::string llama2c_tokenizer_bin(const std::string& sp_model_path) {
  sentencepiece::SentencePieceProcessor sp;
  const auto status = sp.Load(sp_model_path);
  if (!status.ok())
    throw UserError("'" + sp_model_path + "' is not a SentencePiece model (" + status.ToString() +
                    "), which llama2.c's tokenizer.bin is made from");
  return tokenizer_bin(sp);
}

std::string llama2c_tokenizer_bin(const TokenizerFiles& files) {
  if (files.kind != "sp" || files.files.size() != 1)
    throw UserError(
        "llama2.c's tokenizer.bin needs a SentencePiece tokenizer (sp:PATH.model), "
        "not '" +
        (files.kind.empty() ? std::string("none") : files.kind) + "'");
  sentencepiece::SentencePieceProcessor sp;
  const auto status = sp.LoadFromSerializedProto(files.files[0].second);
  if (!status.ok())
    throw UserError("the tokenizer's " + files.files[0].first + " is not a SentencePiece model (" +
                    status.ToString() + ")");
  return tokenizer_bin(sp);
}

}  // namespace anetrain
