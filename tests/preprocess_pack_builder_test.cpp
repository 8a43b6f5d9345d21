// Building packs from a generated folder layout (spaces and parentheses in names, PNG and JPEG
// mixed, one corrupt file) and from the shared COVID-CT data.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "covscreen/core/error.h"
#include "covscreen/data/layouts.h"
#include "covscreen/data/split.h"
#include "covscreen/io/image_reader.h"
#include "covscreen/preprocess/pack_builder.h"
#include "covscreen/preprocess/stage1.h"
#include "test_util.h"

using namespace covscreen;
namespace fs = std::filesystem;

namespace {
// A synthetic "scan": a gradient plus a disc, different per seed; sizes differ too.
cv::Mat synthetic(int seed, int rows, int cols) {
  cv::Mat m(rows, cols, CV_8UC1);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) m.at<uint8_t>(r, c) = static_cast<uint8_t>((r * 3 + c * (seed + 1)) % 256);
  cv::circle(m, {cols / 2, rows / 3}, rows / 4, cv::Scalar(40 * seed % 256), -1);
  return m;
}

// root/<class>/... with 3 covid (PNG, JPEG, RGB PNG), 2 normal (one in a patient sub-folder),
// one corrupt JPEG in normal, and a text file.
fs::path make_tree(const fs::path& root) {
  fs::create_directories(root / "COVID-19 (confirmed)");
  fs::create_directories(root / "Normal" / "patient 7");
  cv::imwrite((root / "COVID-19 (confirmed)" / "Covid (1).png").string(), synthetic(1, 300, 280));
  cv::imwrite((root / "COVID-19 (confirmed)" / "Covid (2).jpg").string(), synthetic(2, 200, 240));
  cv::Mat rgb;
  cv::cvtColor(synthetic(3, 64, 64), rgb, cv::COLOR_GRAY2BGR);
  cv::imwrite((root / "COVID-19 (confirmed)" / "scan, rgb (3).PNG").string(), rgb);
  cv::imwrite((root / "Normal" / "N (1).jpeg").string(), synthetic(4, 512, 400));
  cv::imwrite((root / "Normal" / "patient 7" / "slice (2).png").string(), synthetic(5, 128, 128));
  std::ofstream(root / "Normal" / "broken (9).jpg", std::ios::binary)
      << std::string("\xff\xd8\xff\xe0\x00\x10JFIF", 10);
  std::ofstream(root / "Normal" / "readme.txt") << "not an image";
  return root;
}
}  // namespace

TEST(PackBuilder, PacksAnUnseenFolderLayoutAndReportsTheBadFile) {
  test::TempDir dir;
  const fs::path root = make_tree(dir.path() / "scans (export 1)");
  IndexReport rep;
  const Manifest m = index_dataset(root.string(), {}, &rep);
  EXPECT_EQ(m.layout, "folders");
  ASSERT_EQ(m.entries.size(), 6u);  // the corrupt JPEG is indexed, the .txt is not
  EXPECT_EQ(rep.skipped.at("not an image file"), 1u);

  PackBuildOptions opt;
  opt.spec.stage1.size = 64;
  opt.threads = 1;
  opt.progress = false;
  const PackBuildResult a = build_pack(m, opt);
  ASSERT_EQ(a.failures.size(), 1u);
  EXPECT_NE(a.failures[0].path.find("broken (9).jpg"), std::string::npos);
  EXPECT_FALSE(a.failures[0].reason.empty());
  const Pack& p = a.pack;
  ASSERT_EQ(p.size(), 5);
  EXPECT_EQ(p.classes, (std::vector<std::string>{"covid", "normal"}));
  EXPECT_EQ(p.images.sizes(), (std::vector<int64_t>{5, 64, 64}));
  EXPECT_EQ(p.provenance["failed"], 1);
  // Rows follow the manifest order and equal stage1(read_image(path)) exactly.
  size_t row = 0;
  for (const auto& e : m.entries) {
    if (e.path.find("broken") != std::string::npos) continue;
    ASSERT_EQ(p.paths[row], e.path);
    EXPECT_EQ(p.labels[row], e.label == "covid" ? 0 : 1);
    EXPECT_EQ(p.patient_ids[row], e.patient_id);
    const cv::Mat want = stage1(read_image(e.path).gray, opt.spec.stage1);
    const torch::Tensor got = p.images[static_cast<int64_t>(row)];
    ASSERT_TRUE(want.isContinuous());
    EXPECT_EQ(std::memcmp(got.data_ptr(), want.data, 64 * 64), 0) << e.path;
    ++row;
  }
  // Multi-threaded decoding gives the same pack.
  opt.threads = 3;
  const PackBuildResult b = build_pack(m, opt);
  EXPECT_TRUE(torch::equal(b.pack.images, p.images));
  EXPECT_EQ(b.pack.paths, p.paths);
  EXPECT_EQ(b.pack.content_hash(), p.content_hash());
  // And it survives a write/read round trip bit-exactly.
  write_pack(dir.file("x.pack"), p);
  const Pack r = read_pack(dir.file("x.pack"));
  EXPECT_TRUE(torch::equal(r.images, p.images));
  EXPECT_EQ(r.labels, p.labels);
  EXPECT_EQ(r.spec.stage1.size, 64);
}

