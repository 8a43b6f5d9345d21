// `covscreen bench`: every phase runs and reports, bad files are counted, and the Python
// baseline runs the same weights (the same-weights check compares logits on the same input).
// Speeds are not asserted here: benchmarks print them, tests check they are measured.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "cli_util.h"
#include "covscreen/core/container.h"
#include "covscreen/core/paths.h"
#include "test_util.h"

using namespace covscreen;
using namespace covscreen::test;

namespace {
void write_slices(const fs::path& dir, int n) {
  fs::create_directories(dir);
  cv::RNG rng(7);
  for (int i = 0; i < n; ++i) {
    cv::Mat img(90 + 10 * i, 100, CV_8UC1);
    rng.fill(img, cv::RNG::UNIFORM, 0, 255);
    cv::imwrite((dir / ("slice" + std::to_string(i) + ".png")).string(), img);
  }
  write_file_atomic((dir / "broken.png").string(), "not a png");
}
}  // namespace

TEST(BenchCli, MeasuresEveryPhaseWithoutBaseline) {
  if (!have_cli()) COVSCREEN_SKIP() << "the covscreen CLI was not built (needs OpenCV + GDCM)";
  TempDir dir;
  const std::string model = small_checkpoint(dir, 5);
  write_slices(dir.path() / "in", 3);
  CliRun r = run_cli("bench '" + (dir.path() / "in").string() + "' --model '" + model +
                         "' --batch 2 --latency-samples 2 --steps 1 --no-baseline --precision fp32 --all-precisions",
                     dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["screen"]["images"], 4);
  EXPECT_EQ(j["screen"]["failed"], 1);
  EXPECT_GT(j["screen"]["images_per_s"].get<double>(), 0);
  EXPECT_EQ(j["stage1"]["images"], 3);
  EXPECT_EQ(j["latency"]["samples"], 2);
  EXPECT_LE(j["latency"]["p50_ms"].get<double>(), j["latency"]["max_ms"].get<double>());
  EXPECT_EQ(j["model_only"]["precision"], "fp32");
  EXPECT_EQ(j["model_only"]["batch"], 2);
  EXPECT_EQ(j["model_only"]["size"], 64);  // the model's own input side
  EXPECT_GT(j["train"]["images_per_s"].get<double>(), 0);
  EXPECT_GT(j["peak_rss_mb"].get<double>(), 10);
  EXPECT_FALSE(j.contains("baseline"));
  EXPECT_TRUE(j["machine"]["cpu_flags"].is_array());
  // --all-precisions: bf16 where the CPU has it; no int8 (this checkpoint has no int8 form).
  if (j["machine"]["native_bf16"].get<bool>()) {
    EXPECT_EQ(j["precisions"]["bf16"]["screen"]["images"], 4) << j.dump();
    EXPECT_EQ(j["precisions"]["bf16"]["model_only_workers"]["precision"], "bf16");
  }
  EXPECT_FALSE(j.value("precisions", nlohmann::json::object()).contains("int8"));

  r = run_cli("bench '" + dir.file("nowhere") + "' --model '" + model + "' --no-baseline", dir);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("nowhere"), std::string::npos) << r.err;
}

TEST(BenchCli, PythonBaselineRunsTheSameWeights) {
  if (!have_cli()) COVSCREEN_SKIP() << "the covscreen CLI was not built (needs OpenCV + GDCM)";
  if (debian_python().empty()) COVSCREEN_SKIP() << "no /usr/bin/python3 for the PyTorch baseline";
  const std::string model = default_model_path();  // the baseline implements Deep-CT-Net at 256 x 256
  if (!fs::exists(model)) COVSCREEN_SKIP() << "shipped model " << model << " not present";
  TempDir dir;
  write_slices(dir.path() / "in", 3);
  CliRun r = run_cli("bench '" + (dir.path() / "in").string() + "' --model '" + model +
                         "' --batch 2 --latency-samples 1 --steps 1 --no-train --python " + debian_python(),
                     dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& b = j["baseline"];
  if (b["parity"].contains("error") && b["parity"]["error"].get<std::string>().find("no torch") != std::string::npos)
    COVSCREEN_SKIP() << "python3-torch / python3-torchvision not installed";
  ASSERT_FALSE(b["parity"].contains("error")) << b.dump();
  EXPECT_LT(b["parity"]["max_abs_diff_logits"].get<double>(), 1e-3) << b["parity"].dump();
  EXPECT_GT(b["parity"]["max_abs_logit"].get<double>(), 1e-3);  // not a trivially zero output
  ASSERT_FALSE(b["screen_typical"].contains("error")) << b.dump();
  EXPECT_EQ(b["screen_typical"]["images"], 3);  // the broken file is left out of the baseline's list
  EXPECT_EQ(b["probability_agreement"]["matched"], 3);
  EXPECT_GT(j["ratio"]["screen_vs_typical"].get<double>(), 0);
  EXPECT_GT(j["ratio"]["screen_vs_tuned"].get<double>(), 0);
  ASSERT_FALSE(b["model_tuned"].contains("error")) << b.dump();
  EXPECT_EQ(b["model_tuned"]["arch"], "deep-ct-net");
  EXPECT_GT(j["ratio"]["model_vs_tuned"].get<double>(), 0);
}
