#include "data/dataset_dir.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"

namespace anetrain {
namespace fs = std::filesystem;

DatasetSource resolve_dataset(const std::string& data, const std::string& val) {
  DatasetSource source;
  source.train_glob = data;
  source.val_glob = val;
  if (!fs::is_directory(data)) return source;
  const fs::path manifest_path = fs::path(data) / "manifest.json";
  if (!fs::exists(manifest_path))
    throw UserError("'" + data + "' is a directory without manifest.json: pass a prepared "
                    "dataset ('anetrain data prepare') or a glob of shards like '" + data +
                    "/*.bin'");
  try {
    const auto manifest = nlohmann::json::parse(read_file(manifest_path.string()));
    if (manifest.at("format") != "anetrain-dataset")
      throw UserError("'" + manifest_path.string() + "' is not an anetrain dataset manifest");
    const auto& tok = manifest.at("tokenizer");
    source.tokenizer_spec = tok.at("spec").get<std::string>();
    source.tokenizer_checksum = tok.at("checksum").get<std::string>();
    source.tokenizer_vocab_size = tok.at("vocab_size").get<int>();
    source.train_glob = (fs::path(data) / "train_*.bin").string();
    if (val.empty() && manifest.at("tokens").at("val").get<int64_t>() > 0)
      source.val_glob = (fs::path(data) / "val_*.bin").string();
  } catch (const nlohmann::json::exception& e) {
    throw UserError("'" + manifest_path.string() + "' is not a valid dataset manifest: " +
                    e.what());
  }
  return source;
}

}  // namespace anetrain
