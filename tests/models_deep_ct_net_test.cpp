// Deep-CT-Net, the FPA and the model factory: shapes, names, part sizes, train mode at batch 1.
#include <set>
#include <tuple>

#include "covscreen/core/error.h"
#include "covscreen/models/deep_ct_net.h"
#include "covscreen/models/densenet.h"
#include "covscreen/models/fpa.h"
#include "covscreen/models/model.h"
#include "covscreen/models/registry.h"
#include "covscreen/models/resnet.h"
#include "covscreen/models/state_dict.h"
#include "test_util.h"

namespace covscreen {
namespace {

ModelConfig deep(int k, int input, const std::string& backbone = "densenet121") {
  ModelConfig c;
  c.arch = "deep-ct-net";
  c.backbone = backbone;
  c.num_classes = k;
  c.input_size = input;
  return c;
}

TEST(DeepCTNet, ForwardShapesForTwoAndThreeClassesInTrainAndEval) {
  // (K, train, batch): batch 1 in train mode must not throw (no BatchNorm on 1x1 maps).
  const std::vector<std::tuple<int, bool, int64_t>> cases{
      {2, true, 1}, {2, true, 2}, {2, false, 1}, {3, true, 1}, {3, false, 2}};
  torch::manual_seed(0);
  ScreenModel model;
  int built_k = 0;
  for (const auto& [k, train, b] : cases) {
    if (built_k != k) model = make_model(deep(k, 64)), built_k = k;
    model->train(train);
    auto f = model->features(torch::randn({b, 3, 64, 64}));
    EXPECT_EQ(f.sizes(), (std::vector<int64_t>{b, 1024, 2, 2}));
    auto y = model->classify(f);
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{b, k})) << "k " << k << " batch " << b << " train " << train;
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  }
}

TEST(DeepCTNet, OtherBackbonesAtSmallInputs) {
  torch::manual_seed(1);
  for (const std::string bb : {"densenet169", "resnet50"}) {
    auto model = make_model(deep(3, 64, bb));
    model->train();
    auto f = model->features(torch::randn({1, 3, 64, 64}));  // batch 1 in train mode
    EXPECT_EQ(f.sizes(), (std::vector<int64_t>{1, backbones().get(bb).channels, 2, 2})) << bb;
    EXPECT_EQ(model->classify(f).sizes(), (std::vector<int64_t>{1, 3})) << bb;
  }
}

TEST(DeepCTNet, PaperInputSizeGives8x8MapsAndFcOf65536) {
  torch::manual_seed(2);
  auto model = make_model(deep(2, 256));
  model->eval();
  torch::NoGradGuard no_grad;
  auto f = model->features(torch::randn({1, 3, 256, 256}));
  EXPECT_EQ(f.sizes(), (std::vector<int64_t>{1, 1024, 8, 8}));
  for (const auto& [name, t] : module_tensors(*model))
    if (name == "fc.weight") EXPECT_EQ(t.sizes(), (std::vector<int64_t>{2, 1024 * 64}));
  // A feature map of another size is refused with a message, not a shape crash in the fc.
  EXPECT_THROW(model->classify(torch::randn({1, 1024, 4, 4})), Error);
}

TEST(DeepCTNet, GradientsReachTheBackboneAndTheFeatureMap) {
  torch::manual_seed(3);
  auto model = make_model(deep(2, 64));
  model->train();
  auto f = model->features(torch::randn({2, 3, 64, 64}));
  f.retain_grad();
  model->classify(f).sum().backward();
  ASSERT_TRUE(f.grad().defined());
  EXPECT_GT(f.grad().abs().sum().item<double>(), 0.0);
  for (const auto& p : model->named_parameters())
    if (p.key() == "backbone.features.conv0.weight" || p.key() == "fpa.down3.weight")
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
}

