#pragma once
// Small string and byte helpers used across modules (header-only, no dependencies):
//   lower("DICOM") == "dicom"; trim(" a ") == "a"; starts_with("sensitivity>=0.9", "sensitivity>=");
//   join({"a", "b"}, ", ") == "a, b"; be32(bytes, at) reads a big-endian uint32 at byte `at`;
//   utc_now() == "2026-12-01T06:30:00Z" (ISO 8601, the time stamps of logs, cards and reports).
// Readers take std::string bytes and do no bounds checks: callers check sizes first.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

namespace covscreen {

inline std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Without leading and trailing white space (std::isspace).
inline std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

inline bool starts_with(const std::string& s, const std::string& prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

inline std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

inline bool iequals(const std::string& a, const std::string& b) { return lower(a) == lower(b); }

// "a,b,,c" -> {"a", "b", "c"}: a comma-separated option value, empty items dropped.
inline std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s + ",") {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  return out;
}

inline std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

// Shortest round-trip-ish text for a metric value: printf "%.6g".
inline std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// Unsigned integers stored in byte strings (file headers, DICOM, PNG chunks).
inline uint32_t be16(const std::string& b, size_t p) { return (uint32_t(uint8_t(b[p])) << 8) | uint8_t(b[p + 1]); }
inline uint32_t be32(const std::string& b, size_t p) { return (be16(b, p) << 16) | be16(b, p + 2); }
inline uint32_t le16(const std::string& b, size_t p) { return uint8_t(b[p]) | (uint32_t(uint8_t(b[p + 1])) << 8); }
inline uint32_t le32(const std::string& b, size_t p) { return le16(b, p) | (le16(b, p + 2) << 16); }
// The 4 bytes of v, big-endian (PNG chunk lengths and sizes).
inline std::string be32_bytes(uint32_t v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
}

// Standard base64 (RFC 4648, with padding).
inline std::string base64_encode(const std::string& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v =
        (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) | uint32_t(uint8_t(bytes[i + 2]));
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

}  // namespace covscreen
