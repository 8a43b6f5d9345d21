// DICOM -> Hounsfield units (float) -> window -> gray uint8, through GDCM.
// Rules:
//   - stored value: the decoded sample masked to BitsStored and, for PixelRepresentation 1,
//     sign-extended from bit BitsStored-1 (the DICOM rule; it also corrects JPEG 2000 streams
//     that store signed data as unsigned, e.g. pydicom's J2K_pixelrep_mismatch.dcm).
//   - HU = stored * RescaleSlope + RescaleIntercept, read from the top-level (0028,1053/1052)
//     strings, else GDCM's value (functional groups), else 1 and 0.
//   - window: gray = round((HU - (center - width/2)) * 255 / width), clamped to 0..255; then
//     MONOCHROME1 is inverted (255 - gray) so that denser tissue is brighter in every image.
//   - only the first frame of a multi-frame file, one sample per pixel.
#include "covscreen/io/dicom_reader.h"

#include <gdcmImageReader.h>
#include <gdcmTrace.h>

#include <cmath>
#include <cstdlib>
#include <mutex>
#include <opencv2/core.hpp>
#include <sstream>
#include <vector>

#include "covscreen/core/error.h"
#include "covscreen/io/image_reader.h"
#include "dicom_check.h"
#include "image_header.h"

