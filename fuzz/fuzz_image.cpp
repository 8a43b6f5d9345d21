// Image reading, all formats: decode_image() on the bytes (PNG, JPEG, BMP, TIFF, DICOM and
// anything else), read_image() on a file for some inputs, then stage 1 on what decoded.
// Expected outcome for bad input: FileError. Anything else escaping (cv::Exception,
// std::bad_alloc, a crash) is a finding.
#include <cstdint>
#include <string>

#include "covscreen/core/error.h"
#include "covscreen/io/image_reader.h"
#include "covscreen/preprocess/stage1.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace covscreen;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  ReadOptions opt;
  opt.max_pixels = 16ll << 20;  // the default is 64 Mpx; keep single runs within -rss_limit_mb
  try {
    // Every 8th input through the file entry point (name with a .dcm extension takes the
    // "unknown start, but a .dcm name" fallback to GDCM).
    DecodedImage img = (size % 8 == 0) ? read_image(fuzz::write_scratch(size % 16 ? "in.png" : "in.dcm", bytes), opt)
                                       : decode_image(bytes, "upload", opt);
    fuzz::check(img.gray.type() == CV_8UC1, "decoded image is not CV_8UC1");
    fuzz::check(img.gray.cols == img.width && img.gray.rows == img.height, "decoded size disagrees with width/height");
    fuzz::check(int64_t(img.width) * img.height <= opt.max_pixels, "decoded image exceeds max_pixels");
    Stage1Spec spec;
    spec.size = 64;  // cheaper than 256, same code path
    const cv::Mat out = stage1(img.gray, spec);
    fuzz::check(out.rows == 64 && out.cols == 64 && out.type() == CV_8UC1, "stage1 output has the wrong shape");
  } catch (const FileError&) {
  }
  (void)looks_like_dicom(bytes);
  return 0;
}
