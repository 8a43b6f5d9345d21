#include "dicom_check.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <vector>

#include "covscreen/core/error.h"
#include "covscreen/core/strings.h"
#include "covscreen/io/dicom_reader.h"
#include "image_header.h"

namespace covscreen::io_detail {
namespace {

constexpr uint32_t kUndefined = 0xFFFFFFFFu;
constexpr int kMaxDepth = kMaxDicomNesting;
constexpr const char* kDeflated = "1.2.840.10008.1.2.1.99";
constexpr const char* kRle = "1.2.840.10008.1.2.5";
constexpr uint32_t kSharedGroups = 0x52009229u, kPerFrameGroups = 0x52009230u, kPixelValueTransform = 0x00289145u;

uint32_t tag_key(uint16_t g, uint16_t e) { return (uint32_t(g) << 16) | e; }

// Raw deflate (RFC 1951, no zlib header), as PS3.5 A.5 prescribes; "" and `problem` on failure.
std::string inflate_raw(const std::string& in, size_t at, uint64_t max_out, std::string* problem) {
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) {
    *problem = "cannot inflate the deflated DICOM data set (zlib)";
    return "";
  }
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + at));
  z.avail_in = static_cast<uInt>(std::min<size_t>(in.size() - at, 0x7fffffff));
  int rc = Z_OK;
  while (rc == Z_OK) {
    if (out.size() >= max_out) {
      *problem = "deflated DICOM data set inflates to more than " + std::to_string(max_out) + " bytes";
      break;
    }
    const size_t had = out.size();
    out.resize(std::min<uint64_t>(max_out, std::max<uint64_t>(had * 2, 1 << 16)));
    z.next_out = reinterpret_cast<Bytef*>(&out[had]);
    z.avail_out = static_cast<uInt>(out.size() - had);
    rc = inflate(&z, Z_NO_FLUSH);
    out.resize(out.size() - z.avail_out);
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;  // input ended before the stream did
    if (rc == Z_BUF_ERROR) rc = Z_OK;                 // output full: grow and go on
  }
  inflateEnd(&z);
  if (problem->empty() && rc != Z_STREAM_END)
    *problem = "corrupt or truncated deflated DICOM data set (zlib: " + std::string(z.msg ? z.msg : "incomplete") + ")";
  return problem->empty() ? out : "";
}

std::string hex_tag(uint16_t g, uint16_t e) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "(%04X,%04X)", g, e);
  return buf;
}

// VRs of PS3.5 table 6.2-1; `long_form`: a 4-byte length after two reserved bytes (explicit VR).
bool known_vr(const std::string& vr, bool* long_form) {
  static const char* const kShort[] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO",
                                       "LT", "PN", "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US"};
  static const char* const kLong[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"};
  for (const char* v : kLong)
    if (vr == v) return *long_form = true;
  *long_form = false;
  for (const char* v : kShort)
    if (vr == v) return true;
  return false;
}

// The DICOM dictionary's VR (PS3.6) of the attributes read here or by GDCM's ImageHelper. An
// element of one of them written with VR UN (anonymizers do this) is read by this VR; GDCM asserts
// on other VRs in explicit-VR files.
const char* dictionary_vr(uint16_t g, uint16_t e) {
  struct Entry {
    uint16_t g, e;
    const char* vr;
  };
  static const Entry kTable[] = {
      {0x0008, 0x0008, "CS"}, {0x0008, 0x0016, "UI"}, {0x0008, 0x0018, "UI"}, {0x0008, 0x0060, "CS"},
      {0x0018, 0x0050, "DS"}, {0x0018, 0x0088, "DS"}, {0x0018, 0x1164, "DS"}, {0x0018, 0x2010, "DS"},
      {0x0020, 0x0013, "IS"}, {0x0020, 0x0032, "DS"}, {0x0020, 0x0037, "DS"}, {0x0028, 0x0002, "US"},
      {0x0028, 0x0004, "CS"}, {0x0028, 0x0006, "US"}, {0x0028, 0x0008, "IS"}, {0x0028, 0x0009, "AT"},
      {0x0028, 0x0010, "US"}, {0x0028, 0x0011, "US"}, {0x0028, 0x0030, "DS"}, {0x0028, 0x0034, "IS"},
      {0x0028, 0x0100, "US"}, {0x0028, 0x0101, "US"}, {0x0028, 0x0102, "US"}, {0x0028, 0x0103, "US"},
      {0x0028, 0x1050, "DS"}, {0x0028, 0x1051, "DS"}, {0x0028, 0x1052, "DS"}, {0x0028, 0x1053, "DS"},
      {0x0028, 0x1054, "LO"}, {0x0028, 0x2110, "CS"}, {0x0028, 0x2114, "CS"}, {0x0010, 0x0020, "LO"}};
  for (const Entry& t : kTable)
    if (t.g == g && t.e == e) return t.vr;
  return nullptr;
}

