// The Keras -> resnet50v1 conversion (models/keras_resnet.h) and the v1 stride placement
// (models/resnet.h). The converted weights classifying natural images: tests/io_imagenet_test.cpp.
#include <gtest/gtest.h>

#include <fstream>

#include "covscreen/core/error.h"
#include "covscreen/models/keras_resnet.h"
#include "covscreen/models/model.h"
#include "covscreen/models/registry.h"
#include "covscreen/models/resnet.h"
#include "covscreen/models/state_dict.h"
#include "test_util.h"

namespace covscreen {
namespace {

void write(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(ResNet50V1, SameParametersAsTorchvisionButTheStrideOnTheFirst1x1) {
  torch::manual_seed(3);
  ResNet v15(ResNetOptions::resnet50(5, false));
  ResNet v1(ResNetOptions::resnet50(5, true));
  const auto a = module_tensors(*v15), b = module_tensors(*v1);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.sizes(), b[i].second.sizes()) << a[i].first;
  }
  // Same weights, different function; the same map size.
  torch::NoGradGuard ng;
  StateDict sd;
  for (const auto& [k, t] : a) sd[k] = t;
  load_module_state(*v1, sd, "v1.5 weights");
  v15->eval();
  v1->eval();
  const auto x = torch::randn({1, 3, 96, 96});
  const auto fa = v15->features(x), fb = v1->features(x);
  EXPECT_EQ(fa.sizes(), fb.sizes());
  EXPECT_GT((fa - fb).abs().max().item<float>(), 1e-3);
  // The stride on the 1x1 is the strided conv of layer2.0.
  const auto p = v1->named_modules()["layer2.0.conv1"]->as<torch::nn::Conv2d>();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->options.stride()->at(0), 2);

  ModelConfig cfg;
  cfg.arch = "deep-ct-net";
  cfg.backbone = "resnet50v1";
  cfg.input_size = 128;
  EXPECT_NO_THROW(make_model(cfg));
  EXPECT_EQ(backbones().get("resnet50v1").map_size(256), backbones().get("resnet50").map_size(256));
}

class KerasTfjs : public ::testing::Test {
 protected:
  // A TF.js layers model.json with one weight of 4 floats in one shard of `shard_bytes` bytes.
  std::string model_json(size_t shard_bytes, const std::string& format = "layers-model") {
    nlohmann::json j = {{"format", format},
                        {"modelTopology", {{"model_config", {{"config", {{"layers", nlohmann::json::array()}}}}}}},
                        {"weightsManifest",
                         {{{"paths", {"shard1"}},
                           {"weights", {{{"name", "conv1/kernel"}, {"shape", {2, 2}}, {"dtype", "float32"}}}}}}}};
    write(dir_.file("model.json"), j.dump());
    write(dir_.file("shard1"), std::string(shard_bytes, '\0'));
    return dir_.file("model.json");
  }
  test::TempDir dir_;
};

TEST_F(KerasTfjs, RefusesTruncatedShardsForeignFormatsAndOtherNetworks) {
  const std::string m = model_json(8);
  std::string e = error_of([&] { convert_keras_resnet50(m); });
  EXPECT_NE(e.find("model.json"), std::string::npos) << e;
  EXPECT_NE(e.find("end inside weight 'conv1/kernel'"), std::string::npos) << e;

  e = error_of([&] { convert_keras_resnet50(model_json(20)); });
  EXPECT_NE(e.find("4 bytes more"), std::string::npos) << e;

  e = error_of([&] { convert_keras_resnet50(model_json(16, "graph-model")); });
  EXPECT_NE(e.find("not a TensorFlow.js layers model"), std::string::npos) << e;

  e = error_of([&] { convert_keras_resnet50(model_json(16)); });  // well-formed, but not a ResNet-50
  EXPECT_NE(e.find("no layer 'conv1'"), std::string::npos) << e;

  write(dir_.file("bad.json"), "{not json");
  e = error_of([&] { convert_keras_resnet50(dir_.file("bad.json")); });
  EXPECT_NE(e.find("bad.json"), std::string::npos) << e;
}

// The real conversion (scripts/get-imagenet-resnet50): complete in resnet50v1, refused in resnet50.
TEST(ImageNetWeights, LoadCompletelyIntoResNet50V1AndAreRefusedByTorchvisionsPlacement) {
  const std::string w = test::imagenet_weights();
  if (w.empty()) COVSCREEN_SKIP() << "no converted ImageNet ResNet-50: run scripts/get-imagenet-resnet50";
  const StateDict sd = read_state_dict(w);
  ModelConfig cfg;
  cfg.arch = "deep-ct-net";
  cfg.backbone = "resnet50v1";
  cfg.input_size = 128;
  ScreenModel net = make_model(cfg);
  const ImportReport rep = import_backbone(*net, cfg, sd, w);
  EXPECT_TRUE(rep.complete());
  EXPECT_EQ(rep.loaded.size(), 318u);  // 53 conv + 53 BN x 5 (with num_batches_tracked), no fc
  EXPECT_EQ(rep.ignored, (std::vector<std::string>{"fc.bias", "fc.weight"}));

  cfg.backbone = "resnet50";
  ScreenModel v15 = make_model(cfg);
  const std::string e = error_of([&] { import_backbone(*v15, cfg, sd, w); });
  EXPECT_NE(e.find("only right in the resnet50v1 backbone"), std::string::npos) << e;
}

}  // namespace
}  // namespace covscreen
