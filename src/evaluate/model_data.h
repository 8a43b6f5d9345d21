#pragma once
// Private to src/evaluate: a labelled data set as a model sees it, for `evaluate` and `model
// calibrate`. The data (pack, manifest or folder) is loaded with the model's stage-1 spec, its
// unreadable files are reported by name (core/log.h), and each image's label is mapped onto the
// model's classes through the canonical vocabulary (core/labels.h class_index): a covid /
// non-covid model counts pneumonia and normal images as non-covid.
#include <string>
#include <vector>

#include "covscreen/models/checkpoint.h"
#include "covscreen/preprocess/data_source.h"

namespace covscreen {

struct ModelData {
  LoadedData data;
  std::vector<int> labels;  // per image, the model class it counts as; -1 = unlabelled or no such class
};

ModelData load_for_model(const std::string& source, const std::string& layout, const std::string& split,
                         const Checkpoint& ck, const std::string& cache_dir);

}  // namespace covscreen
