// Grad-CAM / Grad-CAM++ against closed forms on tiny models defined here (no trained weights),
// map normalization, and the Spearman rank correlation.
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "covscreen/core/compat.h"
#include "covscreen/core/error.h"
#include "covscreen/explain/explain.h"
#include "covscreen/explain/grad_cam.h"
#include "covscreen/explain/rank_correlation.h"

namespace covscreen {
namespace {

// features(x) = ReLU(1x1 conv(x)) [B, C, H, W]; classify(f) = Linear(global average pool(f)).
// For class k: d y_k / d A_cij = W_kc / (h w), so Grad-CAM's alpha_c = W_kc / (h w) and its map is
// ReLU(sum_c W_kc A_c) / (h w).
class GapLinearImpl : public ScreenModelImpl {
 public:
  GapLinearImpl(int in, int channels, int classes) {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, channels, 1)));
    fc = register_module("fc", torch::nn::Linear(channels, classes));
  }
  torch::Tensor features(const torch::Tensor& x) override { return torch::relu(conv->forward(x)); }
  torch::Tensor classify(const torch::Tensor& f) override { return fc->forward(f.mean({2, 3})); }
  std::vector<std::pair<std::string, int64_t>> part_sizes() const override { return {}; }
  std::string backbone_prefix() const override { return ""; }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::Linear fc{nullptr};
};

// classify(f) = Linear(flatten(tanh(f))): a non-uniform gradient W_k(c,i,j) (1 - tanh^2 A_cij).
class TanhFlatImpl : public ScreenModelImpl {
 public:
  TanhFlatImpl(int in, int channels, int h, int w, int classes) {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, channels, 3).padding(1)));
    fc = register_module("fc", torch::nn::Linear(channels * h * w, classes));
  }
  torch::Tensor features(const torch::Tensor& x) override { return conv->forward(x); }
  torch::Tensor classify(const torch::Tensor& f) override { return fc->forward(torch::tanh(f).flatten(1)); }
  std::vector<std::pair<std::string, int64_t>> part_sizes() const override { return {}; }
  std::string backbone_prefix() const override { return ""; }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::Linear fc{nullptr};
};

constexpr int kIn = 3, kC = 4, kK = 3, kH = 5, kW = 7;

TEST(GradCam, EqualsClassWeightsTimesFeaturesForGapLinear) {
  torch::manual_seed(1);
  auto net = std::make_shared<GapLinearImpl>(kIn, kC, kK);
  const torch::Tensor x = torch::randn({2, kIn, kH, kW});
  const torch::Tensor target = torch::tensor({2, 0}, torch::kLong);
  const CamResult cam = grad_cam(*net, x, target, CamMethod::kGradCam);
  ASSERT_EQ(cam.maps.sizes(), (std::vector<int64_t>{2, kH, kW}));
  ASSERT_EQ(cam.weights.sizes(), (std::vector<int64_t>{2, kC}));

  torch::NoGradGuard ng;
  const torch::Tensor A = torch::relu(net->conv->forward(x));
  const torch::Tensor W = net->fc->weight;  // [K, C]
  for (int b = 0; b < 2; ++b) {
    const int k = target[b].item<int>();
    const torch::Tensor alpha = W[k] / double(kH * kW);
    EXPECT_TRUE(torch::allclose(cam.weights[b], alpha, 1e-5, 1e-6)) << cam.weights[b] << alpha;
    const torch::Tensor expected = torch::relu((W[k].view({kC, 1, 1}) * A[b]).sum(0)) / double(kH * kW);
    EXPECT_LT((cam.maps[b] - expected).abs().max().item<double>(), 1e-5);
    EXPECT_GT(expected.max().item<double>(), 1e-3);  // the comparison is not trivially 0 == 0
  }
  // The logits are the model's.
  EXPECT_TRUE(torch::allclose(cam.logits, net->forward(x), 1e-5, 1e-6));
}

