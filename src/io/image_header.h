#pragma once
// Private to src/io: cheap checks on an image file's bytes BEFORE handing them to a decoder.
// Finds the container format from its magic bytes, reads the width and height from the header
// (PNG IHDR, JPEG SOFn, BMP info header, TIFF first IFD) and notices truncation (PNG without an
// IEND chunk, JPEG without an end-of-image marker after the scan, BMP shorter than its pixel
// array) so that errors can say what is wrong instead of decoding half an image.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace covscreen::io_detail {

enum class Format { kUnknown, kPng, kJpeg, kBmp, kTiff, kDicom, kGif, kWebp, kText };

struct HeaderInfo {
  Format format = Format::kUnknown;
  int64_t width = -1, height = -1;  // -1 when the header does not give them
  std::string problem;              // non-empty: the file is unusable (e.g. "truncated PNG ...")
  // PNG: byte ranges (offset, length) of iCCP chunks, dropped before decoding: libpng prints
  // "iCCP: known incorrect sRGB profile" on stderr for many scanner exports, and gray
  // conversion does not use colour profiles.
  std::vector<std::pair<size_t, size_t>> drop;
};

// Format name as used in DecodedImage::format ("png", "jpeg", ...).
const char* format_name(Format f);

// Sniffs the format and, for PNG/JPEG/BMP/TIFF, the size and truncation. Never throws.
HeaderInfo inspect_header(const std::string& bytes);

// The whole file; FileError when it is missing, not a regular file, larger than max_bytes or unreadable.
std::string read_file_bytes(const std::string& path, int64_t max_bytes);

}  // namespace covscreen::io_detail
