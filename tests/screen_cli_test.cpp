// `covscreen screen` and `covscreen evaluate` end to end, on generated images and a fresh model.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "cli_util.h"
#include "covscreen/core/container.h"
#include "test_util.h"

using namespace covscreen;
using namespace covscreen::test;

namespace {
// A CT-like synthetic slice: a dark body ellipse with two lungs; `seed` varies the texture.
cv::Mat synthetic_slice(int w, int h, int seed, bool covid) {
  cv::Mat img(h, w, CV_8UC1, cv::Scalar(10));
  cv::RNG rng(seed);
  cv::ellipse(img, {w / 2, h / 2}, {w * 2 / 5, h * 2 / 5}, 0, 0, 360, cv::Scalar(120), -1);
  cv::ellipse(img, {w / 3, h / 2}, {w / 8, h / 4}, 0, 0, 360, cv::Scalar(30), -1);
  cv::ellipse(img, {2 * w / 3, h / 2}, {w / 8, h / 4}, 0, 0, 360, cv::Scalar(30), -1);
  if (covid) cv::circle(img, {w / 3 + rng.uniform(-5, 5), h / 2}, w / 14, cv::Scalar(90), -1);
  cv::Mat noise(h, w, CV_8UC1);
  rng.fill(noise, cv::RNG::UNIFORM, 0, 20);
  return img + noise;
}

void write_bytes(const std::string& path, const std::string& bytes) { write_file_atomic(path, bytes); }
}  // namespace

class ScreenCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_cli()) COVSCREEN_SKIP() << "the covscreen CLI was not built (needs OpenCV + GDCM)";
    model_ = small_checkpoint(dir_, 3);
  }
  TempDir dir_;
  std::string model_;
};

TEST_F(ScreenCli, ScreensTheGoodFilesReportsTheBadOnesAndExits2) {
  const auto in = dir_.path() / "in (mixed)";
  fs::create_directories(in / "sub");
  cv::imwrite((in / "slice 1.png").string(), synthetic_slice(120, 100, 1, true));
  cv::imwrite((in / "sub" / "slice(2).jpg").string(), synthetic_slice(90, 90, 2, false));
  cv::Mat rgb;
  cv::cvtColor(synthetic_slice(64, 80, 3, true), rgb, cv::COLOR_GRAY2BGR);
  cv::imwrite((in / "rgb.png").string(), rgb);
  write_bytes((in / "empty.png").string(), "");
  write_bytes((in / "notes.png").string(), "this is a text file, not a PNG\n");
  std::vector<uchar> jpg;
  cv::imencode(".jpg", synthetic_slice(200, 200, 4, false), jpg);
  write_bytes((in / "truncated.jpg").string(), std::string(jpg.begin(), jpg.begin() + jpg.size() / 2));

  CliRun r = run_cli("screen --model '" + model_ + "' '" + in.string() + "' --format json", dir_);
  EXPECT_EQ(r.rc, 2) << r.err;
  auto j = parse_json_lines(r.out);
  ASSERT_EQ(j.size(), 6u);
  int ok = 0;
  for (const auto& item : j) {
    const std::string path = item["file"];
    const bool bad = path.find("empty") != std::string::npos || path.find("notes") != std::string::npos ||
                     path.find("truncated") != std::string::npos;
    EXPECT_EQ(item["ok"].get<bool>(), !bad) << path;
    if (bad) {
      EXPECT_FALSE(item["error"].get<std::string>().empty());
      EXPECT_NE(r.err.find(path), std::string::npos) << "stderr must name " << path;
    } else {
      ++ok;
      const double p = item["probabilities"]["covid"];
      EXPECT_GE(p, 0.0);
      EXPECT_LE(p, 1.0);
      EXPECT_EQ(item["positive"].get<bool>(), p >= item["threshold"].get<double>());
    }
  }
  EXPECT_EQ(ok, 3);
  EXPECT_NE(r.err.find("3 screened"), std::string::npos) << r.err;

  // A file of the folder that is neither an image nor DICOM is passed over with a word, named with --verbose.
  write_bytes((in / "sub" / "README.txt").string(), "what these files are\n");
  r = run_cli("screen --model '" + model_ + "' '" + in.string() + "' --format json --verbose", dir_);
  EXPECT_NE(r.err.find("1 file(s) in the folders are neither images nor DICOM and were passed over:"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("README.txt"), std::string::npos) << r.err;
  EXPECT_EQ(parse_json_lines(r.out).size(), 6u);

  // Only good files: exit 0; csv has a header and one row per file.
  r = run_cli("screen --model '" + model_ + "' '" + (in / "slice 1.png").string() + "' '" + (in / "rgb.png").string() +
                  "' --format csv",
              dir_);
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.rfind("path,prob_covid,prob_non-covid,predicted,positive,error,refused,typicality,atypical\n", 0), 0u)
      << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 3);

  // A missing model or a damaged one: exit 1 with a message naming the file.
  r = run_cli("screen --model '" + dir_.file("nope.ckpt") + "' '" + in.string() + "'", dir_);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("nope.ckpt"), std::string::npos);
  r = run_cli("screen --model '" + (in / "slice 1.png").string() + "' '" + in.string() + "'", dir_);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("slice 1.png"), std::string::npos) << r.err;
}

