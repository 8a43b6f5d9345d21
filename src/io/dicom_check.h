#pragma once
// Private to src/io: a structural walk over a DICOM file's bytes, the first thing done with them.
// It checks that every element, item and pixel-data fragment fits in the file (explicit and
// implicit VR, little and big endian, deflated, nested sequences of defined and undefined length,
// UN sequences in implicit VR), and reads the attributes the pixel decoders need (dicom_pixels.h
// decodes native and RLE pixel data from them without GDCM).
// Debian's GDCM is built with assertions on and aborts on shapes of input that are valid DICOM
// or nearly so; `gdcm_problem` names those, and is only a refusal when GDCM must decode the
// file (the compressed JPEG / JPEG-LS / JPEG 2000 transfer syntaxes).
#include <cstdint>
#include <string>
#include <vector>

namespace covscreen::io_detail {

struct DicomFragment {
  size_t at = 0, bytes = 0;  // offsets into DicomScan::data()
};

// A value of the data set: where its bytes are (in DicomScan::data()).
struct DicomValue {
  size_t at = 0, bytes = 0;
  bool present = false;
};

struct DicomScan {
  std::string problem;          // non-empty: the file is refused
  std::string gdcm_problem;     // non-empty: GDCM would abort on it (a refusal on the GDCM path only)
  std::string transfer_syntax;  // (0002,0010), "" when there is no meta header
  bool explicit_vr = true, big_endian = false, deflated = false;
  std::string inflated;  // deflated files: the data set after inflating (data() points here)
  const std::string* source = nullptr;
  const std::string& data() const { return deflated ? inflated : *source; }

  int64_t rows = 0, cols = 0, frames = 1, samples = 1, bits_allocated = 0;
  int64_t bits_stored = -1, high_bit = -1, pixel_representation = 0;  // -1: absent
  int64_t planar_configuration = 0;
  std::string photometric;  // (0028,0004), trimmed
  bool has_pixel_data = false;
  bool float_pixel_data = false;         // Float / Double Float Pixel Data (7FE0,0008 / 0009): a parametric map
  DicomFragment icon;                    // the Icon Image Sequence (0088,0200), header included; bytes 0: none
  bool encapsulated = false;             // compressed pixel data (fragments)
  uint64_t pixel_bytes = 0;              // native: value length; encapsulated: sum of fragment lengths
  size_t pixel_at = 0;                   // native: offset of the pixel data value in data()
  std::vector<DicomFragment> fragments;  // encapsulated: after the basic offset table

  // Text attributes (DS/IS/LO/CS), trimmed; empty when absent. Rescale: the one value (rescale_value).
  std::string rescale_slope, rescale_intercept, window_center, window_width, patient_id, modality;
  // Every top-level element of groups 0008, 0010, 0018 and 0020 that is not a sequence and holds
  // at most 1024 bytes, raw (io/dicom_header.h picks and trims what it needs), in file order.
  std::vector<std::pair<uint32_t, std::string>> text;
  // Enhanced multi-frame: Pixel Value Transformation in the shared / per-frame functional groups.
  std::string shared_slope, shared_intercept;
  std::vector<std::pair<std::string, std::string>> per_frame_rescale;  // (slope, intercept) per frame
  // PALETTE COLOR: descriptors (3 x US/SS) and data (OW) of the red, green, blue tables.
  DicomValue palette_descriptor[3], palette_data[3];
  bool ybr_422_native() const { return !encapsulated && photometric == "YBR_FULL_422"; }
  bool segmented_palette = false;
};

// A DICOM text value without its padding: trailing spaces and NULs, leading spaces.
std::string trim_padding(std::string s);

// The value of RescaleSlope (`slope`) or RescaleIntercept, a DS: one finite number (non-zero for
// the slope), with its padding, or several values that all agree ("-1024\-1024", as some
// writers repeat it); "" and `*problem`, naming the attribute and the values, otherwise.
std::string rescale_value(const std::string& raw, bool slope, std::string* problem);

// Whether `head`, the first bytes (up to kDicomStartBytes) of a file of `file_size` bytes, starts
// like DICOM: "DICM" after the 128-byte preamble, or a data set without preamble and file meta
// (ACR-NEMA and others), little endian in implicit or explicit VR: a first element of an even
// group from 0002 to 0028 whose value fits in the file, followed in `head` by an element of a
// later tag in the same VR encoding. The one test of image_reader.h's looks_like_dicom and
// looks_like_dicom_file.
inline constexpr size_t kDicomStartBytes = 1024;
bool looks_like_dicom_start(const std::string& head, uint64_t file_size);

// A JPEG 2000 frame's codestream: the frame itself, or the contents of its 'jp2c' box when the frame
// is a JP2 file (signature box 0000000C 6A502020 0D0A870A; Elscint and Marotech write these);
// bytes 0 when a JP2 file holds no 'jp2c' box.
DicomFragment j2k_codestream(const std::string& data, const DicomFragment& frame);

// Structure only; `problem` says what is wrong. `max_inflated` bounds a deflated data set.
// `header_only`: stop at the pixel data (whose bytes may be cut off).
DicomScan scan_dicom(const std::string& bytes, uint64_t max_inflated = uint64_t(1) << 30, bool header_only = false);

// The header of the DICOM file at `path` (header_only): the first 64 KiB are scanned, and a header
// that runs on past them (or a deflated file) is read whole, up to `max_file_bytes`. `bytes` holds
// what the scan points into. Throws FileError when the file cannot be opened or read, or is empty.
DicomScan scan_dicom_file_header(const std::string& path, uint64_t max_file_bytes, std::string* bytes);

// The image attributes (and, on the GDCM path, the first compressed frame's header); "" when usable.
std::string check_image_header(const DicomScan& scan, bool frame_header = true);

// BitsAllocated (8, 16 or 32), BitsStored, HighBit and PixelRepresentation; "" when usable.
// Part of check_image_header, and checked again on GDCM's own view of the samples.
std::string check_sample_bits(const DicomScan& scan);

// True when the pixel data is decoded here (native or RLE), false when GDCM decodes it.
bool decoded_natively(const DicomScan& scan);

}  // namespace covscreen::io_detail
