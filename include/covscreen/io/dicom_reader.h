#pragma once
// DICOM images: native (little/big endian, deflated) and RLE pixel data decoded here, JPEG /
// JPEG-LS / JPEG 2000 through GDCM; gray images to Hounsfield units (rescale slope/intercept),
// then a window to gray uint8 (MONOCHROME1 inverted); colour images (RGB, YBR_FULL,
// YBR_FULL_422, PALETTE COLOR) to gray by the luma rule of PNG/JPEG. One frame at a time.
#include <cstdint>
#include <opencv2/core.hpp>
#include <string>

#include "covscreen/core/preprocess_spec.h"

namespace covscreen {

struct DicomImage {
  cv::Mat hu;                 // CV_32FC1, rows x cols, stored value * slope + intercept (colour: gray 0..255)
  bool color = false;         // a colour image, already gray in `hu`: no window applies
  std::string photometric;    // (0028,0004) as decoded, e.g. "MONOCHROME2", "RGB"
  int frames = 1, frame = 0;  // frames in the file; the one decoded (0-based)
  bool monochrome1 = false;   // photometric interpretation MONOCHROME1 (inverted display)
  double slope = 1.0, intercept = 0.0;
  bool has_voi = false;  // the file carries WindowCenter/WindowWidth
  double voi_center = 0.0, voi_width = 0.0;
  int bits_stored = 0;
  std::string transfer_syntax;  // UID
  std::string patient_id;       // (0010,0020), may be empty; never logged
  std::string modality;
  // What the image is, for the input gate (screen/input_gate.h): (0018,0015), (0008,0008), (0008,103E).
  std::string body_part, image_type, series_description;
};

// Guards against decompression bombs and nonsense headers (defaults match ReadOptions).
// Before GDCM sees the bytes, every element, item and fragment length is checked against the
// bytes left in the file (a string or pixel data element claiming more than the file holds is
// refused as truncated), sequences may nest at most kMaxDicomNesting deep, Rows x Columns must
// not exceed max_pixels, all frames together at most kDicomAllFramesFactor x max_pixels, and
// native pixel data must hold Rows x Columns x frames samples.
inline constexpr int64_t kMaxDicomPixels = 64ll << 20;    // one frame, = kMaxImagePixels
inline constexpr int64_t kMaxDicomFileBytes = 1ll << 30;  // = kMaxImageFileBytes
inline constexpr int64_t kDicomAllFramesFactor = 16;      // all frames: 16 x max_pixels
inline constexpr int kMaxDicomNesting = 32;               // sequence depth

struct DicomLimits {
  int64_t max_pixels = kMaxDicomPixels;         // rows * cols of one frame
  int64_t max_file_bytes = kMaxDicomFileBytes;  // read_dicom only
};

// Throws FileError naming the path and the problem. `frame` (0-based) of a multi-frame file.
DicomImage read_dicom(const std::string& path, const DicomLimits& limits = {}, int frame = 0);
DicomImage decode_dicom(const std::string& bytes, const std::string& name, const DicomLimits& limits = {},
                        int frame = 0);

// Frames in a DICOM file from its header alone (reads at most the bytes before the pixel data
// when it can); 1 for anything that is not a readable multi-frame DICOM file.
int count_dicom_frames(const std::string& path);

// Maps HU to uint8 with the window (or the file's VOI when asked and present);
// MONOCHROME1 is inverted so that higher density is brighter, as in MONOCHROME2.
cv::Mat window_to_gray8(const DicomImage& img, const WindowSpec& window);

}  // namespace covscreen
