// Typed options: every choice is parsed once, when the config or the command line is read, and a
// bad value fails there, naming the key, the value and the valid values (train/train_config.h,
// metrics/threshold.h, core/registry.h). The CLI half checks that `covscreen train`,
// `covscreen dataset index|pack|build`, `evaluate` and `explain` refuse bad values before any work:
// no output folder, no indexing, no model loaded.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "cli_util.h"
#include "covscreen/core/error.h"
#include "covscreen/data/layouts.h"
#include "covscreen/metrics/threshold.h"
#include "covscreen/train/train_config.h"

using namespace covscreen;
namespace fs = std::filesystem;

namespace {

// The UsageError message of merge_json(j), or "" when it was accepted.
std::string merge_error(const nlohmann::json& j) {
  TrainConfig c;
  try {
    merge_json(j, c);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

void expect_names_all(const std::string& msg, const std::vector<std::string>& parts) {
  for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' missing from: " << msg;
}

}  // namespace

TEST(TrainOptions, EnumsParseOnceAndListTheValidValues) {
  TrainConfig c;
  merge_json(
      {{"amp", "bf16"}, {"lr_schedule", "cosine"}, {"class_weights", "balanced"}, {"bn", "frozen"}, {"device", "cpu"}},
      c);
  EXPECT_EQ(c.amp, Amp::kBf16);
  EXPECT_EQ(c.lr_schedule, LrSchedule::kCosine);
  EXPECT_EQ(c.class_weights, ClassWeights::kBalanced);
  EXPECT_EQ(c.bn, BnMode::kFrozen);
  EXPECT_EQ(c.device, DeviceKind::kCpu);
  expect_names_all(merge_error({{"amp", "bf17"}}), {"amp", "bf17", "none, bf16, fp16"});
  expect_names_all(merge_error({{"lr_schedule", "linear"}}), {"lr_schedule", "linear", "constant, cosine, step"});
  expect_names_all(merge_error({{"class_weights", "inverse"}}), {"class_weights", "inverse", "none, balanced"});
  expect_names_all(merge_error({{"bn", "sync"}}), {"bn", "sync", "local, frozen"});
  expect_names_all(merge_error({{"device", "gpu"}}), {"device", "gpu", "auto, cpu, cuda"});
  expect_names_all(merge_error({{"model", {{"arch", "vit"}}}}), {"vit", "deep-ct-net", "resnet50"});
  expect_names_all(merge_error({{"amp", 3}}), {"amp"});
  // All or nothing: a bad value leaves the config as it was.
  TrainConfig d;
  EXPECT_THROW(merge_json({{"epochs", 3}, {"amp", "bf17"}}, d), UsageError);
  EXPECT_EQ(d.epochs, TrainConfig{}.epochs);
}

TEST(TrainOptions, ThresholdRuleIsParsedWithItsTarget) {
  using metrics::ThresholdMethod;
  const auto r = metrics::parse_threshold_rule("sensitivity>=0.95");
  EXPECT_EQ(r.method, ThresholdMethod::kTargetSensitivity);
  EXPECT_DOUBLE_EQ(r.value, 0.95);
  EXPECT_EQ(metrics::parse_threshold_rule("youden").method, ThresholdMethod::kYouden);
  EXPECT_EQ(metrics::parse_threshold_rule("0.5").method, ThresholdMethod::kFixed);  // the old spelling
  EXPECT_DOUBLE_EQ(metrics::parse_threshold_rule("fixed=0.3").value, 0.3);
  EXPECT_DOUBLE_EQ(metrics::parse_threshold_rule("fixed").value, 0.5);
  EXPECT_DOUBLE_EQ(metrics::parse_threshold_rule("target_sensitivity=0.9").value, 0.9);
  EXPECT_EQ(metrics::parse_threshold_rule("specificity>=0.9").method, ThresholdMethod::kTargetSpecificity);
  EXPECT_DOUBLE_EQ(metrics::parse_threshold_rule("target_specificity=0.8").value, 0.8);
  EXPECT_THROW(metrics::parse_threshold_rule("specificity>=0"), UsageError);
  EXPECT_THROW(metrics::parse_threshold_rule("specificity"), UsageError);
  for (const std::string& text : {"sensitivity>=0.95", "specificity>=0.9", "youden", "fixed=0.3"})
    EXPECT_EQ(metrics::to_string(metrics::parse_threshold_rule(text)), text);
  // Refused at once (not after an epoch of training), with the forms listed.
  for (const std::string bad : {"sensitivity>=abc", "sensitivity>=0.9x", "sensitivity>=", "sensitivity>=1.5",
                                "sensitivity", "youden=1", "best", "fixed=2", ""}) {
    SCOPED_TRACE(bad);
    try {
      metrics::parse_threshold_rule(bad);
      ADD_FAILURE() << "accepted";
    } catch (const UsageError& e) {
      expect_names_all(e.what(), {"threshold_rule", "youden", "fixed[=T]", "sensitivity>=S"});
    }
  }
  TrainConfig c;
  merge_json({{"threshold_rule", "sensitivity>=0.8"}}, c);
  EXPECT_DOUBLE_EQ(c.threshold_rule.value, 0.8);
  EXPECT_EQ(nlohmann::json(c)["threshold_rule"], "sensitivity>=0.8");
  expect_names_all(merge_error({{"threshold_rule", "sensitivity>=0.9x"}}), {"threshold_rule", "0.9x"});
}

TEST(TrainOptions, TheFieldListIsTheJson) {
  TrainConfig c = named_config("scratch");
  const nlohmann::json j = c;
  TrainConfig d;
  merge_json(j, d);
  EXPECT_EQ(nlohmann::json(d), j);
  EXPECT_EQ(j["lr_schedule"], "cosine");
  EXPECT_EQ(j["class_weights"], "balanced");
  expect_names_all(merge_error({{"learning_rate", 1}}), {"learning_rate", "lr", "epochs", "threshold_rule"});
  expect_names_all(merge_error({{"model", {{"fpa_chanels", 2}}}}), {"fpa_chanels", "fpa_channels"});
}

TEST(TrainOptions, LayoutRegistryNamesEveryLayout) {
  EXPECT_EQ(layouts().names(),
            (std::vector<std::string>{"auto", "folders", "covid-ct", "ieee8023", "kermany", "manifest"}));
  IndexOptions o;
  o.layout = "kermanny";
  try {
    index_dataset("/nonexistent", o);
    FAIL() << "an unknown layout was accepted";
  } catch (const UsageError& e) {
    expect_names_all(e.what(), {"kermanny", "folders", "covid-ct", "ieee8023", "kermany", "manifest"});
  }
}

// ---------------------------------------------------------------- the command line
class TrainOptionsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_cli()) COVSCREEN_SKIP() << "the covscreen binary is not built";
  }
  // Runs the command and checks: exit 1, the message names every part, nothing was created, fast.
  void expect_refused(const std::string& args, const std::vector<std::string>& parts) {
    SCOPED_TRACE(args);
    const auto t0 = std::chrono::steady_clock::now();
    const test::CliRun r = test::run_cli(args, dir_);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.rc, 1) << r.err;
    expect_names_all(r.err, parts);
    EXPECT_FALSE(fs::exists(dir_.file("run"))) << "work started before the bad value was refused";
    EXPECT_EQ(r.err.find("epoch"), std::string::npos) << r.err;
    EXPECT_LT(s, 30.0) << "refusing a bad flag should not take long";
  }
  test::TempDir dir_;
};

