#pragma once
// Where shared data sets and shipped models live.
#include <string>

namespace covscreen {

// $COVSCREEN_DATA if set, else <source dir>/../shared/datasets.
std::string datasets_root();

// $COVSCREEN_MODEL if set, else the shipped model under <source dir>/models/.
std::string default_model_path();

}  // namespace covscreen