TEST_F(ScreenCli, EvaluateOnACovidNonCovidFolderWritesEveryFileAndAgreesWithSklearn) {
  const auto root = dir_.path() / "data";
  for (int i = 0; i < 14; ++i) {
    fs::create_directories(root / "COVID");
    fs::create_directories(root / "non-COVID");
    cv::imwrite((root / "COVID" / ("c" + std::to_string(i) + ".png")).string(), synthetic_slice(96, 96, i, true));
    cv::imwrite((root / "non-COVID" / ("n" + std::to_string(i) + ".png")).string(),
                synthetic_slice(96, 96, 100 + i, false));
  }
  const std::string other = small_checkpoint(dir_, 4, "other.ckpt");
  const std::string out = dir_.file("eval");
  CliRun r = run_cli(
      "evaluate --model '" + model_ + "' --model '" + other + "' '" + root.string() + "' --out '" + out + "'", dir_);
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* f :
       {"metrics.json", "report.md", "report.html", "roc.svg", "predictions.csv", "predictions_other.csv"})
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  auto m = nlohmann::json::parse(slurp(out + "/metrics.json"));
  for (const char* k : {"n", "auc", "auc_ci", "accuracy", "precision", "recall", "specificity", "f1", "threshold",
                        "confusion", "per_class", "patient_level"})
    EXPECT_TRUE(m.contains(k)) << k;
  EXPECT_EQ(m["n"], 28);
  const std::string roc = slurp(out + "/roc.svg");
  EXPECT_NE(roc.find("small"), std::string::npos);
  EXPECT_NE(roc.find("other"), std::string::npos);
  const std::string csv = slurp(out + "/predictions.csv");
  EXPECT_EQ(csv.rfind("path,label,patient_id,prob_covid,prob_non-covid,predicted,cam_lung_share\n", 0), 0u);

  if (debian_python().empty() || std::system("/usr/bin/python3 -c 'import sklearn' 2>/dev/null") != 0)
    COVSCREEN_SKIP() << "Debian's python3-sklearn is not installed: AUC not cross-checked";
  const std::string script = std::string(COVSCREEN_SOURCE_DIR) + "/tests/python/check_predictions.py";
  const std::string res = dir_.file("sk.json");
  ASSERT_EQ(std::system(("/usr/bin/python3 '" + script + "' '" + out + "/predictions.csv' > '" + res + "'").c_str()),
            0);
  auto sk = nlohmann::json::parse(slurp(res));
  EXPECT_EQ(sk["n"], 28);
  EXPECT_NEAR(m["auc"].get<double>(), sk["auc"].get<double>(), 1e-6);
  EXPECT_NEAR(m["auc_ci"][0].get<double>(), sk["ci_lo"].get<double>(), 1e-6);
  EXPECT_NEAR(m["auc_ci"][1].get<double>(), sk["ci_hi"].get<double>(), 1e-6);
}

