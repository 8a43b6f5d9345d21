// DICOM files that nobody here wrote, decoded as pydicom decodes them. Two corpora:
//   - the ~90 test files of Debian's python3-pydicom (COVSCREEN_DICOM_CORPUS overrides the folder);
//   - files of the shapes that corpus lacks (PALETTE COLOR, YBR_FULL, planar RGB, multi-frame in
//     little/big endian and deflated, RLE 16-bit RGB, functional-group rescale), written by pydicom
//     (tests/python/make_dicom_variants.py).
// Every file and frame goes through the decoder processes (io/decoder_pool.h): each is screened
// or refused with an error naming it, none crashes a decoder, and the gray pixels equal pydicom's
// decoding taken through the same window / colour rule (tests/python/dicom_corpus_reference.py)
// within one grey level. Of the files pydicom decodes, at least 95% must be screened.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <sstream>

#include "covscreen/core/error.h"
#include "covscreen/io/decoder_pool.h"
#include "covscreen/io/dicom_reader.h"
#include "covscreen/io/image_reader.h"
#include "test_util.h"

namespace covscreen {
namespace {

namespace fs = std::filesystem;

fs::path debian_corpus() {
  if (const char* env = std::getenv("COVSCREEN_DICOM_CORPUS"); env && *env) return env;
  return "/usr/lib/python3/dist-packages/pydicom/data/test_files";
}

std::string script(const std::string& name) { return std::string(COVSCREEN_SOURCE_DIR) + "/tests/python/" + name; }

// pydicom's reference for every file of `dir` into `ref` (index.json and PGM frames).
bool run_reference(const fs::path& dir, const fs::path& ref, const WindowSpec& w) {
  std::ostringstream cmd;
  cmd << test::debian_python() << " '" << script("dicom_corpus_reference.py") << "' '" << dir.string() << "' '"
      << ref.string() << "' " << w.center << " " << w.width;
  return std::system(cmd.str().c_str()) == 0;
}

struct Outcome {
  int decodable = 0;   // files pydicom decodes
  int matched = 0;     // of those: every frame screened here, within 1 grey level of pydicom
  int screened = 0;    // files screened here (all frames), pydicom or not
  int refused = 0;     // files refused here with an error naming them
  std::string report;  // one line per decodable file that did not match
};

Outcome compare(const fs::path& dir, const fs::path& ref, const WindowSpec& w, DecoderPool& pool) {
  std::ifstream in(ref / "index.json");
  const nlohmann::json index = nlohmann::json::parse(in);
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ReadOptions opt;
  opt.window = w;
  Outcome out;
  for (const fs::path& file : files) {
    const std::string rel = fs::relative(file, dir).string();
    const int frames = count_dicom_frames(file.string());
    std::string why;  // empty while every frame decodes and matches
    int max_diff = 0;
    bool all_decoded = true;
    const nlohmann::json* expect = index.contains(rel) && index[rel].contains("frames") ? &index[rel] : nullptr;
    if (expect && expect->at("frames").get<int>() != frames)
      why = "frames: " + std::to_string(frames) + " here, " + std::to_string(expect->at("frames").get<int>()) +
            " in pydicom";
    for (int f = 0; f < frames; ++f) {
      const std::string address = frames > 1 ? frame_address(file.string(), f) : file.string();
      try {
        const DecodedImage img = pool.read(address, opt);
        EXPECT_EQ(img.frames, frames) << address;
        if (!expect || !why.empty()) continue;
        const std::string pgm =
            (ref / (std::to_string(expect->at("key").get<int>()) + "-" + std::to_string(f + 1) + ".pgm")).string();
        const cv::Mat want = cv::imread(pgm, cv::IMREAD_UNCHANGED);
        if (want.size() != img.gray.size()) {
          why = "size differs from pydicom's";
          continue;
        }
        cv::Mat diff;
        cv::absdiff(want, img.gray, diff);
        double m = 0;
        cv::minMaxLoc(diff, nullptr, &m);
        max_diff = std::max(max_diff, int(m));
      } catch (const FileError& e) {
        all_decoded = false;
        EXPECT_EQ(e.path(), address) << "the error must name the file (and frame)";
        EXPECT_FALSE(e.problem().empty()) << address;
        if (why.empty()) why = "refused: " + e.problem();
      }
    }
    all_decoded ? ++out.screened : ++out.refused;
    if (!expect) continue;
    ++out.decodable;
    if (why.empty() && max_diff > 1) why = "differs from pydicom by " + std::to_string(max_diff) + " grey levels";
    if (why.empty())
      ++out.matched;
    else
      out.report += "  " + rel + ": " + why + "\n";
  }
  return out;
}

DecoderPoolOptions isolated() {
  DecoderPoolOptions o;
  o.processes = 2;
  o.require_isolation = true;
  return o;
}

bool have_python() { return !test::debian_python().empty(); }

TEST(DicomCorpus, PydicomTestFilesAreScreenedAsPydicomDecodesThem) {
  const fs::path corpus = debian_corpus();
  if (!fs::is_directory(corpus)) COVSCREEN_SKIP() << corpus << " is absent (Debian's python3-pydicom; scripts/setup)";
  if (!have_python()) COVSCREEN_SKIP() << "no /usr/bin/python3 with pydicom for the reference";
  test::TempDir tmp;
  WindowSpec w;  // wide, so that few pixels saturate and the comparison has something to compare
  w.center = 500;
  w.width = 3000;
  ASSERT_TRUE(run_reference(corpus, tmp.path() / "ref", w));
  DecoderPool pool(isolated());
  const Outcome o = compare(corpus, tmp.path() / "ref", w, pool);
  std::cout << "pydicom decodes " << o.decodable << " files; " << o.matched << " screened here within 1 grey level; "
            << o.screened << " screened and " << o.refused << " refused of all files\n"
            << o.report;
  EXPECT_GE(o.decodable, 70) << "the corpus is smaller than expected";
  EXPECT_GE(o.matched * 100, o.decodable * 95) << o.report;
  EXPECT_EQ(pool.stats().crashes, 0u) << "a file crashed a decoder";
  EXPECT_EQ(pool.stats().timeouts, 0u);
}

TEST(DicomCorpus, ColourPaletteMultiFrameDeflatedAndRleMatchPydicom) {
  if (!have_python()) COVSCREEN_SKIP() << "no /usr/bin/python3 with pydicom";
  test::TempDir tmp;
  const fs::path dir = tmp.path() / "variants";
  ASSERT_EQ(std::system(
                (test::debian_python() + " '" + script("make_dicom_variants.py") + "' '" + dir.string() + "'").c_str()),
            0);
  WindowSpec w;  // the lung window of the shipped CT model
  ASSERT_TRUE(run_reference(dir, tmp.path() / "ref", w));
  DecoderPool pool(isolated());
  const Outcome o = compare(dir, tmp.path() / "ref", w, pool);
  EXPECT_EQ(o.decodable, 8);
  EXPECT_EQ(o.matched, o.decodable) << o.report;

  // Frames by name: scan.dcm#frame-N, from 1.
  const std::string mf = (dir / "multiframe_le.dcm").string();
  EXPECT_EQ(count_dicom_frames(mf), 4);
  EXPECT_EQ(count_dicom_frames((dir / "multiframe_deflated.dcm").string()), 4);
  EXPECT_EQ(count_dicom_frames((dir / "ybr_full.dcm").string()), 1);
  const DecodedImage last = read_image(mf + "#frame-4");
  EXPECT_EQ(last.frames, 4);
  EXPECT_EQ(last.gray.rows, 20);
  try {
    read_image(mf + "#frame-5");
    ADD_FAILURE() << "frame 5 of 4";
  } catch (const FileError& e) {
    EXPECT_EQ(e.path(), mf + "#frame-5");
    EXPECT_NE(e.problem().find("no frame 5 (the file has 4 frames)"), std::string::npos) << e.problem();
  }
  std::string file;
  int frame = -1;
  EXPECT_TRUE(split_frame_address(mf + "#frame-12", &file, &frame));
  EXPECT_EQ(file, mf);
  EXPECT_EQ(frame, 11);
  EXPECT_FALSE(split_frame_address(mf + "#frame-0", &file, &frame));
  EXPECT_FALSE(split_frame_address(mf + "#frame-x", &file, &frame));
  EXPECT_FALSE(split_frame_address(mf, &file, &frame));
}

TEST(DicomCorpus, WhatIsNotAPictureIsRefusedWithItsReason) {
  const fs::path corpus = debian_corpus();
  if (!fs::is_directory(corpus)) COVSCREEN_SKIP() << corpus << " is absent";
  const auto problem = [](const fs::path& p) -> std::string {
    try {
      read_image(p.string());
    } catch (const FileError& e) {
      return e.problem();
    }
    return "";
  };
  // A 1-bit segmentation, a structured report, a file without pixel data behind a UN sequence.
  EXPECT_NE(problem(corpus / "liver_1frame.dcm").find("1-bit image"), std::string::npos);
  EXPECT_NE(problem(corpus / "test-SR.dcm").find("no pixel data"), std::string::npos);
  EXPECT_NE(problem(corpus / "UN_sequence.dcm").find("no pixel data"), std::string::npos);
  EXPECT_NE(problem(corpus / "rtplan_truncated.dcm").find("truncated"), std::string::npos);
}

}  // namespace
}  // namespace covscreen
