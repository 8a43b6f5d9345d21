#pragma once
// Hand-built image files for hostile-input tests: bytes that OpenCV and GDCM cannot write
// (palette PNG, CMYK JPEG, headers that lie about their size, DICOM with a wrong transfer
// syntax). Every builder returns the whole file as a string.
#include <gdcmImageWriter.h>
#include <gdcmReader.h>
#include <gdcmWriter.h>

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace covscreen::test::hostile {

inline void put16be(std::string& s, uint32_t v) {
  s.push_back(char(v >> 8));
  s.push_back(char(v));
}
inline void put32be(std::string& s, uint32_t v) {
  put16be(s, v >> 16);
  put16be(s, v & 0xffff);
}
inline void put16le(std::string& s, uint32_t v) {
  s.push_back(char(v));
  s.push_back(char(v >> 8));
}
inline void put32le(std::string& s, uint32_t v) {
  put16le(s, v & 0xffff);
  put16le(s, v >> 16);
}

inline uint32_t crc32(const std::string& s) {
  uint32_t c = 0xffffffffu;
  for (unsigned char ch : s) {
    c ^= ch;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

inline void png_chunk(std::string& png, const std::string& type, const std::string& data) {
  put32be(png, uint32_t(data.size()));
  const std::string body = type + data;
  png += body;
  put32be(png, crc32(body));
}

inline std::string png_ihdr(uint32_t w, uint32_t h, int depth, int color_type) {
  std::string d;
  put32be(d, w);
  put32be(d, h);
  d += {char(depth), char(color_type), 0, 0, 0};
  return d;
}

// zlib stream of stored (uncompressed) deflate blocks.
inline std::string zlib_stored(const std::string& raw) {
  std::string z = "\x78\x01";
  size_t pos = 0;
  do {
    const size_t n = std::min<size_t>(65535, raw.size() - pos);
    z.push_back(pos + n == raw.size() ? 1 : 0);
    put16le(z, uint32_t(n));
    put16le(z, uint32_t(~n & 0xffff));
    z.append(raw, pos, n);
    pos += n;
  } while (pos < raw.size());
  uint32_t a = 1, b = 0;
  for (unsigned char ch : raw) a = (a + ch) % 65521, b = (b + a) % 65521;
  put32be(z, (b << 16) | a);
  return z;
}

// An 8-bit palette PNG (colour type 3): a radial gradient through a 256-entry colour ramp.
inline std::string palette_png(int size) {
  std::string png = "\x89PNG\r\n\x1a\n";
  png_chunk(png, "IHDR", png_ihdr(size, size, 8, 3));
  std::string plte;
  for (int i = 0; i < 256; ++i) plte += {char(i), char(255 - i), char(i / 2)};
  png_chunk(png, "PLTE", plte);
  std::string raw;
  for (int y = 0; y < size; ++y) {
    raw.push_back(0);  // filter: none
    for (int x = 0; x < size; ++x) raw.push_back(char(int(std::hypot(x - size / 2, y - size / 2) * 4) & 0xff));
  }
  png_chunk(png, "IDAT", zlib_stored(raw));
  png_chunk(png, "IEND", "");
  return png;
}

// A PNG whose IHDR claims w x h and that has no image data at all (IHDR then IEND).
inline std::string png_header_only(uint32_t w, uint32_t h) {
  std::string png = "\x89PNG\r\n\x1a\n";
  png_chunk(png, "IHDR", png_ihdr(w, h, 8, 0));
  png_chunk(png, "IEND", "");
  return png;
}

// A 24-bit BMP header claiming w x h, without its pixel array.
inline std::string bmp_header_only(uint32_t w, uint32_t h) {
  const uint32_t row = (w * 3 + 3) / 4 * 4;
  std::string b = "BM";
  put32le(b, uint32_t(std::min<uint64_t>(0xffffffffu, 54 + uint64_t(row) * h)));
  put32le(b, 0);
  put32le(b, 54);
  put32le(b, 40);
  put32le(b, w);
  put32le(b, h);
  put16le(b, 1);
  put16le(b, 24);
  put32le(b, 0);  // BI_RGB
  put32le(b, 0);
  put32le(b, 2835);
  put32le(b, 2835);
  put32le(b, 0);
  put32le(b, 0);
  return b;
}

// A little-endian 8-bit gray TIFF directory claiming w x h in one strip, without the strip.
inline std::string tiff_header_only(uint32_t w, uint32_t h) {
  std::string t = "II";
  put16le(t, 42);
  put32le(t, 8);
  const std::vector<std::pair<uint16_t, uint32_t>> tags = {{256, w},   {257, h}, {258, 8}, {259, 1},    {262, 1},
                                                           {273, 200}, {277, 1}, {278, h}, {279, w * h}};
  put16le(t, uint32_t(tags.size()));
  for (const auto& [tag, v] : tags) {
    put16le(t, tag);
    put16le(t, 4);  // LONG
    put32le(t, 1);
    put32le(t, v);
  }
  put32le(t, 0);  // no next directory
  return t;
}

// A baseline CMYK JPEG (4 components, Adobe APP14 with transform 0) of 8 x 8 pixels: one MCU,
// every block's DC difference 0 and no AC coefficients, with one-code Huffman tables.
inline std::string cmyk_jpeg() {
  std::string j = "\xFF\xD8";
  auto segment = [&](uint8_t marker, const std::string& body) {
    j += {char(0xFF), char(marker)};
    put16be(j, uint32_t(body.size() + 2));
    j += body;
  };
  std::string adobe = "Adobe";
  put16be(adobe, 100);
  put16be(adobe, 0);
  put16be(adobe, 0);
  adobe.push_back(0);  // transform 0: CMYK as stored
  segment(0xEE, adobe);
  segment(0xDB, std::string(1, '\0') + std::string(64, '\x01'));
  std::string sof = "\x08";
  put16be(sof, 8);
  put16be(sof, 8);
  sof.push_back(4);
  for (char id = 1; id <= 4; ++id) sof += {id, 0x11, 0};
  segment(0xC0, sof);
  std::string counts(16, '\0');
  counts[0] = 1;                                                            // one code of length 1
  segment(0xC4, std::string(1, '\x00') + counts + std::string(1, '\x00'));  // DC: category 0
  segment(0xC4, std::string(1, '\x10') + counts + std::string(1, '\x00'));  // AC: end of block
  std::string sos = "\x04";
  for (char id = 1; id <= 4; ++id) sos += {id, 0};
  sos += {0, 63, 0};
  segment(0xDA, sos);
  j.push_back(0);  // 4 blocks x ("0" DC + "0" EOB) = 8 zero bits
  j += "\xFF\xD9";
  return j;
}

// A CT slice: 64 x 64 signed 16-bit, air around a soft-tissue disc with a lung-like hole.
inline std::string dicom_ct(double slope = 1.0, double intercept = -1024.0) {
  const int n = 64;
  std::vector<int16_t> v(n * n);
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) {
      const double r = std::hypot(x - n / 2, y - n / 2);
      v[y * n + x] = int16_t(r < 12 ? 300 : r < 28 ? 1064 : 0);
    }
  gdcm::ImageWriter w;
  gdcm::Image& im = w.GetImage();
  im.SetNumberOfDimensions(2);
  im.SetDimension(0, n);
  im.SetDimension(1, n);
  im.SetPixelFormat(gdcm::PixelFormat::INT16);
  im.SetPhotometricInterpretation(gdcm::PhotometricInterpretation::MONOCHROME2);
  im.SetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
  im.SetSlope(slope);
  im.SetIntercept(intercept);
  gdcm::DataElement pixels(gdcm::Tag(0x7fe0, 0x0010));
  pixels.SetByteValue(reinterpret_cast<const char*>(v.data()), uint32_t(v.size() * 2));
  im.SetDataElement(pixels);
  gdcm::DataElement sop(gdcm::Tag(0x0008, 0x0016));
  const std::string ct = "1.2.840.10008.5.1.4.1.1.2";
  sop.SetByteValue(ct.data(), uint32_t(ct.size()));
  sop.SetVR(gdcm::VR::UI);
  w.GetFile().GetDataSet().Replace(sop);
  std::ostringstream os;
  w.SetStream(os);
  if (!w.Write()) return "";
  return os.str();
}

// Replaces (or removes, when `remove`) one data-set element of a DICOM file.
inline std::string dicom_patch(const std::string& bytes, gdcm::Tag tag, gdcm::VR vr, std::string value,
                               bool remove = false) {
  std::istringstream is(bytes);
  gdcm::Reader r;
  r.SetStream(is);
  if (!r.Read()) return "";
  gdcm::DataSet& ds = r.GetFile().GetDataSet();
  if (remove) {
    ds.Remove(tag);
  } else {
    if (value.size() % 2) value += ' ';
    gdcm::DataElement de(tag);
    de.SetVR(vr);
    de.SetByteValue(value.data(), uint32_t(value.size()));
    ds.Replace(de);
  }
  gdcm::Writer w;
  w.SetFile(r.GetFile());
  std::ostringstream os;
  w.SetStream(os);
  if (!w.Write()) return "";
  return os.str();
}

// Rewrites the Transfer Syntax UID (0002,0010) in the file meta header, byte for byte, and
// fixes the meta group length; the data set is left as it was (raw little-endian pixels).
inline std::string dicom_with_transfer_syntax(const std::string& bytes, std::string uid) {
  if (uid.size() % 2) uid.push_back('\0');
  const std::string key("\x02\x00\x10\x00UI", 6);
  const size_t at = bytes.find(key, 132);
  if (at == std::string::npos) return "";
  const size_t old_len = uint8_t(bytes[at + 6]) | (uint8_t(bytes[at + 7]) << 8);
  std::string out = bytes.substr(0, at + 6);
  put16le(out, uint32_t(uid.size()));
  out += uid;
  out += bytes.substr(at + 8 + old_len);
  // (0002,0000) UL group length: the element right after the preamble and "DICM".
  const std::string gl("\x02\x00\x00\x00UL\x04\x00", 8);
  if (out.compare(132, 8, gl) == 0) {
    const auto u8 = [&](size_t i) { return uint32_t(uint8_t(out[i])); };
    uint32_t len = u8(140) | (u8(141) << 8) | (u8(142) << 16) | (u8(143) << 24);
    len = uint32_t(int64_t(len) + int64_t(uid.size()) - int64_t(old_len));
    std::string v;
    put32le(v, len);
    out.replace(140, 4, v);
  }
  return out;
}

}  // namespace covscreen::test::hostile