TEST(GradCam, NonUniformGradientMatchesAnalyticDerivative) {
  torch::manual_seed(2);
  auto net = std::make_shared<TanhFlatImpl>(kIn, kC, kH, kW, kK);
  const torch::Tensor x = torch::randn({1, kIn, kH, kW});
  const CamResult cam = grad_cam(*net, x, torch::tensor({1}, torch::kLong));
  torch::NoGradGuard ng;
  const torch::Tensor A = net->conv->forward(x)[0];
  const torch::Tensor g = net->fc->weight[1].view({kC, kH, kW}) * (1 - torch::tanh(A).pow(2));
  const torch::Tensor alpha = g.mean({1, 2});
  EXPECT_TRUE(torch::allclose(cam.weights[0], alpha, 1e-5, 1e-6));
  const torch::Tensor expected = torch::relu((alpha.view({kC, 1, 1}) * A).sum(0));
  EXPECT_LT((cam.maps[0] - expected).abs().max().item<double>(), 1e-5);
}

// Grad-CAM++ on the GAP + Linear model: the gradient g_c = W_kc / (h w) is constant over the map,
// so a_cij = g^2 / (2 g^2 + S_c g^3) = 1 / (2 + S_c g_c) with S_c = sum_ij A_cij, the weight is
// w_c = h w ReLU(g_c) / (2 + S_c g_c) and the map ReLU(sum_c w_c A_c). With one channel of ones
// (S = h w) this is ReLU(W_k) / (2 + W_k) everywhere.
TEST(GradCamPlusPlus, ClosedFormForGapLinear) {
  torch::manual_seed(3);
  auto net = std::make_shared<GapLinearImpl>(kIn, kC, kK);
  const torch::Tensor x = torch::randn({1, kIn, kH, kW});
  const CamResult cam = grad_cam(*net, x, torch::tensor({1}, torch::kLong), CamMethod::kGradCamPlusPlus);
  torch::NoGradGuard ng;
  const torch::Tensor A = torch::relu(net->conv->forward(x))[0].to(torch::kDouble);
  const torch::Tensor Wk = net->fc->weight[1].to(torch::kDouble);
  const double hw = kH * kW;
  std::vector<double> w(kC);
  for (int c = 0; c < kC; ++c) {
    const double g = Wk[c].item<double>() / hw;
    const double s = A[c].sum().item<double>();
    w[c] = g == 0 ? 0.0 : hw * std::max(g, 0.0) / (2.0 + s * g);
    EXPECT_NEAR(cam.weights[0][c].item<double>(), w[c], 1e-5 * std::max(1.0, std::abs(w[c])));
  }
  const torch::Tensor expected = torch::relu((torch::tensor(w, torch::kDouble).view({kC, 1, 1}) * A).sum(0));
  EXPECT_LT((cam.maps[0].to(torch::kDouble) - expected).abs().max().item<double>(), 1e-5);
}

TEST(GradCamPlusPlus, OneChannelOfOnesGivesReluWOverTwoPlusW) {
  // features = ReLU(conv 1x1 with weight 0, bias 1) = 1 everywhere; fc weight w for class 0.
  auto net = std::make_shared<GapLinearImpl>(1, 1, 2);
  {
    torch::NoGradGuard ng;
    net->conv->weight.zero_();
    net->conv->bias.fill_(1.0);
    net->fc->weight.copy_(torch::tensor({{0.8f}, {-0.5f}}));
  }
  const torch::Tensor x = torch::randn({2, 1, 3, 4});
  const CamResult cam = grad_cam(*net, x, torch::tensor({0, 1}, torch::kLong), CamMethod::kGradCamPlusPlus);
  EXPECT_LT((cam.maps[0] - 0.8 / 2.8).abs().max().item<double>(), 1e-6);
  EXPECT_LT(cam.maps[1].abs().max().item<double>(), 1e-7);  // negative class weight -> ReLU(0)
}

TEST(GradCam, BatchEqualsSingleImages) {
  torch::manual_seed(4);
  auto net = std::make_shared<TanhFlatImpl>(kIn, kC, kH, kW, kK);
  const torch::Tensor x = torch::randn({3, kIn, kH, kW});
  for (CamMethod m : {CamMethod::kGradCam, CamMethod::kGradCamPlusPlus}) {
    const CamResult all = grad_cam(*net, x, torch::tensor({0, 2, 1}, torch::kLong), m);
    const int t[3] = {0, 2, 1};
    for (int b = 0; b < 3; ++b) {
      const CamResult one = grad_cam(*net, x.slice(0, b, b + 1), torch::tensor({t[b]}, torch::kLong), m);
      EXPECT_TRUE(torch::allclose(all.maps[b], one.maps[0], 1e-5, 1e-6));
    }
  }
}

