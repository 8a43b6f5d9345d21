// Runs the built `covscreen dataset ...` commands end to end.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "covscreen/core/container.h"
#include "covscreen/data/pack.h"
#include "synthetic_pack.h"
#include "test_util.h"

using namespace covscreen;
namespace fs = std::filesystem;

namespace {
std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct CliResult {
  int code = -1;
  std::string out, err;
};

// covscreen <args>; stdout captured, stderr to a file.
CliResult run_cli(const std::string& args, const test::TempDir& dir) {
  const std::string bin = test::bin_dir() + "/covscreen";
  const std::string err = dir.file("stderr.txt");
  CliResult r;
  FILE* f = ::popen((quote(bin) + " " + args + " 2>" + quote(err)).c_str(), "r");
  if (!f) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) r.out.append(buf, n);
  const int st = ::pclose(f);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::ifstream e(err);
  r.err.assign(std::istreambuf_iterator<char>(e), {});
  return r;
}

#define REQUIRE_CLI()                              \
  if (!fs::exists(test::bin_dir() + "/covscreen")) \
  COVSCREEN_SKIP() << "covscreen binary not built in " << test::bin_dir()
}  // namespace

TEST(CliDataset, IndexCovidCtThenStatsJson) {
  REQUIRE_CLI();
  COVSCREEN_REQUIRE_DATASET(root, "COVID-CT");
  test::TempDir dir;
  const CliResult idx = run_cli("dataset index " + quote(root) + " --out " + quote(dir.file("m.csv")), dir);
  ASSERT_EQ(idx.code, 0) << idx.out << idx.err;
  EXPECT_NE(idx.out.find("layout: covid-ct (auto-detected)"), std::string::npos) << idx.out;
  EXPECT_NE(idx.out.find("indexed: 543 images"), std::string::npos) << idx.out;
  const CliResult st = run_cli("dataset stats " + quote(dir.file("m.csv")) + " --json", dir);
  ASSERT_EQ(st.code, 0) << st.out << st.err;
  const auto j = nlohmann::json::parse(st.out);
  // SOURCES.md: train CT_COVID 191, CT_NonCOVID 234; val 60 / 58.
  EXPECT_EQ(j["by_split"]["train"]["by_class"]["covid"]["images"], 191);
  EXPECT_EQ(j["by_split"]["train"]["by_class"]["non-covid"]["images"], 234);
  EXPECT_EQ(j["by_split"]["val"]["by_class"]["covid"]["images"], 60);
  EXPECT_EQ(j["by_split"]["val"]["by_class"]["non-covid"]["images"], 58);
  EXPECT_EQ(j["images"], 543);
  EXPECT_GT(j["by_split"]["train"]["by_class"]["covid"]["patients"].get<int>(), 0);
  EXPECT_EQ(j["kind"], "manifest");
  EXPECT_EQ(j["patient_overlap"]["ok"], true);
  EXPECT_EQ(j["classes"], (nlohmann::json{"covid", "non-covid"}));
}

TEST(CliDataset, SplitKermanyIsSeededAndPatientDisjoint) {
  REQUIRE_CLI();
  COVSCREEN_REQUIRE_DATASET(root, "chest_xray_pneumonia");
  test::TempDir dir;
  for (const char* name : {"a.csv", "b.csv"}) {
    const CliResult r =
        run_cli("dataset split " + quote(root) + " --resplit --seed 11 --out " + quote(dir.file(name)), dir);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("patient overlap check: OK"), std::string::npos) << r.out;
  }
  EXPECT_EQ(read_file(dir.file("a.csv")), read_file(dir.file("b.csv")));
  const CliResult c =
      run_cli("dataset split " + quote(root) + " --resplit --seed 12 --out " + quote(dir.file("c.csv")), dir);
  ASSERT_EQ(c.code, 0);
  EXPECT_NE(read_file(dir.file("a.csv")), read_file(dir.file("c.csv")));
  // Splitting the split manifest again keeps it (no --resplit) and rewrites it in place unchanged.
  const CliResult again = run_cli("dataset split " + quote(dir.file("a.csv")) + " --seed 99", dir);
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(read_file(dir.file("a.csv")), read_file(dir.file("b.csv")));
  EXPECT_EQ(run_cli("dataset split " + quote(dir.file("a.csv")) + " --ratios 70", dir).code, 1);
}

TEST(CliDataset, PackReportsBadFilesWithExitCode2AndStatsReadsThePack) {
  REQUIRE_CLI();
  test::TempDir dir;
  const fs::path root = dir.path() / "my scans (2)";
  fs::create_directories(root / "covid");
  fs::create_directories(root / "normal");
  cv::Mat img(50, 60, CV_8UC1);
  cv::randu(img, 0, 255);
  cv::imwrite((root / "covid" / "a (1).png").string(), img);
  cv::imwrite((root / "covid" / "b, 2.jpg").string(), img);
  cv::imwrite((root / "normal" / "c 3.jpeg").string(), img);
  std::ofstream(root / "normal" / "bad (4).png", std::ios::binary) << "\x89PNG\r\n\x1a\n garbage";
  const CliResult p = run_cli(
      "dataset pack " + quote(root.string()) + " --size 32 --no-progress --out " + quote(dir.file("s.pack")), dir);
  EXPECT_EQ(p.code, 2) << p.out << p.err;
  EXPECT_NE(p.err.find("bad (4).png"), std::string::npos) << p.err;
  EXPECT_NE(p.out.find("failed: 1"), std::string::npos) << p.out;
  const CliResult st = run_cli("dataset stats " + quote(dir.file("s.pack")) + " --json", dir);
  ASSERT_EQ(st.code, 0) << st.err;
  const auto j = nlohmann::json::parse(st.out);
  EXPECT_EQ(j["kind"], "pack");
  EXPECT_EQ(j["images"], 3);
  EXPECT_EQ(j["by_class"]["covid"]["images"], 2);
  // A truncated pack is refused with the file named.
  const std::string bytes = read_file(dir.file("s.pack"));
  write_file_atomic(dir.file("t.pack"), bytes.substr(0, bytes.size() / 2));
  const CliResult bad = run_cli("dataset stats " + quote(dir.file("t.pack")), dir);
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("t.pack"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("truncated"), std::string::npos) << bad.err;
}

