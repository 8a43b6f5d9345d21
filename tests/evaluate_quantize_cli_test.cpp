// `covscreen model quantize` and `--precision int8` (evaluate/quantize.h, models/int8.h) on an
// untrained ResNet-50 and a synthetic pack: the record it writes (calibration hash, agreement,
// parts), the card, screening in int8 close to fp32, the clear refusals (no int8 form, unreadable
// calibration data) and a DenseNet quantized whole.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "cli_util.h"
#include "covscreen/core/container.h"  // write_file_atomic
#include "covscreen/data/pack.h"
#include "covscreen/models/int8.h"
#include "synthetic_pack.h"

using namespace covscreen;
using covscreen::test::run_cli;
using covscreen::test::TempDir;

TEST(QuantizeCli, WritesTheInt8FormAndScreensWithIt) {
  if (!test::have_cli()) GTEST_SKIP() << "covscreen CLI not built";
  TempDir dir;
  const Checkpoint ck = test::untrained_checkpoint(3, 64, {"covid", "non-covid"}, "resnet50");
  const std::string model = dir.file("r.ckpt"), quantized = dir.file("q.ckpt"), pack = dir.file("val.pack");
  save_checkpoint(model, ck);
  Pack p = test::synthetic_pack(24, 64, 5);
  p.spec = ck.spec;
  write_pack(pack, p);

  auto r = run_cli("model quantize " + model + " --calibration " + pack + " --max-images 16 --out " + quantized, dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("calibrated on 16 images"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("agreement on 24 images"), std::string::npos) << r.out;
  const Checkpoint q = load_checkpoint(quantized);
  const nlohmann::json* rec = int8_record(q);
  ASSERT_NE(rec, nullptr);
  EXPECT_EQ(rec->at("calibration").at("images"), 16);
  EXPECT_EQ(rec->at("calibration").at("of"), 24);
  const auto& a = rec->at("agreement");
  EXPECT_EQ(a.at("images"), 24);
  EXPECT_EQ(a.at("hash"), p.content_hash());
  EXPECT_LE(a.at("same_decision").get<int>(), 24);
  EXPECT_EQ(a.at("met").get<bool>(), std::abs(a.at("auc_difference").get<double>()) <= 0.005 &&
                                         a.at("same_decision_fraction").get<double>() >= 0.99);
  EXPECT_EQ(rec->at("parts").at("fp32"), nlohmann::json({"fc"}));
  EXPECT_TRUE(rec->at("form").at("networks").contains(""));
  EXPECT_NE(rec->at("command").get<std::string>().find("model quantize"), std::string::npos);

  r = run_cli("model info " + quantized, dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("int8 agreement"), std::string::npos) << r.out;

  std::string files;
  for (int i = 0; i < 3; ++i) {
    const std::string f = dir.file("img" + std::to_string(i) + ".png");
    const torch::Tensor img = p.images[i * 3].contiguous();
    cv::imwrite(f, cv::Mat(64, 64, CV_8UC1, img.data_ptr()));
    files += " " + f;
  }
  const auto screen = [&](const std::string& m, const std::string& precision) {
    return run_cli("screen --model " + m + " --precision " + precision + " --no-input-check --format json" + files,
                   dir);
  };
  const auto r32 = screen(quantized, "fp32"), r8 = screen(quantized, "int8");
  ASSERT_EQ(r32.rc, 0) << r32.err;
  ASSERT_EQ(r8.rc, 0) << r8.err;
  const auto j32 = test::parse_json_lines(r32.out), j8 = test::parse_json_lines(r8.out);
  ASSERT_EQ(j8.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(j8[i].at("ok").get<bool>()) << j8[i].dump();
    EXPECT_NEAR(j8[i].at("covid_probability").get<double>(), j32[i].at("covid_probability").get<double>(), 0.1);
  }

  // A model without an int8 form, asked for int8: a clear error, nothing screened.
  r = screen(model, "int8");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("no int8 form"), std::string::npos) << r.err;
  // Calibration data that is not there, or a damaged pack: refused naming it, nothing written.
  write_file_atomic(dir.file("bad.pack"), "not a pack");
  for (const std::string& bad : {dir.file("missing.pack"), dir.file("bad.pack")}) {
    r = run_cli("model quantize " + model + " --calibration " + bad + " --out " + dir.file("x.ckpt"), dir);
    EXPECT_NE(r.rc, 0);
    EXPECT_NE(r.err.find(bad.substr(bad.rfind('/') + 1)), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir.file("x.ckpt")));
  }
  // A DenseNet (the CT model's backbone) is quantized whole; keeping it fp32 (--fp32 "") is the model itself.
  const std::string dense = test::small_checkpoint(dir, 4);
  r = run_cli("model quantize " + dense + " --calibration " + pack + " --out " + dir.file("d.ckpt"), dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  const Checkpoint d = load_checkpoint(dir.file("d.ckpt"));
  EXPECT_EQ(int8_record(d)->at("parts").at("int8"), nlohmann::json({"features"}));
  EXPECT_EQ(int8_record(d)->at("parts").at("fp32"), nlohmann::json({"classifier"}));
}
