// multipart/related bodies (RFC 2046 section 5.1, as DICOMweb uses them: PS3.18 8.6.1.2): the
// boundary of a Content-Type, a streaming parser and a writer. No network here.
#include <random>

#include "covscreen/core/strings.h"
#include "covscreen/pacs/dicomweb.h"

namespace covscreen {
namespace {

constexpr size_t kMaxPartHeaderBytes = 16 << 10;
constexpr size_t kMaxPreambleLine = 1 << 20;  // a body that never shows its first boundary

// Splits "a; b=1; c=\"x;y\"" at semicolons outside quotes.
std::vector<std::string> split_params(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted && c == '\\' && i + 1 < s.size()) {
      cur += c;
      cur += s[++i];
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (c == ';' && !quoted) {
      out.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(trim(cur));
  return out;
}

std::string unquote(const std::string& v) {
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') return v;
  std::string out;
  for (size_t i = 1; i + 1 < v.size(); ++i) {
    if (v[i] == '\\' && i + 2 < v.size()) ++i;
    out += v[i];
  }
  return out;
}

}  // namespace

std::string multipart_boundary(const std::string& content_type) {
  const auto params = split_params(content_type);
  if (params.empty() || !starts_with(lower(params[0]), "multipart/"))
    throw Error("expected a multipart Content-Type, got '" + content_type + "'");
  for (size_t i = 1; i < params.size(); ++i) {
    const size_t eq = params[i].find('=');
    if (eq == std::string::npos) continue;
    if (lower(trim(params[i].substr(0, eq))) != "boundary") continue;
    const std::string b = unquote(trim(params[i].substr(eq + 1)));
    if (b.empty() || b.size() > 200) throw Error("bad multipart boundary in '" + content_type + "'");
    return b;
  }
  throw Error("multipart Content-Type without a boundary: '" + content_type + "'");
}

MultipartParser::MultipartParser(std::string boundary, Handler handler)
    : delim_("\n--" + boundary), h_(std::move(handler)) {
  if (boundary.empty()) throw Error("empty multipart boundary");
  buf_ = "\r\n";  // the first delimiter may open the body without a line break before it
}

void MultipartParser::feed(const char* p, size_t n) {
  if (state_ == State::kEpilogue) return;
  buf_.append(p, n);
  run();
}

void MultipartParser::finish() {
  if (state_ != State::kEpilogue)
    throw Error(parts_ == 0 && state_ == State::kPreamble
                    ? "multipart body without its boundary '" + delim_.substr(3) + "'"
                    : "multipart body ends before its closing boundary '--" + delim_.substr(3) + "--' (truncated)");
}

void MultipartParser::run() {
  for (;;) {
    switch (state_) {
      case State::kPreamble: {
        const size_t at = buf_.find(delim_);
        if (at == std::string::npos) {
          if (buf_.size() > delim_.size()) buf_.erase(0, buf_.size() - delim_.size());
          return;
        }
        buf_.erase(0, at + delim_.size());
        state_ = State::kAfterDelimiter;
        break;
      }
      case State::kAfterDelimiter: {
        if (buf_.size() < 2) return;
        if (buf_[0] == '-' && buf_[1] == '-') {
          state_ = State::kEpilogue;
          buf_.clear();
          return;
        }
        // Transport padding (spaces, tabs) up to the end of the line.
        const size_t eol = buf_.find('\n');
        if (eol == std::string::npos) {
          if (buf_.size() > kMaxPreambleLine) throw Error("multipart: no line end after a boundary");
          return;
        }
        for (size_t i = 0; i < eol; ++i)
          if (buf_[i] != ' ' && buf_[i] != '\t' && buf_[i] != '\r')
            throw Error("multipart: unexpected bytes after a boundary (a part's data contains the boundary?)");
        buf_.erase(0, eol + 1);
        headers_.clear();
        state_ = State::kHeaders;
        break;
      }
      case State::kHeaders: {
        const size_t eol = buf_.find('\n');
        if (eol == std::string::npos) {
          if (buf_.size() > kMaxPartHeaderBytes) throw Error("multipart: part headers longer than 16 KiB");
          return;
        }
        std::string line = buf_.substr(0, eol);
        buf_.erase(0, eol + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) {
          ++parts_;
          if (h_.begin) h_.begin(headers_);
          state_ = State::kBody;
          break;
        }
        const size_t colon = line.find(':');
        if (colon == std::string::npos) throw Error("multipart: malformed part header '" + line.substr(0, 80) + "'");
        headers_[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
        break;
      }
      case State::kBody: {
        const size_t at = buf_.find(delim_);
        if (at == std::string::npos) {
          // Keep what could be the start of a delimiter (and the CR before it).
          const size_t keep = delim_.size() + 1;
          if (buf_.size() > keep) {
            const size_t n = buf_.size() - keep;
            if (h_.data) h_.data(buf_.data(), n);
            buf_.erase(0, n);
          }
          return;
        }
        const size_t end = (at > 0 && buf_[at - 1] == '\r') ? at - 1 : at;
        if (h_.data && end > 0) h_.data(buf_.data(), end);
        if (h_.end) h_.end();
        buf_.erase(0, at + delim_.size());
        state_ = State::kAfterDelimiter;
        break;
      }
      case State::kEpilogue:
        buf_.clear();
        return;
    }
  }
}

std::vector<MultipartPart> parse_multipart(const std::string& body, const std::string& boundary) {
  std::vector<MultipartPart> parts;
  MultipartParser::Handler h;
  h.begin = [&](const std::map<std::string, std::string>& headers) { parts.push_back({headers, {}}); };
  h.data = [&](const char* p, size_t n) { parts.back().body.append(p, n); };
  MultipartParser parser(boundary, h);
  parser.feed(body.data(), body.size());
  parser.finish();
  return parts;
}

std::string build_multipart(const std::vector<std::string>& parts, const std::string& boundary,
                            const std::string& part_type) {
  std::string out;
  size_t total = 0;
  for (const auto& p : parts) total += p.size() + boundary.size() + part_type.size() + 40;
  out.reserve(total + boundary.size() + 8);
  for (const auto& p : parts) {
    out += "--" + boundary + "\r\nContent-Type: " + part_type + "\r\n\r\n";
    out += p;
    out += "\r\n";
  }
  out += "--" + boundary + "--\r\n";
  return out;
}

}  // namespace covscreen