TEST(GradCam, WorksInInferenceModeAndBf16AndRestoresTheModel) {
  torch::manual_seed(5);
  auto net = std::make_shared<TanhFlatImpl>(kIn, kC, kH, kW, kK);
  net->train();
  const torch::Tensor x = torch::randn({1, kIn, kH, kW});
  const torch::Tensor t = torch::tensor({1}, torch::kLong);
  const CamResult ref = grad_cam(*net, x, t);
  EXPECT_TRUE(net->is_training());
  for (const auto& p : net->parameters()) EXPECT_FALSE(p.grad().defined());

  {
    c10::InferenceMode im;
    const torch::Tensor xi = x.clone();  // an inference tensor
    const CamResult cam = grad_cam(*net, xi, t);
    EXPECT_TRUE(torch::allclose(cam.maps, ref.maps, 1e-5, 1e-6));
  }
  {
    torch::NoGradGuard ng;
    const CamResult cam = grad_cam(*net, x, t);
    EXPECT_TRUE(torch::allclose(cam.maps, ref.maps, 1e-5, 1e-6));
  }
  {
    // Under bf16 autocast (as the screening inference runs) the CAM is still fp32.
    compat::AutocastGuard autocast(c10::DeviceType::CPU, true, torch::kBFloat16);
    const CamResult cam = grad_cam(*net, x, t);
    EXPECT_EQ(cam.maps.scalar_type(), torch::kFloat);
    EXPECT_TRUE(torch::allclose(cam.maps, ref.maps, 1e-5, 1e-6));
    EXPECT_EQ(net->fc->forward(torch::randn({1, kC * kH * kW})).scalar_type(), torch::kBFloat16);  // still on
  }
  // A bf16 model: computed in fp32 (results are fp32), weights back in bf16 afterwards.
  net->to(torch::kBFloat16);
  const CamResult cam16 = grad_cam(*net, x.to(torch::kBFloat16), t);
  EXPECT_EQ(cam16.maps.scalar_type(), torch::kFloat);
  EXPECT_EQ(net->fc->weight.scalar_type(), torch::kBFloat16);
  const double rel = ((cam16.maps - ref.maps).abs().max() / ref.maps.abs().max()).item<double>();
  EXPECT_LT(rel, 0.05);  // bf16-rounded weights and input
  EXPECT_TRUE(net->is_training());
}

TEST(GradCam, RejectsBadInput) {
  auto net = std::make_shared<GapLinearImpl>(kIn, kC, kK);
  const torch::Tensor x = torch::randn({2, kIn, kH, kW});
  EXPECT_THROW(grad_cam(*net, x, torch::tensor({0}, torch::kLong)), UsageError);
  EXPECT_THROW(grad_cam(*net, x, torch::tensor({0, kK}, torch::kLong)), UsageError);
  EXPECT_THROW(grad_cam(*net, x, torch::tensor({-1, 0}, torch::kLong)), UsageError);
  EXPECT_THROW(grad_cam(*net, torch::randn({kIn, kH, kW}), torch::tensor({0}, torch::kLong)), UsageError);
  EXPECT_EQ(cam_method_names().parse("gradcam"), CamMethod::kGradCam);
  EXPECT_EQ(cam_method_names().parse("gradcam++"), CamMethod::kGradCamPlusPlus);
  EXPECT_EQ(cam_method_names().name(CamMethod::kGradCamPlusPlus), "gradcam++");
  EXPECT_THROW(cam_method_names().parse("lime"), UsageError);
}

TEST(GradCam, RunsOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(6);
  auto net = std::make_shared<TanhFlatImpl>(kIn, kC, kH, kW, kK);
  const torch::Tensor x = torch::randn({2, kIn, kH, kW});
  const torch::Tensor t = torch::tensor({0, 2}, torch::kLong);
  for (CamMethod m : {CamMethod::kGradCam, CamMethod::kGradCamPlusPlus}) {
    const CamResult cpu = grad_cam(*net, x, t, m);
    net->to(torch::kCUDA);
    const CamResult gpu = grad_cam(*net, x, t, m);  // x is moved to the model's device
    net->to(torch::kCPU);
    EXPECT_TRUE(gpu.maps.is_cuda());
    EXPECT_TRUE(torch::allclose(gpu.maps.cpu(), cpu.maps, 1e-4, 1e-5));
  }
}

