#pragma once
// Private to src/io: DICOM pixel data -> the picture, after the walk of dicom_check.h.
//   native (uncompressed; little/big endian; deflated) and RLE Lossless: decoded here, one frame;
//   the compressed JPEG / JPEG-LS / JPEG 2000 syntaxes: GDCM decodes (dicom_reader.cpp), then
//   the same steps below.
// Stored values are masked to BitsStored below HighBit (sign-extended when PixelRepresentation
// is 1). Gray images become Hounsfield units (RescaleSlope/RescaleIntercept of the data set, else
// of the enhanced multi-frame functional groups). Colour images become gray the way PNG/JPEG do:
// YBR_FULL / YBR_FULL_422 -> RGB (ITU-R BT.601 full range, as libjpeg and pydicom), PALETTE COLOR
// -> RGB through its lookup tables, then 0.299 R + 0.587 G + 0.114 B (cv::cvtColor for 8-bit
// samples, the same integer arithmetic as for an RGB PNG); samples of more than 8 bits are scaled
// by 255 / (2^BitsStored - 1) first (16-bit: / 257, as a 16-bit PNG).
#include <cstdint>
#include <string>
#include <vector>

#include "covscreen/io/dicom_reader.h"
#include "dicom_check.h"

namespace covscreen::io_detail {

// One frame's samples as unsigned raw values, pixel-interleaved (R G B R G B ...), YBR_FULL_422
// already expanded to three samples per pixel.
struct RawFrame {
  std::vector<uint32_t> v;
  int64_t rows = 0, cols = 0, samples = 1;
};

// Native or RLE pixel data (decoded_natively(scan)), frame within 0..frames-1 (decode_dicom
// checks it); throws FileError.
RawFrame native_frame(const DicomScan& scan, int64_t frame, const std::string& name);

// Samples of `bytes` bytes each (little or big endian; planar: plane after plane) -> RawFrame.
RawFrame unpack_samples(const uint8_t* p, int64_t rows, int64_t cols, int64_t samples, int bytes, bool big_endian,
                        bool planar);

// The frame's picture: hu (gray: HU; colour: gray 0..255) and the attributes of `out`. The
// sample bits of `scan` must pass check_sample_bits.
void finish_image(const RawFrame& raw, const std::string& photometric, const DicomScan& scan, int64_t frame,
                  const std::string& name, DicomImage& out);

}  // namespace covscreen::io_detail
