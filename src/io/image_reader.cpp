// Image files -> gray uint8. Conversion rules (documented in one place):
//   - colour: BGR -> gray with cv::cvtColor (0.299 R + 0.587 G + 0.114 B); BGRA drops alpha first;
//     gray + alpha keeps the gray channel. Done at the stored depth, before the depth rule.
//   - 16-bit unsigned: the full range is kept, value / 257 rounded (65535 -> 255); no min-max
//     stretch, so a dark 16-bit image stays dark as it would in an 8-bit export.
//   - other depths (signed integers, 32/64-bit float TIFF): min-max stretch to 0..255 per image
//     (a constant image gives 0); any NaN/Inf is rejected.
//   - DICOM: Hounsfield units through a window (dicom_reader.h).
// Bytes are read by us and decoded with cv::imdecode, after header checks (image_header.h) that
// give clear reasons for empty, text, truncated, unsupported and oversized files.
#include "covscreen/io/image_reader.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "covscreen/core/error.h"
#include "covscreen/io/dicom_reader.h"
#include "dicom_check.h"
#include "image_header.h"

namespace covscreen {
namespace {

namespace fs = std::filesystem;
using io_detail::Format;

void silence_opencv_logging() {
  static std::once_flag once;
  std::call_once(once, [] { cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR); });
}

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext;
}

int depth_bits(int depth) {
  switch (depth) {
    case CV_8U:
    case CV_8S:
      return 8;
    case CV_16U:
    case CV_16S:
      return 16;
    case CV_64F:
      return 64;
    default:
      return 32;
  }
}

// The share of a colour image's pixels off its one tint: each channel is fitted as a line of the
// luma (a gray picture, or one tinted as a film photographed in blue light, lies on it), and a
// pixel counts when a channel departs from its line by more than 12 of 255 levels. Measured on a
// copy at most 256 px wide.
double color_share(const cv::Mat& decoded) {
  if (decoded.channels() < 3) return 0;
  cv::Mat bgr;
  if (decoded.channels() == 4)
    cv::cvtColor(decoded, bgr, cv::COLOR_BGRA2BGR);
  else
    bgr = decoded;
  const double scale = bgr.depth() == CV_16U ? 1.0 / 257.0 : bgr.depth() == CV_8U ? 1.0 : 255.0;
  cv::Mat small;
  const double shrink = std::min(1.0, 256.0 / std::max(bgr.cols, bgr.rows));
  cv::resize(bgr, small, cv::Size(), shrink, shrink, cv::INTER_AREA);
  small.convertTo(small, CV_64FC3, scale);
  const int n = small.rows * small.cols;
  if (n == 0) return 0;
  std::vector<cv::Mat> c;
  cv::split(small.reshape(3, 1), c);  // B, G, R as 1 x n
  const cv::Mat y = 0.114 * c[0] + 0.587 * c[1] + 0.299 * c[2];
  cv::Scalar my, sy;
  cv::meanStdDev(y, my, sy);
  cv::Mat off = cv::Mat::zeros(1, n, CV_64F);
  for (const cv::Mat& ch : c) {
    cv::Scalar mc, sc;
    cv::meanStdDev(ch, mc, sc);
    const double cov = cv::mean((ch - mc[0]).mul(y - my[0]))[0];
    const double slope = sy[0] > 1e-9 ? cov / (sy[0] * sy[0]) : 0.0;
    cv::Mat residual = cv::abs(ch - (mc[0] + slope * (y - my[0])));
    off = cv::max(off, residual);
  }
  return double(cv::countNonZero(off > 12.0)) / n;
}

