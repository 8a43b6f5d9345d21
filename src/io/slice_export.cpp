#include "covscreen/io/slice_export.h"

#include <opencv2/imgcodecs.hpp>
#include <vector>

#include "covscreen/core/error.h"
#include "covscreen/io/decoder_pool.h"

namespace covscreen {

void SliceEncoding::validate() const {
  if (format != "png" && format != "jpeg") throw UsageError("image format must be png or jpeg, got '" + format + "'");
  if (jpeg_quality < 1 || jpeg_quality > 100)
    throw UsageError("JPEG quality must be 1..100, got " + std::to_string(jpeg_quality));
}

EncodedSlice encode_slice(const std::string& path, const ReadOptions& read, const SliceEncoding& enc) {
  enc.validate();
  const DecodedImage img = default_decoder_pool().read(path, read);
  std::vector<int> params;
  if (enc.format == "png") {
    params = {cv::IMWRITE_PNG_COMPRESSION, 6, cv::IMWRITE_PNG_STRATEGY, cv::IMWRITE_PNG_STRATEGY_DEFAULT};
  } else {
    params = {
        cv::IMWRITE_JPEG_QUALITY, enc.jpeg_quality, cv::IMWRITE_JPEG_OPTIMIZE, 0, cv::IMWRITE_JPEG_PROGRESSIVE, 0};
  }
  std::vector<uchar> buf;
  if (!cv::imencode(enc.extension(), img.gray, buf, params) || buf.empty())
    throw FileError(path, "could not encode the slice as " + enc.format);
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
