// Deep-CXR-Net (models/deep_cxr_net.h): shapes, the single COVID logit behind the two-class
// interface, frozen parts, Grad-CAM's map channels, config round trip and parts from files.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "cli_util.h"
#include "covscreen/core/error.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/models/cxr_parts.h"
#include "covscreen/models/deep_cxr_net.h"
#include "covscreen/models/densenet.h"  // count_parameters
#include "covscreen/models/state_dict.h"
#include "test_util.h"

using namespace covscreen;

namespace {

ModelConfig cxr_config(int positive = 0) {
  ModelConfig c;
  c.arch = "deep-cxr-net";
  c.num_classes = 2;
  c.input_size = 64;
  c.cxr.part1_outputs = 8;
  c.cxr.part1_select = {7, 0, 3, 4, 5, 6};
  c.cxr.positive_index = positive;
  return c;
}

}  // namespace

TEST(DeepCXRNet, OneCovidLogitBehindTwoClasses) {
  torch::manual_seed(0);
  for (int positive : {0, 1}) {
    auto net = make_model(cxr_config(positive));
    net->eval();
    torch::NoGradGuard ng;
    const auto x = torch::randn({3, 3, 64, 64});
    const auto f = net->features(x);
    EXPECT_EQ(f.sizes(), (std::vector<int64_t>{3, 1024 + 6 + 2, 2, 2}));
    EXPECT_EQ(net->cam_channels(), 1024);
    const auto logits = net->classify(f);
    ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{3, 2}));
    EXPECT_TRUE(torch::equal(logits.select(1, 0), -logits.select(1, 1)));
    // BCE on the one-hot target over both columns = the single-logit BCE of z.
    const auto z = logits.select(1, positive);
    const auto y = torch::tensor({1.f, 0.f, 1.f});
    const auto onehot = positive == 0 ? torch::stack({y, 1 - y}, 1) : torch::stack({1 - y, y}, 1);
    EXPECT_NEAR(torch::binary_cross_entropy_with_logits(logits, onehot).item<double>(),
                torch::binary_cross_entropy_with_logits(z, y).item<double>(), 1e-6);
  }
}

TEST(DeepCXRNet, PartsAreFrozenAndStayInEvalMode) {
  auto net = std::dynamic_pointer_cast<DeepCXRNetImpl>(make_model(cxr_config()));
  ASSERT_TRUE(net);
  net->train();
  for (int k : {1, 2}) {
    EXPECT_FALSE(net->part(k).is_training()) << "part " << k;
    for (const auto& p : net->part(k).parameters()) EXPECT_FALSE(p.requires_grad());
  }
  int64_t trainable = 0;
  for (const auto& p : net->parameters())
    if (p.requires_grad()) trainable += p.numel();
  int64_t expect = 0;
  for (const auto& [name, n] : net->part_sizes())
    if (name.rfind("part3", 0) == 0 || name == "head") expect += n;
  EXPECT_EQ(trainable, expect);
  // A training step moves part 3 and the head and leaves parts 1 and 2 (and their BN statistics) alone.
  const auto before1 = module_tensors(net->part(1)), before2 = module_tensors(net->part(2));
  std::vector<torch::Tensor> copy1, copy2;
  for (const auto& [n, t] : before1) copy1.push_back(t.clone());
  for (const auto& [n, t] : before2) copy2.push_back(t.clone());
  std::vector<torch::Tensor> params;
  for (const auto& p : net->parameters())
    if (p.requires_grad()) params.push_back(p);
  torch::optim::Adam opt(params, torch::optim::AdamOptions(1e-3));
  const auto loss = net->forward(torch::randn({4, 3, 64, 64})).sum();
  loss.backward();
  opt.step();
  for (size_t i = 0; i < copy1.size(); ++i) EXPECT_TRUE(torch::equal(copy1[i], before1[i].second)) << before1[i].first;
  for (size_t i = 0; i < copy2.size(); ++i) EXPECT_TRUE(torch::equal(copy2[i], before2[i].second)) << before2[i].first;
}

TEST(DeepCXRNet, ConfigRoundTripsAndIsValidated) {
  ModelConfig c = cxr_config(1);
  c.cxr.trunk_features = 12;
  const ModelConfig back = nlohmann::json(c).get<ModelConfig>();
  EXPECT_EQ(nlohmann::json(back), nlohmann::json(c));
  ModelConfig bad = c;
  bad.num_classes = 3;
  EXPECT_THROW(bad.validate(), UsageError);
  bad = c;
  bad.cxr.part1_select = {8};
  EXPECT_THROW(bad.validate(), UsageError);
  EXPECT_THROW(nlohmann::json({{"arch", "deep-cxr-net"}, {"cxr", {{"hidden", 3}}}}).get<ModelConfig>(), UsageError);
  // Other archs do not write the cxr block.
  EXPECT_FALSE(nlohmann::json(ModelConfig{}).contains("cxr"));
}