// Transfer syntaxes GDCM decodes (PS3.5 annex A): implicit/explicit VR little endian, explicit
// big endian, deflate (refused later with its own message), JPEG, JPEG-LS, JPEG 2000, RLE.
bool known_transfer_syntax(const std::string& ts) {
  static const char* const kKnown[] = {"1.2.840.10008.1.2",      "1.2.840.10008.1.2.1",    "1.2.840.10008.1.2.2",
                                       "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51",
                                       "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80",
                                       "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
                                       "1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93", "1.2.840.10008.1.2.5"};
  for (const char* k : kKnown)
    if (ts == k) return true;
  return false;
}

class Walker {
 public:
  Walker(const std::string& b, DicomScan& out, uint64_t max_inflated, bool header_only)
      : b_(b), out_(out), max_inflated_(max_inflated), header_only_(header_only) {}

  void run() {
    size_t pos = 0;
    const bool preamble = b_.size() >= 132 && b_.compare(128, 4, "DICM") == 0;
    if (preamble) pos = 132;
    if (pos + 8 <= b_.size() && u16le(pos) == 0x0002) {
      if (!meta(pos)) return;
    }
    const std::string& ts = out_.transfer_syntax;
    if (ts == kDeflated) {  // the data set after the meta header is deflated; it is explicit VR LE inside
      std::string problem;
      out_.inflated = inflate_raw(b_, pos, max_inflated_, &problem);
      if (!problem.empty()) {
        fail(problem);
        return;
      }
      out_.deflated = true;
      out_.gdcm_problem = "deflated transfer syntax (decoded here, not by GDCM)";
      Walker(out_.inflated, out_, max_inflated_, header_only_).walk(0, true, false);
      return;
    }
    if (!ts.empty()) {
      explicit_ = ts != "1.2.840.10008.1.2";
      big_ = ts == "1.2.840.10008.1.2.2";
    } else {  // no meta header: explicit VR when bytes 4..5 of the first element look like a VR
      explicit_ = pos + 6 <= b_.size() && std::isupper(uint8_t(b_[pos + 4])) && std::isupper(uint8_t(b_[pos + 5]));
    }
    walk(pos, explicit_, big_);
  }

 private:
  void walk(size_t pos, bool explicit_vr, bool big) {
    // Writers that announce one VR encoding and use the other exist; the first element tells
    // (as pydicom and GDCM also read it).
    if (pos + 6 <= b_.size()) {
      bool long_form = false;
      const bool looks_explicit = known_vr(b_.substr(pos + 4, 2), &long_form);
      if (explicit_vr != looks_explicit && !big) explicit_vr = looks_explicit;
    }
    explicit_ = out_.explicit_vr = explicit_vr;
    big_ = out_.big_endian = big;
    if (pos >= b_.size()) {
      fail("DICOM file has no data set after the meta header (truncated)");
      return;
    }
    if (!dataset(pos, b_.size(), 0, false)) return;
    // GDCM then reads the missing slope as zero and asserts (aborts).
    if (rescale_elements_ == 1)
      gdcm_fail("corrupt DICOM header (RescaleIntercept (0028,1052) without RescaleSlope (0028,1053))");
  }

  uint16_t u16le(size_t p) const { return uint8_t(b_[p]) | (uint8_t(b_[p + 1]) << 8); }
  uint16_t u16(size_t p) const { return big_ ? (uint8_t(b_[p]) << 8) | uint8_t(b_[p + 1]) : u16le(p); }
  uint32_t u32(size_t p) const {
    if (big_) return (uint32_t(u16(p)) << 16) | u16(p + 2);
    return uint32_t(u16le(p)) | (uint32_t(u16le(p + 2)) << 16);
  }
  bool fail(const std::string& why) {
    if (out_.problem.empty()) out_.problem = why;
    return false;
  }
  // Valid enough for our decoders, not for GDCM: noted, and the walk goes on.
  bool gdcm_fail(const std::string& why) {
    if (out_.gdcm_problem.empty()) out_.gdcm_problem = why;
    return true;
  }
  bool truncated(size_t pos, const std::string& what) {
    return fail("truncated DICOM file (" + what + " at byte " + std::to_string(pos) + " runs past the end)");
  }