TEST_F(TrainOptionsCli, BadValuesAreRefusedBeforeTrainingOrIndexing) {
  const std::string data = dir_.file("nodata");  // never read: the flags are refused first
  const std::string base = "train --train '" + data + "' --out '" + dir_.file("run") + "' ";
  expect_refused(base + "--amp bf17", {"bf17", "none, bf16, fp16"});
  expect_refused(base + "--threshold-rule 'sensitivity>=abc'", {"sensitivity>=abc", "youden"});
  expect_refused(base + "--threshold-rule 'sensitivity>=0.9x'", {"0.9x", "sensitivity>=S"});
  expect_refused(base + "--model deep-ct-nett", {"deep-ct-nett", "deep-ct-net", "deep-cxr-net", "resnet50"});
  expect_refused(base + "--layout kermanny", {"kermanny", "folders", "covid-ct", "ieee8023", "kermany"});
  expect_refused(base + "--lr-schedule linear", {"linear", "constant, cosine, step"});
  expect_refused(base + "--recipe fast", {"fast", "paper", "scratch"});
  expect_refused(base + "--dist-backend mpi", {"mpi", "auto, gloo, nccl"});
  expect_refused("dataset index '" + data + "' --layout kermanny", {"kermanny", "folders", "manifest"});
  // The help lists the choices, from the same registries.
  const test::CliRun help = test::run_cli("train --help", dir_);
  expect_names_all(help.out, {"deep-ct-net|deep-cxr-net|densenet121|densenet169|resnet50", "none|bf16|fp16",
                              "auto|folders|covid-ct|ieee8023|kermany|manifest", "auto|gloo|nccl"});
}

// The model and the data do not exist: a command that read either first would fail naming them.
TEST_F(TrainOptionsCli, BadValuesAreRefusedBeforeAModelOrDataIsRead) {
  const std::string data = "'" + dir_.file("nodata") + "'", out = " --out '" + dir_.file("run") + "' ";
  const std::string model = " --model '" + dir_.file("missing.ckpt") + "' ";
  expect_refused("evaluate" + model + data + out + "--aggregation median", {"median", "mean, max"});
  expect_refused("explain" + model + data + out + "--method lime", {"lime", "gradcam, gradcam++"});
  expect_refused("dataset pack " + data + " --chexpert" + out + "--uncertainty u-maybe",
                 {"u-maybe", "u-ones, u-zeros"});
  expect_refused("dataset build " + data + out + "--format tiff", {"tiff", "png, jpeg"});
}
