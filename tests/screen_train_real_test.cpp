// A short training run on real data (COVID-CT train, 64 px, 2 epochs): the loss goes down and
// the model beats chance on the official val split. Skips when the data set is absent.
#include <gtest/gtest.h>

#include <fstream>

#include "covscreen/preprocess/data_source.h"
#include "covscreen/train/trainer.h"
#include "test_util.h"

using namespace covscreen;

TEST(TrainRealData, TwoEpochsLowerTheLossAndBeatChanceOnVal) {
  COVSCREEN_REQUIRE_DATASET(root, "COVID-CT");
  test::TempDir dir;
  DataSourceOptions ds;
  ds.layout = "covid-ct";
  ds.stage1.size = 64;
  ds.split = "train";
  LoadedData train = load_data(root, ds);
  ds.split = "val";
  ds.classes = train.pack.classes;
  LoadedData val = load_data(root, ds);
  ASSERT_EQ(train.pack.size(), 425);
  ASSERT_EQ(val.pack.size(), 118);

  TrainConfig cfg = named_config("scratch");
  cfg.model.arch = "densenet121";
  cfg.epochs = 2;
  cfg.warmup_epochs = 0;
  cfg.lr = 1e-3;
  cfg.batch_size = 16;
  cfg.device = DeviceKind::kCpu;
  cfg.seed = 1;
  TrainInputs in{&train.pack, &val.pack, train.description, val.description};
  TrainResult r = train_model(cfg, in, dir.file("run"), false);
  EXPECT_EQ(r.epochs_run, 2);

  std::ifstream log(dir.file("run/log.jsonl"));
  std::vector<nlohmann::json> lines;
  for (std::string l; std::getline(log, l);) lines.push_back(nlohmann::json::parse(l));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_LT(lines[1]["loss"].get<double>(), lines[0]["loss"].get<double>());
  const double auc = std::max(lines[0]["val"]["auc"].get<double>(), lines[1]["val"]["auc"].get<double>());
  EXPECT_GT(auc, 0.55) << "val AUC after 2 epochs";
  EXPECT_DOUBLE_EQ(r.best_val_auc, auc);
}