TEST(DeepCXRNet, PartsFromCheckpointsAndStateDicts) {
  test::TempDir dir;
  const std::string p1 = test::small_checkpoint(dir, 1, "p1.ckpt", {"Atelectasis", "Edema", "Pneumonia"});
  const std::string p2 = test::small_checkpoint(dir, 2, "p2.ckpt", {"normal", "pneumonia"});
  CxrPart a = read_cxr_part(p1, 64), b = read_cxr_part(p2, 64);
  EXPECT_EQ(resolve_select(a, {"pneumonia", "0"}), (std::vector<int>{2, 0}));
  EXPECT_THROW(resolve_select(a, {"Cardiomegaly"}), UsageError);
  PreprocessSpec spec;
  spec.stage1.size = 64;
  EXPECT_THROW(cxr_settings(a, {}, b, {"normal", "pneumonia"}, spec), UsageError);  // no COVID class
  ModelConfig cfg;
  cfg.arch = "deep-cxr-net";
  cfg.input_size = 64;
  cfg.cxr = cxr_settings(a, {2, 0}, b, {"non-covid", "covid"}, spec);
  EXPECT_EQ(cfg.cxr.positive_index, 1);
  EXPECT_EQ(cfg.cxr.part1_outputs, 3);
  auto net = std::dynamic_pointer_cast<DeepCXRNetImpl>(make_model(cfg));
  const nlohmann::json rec = attach_cxr_parts(*net, a, b);
  EXPECT_EQ(rec["part1"]["selected_outputs"], nlohmann::json({"Pneumonia", "Atelectasis"}));
  const auto src = module_tensors(*a.net);
  const auto dst = module_tensors(net->part(1));
  ASSERT_EQ(src.size(), dst.size());
  for (size_t i = 0; i < src.size(); ++i) EXPECT_TRUE(torch::equal(src[i].second, dst[i].second)) << src[i].first;

  // A torchvision-style state_dict (features.* + classifier.*) works as a part too.
  const std::string sd = dir.file("part1.pt");
  write_state_dict(sd, module_tensors(*a.net));
  CxrPart c = read_cxr_part(sd, 64);
  EXPECT_EQ(c.outputs, (std::vector<std::string>{"0", "1", "2"}));
  const auto from_sd = module_tensors(*c.net);
  for (size_t i = 0; i < src.size(); ++i) EXPECT_TRUE(torch::equal(src[i].second, from_sd[i].second)) << src[i].first;

  // A deep-ct-net checkpoint is not a part.
  Checkpoint ct;
  ct.model.input_size = 64;
  ct.classes = {"covid", "non-covid"};
  ct.spec.stage1.size = 64;
  ct.net = make_model(ct.model);
  save_checkpoint(dir.file("ct.ckpt"), ct);
  EXPECT_THROW(read_cxr_part(dir.file("ct.ckpt"), 64), FileError);
}

