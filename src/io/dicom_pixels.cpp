#include "dicom_pixels.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <opencv2/imgproc.hpp>

#include "covscreen/core/error.h"
#include "covscreen/core/strings.h"

namespace covscreen::io_detail {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "unpack_samples copies little-endian samples as they are");

uint32_t read_le(const uint8_t* p, int bytes) {
  uint32_t v = 0;
  for (int b = bytes - 1; b >= 0; --b) v = (v << 8) | p[b];
  return v;
}

uint32_t read_be(const uint8_t* p, int bytes) {
  uint32_t v = 0;
  for (int b = 0; b < bytes; ++b) v = (v << 8) | p[b];
  return v;
}

// PackBits (PS3.5 G.3.1) into exactly `want` bytes; false when the segment runs out first.
bool unpack_bits(const uint8_t* p, size_t n, uint8_t* out, size_t want) {
  size_t i = 0, o = 0;
  while (o < want && i < n) {
    const int8_t h = static_cast<int8_t>(p[i++]);
    if (h >= 0) {
      const size_t len = std::min<size_t>(size_t(h) + 1, want - o);
      if (i + len > n) return false;
      std::copy(p + i, p + i + len, out + o);
      i += size_t(h) + 1;
      o += len;
    } else if (h != -128) {
      if (i >= n) return false;
      const size_t len = std::min<size_t>(size_t(1 - h), want - o);
      std::fill(out + o, out + o + len, p[i++]);
      o += len;
    }
  }
  return o == want;
}

RawFrame rle_frame(const DicomScan& s, int64_t frame, const std::string& name) {
  const std::string& d = s.data();
  std::string joined;
  const uint8_t* p = nullptr;
  size_t n = 0;
  if (int64_t(s.fragments.size()) == s.frames) {
    p = reinterpret_cast<const uint8_t*>(d.data() + s.fragments[size_t(frame)].at);
    n = s.fragments[size_t(frame)].bytes;
  } else if (s.frames == 1 && !s.fragments.empty()) {  // one frame split over fragments
    for (const auto& f : s.fragments) joined.append(d, f.at, f.bytes);
    p = reinterpret_cast<const uint8_t*>(joined.data());
    n = joined.size();
  } else {
    throw FileError(name, "corrupt RLE pixel data (" + std::to_string(s.fragments.size()) + " fragments for " +
                              std::to_string(s.frames) + " frames)");
  }
  const int bytes = int(s.bits_allocated / 8);
  const int64_t segments = s.samples * bytes;
  if (n < 64 || read_le(p, 4) != uint32_t(segments))
    throw FileError(
        name, "corrupt RLE pixel data (the frame header does not announce " + std::to_string(segments) + " segments)");
  const size_t px = size_t(s.rows * s.cols);
  std::vector<uint8_t> plane(px);
  RawFrame f{std::vector<uint32_t>(px * size_t(s.samples), 0), s.rows, s.cols, s.samples};
  for (int64_t k = 0; k < segments; ++k) {
    const size_t at = read_le(p + 4 + 4 * k, 4);
    const size_t end = k + 1 < segments ? read_le(p + 8 + 4 * k, 4) : n;
    if (at < 64 || at > end || end > n)
      throw FileError(name, "corrupt RLE pixel data (segment " + std::to_string(k + 1) + " is out of place)");
    if (!unpack_bits(p + at, end - at, plane.data(), px))
      throw FileError(name, "corrupt RLE pixel data (segment " + std::to_string(k + 1) + " is too short)");
    const int64_t sample = k / bytes, shift = 8 * (bytes - 1 - k % bytes);  // most significant byte first
    for (size_t i = 0; i < px; ++i) f.v[i * size_t(s.samples) + size_t(sample)] |= uint32_t(plane[i]) << shift;
  }
  return f;
}

}  // namespace

RawFrame native_frame(const DicomScan& s, int64_t frame, const std::string& name) {
  if (s.encapsulated) return rle_frame(s, frame, name);
  const int bytes = int(s.bits_allocated / 8);
  const size_t px = size_t(s.rows * s.cols);
  const bool ybr422 = s.ybr_422_native();
  const size_t stored_samples = ybr422 ? 2 : size_t(s.samples);
  const uint64_t frame_bytes = uint64_t(px) * stored_samples * uint64_t(bytes);
  if (s.pixel_bytes < frame_bytes * uint64_t(frame + 1))
    throw FileError(name, "truncated DICOM pixel data (frame " + std::to_string(frame + 1) + " is missing)");
  const uint8_t* p = reinterpret_cast<const uint8_t*>(s.data().data() + s.pixel_at) + frame_bytes * uint64_t(frame);
  if (ybr422) {  // Y0 Y1 Cb Cr for each pair of pixels (PS3.3 C.7.6.3.1.2)
    RawFrame f{std::vector<uint32_t>(px * 3), s.rows, s.cols, 3};
    for (size_t j = 0; j < px / 2; ++j) {
      const uint8_t* q = p + 4 * j;
      uint32_t* o = &f.v[6 * j];
      o[0] = q[0], o[1] = q[2], o[2] = q[3];
      o[3] = q[1], o[4] = q[2], o[5] = q[3];
    }
    return f;
  }
  return unpack_samples(p, s.rows, s.cols, s.samples, bytes, s.big_endian, s.planar_configuration == 1);
}

