#include "covscreen/io/decoder_protocol.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

namespace covscreen::decoder {
namespace {

// Appends little-endian values and strings to a payload.
class Writer {
 public:
  explicit Writer(const char* magic) { out_.append(magic, 4), u32(kProtocolVersion); }
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(uint32_t v) { raw(&v, 4); }
  void i32(int32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void i64(int64_t v) { raw(&v, 8); }
  void f64(double v) { raw(&v, 8); }
  void str32(const std::string& s) { u32(static_cast<uint32_t>(s.size())), out_ += s; }
  void str64(const std::string& s) { u64(s.size()), out_ += s; }
  void bytes(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string take() { return std::move(out_); }

 private:
  void raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }  // x86-64/arm64: LE
  std::string out_;
};

// Reads them back, checking every length against what is left.
class Reader {
 public:
  Reader(const std::string& in, const char* magic) : in_(in) {
    if (in_.size() < 8 || in_.compare(0, 4, magic, 4) != 0) throw ProtocolError("decoder protocol: bad magic");
    pos_ = 4;
    if (u32() != kProtocolVersion) throw ProtocolError("decoder protocol: unknown version");
  }
  uint8_t u8() { return static_cast<uint8_t>(take(1)[0]); }
  bool flag() {  // 0 or 1, nothing else: what parses re-encodes to the same bytes
    const uint8_t v = u8();
    if (v > 1) throw ProtocolError("decoder protocol: a flag that is neither 0 nor 1");
    return v == 1;
  }
  uint32_t u32() { return get<uint32_t>(); }
  int32_t i32() { return get<int32_t>(); }
  uint64_t u64() { return get<uint64_t>(); }
  int64_t i64() { return get<int64_t>(); }
  double f64() { return get<double>(); }
  std::string str32() {
    const uint32_t n = u32();
    return std::string(take(n), n);
  }
  std::string str64() {
    const uint64_t n = u64();
    if (n > in_.size() - pos_) throw ProtocolError("decoder protocol: length past the end");
    return std::string(take(static_cast<size_t>(n)), static_cast<size_t>(n));
  }
  const char* take(size_t n) {
    if (n > in_.size() - pos_) throw ProtocolError("decoder protocol: truncated frame");
    const char* p = in_.data() + pos_;
    pos_ += n;
    return p;
  }
  void done() const {
    if (pos_ != in_.size()) throw ProtocolError("decoder protocol: trailing bytes");
  }