TEST(PackBuilder, ClassesSplitsAndUnlabelledEntries) {
  test::TempDir dir;
  const fs::path root = make_tree(dir.path() / "t");
  Manifest m = index_dataset(root.string());
  m.entries.erase(std::remove_if(m.entries.begin(), m.entries.end(),
                                 [](const ManifestEntry& e) { return e.path.find("broken") != std::string::npos; }),
                  m.entries.end());
  m.entries[0].label = "";  // unlabelled
  for (size_t i = 0; i < m.entries.size(); ++i) m.entries[i].split = i % 2 ? "test" : "train";
  PackBuildOptions opt;
  opt.spec.stage1.size = 32;
  opt.progress = false;
  opt.classes = {"covid", "non-covid"};  // normal maps to non-covid
  PackBuildResult r = build_pack(m, opt);
  for (const auto& f : r.failures) ADD_FAILURE() << f.path << ": " << f.reason;
  ASSERT_EQ(r.pack.labels.size(), m.entries.size());
  EXPECT_EQ(r.pack.labels[0], -1);
  for (size_t i = 1; i < m.entries.size(); ++i)
    EXPECT_EQ(r.pack.labels[i], m.entries[i].label == "covid" ? 0 : 1) << m.entries[i].label;
  opt.split = "test";
  r = build_pack(m, opt);
  for (const auto& f : r.failures) ADD_FAILURE() << f.path << ": " << f.reason;
  EXPECT_EQ(r.pack.size(), 2);
  for (const auto& s : r.pack.splits) EXPECT_EQ(s, "test");
  // A label outside an explicit class list is a reported failure, not a guess.
  opt.split = "";
  opt.classes = {"covid", "pneumonia"};
  r = build_pack(m, opt);
  EXPECT_EQ(r.failures.size(), 2u);  // the two normal images
  EXPECT_NE(r.failures[0].reason.find("not one of the classes"), std::string::npos);
  opt.split = "val";
  EXPECT_THROW(build_pack(m, opt), UsageError);
  EXPECT_EQ(default_classes(m), (std::vector<std::string>{"covid", "normal"}));
}

TEST(PackBuilder, CovidCtValSplit) {
  COVSCREEN_REQUIRE_DATASET(root, "COVID-CT");
  const Manifest m = index_dataset(root);
  PackBuildOptions opt;
  opt.split = "val";
  opt.progress = false;
  opt.threads = 2;
  const PackBuildResult r = build_pack(m, opt);
  EXPECT_TRUE(r.failures.empty());
  // SOURCES.md: val = CT_COVID 60 + CT_NonCOVID 58.
  EXPECT_EQ(r.pack.size(), 118);
  EXPECT_EQ(r.pack.classes, (std::vector<std::string>{"covid", "non-covid"}));
  EXPECT_EQ(std::count(r.pack.labels.begin(), r.pack.labels.end(), 0), 60);
  EXPECT_EQ(r.pack.images.size(1), 256);
  // Equalized images use the whole range.
  EXPECT_EQ(r.pack.images.max().item<int>(), 255);
}