  // File meta group: always explicit VR little endian.
  bool meta(size_t& pos) {
    const bool big = big_;
    big_ = false;
    int last = -1;
    while (pos + 8 <= b_.size() && u16le(pos) == 0x0002) {
      const uint16_t elem = u16le(pos + 2);
      // GDCM reads a repeated or out-of-order meta element into a header that disagrees with ours.
      if (int(elem) <= last)
        return fail("corrupt DICOM meta header (element " + hex_tag(0x0002, elem) + " repeated or out of order)");
      last = elem;
      bool long_form = false;
      if (!known_vr(b_.substr(pos + 4, 2), &long_form)) return fail("corrupt DICOM meta header (invalid VR)");
      // GDCM's FileMetaInformation::Read asserts (aborts the process) on a sequence there.
      if (b_.compare(pos + 4, 2, "SQ") == 0)
        return fail("corrupt DICOM meta header (element " + hex_tag(0x0002, elem) + " is a sequence)");
      if (long_form && pos + 12 > b_.size()) return truncated(pos, "meta header");
      const uint32_t len = long_form ? u32(pos + 8) : u16le(pos + 6);
      pos += long_form ? 12 : 8;
      if (len == kUndefined || pos + len > b_.size()) return truncated(pos, "meta header");
      if (elem == 0x0010) out_.transfer_syntax = trim_padding(b_.substr(pos, len));
      pos += len;
    }
    big_ = big;
    // GDCM asserts (aborts) on a meta header without a transfer syntax it knows and no SOP class.
    if (out_.transfer_syntax.empty()) return fail("corrupt DICOM meta header (no transfer syntax (0002,0010))");
    if (!known_transfer_syntax(out_.transfer_syntax))
      return fail("unsupported DICOM transfer syntax '" + out_.transfer_syntax.substr(0, 64) + "'");
    return true;
  }

  // Elements in [pos, end). In an undefined-length item, returns after its item delimiter.
  bool dataset(size_t& pos, size_t end, int depth, bool undefined_item) {
    if (depth > kMaxDepth) return fail("corrupt DICOM file (sequences nested too deeply)");
    while (pos < end) {
      if (pos + 8 > end) return truncated(pos, "element header");
      const uint16_t g = u16(pos), e = u16(pos + 2);
      if (g == 0xFFFE) {
        if (e == 0xE00D && undefined_item) {
          pos += 8;
          return true;
        }
        return fail("corrupt DICOM file (unexpected item tag " + hex_tag(g, e) + " at byte " + std::to_string(pos) +
                    ")");
      }
      if (!element(pos, end, depth, g, e)) return false;
    }
    if (undefined_item) return truncated(pos, "sequence item");
    return true;
  }

