// DICOM files of shapes that real archives hold and that pydicom and GDCM read: screened, not
// refused. tests/python/make_dicom_tolerated.py writes them with pydicom, each holding the same
// 48 x 64 CT picture (stored value (97 r + 13 c) % 4096, RescaleIntercept -1024), native or as a
// lossless JPEG 2000 frame, so each must decode to exactly those Hounsfield units:
//   - image attributes written with VR UN (anonymizers): read by the dictionary's VR;
//   - an Icon Image Sequence with its own PALETTE COLOR image: skipped, the main image screened;
//   - a JPEG 2000 frame wrapped in a JP2 file ('jp2c' box of 4-byte, 8-byte and zero length);
//   - RescaleIntercept / RescaleSlope padded or multi-valued (refused when the values disagree);
//   - ACR-NEMA files without preamble and file meta: found by a folder walk (is_image_file) and read;
//   - Float / Double Float Pixel Data (parametric maps): refused with that reason.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "covscreen/core/error.h"
#include "covscreen/io/dicom_header.h"
#include "covscreen/io/dicom_reader.h"
#include "covscreen/io/image_reader.h"
#include "test_util.h"

namespace covscreen {
namespace {

namespace fs = std::filesystem;

// The fixtures, written once per test process; "" without Debian's python3 and pydicom.
const fs::path& fixtures() {
  static test::TempDir tmp;
  static const fs::path dir = [] {
    if (test::debian_python().empty()) return fs::path();
    const fs::path out = tmp.path() / "tolerated";
    const std::string cmd = test::debian_python() + " '" + COVSCREEN_SOURCE_DIR +
                            "/tests/python/make_dicom_tolerated.py' '" + out.string() + "' 2>/dev/null";
    return std::system(cmd.c_str()) == 0 ? out : fs::path();
  }();
  return dir;
}

#define NEED_FIXTURES() \
  if (fixtures().empty()) COVSCREEN_SKIP() << "no /usr/bin/python3 with pydicom and Pillow to write the fixtures"

std::string file(const std::string& name) { return (fixtures() / name).string(); }

// The picture every image fixture holds, in HU.
void expect_picture(const DicomImage& img, const std::string& name, const std::string& modality) {
  ASSERT_EQ(img.hu.rows, 48) << name;
  ASSERT_EQ(img.hu.cols, 64) << name;
  int wrong = 0;
  for (int r = 0; r < 48; ++r)
    for (int c = 0; c < 64; ++c) wrong += img.hu.at<float>(r, c) != float((97 * r + 13 * c) % 4096 - 1024);
  EXPECT_EQ(wrong, 0) << name << ": pixels differ from the picture written";
  EXPECT_EQ(img.photometric, "MONOCHROME2") << name;
  EXPECT_EQ(img.modality, modality) << name;
  EXPECT_EQ(img.intercept, -1024.0) << name;
  EXPECT_EQ(img.slope, 1.0) << name;
}

void expect_screened(const std::string& name, const std::string& modality = "CT") {
  SCOPED_TRACE(name);
  try {
    expect_picture(read_dicom(file(name)), name, modality);
    const DecodedImage img = read_image(file(name));  // the path a folder scan takes
    EXPECT_EQ(img.format, "dicom");
    EXPECT_EQ(img.width, 64);
    EXPECT_EQ(img.height, 48);
  } catch (const FileError& e) {
    ADD_FAILURE() << "refused: " << e.what();
  }
}

std::string tolerated_problem(const std::string& name) {
  try {
    read_image(file(name));
  } catch (const FileError& e) {
    EXPECT_EQ(e.path(), file(name)) << "the error must name the file";
    return e.problem();
  }
  return "(screened)";
}

TEST(DicomTolerated, PlainTwinsDecodeToThePicture) {
  NEED_FIXTURES();
  expect_screened("plain.dcm");
  expect_screened("plain_j2k.dcm");
}

TEST(DicomTolerated, AttributesWrittenAsUnAreReadByTheirDictionaryVr) {
  NEED_FIXTURES();
  expect_screened("un_vr.dcm");
  expect_screened("un_vr_j2k.dcm");
  expect_screened("un_shared_groups.dcm");  // a sequence as UN of defined length: implicit VR inside
  const DicomHeader h = read_dicom_header(file("un_vr.dcm"));
  EXPECT_EQ(h.sop_instance_uid, "1.2.826.0.1.3680043.8.498.1");
  EXPECT_EQ(h.modality, "CT");
  EXPECT_EQ(h.instance_number, "1");
  EXPECT_EQ(h.rows, 48);
  EXPECT_EQ(h.cols, 64);
}

TEST(DicomTolerated, IconImageSequenceIsSkipped) {
  NEED_FIXTURES();
  expect_screened("icon.dcm");
  expect_screened("icon_j2k.dcm");
  const DicomHeader h = read_dicom_header(file("icon_j2k.dcm"));  // the icon's 8 x 8 does not count
  EXPECT_EQ(h.rows, 48);
  EXPECT_EQ(h.cols, 64);
  EXPECT_EQ(count_dicom_frames(file("icon_j2k.dcm")), 1);
}

TEST(DicomTolerated, Jpeg2000FrameInAJp2FileIsDecoded) {
  NEED_FIXTURES();
  expect_screened("jp2.dcm");
  expect_screened("jp2_xl.dcm");      // 'jp2c' with an extended length
  expect_screened("jp2_to_end.dcm");  // 'jp2c' with length 0: to the end of the frame
}

TEST(DicomTolerated, PaddedAndRepeatedRescaleValuesAreRead) {
  NEED_FIXTURES();
  expect_screened("rescale_spaces.dcm");     // "  -1024 ", " 1  "
  expect_screened("rescale_nul.dcm");        // "-1024\0", "1\0"
  expect_screened("rescale_multi.dcm");      // "-1024\-1024 ", "1\1.0 "
  expect_screened("rescale_multi_j2k.dcm");  // the same where GDCM decodes

  const std::string why = tolerated_problem("rescale_disagree.dcm");  // "-1024\0 "
  EXPECT_NE(why.find("RescaleIntercept (0028,1052)"), std::string::npos) << why;
  EXPECT_NE(why.find("-1024\\0"), std::string::npos) << why;
}

TEST(DicomTolerated, AcrNemaFilesWithoutPreambleAreFoundAndRead) {
  NEED_FIXTURES();
  for (const char* name : {"acr_nema_chest", "no_preamble_0018"}) {
    EXPECT_TRUE(is_image_file(file(name))) << name << ": a folder scan must pick it up";
    EXPECT_TRUE(looks_like_dicom_file(file(name))) << name;
  }
  expect_screened("acr_nema_chest");
  expect_screened("no_preamble_0018", "");  // group 0008, with Modality, left out
  // What a folder also holds, without an image extension: not DICOM.
  test::TempDir tmp;
  const auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(tmp.path() / name, std::ios::binary) << bytes;
    return (tmp.path() / name).string();
  };
  const std::string zeros(4096, '\0');
  const std::string le_u32_zero("\0\0\0\0", 4);
  // (0008,0020) "AB", then (0008,0010) "CD": tags going backwards
  const std::string backwards = std::string("\x08\x00\x20\x00\x02\x00\x00\x00", 8) + "AB" +
                                std::string("\x08\x00\x10\x00\x02\x00\x00\x00", 8) + "CD";
  for (const std::string& path :
       {write("README", "A folder of chest CT slices.\n"), write("empty", ""), write("zeros", zeros),
        write("png", "\x89PNG\r\n\x1a\n" + zeros),
        // group 0008 but a length past the end, an odd group, tags going backwards
        write("long", std::string("\x08\x00\x05\x00\x00\x10\x00\x00", 8) + zeros.substr(0, 64)),
        write("odd_group", std::string("\x09\x00\x05\x00", 4) + le_u32_zero + zeros.substr(0, 64)),
        write("backwards", backwards)}) {
    EXPECT_FALSE(is_image_file(path)) << path;
    EXPECT_FALSE(looks_like_dicom_file(path)) << path;
  }
  EXPECT_FALSE(looks_like_dicom_file((tmp.path() / "absent").string()));
}

TEST(DicomTolerated, FloatPixelDataIsRefusedAsAParametricMap) {
  NEED_FIXTURES();
  for (const char* name : {"float_pixels.dcm", "double_pixels.dcm"}) {
    const std::string why = tolerated_problem(name);
    EXPECT_NE(why.find("float pixel data (parametric map)"), std::string::npos) << name << ": " << why;
  }
}

}  // namespace
}  // namespace covscreen
