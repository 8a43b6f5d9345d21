// `covscreen explain` end to end: a small fresh checkpoint, a folder with a good PNG and two bad
// files, name collisions, the default-model error, and the model-randomization sanity check of
// Adebayo et al. 2018 on real CT slices with the shipped model (skipped when it is absent).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <vector>

#include "cli_util.h"
#include "covscreen/core/paths.h"
#include "covscreen/models/checkpoint.h"
#include "test_util.h"

namespace covscreen {
namespace {

namespace fs = std::filesystem;
using test::CliRun;
using test::have_cli;
using test::run_cli;
using test::slurp;
using test::small_checkpoint;

// ---- a minimal PNG writer (gray 8-bit, stored deflate blocks), so this test needs no OpenCV
uint32_t crc32(const std::string& s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}
std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
std::string chunk(const std::string& type, const std::string& data) {
  return be32(static_cast<uint32_t>(data.size())) + type + data + be32(crc32(type + data));
}
void write_gray_png(const std::string& path, int w, int h) {
  std::string raw;
  for (int y = 0; y < h; ++y) {
    raw += '\0';  // filter: none
    for (int x = 0; x < w; ++x) raw += static_cast<char>(((x - w / 2) * (x - w / 2) + (y - h / 3) * (y - h / 3)) % 251);
  }
  std::string z = "\x78\x01";
  for (size_t off = 0; off < raw.size(); off += 65535) {
    const size_t n = std::min<size_t>(65535, raw.size() - off);
    z += static_cast<char>(off + n == raw.size() ? 1 : 0);
    z += static_cast<char>(n & 0xFF), z += static_cast<char>(n >> 8);
    z += static_cast<char>(~n & 0xFF), z += static_cast<char>((~n >> 8) & 0xFF);
    z += raw.substr(off, n);
  }
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) a = (a + c) % 65521, b = (b + a) % 65521;
  z += be32((b << 16) | a);
  const std::string ihdr = be32(w) + be32(h) + std::string("\x08\x00\x00\x00\x00", 5);
  std::ofstream(path, std::ios::binary) << std::string("\x89PNG\r\n\x1a\n", 8) << chunk("IHDR", ihdr)
                                        << chunk("IDAT", z) << chunk("IEND", "");
}

struct PngHeader {
  int width = 0, height = 0, bit_depth = 0, colour_type = -1;
};
PngHeader png_header(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::string h(26, '\0');
  f.read(&h[0], 26);
  PngHeader p;
  if (!f || h.compare(1, 3, "PNG") != 0 || h.compare(12, 4, "IHDR") != 0) return p;
  auto u = [&](int i) { return static_cast<unsigned char>(h[i]); };
  p.width = (u(16) << 24) | (u(17) << 16) | (u(18) << 8) | u(19);
  p.height = (u(20) << 24) | (u(21) << 16) | (u(22) << 8) | u(23);
  p.bit_depth = u(24);
  p.colour_type = u(25);  // 0 gray, 2 RGB
  return p;
}

class ExplainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_cli()) COVSCREEN_SKIP() << "the covscreen CLI was not built (needs OpenCV + GDCM)";
    ckpt_ = small_checkpoint(dir_, 1);
  }
  test::TempDir dir_;
  std::string ckpt_;
};

TEST_F(ExplainCli, GoodFileGetsOverlaysBadFilesAreNamedExitTwo) {
  const fs::path in = dir_.path() / "in";
  fs::create_directories(in);
  write_gray_png((in / "good.png").string(), 96, 80);
  std::ofstream((in / "not-an-image.png").string()) << "this is text, not a PNG\n";
  std::ofstream((in / "empty.png").string()).close();
  const std::string out = dir_.file("out");
  const CliRun r = run_cli("explain --model '" + ckpt_ + "' '" + in.string() + "' --out '" + out + "'", dir_);
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("not-an-image.png"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("empty.png"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("good.png"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("good.png"), std::string::npos) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("covid=0\\.[0-9]{3} non-covid=0\\.[0-9]{3}"))) << r.out;
  const PngHeader overlay = png_header(out + "/good_cam.png");
  EXPECT_EQ(overlay.width, 96);
  EXPECT_EQ(overlay.height, 80);
  EXPECT_EQ(overlay.bit_depth, 8);
  EXPECT_EQ(overlay.colour_type, 2);
  const PngHeader raw = png_header(out + "/good_cam16.png");
  EXPECT_EQ(raw.width, 96);
  EXPECT_EQ(raw.height, 80);
  EXPECT_EQ(raw.bit_depth, 16);
  EXPECT_EQ(raw.colour_type, 0);
  EXPECT_FALSE(fs::exists(out + "/empty_cam.png"));
  EXPECT_FALSE(fs::exists(out + "/not-an-image_cam.png"));
}

