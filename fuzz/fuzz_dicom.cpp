// DICOM reading and windowing: parse_dicom_header() (grouping studies reads every file's header
// in-process), decode_dicom() on the bytes, then window_to_gray8() with the lung window and with
// the file's own VOI. Bad input must give FileError; anything else
// escaping (a GDCM assertion abort, an exception of another type, a crash) is a finding.
#include <cstdint>
#include <string>

#include "covscreen/core/error.h"
#include "covscreen/io/dicom_header.h"
#include "covscreen/io/dicom_reader.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace covscreen;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  DicomLimits limits;
  limits.max_pixels = 16ll << 20;  // keep single runs within -rss_limit_mb
  try {
    const DicomHeader h = parse_dicom_header(bytes, "in.dcm");
    fuzz::check(!h.sop_instance_uid.empty() && !h.study_uid.empty() && !h.series_uid.empty() && h.frames >= 1,
                "a header without its UIDs was accepted");
  } catch (const FileError&) {
  }
  try {
    const DicomImage img = decode_dicom(bytes, "in.dcm", limits);
    fuzz::check(img.hu.type() == CV_32FC1 && !img.hu.empty(), "HU image is not a non-empty CV_32FC1");
    WindowSpec lung;
    cv::Mat g = window_to_gray8(img, lung);
    fuzz::check(g.type() == CV_8UC1 && g.size() == img.hu.size(), "windowed image has the wrong shape");
    WindowSpec voi;
    voi.use_file_voi = true;
    g = window_to_gray8(img, voi);
    fuzz::check(g.type() == CV_8UC1 && g.size() == img.hu.size(), "VOI-windowed image has the wrong shape");
  } catch (const FileError&) {
  }
  return 0;
}
