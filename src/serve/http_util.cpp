#include "covscreen/serve/http_util.h"

#include <algorithm>
#include <cctype>

#include "covscreen/core/strings.h"

namespace covscreen::http {

bool constant_time_equal(const std::string& a, const std::string& b) {
  const size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  // volatile read so the compiler cannot turn the loop into an early-exit compare
  volatile unsigned char result = diff;
  return result == 0;
}

bool bearer_ok(const std::string& authorization, const std::string& token) {
  const std::string scheme = "bearer ";
  if (authorization.size() < scheme.size() || lower(authorization.substr(0, scheme.size())) != scheme) {
    constant_time_equal(authorization, token);  // same work whatever was sent
    return false;
  }
  size_t i = scheme.size();
  while (i < authorization.size() && authorization[i] == ' ') ++i;
  return constant_time_equal(authorization.substr(i), token);
}

int status_for_decode_problem(const std::string& problem) {
  const std::string p = lower(problem);
  if (starts_with(p, "empty file")) return 400;
  if (starts_with(p, "file too large") || starts_with(p, "image too large")) return 413;
  if (starts_with(p, "not an image") || starts_with(p, "unsupported format")) return 415;
  return 422;
}

std::string media_type(const std::string& content_type) {
  std::string m = content_type.substr(0, content_type.find(';'));
  while (!m.empty() && std::isspace(static_cast<unsigned char>(m.back()))) m.pop_back();
  size_t b = 0;
  while (b < m.size() && std::isspace(static_cast<unsigned char>(m[b]))) ++b;
  return lower(m.substr(b));
}

bool accepted_raw_type(const std::string& media) {
  return media.empty() || starts_with(media, "image/") || media == "application/dicom" ||
         media == "application/octet-stream";
}

std::string reason(int status) {
  switch (status) {
    case 400:
      return "bad request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not found";
    case 405:
      return "method not allowed";
    case 408:
      return "request timeout";
    case 413:
      return "payload too large";
    case 414:
      return "URI too long";
    case 415:
      return "unsupported media type";
    case 422:
      return "unprocessable entity";
    case 429:
      return "too many requests";
    case 500:
      return "internal server error";
    case 503:
      return "service unavailable";
    case 504:
      return "gateway timeout";
    default:
      return status >= 500 ? "server error" : "client error";
  }
}

}  // namespace covscreen::http
