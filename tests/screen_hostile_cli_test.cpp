// `covscreen screen` on a folder of hostile files (generated here, never checked in) beside
// valid ones: empty, truncated at every tenth, headers that lie about the size, DICOM without
// pixels, with a wrong transfer syntax or absurd rescale values. The command must finish with
// exit status 2 ("some files failed"), screen the valid and the valid-but-unusual files
// (16-bit and float TIFF, palette PNG, CMYK JPEG, 1 x 1 PNG) or give them a clear reason, and
// give every hostile file exactly one error that names the file and the problem.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <regex>
#include <tuple>

#include "cli_util.h"
#include "hostile_files.h"

namespace covscreen {
namespace {

namespace fs = std::filesystem;
namespace h = test::hostile;

std::string encode(const std::string& ext, const cv::Mat& m) {
  std::vector<uint8_t> buf;
  if (!cv::imencode(ext, m, buf)) return "";
  return std::string(buf.begin(), buf.end());
}

cv::Mat slice_like(int type, double scale, double offset) {
  cv::Mat m(96, 96, CV_64F);
  for (int y = 0; y < m.rows; ++y)
    for (int x = 0; x < m.cols; ++x)
      m.at<double>(y, x) = (x + 2 * y) % 96 / 96.0 * 0.5 + (std::hypot(x - 48, y - 40) < 20);
  cv::Mat out;
  m.convertTo(out, type, scale, offset);
  return out;
}

struct Corpus {
  std::map<std::string, std::string> files;    // name -> bytes
  std::map<std::string, std::string> hostile;  // name -> regex the problem must match
  std::vector<std::string> valid, unusual;     // must be screened / screened or a clear reason
};

Corpus make_corpus() {
  Corpus c;
  const std::string png = encode(".png", slice_like(CV_8U, 255, 0)), jpg = encode(".jpg", slice_like(CV_8U, 255, 0));
  const std::string dcm = h::dicom_ct();
  c.files["valid.png"] = png;
  c.files["valid.jpg"] = jpg;
  c.files["valid.dcm"] = dcm;
  c.valid = {"valid.png", "valid.jpg", "valid.dcm"};

  c.files["empty.png"] = "";
  c.hostile["empty.png"] = "empty";
  for (const auto& [ext, bytes] : {std::pair<std::string, std::string>{"png", png}, {"jpg", jpg}, {"dcm", dcm}}) {
    for (int k = 1; k <= 9; ++k) {
      const std::string name = "cut-" + std::to_string(k * 10) + "pct." + ext;
      c.files[name] = bytes.substr(0, bytes.size() * k / 10);
      c.hostile[name] = "truncat|corrupt|could not|no pixel|not a|unsupported|invalid|damaged";
    }
  }
  for (uint32_t side : {1u, 65535u}) {
    const std::string s = std::to_string(side);
    c.files["claims-" + s + ".png"] = h::png_header_only(side, side);
    c.files["claims-" + s + ".bmp"] = h::bmp_header_only(side, side);
    c.files["claims-" + s + ".tif"] = h::tiff_header_only(side, side);
    for (const char* ext : {".png", ".bmp", ".tif"})
      c.hostile["claims-" + s + ext] = side == 1 ? "truncat|corrupt|could not" : "too large";
  }
  c.files["no-pixels.dcm"] = h::dicom_patch(dcm, gdcm::Tag(0x7fe0, 0x0010), gdcm::VR::OW, "", true);
  c.hostile["no-pixels.dcm"] = "no pixel data";
  c.files["claims-jpeg2000.dcm"] = h::dicom_with_transfer_syntax(dcm, "1.2.840.10008.1.2.4.90");
  c.files["unknown-syntax.dcm"] = h::dicom_with_transfer_syntax(dcm, "1.2.3.4.5.6.7.8.9.10");
  c.hostile["claims-jpeg2000.dcm"] = c.hostile["unknown-syntax.dcm"] = "transfer syntax|could not|corrupt|decode";
  const gdcm::Tag slope(0x0028, 0x1053), intercept(0x0028, 0x1052);
  for (const auto& [name, tag, value] :
       {std::tuple<std::string, gdcm::Tag, std::string>{"slope-1e30.dcm", slope, "1e30"},
        {"slope-nan.dcm", slope, "NaN"},
        {"slope-0.dcm", slope, "0"},
        {"intercept-1e30.dcm", intercept, "-1e30"}}) {
    c.files[name] = h::dicom_patch(dcm, tag, gdcm::VR::DS, value);
    c.hostile[name] = "[Rr]escale";
  }

  c.files["gray16.tif"] = encode(".tif", slice_like(CV_16U, 60000, 1000));
  c.files["float32.tif"] = encode(".tif", slice_like(CV_32F, 3.5, -1.25));
  c.files["palette.png"] = h::palette_png(48);
  c.files["cmyk.jpg"] = h::cmyk_jpeg();
  c.files["one-pixel.png"] = encode(".png", cv::Mat(1, 1, CV_8U, cv::Scalar(77)));
  c.unusual = {"gray16.tif", "float32.tif", "palette.png", "cmyk.jpg", "one-pixel.png"};
  return c;
}

TEST(ScreenHostile, EveryHostileFileGetsOneClearErrorAndTheRestAreScreened) {
  if (!test::have_cli()) COVSCREEN_SKIP() << "the covscreen CLI was not built (needs OpenCV + GDCM)";
  test::TempDir dir;
  const Corpus c = make_corpus();
  const fs::path folder = dir.path() / "corpus";
  fs::create_directories(folder);
  for (const auto& [name, bytes] : c.files) {
    if (name != "empty.png") ASSERT_FALSE(bytes.empty()) << "could not generate " << name;
    std::ofstream(folder / name, std::ios::binary) << bytes;
  }
  const std::string model = test::small_checkpoint(dir, 3);
  // `timeout` turns a hang into exit status 124 (or 137) instead of a stuck test.
  const test::CliRun r = test::run_cli(
      "screen --model '" + model + "' --format json --no-input-check --workers 1 --threads 1 '" + folder.string() + "'",
      dir, "timeout -k 10 240");
  ASSERT_EQ(r.rc, 2) << "expected 2 (some files failed); stderr:\n" << r.err;

  nlohmann::json items;
  ASSERT_NO_THROW(items = test::parse_json_lines(r.out)) << r.out;
  std::map<std::string, std::vector<nlohmann::json>> by_name;
  for (const auto& it : items) by_name[fs::path(it.value("file", "")).filename().string()].push_back(it);
  EXPECT_EQ(items.size(), c.files.size());

  for (const auto& [name, bytes] : c.files) {
    SCOPED_TRACE(name);
    ASSERT_EQ(by_name[name].size(), 1u) << "exactly one result per file";
    const nlohmann::json& it = by_name[name][0];
    const std::string error = it.value("error", "");
    const bool ok = it.value("ok", false);
    const std::string path = (folder / name).string();
    if (std::find(c.valid.begin(), c.valid.end(), name) != c.valid.end()) {
      EXPECT_TRUE(ok) << error;
      EXPECT_TRUE(it.contains("probabilities"));
    } else if (std::find(c.unusual.begin(), c.unusual.end(), name) != c.unusual.end()) {
      EXPECT_TRUE(ok || error.size() > 10) << "neither screened nor a clear reason: '" << error << "'";
      std::cerr << "[ unusual  ] " << name << ": " << (ok ? "screened" : "refused: " + error) << "\n";
    } else {
      EXPECT_FALSE(ok) << "a hostile file was screened";
      EXPECT_TRUE(std::regex_search(error, std::regex(c.hostile.at(name)))) << "unclear error: '" << error << "'";
      // stderr names the file once, with the problem.
      size_t n = 0;
      for (size_t at = r.err.find("covscreen: " + path + ": "); at != std::string::npos;
           at = r.err.find("covscreen: " + path + ": ", at + 1))
        ++n;
      EXPECT_EQ(n, 1u) << r.err;
    }
  }
}

}  // namespace
}  // namespace covscreen