RawFrame unpack_samples(const uint8_t* p, int64_t rows, int64_t cols, int64_t samples, int bytes, bool big_endian,
                        bool planar) {
  const size_t px = size_t(rows * cols), n = px * size_t(samples);
  RawFrame f{std::vector<uint32_t>(n), rows, cols, samples};
  if (!planar && (!big_endian || bytes == 1)) {  // the common layout: a plain typed copy
    const auto copy = [&](auto sample) {
      using T = decltype(sample);
      for (size_t k = 0; k < n; ++k) {
        T v;
        std::memcpy(&v, p + k * sizeof(T), sizeof(T));  // little-endian host (x86-64, aarch64)
        f.v[k] = v;
      }
    };
    if (bytes == 1) copy(uint8_t{});
    if (bytes == 2) copy(uint16_t{});
    if (bytes == 4) copy(uint32_t{});
    return f;
  }
  for (size_t k = 0; k < n; ++k) {
    // Planar configuration 1 stores each sample's plane in turn.
    const size_t src = samples > 1 && planar ? (k % size_t(samples)) * px + k / size_t(samples) : k;
    const uint8_t* q = p + src * size_t(bytes);
    f.v[k] = big_endian && bytes > 1 ? read_be(q, bytes) : read_le(q, bytes);
  }
  return f;
}
namespace {

double parse_number(const std::string& v, double fallback) {
  if (v.empty()) return fallback;
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  return end == v.c_str() ? fallback : d;
}

// The table of one PALETTE COLOR channel: descriptor (entries, first mapped value, bits) and
// entries scaled to 0..255 as doubles.
struct Palette {
  int64_t first = 0;
  std::vector<double> entries;
};

Palette read_palette(const DicomScan& s, int c, const std::string& name) {
  const std::string& d = s.data();
  const auto u16 = [&](size_t at) { return s.big_endian ? be16(d, at) : le16(d, at); };
  const DicomValue& desc = s.palette_descriptor[c];
  const DicomValue& data = s.palette_data[c];
  int64_t count = u16(desc.at);
  if (count == 0) count = 65536;
  Palette pal;
  pal.first = u16(desc.at + 2);
  const int bits = int(u16(desc.at + 4));
  if (bits != 8 && bits != 16)
    throw FileError(name, "unsupported PALETTE COLOR lookup table of " + std::to_string(bits) + "-bit entries");
  // 8-bit entries come packed (one byte each) or, as many writers do, one per 16-bit word.
  const bool packed = bits == 8 && int64_t(data.bytes) < 2 * count;
  const int64_t need = packed ? count : 2 * count;
  if (int64_t(data.bytes) < need)
    throw FileError(name, "corrupt PALETTE COLOR lookup table (" + std::to_string(data.bytes) + " bytes for " +
                              std::to_string(count) + " entries)");
  const double scale = bits == 8 ? 1.0 : 255.0 / 65535.0;
  pal.entries.resize(size_t(count));
  for (int64_t i = 0; i < count; ++i) {
    const double v = packed ? double(uint8_t(d[data.at + size_t(i)])) : double(u16(data.at + 2 * size_t(i)));
    pal.entries[size_t(i)] = std::min(255.0, (bits == 8 ? double(uint32_t(v) & 0xFF) : v) * scale);
  }
  return pal;
}

}  // namespace

