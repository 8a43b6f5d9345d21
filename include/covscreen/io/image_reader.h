#pragma once
// Reading one image file (PNG, JPEG, BMP, TIFF; 8/16-bit; gray/RGB/RGBA; or DICOM) into a
// gray uint8 picture at its original resolution. DICOM goes through dicom_reader.h (HU + window).
#include <cstdint>
#include <string>

#include <opencv2/core.hpp>

#include "covscreen/core/preprocess_spec.h"

namespace covscreen {

struct ReadOptions {
  WindowSpec window;                      // DICOM only
  int64_t max_pixels = 64ll << 20;        // refuse larger images (decompression bombs): 64 Mpx
  int64_t max_file_bytes = 1ll << 30;     // refuse larger files: 1 GiB
};

struct DecodedImage {
  cv::Mat gray;              // CV_8UC1, original width x height
  std::string format;        // "png", "jpeg", "bmp", "tiff", "dicom"
  int bit_depth = 8;         // of the stored samples (8, 16, ...)
  int channels = 1;          // of the stored samples (1, 3, 4)
  int width = 0, height = 0; // original size
};

// Throws FileError(path, problem) for anything unreadable: missing, empty, truncated, not an
// image, unsupported format, too large.
DecodedImage read_image(const std::string& path, const ReadOptions& opt = {});

// The same from bytes in memory (e.g. an HTTP body); `name` is used in error messages.
DecodedImage decode_image(const std::string& bytes, const std::string& name, const ReadOptions& opt = {});

// True when the bytes look like DICOM (a "DICM" preamble or a plausible implicit-VR start).
bool looks_like_dicom(const std::string& bytes);

// File extensions read_image accepts when scanning folders (lower case, with dot).
bool has_image_extension(const std::string& path);

}  // namespace covscreen