namespace covscreen {
namespace {

void silence_gdcm() {
  static std::once_flag once;
  std::call_once(once, [] {
    gdcm::Trace::DebugOff();
    gdcm::Trace::WarningOff();
    gdcm::Trace::ErrorOff();
  });
}

// Raw string value of a top-level element, "" when absent or not a plain value.
std::string element_string(const gdcm::DataSet& ds, uint16_t group, uint16_t element) {
  const gdcm::Tag tag(group, element);
  if (!ds.FindDataElement(tag)) return "";
  const gdcm::ByteValue* bv = ds.GetDataElement(tag).GetByteValue();
  if (!bv || !bv->GetPointer()) return "";
  std::string s(bv->GetPointer(), bv->GetLength());
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

// Decimal-string (DS) values, split on '\'. An unparsable item gives NaN.
std::vector<double> ds_values(const gdcm::DataSet& ds, uint16_t group, uint16_t element) {
  std::vector<double> out;
  std::stringstream ss(element_string(ds, group, element));
  std::string item;
  while (std::getline(ss, item, '\\')) {
    const size_t b = item.find_first_not_of(" \t\0", 0, 3), e = item.find_last_not_of(" \t\0", std::string::npos, 3);
    if (b == std::string::npos) continue;
    item = item.substr(b, e - b + 1);
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    out.push_back(end && *end == '\0' ? v : std::nan(""));
  }
  return out;
}

// Sample i of the decoded buffer as a signed integer, masked / sign-extended to bits_stored.
template <typename T>
void to_hu(const char* buf, int64_t n, int bits_stored, bool is_signed, double slope, double intercept, float* out) {
  const T* p = reinterpret_cast<const T*>(buf);
  const int bits = int(sizeof(T) * 8);
  const bool mask = bits_stored > 0 && bits_stored < bits;
  const int64_t m = mask ? (int64_t(1) << bits_stored) - 1 : 0;
  const int64_t sign = mask ? int64_t(1) << (bits_stored - 1) : 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t v = int64_t(p[i]);
    if (mask) {
      v &= m;
      if (is_signed && (v & sign)) v -= m + 1;
    }
    out[i] = float(double(v) * slope + intercept);
  }
}

// Checks the structure and the pixel data size before GDCM sees the bytes (see dicom_check.h).
void prevalidate(const std::string& bytes, const std::string& name, const DicomLimits& limits) {
  const io_detail::DicomScan scan = io_detail::scan_dicom(bytes);
  if (!scan.problem.empty()) {
    if (!looks_like_dicom(bytes))
      throw FileError(name, "not a DICOM file (no DICM preamble and no recognisable data set)");
    throw FileError(name, scan.problem);
  }
  if (!scan.has_pixel_data)
    throw FileError(name, scan.rows ? "DICOM file has no pixel data" : "DICOM file has no image (no pixel data)");
  if (scan.rows <= 0 || scan.cols <= 0) throw FileError(name, "DICOM image has zero rows or columns");
  if (const std::string why = io_detail::check_image_header(scan, bytes); !why.empty()) throw FileError(name, why);
  if (scan.rows * scan.cols > limits.max_pixels)
    throw FileError(name, "image too large (" + std::to_string(scan.cols) + " x " + std::to_string(scan.rows) +
                              " exceeds limit of " + std::to_string(limits.max_pixels) + " pixels)");
  if (scan.frames > kDicomAllFramesFactor * limits.max_pixels / (scan.rows * scan.cols))
    throw FileError(name, "DICOM image too large (" + std::to_string(scan.frames) + " frames of " +
                              std::to_string(scan.cols) + " x " + std::to_string(scan.rows) + ")");
  if (!scan.encapsulated && scan.bits_allocated > 0) {
    const int64_t bits = scan.rows * scan.cols * scan.frames * scan.samples * scan.bits_allocated;
    const uint64_t need = uint64_t((bits + 7) / 8);
    if (scan.pixel_bytes < need)
      throw FileError(name, "truncated DICOM pixel data (" + std::to_string(scan.pixel_bytes) + " of " +
                                std::to_string(need) + " bytes)");
  }
}

}  // namespace

DicomImage decode_dicom(const std::string& bytes, const std::string& name, const DicomLimits& limits) {
  silence_gdcm();
  if (bytes.empty()) throw FileError(name, "empty file");
  prevalidate(bytes, name, limits);
  std::istringstream stream(bytes);
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
  if (rows <= 0 || cols <= 0) throw FileError(name, "DICOM image has zero rows or columns");
  if (rows * cols > limits.max_pixels)
    throw FileError(name, "image too large (" + std::to_string(cols) + " x " + std::to_string(rows) +
                              " exceeds limit of " + std::to_string(limits.max_pixels) + " pixels)");
  if (rows * cols * frames > kDicomAllFramesFactor * limits.max_pixels)
    throw FileError(name, "DICOM image too large (" + std::to_string(frames) + " frames of " + std::to_string(cols) +
                              " x " + std::to_string(rows) + ")");
  if (pf.GetSamplesPerPixel() != 1)
    throw FileError(name, "unsupported DICOM image: " + std::to_string(pf.GetSamplesPerPixel()) +
                              " samples per pixel (only gray CT/X-ray images are supported)");
  const gdcm::PhotometricInterpretation pi = image.GetPhotometricInterpretation();
  if (pi != gdcm::PhotometricInterpretation::MONOCHROME1 && pi != gdcm::PhotometricInterpretation::MONOCHROME2) {
    const char* pi_name = gdcm::PhotometricInterpretation::GetPIString(pi);  // null when unknown
    throw FileError(name, std::string("unsupported photometric interpretation ") + (pi_name ? pi_name : "(unknown)"));
  }

  DicomImage out;
  out.monochrome1 = pi == gdcm::PhotometricInterpretation::MONOCHROME1;
  out.bits_stored = pf.GetBitsStored();
  out.transfer_syntax = image.GetTransferSyntax().GetString() ? image.GetTransferSyntax().GetString() : "";
  while (!out.transfer_syntax.empty() && (out.transfer_syntax.back() == ' ' || out.transfer_syntax.back() == '\0'))
    out.transfer_syntax.pop_back();
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
  out.patient_id = element_string(ds, 0x0010, 0x0020);
  out.modality = element_string(ds, 0x0008, 0x0060);

  // Rescale: the file's own strings when present (checked), else GDCM's (functional groups).
  const std::vector<double> slope = ds_values(ds, 0x0028, 0x1053), intercept = ds_values(ds, 0x0028, 0x1052);
  out.slope = slope.empty() ? image.GetSlope() : slope[0];
  out.intercept = intercept.empty() ? image.GetIntercept() : intercept[0];
  if (!std::isfinite(out.slope) || !std::isfinite(out.intercept))
    throw FileError(name, "invalid RescaleSlope/RescaleIntercept (not a finite number)");
  if (out.slope == 0.0 || std::fabs(out.slope) > 1e6 || std::fabs(out.intercept) > 1e9)
    throw FileError(name, "implausible rescale (slope " + std::to_string(out.slope) + ", intercept " +
                              std::to_string(out.intercept) + ")");

  const std::vector<double> wc = ds_values(ds, 0x0028, 0x1050), ww = ds_values(ds, 0x0028, 0x1051);
  if (!wc.empty() && !ww.empty() && std::isfinite(wc[0]) && std::isfinite(ww[0]) && ww[0] > 0) {
    out.has_voi = true;
    out.voi_center = wc[0];
    out.voi_width = ww[0];
  }

  const unsigned long length = image.GetBufferLength();
  const int64_t bytes_per_sample = pf.GetPixelSize();
  if (bytes_per_sample <= 0 || int64_t(length) < rows * cols * bytes_per_sample)
    throw FileError(name,
                    "unsupported DICOM pixel format (" + std::to_string(pf.GetBitsAllocated()) + " bits allocated)");
  std::vector<char> buf(length);
  try {
    if (!image.GetBuffer(buf.data()))
      throw FileError(name,
                      "DICOM pixel data could not be decoded (truncated, corrupt or unsupported transfer syntax " +
                          out.transfer_syntax + ")");
  } catch (const FileError&) {
    throw;
  } catch (const std::exception& e) {
    throw FileError(name, std::string("DICOM pixel data could not be decoded (") + e.what() + ")");
  }

  out.hu.create(int(rows), int(cols), CV_32FC1);
  const int64_t n = rows * cols;
  const int bs = out.bits_stored;
  float* dst = out.hu.ptr<float>();
  switch (pf.GetScalarType()) {
    case gdcm::PixelFormat::UINT8:
      to_hu<uint8_t>(buf.data(), n, bs, false, out.slope, out.intercept, dst);
      break;
    case gdcm::PixelFormat::INT8:
      to_hu<int8_t>(buf.data(), n, bs, true, out.slope, out.intercept, dst);
      break;
    case gdcm::PixelFormat::UINT16:
      to_hu<uint16_t>(buf.data(), n, bs, false, out.slope, out.intercept, dst);
      break;
    case gdcm::PixelFormat::INT16:
      to_hu<int16_t>(buf.data(), n, bs, true, out.slope, out.intercept, dst);
      break;
    case gdcm::PixelFormat::UINT32:
      to_hu<uint32_t>(buf.data(), n, bs, false, out.slope, out.intercept, dst);
      break;
    case gdcm::PixelFormat::INT32:
      to_hu<int32_t>(buf.data(), n, bs, true, out.slope, out.intercept, dst);
      break;
    default:
      throw FileError(name, std::string("unsupported DICOM pixel type ") + pf.GetScalarTypeAsString());
  }
  return out;
}

DicomImage read_dicom(const std::string& path, const DicomLimits& limits) {
  return decode_dicom(io_detail::read_file_bytes(path, limits.max_file_bytes), path, limits);
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
  const double scale = 255.0 / width, low = center - width / 2.0;
  cv::Mat gray;
  img.hu.convertTo(gray, CV_8U, scale, -low * scale);  // rounds and saturates
  if (img.monochrome1) cv::bitwise_not(gray, gray);
  return gray;
}

}  // namespace covscreen
