// The per-image pipeline (screen/pipeline.h): streaming batches in input order, the same numbers
// whichever entry point or worker count, CAMs from concurrent workers, stage-1 probabilities for
// packs, bad files reported in their results.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "cli_util.h"
#include "covscreen/inference/inference.h"
#include "covscreen/screen/pipeline.h"

using namespace covscreen;
namespace fs = std::filesystem;

namespace {

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = test::small_checkpoint(dir_, 5);
    for (int i = 0; i < 11; ++i) {
      cv::Mat m(60 + 3 * i, 70, CV_8UC1);
      cv::RNG rng(100 + i);
      rng.fill(m, cv::RNG::UNIFORM, 0, 255);
      cv::circle(m, {30, 30}, 10 + i, cv::Scalar(250), -1);
      const std::string p = dir_.file("img" + std::to_string(10 + i) + ".png");
      cv::imwrite(p, m);
      paths_.push_back(p);
    }
    std::ofstream(dir_.file("bad.png"), std::ios::binary) << "not an image";
    paths_.insert(paths_.begin() + 4, dir_.file("bad.png"));
  }
  PipelineOptions options(int workers) const {
    PipelineOptions o;
    o.inference.device = DeviceKind::kCpu;
    o.inference.precision = Precision::kFp32;
    o.inference.batch_size = 3;
    o.workers = workers;
    return o;
  }
  test::TempDir dir_;
  std::string model_;
  std::vector<std::string> paths_;
};

TEST_F(PipelineTest, BatchesStreamInInputOrder) {
  Pipeline p(load_checkpoint(model_), options(2));
  std::vector<size_t> seen;
  int calls = 0;
  const auto all = p.screen_files(paths_, [&](std::vector<ScreenResult>& batch) {
    ++calls;
    EXPECT_LE(batch.size(), 3u);
    for (const auto& r : batch) seen.push_back(r.index);
  });
  EXPECT_EQ(calls, 4);  // 12 files in batches of 3
  ASSERT_EQ(seen.size(), paths_.size());
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], i);
  ASSERT_EQ(all.size(), paths_.size());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].file, paths_[i]);
    EXPECT_EQ(all[i].ok, i != 4) << all[i].file << ": " << all[i].error;
  }
  EXPECT_FALSE(all[4].error.empty());
  EXPECT_EQ(to_json(all[4])["ok"], false);
  EXPECT_TRUE(to_json(all[4]).contains("error"));
}

TEST_F(PipelineTest, SameNumbersWhateverTheEntryPointOrWorkers) {
  Pipeline one(load_checkpoint(model_), options(1));
  Pipeline two(load_checkpoint(model_), options(2));
  const auto a = one.screen_files(paths_);
  const auto b = two.screen_files(paths_);
  std::string bytes;
  {
    std::ifstream f(paths_[0], std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), {});
  }
  const ScreenResult c = one.screen_bytes(bytes, "upload.png");
  ASSERT_TRUE(c.ok) << c.error;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].ok, b[i].ok);
    for (size_t k = 0; a[i].ok && k < a[i].probs.size(); ++k) EXPECT_NEAR(a[i].probs[k], b[i].probs[k], 1e-5);
  }
  for (size_t k = 0; k < c.probs.size(); ++k) EXPECT_NEAR(c.probs[k], a[0].probs[k], 1e-5);
  EXPECT_EQ(c.width, 70);
  EXPECT_EQ(c.format, "png");

  // A pack's stage-1 images give the same probabilities as the files they came from.
  std::vector<PipelineInput> inputs;
  for (const auto& path : paths_) inputs.push_back(one.decode_file(path));
  std::vector<torch::Tensor> imgs;
  std::vector<size_t> rows;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].error.empty()) {
      imgs.push_back(torch::from_blob(inputs[i].input.data, {64, 64}, torch::kUInt8).clone());
      rows.push_back(i);
    }
  const torch::Tensor probs = two.probabilities(torch::stack(imgs));
  ASSERT_EQ(probs.size(0), static_cast<int64_t>(rows.size()));
  for (size_t j = 0; j < rows.size(); ++j)
    EXPECT_NEAR(probs[static_cast<int64_t>(j)][0].item<float>(), a[rows[j]].probs[0], 1e-5);
}

