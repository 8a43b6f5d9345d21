// Test-time augmentation in predict_probs (InferenceOptions::tta_views): the mean over the image
// and fixed views drawn from the model's own training augmentation, without synthetic marks.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "covscreen/core/error.h"
#include "covscreen/inference/inference.h"

using namespace covscreen;

namespace {
// Logit = mean of the top-left quarter of channel 0: any rotation, shift or zoom changes it.
struct Probe : ScreenModelImpl {
  torch::Tensor features(const torch::Tensor& x) override { return x; }
  torch::Tensor classify(const torch::Tensor& f) override {
    const auto q = f.select(1, 0).slice(1, 0, f.size(2) / 2).slice(2, 0, f.size(3) / 2).mean({1, 2});
    return torch::stack({q, -q}, 1);
  }
  std::vector<std::pair<std::string, int64_t>> part_sizes() const override { return {}; }
  std::string backbone_prefix() const override { return ""; }
};

torch::Tensor images(int64_t n) {
  auto gen = at::detail::createCPUGenerator(3);
  auto img = torch::randint(0, 60, {n, 32, 32}, gen, torch::kUInt8);
  for (int64_t i = 0; i < n; ++i) img[i].slice(0, 4 + i, 14 + i).slice(1, 6, 20).fill_(200);  // off-centre block
  return img;
}

InferenceOptions cpu(int views, int batch) {
  InferenceOptions o;
  o.device = DeviceKind::kCpu;
  o.precision = Precision::kFp32;
  o.channels_last = false;
  o.tta_views = views;
  o.batch_size = batch;
  return o;
}
}  // namespace

TEST(Tta, OneViewIsPlainInferenceAndMoreViewsAverageTheTrainingTransforms) {
  Probe net;
  Stage2Spec spec;
  spec.channels = 1;
  const Stage2 stage2(spec);
  const auto img = images(4);
  const auto plain = predict_probs(net, stage2, img, cpu(1, 4));
  EXPECT_TRUE(torch::allclose(plain, torch::sigmoid(net.forward(stage2(img, false)))));

  const auto tta = predict_probs(net, stage2, img, cpu(5, 4));
  auto gen = at::detail::createCPUGenerator(kTtaSeed);
  const auto draws = stage2.draw(4, &gen);
  auto sum = torch::sigmoid(net.forward(stage2(img, false)));
  for (int v = 0; v < 4; ++v)
    sum = sum + torch::sigmoid(net.forward(stage2.augmented(img, draws[v].unsqueeze(0).expand({4, 3}))));
  EXPECT_TRUE(torch::allclose(tta, sum / 5, 1e-5, 1e-6));
  EXPECT_GT((tta - plain).abs().max().item<double>(), 1e-3) << "the views must differ from the image";
  // An image's P does not depend on the batch it is in.
  EXPECT_TRUE(torch::allclose(predict_probs(net, stage2, img, cpu(5, 1)), tta, 1e-5, 1e-6));
}

TEST(Tta, ViewsNeverCarrySyntheticMarksAndBadCountsAreRefused) {
  Probe net;
  Stage2Spec spec;
  spec.channels = 1;
  spec.scale_fraction = 0.1;
  Stage2Spec marked = spec;
  marked.annotate_probability = 1;
  marked.jpeg_probability = 1;
  const auto img = images(3);
  const auto a = predict_probs(net, Stage2(spec), img, cpu(4, 3));
  const auto b = predict_probs(net, Stage2(marked), img, cpu(4, 3));
  EXPECT_TRUE(torch::allclose(a, b, 1e-6, 1e-7));
  for (int bad : {0, kMaxTtaViews + 1})
    EXPECT_THROW(predict_probs(net, Stage2(spec), img, cpu(bad, 3)), UsageError) << bad;
}