  bool element(size_t& pos, size_t end, int depth, uint16_t g, uint16_t e) {
    const size_t start = pos;
    std::string vr;
    uint32_t len = 0;
    if (explicit_) {
      vr = b_.substr(pos + 4, 2);
      bool long_form = false;
      if (!known_vr(vr, &long_form))
        return fail("corrupt DICOM file (element " + hex_tag(g, e) + " at byte " + std::to_string(pos) +
                    " has no valid VR)");
      if (g == 0x7FE0 && e == 0x0010 && vr != "OB" && vr != "OW")
        return fail("corrupt DICOM file (pixel data has VR " + vr + ")");
      if (long_form) {
        if (pos + 12 > end) return truncated(pos, "element header");
        len = u32(pos + 8);
        pos += 12;
      } else {
        len = u16(pos + 6);
        pos += 8;
      }
      const char* want = dictionary_vr(g, e);
      if (want && vr == "UN" && len != kUndefined) vr = want;  // a value of the dictionary's VR
      if (want && vr != want)
        gdcm_fail("corrupt DICOM file (element " + hex_tag(g, e) + " has VR " + vr + ", expected " + want + ")");
    } else {
      len = u32(pos + 4);
      pos += 8;
    }
    const bool pixel_data = g == 0x7FE0 && e == 0x0010 && depth == 0;
    if (g == 0x7FE0 && (e == 0x0008 || e == 0x0009) && depth == 0) out_.float_pixel_data = true;
    // The icon's own image attributes stay inside its sequence (record() reads depth 0 only); its
    // bytes are noted for dicom_reader.cpp, which leaves them out of what GDCM reads.
    const bool icon = g == 0x0088 && e == 0x0200 && depth == 0;
    if (pixel_data && header_only_) {  // the attributes are known: stop before the pixels
      out_.has_pixel_data = true;
      out_.encapsulated = len == kUndefined;
      if (!out_.encapsulated) out_.pixel_bytes = len;
      pos = end;
      return true;
    }
    if (len == kUndefined) {
      if (pixel_data) {
        out_.has_pixel_data = out_.encapsulated = true;
        return fragments(pos, end);
      }
      if (explicit_ && vr != "SQ" && vr != "UN")
        return fail("corrupt DICOM file (undefined length on element " + hex_tag(g, e) + ")");
      const bool ok = sequence(pos, end, depth, true, tag_key(g, e), vr == "UN");
      if (icon) out_.icon = {start, pos - start};
      return ok;
    }
    if (len > end - pos) return truncated(start, "element " + hex_tag(g, e) + " of " + std::to_string(len) + " bytes");
    // GDCM asserts (aborts) on a zero RescaleSlope, wherever it reads it from (top level or
    // functional groups), and on a RecognitionCode that is not one of the ACR-NEMA ones.
    if (g == 0x0028 && (e == 0x1052 || e == 0x1053) && depth == 0) {
      const int bit = e == 0x1052 ? 1 : 2;
      if (rescale_elements_ & bit) return fail("corrupt DICOM header (element " + hex_tag(g, e) + " appears twice)");
      rescale_elements_ |= bit;
    }
    if (g == 0x0028 && (e == 0x1052 || e == 0x1053)) {
      std::string problem;
      const std::string v = rescale_value(b_.substr(pos, len), e == 0x1053, &problem);
      if (!problem.empty()) return fail(problem);
      record_rescale(e == 0x1053, v, depth);
    }
    if (g == 0x0008 && e == 0x0010 && depth == 0) {
      const std::string code = b_.substr(pos, len);
      if (code != "ACRNEMA_LIBIDO_1.1" && code != "ACRNEMA_LIBIDO_1.0" && code != "ACR-NEMA 2.0" &&
          code != "ACR-NEMA 1.0")
        gdcm_fail("unsupported DICOM RecognitionCode (0008,0010) (not an ACR-NEMA 1.0/2.0 value)");
    }
    // In implicit VR only the sequences read here are known to be sequences.
    const uint32_t key = tag_key(g, e);
    const bool known_sequence = key == kSharedGroups || key == kPerFrameGroups || key == kPixelValueTransform;
    // Anonymizers also write those as UN of defined length.
    const bool un_sequence = vr == "UN" && known_sequence;
    if (vr == "SQ" || (!explicit_ && known_sequence) || un_sequence) {
      size_t p = pos;
      if (!sequence(p, pos + len, depth, false, key, un_sequence)) return false;
    }
    if (depth == 0 && (g == 0x0008 || g == 0x0010 || g == 0x0018 || g == 0x0020) && len <= 1024 && vr != "SQ" &&
        !(vr.empty() && known_sequence))
      out_.text.emplace_back(key, b_.substr(pos, len));
    if (depth == 0 && !record(g, e, pos, len)) return false;
    if (pixel_data) {
      out_.has_pixel_data = true;
      out_.pixel_bytes = len;
      out_.pixel_at = pos;
    }
    pos += len;
    if (icon) out_.icon = {start, pos - start};
    return true;
  }

  // A sequence's items, with the path of sequences kept for record_rescale. A UN sequence (`un`)
  // holds its items in implicit VR little endian (PS3.5 6.2.2).
  bool sequence(size_t& pos, size_t end, int depth, bool undefined, uint32_t key, bool un) {
    const bool was_explicit = explicit_, was_big = big_;
    if (un) explicit_ = big_ = false;
    path_.push_back(key);
    const bool ok = items(pos, end, depth, undefined);
    path_.pop_back();
    explicit_ = was_explicit, big_ = was_big;
    return ok;
  }

  // Sequence items until `end` (defined length) or the sequence delimiter (undefined length).
  bool items(size_t& pos, size_t end, int depth, bool undefined) {
    const bool per_frame = depth == 0 && path_.size() == 1 && path_[0] == kPerFrameGroups;
    while (pos < end || undefined) {
      if (pos + 8 > end) return truncated(pos, "sequence");
      const uint16_t g = u16(pos), e = u16(pos + 2);
      const uint32_t len = u32(pos + 4);
      pos += 8;
      if (g == 0xFFFE && e == 0xE0DD && undefined) return true;
      if (g != 0xFFFE || e != 0xE000)
        return fail("corrupt DICOM file (expected a sequence item at byte " + std::to_string(pos - 8) + ")");
      if (per_frame) out_.per_frame_rescale.emplace_back();
      if (len == kUndefined) {
        if (!dataset(pos, end, depth + 1, true)) return false;
      } else {
        if (len > end - pos) return truncated(pos - 8, "sequence item");
        size_t p = pos;
        if (!dataset(p, pos + len, depth + 1, false)) return false;
        pos += len;
      }
    }
    return true;
  }

