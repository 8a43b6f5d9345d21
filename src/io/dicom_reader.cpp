// DICOM -> Hounsfield units (float) -> window -> gray uint8; colour DICOM -> gray.
// The bytes are walked first (dicom_check.h); native and RLE pixel data are decoded here
// (dicom_pixels.h), the JPEG / JPEG-LS / JPEG 2000 syntaxes by GDCM. Rules:
//   - stored value: the decoded sample masked to BitsStored and, for PixelRepresentation 1,
//     sign-extended from bit BitsStored-1 (the DICOM rule; it also corrects JPEG 2000 streams
//     that store signed data as unsigned, e.g. pydicom's J2K_pixelrep_mismatch.dcm).
//   - HU = stored * RescaleSlope + RescaleIntercept, read from the top-level (0028,1053/1052)
//     strings, else the enhanced multi-frame functional groups, else 1 and 0.
//   - window: gray = round((HU - (center - width/2)) * 255 / width), clamped to 0..255; then
//     MONOCHROME1 is inverted (255 - gray) so that denser tissue is brighter in every image.
//   - colour (RGB, YBR_FULL, YBR_FULL_422, PALETTE COLOR): gray by the luma rule of PNG/JPEG
//     (dicom_pixels.h); no window.
//   - one frame per call (ReadOptions::frame / "file.dcm#frame-N").
#include "covscreen/io/dicom_reader.h"

#include <gdcmImageReader.h>
#include <gdcmTrace.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <opencv2/core.hpp>
#include <sstream>
#include <vector>

#include "covscreen/core/error.h"
#include "covscreen/core/strings.h"
#include "covscreen/io/image_reader.h"
#include "dicom_check.h"
#include "dicom_pixels.h"
#include "gdcm_trace.h"
#include "image_header.h"

