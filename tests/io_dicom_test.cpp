// DICOM reading: golden HU values for the shared pydicom test files, synthetic files written
// here with GDCM (MONOCHROME1, slope/intercept, no pixel data, truncation, absurd headers).
#include <gdcmImageWriter.h>
#include <gdcmReader.h>
#include <gdcmWriter.h>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "covscreen/core/error.h"
#include "covscreen/io/dicom_reader.h"
#include "covscreen/io/image_reader.h"
#include "hostile_files.h"
#include "test_util.h"

namespace covscreen {
namespace {

using test::TempDir;

const char* kSamples = "dicom-samples/pydicom-test-files";

struct Pixel {
  int row, col;
  double hu;
};

struct Golden {
  const char* file;
  int rows, cols;
  double slope, intercept;
  std::vector<Pixel> pixels;
  double min, max, mean;
};

// Golden values from an independent reader: Debian's pydicom 2.3 (JPEG 2000 through Pillow's
// OpenJPEG, with pydicom's J2K sign correction), HU = apply_modality_lut(pixel_array).
// Printed by `/usr/bin/python3 tests/python/dicom_golden.py`. For both JPEG 2000 files the same
// numbers also come from `gdcmconv --raw` + pydicom on the raw file + sign extension from
// BitsStored. (The mismatch file decodes to 0..8191 without that sign extension.)
const std::vector<Golden> kGolden = {
    {"CT_small.dcm",
     128,
     128,
     1.0,
     -1024.0,
     {{0, 0, -849}, {0, 127, -808}, {127, 0, -65}, {127, 127, -115}, {64, 64, 904}, {32, 42, 287}, {96, 85, -47}},
     -896.0,
     1167.0,
     -119.0739},
    {"693_J2KI.dcm",
     512,
     512,
     1.0,
     -1024.0,
     {{0, 0, -3040},
      {0, 511, -3040},
      {511, 0, -3040},
      {511, 511, -3040},
      {256, 256, 32},
      {128, 170, -910},
      {384, 341, 89}},
     -3995.0,
     1812.0,
     -1032.3228},
    {"J2K_pixelrep_mismatch.dcm",
     512,
     512,
     1.0,
     0.0,
     {{0, 0, -2000},
      {0, 511, -2000},
      {511, 0, -2000},
      {511, 511, -2000},
      {256, 256, 27},
      {128, 170, 258},
      {384, 341, 463}},
     -2000.0,
     1896.0,
     -658.4368},
};

TEST(DicomGolden, SharedSamplesDecodeToPydicomHu) {
  COVSCREEN_REQUIRE_DATASET(dir, kSamples);
  for (const Golden& g : kGolden) {
    SCOPED_TRACE(g.file);
    const DicomImage img = read_dicom(dir + "/" + g.file);
    ASSERT_EQ(img.hu.rows, g.rows);
    ASSERT_EQ(img.hu.cols, g.cols);
    ASSERT_EQ(img.hu.type(), CV_32FC1);
    EXPECT_DOUBLE_EQ(img.slope, g.slope);
    EXPECT_DOUBLE_EQ(img.intercept, g.intercept);
    EXPECT_FALSE(img.monochrome1);
    EXPECT_EQ(img.modality, "CT");
    for (const Pixel& p : g.pixels) EXPECT_NEAR(img.hu.at<float>(p.row, p.col), p.hu, 0.5) << p.row << "," << p.col;
    double lo = 0, hi = 0;
    cv::minMaxLoc(img.hu, &lo, &hi);
    EXPECT_NEAR(lo, g.min, 0.5);
    EXPECT_NEAR(hi, g.max, 0.5);
    EXPECT_NEAR(cv::mean(img.hu)[0], g.mean, 1e-3);
  }
}

TEST(DicomGolden, TransferSyntaxesAndVoi) {
  COVSCREEN_REQUIRE_DATASET(dir, kSamples);
  EXPECT_EQ(read_dicom(dir + "/CT_small.dcm").transfer_syntax, "1.2.840.10008.1.2.1");
  const DicomImage lossy = read_dicom(dir + "/693_J2KI.dcm");
  EXPECT_EQ(lossy.transfer_syntax, "1.2.840.10008.1.2.4.91");
  EXPECT_TRUE(lossy.has_voi);
  EXPECT_DOUBLE_EQ(lossy.voi_center, 40.0);
  EXPECT_DOUBLE_EQ(lossy.voi_width, 100.0);
  const DicomImage multi = read_dicom(dir + "/J2K_pixelrep_mismatch.dcm");  // WC 40\40\40, WW 100\100\200
  EXPECT_EQ(multi.transfer_syntax, "1.2.840.10008.1.2.4.90");
  EXPECT_TRUE(multi.has_voi);
  EXPECT_DOUBLE_EQ(multi.voi_center, 40.0);
  EXPECT_DOUBLE_EQ(multi.voi_width, 100.0);
  EXPECT_FALSE(read_dicom(dir + "/CT_small.dcm").has_voi);
}

TEST(DicomGolden, NoMetaFileFailsNamingTheFile) {
  // no_meta.dcm: no preamble, and a stray byte before the data set; pydicom cannot decode it
  // either (it finds no PixelData even with force=True).
  COVSCREEN_REQUIRE_DATASET(dir, kSamples);
  const std::string path = dir + "/no_meta.dcm";
  try {
    read_dicom(path);
    FAIL() << "expected FileError";
  } catch (const FileError& e) {
    EXPECT_EQ(e.path(), path);
    EXPECT_NE(std::string(e.what()).find("no_meta.dcm"), std::string::npos);
  }
  EXPECT_THROW(read_image(path), FileError);  // .dcm extension routes it to the DICOM reader
}

TEST(DicomGolden, WindowToGray8MatchesFormula) {
  COVSCREEN_REQUIRE_DATASET(dir, kSamples);
  // gray = round((HU - (c - w/2)) * 255 / w), clamped; compared with the unrounded value.
  auto expect = [](double hu, double c, double w) {
    return std::min(255.0, std::max(0.0, (hu - (c - w / 2)) * 255.0 / w));
  };
  const DecodedImage lung = read_image(dir + "/CT_small.dcm");  // default lung window -600 / 1500
  EXPECT_EQ(lung.format, "dicom");
  EXPECT_EQ(lung.width, 128);
  EXPECT_EQ(lung.gray.type(), CV_8UC1);
  for (const Pixel& p : kGolden[0].pixels)
    EXPECT_NEAR(lung.gray.at<uint8_t>(p.row, p.col), expect(p.hu, -600, 1500), 0.5 + 1e-3) << p.row << "," << p.col;

  ReadOptions voi;
  voi.window.use_file_voi = true;
  const DecodedImage soft = read_image(dir + "/693_J2KI.dcm", voi);  // file window 40 / 100
  for (const Pixel& p : kGolden[1].pixels)
    EXPECT_NEAR(soft.gray.at<uint8_t>(p.row, p.col), expect(p.hu, 40, 100), 0.5 + 1e-3) << p.row << "," << p.col;
}

TEST(DicomGolden, DecodeFromBytesEqualsReadFromFile) {
  COVSCREEN_REQUIRE_DATASET(dir, kSamples);
  const std::string path = dir + "/693_J2KI.dcm";
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const DicomImage a = read_dicom(path), b = decode_dicom(bytes, "upload.dcm");
  EXPECT_EQ(cv::norm(a.hu, b.hu, cv::NORM_INF), 0.0);
  const DecodedImage c = decode_image(bytes, "upload");  // sniffed by the DICM preamble
  EXPECT_EQ(c.format, "dicom");
}

TEST(DicomGolden, CorruptedSamplesNeverCrash) {
  // Debian's GDCM keeps its assertions: before the pre-check in dicom_check.cpp, a truncated
  // CT_small.dcm or a flipped VR byte aborted the process. Seeded random damage to the header
  // region, sometimes with a cut: every variant must decode or throw FileError, never crash.
  COVSCREEN_REQUIRE_DATASET(dir, kSamples);
  for (const char* file : {"CT_small.dcm", "693_J2KI.dcm"}) {
    std::ifstream in(dir + "/" + file, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    int decoded = 0, refused = 0;
    for (unsigned seed = 0; seed < 150; ++seed) {
      std::mt19937 rng(seed);
      std::string c = bytes;
      for (int j = 0; j < 3; ++j) c[rng() % std::min<size_t>(c.size(), 2200)] = char(rng());
      if (rng() % 4 == 0) c.resize(rng() % c.size());
      try {
        decode_dicom(c, file);
        ++decoded;
      } catch (const FileError&) {
        ++refused;
      }
    }
    EXPECT_EQ(decoded + refused, 150) << file;
    EXPECT_GT(refused, 0) << file;
  }
}

// ------------------------------------------------------------------ synthetic files

struct Synthetic {
  int rows = 3, cols = 4;
  std::vector<int16_t> values = {-1000, -500, 0, 100, 200, 300, 400, 500, 600, 700, 800, 900};
  double slope = 1.0, intercept = 0.0;
  bool monochrome1 = false;
};

std::string write_dicom(const Synthetic& s) {
  gdcm::ImageWriter w;
  gdcm::Image& im = w.GetImage();
  im.SetNumberOfDimensions(2);
  im.SetDimension(0, s.cols);
  im.SetDimension(1, s.rows);
  im.SetPixelFormat(gdcm::PixelFormat::INT16);
  im.SetPhotometricInterpretation(s.monochrome1 ? gdcm::PhotometricInterpretation::MONOCHROME1
                                                : gdcm::PhotometricInterpretation::MONOCHROME2);
  im.SetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
  im.SetSlope(s.slope);
  im.SetIntercept(s.intercept);
  gdcm::DataElement pixels(gdcm::Tag(0x7fe0, 0x0010));
  pixels.SetByteValue(reinterpret_cast<const char*>(s.values.data()), uint32_t(s.values.size() * 2));
  im.SetDataElement(pixels);
  gdcm::DataSet& ds = w.GetFile().GetDataSet();
  gdcm::DataElement sop(gdcm::Tag(0x0008, 0x0016));
  const std::string ct = "1.2.840.10008.5.1.4.1.1.2";  // CT Image Storage (even length)
  sop.SetByteValue(ct.data(), uint32_t(ct.size()));
  sop.SetVR(gdcm::VR::UI);
  ds.Replace(sop);
  std::ostringstream os;
  w.SetStream(os);
  EXPECT_TRUE(w.Write());
  return os.str();
}

// Replaces (or removes) one top-level element of a DICOM byte string (hostile_files.h).
std::string patch(const std::string& bytes, gdcm::Tag tag, gdcm::VR vr, std::string value, bool remove = false) {
  std::string out = test::hostile::dicom_patch(bytes, tag, vr, std::move(value), remove);
  EXPECT_FALSE(out.empty()) << "GDCM could not read or write the patched file";
  return out;
}

std::string dicom_problem(const std::string& bytes, const std::string& name, const DicomLimits& limits = {}) {
  try {
    decode_dicom(bytes, name, limits);
  } catch (const FileError& e) {
    EXPECT_EQ(e.path(), name);
    return e.problem();
  }
  ADD_FAILURE() << "expected FileError for " << name;
  return "";
}

TEST(DicomSynthetic, SlopeInterceptGiveHu) {
  Synthetic s;
  s.slope = 2.0;
  s.intercept = -1000.0;
  const DicomImage img = decode_dicom(write_dicom(s), "synthetic.dcm");
  ASSERT_EQ(img.hu.rows, 3);
  ASSERT_EQ(img.hu.cols, 4);
  for (int i = 0; i < 12; ++i) EXPECT_FLOAT_EQ(img.hu.at<float>(i / 4, i % 4), s.values[i] * 2.0f - 1000.0f) << i;
  EXPECT_DOUBLE_EQ(img.slope, 2.0);
  EXPECT_DOUBLE_EQ(img.intercept, -1000.0);
}

TEST(DicomSynthetic, Monochrome1IsInvertedAfterTheWindow) {
  Synthetic s;
  s.monochrome1 = true;
  const DicomImage m1 = decode_dicom(write_dicom(s), "m1.dcm");
  s.monochrome1 = false;
  const DicomImage m2 = decode_dicom(write_dicom(s), "m2.dcm");
  EXPECT_TRUE(m1.monochrome1);
  EXPECT_FALSE(m2.monochrome1);
  WindowSpec w;
  w.center = 0;
  w.width = 2000;  // -1000 -> 0, 0 -> 127.5, 900 -> 242.25
  const cv::Mat g1 = window_to_gray8(m1, w), g2 = window_to_gray8(m2, w);
  for (int i = 0; i < 12; ++i) {
    // Exact value before rounding; a tie (x.5) may round either way.
    const double exact = std::min(255.0, (s.values[i] + 1000.0) * 255.0 / 2000.0);
    EXPECT_NEAR(g2.at<uint8_t>(i / 4, i % 4), exact, 0.5 + 1e-6) << i;
    EXPECT_EQ(g1.at<uint8_t>(i / 4, i % 4), 255 - g2.at<uint8_t>(i / 4, i % 4)) << i;
  }
  EXPECT_EQ(g2.at<uint8_t>(0, 0), 0);
  EXPECT_EQ(g1.at<uint8_t>(0, 0), 255);
  w.width = 0;
  EXPECT_THROW(window_to_gray8(m2, w), UsageError);
}

TEST(DicomSynthetic, NoPixelDataFails) {
  const std::string bytes = patch(write_dicom(Synthetic{}), gdcm::Tag(0x7fe0, 0x0010), gdcm::VR::OW, "", true);
  EXPECT_NE(dicom_problem(bytes, "nopixels.dcm").find("no pixel data"), std::string::npos);
}

TEST(DicomSynthetic, TruncatedFileFails) {
  const std::string full = write_dicom(Synthetic{});
  TempDir tmp;
  for (size_t keep : {full.size() - 7, full.size() / 2, size_t(140), size_t(60)}) {
    SCOPED_TRACE(keep);
    const std::string path = tmp.file("cut (" + std::to_string(keep) + ").dcm");
    std::ofstream(path, std::ios::binary) << full.substr(0, keep);
    try {
      read_dicom(path);
      FAIL() << "expected FileError";
    } catch (const FileError& e) {
      EXPECT_EQ(e.path(), path);
      EXPECT_FALSE(e.problem().empty());
    }
  }
}

TEST(DicomSynthetic, AbsurdHeadersFail) {
  const std::string ok = write_dicom(Synthetic{});
  EXPECT_NO_THROW(decode_dicom(ok, "ok.dcm"));
  const gdcm::Tag slope(0x0028, 0x1053);
  EXPECT_NE(dicom_problem(patch(ok, slope, gdcm::VR::DS, "1e9"), "big.dcm").find("rescale"), std::string::npos);
  EXPECT_NE(dicom_problem(patch(ok, slope, gdcm::VR::DS, "nan"), "nan.dcm").find("Rescale"), std::string::npos);
  EXPECT_NE(dicom_problem(patch(ok, slope, gdcm::VR::DS, "abc"), "abc.dcm").find("Rescale"), std::string::npos);
  DicomLimits tiny;
  tiny.max_pixels = 11;  // the image has 12
  EXPECT_NE(dicom_problem(ok, "tiny.dcm", tiny).find("too large"), std::string::npos);
  // Rows/Columns claiming 65535 x 65535 with 24 bytes of pixel data.
  std::string huge = patch(ok, gdcm::Tag(0x0028, 0x0010), gdcm::VR::US, std::string("\xff\xff", 2));
  huge = patch(huge, gdcm::Tag(0x0028, 0x0011), gdcm::VR::US, std::string("\xff\xff", 2));
  EXPECT_FALSE(dicom_problem(huge, "huge.dcm").empty());
  EXPECT_NE(dicom_problem("", "empty.dcm").find("empty"), std::string::npos);
  EXPECT_FALSE(dicom_problem("hello, this is not a dicom file at all", "text.dcm").empty());
}

TEST(DicomSynthetic, LooksLikeDicom) {
  EXPECT_TRUE(looks_like_dicom(write_dicom(Synthetic{})));
  EXPECT_FALSE(looks_like_dicom("\x89PNG\r\n\x1a\n0000000000000000"));
  EXPECT_FALSE(looks_like_dicom(""));
  // Implicit VR little endian without preamble: (0008,0005) length 10 "ISO_IR 100".
  EXPECT_TRUE(looks_like_dicom(std::string("\x08\x00\x05\x00\x0a\x00\x00\x00ISO_IR 100", 18)));
}

}  // namespace
}  // namespace covscreen