  // Encapsulated pixel data: the offset table and the fragments, then the sequence delimiter.
  bool fragments(size_t& pos, size_t end) {
    while (true) {
      if (pos + 8 > end) return truncated(pos, "compressed pixel data");
      const uint16_t g = u16(pos), e = u16(pos + 2);
      const uint32_t len = u32(pos + 4);
      pos += 8;
      if (g == 0xFFFE && e == 0xE0DD) return true;
      if (g != 0xFFFE || e != 0xE000 || len == kUndefined)
        return fail("corrupt DICOM file (bad pixel data fragment at byte " + std::to_string(pos - 8) + ")");
      if (len > end - pos) return truncated(pos - 8, "compressed pixel data fragment");
      if (++fragment_count_ >= 2) out_.fragments.push_back({pos, len});  // the first is the basic offset table
      out_.pixel_bytes += len;
      pos += len;
    }
  }

  // The image attributes of the top-level data set. A US attribute must hold exactly one value
  // and appear once: GDCM reads its own copy, and must see what was checked here.
  bool record(uint16_t g, uint16_t e, size_t pos, uint32_t len) {
    if (g == 0x0010 && e == 0x0020) out_.patient_id = trim_padding(b_.substr(pos, std::min<uint32_t>(len, 256)));
    if (g == 0x0008 && e == 0x0060) out_.modality = trim_padding(b_.substr(pos, std::min<uint32_t>(len, 64)));
    if (g != 0x0028) return true;
    if (e == 0x1050 || e == 0x1051) {  // multi-valued: the first window
      std::string v = b_.substr(pos, std::min<uint32_t>(len, 256));
      v = trim_padding(v.substr(0, v.find('\\')));
      (e == 0x1050 ? out_.window_center : out_.window_width) = v;
    }
    if (e >= 0x1101 && e <= 0x1103) out_.palette_descriptor[e - 0x1101] = {pos, len, true};
    if (e >= 0x1201 && e <= 0x1203) out_.palette_data[e - 0x1201] = {pos, len, true};
    if (e >= 0x1221 && e <= 0x1223) out_.segmented_palette = true;
    const bool us = e == 0x0002 || e == 0x0006 || e == 0x0010 || e == 0x0011 || (e >= 0x0100 && e <= 0x0103);
    if (us || e == 0x0004 || e == 0x0008) {
      const uint32_t key = e;
      for (uint32_t k : seen_)
        if (k == key) return fail("corrupt DICOM header (element " + hex_tag(g, e) + " appears twice)");
      seen_.push_back(key);
    }
    if (us && len != 2)
      return fail("corrupt DICOM header (element " + hex_tag(g, e) + " has " + std::to_string(len) +
                  " bytes, expected one 2-byte value)");
    if (len == 2) {
      const int64_t v = u16(pos);
      if (e == 0x0010) out_.rows = v;
      if (e == 0x0011) out_.cols = v;
      if (e == 0x0002) out_.samples = v;
      if (e == 0x0006) out_.planar_configuration = v;
      if (e == 0x0100) out_.bits_allocated = v;
      if (e == 0x0101) out_.bits_stored = v;
      if (e == 0x0102) out_.high_bit = v;
      if (e == 0x0103) out_.pixel_representation = v;
    }
    if (e == 0x0004 && len < 64) out_.photometric = trim_padding(b_.substr(pos, len));
    if (e == 0x0008 && len > 0 && len < 16) {  // NumberOfFrames (IS)
      const long v = std::strtol(trim_padding(b_.substr(pos, len)).c_str(), nullptr, 10);
      if (v > 0) out_.frames = v;
    }
    return true;
  }

  // RescaleSlope / RescaleIntercept: of the data set, or of the enhanced multi-frame functional
  // groups (shared, or the current per-frame item).
  void record_rescale(bool slope, const std::string& v, int depth) {
    if (depth == 0) {
      (slope ? out_.rescale_slope : out_.rescale_intercept) = v;
    } else if (depth == 2 && path_.size() == 2 && path_[1] == kPixelValueTransform) {
      if (path_[0] == kSharedGroups) (slope ? out_.shared_slope : out_.shared_intercept) = v;
      if (path_[0] == kPerFrameGroups && !out_.per_frame_rescale.empty())
        (slope ? out_.per_frame_rescale.back().first : out_.per_frame_rescale.back().second) = v;
    }
  }