// Any decoded matrix -> CV_8UC1 by the rules at the top of this file.
cv::Mat to_gray8(cv::Mat m, const std::string& name) {
  const bool cvt_ok = m.depth() == CV_8U || m.depth() == CV_16U || m.depth() == CV_32F;
  if (!cvt_ok && m.channels() > 1) m.convertTo(m, CV_32F);
  cv::Mat gray;
  switch (m.channels()) {
    case 1:
      gray = m;
      break;
    case 2:
      cv::extractChannel(m, gray, 0);
      break;
    case 3:
      cv::cvtColor(m, gray, cv::COLOR_BGR2GRAY);
      break;
    case 4:
      cv::cvtColor(m, gray, cv::COLOR_BGRA2GRAY);
      break;
    default:
      throw FileError(name, "unsupported number of channels (" + std::to_string(m.channels()) + ")");
  }
  cv::Mat out;
  if (gray.depth() == CV_8U) return gray;
  if (gray.depth() == CV_16U) {
    gray.convertTo(out, CV_8U, 1.0 / 257.0);
    return out;
  }
  cv::Mat f;
  gray.convertTo(f, CV_64F);
  if (!cv::checkRange(f)) throw FileError(name, "image has non-finite sample values (NaN or Inf)");
  double lo = 0, hi = 0;
  cv::minMaxLoc(f, &lo, &hi);
  if (hi > lo) {
    f.convertTo(out, CV_8U, 255.0 / (hi - lo), -lo * 255.0 / (hi - lo));
  } else {
    out = cv::Mat::zeros(f.size(), CV_8UC1);
  }
  return out;
}

DecodedImage decode_dicom_image(const std::string& bytes, const std::string& name, const ReadOptions& opt) {
  DicomLimits limits;
  limits.max_pixels = opt.max_pixels;
  limits.max_file_bytes = opt.max_file_bytes;
  const DicomImage dcm = decode_dicom(bytes, name, limits, opt.frame);
  DecodedImage out;
  out.gray = window_to_gray8(dcm, opt.window);
  out.format = "dicom";
  out.bit_depth = dcm.bits_stored;
  out.channels = dcm.color ? 3 : 1;
  out.frames = dcm.frames;
  out.width = dcm.hu.cols;
  out.height = dcm.hu.rows;
  out.modality = dcm.modality;
  out.body_part = dcm.body_part;
  out.image_type = dcm.image_type;
  out.series_description = dcm.series_description;
  return out;
}

}  // namespace

namespace io_detail {

std::string read_file_bytes(const std::string& path, int64_t max_bytes) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw FileError(path, "file not found");
  if (fs::is_directory(st)) throw FileError(path, "is a directory, not a file");
  if (!fs::is_regular_file(st)) throw FileError(path, "not a regular file");
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) throw FileError(path, "cannot read file size (" + ec.message() + ")");
  if (int64_t(size) > max_bytes)
    throw FileError(
        path, "file too large (" + std::to_string(size) + " bytes exceeds limit of " + std::to_string(max_bytes) + ")");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path, "cannot open file for reading");
  std::string bytes(size, '\0');
  if (size && !in.read(&bytes[0], std::streamsize(size))) throw FileError(path, "read error");
  return bytes;
}

}  // namespace io_detail

bool has_image_extension(const std::string& path) {
  static const char* const kExt[] = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".dicom"};
  const std::string ext = lower_extension(path);
  return std::any_of(std::begin(kExt), std::end(kExt), [&](const char* e) { return ext == e; });
}

bool has_dicom_extension(const std::string& path) {
  const std::string ext = lower_extension(path);
  return ext == ".dcm" || ext == ".dicom";
}

bool is_image_file(const std::string& path) { return has_image_extension(path) || looks_like_dicom_file(path); }

bool looks_like_dicom(const std::string& b) { return io_detail::looks_like_dicom_start(b, b.size()); }

bool looks_like_dicom_file(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (ec || !in) return false;
  std::string head(io_detail::kDicomStartBytes, '\0');
  in.read(&head[0], std::streamsize(head.size()));
  head.resize(size_t(in.gcount()));
  return io_detail::looks_like_dicom_start(head, size);
}

