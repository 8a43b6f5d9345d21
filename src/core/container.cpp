#include "covscreen/core/container.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "covscreen/core/error.h"

namespace covscreen {
namespace {

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Bounds-checked little-endian reader over a byte buffer.
class Reader {
 public:
  Reader(const std::string& path, const std::string& bytes) : path_(path), b_(bytes) {}
  uint32_t u32() {
    need(4);
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t(uint8_t(b_[pos_ + i])) << (8 * i);
    pos_ += 4;
    return v;
  }
  uint64_t u64() {
    need(8);
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t(uint8_t(b_[pos_ + i])) << (8 * i);
    pos_ += 8;
    return v;
  }
  std::string bytes(uint64_t n) {
    need(n);
    std::string s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  size_t pos() const { return pos_; }
  size_t remaining() const { return b_.size() - pos_; }

 private:
  void need(uint64_t n) {
    if (n > remaining())
      throw FileError(path_, "truncated file (needs " + std::to_string(n) + " more bytes at offset " +
                                 std::to_string(pos_) + ", file has " + std::to_string(b_.size()) + ")");
  }
  const std::string& path_;
  const std::string& b_;
  size_t pos_ = 0;
};

std::string describe_foreign(const std::string& head) {
  auto starts = [&](const char* m, size_t n) { return head.size() >= n && std::memcmp(head.data(), m, n) == 0; };
  if (starts("CVSPACK", 7)) return "a covscreen pack";
  if (starts("CVSCKPT", 7)) return "a covscreen checkpoint";
  if (starts("PK\x03\x04", 4)) return "a zip archive (a PyTorch torch.save file? use `covscreen model import`)";
  if (starts("\x89PNG", 4)) return "a PNG image";
  if (starts("\xff\xd8\xff", 3)) return "a JPEG image";
  if (starts("\x80\x02", 2)) return "a Python pickle";
  return "not a covscreen file";
}

}  // namespace

uint64_t fnv1a64(const void* data, size_t n, uint64_t h) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path, std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw FileError(path, "read error");
  return ss.str();
}

nlohmann::json read_json_file(const std::string& path, const std::string& what) {
  const std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw FileError(path, (what.empty() ? "" : what + " is ") + "not valid JSON: " + e.what());
  }
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw FileError(path, std::string("cannot create temporary file: ") + std::strerror(errno));
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw FileError(path, std::string("write failed (previous file kept): ") + std::strerror(e));
    }
    off += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw FileError(path, std::string("flush failed (previous file kept): ") + std::strerror(e));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw FileError(path, std::string("rename failed (previous file kept): ") + std::strerror(e));
  }
}

void write_container(const std::string& path, const Container& c) {
  if (c.magic.size() != 8) throw Error("container magic must be 8 bytes");
  std::string out;
  size_t total = 8 + 4 + 8 + 4 + 8;
  for (const auto& [name, bytes] : c.blobs) total += 4 + name.size() + 8 + bytes.size();
  const std::string header = c.header.dump();
  total += header.size();
  out.reserve(total);
  out += c.magic;
  put_u32(out, c.version);
  put_u64(out, header.size());
  out += header;
  put_u32(out, static_cast<uint32_t>(c.blobs.size()));
  for (const auto& [name, bytes] : c.blobs) {
    put_u32(out, static_cast<uint32_t>(name.size()));
    out += name;
    put_u64(out, bytes.size());
    out += bytes;
  }
  put_u64(out, fnv1a64(out.data(), out.size()));
  write_file_atomic(path, out);
}

Container read_container(const std::string& path, const std::string& expected_magic, uint32_t max_version,
                         const std::string& kind_name) {
  const std::string bytes = read_file(path);
  if (bytes.empty()) throw FileError(path, "empty file, expected " + kind_name);
  if (bytes.size() < 8 || bytes.compare(0, 8, expected_magic) != 0)
    throw FileError(path, "not " + kind_name + " (it looks like " + describe_foreign(bytes.substr(0, 8)) + ")");
  if (bytes.size() < 8 + 4 + 8 + 4 + 8) throw FileError(path, "truncated " + kind_name);
  Reader r(path, bytes);
  Container c;
  c.magic = r.bytes(8);
  c.version = r.u32();
  if (c.version == 0 || c.version > max_version)
    throw FileError(path, kind_name + " format version " + std::to_string(c.version) +
                              " is not supported (this build reads up to " + std::to_string(max_version) + ")");
  const uint64_t hlen = r.u64();
  if (hlen > kMaxContainerHeaderBytes || hlen > r.remaining())
    throw FileError(
        path, "truncated or damaged " + kind_name + " (header length " + std::to_string(hlen) + " exceeds the file)");
  const std::string header = r.bytes(hlen);
  const uint32_t nblobs = r.u32();
  if (nblobs > kMaxContainerBlobs) throw FileError(path, "damaged " + kind_name + " (absurd blob count)");
  for (uint32_t i = 0; i < nblobs; ++i) {
    const uint32_t nlen = r.u32();
    if (nlen > 4096) throw FileError(path, "damaged " + kind_name + " (absurd blob name length)");
    std::string name = r.bytes(nlen);
    const uint64_t len = r.u64();
    if (len > r.remaining())
      throw FileError(path, "truncated " + kind_name + " (blob '" + name + "' needs " + std::to_string(len) +
                                " bytes, " + std::to_string(r.remaining()) + " left)");
    c.blobs[name] = r.bytes(len);
  }
  const size_t body = r.pos();
  const uint64_t stored = r.u64();
  if (r.remaining() != 0) throw FileError(path, "damaged " + kind_name + " (trailing bytes after checksum)");
  if (stored != fnv1a64(bytes.data(), body)) throw FileError(path, "damaged " + kind_name + " (checksum mismatch)");
  try {
    c.header = nlohmann::json::parse(header);
  } catch (const std::exception& e) {
    throw FileError(path, "damaged " + kind_name + " (header is not JSON: " + e.what() + ")");
  }
  return c;
}

}  // namespace covscreen