TEST(DeepCTNet, ParameterNamesAndPartSizes) {
  const int k = 3, c = 1024, m = 64, s = 8;
  auto model = make_model(deep(k, 256));
  std::set<std::string> roots;
  for (const auto& [name, t] : module_tensors(*model)) roots.insert(name.substr(0, name.find('.')));
  EXPECT_EQ(roots, (std::set<std::string>{"backbone", "bn", "fc", "fpa"}));
  auto has = [&](const std::string& n) {
    for (const auto& [name, t] : module_tensors(*model))
      if (name == n) return true;
    return false;
  };
  EXPECT_TRUE(has("backbone.features.denseblock4.denselayer16.conv2.weight"));
  EXPECT_TRUE(has("backbone.features.norm5.running_var"));
  EXPECT_TRUE(has("bn.num_batches_tracked"));
  EXPECT_FALSE(has("backbone.classifier.weight"));
  EXPECT_EQ(model->backbone_prefix(), "backbone.");

  // Expected sizes from the architecture's definition (conv k*k*in*out + bias).
  const int64_t fpa = 2 * (int64_t(c) * c + c) + (int64_t(c) * m * 49 + m) + (int64_t(m) * m * 49 + m) +
                      2 * (int64_t(m) * m * 25 + m) + 2 * (int64_t(m) * m * 9 + m) + (int64_t(m) * c + c);
  const int64_t head = 2 * c + int64_t(c) * s * s * k + k;
  DenseNet standalone(DenseNetOptions::densenet121());
  const auto parts = model->part_sizes();
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0], (std::pair<std::string, int64_t>{"backbone", count_parameters(*standalone)}));
  EXPECT_EQ(parts[1], (std::pair<std::string, int64_t>{"fpa", fpa}));
  EXPECT_EQ(parts[2], (std::pair<std::string, int64_t>{"head", head}));
  EXPECT_EQ(parts[0].second + parts[1].second + parts[2].second, count_parameters(*model));
  std::cout << "deep-ct-net (densenet121, K=3): backbone " << parts[0].second << ", fpa " << parts[1].second
            << ", head " << parts[2].second << "\n";
}

TEST(Backbones, TorchvisionParameterCounts) {
  // Published torchvision totals (1000 classes): 7,978,856 / 14,149,480 / 25,557,032.
  EXPECT_EQ(count_parameters(*DenseNet(DenseNetOptions::densenet121(1000))), 7978856);
  EXPECT_EQ(count_parameters(*DenseNet(DenseNetOptions::densenet169(1000))), 14149480);
  EXPECT_EQ(count_parameters(*ResNet(ResNetOptions::resnet50(1000))), 25557032);
}

TEST(Backbones, OutputSizeFormulaMatchesForward) {
  torch::NoGradGuard no_grad;
  for (const std::string& name : backbones().names()) {
    const Backbone& bb = backbones().get(name);
    auto net = bb.make(0);
    net->eval();
    for (int n : {33, 97}) {  // odd sizes: floor in the pools, ceil in strided convs
      auto f = net->features(torch::zeros({1, 3, n, n}));
      EXPECT_EQ(f.size(2), bb.map_size(n)) << name << " " << n;
      EXPECT_EQ(f.size(1), bb.channels) << name;
    }
  }
}

TEST(Registry, ArchitecturesAndBackbonesByName) {
  EXPECT_EQ(architectures().names(), (std::vector<std::string>{"deep-ct-net", "deep-cxr-net", "densenet121",
                                                               "densenet169", "resnet50", "resnet50v1"}));
  EXPECT_EQ(backbones().names(), (std::vector<std::string>{"densenet121", "densenet169", "resnet50", "resnet50v1"}));
  ModelConfig c;
  c.arch = "resnet50";
  EXPECT_EQ(backbone_name(c), "resnet50");  // a plain baseline is its own backbone
  c.arch = "deep-ct-net";
  c.backbone = "densenet169";
  EXPECT_EQ(backbone_name(c), "densenet169");
  // Unknown names fail with the valid ones listed, from JSON as from code.
  try {
    nlohmann::json j = {{"arch", "deep-ct-nett"}};
    j.get<ModelConfig>();
    FAIL() << "an unknown architecture was accepted";
  } catch (const UsageError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("deep-ct-nett"), std::string::npos) << msg;
    EXPECT_NE(msg.find("deep-ct-net, deep-cxr-net, densenet121, densenet169, resnet50, resnet50v1"), std::string::npos)
        << msg;
  }
  EXPECT_THROW(nlohmann::json({{"backbone", "vgg16"}}).get<ModelConfig>(), UsageError);
  EXPECT_THROW(nlohmann::json({{"fpa_chanels", 3}}).get<ModelConfig>(), UsageError);  // a typo
}

