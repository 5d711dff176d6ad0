// Strict JSON for every file anetrain reads (configs, state.json, manifests, safetensors
// headers, tokenizer files, JSONL records). On top of nlohmann::json's RFC 8259 parser:
//  - nesting is limited to kMaxJsonDepth arrays/objects, so no later walk of the value (dump(),
//    comparisons, recursive readers) can overflow the stack on a hostile file;
//  - an object that names the same key twice is refused (nlohmann keeps the last one silently,
//    other readers the first: a file meaning two things is an error);
//  - every failure is a one-line UserError naming the input, with the parser's detail
//    shortened and stripped of control and non-ASCII bytes.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace anetrain {

// At most this many arrays/objects inside one another (the outermost counts as one).
inline constexpr int kMaxJsonDepth = 64;

// Parses `text` as one JSON value. `what` names the input in messages and reads as the subject
// of a sentence, e.g. "config file 'run.json'" or "'out/state.json'": errors read
// "<what> is not valid JSON: ...", "<what> nests JSON deeper than 64 levels",
// "<what> has the key \"dim\" twice in one object". Throws UserError.
nlohmann::json parse_json(std::string_view text, const std::string& what);

// The same rules for readers that skip bad records (JSONL lines): a value that parse_json
// would refuse comes back as a discarded value (is_discarded(), and neither an object nor an
// array) instead of an exception.
nlohmann::json parse_json_or_discarded(std::string_view text);

}  // namespace anetrain