  const std::string& b_;
  DicomScan& out_;
  uint64_t max_inflated_;
  bool header_only_;
  std::vector<uint32_t> path_;  // the sequences the walk is in, outermost first
  bool explicit_ = true, big_ = false;
  int fragment_count_ = 0;
  std::vector<uint32_t> seen_;  // image attributes met at the top level
  int rescale_elements_ = 0;    // bits: 1 (0028,1052), 2 (0028,1053) met at the top level
};

// JPEG 2000 codestream (SOC, SIZ) or JPEG (SOI ... SOFn) header of the first frame.
std::string check_frame_header(const DicomScan& s) {
  const std::string& b = s.data();
  if (s.fragments.empty() || s.fragments[0].bytes < 4) return "corrupt DICOM file (empty compressed frame)";
  const size_t at = s.fragments[0].at, n = s.fragments[0].bytes;
  const std::string& ts = s.transfer_syntax;
  auto mismatch = [&](int64_t w, int64_t h, int64_t comps, int64_t bits) -> std::string {
    if (w != s.cols || h != s.rows || comps != s.samples || bits > s.bits_allocated || bits < 1)
      return "corrupt DICOM file (compressed frame is " + std::to_string(w) + " x " + std::to_string(h) + ", " +
             std::to_string(comps) + " component(s) of " + std::to_string(bits) + " bits; the header says " +
             std::to_string(s.cols) + " x " + std::to_string(s.rows) + ", " + std::to_string(s.samples) + " of " +
             std::to_string(s.bits_allocated) + " bits)";
    return "";
  };
  const std::string kFamily = "1.2.840.10008.1.2.4.";
  const std::string suffix = ts.rfind(kFamily, 0) == 0 ? ts.substr(kFamily.size()) : "";
  auto one_of = [&](std::initializer_list<const char*> list) {
    for (const char* x : list)
      if (suffix == x) return true;
    return false;
  };
  if (one_of({"90", "91", "92", "93", "201", "202", "203"})) {  // JPEG 2000 (parts 1, 2; HTJ2K)
    // SOC FF4F, SIZ FF51: Lsiz Rsiz Xsiz Ysiz XOsiz YOsiz XTsiz YTsiz XTOsiz YTOsiz Csiz {Ssiz XRsiz YRsiz}.
    const DicomFragment cs = j2k_codestream(b, s.fragments[0]);
    if (cs.bytes < 4 + 38 + 3 || be16(b, cs.at) != 0xFF4F || be16(b, cs.at + 2) != 0xFF51)
      return "unsupported or corrupt JPEG 2000 frame (no SIZ marker at the start of the codestream)";
    const size_t p = cs.at + 4;
    const int64_t comps = be16(b, p + 36);
    if (comps < 1 || size_t(38 + 3 * comps) > cs.bytes - 4) return "corrupt JPEG 2000 frame (bad component count)";
    const int64_t w = int64_t(be32(b, p + 4)) - be32(b, p + 12), h = int64_t(be32(b, p + 8)) - be32(b, p + 16);
    int64_t bits = 0;
    for (int64_t c = 0; c < comps; ++c) bits = std::max<int64_t>(bits, (uint8_t(b[p + 38 + 3 * c]) & 0x7F) + 1);
    return mismatch(w, h, comps, bits);
  }
  if (one_of({"50", "51", "57", "70", "80", "81"})) {
    // Classic JPEG (baseline, extended, lossless) and JPEG-LS: SOI, then segments up to SOFn / SOF55 (F7).
    if (be16(b, at) != 0xFFD8) return "unsupported or corrupt JPEG frame (no start-of-image marker)";
    size_t p = at + 2;
    while (p + 4 <= at + n) {
      const uint32_t m = be16(b, p), len = be16(b, p + 2);
      if ((m >> 8) != 0xFF || len < 2) break;
      const uint32_t k = m & 0xFF;
      if ((k >= 0xC0 && k <= 0xCF && k != 0xC4 && k != 0xC8 && k != 0xCC) || k == 0xF7) {
        if (p + 10 > at + n) break;
        return mismatch(be16(b, p + 7), be16(b, p + 5), uint8_t(b[p + 9]), uint8_t(b[p + 4]));
      }
      p += 2 + len;
    }
    return "corrupt JPEG frame (no frame header)";
  }
  return "";  // RLE and others: GDCM checks them
}

}  // namespace

bool decoded_natively(const DicomScan& s) { return !s.encapsulated || s.transfer_syntax == kRle; }

