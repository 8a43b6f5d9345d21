// Post-training int8 (models/int8.h): the observed stages compute the fp32 function (BN folded),
// the int8 stages stay close to it, Deep-CXR-Net's shared trunk and tails all run in int8 with the
// heads in fp32, a DenseNet backbone runs whole in int8, detaching restores fp32 exactly, and forms
// that do not fit are refused.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "covscreen/core/error.h"
#include "covscreen/models/deep_ct_net.h"
#include "covscreen/models/int8.h"
#include "covscreen/models/model.h"
#include "covscreen/models/resnet.h"

using namespace covscreen;

namespace {

// Batch norms with statistics of their own, so folding them is exercised (a fresh one is (1, 0, 0, 1)).
void randomize_batch_norms(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& mod : m.modules())
    if (auto* bn = mod->as<torch::nn::BatchNorm2d>()) {
      bn->weight.uniform_(0.3, 1.0);
      bn->bias.uniform_(-0.1, 0.1);
      bn->running_mean.uniform_(-0.1, 0.1);
      bn->running_var.uniform_(0.5, 2.0);
    }
}

// Standardized images with structure (smooth blobs), as stage 2 gives.
torch::Tensor images(int n, int size, uint64_t seed) {
  torch::manual_seed(seed);
  auto x = torch::nn::functional::interpolate(torch::randn({n, 1, size / 8, size / 8}),
                                              torch::nn::functional::InterpolateFuncOptions()
                                                  .size(std::vector<int64_t>{size, size})
                                                  .mode(torch::kBilinear)
                                                  .align_corners(false));
  x = (x - x.mean({2, 3}, true)) / torch::std(x, {2, 3}, /*unbiased=*/true, /*keepdim=*/true);
  return x.expand({n, 3, size, size}).contiguous(torch::MemoryFormat::ChannelsLast);
}

double cosine(const torch::Tensor& a, const torch::Tensor& b) {
  return torch::cosine_similarity(a.flatten(), b.flatten(), 0).item<double>();
}

ModelConfig resnet_config() {
  ModelConfig c;
  c.arch = "resnet50";
  c.num_classes = 2;
  c.input_size = 64;
  return c;
}

}  // namespace

TEST(Int8, ObservedStagesAreTheFp32FunctionAndInt8StaysClose) {
  torch::manual_seed(1);
  auto net = make_model(resnet_config());
  randomize_batch_norms(*net);
  net->eval();
  c10::InferenceMode guard;
  const auto calib = images(16, 64, 2), x = images(6, 64, 3);
  const auto f32 = net->features(x);
  nlohmann::json form;
  {
    Int8Calibration cal(*net);
    const auto observed = net->features(calib);
    EXPECT_TRUE(torch::allclose(observed, net->features(calib), 1e-4, 1e-4));  // same observers, same answer
    EXPECT_TRUE(torch::allclose(net->features(x), f32, 1e-3, 1e-3)) << "folding BN changed the function";
    form = cal.finish();
  }
  EXPECT_FALSE(runs_int8(*net));
  EXPECT_TRUE(torch::equal(net->features(x), f32));  // observers gone
  const auto& points = form.at("networks").at("");
  EXPECT_TRUE(points.contains("input@0"));
  EXPECT_TRUE(points.contains("stem"));
  EXPECT_TRUE(points.contains("layer4.2.out"));
  EXPECT_TRUE(points.contains("layer2.0.downsample"));
  EXPECT_EQ(points.at("stem").at(0).get<double>(), 0.0);  // after the ReLU

  attach_int8(*net, form);
  EXPECT_TRUE(runs_int8(*net));
  const auto f8 = net->features(x);
  EXPECT_FALSE(f8.is_quantized());
  EXPECT_EQ(f8.sizes(), f32.sizes());
  EXPECT_GT(cosine(f8, f32), 0.98);
  EXPECT_GT(cosine(net->classify(f8), net->classify(f32)), 0.98);
  detach_int8(*net);
  EXPECT_FALSE(runs_int8(*net));
  EXPECT_TRUE(torch::equal(net->features(x), f32));
}

