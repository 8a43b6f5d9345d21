#pragma once
// Re-encoding one slice for a published data set: decode (DICOM: HU through the window), gray
// uint8 at the original size, encoded as PNG (lossless) or JPEG. The encoders write pixels only:
// no text, time or EXIF chunks, so nothing from the source header can travel along, and the same
// pixels always give the same bytes.
#include <string>

#include "covscreen/core/registry.h"
#include "covscreen/io/image_reader.h"

namespace covscreen {

enum class SliceFormat { kPng, kJpeg };
const EnumNames<SliceFormat>& slice_format_names();  // png | jpeg

struct SliceEncoding {
  SliceFormat format = SliceFormat::kPng;
  int jpeg_quality = 95;  // 1..100
  void validate() const;  // throws UsageError
  std::string extension() const { return format == SliceFormat::kJpeg ? ".jpg" : ".png"; }
};

struct EncodedSlice {
  std::string bytes;          // the encoded file
  std::string source_format;  // "dicom", "png", ...
  int width = 0, height = 0;  // of the source (and the output)
  int bit_depth = 8;          // bits of the stored source samples (DICOM: BitsStored)
  int channels = 1;           // of the source
};

// Throws FileError when the source cannot be read or the encoder fails.
EncodedSlice encode_slice(const std::string& path, const ReadOptions& read, const SliceEncoding& enc);

}  // namespace covscreen
