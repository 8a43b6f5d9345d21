#pragma once
// Private to src/io: a structural walk over a DICOM file's bytes BEFORE GDCM parses them.
// Debian's GDCM is built with assertions on, and a truncated or malformed file can abort the
// whole process inside gdcm::Reader (e.g. `Assertion is.good() failed` in FileMetaInformation).
// This walk checks that every element, item and pixel-data fragment fits in the file (explicit
// and implicit VR, little and big endian, nested sequences of defined and undefined length), and
// reads the few attributes needed to refuse oversized or truncated images without decoding.
// It also refuses what trips GDCM's assertions or its JPEG 2000 decoder: attributes GDCM reads
// with an unexpected VR, SamplesPerPixel/BitsStored/HighBit out of range, and a compressed frame
// whose own header (J2K SIZ, JPEG SOF) disagrees with Rows/Columns/BitsAllocated.
#include <cstdint>
#include <string>

namespace covscreen::io_detail {

struct DicomScan {
  std::string problem;          // non-empty: do not hand the bytes to GDCM
  std::string transfer_syntax;  // (0002,0010), "" when there is no meta header
  int64_t rows = 0, cols = 0, frames = 1, samples = 1, bits_allocated = 0;
  int64_t bits_stored = -1, high_bit = -1, pixel_representation = 0;  // -1: absent
  std::string photometric;                                            // (0028,0004), trimmed
  bool has_pixel_data = false;
  bool encapsulated = false;                         // compressed pixel data (fragments)
  uint64_t pixel_bytes = 0;                          // native: value length; encapsulated: sum of fragment lengths
  size_t first_frame_at = 0, first_frame_bytes = 0;  // encapsulated: the fragment after the offset table
};

// Structure only; `problem` says what is wrong.
DicomScan scan_dicom(const std::string& bytes);

// The image attributes and the first compressed frame's header; "" when they are usable.
std::string check_image_header(const DicomScan& scan, const std::string& bytes);

}  // namespace covscreen::io_detail
