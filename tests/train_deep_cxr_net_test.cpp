// Training Deep-CXR-Net (part 3 + head) around frozen parts read from checkpoints: the parts in
// the saved checkpoints are bit-identical to the part files; and a multi-label (part 1) run.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "cli_util.h"
#include "covscreen/core/error.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/models/deep_cxr_net.h"
#include "covscreen/models/state_dict.h"
#include "covscreen/train/trainer.h"
#include "synthetic_pack.h"
#include "test_util.h"

using namespace covscreen;

namespace {

TrainConfig tiny(const std::string& arch) {
  TrainConfig c;
  c.model.arch = arch;
  c.epochs = 1;
  c.batch_size = 4;
  c.lr = 1e-3;
  c.seed = 3;
  c.device = DeviceKind::kCpu;
  return c;
}

}  // namespace

TEST(TrainDeepCXRNet, PartsAreBitIdenticalBeforeAndAfterTraining) {
  test::TempDir dir;
  const std::string p1 = test::small_checkpoint(
      dir, 11, "p1.ckpt",
      {"Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion", "Pneumonia", "No Finding"});
  const std::string p2 = test::small_checkpoint(dir, 12, "p2.ckpt", {"normal", "pneumonia"});
  Pack train = test::synthetic_pack(12, 64, 1), val = test::synthetic_pack(8, 64, 2);
  TrainConfig c = tiny("deep-cxr-net");
  c.part1 = p1;
  c.part2 = p2;
  c.part1_select = {"Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion", "Pneumonia"};
  TrainInputs in{&train, &val, "synthetic", "synthetic-val"};
  const TrainResult r = train_model(c, in, dir.file("run"), false);
  ASSERT_EQ(r.epochs_run, 1);

  for (const std::string& saved : {r.last_checkpoint, r.best_checkpoint}) {
    Checkpoint ck = load_checkpoint(saved);
    ASSERT_EQ(ck.model.arch, "deep-cxr-net");
    EXPECT_EQ(ck.model.cxr.part1_select, (std::vector<int>{0, 1, 2, 3, 4, 5}));
    EXPECT_EQ(ck.training["parts"]["part1"]["file"], p1);
    auto& net = static_cast<DeepCXRNetImpl&>(*ck.net);
    for (int k : {1, 2}) {
      const Checkpoint src = load_checkpoint(k == 1 ? p1 : p2);
      const auto a = module_tensors(*src.net), b = module_tensors(net.part(k));
      ASSERT_EQ(a.size(), b.size());
      for (size_t i = 0; i < a.size(); ++i)
        EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << "part " << k << " " << a[i].first << " in " << saved;
    }
    // Part 3 did train: its weights differ from a fresh model's of the same seed.
    torch::manual_seed(c.seed);
    auto fresh = make_model(ck.model);
    auto trained = ck.net->named_parameters(true), init = fresh->named_parameters(true);
    EXPECT_FALSE(torch::equal(trained["fc2.weight"], init["fc2.weight"]));
  }
  // Resuming restores everything (frozen parts included) and finishes the run.
  TrainConfig more = c;
  more.epochs = 2;
  EXPECT_EQ(train_model(more, in, dir.file("run"), true).epochs_run, 2);

  TrainConfig missing = c;
  missing.part2.clear();
  EXPECT_THROW(train_model(missing, in, dir.file("run2"), false), UsageError);
}

TEST(TrainMultiLabel, FindingsPackTrainsWithPerFindingValidation) {
  test::TempDir dir;
  Pack train = test::synthetic_pack(12, 32, 4), val = test::synthetic_pack(8, 32, 5);
  for (Pack* p : {&train, &val}) {  // findings: "disc" (the covid images), "noise" (all), "never"
    p->classes = {"disc", "noise", "never"};
    p->targets = torch::zeros({p->size(), 3});
    for (int64_t i = 0; i < p->size(); ++i) {
      p->targets[i][0] = p->labels[i] == 0 ? 1.f : 0.f;
      p->targets[i][1] = 1.f;
      p->labels[i] = -1;
    }
  }
  TrainConfig c = tiny("densenet121");
  c.class_weights = ClassWeights::kBalanced;
  TrainInputs in{&train, &val, "synthetic", "synthetic-val"};
  const TrainResult r = train_model(c, in, dir.file("ml"), false);
  Checkpoint ck = load_checkpoint(r.best_checkpoint);
  EXPECT_EQ(ck.classes, (std::vector<std::string>{"disc", "noise", "never"}));
  EXPECT_EQ(ck.training["task"], "multi-label");
  ASSERT_TRUE(ck.metrics.contains("auc_mean"));
  EXPECT_TRUE(ck.metrics["auc"]["never"].is_null());  // one class only: undefined, not averaged
  EXPECT_TRUE(ck.metrics["auc"]["noise"].is_null());
  EXPECT_DOUBLE_EQ(ck.metrics["auc_mean"].get<double>(), ck.metrics["auc"]["disc"].get<double>());
}
