#include "covscreen/core/paths.h"

#include <cstdlib>

namespace covscreen {

std::string datasets_root() {
  if (const char* e = std::getenv("COVSCREEN_DATA"); e && *e) return e;
  return std::string(COVSCREEN_SOURCE_DIR) + "/../shared/datasets";
}

std::string default_model_path() {
  if (const char* e = std::getenv("COVSCREEN_MODEL"); e && *e) return e;
  return std::string(COVSCREEN_SOURCE_DIR) + "/models/deep-ct-net-covid-ct.ckpt";
}

}  // namespace covscreen
