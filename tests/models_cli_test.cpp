// `covscreen model import | export | info` end to end (skips when the CLI was not built:
// it needs the imaging libraries).
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <sstream>

#include "cli_util.h"
#include "covscreen/core/container.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/models/state_dict.h"
#include "test_util.h"

namespace covscreen {
namespace {

class ModelCli : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = test::bin_dir() + "/covscreen";
    if (!std::filesystem::exists(bin_)) COVSCREEN_SKIP() << "covscreen CLI not built at " << bin_;
  }
  // Runs the CLI with `args`; returns the exit code, stdout in *out.
  int run(const std::string& args, std::string* out = nullptr) {
    const std::string log = dir_.file("stdout.txt");
    const int status = std::system((bin_ + " " + args + " > " + log + " 2>&1").c_str());
    if (out) *out = read_file(log);
    return (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  }
  std::string bin_;
  test::TempDir dir_;
};

TEST_F(ModelCli, InfoOfAFreshDeepCTNet) {
  std::string out;
  ASSERT_EQ(run("model info --arch deep-ct-net --json", &out), 0) << out;
  const auto card = nlohmann::json::parse(out);
  ASSERT_EQ(card["parts"].size(), 3u);
  EXPECT_EQ(card["parts"][0]["name"], "backbone");
  EXPECT_EQ(card["parts"][0]["parameters"].get<int64_t>(), 6953856);  // torchvision densenet121.features
  EXPECT_EQ(card["parts"][1]["name"], "fpa");
  EXPECT_EQ(card["parts"][2]["name"], "head");
  EXPECT_EQ(card["parts"][2]["parameters"].get<int64_t>(), 2 * 1024 + 1024 * 64 * 2 + 2);
  EXPECT_EQ(run("model info --arch vgg16"), 1);
  EXPECT_EQ(run("model info --arch deep-ct-net " + std::string(COVSCREEN_SOURCE_DIR) + "/models/x.ckpt"), 1);
}

// Without a checkpoint, `model info` lists the shipped models (here: the source tree's models/, as
// for any build-tree binary) with their identities, and names the default one; --version too.
TEST_F(ModelCli, InfoAndVersionNameTheInstalledModels) {
  const std::string models = std::string(COVSCREEN_SOURCE_DIR) + "/models";
  std::string out;
  ASSERT_EQ(run("model info --json", &out), 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["default"], models + "/deep-ct-net-covid-ct.ckpt");
  EXPECT_EQ(j["default_from"], "shipped");
  std::map<std::string, nlohmann::json> by_file;
  for (const auto& m : j["models"]) by_file[std::filesystem::path(m["path"].get<std::string>()).filename()] = m;
  ASSERT_TRUE(by_file.count("deep-ct-net-covid-ct.ckpt") && by_file.count("deep-cxr-net-cxr.ckpt")) << out;
  const auto& ct = by_file["deep-ct-net-covid-ct.ckpt"];
  EXPECT_EQ(ct["arch"], "deep-ct-net");
  EXPECT_TRUE(ct["default"].get<bool>());
  EXPECT_EQ(ct["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(by_file["deep-cxr-net-cxr.ckpt"]["arch"], "deep-cxr-net");
  EXPECT_FALSE(by_file["deep-cxr-net-cxr.ckpt"]["default"].get<bool>());

  ASSERT_EQ(run("--version", &out), 0) << out;
  EXPECT_EQ(out.rfind(std::string("covscreen ") + COVSCREEN_VERSION, 0), 0u) << out;
  EXPECT_NE(out.find("default model: " + models + "/deep-ct-net-covid-ct.ckpt"), std::string::npos) << out;
  EXPECT_NE(out.find("deep-cxr-net-cxr.ckpt  deep-cxr-net, classes covid/non-covid"), std::string::npos) << out;
  EXPECT_NE(out.find("sha256 " + by_file["deep-cxr-net-cxr.ckpt"]["sha256"].get<std::string>().substr(0, 16)),
            std::string::npos)
      << out;

  // COVSCREEN_MODEL names the default; a file that is not a checkpoint is listed as unusable.
  const std::string other = test::small_checkpoint(dir_, 3, "other.ckpt");
  ASSERT_EQ(
      std::system(("COVSCREEN_MODEL='" + other + "' " + bin_ + " model info --json > " + dir_.file("o.json")).c_str()),
      0);
  const auto e = nlohmann::json::parse(read_file(dir_.file("o.json")));
  EXPECT_EQ(e["default_from"], "COVSCREEN_MODEL");
  ASSERT_EQ(e["models"].back()["path"], other);
  EXPECT_TRUE(e["models"].back()["default"].get<bool>());
  EXPECT_EQ(e["models"].back()["arch"], "densenet121");
  write_file_atomic(dir_.file("not.ckpt"), "hello");
  ASSERT_EQ(
      std::system(
          ("COVSCREEN_MODEL='" + dir_.file("not.ckpt") + "' " + bin_ + " --version > " + dir_.file("v.txt")).c_str()),
      0);
  EXPECT_NE(read_file(dir_.file("v.txt")).find("not.ckpt  unusable: "), std::string::npos)
      << read_file(dir_.file("v.txt"));
}

TEST_F(ModelCli, ImportExportInfo) {
  // A torchvision-named densenet121 state_dict, saved as DataParallel would ("module." keys).
  ModelConfig src_cfg;
  src_cfg.arch = "densenet121";
  src_cfg.num_classes = 1000;
  torch::manual_seed(21);
  auto src = make_model(src_cfg);
  StateDict sd;
  for (const auto& [name, t] : module_tensors(*src)) sd["module." + name] = t.detach().clone();
  const std::string sd_path = dir_.file("tv.pt");
  write_state_dict(sd_path, sd);

  std::string out;
  const std::string ckpt = dir_.file("m.ckpt");
  ASSERT_EQ(run("model import --arch deep-ct-net --state-dict " + sd_path + " --classes covid,non-covid --out " + ckpt +
                    " --input-size 64",
                &out),
            0)
      << out;
  EXPECT_NE(out.find("ignored: 2"), std::string::npos) << out;  // classifier.weight / .bias
  EXPECT_NE(out.find("missing: 0"), std::string::npos) << out;
  const Checkpoint ck = load_checkpoint(ckpt);
  EXPECT_EQ(ck.classes, (std::vector<std::string>{"covid", "non-covid"}));
  EXPECT_EQ(ck.model.num_classes, 2);
  for (const auto& [name, t] : module_tensors(*ck.net))
    if (name.rfind("backbone.", 0) == 0) EXPECT_TRUE(torch::equal(t, sd.at("module." + name.substr(9)))) << name;

  const std::string exported = dir_.file("e.pt");
  ASSERT_EQ(run("model export " + ckpt + " --out " + exported, &out), 0) << out;
  const StateDict back = read_state_dict(exported);
  EXPECT_EQ(back.size(), module_tensors(*ck.net).size());
  EXPECT_TRUE(torch::equal(back.at("backbone.features.conv0.weight"), sd.at("module.features.conv0.weight")));

  ASSERT_EQ(run("model info " + ckpt, &out), 0) << out;
  EXPECT_NE(out.find("params fpa"), std::string::npos) << out;
  EXPECT_NE(out.find("covid, non-covid"), std::string::npos) << out;

  // A densenet state_dict is not a resnet50 backbone; an export file is not a checkpoint.
  EXPECT_EQ(run("model import --arch resnet50 --state-dict " + sd_path + " --classes a,b --out " + dir_.file("r.ckpt")),
            1);
  EXPECT_FALSE(std::filesystem::exists(dir_.file("r.ckpt")));
  EXPECT_EQ(run("model info " + exported, &out), 1);
  EXPECT_NE(out.find("PyTorch"), std::string::npos) << out;
}

// model convert --evaluations: results on other data kept in the card, the weights unchanged; a
// file that is not such a JSON object is refused, naming it, and nothing is written.
TEST_F(ModelCli, ConvertKeepsEvaluationsInTheCard) {
  const std::string ckpt = test::small_checkpoint(dir_, 3);
  const std::string ev = dir_.file("cross_source.json");
  write_file_atomic(ev, R"({"command": "scripts/cross_source.sh", "rows": [{"data": "COVID-CT-MD studies",
      "auc": 0.5, "auc_ci": [0.1, 0.9], "cross_source": true}]})");
  std::string out;
  const std::string with = dir_.file("with.ckpt");
  ASSERT_EQ(run("model convert " + ckpt + " --evaluations " + ev + " --out " + with, &out), 0) << out;
  ASSERT_EQ(run("model info " + with + " --json", &out), 0) << out;
  const auto card = nlohmann::json::parse(out);
  EXPECT_EQ(card["evaluations"]["rows"][0]["data"], "COVID-CT-MD studies");
  ASSERT_EQ(run("model info " + with, &out), 0) << out;
  EXPECT_NE(out.find("evaluated       COVID-CT-MD studies"), std::string::npos) << out;
  const Checkpoint a = load_checkpoint(ckpt), b = load_checkpoint(with);
  for (const auto& [name, t] : module_tensors(*a.net)) {
    bool same = false;
    for (const auto& [n2, t2] : module_tensors(*b.net))
      if (n2 == name) same = torch::equal(t, t2);
    EXPECT_TRUE(same) << name;
  }
  write_file_atomic(ev, "[1, 2]");
  ASSERT_EQ(run("model convert " + ckpt + " --evaluations " + ev + " --out " + dir_.file("bad.ckpt"), &out), 1);
  EXPECT_NE(out.find("cross_source.json"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(dir_.file("bad.ckpt")));
}

}  // namespace
}  // namespace covscreen
