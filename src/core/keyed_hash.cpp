// SHA-256 after FIPS 180-4 section 6.2, HMAC after RFC 2104 (block size 64 bytes).
// Test vectors: FIPS 180-2 appendix B and RFC 4231 (tests/core_keyed_hash_test.cpp).
#include "covscreen/core/keyed_hash.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "covscreen/core/error.h"

namespace covscreen {
namespace {

constexpr uint32_t kK[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

void compress(uint32_t h[8], const uint8_t block[64]) {
  uint32_t w[64];
  for (int t = 0; t < 16; ++t)
    w[t] = uint32_t(block[4 * t]) << 24 | uint32_t(block[4 * t + 1]) << 16 | uint32_t(block[4 * t + 2]) << 8 |
           uint32_t(block[4 * t + 3]);
  for (int t = 16; t < 64; ++t) {
    const uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
    const uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (int t = 0; t < 64; ++t) {
    const uint32_t t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kK[t] + w[t];
    const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    k = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

}  // namespace

Sha256Digest sha256(const std::string& data) {
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  const size_t n = data.size();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) compress(h, p + i);
  // Padding: 0x80, zeros, then the message length in bits as a 64-bit big-endian integer.
  uint8_t tail[128] = {};
  const size_t rest = n - i;
  std::memcpy(tail, p + i, rest);
  tail[rest] = 0x80;
  const size_t len = rest + 9 <= 64 ? 64 : 128;
  const uint64_t bits = uint64_t(n) * 8;
  for (int b = 0; b < 8; ++b) tail[len - 1 - b] = uint8_t(bits >> (8 * b));
  for (size_t off = 0; off < len; off += 64) compress(h, tail + off);
  Sha256Digest out;
  for (int t = 0; t < 8; ++t)
    for (int b = 0; b < 4; ++b) out[4 * t + b] = uint8_t(h[t] >> (24 - 8 * b));
  return out;
}

Sha256Digest hmac_sha256(const std::string& key, const std::string& message) {
  std::string k = key;
  if (k.size() > 64) {
    const Sha256Digest d = sha256(k);
    k.assign(reinterpret_cast<const char*>(d.data()), d.size());
  }
  k.resize(64, '\0');
  std::string ipad(64, '\0'), opad(64, '\0');
  for (size_t i = 0; i < 64; ++i) {
    ipad[i] = char(uint8_t(k[i]) ^ 0x36);
    opad[i] = char(uint8_t(k[i]) ^ 0x5c);
  }
  const Sha256Digest inner = sha256(ipad + message);
  return sha256(opad + std::string(reinterpret_cast<const char*>(inner.data()), inner.size()));
}

std::string to_hex(const uint8_t* data, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = digits[data[i] >> 4];
    s[2 * i + 1] = digits[data[i] & 15];
  }
  return s;
}

KeyedHasher::KeyedHasher(std::string key) : key_(std::move(key)) {
  if (key_.size() < kMinKeyBytes)
    throw UsageError("the de-identification key must have at least " + std::to_string(kMinKeyBytes) + " bytes, got " +
                     std::to_string(key_.size()));
}

Sha256Digest KeyedHasher::mac(const std::string& domain, const std::string& value) const {
  return hmac_sha256(key_, domain + std::string(1, '\0') + value);
}

std::string KeyedHasher::patient_pseudonym(const std::string& patient_id) const {
  const Sha256Digest d = mac("patient", patient_id);
  return "pt-" + to_hex(d.data(), 6);
}

std::string KeyedHasher::replace_uid(const std::string& uid) const { return uid_from_digest(mac("uid", uid)); }

std::string uid_from_digest(const Sha256Digest& d) {
  unsigned __int128 v = 0;
  for (int i = 0; i < 16; ++i) v = (v << 8) | d[i];
  std::string digits;
  do {
    digits.insert(digits.begin(), char('0' + int(v % 10)));
    v /= 10;
  } while (v != 0);
  return "2.25." + digits;
}

std::string KeyedHasher::key_id() const {
  const Sha256Digest d = mac("key-id", "");
  return to_hex(d.data(), 8);
}

std::string load_or_create_key(const std::string& path, bool create, bool* created) {
  if (created) *created = false;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (!create) throw FileError(path, "key file not found");
    std::random_device rd;
    std::string raw;
    for (int i = 0; i < 8; ++i) {
      const uint32_t r = rd();
      raw.append(reinterpret_cast<const char*>(&r), 4);
    }
    const std::string text = to_hex(reinterpret_cast<const uint8_t*>(raw.data()), raw.size()) + "\n";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw FileError(path, std::string("cannot create the key file: ") + std::strerror(errno));
    const bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) throw FileError(path, "cannot write the key file");
    if (created) *created = true;
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) throw FileError(path, "cannot read the key file");
  std::stringstream s;
  s << f.rdbuf();
  std::string key = s.str();
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  if (key.size() < kMinKeyBytes)
    throw FileError(path, "the key must have at least " + std::to_string(kMinKeyBytes) + " bytes, got " +
                              std::to_string(key.size()));
  return key;
}

}  // namespace covscreen