TEST_F(PipelineTest, ConcurrentWorkersMakeTheSameCams) {
  PipelineOptions o1 = options(1), o2 = options(2);
  for (auto* o : {&o1, &o2}) {
    o->cam = CamOutput::kPng;
    o->keep_cam_map = true;
  }
  Pipeline one(load_checkpoint(model_), o1);
  Pipeline two(load_checkpoint(model_), o2);
  const auto a = one.screen_files(paths_);
  const auto b = two.screen_files(paths_);
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(a[i].file);
    if (!a[i].ok) continue;
    ASSERT_TRUE(b[i].ok && b[i].error.empty()) << b[i].error;
    EXPECT_EQ(b[i].cam_class, 0);  // the COVID class
    EXPECT_GT(b[i].cam_png.size(), 100u);
    ASSERT_FALSE(b[i].cam_map.empty());
    EXPECT_LE(cv::norm(a[i].cam_map, b[i].cam_map, cv::NORM_INF), 1e-4);
    EXPECT_TRUE(to_json(b[i]).contains("cam_png_base64"));
  }
}

TEST_F(PipelineTest, CamFilesGetUniqueStemsInInputOrder) {
  EXPECT_EQ(cam_stems({"a/scan.png", "b/scan.png", "c/other.dcm", "d/scan.jpg"}),
            (std::vector<std::string>{"scan", "scan-2", "other", "scan-3"}));
  PipelineOptions o = options(2);
  o.cam = CamOutput::kFiles;
  o.cam_dir = dir_.file("cams");
  Pipeline p(load_checkpoint(model_), o);
  const auto r = p.screen_files({paths_[0], paths_[1]});
  ASSERT_TRUE(r[0].ok) << r[0].error;
  EXPECT_EQ(r[0].cam_path, dir_.file("cams") + "/img10_cam.png");
  EXPECT_TRUE(fs::exists(dir_.file("cams") + "/img11_cam16.png"));
}

// A model whose spec crops to the lungs: each result says whether it did, and the CAM overlay is
// drawn on the whole picture with the map where the crop came from (zero elsewhere).
TEST_F(PipelineTest, LungCropIsReportedAndTheCamLandsWhereTheCropCameFrom) {
  Checkpoint ck = load_checkpoint(model_);
  ck.spec.stage1.lungs.enabled = true;
  const std::string cropped = dir_.file("cropped.ckpt");
  save_checkpoint(cropped, ck);
  cv::Mat ct(200, 300, CV_8UC1, cv::Scalar(15));  // body and lungs in the left part, air elsewhere
  cv::ellipse(ct, {100, 100}, {80, 60}, 0, 0, 360, cv::Scalar(210), cv::FILLED);
  cv::ellipse(ct, {70, 100}, {20, 35}, 0, 0, 360, cv::Scalar(45), cv::FILLED);
  cv::ellipse(ct, {130, 100}, {20, 35}, 0, 0, 360, cv::Scalar(45), cv::FILLED);
  cv::imwrite(dir_.file("ct.png"), ct);
  cv::imwrite(dir_.file("flat.png"), cv::Mat(80, 80, CV_8UC1, cv::Scalar(128)));
  PipelineOptions o = options(1);
  o.cam = CamOutput::kPng;
  o.overlay.colour_bar = false;
  o.input_check = false;  // flat.png has no lungs: the gate would refuse what this test screens
  Pipeline p(load_checkpoint(cropped), o);
  const auto r = p.screen_files({dir_.file("ct.png"), dir_.file("flat.png")});
  ASSERT_TRUE(r[0].ok) << r[0].error;
  EXPECT_EQ(r[0].lung_crop, LungCrop::kLungs);
  EXPECT_EQ(to_json(r[0]).value("lung_crop", ""), "lungs");
  ASSERT_TRUE(r[1].ok) << r[1].error;  // no lungs: the whole image, and said so
  EXPECT_EQ(to_json(r[1]).value("lung_crop", ""), "whole image (no lungs found)");
  // The overlay has the picture's size; far right (outside the crop) it is the picture blended
  // with the colour of 0, the same in every row there.
  const cv::Mat png(1, static_cast<int>(r[0].cam_png.size()), CV_8UC1, const_cast<char*>(r[0].cam_png.data()));
  const cv::Mat overlay = cv::imdecode(png, cv::IMREAD_COLOR);
  ASSERT_EQ(overlay.size(), cv::Size(300, 200));
  EXPECT_EQ(overlay.at<cv::Vec3b>(60, 280), overlay.at<cv::Vec3b>(190, 280));
  // A model without the crop: nothing said.
  Pipeline plain(load_checkpoint(model_), options(1));
  EXPECT_FALSE(to_json(plain.screen_files({dir_.file("ct.png")})[0]).contains("lung_crop"));
}

}  // namespace