 private:
  template <class T>
  T get() {
    T v;
    std::memcpy(&v, take(sizeof v), sizeof v);
    return v;
  }
  const std::string& in_;
  size_t pos_ = 0;
};

}  // namespace

std::string encode_request(const Request& r) {
  Writer w("CVDQ");
  w.u8(r.is_path ? 0 : 1);
  w.f64(r.read.window.center);
  w.f64(r.read.window.width);
  w.u8(r.read.window.use_file_voi ? 1 : 0);
  w.i64(r.read.max_pixels);
  w.i64(r.read.max_file_bytes);
  w.i32(r.read.frame);
  w.str32(r.name);
  w.str64(r.data);
  return w.take();
}

Request decode_request(const std::string& payload) {
  Reader in(payload, "CVDQ");
  Request r;
  const uint8_t kind = in.u8();
  if (kind > 1) throw ProtocolError("decoder protocol: unknown request kind");
  r.is_path = kind == 0;
  r.read.window.center = in.f64();
  r.read.window.width = in.f64();
  r.read.window.use_file_voi = in.flag();
  r.read.max_pixels = in.i64();
  r.read.max_file_bytes = in.i64();
  r.read.frame = in.i32();
  if (r.read.frame < 0) throw ProtocolError("decoder protocol: negative frame");
  r.name = in.str32();
  r.data = in.str64();
  in.done();
  return r;
}

std::string encode_reply(const Reply& r) {
  Writer w("CVDR");
  w.u8(r.ok ? 1 : 0);
  if (!r.ok) {
    w.u8(r.file_error ? 1 : 0);
    w.str32(r.message);
    return w.take();
  }
  const DecodedImage& d = r.image;
  w.str32(d.format);
  w.i32(d.bit_depth);
  w.i32(d.channels);
  w.i32(d.width);
  w.i32(d.height);
  w.i32(d.frames);
  for (const std::string* t : {&d.modality, &d.body_part, &d.image_type, &d.series_description}) w.str32(*t);
  w.f64(d.color_share);
  const cv::Mat g = d.gray.isContinuous() ? d.gray : d.gray.clone();
  w.i32(g.rows);
  w.i32(g.cols);
  if (!g.empty()) w.bytes(g.data, g.total());
  return w.take();
}

Reply decode_reply(const std::string& payload) {
  Reader in(payload, "CVDR");
  Reply r;
  r.ok = in.flag();
  if (!r.ok) {
    r.file_error = in.flag();
    r.message = in.str32();
    in.done();
    return r;
  }
  DecodedImage& d = r.image;
  d.format = in.str32();
  d.bit_depth = in.i32();
  d.channels = in.i32();
  d.width = in.i32();
  d.height = in.i32();
  d.frames = in.i32();
  for (std::string* t : {&d.modality, &d.body_part, &d.image_type, &d.series_description}) *t = in.str32();
  d.color_share = in.f64();
  if (!(d.color_share >= 0 && d.color_share <= 1)) throw ProtocolError("decoder protocol: bad colour share");
  const int32_t rows = in.i32(), cols = in.i32();
  if (rows < 0 || cols < 0 || (rows == 0) != (cols == 0)) throw ProtocolError("decoder protocol: bad image size");
  const uint64_t n = uint64_t(rows) * uint64_t(cols);
  if (n > 0) {
    const char* p = in.take(static_cast<size_t>(n));
    d.gray = cv::Mat(rows, cols, CV_8UC1);
    std::memcpy(d.gray.data, p, static_cast<size_t>(n));
  }
  in.done();
  return r;
}

std::string frame_header(uint64_t payload_size) { return std::string(reinterpret_cast<const char*>(&payload_size), 8); }

uint64_t frame_size(const std::string& header8) {
  if (header8.size() != 8) throw ProtocolError("decoder protocol: short frame header");
  uint64_t n = 0;
  std::memcpy(&n, header8.data(), 8);
  if (n > kMaxFrameBytes) throw ProtocolError("decoder protocol: frame of " + std::to_string(n) + " bytes");
  return n;
}

namespace {
// Reads exactly n bytes; returns how many were read before EOF (n unless the stream ended).
size_t read_exact(int fd, char* p, size_t n) {
  size_t got = 0;
  while (got < n) {
    const ssize_t k = ::read(fd, p + got, n - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += static_cast<size_t>(k);
  }
  return got;
}
}  // namespace

bool read_frame(int fd, std::string* payload) {
  std::string head(8, '\0');
  const size_t got = read_exact(fd, head.data(), 8);
  if (got == 0) return false;
  if (got < 8) throw ProtocolError("decoder protocol: stream ended in a frame header");
  const uint64_t n = frame_size(head);
  payload->assign(static_cast<size_t>(n), '\0');
  if (read_exact(fd, payload->data(), payload->size()) != payload->size())
    throw ProtocolError("decoder protocol: stream ended in a frame");
  return true;
}

bool write_frame(int fd, const std::string& payload) {
  const std::string all = frame_header(payload.size()) + payload;
  size_t put = 0;
  while (put < all.size()) {
    const ssize_t k = ::write(fd, all.data() + put, all.size() - put);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    put += static_cast<size_t>(k);
  }
  return true;
}

Reply serve_request(const Request& r) {
  Reply out;
  try {
    out.image = r.is_path ? read_image(r.data, r.read) : decode_image(r.data, r.name, r.read);
    out.ok = true;
  } catch (const FileError& e) {
    out.message = e.problem();
  } catch (const std::bad_alloc&) {
    out.message = kOutOfMemoryProblem;
  } catch (const std::exception& e) {
    out.file_error = false;
    out.message = e.what();
  }
  return out;
}

}  // namespace covscreen::decoder