DecodedImage decode_image(const std::string& bytes, const std::string& name, const ReadOptions& opt) {
  silence_opencv_logging();
  if (bytes.empty()) throw FileError(name, "empty file");
  if (int64_t(bytes.size()) > opt.max_file_bytes || bytes.size() > size_t(std::numeric_limits<int>::max()))
    throw FileError(name, "file too large (" + std::to_string(bytes.size()) + " bytes exceeds limit of " +
                              std::to_string(opt.max_file_bytes) + ")");
  const io_detail::HeaderInfo h = io_detail::inspect_header(bytes);
  switch (h.format) {
    case Format::kDicom:
      return decode_dicom_image(bytes, name, opt);
    case Format::kPng:
    case Format::kJpeg:
    case Format::kBmp:
    case Format::kTiff:
      break;
    default:
      // A .dcm without a recognisable start still goes to GDCM, which names the problem.
      if (has_dicom_extension(name)) return decode_dicom_image(bytes, name, opt);
      if (h.format == Format::kText) throw FileError(name, "not an image (looks like text)");
      if (h.format == Format::kGif || h.format == Format::kWebp)
        throw FileError(name, std::string("unsupported format (") + io_detail::format_name(h.format) +
                                  "; use PNG, JPEG, BMP, TIFF or DICOM)");
      throw FileError(name, "unsupported format (unknown file signature)");
  }
  // Before truncation: a bomb. Divided, not multiplied: TIFF sizes are 32-bit and the product can overflow.
  if (h.width > 0 && h.height > 0 && h.width > opt.max_pixels / h.height)
    throw FileError(name, "image too large (" + std::to_string(h.width) + " x " + std::to_string(h.height) +
                              " exceeds limit of " + std::to_string(opt.max_pixels) + " pixels)");
  if (!h.problem.empty()) throw FileError(name, h.problem);
  if (opt.frame != 0)
    throw FileError(name, "no frame " + std::to_string(opt.frame + 1) + " (only DICOM files have several frames)");

  std::string kept;  // the bytes without chunks listed in h.drop
  if (!h.drop.empty()) {
    size_t from = 0;
    for (const auto& [at, len] : h.drop) {
      kept.append(bytes, from, at - from);
      from = at + len;
    }
    kept.append(bytes, from, std::string::npos);
  }
  const std::string& data = h.drop.empty() ? bytes : kept;
  cv::Mat decoded;
  try {
    const cv::Mat buf(1, int(data.size()), CV_8UC1, const_cast<char*>(data.data()));
    decoded = cv::imdecode(buf, cv::IMREAD_UNCHANGED | cv::IMREAD_ANYDEPTH);
  } catch (const cv::Exception& e) {
    throw FileError(name, std::string("could not decode ") + io_detail::format_name(h.format) + " (" + e.err + ")");
  }
  if (decoded.empty())
    throw FileError(name, std::string("could not decode ") + io_detail::format_name(h.format) + " (corrupt data)");
  if (int64_t(decoded.cols) * decoded.rows > opt.max_pixels)  // TIFF sizes not known from the header
    throw FileError(name, "image too large (" + std::to_string(decoded.cols) + " x " + std::to_string(decoded.rows) +
                              " exceeds limit of " + std::to_string(opt.max_pixels) + " pixels)");

  DecodedImage out;
  out.format = io_detail::format_name(h.format);
  out.bit_depth = depth_bits(decoded.depth());
  out.channels = decoded.channels();
  out.width = decoded.cols;
  out.height = decoded.rows;
  try {
    out.gray = to_gray8(decoded, name);
    out.color_share = color_share(decoded);
  } catch (const cv::Exception& e) {
    throw FileError(name, std::string("could not convert to gray (") + e.err + ")");
  }
  return out;
}

std::string frame_address(const std::string& path, int frame) { return path + "#frame-" + std::to_string(frame + 1); }

bool split_frame_address(const std::string& address, std::string* path, int* frame) {
  const size_t at = address.rfind("#frame-");
  if (at == std::string::npos || at + 7 >= address.size() || address.size() - at > 7 + 9) return false;
  int n = 0;
  for (size_t i = at + 7; i < address.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(address[i]))) return false;
    n = n * 10 + (address[i] - '0');
  }
  std::error_code ec;
  if (n < 1 || fs::exists(address, ec)) return false;  // a file really named so is a file
  *path = address.substr(0, at);
  *frame = n - 1;
  return true;
}

DecodedImage read_image(const std::string& path, const ReadOptions& opt) {
  std::string file;
  int frame = 0;
  if (split_frame_address(path, &file, &frame)) {
    ReadOptions o = opt;
    o.frame = frame;
    return decode_image(io_detail::read_file_bytes(file, opt.max_file_bytes), path, o);
  }
  return decode_image(io_detail::read_file_bytes(path, opt.max_file_bytes), path, opt);
}

}  // namespace covscreen
