#pragma once
// Reading one image file (PNG, JPEG, BMP, TIFF; 8/16-bit; gray/RGB/RGBA; or DICOM) into a
// gray uint8 picture at its original resolution. DICOM goes through dicom_reader.h (HU + window).
#include <cstdint>
#include <opencv2/core.hpp>
#include <string>

#include "covscreen/core/preprocess_spec.h"

namespace covscreen {

// Limits on what is read from outside (defaults of ReadOptions). Width x height is checked
// from the file's header BEFORE decoding where the format gives it (PNG IHDR, JPEG SOFn, BMP
// info header, TIFF first IFD, DICOM Rows/Columns), so a 65535 x 65535 header is refused
// without allocating anything, and again after decoding (formats whose size the header hides).
inline constexpr int64_t kMaxImagePixels = 64ll << 20;    // 64 Mpx, e.g. 8192 x 8192
inline constexpr int64_t kMaxImageFileBytes = 1ll << 30;  // 1 GiB

struct ReadOptions {
  WindowSpec window;                            // DICOM only
  int frame = 0;                                // DICOM only: the frame of a multi-frame file (0-based)
  int64_t max_pixels = kMaxImagePixels;         // refuse larger images (decompression bombs)
  int64_t max_file_bytes = kMaxImageFileBytes;  // refuse larger files
};

struct DecodedImage {
  cv::Mat gray;               // CV_8UC1, original width x height
  std::string format;         // "png", "jpeg", "bmp", "tiff", "dicom"
  int bit_depth = 8;          // of the stored samples (8, 16, ...)
  int channels = 1;           // of the stored samples (1, 3, 4)
  int frames = 1;             // DICOM: frames in the file
  int width = 0, height = 0;  // original size
  // DICOM only (empty otherwise): Modality, BodyPartExamined, ImageType, SeriesDescription, as in
  // the file without padding; the input gate (screen/input_gate.h) judges them.
  std::string modality, body_part, image_type, series_description;
  // Colour images (PNG, JPEG, ...): the share of pixels off the image's one tint (0 for gray and
  // tinted-gray pictures, ~0.4-0.7 for photographs); the input gate refuses colour pictures.
  double color_share = 0;
};

// Throws FileError(path, problem) for anything unreadable: missing, empty, truncated, not an
// image, unsupported format, too large. `path` may name one frame of a multi-frame DICOM file
// as "scan.dcm#frame-N" (N from 1; see frame_address), unless a file has that very name.
DecodedImage read_image(const std::string& path, const ReadOptions& opt = {});

// "scan.dcm#frame-3" for frame 2 (0-based) of scan.dcm, and back; false when `address` names no frame.
std::string frame_address(const std::string& path, int frame);
bool split_frame_address(const std::string& address, std::string* path, int* frame);

// The same from bytes in memory (e.g. an HTTP body); `name` is used in error messages.
DecodedImage decode_image(const std::string& bytes, const std::string& name, const ReadOptions& opt = {});

// True when the bytes look like DICOM: a "DICM" preamble, or a plausible start of a data set
// without preamble and file meta (ACR-NEMA; little endian, implicit or explicit VR).
bool looks_like_dicom(const std::string& bytes);
// The same test on the start of a file (false when it cannot be read).
bool looks_like_dicom_file(const std::string& path);

// File extensions read_image accepts when scanning folders (lower case, with dot).
bool has_image_extension(const std::string& path);
bool has_dicom_extension(const std::string& path);  // .dcm, .dicom (any case)

// What a walk of a folder picks up: an image extension, or a start that looks like DICOM
// (looks_like_dicom_file): DICOM files often have no extension, e.g. those of a DICOMDIR or
// old ACR-NEMA archives.
bool is_image_file(const std::string& path);

}  // namespace covscreen