TEST(Int8, DeepCXRNetTrunkAndTailsInInt8HeadsInFp32) {
  ModelConfig c;
  c.arch = "deep-cxr-net";
  c.backbone = "resnet50v1";
  c.num_classes = 2;
  c.input_size = 64;
  c.cxr.part_arch = "resnet50v1";
  c.cxr.shared_stages = 3;
  torch::manual_seed(4);
  auto net = make_model(c);
  randomize_batch_norms(*net);
  net->eval();
  const auto parts = int8_parts(*net);
  EXPECT_EQ(parts.at("int8"), nlohmann::json({"part1", "part2", "part3.backbone"}));
  for (const char* p : {"part1.fc", "part2.fc", "part3.fpa", "part3.bn", "part3.fc", "fc1", "fc2"})
    EXPECT_NE(std::find(parts.at("fp32").begin(), parts.at("fp32").end(), p), parts.at("fp32").end()) << p;
  EXPECT_GT(parts.at("int8_parameters").get<int64_t>(), parts.at("fp32_parameters").get<int64_t>());

  c10::InferenceMode guard;
  const auto calib = images(16, 64, 5), x = images(6, 64, 6);
  const auto p32 = torch::sigmoid(net->forward(x));
  nlohmann::json form;
  {
    Int8Calibration cal(*net);
    net->forward(calib);
    form = cal.finish();
  }
  // The trunk runs from the stem and from layer 4 (part 3's own); each tail from layer 4.
  EXPECT_TRUE(form.at("networks").at("part3.backbone").contains("input@0"));
  EXPECT_TRUE(form.at("networks").at("part3.backbone").contains("input@4"));
  EXPECT_TRUE(form.at("networks").at("part1").contains("input@4"));
  EXPECT_FALSE(form.at("networks").at("part1").contains("stem"));
  attach_int8(*net, form);
  const auto p8 = torch::sigmoid(net->forward(x));
  EXPECT_LT((p8 - p32).abs().max().item<double>(), 0.1);
  // Grad-CAM's split: int8 features, fp32 classify with a gradient.
  const auto f = net->features(x);
  EXPECT_EQ(f.size(1), net->cam_channels() + 6 + 2);
  detach_int8(*net);
  EXPECT_TRUE(torch::allclose(torch::sigmoid(net->forward(x)), p32));
}

TEST(Int8, FormsThatDoNotFitAreRefused) {
  torch::manual_seed(7);
  auto net = make_model(resnet_config());
  net->eval();
  nlohmann::json form;
  {
    c10::InferenceMode guard;
    Int8Calibration cal(*net);
    net->forward(images(4, 64, 8));
    form = cal.finish();
  }
  auto missing = form;
  missing["networks"][""].erase("layer3.1.conv2");
  try {
    attach_int8(*net, missing);
    FAIL() << "a form without a point was attached";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer3.1.conv2"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(runs_int8(*net));  // nothing attached
  auto other = form;
  other["networks"]["part1"] = other["networks"][""];
  EXPECT_THROW(attach_int8(*net, other), Error);
  EXPECT_THROW(attach_int8(*net, nlohmann::json{{"version", 99}}), Error);
  // A stage the calibration never started from.
  auto no_input = form;
  no_input["networks"][""].erase("input@0");
  EXPECT_THROW(attach_int8(*net, no_input), Error);
}

TEST(Int8, DeepCTNetWithADenseNetBackboneRunsItInInt8) {
  ModelConfig c;
  c.arch = "deep-ct-net";
  c.backbone = "densenet121";
  c.num_classes = 2;
  c.input_size = 64;
  torch::manual_seed(9);
  auto net = make_model(c);
  randomize_batch_norms(*net);
  net->eval();
  const auto parts = int8_parts(*net);
  EXPECT_EQ(parts.at("int8"), nlohmann::json({"backbone.features"}));
  EXPECT_EQ(parts.at("fp32"), nlohmann::json({"fpa", "bn", "fc"}));
  c10::InferenceMode guard;
  const auto calib = images(16, 64, 10), x = images(6, 64, 11);
  const auto f32 = net->features(x);
  const auto b32 = dynamic_cast<DeepCTNetImpl&>(*net).backbone().features(x);
  nlohmann::json form;
  {
    Int8Calibration cal(*net);
    EXPECT_TRUE(torch::allclose(dynamic_cast<DeepCTNetImpl&>(*net).backbone().features(x), b32, 1e-3, 1e-3))
        << "folding changed the function";
    net->forward(calib);
    form = cal.finish();
  }
  const auto& points = form.at("networks").at("backbone");
  for (const char* p : {"input@0", "denseblock1.maps", "denseblock4.maps", "denseblock2.denselayer3.norm1",
                        "denseblock3.denselayer1.conv1", "transition3.norm", "norm5"})
    EXPECT_TRUE(points.contains(p)) << p;
  attach_int8(*net, form);
  EXPECT_TRUE(runs_int8(*net));
  EXPECT_GT(cosine(dynamic_cast<DeepCTNetImpl&>(*net).backbone().features(x), b32), 0.98);
  EXPECT_GT(cosine(net->features(x), f32), 0.98);
  // All or nothing: a DenseNet is not split by stage.
  auto split = form;
  split["fp32"]["backbone"] = {2};
  EXPECT_THROW(attach_int8(*net, split), Error);
  detach_int8(*net);
  EXPECT_TRUE(torch::equal(net->features(x), f32));
}
