#include "image_header.h"

#include <algorithm>
#include <cstdlib>

#include "covscreen/core/strings.h"
#include "covscreen/io/image_reader.h"

namespace covscreen::io_detail {
namespace {

using u8 = unsigned char;

bool has_magic(const std::string& b, const char* magic, size_t len, size_t at = 0) {
  return b.size() >= at + len && b.compare(at, len, magic, len) == 0;
}

// Printable ASCII, whitespace or UTF-8 bytes only in the first 512 bytes.
bool looks_like_text(const std::string& b) {
  const size_t n = std::min<size_t>(b.size(), 512);
  for (size_t i = 0; i < n; ++i) {
    const u8 c = u8(b[i]);
    if (c == 0x7F || (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f')) return false;
  }
  return n > 0;
}

void inspect_png(const std::string& b, HeaderInfo& h) {
  // Chunks: length (BE32), type (4), data, CRC (4). The first is IHDR, the last IEND.
  size_t pos = 8;
  bool first = true;
  while (true) {
    if (pos + 8 > b.size()) {
      h.problem = "truncated PNG (no IEND chunk)";
      return;
    }
    const uint64_t len = be32(b, pos);
    const std::string type = b.substr(pos + 4, 4);
    if (first) {
      if (type != "IHDR" || len != 13 || pos + 8 + 13 > b.size()) {
        h.problem = "corrupt PNG (first chunk is not a valid IHDR)";
        return;
      }
      h.width = be32(b, pos + 8);
      h.height = be32(b, pos + 12);
      first = false;
    }
    if (type == "IEND") return;
    if (pos + 12 + len > b.size()) {
      h.problem = "truncated PNG (chunk '" + type + "' runs past the end of the file)";
      return;
    }
    if (type == "iCCP") h.drop.emplace_back(pos, size_t(12 + len));
    pos += 12 + len;
  }
}

bool is_sof(u8 m) { return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC; }

void inspect_jpeg(const std::string& b, HeaderInfo& h) {
  // Marker segments up to the first scan (SOS); the frame size is in SOFn.
  size_t pos = 2, scan = 0;
  while (!scan) {
    if (pos >= b.size()) {
      h.problem = "truncated JPEG (ends inside the header)";
      return;
    }
    if (u8(b[pos]) != 0xFF) {
      h.problem = "corrupt JPEG (expected a marker at byte " + std::to_string(pos) + ")";
      return;
    }
    while (pos < b.size() && u8(b[pos]) == 0xFF) ++pos;  // fill bytes
    if (pos >= b.size()) continue;
    const u8 m = u8(b[pos++]);
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) continue;  // stand-alone markers
    if (m == 0xD9) {
      h.problem = "corrupt JPEG (end-of-image before any scan)";
      return;
    }
    if (pos + 2 > b.size()) {
      h.problem = "truncated JPEG (ends inside the header)";
      return;
    }
    const size_t len = be16(b, pos);
    if (len < 2) {
      h.problem = "corrupt JPEG (bad segment length)";
      return;
    }
    if (pos + len > b.size()) {
      h.problem = "truncated JPEG (ends inside the header)";
      return;
    }
    if (is_sof(m) && h.width < 0) {
      if (len < 8) {
        h.problem = "corrupt JPEG (short frame header)";
        return;
      }
      h.height = be16(b, pos + 3);
      h.width = be16(b, pos + 5);
    }
    if (m == 0xDA) scan = pos + len;
    pos += len;
  }
  if (h.width < 0) {
    h.problem = "corrupt JPEG (no frame header before the scan)";
    return;
  }
  // Entropy-coded data never holds FF D9 (0xFF is stuffed), so the last FF D9 after the first
  // scan is the end-of-image marker; trailing bytes after it are tolerated.
  const size_t eoi = b.rfind("\xFF\xD9");
  if (eoi == std::string::npos || eoi < scan) h.problem = "truncated JPEG (no end-of-image marker)";
}

void inspect_bmp(const std::string& b, HeaderInfo& h) {
  if (b.size() < 26) {
    h.problem = "truncated BMP (header)";
    return;
  }
  const uint32_t off_bits = le32(b, 10), dib = le32(b, 14);
  int64_t bpp = 0, compression = 0;
  if (dib == 12) {
    h.width = le16(b, 18);
    h.height = le16(b, 20);
    bpp = le16(b, 24);
  } else if (dib >= 40 && b.size() >= 34) {
    h.width = int32_t(le32(b, 18));
    h.height = std::llabs(int64_t(int32_t(le32(b, 22))));  // negative = top-down rows
    bpp = le16(b, 28);
    compression = le32(b, 30);
  } else {
    h.problem = "corrupt BMP (unknown info header size " + std::to_string(dib) + ")";
    return;
  }
  if (h.width < 0) {
    h.problem = "corrupt BMP (negative width)";
    return;
  }
  // Uncompressed (BI_RGB, BI_BITFIELDS): rows padded to 4 bytes. Large sizes are left to the size limit.
  if ((compression == 0 || compression == 3) && h.width < (1 << 24) && h.height < (1 << 24)) {
    const int64_t stride = (h.width * bpp + 31) / 32 * 4;
    const int64_t need = int64_t(off_bits) + stride * h.height;
    if (int64_t(b.size()) < need)
      h.problem = "truncated BMP (pixel array needs " + std::to_string(need) + " bytes, file has " +
                  std::to_string(b.size()) + ")";
  }
}

void inspect_tiff(const std::string& b, HeaderInfo& h) {
  const bool le = b[0] == 'I';
  auto r16 = [&](size_t p) { return le ? le16(b, p) : be16(b, p); };
  auto r32 = [&](size_t p) { return le ? le32(b, p) : be32(b, p); };
  if (r16(2) == 43) return;  // BigTIFF: size unknown here, libtiff checks it
  const uint64_t ifd = r32(4);
  if (ifd + 2 > b.size()) {
    h.problem = "truncated TIFF (first directory is past the end of the file)";
    return;
  }
  const uint32_t count = r16(ifd);
  if (ifd + 2 + 12ull * count > b.size()) {
    h.problem = "truncated TIFF (first directory)";
    return;
  }
  // Value i of a SHORT/LONG entry: inline when it fits in 4 bytes, else at the offset given.
  auto value = [&](size_t e, uint64_t i, bool* ok) -> uint64_t {
    const uint32_t type = r16(e + 2), n = r32(e + 4);
    const uint64_t size = type == 3 ? 2 : type == 4 ? 4 : 0;
    if (!size || i >= n) return *ok = false, 0;
    const uint64_t at = (size * n <= 4 ? e + 8 : uint64_t(r32(e + 8))) + size * i;
    if (at + size > b.size()) return *ok = false, 0;
    return size == 2 ? r16(at) : r32(at);
  };
  size_t offsets = 0, counts = 0;
  for (uint32_t k = 0; k < count; ++k) {
    const size_t e = ifd + 2 + 12ull * k;
    const uint32_t tag = r16(e);
    bool ok = true;
    if (tag == 256) h.width = value(e, 0, &ok);
    if (tag == 257) h.height = value(e, 0, &ok);
    if (tag == 273 || tag == 324) offsets = e;  // StripOffsets / TileOffsets
    if (tag == 279 || tag == 325) counts = e;   // StripByteCounts / TileByteCounts
    if (!ok) {
      h.problem = "corrupt TIFF (bad entry for tag " + std::to_string(tag) + ")";
      return;
    }
  }
  if (!offsets || !counts) return;
  const uint64_t n = std::min(r32(offsets + 4), r32(counts + 4));
  for (uint64_t i = 0; i < n; ++i) {
    bool ok = true;
    const uint64_t end = value(offsets, i, &ok) + value(counts, i, &ok);
    if (!ok || end > b.size()) {
      h.problem = "truncated TIFF (image data runs past the end of the file)";
      return;
    }
  }
}

}  // namespace

const char* format_name(Format f) {
  switch (f) {
    case Format::kPng:
      return "png";
    case Format::kJpeg:
      return "jpeg";
    case Format::kBmp:
      return "bmp";
    case Format::kTiff:
      return "tiff";
    case Format::kDicom:
      return "dicom";
    case Format::kGif:
      return "gif";
    case Format::kWebp:
      return "webp";
    case Format::kText:
      return "text";
    default:
      return "unknown";
  }
}

HeaderInfo inspect_header(const std::string& b) {
  HeaderInfo h;
  if (has_magic(b, "DICM", 4, 128)) {  // first: a DICOM preamble may itself hold a TIFF header
    h.format = Format::kDicom;
  } else if (has_magic(b, "\x89PNG\r\n\x1a\n", 8)) {
    h.format = Format::kPng;
    inspect_png(b, h);
  } else if (has_magic(b, "\xFF\xD8\xFF", 3)) {
    h.format = Format::kJpeg;
    inspect_jpeg(b, h);
  } else if (has_magic(b, "BM", 2) && b.size() >= 14) {
    h.format = Format::kBmp;
    inspect_bmp(b, h);
  } else if ((has_magic(b, "II", 2) || has_magic(b, "MM", 2)) && b.size() >= 8 &&
             ((b[0] == 'I' ? le16(b, 2) : be16(b, 2)) == 42 || (b[0] == 'I' ? le16(b, 2) : be16(b, 2)) == 43)) {
    h.format = Format::kTiff;
    inspect_tiff(b, h);
  } else if (looks_like_dicom(b)) {
    h.format = Format::kDicom;
  } else if (has_magic(b, "GIF87a", 6) || has_magic(b, "GIF89a", 6)) {
    h.format = Format::kGif;
  } else if (has_magic(b, "RIFF", 4) && has_magic(b, "WEBP", 4, 8)) {
    h.format = Format::kWebp;
  } else if (looks_like_text(b)) {
    h.format = Format::kText;
  }
  if (h.problem.empty() && (h.width == 0 || h.height == 0)) h.problem = "invalid header (zero width or height)";
  return h;
}

}  // namespace covscreen::io_detail