TEST_F(ExplainCli, CollidingStemsGetUniqueNamesAndGradCamPlusPlusWorks) {
  for (const char* sub : {"a", "b"}) {
    fs::create_directories(dir_.path() / sub);
    write_gray_png((dir_.path() / sub / "scan.png").string(), 50, 70);
  }
  const std::string out = dir_.file("out");
  const CliRun r = run_cli("explain --model '" + ckpt_ + "' '" + dir_.file("a/scan.png") + "' '" +
                               dir_.file("b/scan.png") + "' --method gradcam++ --class non-covid --out '" + out + "'",
                           dir_);
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(png_header(out + "/scan_cam.png").width, 50);
  EXPECT_EQ(png_header(out + "/scan-2_cam.png").height, 70);
  EXPECT_EQ(png_header(out + "/scan-2_cam16.png").bit_depth, 16);
}

TEST_F(ExplainCli, UsageErrors) {
  write_gray_png(dir_.file("x.png"), 32, 32);
  CliRun r = run_cli("explain '" + dir_.file("x.png") + "' --out '" + dir_.file("o") + "'", dir_,
                     "COVSCREEN_MODEL='" + dir_.file("missing.ckpt") + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("--model"), std::string::npos) << r.err;
  r = run_cli(
      "explain --model '" + ckpt_ + "' '" + dir_.file("x.png") + "' --class lung --out '" + dir_.file("o") + "'", dir_);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("non-covid"), std::string::npos) << r.err;  // lists the model's classes
  r = run_cli(
      "explain --model '" + ckpt_ + "' '" + dir_.file("x.png") + "' --method lime --out '" + dir_.file("o") + "'",
      dir_);
  EXPECT_EQ(r.rc, 1);
}

double mean_spearman(const std::string& out) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex("mean Spearman rank correlation (-?[0-9.]+) over ([0-9]+) images")))
    return -2;
  return std::stod(m[1]);
}

// The check itself can report "identical": the re-initialized model with the seed the checkpoint
// was made with has the same weights, hence the same maps.
TEST_F(ExplainCli, RandomizationCheckReportsOneForIdenticalWeights) {
  write_gray_png(dir_.file("x.png"), 64, 64);
  const CliRun r = run_cli("explain --model '" + ckpt_ + "' '" + dir_.file("x.png") +
                               "' --randomization-check --seed 1 --out '" + dir_.file("o") + "'",
                           dir_);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NEAR(mean_spearman(r.out), 1.0, 1e-4) << r.out;
}

// Adebayo et al. 2018: maps of the trained model and of the same architecture with
// re-initialized weights must differ clearly on real images.
TEST(ExplainSanity, TrainedVersusRandomWeightsOnCovidCtVal) {
  if (!have_cli()) COVSCREEN_SKIP() << "the covscreen CLI was not built";
  const std::string model = default_model_path();
  if (!fs::exists(model))
    COVSCREEN_SKIP() << "no trained model at " << model << " (the shipped model, or set COVSCREEN_MODEL)";
  COVSCREEN_REQUIRE_DATASET(root, "COVID-CT");
  std::string files;
  int n = 0;
  for (const auto& [list, folder] : {std::pair<std::string, std::string>{"COVID/valCT_COVID.txt", "CT_COVID"},
                                     {"NonCOVID/valCT_NonCOVID.txt", "CT_NonCOVID"}}) {
    std::ifstream f(root + "/Data-split/" + list);
    std::string name;
    for (int k = 0; k < 3 && std::getline(f, name);) {
      while (!name.empty() && (name.back() == '\r' || name.back() == ' ')) name.pop_back();
      const std::string p = root + "/Images-processed/" + folder + "/" + name;
      if (name.empty() || !fs::exists(p)) continue;
      files += " '" + p + "'";
      ++n, ++k;
    }
  }
  ASSERT_GE(n, 4) << "could not find COVID-CT val images under " << root;
  test::TempDir dir;
  const CliRun r =
      run_cli("explain --model '" + model + "'" + files + " --randomization-check --out '" + dir.file("o") + "'", dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  const double rho = mean_spearman(r.out);
  std::cout << "mean Spearman rank correlation trained vs re-initialized over " << n << " images: " << rho << "\n";
  EXPECT_GT(rho, -1.5) << r.out;  // parsed
  EXPECT_LT(rho, 0.5) << r.out;
}

}  // namespace
}  // namespace covscreen
