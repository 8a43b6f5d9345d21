// Training: resume equivalence on a tiny synthetic pack, config merging, and (on real data) a
// short run that lowers the loss and beats chance on validation.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "covscreen/core/error.h"
#include "covscreen/data/pack.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/train/trainer.h"
#include "synthetic_pack.h"
#include "test_util.h"

using namespace covscreen;

namespace {
using test::synthetic_pack;

TrainConfig tiny_config(int epochs) {
  TrainConfig c;
  c.model.arch = "densenet121";
  c.epochs = epochs;
  c.batch_size = 4;
  c.lr = 1e-3;
  c.seed = 7;
  c.device = DeviceKind::kCpu;
  c.threshold_rule = metrics::parse_threshold_rule("youden");
  return c;
}
}  // namespace

TEST(Train, ResumedRunEndsWithTheSameWeightsAsAnUninterruptedOne) {
  test::TempDir dir;
  Pack train = synthetic_pack(12, 32, 1), val = synthetic_pack(8, 32, 2);
  TrainInputs in{&train, &val, "synthetic", "synthetic-val"};
  const std::string a = dir.file("straight"), b = dir.file("resumed");
  train_model(tiny_config(2), in, a, false);
  train_model(tiny_config(1), in, b, false);
  train_model(tiny_config(2), in, b, true);
  Checkpoint ca = load_checkpoint(a + "/last.ckpt"), cb = load_checkpoint(b + "/last.ckpt");
  EXPECT_EQ(ca.training["epoch"], 1);
  EXPECT_EQ(cb.training["epoch"], 1);
  auto pa = ca.net->named_parameters(true), pb = cb.net->named_parameters(true);
  ASSERT_EQ(pa.size(), pb.size());
  double max_diff = 0;
  for (const auto& p : pa) max_diff = std::max(max_diff, (p.value() - pb[p.key()]).abs().max().item<double>());
  EXPECT_LT(max_diff, 1e-6);
  auto ba = ca.net->named_buffers(true), bb = cb.net->named_buffers(true);
  for (const auto& p : ba) EXPECT_TRUE(torch::allclose(p.value().to(torch::kFloat64), bb[p.key()].to(torch::kFloat64)));
  // The log has one line per epoch in both runs, and the config (with the seed) is saved.
  std::ifstream log(b + "/log.jsonl");
  int lines = 0;
  for (std::string l; std::getline(log, l);) ++lines;
  EXPECT_EQ(lines, 2);
  EXPECT_TRUE(std::filesystem::exists(b + "/config.json"));
  EXPECT_TRUE(std::filesystem::exists(b + "/best.ckpt"));
  // A different seed gives different weights (so the equality above is not vacuous).
  TrainConfig other = tiny_config(2);
  other.seed = 8;
  train_model(other, in, dir.file("other"), false);
  Checkpoint co = load_checkpoint(dir.file("other") + "/last.ckpt");
  auto po = co.net->named_parameters(true);
  double diff = 0;
  for (const auto& p : pa) diff = std::max(diff, (p.value() - po[p.key()]).abs().max().item<double>());
  EXPECT_GT(diff, 1e-4);
}

TEST(Train, ResumeWithoutACheckpointIsAClearError) {
  test::TempDir dir;
  Pack train = synthetic_pack(6, 32, 1);
  TrainInputs in{&train, nullptr, "synthetic", ""};
  EXPECT_THROW(train_model(tiny_config(1), in, dir.file("none"), true), UsageError);
}

TEST(TrainConfig, FileThenFlagsOverrideDefaultsAndTyposAreRejected) {
  TrainConfig c = named_config("paper");
  EXPECT_DOUBLE_EQ(c.lr, 1e-5);
  merge_json({{"lr", 3e-4}, {"epochs", 5}, {"model", {{"arch", "resnet50"}}}}, c);
  EXPECT_DOUBLE_EQ(c.lr, 3e-4);
  EXPECT_EQ(c.epochs, 5);
  EXPECT_EQ(c.model.arch, "resnet50");
  merge_json({{"epochs", 7}}, c);
  EXPECT_EQ(c.epochs, 7);
  EXPECT_DOUBLE_EQ(c.lr, 3e-4);
  EXPECT_THROW(merge_json({{"learning_rate", 1}}, c), UsageError);
  EXPECT_THROW(merge_json({{"batch_size", 0}}, c), UsageError);
  EXPECT_THROW(named_config("nope"), UsageError);
  // Round trip through JSON.
  TrainConfig d;
  merge_json(nlohmann::json(c), d);
  EXPECT_EQ(nlohmann::json(c), nlohmann::json(d));
}