// --lung-crop: the spec in the pack says so, an image without lungs is packed whole and named.
TEST(CliDataset, PackWithLungCropRecordsItAndNamesImagesWithoutLungs) {
  REQUIRE_CLI();
  test::TempDir dir;
  const fs::path root = dir.path() / "scans";
  fs::create_directories(root / "covid");
  cv::Mat ct(200, 300, CV_8UC1, cv::Scalar(15));
  cv::ellipse(ct, {100, 100}, {80, 60}, 0, 0, 360, cv::Scalar(210), cv::FILLED);
  cv::ellipse(ct, {70, 100}, {20, 35}, 0, 0, 360, cv::Scalar(45), cv::FILLED);
  cv::ellipse(ct, {130, 100}, {20, 35}, 0, 0, 360, cv::Scalar(45), cv::FILLED);
  cv::imwrite((root / "covid" / "ct.png").string(), ct);
  cv::imwrite((root / "covid" / "flat.png").string(), cv::Mat(64, 64, CV_8UC1, cv::Scalar(128)));
  const CliResult p = run_cli("dataset pack " + quote(root.string()) +
                                  " --size 32 --lung-crop ct --no-progress --out " + quote(dir.file("l.pack")),
                              dir);
  ASSERT_EQ(p.code, 0) << p.out << p.err;
  EXPECT_NE(p.err.find("no lungs found in 1 of 2"), std::string::npos) << p.err;
  const Pack pack = read_pack(dir.file("l.pack"));
  EXPECT_TRUE(pack.spec.stage1.lungs.enabled);
  EXPECT_EQ(pack.spec.stage1.lungs.method, LungMethod::kCt);
  const auto& lc = pack.provenance.at("lung_crop");
  EXPECT_EQ(lc.at("cropped"), 1);
  EXPECT_EQ(lc.at("whole_image"), 1);
  ASSERT_EQ(lc.at("whole_image_paths").size(), 1u);
  EXPECT_NE(lc.at("whole_image_paths")[0].get<std::string>().find("flat.png"), std::string::npos);
  const CliResult bad =
      run_cli("dataset pack " + quote(root.string()) + " --lung-crop mri --out " + quote(dir.file("m.pack")), dir);
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("ct, xray"), std::string::npos) << bad.err;
  EXPECT_FALSE(fs::exists(dir.file("m.pack")));
}

// dataset preview: a contact sheet of packed vs augmented images, with the config's stage 2.
TEST(CliDataset, PreviewDrawsPackedAndAugmentedImagesSideBySide) {
  REQUIRE_CLI();
  test::TempDir dir;
  write_pack(dir.file("s.pack"), test::synthetic_pack(10, 48, 3));
  {
    std::ofstream c(dir.file("marks.json"));
    c << R"({"spec": {"stage2": {"rotate_degrees": 0, "translate_fraction": 0, "annotate_probability": 1}}})";
  }
  const CliResult r =
      run_cli("dataset preview " + quote(dir.file("s.pack")) + " --config " + quote(dir.file("marks.json")) +
                  " --count 6 --seed 4 --out " + quote(dir.file("p.png")),
              dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("6 of 10 images"), std::string::npos) << r.out;
  const cv::Mat sheet = cv::imread(dir.file("p.png"), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(sheet.type(), CV_8UC1);
  EXPECT_EQ(sheet.cols, 8 * 48);
  EXPECT_EQ(sheet.rows, 2 * 48) << "6 images, 4 pairs per row";
  // Each pair differs (stretched and marked); the empty places of the last row stay black.
  for (int i = 0; i < 6; ++i) {
    const cv::Rect left((i % 4) * 96, (i / 4) * 48 + 20, 48, 28), right = left + cv::Point(48, 0);
    EXPECT_GT(cv::norm(sheet(left), sheet(right), cv::NORM_L1), 0) << "image " << i;
  }
  EXPECT_EQ(cv::countNonZero(sheet(cv::Rect(2 * 96, 48, 2 * 96, 48))), 0);
  // The same seed gives the same sheet.
  ASSERT_EQ(run_cli("dataset preview " + quote(dir.file("s.pack")) + " --config " + quote(dir.file("marks.json")) +
                        " --count 6 --seed 4 --out " + quote(dir.file("q.png")),
                    dir)
                .code,
            0);
  EXPECT_EQ(read_file(dir.file("p.png")), read_file(dir.file("q.png")));
  // A bad value in the config, and a file that is not a pack: errors naming them, nothing written.
  {
    std::ofstream c(dir.file("bad.json"));
    c << R"({"spec": {"stage2": {"jpeg_probability": 2}}})";
  }
  const CliResult bad = run_cli("dataset preview " + quote(dir.file("s.pack")) + " --config " +
                                    quote(dir.file("bad.json")) + " --out " + quote(dir.file("b.png")),
                                dir);
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("jpeg_probability"), std::string::npos) << bad.err;
  const CliResult notpack =
      run_cli("dataset preview " + quote(dir.file("marks.json")) + " --out " + quote(dir.file("b.png")), dir);
  EXPECT_NE(notpack.code, 0);
  EXPECT_NE(notpack.err.find("marks.json"), std::string::npos) << notpack.err;
  EXPECT_FALSE(fs::exists(dir.file("b.png")));
}
