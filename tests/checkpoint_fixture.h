#pragma once
// An untrained checkpoint for tests: `arch` (DenseNet-121 unless told) at `input_size` x
// `input_size` for `classes` (covid/non-covid unless told), weights from `seed`. Tests set what
// else they need (threshold, card fields, typicality) on the result.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "covscreen/models/checkpoint.h"
#include "covscreen/models/model.h"

namespace covscreen::test {

inline Checkpoint untrained_checkpoint(uint64_t seed, int input_size = 64,
                                       std::vector<std::string> classes = {"covid", "non-covid"},
                                       const std::string& arch = "densenet121") {
  Checkpoint ck;
  ck.model.arch = arch;
  ck.model.num_classes = static_cast<int>(classes.size());
  ck.model.input_size = input_size;
  ck.classes = std::move(classes);
  ck.spec.stage1.size = input_size;
  torch::manual_seed(seed);
  ck.net = make_model(ck.model);
  return ck;
}

}  // namespace covscreen::test