// model calibrate: a site's threshold from its own normal images. specificity>=0.9 on 20
// non-COVID images lets exactly 2 of them be called COVID by the calibrated model (evaluate's
// decisions on the same images); the card says where the threshold came from; a rule the data
// cannot decide is refused and writes nothing.
TEST_F(ScreenCli, ModelCalibrateSetsTheThresholdFromASiteOwnNormals) {
  const auto root = dir_.path() / "site";
  for (int i = 0; i < 20; ++i) {
    const std::string cls = i < 12 ? "NORMAL" : "PNEUMONIA";
    fs::create_directories(root / cls);
    cv::imwrite((root / cls / (cls + std::to_string(i) + ".png")).string(), synthetic_slice(96, 96, 200 + i, false));
  }
  const std::string site = dir_.file("site.ckpt");
  CliRun r = run_cli(
      "model calibrate '" + model_ + "' '" + root.string() + "' --rule 'specificity>=0.9' --out '" + site + "'", dir_);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("2 of 20 negatives called positive"), std::string::npos) << r.out;
  r = run_cli("model info '" + site + "' --json", dir_);
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto card = nlohmann::json::parse(r.out);
  EXPECT_EQ(card["threshold_rule"], "specificity>=0.9");
  EXPECT_EQ(card["calibration"]["rule"], "specificity>=0.9");
  EXPECT_EQ(card["calibration"]["negatives"], 20);
  EXPECT_EQ(card["calibration"]["positives"], 0);
  EXPECT_DOUBLE_EQ(card["calibration"]["previous_threshold"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(card["calibration"]["threshold"].get<double>(), card["threshold"].get<double>());
  EXPECT_FALSE(card["calibration"]["data"]["hash"].get<std::string>().empty());
  EXPECT_NE(card["calibration"]["command"].get<std::string>().find("model calibrate"), std::string::npos);

  const std::string out = dir_.file("eval");
  r = run_cli("evaluate --no-cam-share --model '" + site + "' '" + root.string() + "' --out '" + out + "'", dir_);
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string csv = slurp(out + "/predictions.csv");
  size_t called = 0;
  for (size_t at = csv.find(",covid\n"); at != std::string::npos; at = csv.find(",covid\n", at + 1)) ++called;
  EXPECT_EQ(called, 2u) << csv;
  EXPECT_NE(slurp(out + "/report.md").find("by model calibrate"), std::string::npos);

  // youden needs COVID images too; a bad rule is refused by the parser. Nothing is written.
  const std::string bad = dir_.file("bad.ckpt");
  r = run_cli("model calibrate '" + model_ + "' '" + root.string() + "' --rule youden --out '" + bad + "'", dir_);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("needs labelled COVID and non-COVID images"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("0 COVID and 20 non-COVID"), std::string::npos) << r.err;
  r = run_cli("model calibrate '" + model_ + "' '" + root.string() + "' --rule 'specificity>=2' --out '" + bad + "'",
              dir_);
  EXPECT_NE(r.rc, 0);
  EXPECT_FALSE(fs::exists(bad));
}

TEST_F(ScreenCli, ModelEnsembleScreensAsTheMeanOfItsMembersLogits) {
  const std::string second = small_checkpoint(dir_, 4, "second.ckpt");
  const std::string ens = dir_.file("ensemble.ckpt");
  CliRun r = run_cli("model ensemble '" + model_ + "' '" + second + "' --out '" + ens + "'", dir_);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("ensemble of 2 models"), std::string::npos) << r.out;
  r = run_cli("model info '" + ens + "'", dir_);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("2 members, logits averaged"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("second.ckpt, seed"), std::string::npos) << r.out;

  const std::string img = dir_.file("slice.png");
  cv::imwrite(img, synthetic_slice(128, 128, 9, true));
  auto logit_covid = [&](const std::string& model) {
    const CliRun s = run_cli("screen --precision fp32 --model '" + model + "' '" + img + "' --format json", dir_);
    EXPECT_EQ(s.rc, 0) << s.err;
    const auto j = parse_json_lines(s.out);
    const double p = j.size() == 1 ? j[0]["probabilities"]["covid"].get<double>() : 0.5;
    return std::log(p / (1 - p));
  };
  EXPECT_NEAR(logit_covid(ens), (logit_covid(model_) + logit_covid(second)) / 2, 1e-4);

  // Members that do not screen alike are refused, and nothing is written.
  const std::string three = small_checkpoint(dir_, 5, "three.ckpt", {"covid", "normal", "pneumonia"});
  const std::string bad = dir_.file("bad.ckpt");
  r = run_cli("model ensemble '" + model_ + "' '" + three + "' --out '" + bad + "'", dir_);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("three.ckpt: has another architecture config"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(bad));
}