void finish_image(const RawFrame& raw, const std::string& photometric, const DicomScan& s, int64_t frame,
                  const std::string& name, DicomImage& out) {
  const int64_t stored = s.bits_stored < 0 ? s.bits_allocated : s.bits_stored;
  const int64_t high = s.high_bit < 0 ? stored - 1 : s.high_bit;
  const int shift = int(high + 1 - stored);
  const uint32_t mask = stored >= 32 ? 0xFFFFFFFFu : (uint32_t(1) << stored) - 1;
  const auto value = [&](uint32_t r) { return (r >> shift) & mask; };
  const int rows = int(raw.rows), cols = int(raw.cols);
  const size_t px = size_t(raw.rows * raw.cols);
  out.bits_stored = int(stored);
  out.photometric = photometric;
  out.frames = int(s.frames);
  out.frame = int(frame);
  out.patient_id = s.patient_id;
  out.modality = s.modality;
  for (const auto& [key, raw] : s.text) {  // the last one counts, as in io/dicom_header.h
    if (key == 0x00180015) out.body_part = trim_padding(raw);
    if (key == 0x00080008) out.image_type = trim_padding(raw);
    if (key == 0x0008103E) out.series_description = trim_padding(raw);
  }

  if (photometric == "MONOCHROME1" || photometric == "MONOCHROME2") {
    out.monochrome1 = photometric == "MONOCHROME1";
    // The data set's rescale, else the functional groups' (shared, then this frame's).
    std::string slope = s.rescale_slope, intercept = s.rescale_intercept;
    if (slope.empty() && intercept.empty()) {
      slope = s.shared_slope, intercept = s.shared_intercept;
      if (slope.empty() && intercept.empty() && frame < int64_t(s.per_frame_rescale.size()))
        std::tie(slope, intercept) = s.per_frame_rescale[size_t(frame)];
    }
    out.slope = parse_number(slope, 1.0);
    out.intercept = parse_number(intercept, 0.0);
    if (!std::isfinite(out.slope) || !std::isfinite(out.intercept))
      throw FileError(name, "invalid RescaleSlope/RescaleIntercept (not a finite number)");
    if (out.slope == 0.0 || std::fabs(out.slope) > 1e6 || std::fabs(out.intercept) > 1e9)
      throw FileError(name, "implausible rescale (slope " + std::to_string(out.slope) + ", intercept " +
                                std::to_string(out.intercept) + ")");
    const double wc = parse_number(s.window_center, NAN), ww = parse_number(s.window_width, NAN);
    if (std::isfinite(wc) && std::isfinite(ww) && ww > 0) {
      out.has_voi = true;
      out.voi_center = wc;
      out.voi_width = ww;
    }
    const bool is_signed = s.pixel_representation == 1 && stored < 32;
    const uint32_t sign = uint32_t(1) << (stored - 1);
    out.hu.create(rows, cols, CV_32FC1);
    float* dst = out.hu.ptr<float>();
    for (size_t i = 0; i < px; ++i) {
      const uint32_t u = value(raw.v[i]);
      const double v = is_signed && (u & sign)                       ? double(int64_t(u) - (int64_t(1) << stored))
                       : s.pixel_representation == 1 && stored == 32 ? double(int32_t(u))
                                                                     : double(u);
      dst[i] = float(v * out.slope + out.intercept);
    }
    return;
  }

  // Colour: R, G, B in 0..maxv, then gray.
  out.color = true;
  double maxv = double(mask);
  cv::Mat rgb(rows, cols, CV_64FC3);
  auto* o = rgb.ptr<double>();
  if (photometric == "PALETTE COLOR") {
    Palette pal[3] = {read_palette(s, 0, name), read_palette(s, 1, name), read_palette(s, 2, name)};
    for (size_t i = 0; i < px; ++i) {
      const int64_t idx = int64_t(value(raw.v[i]));
      for (int c = 0; c < 3; ++c) {
        const int64_t k = std::clamp<int64_t>(idx - pal[c].first, 0, int64_t(pal[c].entries.size()) - 1);
        o[3 * i + size_t(c)] = pal[c].entries[size_t(k)];
      }
    }
    maxv = 255.0;
  } else if (photometric == "YBR_FULL" || photometric == "YBR_FULL_422") {
    const double half = std::ldexp(1.0, int(stored) - 1);
    for (size_t i = 0; i < px; ++i) {
      const double y = value(raw.v[3 * i]), cb = double(value(raw.v[3 * i + 1])) - half,
                   cr = double(value(raw.v[3 * i + 2])) - half;
      o[3 * i] = std::clamp(std::round(y + 1.402 * cr), 0.0, maxv);
      o[3 * i + 1] = std::clamp(std::round(y - 0.344136 * cb - 0.714136 * cr), 0.0, maxv);
      o[3 * i + 2] = std::clamp(std::round(y + 1.772 * cb), 0.0, maxv);
    }
  } else {  // RGB (and JPEG 2000's YBR_RCT / YBR_ICT, which GDCM hands back as RGB)
    for (size_t i = 0; i < 3 * px; ++i) o[i] = value(raw.v[i]);
  }
  cv::Mat gray;
  if (maxv == 255.0) {  // 8-bit: exactly the RGB PNG/JPEG arithmetic
    cv::Mat rgb8;
    rgb.convertTo(rgb8, CV_8U);
    cv::cvtColor(rgb8, gray, cv::COLOR_RGB2GRAY);
  } else {
    cv::Mat f;
    rgb.convertTo(f, CV_32F, 255.0 / maxv);
    cv::cvtColor(f, f, cv::COLOR_RGB2GRAY);
    f.convertTo(gray, CV_8U);  // rounds and saturates
  }
  gray.convertTo(out.hu, CV_32F);
}

}  // namespace covscreen::io_detail