std::string check_sample_bits(const DicomScan& s) {
  if (s.bits_allocated == 1) return "a 1-bit image (BitsAllocated 1, e.g. a segmentation), not a picture to screen";
  if (s.bits_allocated != 8 && s.bits_allocated != 16 && s.bits_allocated != 32)
    return "unsupported BitsAllocated " + std::to_string(s.bits_allocated) + " (8, 16 or 32)";
  const int64_t stored = s.bits_stored < 0 ? s.bits_allocated : s.bits_stored;
  const int64_t high = s.high_bit < 0 ? stored - 1 : s.high_bit;
  if (stored < 1 || stored > s.bits_allocated || high < stored - 1 || high >= s.bits_allocated)
    return "corrupt DICOM header (BitsStored " + std::to_string(stored) + ", HighBit " + std::to_string(high) +
           ", BitsAllocated " + std::to_string(s.bits_allocated) + ")";
  if (s.pixel_representation != 0 && s.pixel_representation != 1)
    return "corrupt DICOM header (PixelRepresentation " + std::to_string(s.pixel_representation) + ")";
  return "";
}

std::string check_image_header(const DicomScan& s, bool frame_header) {
  const std::string& pi = s.photometric;
  const bool mono = pi == "MONOCHROME1" || pi == "MONOCHROME2";
  const bool colour = pi == "RGB" || pi == "YBR_FULL" || pi == "YBR_FULL_422" || pi == "YBR_RCT" || pi == "YBR_ICT";
  if (!mono && !colour && pi != "PALETTE COLOR")
    return "unsupported photometric interpretation '" + pi.substr(0, 32) +
           "' (MONOCHROME1/2, RGB, YBR_FULL, YBR_FULL_422 and PALETTE COLOR are read)";
  if (s.samples != (colour ? 3 : 1))
    return "unsupported DICOM image: " + std::to_string(s.samples) + " samples per pixel with photometric " + pi;
  if (const std::string why = check_sample_bits(s); !why.empty()) return why;
  const int64_t stored = s.bits_stored < 0 ? s.bits_allocated : s.bits_stored;
  const int64_t high = s.high_bit < 0 ? stored - 1 : s.high_bit;
  if (s.planar_configuration != 0 && s.planar_configuration != 1)
    return "corrupt DICOM header (PlanarConfiguration " + std::to_string(s.planar_configuration) + ")";
  if (pi == "PALETTE COLOR") {
    if (s.segmented_palette) return "unsupported DICOM image: a segmented palette (only plain lookup tables)";
    for (int c = 0; c < 3; ++c)
      if (!s.palette_descriptor[c].present || s.palette_descriptor[c].bytes != 6 || !s.palette_data[c].present)
        return "corrupt DICOM header (PALETTE COLOR without its red, green and blue lookup tables)";
  }
  const std::string& ts = s.transfer_syntax;
  const bool native_syntax = ts.empty() || ts == "1.2.840.10008.1.2" || ts == "1.2.840.10008.1.2.1" ||
                             ts == "1.2.840.10008.1.2.2" || ts == kDeflated;
  if (native_syntax == s.encapsulated)  // the header lies about the pixels
    return "DICOM pixel data does not match the transfer syntax " + ts.substr(0, 64) +
           (s.encapsulated ? " (compressed fragments under a native syntax)"
                           : " (native pixels under a compressed syntax)");
  if (decoded_natively(s)) {
    if ((pi == "YBR_RCT" || pi == "YBR_ICT")) return "corrupt DICOM header (" + pi + " outside JPEG 2000 pixel data)";
    if (s.ybr_422_native() && (s.bits_allocated != 8 || s.cols % 2 != 0 || s.planar_configuration != 0))
      return "unsupported DICOM image: YBR_FULL_422 needs 8 bits, an even width and interleaved samples";
    return "";
  }
  // GDCM decodes the rest; it aborts on what is noted in gdcm_problem and on 8-bit samples
  // with fewer bits stored (ImageCodec::DecodeByStreams).
  if (!s.gdcm_problem.empty()) return s.gdcm_problem;
  if (s.bits_allocated == 8 && stored != 8)
    return "unsupported DICOM header (BitsAllocated 8 with BitsStored " + std::to_string(stored) +
           " in compressed pixel data)";
  if (high != stored - 1)
    return "unsupported DICOM header (HighBit " + std::to_string(high) + " with BitsStored " + std::to_string(stored) +
           " in compressed pixel data)";
  return frame_header ? check_frame_header(s) : "";
}

// DICOM values are padded with spaces (text) or NUL (UIDs).
std::string trim_padding(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  while (!s.empty() && s.front() == ' ') s.erase(s.begin());
  return s;
}

