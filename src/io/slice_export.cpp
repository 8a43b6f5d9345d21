#include "covscreen/io/slice_export.h"

#include <opencv2/imgcodecs.hpp>
#include <vector>

#include "covscreen/core/error.h"
#include "covscreen/io/decoder_pool.h"

namespace covscreen {

const EnumNames<SliceFormat>& slice_format_names() {
  static const EnumNames<SliceFormat> names{"image format", {{SliceFormat::kPng, "png"}, {SliceFormat::kJpeg, "jpeg"}}};
  return names;
}

void SliceEncoding::validate() const {
  if (jpeg_quality < 1 || jpeg_quality > 100)
    throw UsageError("JPEG quality must be 1..100, got " + std::to_string(jpeg_quality));
}

EncodedSlice encode_slice(const std::string& path, const ReadOptions& read, const SliceEncoding& enc) {
  enc.validate();
  const DecodedImage img = default_decoder_pool().read(path, read);
  std::vector<int> params;
  if (enc.format == SliceFormat::kPng) {
    params = {cv::IMWRITE_PNG_COMPRESSION, 6, cv::IMWRITE_PNG_STRATEGY, cv::IMWRITE_PNG_STRATEGY_DEFAULT};
  } else {
    params = {
        cv::IMWRITE_JPEG_QUALITY, enc.jpeg_quality, cv::IMWRITE_JPEG_OPTIMIZE, 0, cv::IMWRITE_JPEG_PROGRESSIVE, 0};
  }
  std::vector<uchar> buf;
  if (!cv::imencode(enc.extension(), img.gray, buf, params) || buf.empty())
    throw FileError(path, "could not encode the slice as " + slice_format_names().name(enc.format));
  EncodedSlice s;
  s.bytes.assign(reinterpret_cast<const char*>(buf.data()), buf.size());
  s.source_format = img.format;
  s.width = img.width;
  s.height = img.height;
  s.bit_depth = img.bit_depth;
  s.channels = img.channels;
  return s;
}

}  // namespace covscreen
