#include "io/json_input.h"

#include <unordered_set>
#include <vector>

#include "core/error.h"

namespace anetrain {
namespace {

// Parser details quote the input ("last read: '...'"), which may be long or binary: keep the
// message one short printable line.
std::string printable_detail(std::string_view text) {
  constexpr size_t kMaxChars = 160;
  std::string out;
  for (char ch : text) {
    if (out.size() >= kMaxChars) {
      out += "...";
      break;
    }
    const unsigned char c = static_cast<unsigned char>(ch);
    out += (c < 0x20 || c >= 0x7f) ? '?' : ch;
  }
  return out;
}

std::string quoted_key(const std::string& key) {
  std::string out = "\"";
  out.append(printable_detail(key)).append("\"");
  return out;
}

// Object keys seen so far, one set per object still open; arrays hold no keys, so the last set
// always belongs to the object a key event is in.
class StrictCallback {
 public:
  explicit StrictCallback(const std::string& what) : what_(what) {}

  bool operator()(int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        // `depth` counts the containers around this one.
        if (depth >= kMaxJsonDepth)
          throw UserError(what_ + " nests JSON deeper than " + std::to_string(kMaxJsonDepth) +
                          " levels");
        if (event == Event::object_start) keys_.emplace_back();
        break;
      case Event::object_end:
        keys_.pop_back();
        break;
      case Event::key:
        if (!keys_.back().insert(parsed.get_ref<const std::string&>()).second)
          throw UserError(what_ + " has the key " +
                          quoted_key(parsed.get_ref<const std::string&>()) +
                          " twice in one object");
        break;
      case Event::array_end:
      case Event::value:
        break;
    }
    return true;
  }

 private:
  const std::string& what_;
  std::vector<std::unordered_set<std::string>> keys_;
};

}  // namespace

nlohmann::json parse_json(std::string_view text, const std::string& what) {
  StrictCallback strict(what);
  try {
    return nlohmann::json::parse(text, std::ref(strict));
  } catch (const nlohmann::json::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 3: ..." without the tag.
    std::string_view detail = e.what();
    if (auto tag_end = detail.find("] ");
        !detail.empty() && detail[0] == '[' && tag_end != std::string_view::npos)
      detail.remove_prefix(tag_end + 2);
    throw UserError(what + " is not valid JSON: " + printable_detail(detail));
  }
}

nlohmann::json parse_json_or_discarded(std::string_view text) {
  try {
    return parse_json(text, "record");
  } catch (const UserError&) {
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
}

}  // namespace anetrain
