#pragma once
// A seeded two-class pack for training tests: class 0 ("covid") a bright disc on noise, class 1
// ("non-covid") noise only; two images per patient, all in split "train".
#include <torch/torch.h>

#include <string>

#include "covscreen/data/pack.h"

namespace covscreen::test {

inline Pack synthetic_pack(int n, int size, uint64_t seed) {
  Pack p;
  p.classes = {"covid", "non-covid"};
  auto gen = at::detail::createCPUGenerator(seed);
  auto imgs = torch::randint(0, 120, {n, size, size}, gen, torch::kUInt8);
  auto yy = torch::arange(size).view({size, 1}).expand({size, size});
  auto xx = torch::arange(size).view({1, size}).expand({size, size});
  for (int i = 0; i < n; ++i) {
    const int label = i % 2;
    if (label == 0) {
      const int cy = size / 2 + (i % 5) - 2, cx = size / 2 - (i % 3) + 1;
      auto disc = ((yy - cy) * (yy - cy) + (xx - cx) * (xx - cx)) < (size * size / 16);
      imgs[i].masked_fill_(disc, 230);
    }
    p.labels.push_back(label);
    p.patient_ids.push_back("p" + std::to_string(i / 2));
    p.paths.push_back("synthetic/" + std::to_string(i) + ".png");
    p.splits.push_back("train");
  }
  p.images = imgs;
  p.spec.stage1.size = size;
  return p;
}

}  // namespace covscreen::test