namespace covscreen {
namespace {

// Sizes from the header: one frame at most `max_pixels`, all frames at most
// kDicomAllFramesFactor times that, and native pixel data holding every frame; "" when they fit.
std::string size_problem(const io_detail::DicomScan& scan, int64_t max_pixels) {
  if (scan.rows * scan.cols > max_pixels)
    return "image too large (" + std::to_string(scan.cols) + " x " + std::to_string(scan.rows) + " exceeds limit of " +
           std::to_string(max_pixels) + " pixels)";
  if (scan.frames > kDicomAllFramesFactor * max_pixels / (scan.rows * scan.cols))
    return "DICOM image too large (" + std::to_string(scan.frames) + " frames of " + std::to_string(scan.cols) + " x " +
           std::to_string(scan.rows) + ")";
  if (!scan.encapsulated && scan.bits_allocated > 0) {
    const int64_t samples = scan.ybr_422_native() ? 2 : scan.samples;
    const int64_t bits = scan.rows * scan.cols * scan.frames * samples * scan.bits_allocated;
    const uint64_t need = uint64_t((bits + 7) / 8);
    if (scan.pixel_bytes < need)
      return "truncated DICOM pixel data (" + std::to_string(scan.pixel_bytes) + " of " + std::to_string(need) +
             " bytes)";
  }
  return "";
}

// Checks the structure, the image attributes and the pixel data size before decoding.
io_detail::DicomScan prevalidate(const std::string& bytes, const std::string& name, const DicomLimits& limits) {
  io_detail::DicomScan scan = io_detail::scan_dicom(bytes, uint64_t(limits.max_file_bytes));
  if (!scan.problem.empty()) {
    if (!looks_like_dicom(bytes))
      throw FileError(name, "not a DICOM file (no DICM preamble and no recognisable data set)");
    throw FileError(name, scan.problem);
  }
  if (!scan.has_pixel_data && scan.float_pixel_data)
    throw FileError(name, "float pixel data (parametric map): not an image covscreen screens");
  if (!scan.has_pixel_data)
    throw FileError(name, scan.rows ? "DICOM file has no pixel data" : "DICOM file has no image (no pixel data)");
  if (scan.rows <= 0 || scan.cols <= 0) throw FileError(name, "DICOM image has zero rows or columns");
  if (const std::string why = io_detail::check_image_header(scan); !why.empty()) throw FileError(name, why);
  if (const std::string why = size_problem(scan, limits.max_pixels); !why.empty()) throw FileError(name, why);
  return scan;
}

// The compressed syntaxes, through GDCM: every frame is decoded, `frame` is kept. GDCM reads the
// file without its icon image (it would decode that too, and aborts on some, e.g. PALETTE COLOR).
io_detail::RawFrame gdcm_frame(const std::string& bytes, const std::string& name, int64_t frame,
                               io_detail::DicomScan& scan, std::string* photometric) {
  const io_detail::DicomFragment& icon = scan.icon;
  std::istringstream stream(icon.bytes ? bytes.substr(0, icon.at) + bytes.substr(icon.at + icon.bytes) : bytes);
  gdcm::ImageReader reader;
  reader.SetStream(stream);
  bool ok = false;
  try {
    ok = reader.Read();
  } catch (const std::exception& e) {
    throw FileError(name, std::string("not a readable DICOM file (") + e.what() + ")");
  }
  if (!ok) throw FileError(name, "not a readable DICOM image (GDCM could not parse it)");

  const gdcm::Image& image = reader.GetImage();
  const gdcm::DataSet& ds = reader.GetFile().GetDataSet();
  const gdcm::PixelFormat& pf = image.GetPixelFormat();
  const int64_t cols = image.GetDimension(0), rows = image.GetDimension(1);
  const int64_t frames = image.GetNumberOfDimensions() > 2 ? std::max<int64_t>(1, image.GetDimension(2)) : 1;
  if (rows != scan.rows || cols != scan.cols || frames != scan.frames || pf.GetSamplesPerPixel() != scan.samples)
    throw FileError(name, "corrupt DICOM file (GDCM reads " + std::to_string(frames) + " frame(s) of " +
                              std::to_string(cols) + " x " + std::to_string(rows) + " x " +
                              std::to_string(pf.GetSamplesPerPixel()) + ", the header says " +
                              std::to_string(scan.frames) + " of " + std::to_string(scan.cols) + " x " +
                              std::to_string(scan.rows) + " x " + std::to_string(scan.samples) + ")");
  // The file's transfer syntax says compressed but the pixel data is native (or the reverse): the
  // header lies about the pixels. GDCM quietly switches the image's syntax and would decode the
  // bytes anyway, so this compares the file meta header's syntax with the element.
  const gdcm::Tag pixel_tag(0x7fe0, 0x0010);
  const gdcm::TransferSyntax& file_ts = reader.GetFile().GetHeader().GetDataSetTransferSyntax();
  if (ds.FindDataElement(pixel_tag)) {
    const bool fragments = ds.GetDataElement(pixel_tag).GetSequenceOfFragments() != nullptr;
    if (file_ts.IsEncapsulated() != fragments)
      throw FileError(name, std::string("DICOM pixel data does not match the transfer syntax ") +
                                (file_ts.GetString() ? file_ts.GetString() : "(unknown)") +
                                (fragments ? " (compressed fragments under a native syntax)"
                                           : " (native pixels under a compressed syntax)"));
  }
  const int bytes_per_sample = int(pf.GetBitsAllocated() / 8);
  const size_t px = size_t(rows * cols), n = px * size_t(scan.samples);
  const unsigned long length = image.GetBufferLength();
  if ((bytes_per_sample != 1 && bytes_per_sample != 2 && bytes_per_sample != 4) ||
      uint64_t(length) < uint64_t(frames) * n * uint64_t(bytes_per_sample))
    throw FileError(name,
                    "unsupported DICOM pixel format (" + std::to_string(pf.GetBitsAllocated()) + " bits allocated)");
  std::vector<char> buf(length);
  try {
    if (!image.GetBuffer(buf.data()))
      throw FileError(name,
                      "DICOM pixel data could not be decoded (truncated, corrupt or unsupported transfer syntax " +
                          scan.transfer_syntax + ")");
  } catch (const FileError&) {
    throw;
  } catch (const std::exception& e) {
    throw FileError(name, std::string("DICOM pixel data could not be decoded (") + e.what() + ")");
  }
  // GDCM's own view of the samples wins: a JPEG 2000 stream may disagree with the header.
  scan.bits_allocated = pf.GetBitsAllocated();
  scan.bits_stored = pf.GetBitsStored();
  scan.high_bit = pf.GetHighBit();
  scan.pixel_representation = pf.GetPixelRepresentation();
  if (const std::string why = io_detail::check_sample_bits(scan); !why.empty()) throw FileError(name, why);
  const char* pi = gdcm::PhotometricInterpretation::GetPIString(image.GetPhotometricInterpretation());
  *photometric = pi ? trim(pi) : scan.photometric;
  const auto* p = reinterpret_cast<const uint8_t*>(buf.data()) + size_t(frame) * n * size_t(bytes_per_sample);
  return io_detail::unpack_samples(p, rows, cols, scan.samples, bytes_per_sample, false,
                                   scan.samples > 1 && image.GetPlanarConfiguration() == 1);
}

}  // namespace

DicomImage decode_dicom(const std::string& bytes, const std::string& name, const DicomLimits& limits, int frame) {
  io_detail::silence_gdcm();
  if (bytes.empty()) throw FileError(name, "empty file");
  io_detail::DicomScan scan = prevalidate(bytes, name, limits);
  if (frame < 0 || frame >= scan.frames)
    throw FileError(name, "no frame " + std::to_string(frame + 1) + " (the file has " + std::to_string(scan.frames) +
                              (scan.frames == 1 ? " frame)" : " frames)"));
  DicomImage out;
  out.transfer_syntax = scan.transfer_syntax;
  std::string photometric = scan.photometric;
  const io_detail::RawFrame raw = io_detail::decoded_natively(scan)
                                      ? io_detail::native_frame(scan, frame, name)
                                      : gdcm_frame(bytes, name, frame, scan, &photometric);
  io_detail::finish_image(raw, photometric, scan, frame, name, out);
  return out;
}

DicomImage read_dicom(const std::string& path, const DicomLimits& limits, int frame) {
  return decode_dicom(io_detail::read_file_bytes(path, limits.max_file_bytes), path, limits, frame);
}

int count_dicom_frames(const std::string& path) {
  try {
    std::string bytes;
    const io_detail::DicomScan scan = io_detail::scan_dicom_file_header(path, uint64_t(kMaxDicomFileBytes), &bytes);
    // Only frames that decoding would accept: the same header and size checks.
    const bool ok = scan.problem.empty() && scan.has_pixel_data && scan.rows > 0 && scan.cols > 0 &&
                    io_detail::check_image_header(scan, false).empty() && size_problem(scan, kMaxDicomPixels).empty();
    return ok ? int(scan.frames) : 1;
  } catch (const std::exception&) {
    return 1;
  }
}

cv::Mat window_to_gray8(const DicomImage& img, const WindowSpec& window) {
  double center = window.center, width = window.width;
  if (window.use_file_voi && img.has_voi) {
    center = img.voi_center;
    width = img.voi_width;
  }
  if (!std::isfinite(center) || !std::isfinite(width) || width <= 0)
    throw UsageError("window: width must be > 0 and center finite (center " + std::to_string(center) + ", width " +
                     std::to_string(width) + ")");
  if (img.hu.empty() || img.hu.type() != CV_32FC1) throw Error("window_to_gray8: expected a CV_32FC1 HU image");
  cv::Mat gray;
  if (img.color) {  // already gray 0..255: no window
    img.hu.convertTo(gray, CV_8U);
    return gray;
  }
  const double scale = 255.0 / width, low = center - width / 2.0;
  img.hu.convertTo(gray, CV_8U, scale, -low * scale);  // rounds and saturates
  if (img.monochrome1) cv::bitwise_not(gray, gray);
  return gray;
}

}  // namespace covscreen
