// The interface each weight format implements, in its own file (weights_anetrain.cpp, ...),
// with a function returning its codec that model/weights.cpp declares and lists.
#pragma once

#include <string>

#include "model/weights.h"

namespace anetrain {

class WeightCodec {
 public:
  virtual ~WeightCodec() = default;
  // True if the file or directory at `path` is in this format (a cheap look at its start or
  // name; reading it may still find it damaged).
  virtual bool recognizes(const std::string& path) const = 0;
  virtual WeightsMetadata read_metadata(const std::string& path) const = 0;
  virtual void read(const std::string& path, const ParamLayout& layout, float* params) const = 0;
  virtual void write(const std::string& path, const ParamLayout& layout, const float* params,
                     const WeightsMetadata& metadata) const = 0;
};

}  // namespace anetrain
