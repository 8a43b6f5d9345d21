#pragma once
// Runs a backbone's stages in another form: models/int8.h attaches one that computes them in int8
// (or observes their ranges for calibration). ResNetImpl::run() and DenseNetImpl::features() defer
// to it while it is set. Stages: 0 = the stem, 1..4 = ResNet's layer1..4 / DenseNet's dense blocks
// (each with the transition after it; DenseNet runs all of them, 0..4, and its final norm and ReLU).
#include <torch/types.h>

namespace covscreen {

class StageRunner {
 public:
  virtual ~StageRunner() = default;
  virtual torch::Tensor run(const torch::Tensor& x, int first, int last) = 0;
};

}  // namespace covscreen
