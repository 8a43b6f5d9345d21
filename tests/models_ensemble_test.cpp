// Seed ensembles (models/ensemble.h): the logits are the members' mean, Grad-CAM is the ensemble's
// own (the members' maps weighted by the mean logit's gradient), the checkpoint round trip, and
// what make_ensemble and training refuse.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "checkpoint_fixture.h"
#include "covscreen/core/error.h"
#include "covscreen/explain/grad_cam.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/models/ensemble.h"
#include "covscreen/models/registry.h"
#include "covscreen/models/state_dict.h"
#include "test_util.h"

using namespace covscreen;

namespace {

Checkpoint member(uint64_t seed, const std::string& arch = "densenet121") {
  Checkpoint ck = test::untrained_checkpoint(seed, 64, {"covid", "non-covid"}, arch);
  ck.threshold = 0.3 + 0.1 * static_cast<double>(seed % 3);
  ck.training = {{"seed", seed}};
  ck.metrics = {{"auc", 0.5 + 0.01 * static_cast<double>(seed)}};
  ck.net->eval();
  return ck;
}

double logit(double p) { return std::log(p / (1 - p)); }

}  // namespace

TEST(Ensemble, LogitsAreTheMembersMeanAndGradCamIsTheEnsembles) {
  for (const std::string arch : {"densenet121", "deep-cxr-net"}) {
    SCOPED_TRACE(arch);
    const std::vector<Checkpoint> ms = {member(1, arch), member(2, arch), member(3, arch)};
    const Checkpoint e = make_ensemble(ms, {"a.ckpt", "b.ckpt", "c.ckpt"});
    EXPECT_EQ(e.model.members, 3);
    const auto x = torch::randn({2, 3, 64, 64});
    torch::Tensor mean;
    {
      torch::NoGradGuard ng;
      for (const auto& m : ms) mean = mean.defined() ? mean + m.net->forward(x) : m.net->forward(x);
      mean /= 3.0;
      EXPECT_TRUE(torch::allclose(e.net->forward(x), mean, 1e-5, 1e-5));
    }
    // Grad-CAM: the ensemble's map is ReLU(sum over members of their unrectified CAMs) / 3, i.e.
    // each member's map channels weighted by its own gradient, divided by the member count.
    const auto target = torch::tensor({0, 1}, torch::kLong);
    const CamResult cam = grad_cam(*e.net, x, target);
    torch::Tensor raw;
    for (const auto& m : ms) {
      const CamResult one = grad_cam(*m.net, x, target);
      const auto r = (one.weights.unsqueeze(-1).unsqueeze(-1) * one.features).sum(1);
      raw = raw.defined() ? raw + r : r;
    }
    EXPECT_TRUE(torch::allclose(cam.maps, torch::relu(raw) / 3.0, 1e-4, 1e-5));
    EXPECT_TRUE(torch::allclose(cam.logits, mean, 1e-5, 1e-5));
    if (arch == "deep-cxr-net") EXPECT_EQ(e.net->cam_channels(), 3 * ms[0].net->cam_channels());
  }
}

TEST(Ensemble, CheckpointRoundTripAndCard) {
  test::TempDir dir;
  const std::vector<Checkpoint> ms = {member(4), member(5)};
  const Checkpoint e = make_ensemble(ms, {"s4.ckpt", "s5.ckpt"});
  // The members' thresholds averaged on the logit scale.
  EXPECT_NEAR(logit(e.threshold), (logit(ms[0].threshold) + logit(ms[1].threshold)) / 2, 1e-9);
  const std::string path = dir.file("e.ckpt");
  save_checkpoint(path, e);
  const Checkpoint back = load_checkpoint(path);
  EXPECT_EQ(back.model.members, 2);
  const auto x = torch::randn({1, 3, 64, 64});
  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::equal(back.net->forward(x), e.net->forward(x)));
  const auto names = module_tensors(*back.net);
  EXPECT_EQ(names.front().first.rfind("members.0.", 0), 0u) << names.front().first;
  EXPECT_EQ(names.size(), 2 * module_tensors(*ms[0].net).size());

  const nlohmann::json card = model_card(back);
  EXPECT_EQ(card["model"]["members"], 2);
  ASSERT_EQ(card["training"]["members"].size(), 2u);
  EXPECT_EQ(card["training"]["members"][1]["file"], "s5.ckpt");
  EXPECT_EQ(card["training"]["members"][1]["seed"], 5);
  EXPECT_EQ(card["training"]["members"][0]["metrics"], ms[0].metrics);
  int64_t one = 0;
  for (const auto& [name, n] : ms[0].net->part_sizes()) one += n;
  EXPECT_EQ(card["total_parameters"].get<int64_t>(), 2 * one);
  // A single model's config has no "members" key, so its JSON (and data hashes) read as before.
  EXPECT_FALSE(nlohmann::json(ms[0].model).contains("members"));
}

TEST(Ensemble, RefusesWhatIsNotOneRecipe) {
  auto expect_refused = [](std::vector<Checkpoint> ms, const std::string& what) {
    std::vector<std::string> files;
    for (size_t i = 0; i < ms.size(); ++i) files.push_back("m" + std::to_string(i) + ".ckpt");
    try {
      make_ensemble(ms, files);
      ADD_FAILURE() << "accepted: " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_refused({member(1)}, "needs 2 to 16 models (have 1)");
  Checkpoint other = member(2);
  other.classes = {"covid", "normal"};
  expect_refused({member(1), other}, "m1.ckpt: has other classes than m0.ckpt");
  Checkpoint cropped = member(2);
  cropped.spec.stage1.lungs.enabled = true;
  expect_refused({member(1), cropped}, "prepares images otherwise than m0.ckpt: lung crop");
  Checkpoint resnet = member(2, "resnet50");
  expect_refused({member(1), resnet}, "has another architecture config");
  const Checkpoint pair = make_ensemble({member(1), member(2)}, {"a", "b"});
  expect_refused({member(1), pair}, "is already an ensemble (2 members)");
  // Augmentation is training-only: members trained with other augmentation screen alike.
  Checkpoint augmented = member(2);
  augmented.spec.stage2.rotate_degrees = 5;
  EXPECT_NO_THROW(make_ensemble({member(1), augmented}, {"a", "b"}));
}

TEST(Ensemble, IsNotTrainedAsOneAndTakesNoBackboneImport) {
  ModelConfig cfg;
  cfg.arch = "densenet121";
  cfg.input_size = 64;
  cfg.members = 2;
  ModelBuildContext ctx;
  ctx.classes = {"covid", "non-covid"};
  try {
    build_for_training(cfg, ctx);
    ADD_FAILURE() << "trained an ensemble";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("covscreen model ensemble"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_model(cfg)->backbone_prefix(), UsageError);
  cfg.members = kMaxEnsembleMembers + 1;
  EXPECT_THROW(cfg.validate(), UsageError);
  // "members" round-trips through the config JSON.
  cfg.members = 3;
  EXPECT_EQ(nlohmann::json(cfg).get<ModelConfig>().members, 3);
}