std::string rescale_value(const std::string& raw, bool slope, std::string* problem) {
  const std::string name = slope ? "RescaleSlope (0028,1053)" : "RescaleIntercept (0028,1052)";
  std::string first;
  double value = 0;
  for (size_t at = 0;;) {
    const size_t end = std::min(raw.find('\\', at), raw.size());
    const std::string v = trim_padding(raw.substr(at, end - at));
    char* stop = nullptr;
    const double d = std::strtod(v.c_str(), &stop);
    // GDCM asserts (aborts) on a zero slope; junk after a number can read as zero there.
    if (v.empty() || v.size() > 16 || *stop != '\0' || !std::isfinite(d) || (slope && d == 0.0)) {
      *problem = "invalid " + name + " (not one " + (slope ? "non-zero " : "") + "number)";
      return "";
    }
    if (first.empty()) {
      first = v, value = d;
    } else if (d != value) {
      *problem = name + " has values that disagree ('" + trim_padding(raw).substr(0, 64) + "')";
      return "";
    }
    if (end == raw.size()) return first;
    at = end + 1;
  }
}

bool looks_like_dicom_start(const std::string& b, uint64_t file_size) {
  if (b.size() >= 132 && b.compare(128, 4, "DICM") == 0) return true;
  if (b.size() < 8) return false;
  const uint32_t group = le16(b, 0), first_tag = group << 16 | le16(b, 2);
  if (group % 2 != 0 || group < 0x0002 || group > 0x0028) return false;
  bool long_form = false;
  const std::string vr = b.substr(4, 2);
  const bool explicit_vr = known_vr(vr, &long_form);
  if (explicit_vr && long_form && (b.size() < 12 || le16(b, 6) != 0)) return false;
  const size_t header = explicit_vr && long_form ? 12 : 8;
  const uint32_t len = explicit_vr && !long_form ? le16(b, 6) : le32(b, header - 4);
  if (len == kUndefined) return explicit_vr && (vr == "SQ" || vr == "UN");  // a sequence: its items are not read here
  const uint64_t next = header + uint64_t(len);
  if (next > file_size) return false;
  if (next + 8 > b.size()) return true;  // the next element lies beyond `head` (or the file ends)
  const uint32_t next_group = le16(b, next), next_tag = next_group << 16 | le16(b, next + 2);
  bool unused = false;
  return next_tag > first_tag && next_group != 0xFFFE && known_vr(b.substr(next + 4, 2), &unused) == explicit_vr;
}

DicomFragment j2k_codestream(const std::string& b, const DicomFragment& frame) {
  static const char kSignature[] = "\x00\x00\x00\x0C\x6A\x50\x20\x20\x0D\x0A\x87\x0A";
  if (frame.bytes < 12 || b.compare(frame.at, 12, kSignature, 12) != 0) return frame;
  // Boxes (ISO 15444-1 I.4): LBox (4 bytes, big endian) TBox (4); LBox 1: an 8-byte XLBox follows;
  // LBox 0: the box runs to the end of the file.
  const size_t end = frame.at + frame.bytes;
  for (size_t p = frame.at; p + 8 <= end;) {
    uint64_t length = be32(b, p), header = 8;
    if (length == 1) {
      if (p + 16 > end) break;
      length = uint64_t(be32(b, p + 8)) << 32 | be32(b, p + 12), header = 16;
    } else if (length == 0) {
      length = end - p;
    }
    if (length < header) break;
    if (b.compare(p + 4, 4, "jp2c") == 0)  // it may run on into the frame's next fragment
      return {size_t(p + header), size_t(std::min<uint64_t>(length, end - p) - header)};
    if (length > end - p) break;
    p += size_t(length);
  }
  return {};
}

DicomScan scan_dicom(const std::string& bytes, uint64_t max_inflated, bool header_only) {
  DicomScan out;
  out.source = &bytes;
  Walker(bytes, out, max_inflated, header_only).run();
  return out;
}

DicomScan scan_dicom_file_header(const std::string& path, uint64_t max_file_bytes, std::string* bytes) {
  constexpr size_t kHead = size_t(64) << 10;  // most headers end well within it
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path, "cannot open");
  bytes->assign(kHead, '\0');
  in.read(&(*bytes)[0], std::streamsize(bytes->size()));
  bytes->resize(size_t(in.gcount()));
  if (bytes->empty()) throw FileError(path, "empty file");
  DicomScan scan = scan_dicom(*bytes, max_file_bytes, true);
  if (scan.problem.empty() || bytes->size() < kHead) return scan;
  *bytes = read_file_bytes(path, int64_t(max_file_bytes));
  return scan_dicom(*bytes, max_file_bytes, true);
}

}  // namespace covscreen::io_detail
