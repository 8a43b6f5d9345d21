// Limits on image and DICOM input (io/image_reader.h, io/dicom_reader.h): the named constants,
// oversized headers refused before decoding, and DICOM element lengths checked against the
// bytes in the file before GDCM parses anything. Inputs are built here byte by byte.
#include <cstdint>
#include <string>

#include "covscreen/core/error.h"
#include "covscreen/io/dicom_reader.h"
#include "covscreen/io/image_reader.h"
#include "test_util.h"

namespace covscreen {
namespace {

std::string le16(uint16_t v) { return {char(v & 0xff), char(v >> 8)}; }
std::string le32(uint32_t v) { return le16(uint16_t(v & 0xffff)) + le16(uint16_t(v >> 16)); }

std::string limits_problem(const std::string& bytes, const std::string& name = "x") {
  try {
    decode_image(bytes, name);
  } catch (const FileError& e) {
    EXPECT_EQ(e.path(), name);
    return e.problem();
  }
  return "(accepted)";
}

TEST(IoLimits, NamedConstantsAreTheDefaults) {
  EXPECT_EQ(kMaxImagePixels, 64ll << 20);
  EXPECT_EQ(kMaxImageFileBytes, 1ll << 30);
  EXPECT_EQ(ReadOptions{}.max_pixels, kMaxImagePixels);
  EXPECT_EQ(ReadOptions{}.max_file_bytes, kMaxImageFileBytes);
  EXPECT_EQ(DicomLimits{}.max_pixels, kMaxDicomPixels);
  EXPECT_EQ(DicomLimits{}.max_file_bytes, kMaxDicomFileBytes);
  EXPECT_EQ(kMaxDicomPixels, kMaxImagePixels);
}

TEST(IoLimits, HugeBmpAndTiffHeadersAreRefusedBeforeDecoding) {
  // BMP: file header + BITMAPINFOHEADER claiming 65535 x 65535 at 8 bits, no pixels.
  std::string bmp = "BM" + le32(54) + le32(0) + le32(54) + le32(40) + le32(65535) + le32(65535) + le16(1) + le16(8) +
                    le32(0) + le32(0) + le32(0) + le32(0) + le32(0) + le32(0);
  EXPECT_NE(limits_problem(bmp).find("image too large (65535 x 65535 exceeds limit of 67108864 pixels)"),
            std::string::npos)
      << limits_problem(bmp);
  // TIFF: one IFD with ImageWidth / ImageLength = 65535 (SHORT), no strips.
  std::string tif = "II" + le16(42) + le32(8) + le16(2);
  tif += le16(256) + le16(3) + le32(1) + le16(65535) + le16(0);
  tif += le16(257) + le16(3) + le32(1) + le16(65535) + le16(0);
  tif += le32(0);
  EXPECT_NE(limits_problem(tif).find("image too large (65535 x 65535"), std::string::npos) << limits_problem(tif);
  // 32-bit TIFF sizes whose product overflows int64 (found by fuzz/fuzz_image.cpp; was undefined
  // behaviour before the check divided instead of multiplying).
  std::string huge = "II" + le16(42) + le32(8) + le16(2);
  huge += le16(256) + le16(4) + le32(1) + le32(0xD4D4D4D4u);
  huge += le16(257) + le16(4) + le32(1) + le32(0xD4D4D4D4u);
  huge += le32(0);
  EXPECT_NE(limits_problem(huge).find("image too large (3570717908 x 3570717908"), std::string::npos)
      << limits_problem(huge);
  // Just under the limit, the size check passes and the (empty) file fails as truncated instead.
  ReadOptions opt;
  opt.max_pixels = int64_t(65535) * 65535;
  try {
    decode_image(tif, "x", opt);
    FAIL() << "accepted";
  } catch (const FileError& e) {
    EXPECT_EQ(std::string(e.problem()).find("image too large"), std::string::npos) << e.problem();
  }
}

// A DICOM file with a preamble, explicit VR little endian, and `body` as its data set.
std::string dicom_with(const std::string& body) {
  const std::string ts = "1.2.840.10008.1.2.1";  // even length (20)
  std::string meta = le16(0x0002) + le16(0x0010) + "UI" + le16(uint16_t(ts.size())) + ts;
  return std::string(128, '\0') + "DICM" + meta + body;
}

std::string el(uint16_t g, uint16_t e, const char* vr, const std::string& v) {
  return le16(g) + le16(e) + vr + le16(uint16_t(v.size())) + v;
}

std::string image_attrs() {
  return el(0x0028, 0x0002, "US", le16(1)) + el(0x0028, 0x0004, "CS", "MONOCHROME2 ") +
         el(0x0028, 0x0010, "US", le16(2)) + el(0x0028, 0x0011, "US", le16(2)) + el(0x0028, 0x0100, "US", le16(8)) +
         el(0x0028, 0x0101, "US", le16(8)) + el(0x0028, 0x0102, "US", le16(7)) + el(0x0028, 0x0103, "US", le16(0));
}

std::string pixel_data(uint32_t claimed, const std::string& bytes) {
  return le16(0x7FE0) + le16(0x0010) + "OB" + le16(0) + le32(claimed) + bytes;
}

std::string dicom_problem(const std::string& bytes) {
  try {
    decode_dicom(bytes, "in.dcm");
  } catch (const FileError& e) {
    EXPECT_EQ(e.path(), "in.dcm");
    return e.problem();
  }
  return "(accepted)";
}

TEST(IoLimits, DicomBaselineIsReadable) {
  const DicomImage img = decode_dicom(dicom_with(image_attrs() + pixel_data(4, "\1\2\3\4")), "in.dcm");
  EXPECT_EQ(img.hu.rows, 2);
  EXPECT_EQ(img.hu.cols, 2);
}

TEST(IoLimits, DicomStringElementLongerThanTheFileIsRefused) {
  // (0010,0020) LO claiming 65535 bytes in a file of a few hundred.
  const std::string body =
      le16(0x0010) + le16(0x0020) + "LO" + le16(0xFFFF) + "ID" + image_attrs() + pixel_data(4, "\1\2\3\4");
  const std::string p = dicom_problem(dicom_with(body));
  EXPECT_NE(p.find("truncated DICOM file (element (0010,0020) of 65535 bytes"), std::string::npos) << p;
}

TEST(IoLimits, DicomPixelDataLongerThanTheFileIsRefused) {
  const std::string p = dicom_problem(dicom_with(image_attrs() + pixel_data(0xFFFFFFF0u, "\1\2\3\4")));
  EXPECT_NE(p.find("truncated DICOM file (element (7FE0,0010) of 4294967280 bytes"), std::string::npos) << p;
}

TEST(IoLimits, DicomPixelDataShorterThanRowsTimesColumnsIsRefused) {
  const std::string p = dicom_problem(dicom_with(image_attrs() + pixel_data(2, "\1\2")));
  EXPECT_NE(p.find("truncated DICOM pixel data (2 of 4 bytes)"), std::string::npos) << p;
}

TEST(IoLimits, DicomMetaElementLongerThanTheFileIsRefused) {
  std::string bytes = std::string(128, '\0') + "DICM" + le16(0x0002) + le16(0x0010) + "UI" + le16(0x7FFF) + "1.2";
  const std::string p = dicom_problem(bytes);
  EXPECT_NE(p.find("truncated DICOM file (meta header"), std::string::npos) << p;
}

TEST(IoLimits, DicomHugeRowsAndColumnsAreRefusedBeforeGdcm) {
  std::string attrs = image_attrs();
  const std::string rows = el(0x0028, 0x0010, "US", le16(2)), cols = el(0x0028, 0x0011, "US", le16(2));
  attrs.replace(attrs.find(rows), rows.size(), el(0x0028, 0x0010, "US", le16(65535)));
  attrs.replace(attrs.find(cols), cols.size(), el(0x0028, 0x0011, "US", le16(65535)));
  const std::string p = dicom_problem(dicom_with(attrs + pixel_data(4, "\1\2\3\4")));
  EXPECT_NE(p.find("image too large (65535 x 65535 exceeds limit of 67108864 pixels)"), std::string::npos) << p;
}

TEST(IoLimits, DicomSequencesNestedTooDeeplyAreRefused) {
  // kMaxDicomNesting + 2 nested undefined-length sequences, each with one undefined-length item.
  std::string open, close;
  for (int i = 0; i < kMaxDicomNesting + 2; ++i) {
    open += le16(0x0008) + le16(0x1140) + "SQ" + le16(0) + le32(0xFFFFFFFFu) + le16(0xFFFE) + le16(0xE000) +
            le32(0xFFFFFFFFu);
    close = le16(0xFFFE) + le16(0xE00D) + le32(0) + le16(0xFFFE) + le16(0xE0DD) + le32(0) + close;
  }
  const std::string p = dicom_problem(dicom_with(open + close + image_attrs() + pixel_data(4, "\1\2\3\4")));
  EXPECT_NE(p.find("nested too deeply"), std::string::npos) << p;
}

// Headers on which Debian's GDCM (built with assertions) aborts the whole process; found by
// fuzz/fuzz_dicom.cpp (inputs in fuzz/regressions/dicom/), refused before GDCM sees them.
TEST(IoLimits, DicomHeadersGdcmWouldAbortOnAreRefused) {
  const std::string px = pixel_data(4, "\1\2\3\4");
  const std::string slope0 = el(0x0028, 0x1052, "DS", "0 ") + el(0x0028, 0x1053, "DS", "0 ");
  EXPECT_NE(dicom_problem(dicom_with(image_attrs() + slope0 + px)).find("invalid RescaleSlope"), std::string::npos);
  // An intercept without a slope: decoded here with slope 1 (as pydicom does); GDCM, which would
  // read the slope as 0 and abort, only sees compressed pixel data.
  const std::string intercept_only = el(0x0028, 0x1052, "DS", "-1024 ");
  EXPECT_EQ(dicom_problem(dicom_with(image_attrs() + intercept_only + px)), "(accepted)");
  EXPECT_EQ(decode_dicom(dicom_with(image_attrs() + intercept_only + px), "in.dcm").hu.at<float>(0, 0), 1 - 1024.f);
  const std::string twice = el(0x0028, 0x1052, "DS", "-1024 ") + el(0x0028, 0x1052, "DS", "1 ");
  EXPECT_NE(dicom_problem(dicom_with(image_attrs() + twice + px)).find("(0028,1052) appears twice"), std::string::npos);
  const std::string junk = el(0x0028, 0x1052, "DS", "-9\\x") + el(0x0028, 0x1053, "DS", "1 ");
  EXPECT_NE(dicom_problem(dicom_with(image_attrs() + junk + px)).find("invalid RescaleIntercept"), std::string::npos);
  const std::string ok = el(0x0028, 0x1052, "DS", "-1024 ") + el(0x0028, 0x1053, "DS", "1 ");
  EXPECT_EQ(dicom_problem(dicom_with(image_attrs() + ok + px)), "(accepted)");
  // A US attribute with two values, and one given twice.
  std::string attrs = image_attrs();
  const std::string spp = el(0x0028, 0x0002, "US", le16(1));
  attrs.replace(attrs.find(spp), spp.size(), el(0x0028, 0x0002, "US", le16(1) + le16(5)));
  EXPECT_NE(dicom_problem(dicom_with(attrs + px)).find("(0028,0002) has 4 bytes"), std::string::npos);
  EXPECT_NE(dicom_problem(dicom_with(image_attrs() + el(0x0028, 0x0100, "US", le16(8)) + px)).find("appears twice"),
            std::string::npos);
  // A transfer syntax GDCM does not know, and a sequence in the meta header.
  std::string bytes = dicom_with(image_attrs() + px);
  bytes.replace(bytes.find("1.2.840.10008.1.2.1"), 19, "1.2.840.10008.9.9.9");
  EXPECT_NE(dicom_problem(bytes).find("unsupported DICOM transfer syntax '1.2.840.10008.9.9.9'"), std::string::npos);
  bytes = dicom_with(image_attrs() + px);
  bytes.replace(bytes.find("UI"), 2, "SQ");
  EXPECT_NE(dicom_problem(bytes).find("is a sequence"), std::string::npos) << dicom_problem(bytes);
}

}  // namespace
}  // namespace covscreen