TEST(Normalize, MinMaxToUnitRangeAndConstantToZeros) {
  torch::Tensor m = torch::stack(
      {torch::arange(12, torch::kFloat).view({3, 4}) * 2.0 + 1.0, torch::full({3, 4}, 7.0f), torch::zeros({3, 4})});
  m[1][0][0] = 7.0f + 1e-7f;  // rounding noise on a constant map
  const torch::Tensor n = normalize_maps(m);
  EXPECT_NEAR(n[0].min().item<double>(), 0.0, 1e-7);
  EXPECT_NEAR(n[0].max().item<double>(), 1.0, 1e-7);
  EXPECT_NEAR(n[0][1][1].item<double>(), 5.0 / 11.0, 1e-6);
  EXPECT_EQ(n[1].abs().max().item<double>(), 0.0);
  EXPECT_EQ(n[2].abs().max().item<double>(), 0.0);
  EXPECT_FALSE(n.isnan().any().item<bool>());
  torch::Tensor bad = torch::rand({4, 4});
  bad[0][0] = std::nanf("");
  EXPECT_FALSE(normalize_maps(bad).isnan().any().item<bool>());
}

TEST(Upsample, KeepsConstantsAndRange) {
  const torch::Tensor m = torch::rand({2, 3, 4});
  const torch::Tensor u = upsample_maps(m, 30, 17);
  ASSERT_EQ(u.sizes(), (std::vector<int64_t>{2, 30, 17}));
  EXPECT_GE(u.min().item<double>(), m.min().item<double>() - 1e-6);
  EXPECT_LE(u.max().item<double>(), m.max().item<double>() + 1e-6);
  EXPECT_LT((upsample_maps(torch::full({1, 2, 2}, 3.0f), 9, 9) - 3.0).abs().max().item<double>(), 1e-6);
}

TEST(ExplainImage, MapAtInputSizeAndSigmoidProbs) {
  torch::manual_seed(7);
  auto net = std::make_shared<GapLinearImpl>(kIn, kC, kK);
  const torch::Tensor x = torch::randn({1, kIn, 16, 12});
  const ExplainResult r = explain_image(*net, x, 2, CamMethod::kGradCam);
  ASSERT_EQ(r.map.sizes(), (std::vector<int64_t>{16, 12}));
  EXPECT_GE(r.map.min().item<double>(), 0.0);
  EXPECT_LE(r.map.max().item<double>(), 1.0);
  EXPECT_EQ(r.class_idx, 2);
  torch::NoGradGuard ng;
  const torch::Tensor p = torch::sigmoid(net->forward(x))[0];
  ASSERT_EQ(r.probs.size(), size_t(kK));
  for (int k = 0; k < kK; ++k) EXPECT_NEAR(r.probs[k], p[k].item<double>(), 1e-6);
  EXPECT_THROW(explain_image(*net, torch::randn({2, kIn, 8, 8}), 0), UsageError);
}

TEST(Spearman, KnownValues) {
  const torch::Tensor a = torch::rand({5, 6});
  EXPECT_NEAR(spearman_correlation(a, a), 1.0, 1e-12);
  EXPECT_NEAR(spearman_correlation(a, a.exp() * 3.0), 1.0, 1e-12);  // monotone transform
  EXPECT_NEAR(spearman_correlation(a, -a), -1.0, 1e-12);
  // Values from scipy.stats.spearmanr (Debian python3-scipy), with ties.
  EXPECT_NEAR(spearman_correlation(torch::tensor({1., 2., 2., 3., 5., 5., 5., 0.}),
                                   torch::tensor({1., 3., 2., 4., 4., 9., 1., 0.})),
              0.6709239388850756, 1e-12);
  EXPECT_NEAR(
      spearman_correlation(torch::tensor({0.1, 0.4, 0.4, 0.2, 0.9, 0.3}), torch::tensor({3., 1., 2., 2., 5., 0.})),
      0.1323529411764706, 1e-12);
  EXPECT_EQ(spearman_correlation(torch::zeros({10}), a.flatten().slice(0, 0, 10)), 0.0);  // undefined -> 0
  EXPECT_THROW(spearman_correlation(a, torch::rand({7})), UsageError);
  const torch::Tensor r = average_ranks(torch::tensor({3.0, 1.0, 3.0, 2.0}));
  EXPECT_TRUE(torch::allclose(r, torch::tensor({3.5, 1.0, 3.5, 2.0}, torch::kDouble)));
}

}  // namespace
}  // namespace covscreen