TEST(Fpa, KeepsShapeDownTo1x1InTrainModeAtBatch1) {
  torch::manual_seed(4);
  FeaturePyramidAttention fpa(32, 8);
  fpa->train();
  for (int s : {1, 2, 3, 5, 8}) {
    auto x = torch::randn({1, 32, s, s});
    auto y = fpa->forward(x);
    EXPECT_EQ(y.sizes(), x.sizes()) << s;
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  }
}

TEST(Fpa, OutputIsMainTimesAttentionPlusGlobal) {
  // With the pyramid's projection zeroed the attention is zero and the output is the global
  // branch alone, constant over the map; with the global branch zeroed too it is zero.
  torch::manual_seed(5);
  FeaturePyramidAttention fpa(16, 4);
  auto x = torch::randn({2, 16, 8, 8});
  torch::NoGradGuard no_grad;
  for (auto& p : fpa->named_parameters())
    if (p.key().rfind("proj.", 0) == 0) p.value().zero_();
  auto y = fpa->forward(x);
  auto g = y.index({torch::indexing::Slice(), torch::indexing::Slice(), 0, 0}).unsqueeze(-1).unsqueeze(-1);
  EXPECT_LT((y - g).abs().max().item<double>(), 1e-6);
  for (auto& p : fpa->named_parameters())
    if (p.key().rfind("global.", 0) == 0) p.value().zero_();
  EXPECT_LT(fpa->forward(x).abs().max().item<double>(), 1e-6);
}

TEST(ModelConfig, JsonRoundTripAndValidation) {
  ModelConfig c = deep(3, 224, "resnet50");
  c.fpa_channels = 32;
  nlohmann::json j = c;
  ModelConfig back = j.get<ModelConfig>();
  EXPECT_EQ(nlohmann::json(back), j);
  EXPECT_EQ(back.backbone, "resnet50");
  EXPECT_THROW((nlohmann::json{{"arch", "densenet121"}, {"typo", 1}}.get<ModelConfig>()), UsageError);
  EXPECT_THROW((nlohmann::json{{"num_classes", "two"}}.get<ModelConfig>()), UsageError);
  ModelConfig bad;
  bad.arch = "vgg16";
  EXPECT_THROW(bad.validate(), UsageError);
  EXPECT_THROW(make_model(bad), UsageError);
  bad = deep(2, 32);
  EXPECT_THROW(bad.validate(), UsageError);  // 1x1 maps: BN after the FPA at batch 1
  bad = deep(0, 256);
  EXPECT_THROW(bad.validate(), UsageError);
}

TEST(ModelFactory, BaselinesHaveTorchvisionHeads) {
  ModelConfig c;
  c.num_classes = 3;
  for (const std::string arch : {"densenet121", "densenet169", "resnet50"}) {
    c.arch = arch;
    auto m = make_model(c);
    EXPECT_EQ(m->backbone_prefix(), "");
    const std::string head = arch == "resnet50" ? "fc.weight" : "classifier.weight";
    bool found = false;
    for (const auto& [name, t] : module_tensors(*m))
      if (name == head) found = t.size(0) == 3;
    EXPECT_TRUE(found) << arch;
    auto y = m->forward(torch::randn({1, 3, 64, 64}));  // batch 1, train mode (2x2 maps)
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{1, 3})) << arch;
  }
}

}  // namespace
}  // namespace covscreen