// ResNet-50 parts on a shared trunk: what a part computes inside the model is what the part
// computes alone (exact: the trunk is the same function), the trunk is stored once, frozen with
// the parts, and a part whose trunk differs is refused.
TEST(DeepCXRNet, ResNetPartsOnASharedTrunk) {
  test::TempDir dir;
  Checkpoint c1 = test::untrained_checkpoint(1, 64, {"Edema", "Pneumonia"}, "resnet50v1");
  Checkpoint c2 = test::untrained_checkpoint(2, 64, {"normal", "pneumonia"}, "resnet50v1");
  {  // part 2 fine-tuned from part 1's weights with the stem and layers 1-3 frozen
    torch::NoGradGuard ng;
    auto src = c1.net->named_parameters(true);
    for (auto& b : c1.net->named_buffers(true)) src.insert(b.key(), b.value());
    auto dst = c2.net->named_parameters(true);
    for (auto& b : c2.net->named_buffers(true)) dst.insert(b.key(), b.value());
    for (auto& t : dst)
      if (t.key().rfind("layer4.", 0) != 0 && t.key().rfind("fc.", 0) != 0) t.value().copy_(src[t.key()]);
  }
  save_checkpoint(dir.file("p1.ckpt"), c1);
  save_checkpoint(dir.file("p2.ckpt"), c2);
  CxrPart a = read_cxr_part(dir.file("p1.ckpt"), 64), b = read_cxr_part(dir.file("p2.ckpt"), 64);
  EXPECT_EQ(a.arch, "resnet50v1");
  PreprocessSpec spec;
  spec.stage1.size = 64;
  ModelConfig cfg;
  cfg.arch = "deep-cxr-net";
  cfg.backbone = "resnet50v1";
  cfg.input_size = 64;
  ModelConfig::Cxr base;
  base.shared_stages = 3;
  cfg.cxr = cxr_settings(a, {}, b, {"covid", "non-covid"}, spec, base);
  EXPECT_EQ(cfg.cxr.part_arch, "resnet50v1");
  EXPECT_EQ(cfg.cxr.shared_stages, 3);
  auto net = std::dynamic_pointer_cast<DeepCXRNetImpl>(make_model(cfg));
  attach_cxr_parts(*net, a, b);
  net->train();  // the parts and the trunk stay in eval mode
  torch::NoGradGuard ng;
  const auto x = torch::randn({2, 3, 64, 64});
  const auto f = net->features(x);
  ASSERT_EQ(f.sizes(), (std::vector<int64_t>{2, 2048 + 2 + 2, 2, 2}));
  a.net->eval();
  b.net->eval();
  const auto alone = torch::cat({torch::sigmoid(a.net->forward(x)), torch::sigmoid(b.net->forward(x))}, 1);
  const auto inside = f.narrow(1, 2048, 4).select(3, 0).select(2, 0);
  EXPECT_TRUE(torch::allclose(inside, alone, 1e-5, 1e-6)) << inside << alone;
  for (const auto& m : net->trunk_modules()) {
    EXPECT_FALSE(m->is_training());
    for (const auto& p : m->parameters()) EXPECT_FALSE(p.requires_grad());
  }
  // Stored once: the parts hold layer4 and their classifiers only.
  EXPECT_EQ(count_parameters(net->part(1)), 14964736 + 2048 * 2 + 2);
  ModelConfig separate = cfg;
  separate.cxr.shared_stages = 0;
  EXPECT_EQ(count_parameters(*make_model(separate)) - count_parameters(*net), 2 * (23508032 - 14964736));
  // The same model from a checkpoint gives the same outputs.
  Checkpoint ck;
  ck.model = cfg;
  ck.classes = {"covid", "non-covid"};
  ck.spec = spec;
  ck.net = net;
  save_checkpoint(dir.file("cxr.ckpt"), ck);
  auto back = load_checkpoint(dir.file("cxr.ckpt"));
  back.net->eval();
  net->eval();
  EXPECT_TRUE(torch::equal(back.net->forward(x), net->forward(x)));

  // A part trained with its trunk unfrozen is refused, naming a tensor.
  {
    auto p = c2.net->named_parameters(true);
    p["layer2.0.conv1.weight"].add_(1e-3);
  }
  save_checkpoint(dir.file("p2-moved.ckpt"), c2);
  CxrPart moved = read_cxr_part(dir.file("p2-moved.ckpt"), 64);
  auto net2 = std::dynamic_pointer_cast<DeepCXRNetImpl>(make_model(cfg));
  try {
    attach_cxr_parts(*net2, a, moved);
    FAIL() << "a part with another trunk was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("layer2.0.conv1.weight"), std::string::npos) << e.what();
  }
  // Sharing needs ResNet parts of the backbone's kind.
  ModelConfig bad = cfg;
  bad.backbone = "densenet121";
  EXPECT_THROW(bad.validate(), UsageError);
}

// model convert --int8-frozen: the frozen parts' weights in 8 bits (one scale per output channel),
// everything else as before; loaded back within half a step of each channel's scale.
TEST(DeepCXRNet, FrozenWeightsStoredInEightBits) {
  test::TempDir dir;
  torch::manual_seed(3);
  Checkpoint ck;
  ck.model = cxr_config();
  ck.classes = {"covid", "non-covid"};
  ck.spec.stage1.size = 64;
  ck.net = make_model(ck.model);
  save_checkpoint(dir.file("half.ckpt"), ck, /*half=*/true);
  save_checkpoint(dir.file("q8.ckpt"), ck, /*half=*/true, /*int8_frozen=*/true);
  const auto half_size = std::filesystem::file_size(dir.file("half.ckpt"));
  const auto q8_size = std::filesystem::file_size(dir.file("q8.ckpt"));
  auto net = std::dynamic_pointer_cast<DeepCXRNetImpl>(ck.net);
  const int64_t frozen = count_parameters(net->part(1)) + count_parameters(net->part(2));
  EXPECT_LT(q8_size, half_size - frozen * 9 / 10) << half_size << " vs " << q8_size;
  const Checkpoint back = load_checkpoint(dir.file("q8.ckpt"));
  auto before = ck.net->named_parameters(true);
  int checked = 0;
  for (const auto& p : back.net->named_parameters(true)) {
    const torch::Tensor& w = before[p.key()];
    if (p.key().rfind("part1.", 0) == 0 && w.dim() >= 2) {
      const auto step = w.abs().flatten(1).amax(1) / 127.0;
      const auto err = (p.value() - w).abs().flatten(1).amax(1);
      EXPECT_TRUE((err <= step * 0.5 + 1e-7).all().item<bool>()) << p.key();
      ++checked;
    } else if (p.key().rfind("part3.", 0) == 0) {
      EXPECT_TRUE(torch::allclose(p.value(), w.to(torch::kHalf).to(torch::kFloat))) << p.key();  // fp16 as before
    }
  }
  EXPECT_GT(checked, 100);
}
