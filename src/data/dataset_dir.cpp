#include "data/dataset_dir.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/json_input.h"
#include "tokenizer/tokenizer_files.h"

namespace anetrain {
namespace fs = std::filesystem;

DatasetSource resolve_dataset(const std::string& data, const std::string& val) {
  DatasetSource source;
  source.train_glob = data;
  source.val_glob = val;
  if (!fs::is_directory(data)) return source;
  const fs::path manifest_path = fs::path(data) / "manifest.json";
  if (!fs::exists(manifest_path))
    throw UserError("'" + data +
                    "' is a directory without manifest.json: pass a prepared "
                    "dataset ('anetrain data prepare') or a glob of shards like '" +
                    data + "/*.bin'");
  try {
    const auto manifest =
        parse_json(read_file(manifest_path.string()), "'" + manifest_path.native() + "'");
    if (manifest.at("format") != "anetrain-dataset")
      throw UserError("'" + manifest_path.string() + "' is not an anetrain dataset manifest");
    const auto& tok = manifest.at("tokenizer");
    const std::string recorded = tok.at("spec").get<std::string>();
    source.tokenizer_checksum = tok.at("checksum").get<std::string>();
    if (!tok.contains("relative_to")) {
      // Prepared before datasets kept a copy: the spec is relative to where it was prepared.
      source.tokenizer_spec = recorded;
      if (!tokenizer_files_exist(recorded))
        source.tokenizer_problem =
            "dataset '" + data +
            "' names its tokenizer relative to the directory it was "
            "prepared in ('" +
            recorded +
            "', not found from here): run from that directory, "
            "pass --tokenizer SPEC, or prepare the dataset again (datasets now keep a copy of "
            "their tokenizer)";
    } else if (tok.at("relative_to") == "dataset") {
      source.tokenizer_spec = resolve_tokenizer_spec(recorded, data);
      if (!tokenizer_files_exist(source.tokenizer_spec))
        source.tokenizer_problem = "dataset '" + data + "' lacks its copy of the tokenizer ('" +
                                   source.tokenizer_spec +
                                   "' is incomplete): prepare it again with 'anetrain data "
                                   "prepare --force', or pass --tokenizer SPEC";
    } else {
      throw UserError("'" + manifest_path.string() +
                      "' is not a valid dataset manifest: tokenizer.relative_to must be "
                      "\"dataset\"");
    }
    source.tokenizer_vocab_size = tok.at("vocab_size").get<int>();
    source.train_glob = (fs::path(data) / "train_*.bin").string();
    if (val.empty() && manifest.at("tokens").at("val").get<int64_t>() > 0)
      source.val_glob = (fs::path(data) / "val_*.bin").string();
  } catch (const nlohmann::json::exception& e) {
    throw UserError("'" + manifest_path.string() +
                    "' is not a valid dataset manifest: " + e.what());
  }
  return source;
}

}  // namespace anetrain
