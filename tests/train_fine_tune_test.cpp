// Fine-tuning a pretrained backbone: the source-balanced sampler (train/sampling.h), frozen
// backbone parts (train/fine_tune.h), and a run with --init, --freeze, a backbone learning rate of
// its own and the source sampler, on a tiny synthetic pack.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <set>

#include "covscreen/core/error.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/models/registry.h"
#include "covscreen/models/state_dict.h"
#include "covscreen/train/fine_tune.h"
#include "covscreen/train/sampling.h"
#include "covscreen/train/trainer.h"
#include "synthetic_pack.h"
#include "test_util.h"

namespace covscreen {
namespace {

TEST(Sampling, SourceBalancedOrderGivesEachSourceAnEqualShare) {
  std::vector<int64_t> items;
  std::vector<std::string> sources;
  for (int64_t i = 0; i < 100; ++i) {
    items.push_back(i);
    sources.push_back(i < 90 ? "big" : "small");
  }
  const auto order = source_balanced_order(items, sources, 5, 0);
  ASSERT_EQ(order.size(), 100u);
  std::map<std::string, int> per_source;
  std::map<int64_t, int> times;
  for (int64_t i : order) {
    ++per_source[sources[i]];
    ++times[i];
  }
  EXPECT_EQ(per_source["big"], 50);
  EXPECT_EQ(per_source["small"], 50);
  for (int64_t i = 90; i < 100; ++i) EXPECT_EQ(times[i], 5) << i;  // cycled through whole orders
  std::set<int64_t> big;
  for (int64_t i : order)
    if (i < 90) big.insert(i);
  EXPECT_EQ(big.size(), 50u);  // drawn without replacement

  EXPECT_EQ(order, source_balanced_order(items, sources, 5, 0));  // deterministic
  EXPECT_NE(order, source_balanced_order(items, sources, 5, 1));  // another epoch, another draw
  EXPECT_NE(order, source_balanced_order(items, sources, 6, 0));
  // One source: a shuffle of the items.
  auto one = source_balanced_order(items, std::vector<std::string>(100, "x"), 5, 0);
  std::sort(one.begin(), one.end());
  EXPECT_EQ(one, items);
}

ModelConfig resnet_v1(int size) {
  ModelConfig c;
  c.arch = "resnet50v1";
  c.input_size = size;
  return c;
}

TEST(FineTune, FreezeNamesBackbonePartsByTorchvisionPrefix) {
  const ModelConfig cfg = resnet_v1(64);
  ScreenModel net = make_model(cfg);
  EXPECT_EQ(freeze_backbone(*net, cfg, {"conv1", "bn1", "layer1"}), 1 + 2 + 3 * 9 + 3);  // + layer1.0.downsample
  for (const auto& p : net->named_parameters(true)) {
    const bool frozen =
        p.key().rfind("conv1.", 0) == 0 || p.key().rfind("bn1.", 0) == 0 || p.key().rfind("layer1.", 0) == 0;
    EXPECT_EQ(p.value().requires_grad(), !frozen) << p.key();
  }
  try {
    freeze_backbone(*net, cfg, {"layer9"});
    ADD_FAILURE() << "layer9 was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("resnet50v1 backbone is named 'layer9.*'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(freeze_backbone(*net, cfg, {"fc"}), UsageError);  // the head is not the backbone
}

TEST(FineTune, InitFreezeBackboneRateAndSourceSamplerTrainAndAreRecorded) {
  test::TempDir dir;
  Pack train = test::synthetic_pack(12, 64, 1), val = test::synthetic_pack(8, 64, 2);
  for (int i = 0; i < 12; ++i) train.sources.push_back(i < 9 ? "A" : "B");
  // "Pretrained" weights: another seeded resnet50v1, saved as a torchvision state_dict.
  torch::manual_seed(99);
  ScreenModel donor = make_model(resnet_v1(64));
  const std::string init = dir.file("init.pt");
  write_state_dict(init, module_tensors(*donor));

  TrainConfig c = named_config("finetune");
  c.model = resnet_v1(64);
  c.epochs = 1;
  c.batch_size = 4;
  c.device = DeviceKind::kCpu;
  c.amp = Amp::kNone;
  c.init = init;
  TrainInputs in{&train, &val, "synthetic", "synthetic-val"};
  train_model(c, in, dir.file("run"), false);
  Checkpoint ck = load_checkpoint(dir.file("run/last.ckpt"));
  ASSERT_TRUE(ck.training.contains("init")) << ck.training.dump();
  EXPECT_EQ(ck.training["init"]["file"], "init.pt");
  EXPECT_EQ(ck.training["init"]["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(ck.training["init"]["tensors_loaded"], 318);
  EXPECT_EQ(ck.training["config"]["sampler"], "source") << ck.training.dump();

  auto got = ck.net->named_parameters(true), start = donor->named_parameters(true);
  EXPECT_TRUE(torch::equal(got["conv1.weight"], start["conv1.weight"]));  // frozen
  EXPECT_TRUE(torch::equal(got["layer1.2.conv3.weight"], start["layer1.2.conv3.weight"]));
  EXPECT_FALSE(torch::equal(got["layer4.2.conv3.weight"], start["layer4.2.conv3.weight"]));  // trained
  auto buffers = ck.net->named_buffers(true), start_buffers = donor->named_buffers(true);
  EXPECT_TRUE(torch::equal(buffers["layer3.0.bn1.running_mean"], start_buffers["layer3.0.bn1.running_mean"]))
      << "bn frozen: running statistics kept";

  // A state_dict that lacks backbone tensors stops the run, naming the file.
  write_state_dict(dir.file("part.pt"), NamedTensors{{"layer1.0.conv1.weight", start["layer1.0.conv1.weight"]}});
  c.init = dir.file("part.pt");
  try {
    train_model(c, in, dir.file("run2"), false);
    ADD_FAILURE() << "a partial --init was accepted";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("part.pt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not in it"), std::string::npos) << e.what();
  }
  // The source sampler needs the pack's sources.
  train.sources.clear();
  c.init = init;
  EXPECT_THROW(train_model(c, in, dir.file("run3"), false), UsageError);
}

}  // namespace
}  // namespace covscreen