TEST_F(ScreenCli, EvaluateReportsCovidCallsByTheDataOwnFinerClasses) {
  // covid / pneumonia / normal data for a covid / non-covid model (the paper's Table VI setting):
  // pneumonia and normal count as non-covid, and each gets its own false-positive rate.
  const auto root = dir_.path() / "three";
  const std::vector<std::pair<std::string, int>> classes{{"COVID", 5}, {"PNEUMONIA", 4}, {"NORMAL", 3}};
  int seed = 0;
  for (const auto& [name, n] : classes) {
    fs::create_directories(root / name);
    for (int i = 0; i < n; ++i)
      cv::imwrite((root / name / (name + std::to_string(i) + ".png")).string(),
                  synthetic_slice(96, 96, ++seed, name == "COVID"));
  }
  const std::string out = dir_.file("eval3");
  CliRun r =
      run_cli("evaluate --model '" + model_ + "' '" + root.string() + "' --layout folders --out '" + out + "'", dir_);
  ASSERT_EQ(r.rc, 0) << r.err;
  auto m = nlohmann::json::parse(slurp(out + "/metrics.json"));
  const auto& models = m.contains("models") ? m["models"][0] : m;
  ASSERT_TRUE(models.contains("by_data_class")) << m.dump(2).substr(0, 2000);
  std::map<std::string, nlohmann::json> by;
  for (const auto& row : models["by_data_class"]) by[row["data_class"]] = row;
  ASSERT_EQ(by.size(), 3u);
  EXPECT_EQ(by["covid"]["n"], 5);
  EXPECT_EQ(by["covid"]["meaning"], "sensitivity");
  EXPECT_EQ(by["pneumonia"]["n"], 4);
  EXPECT_EQ(by["pneumonia"]["meaning"], "false-positive rate");
  EXPECT_EQ(by["normal"]["n"], 3);
  // The slice-level false positives are the pneumonia and normal ones called covid.
  EXPECT_EQ(models["confusion"]["fp"].get<long>(),
            by["pneumonia"]["called_covid"].get<long>() + by["normal"]["called_covid"].get<long>());
  EXPECT_EQ(models["n"], 12);
  const std::string csv = slurp(out + "/predictions.csv");
  EXPECT_EQ(csv.rfind("path,label,patient_id,prob_covid,prob_non-covid,predicted,cam_lung_share\n", 0), 0u);
  EXPECT_NE(csv.find(",pneumonia,"), std::string::npos);  // the data's own label is kept
  EXPECT_NE(slurp(out + "/report.md").find("false-positive rate"), std::string::npos);
}

// --tta N: P is the mean over N views, so it moves (the untrained model sees rotated and shifted
// views), stays a probability, and the same command gives the same P; a bad count is refused.
TEST_F(ScreenCli, TestTimeAugmentationChangesPReproduciblyAndRefusesBadCounts) {
  const std::string img = dir_.file("slice.png");
  cv::imwrite(img, synthetic_slice(128, 128, 5, true));
  auto p_covid = [&](const std::string& extra) {
    const CliRun r = run_cli("screen --model '" + model_ + "' '" + img + "' --format json" + extra, dir_);
    EXPECT_EQ(r.rc, 0) << r.err;
    const auto j = parse_json_lines(r.out);
    return j.size() == 1 ? j[0]["probabilities"]["covid"].get<double>() : -1.0;
  };
  const double plain = p_covid(""), tta = p_covid(" --tta 4");
  EXPECT_GE(tta, 0.0);
  EXPECT_LE(tta, 1.0);
  EXPECT_NE(plain, tta);
  EXPECT_EQ(tta, p_covid(" --tta 4"));
  EXPECT_EQ(plain, p_covid(" --tta 1"));
  const CliRun bad = run_cli("screen --model '" + model_ + "' '" + img + "' --tta 0", dir_);
  EXPECT_NE(bad.rc, 0);
  EXPECT_NE(bad.err.find("--tta"), std::string::npos) << bad.err;
}
