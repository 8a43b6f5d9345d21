// The DICOMweb client of `covscreen pacs` on cpp-httplib's client (pacs/dicomweb.h). Only this file
// includes httplib in the pacs module.
#include "covscreen/pacs/dicomweb.h"

#include <httplib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "covscreen/core/strings.h"

namespace covscreen {
namespace {

using json = nlohmann::json;

const char* const kDicomJson = "application/dicom+json";

std::string status_text(int status) {
  static const std::map<int, const char*> kText = {{200, "OK"},
                                                   {202, "Accepted"},
                                                   {204, "No Content"},
                                                   {400, "Bad Request"},
                                                   {401, "Unauthorized"},
                                                   {403, "Forbidden"},
                                                   {404, "Not Found"},
                                                   {406, "Not Acceptable"},
                                                   {409, "Conflict"},
                                                   {413, "Payload Too Large"},
                                                   {415, "Unsupported Media Type"},
                                                   {500, "Internal Server Error"},
                                                   {501, "Not Implemented"},
                                                   {502, "Bad Gateway"},
                                                   {503, "Service Unavailable"},
                                                   {504, "Gateway Timeout"}};
  auto it = kText.find(status);
  return std::to_string(status) + (it != kText.end() ? std::string(" ") + it->second : std::string());
}

// A printable excerpt of an answer body for error messages.
std::string excerpt(const std::string& body) {
  std::string out;
  for (char c : body.substr(0, 300))
    out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : (c >= 32 && c < 127 ? c : '?');
  out = trim(out);
  if (body.size() > 300) out += "...";
  return out;
}

std::string percent_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == '~') {
      out += char(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string transport_problem(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection:
      return "cannot connect";
    case httplib::Error::ConnectionTimeout:
      return "connection timed out";
    case httplib::Error::Read:
      return "connection lost or timed out while reading the answer";
    case httplib::Error::Write:
      return "connection lost while sending the request";
    case httplib::Error::SSLConnection:
      return "TLS connection failed";
    case httplib::Error::SSLServerVerification:
      return "TLS certificate verification failed";
    default:
      return httplib::to_string(e);
  }
}

int64_t ival(const json& inst, const std::string& tag) {
  const std::string v = dicom_json_string(inst, tag);
  if (v.empty()) return -1;
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  return (*end == '\0' && n >= 0) ? n : -1;
}

std::vector<std::string> split_backslash(const std::string& s) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= s.size()) {
    const size_t end = std::min(s.find('\\', at), s.size());
    const std::string item = trim(s.substr(at, end - at));
    if (!item.empty()) out.push_back(item);
    at = end + 1;
  }
  return out;
}

// SOP Instance UIDs (0008,1155) of the items of a sequence attribute, with their FailureReason.
std::vector<std::pair<std::string, std::string>> sequence_items(const json& answer, const std::string& tag) {
  std::vector<std::pair<std::string, std::string>> out;
  auto it = answer.find(tag);
  if (it == answer.end() || !it->is_object()) return out;
  auto v = it->find("Value");
  if (v == it->end() || !v->is_array()) return out;
  for (const auto& item : *v) {
    if (!item.is_object()) continue;
    out.emplace_back(dicom_json_string(item, "00081155"), dicom_json_string(item, "00081197"));
  }
  return out;
}

std::string random_boundary() {
  std::random_device rd;
  std::mt19937_64 g((uint64_t(rd()) << 32) ^ rd());
  char buf[40];
  std::snprintf(buf, sizeof buf, "covscreen-%016llx%08llx", static_cast<unsigned long long>(g()),
                static_cast<unsigned long long>(g() & 0xffffffffu));
  return buf;
}

}  // namespace

// ---- errors and URLs ----

DicomWebError::DicomWebError(Kind kind, std::string method, std::string url, int status, const std::string& problem)
    : Error(method + " " + url + ": " + (status ? "HTTP " + status_text(status) + (problem.empty() ? "" : ": ") : "") +
            problem),
      kind_(kind),
      method_(std::move(method)),
      url_(std::move(url)),
      status_(status),
      problem_(problem) {}

bool DicomWebError::transient() const {
  return kind_ == Kind::kUnreachable || kind_ == Kind::kTruncated ||
         (kind_ == Kind::kHttp && (status_ == 502 || status_ == 503 || status_ == 504));
}

std::string BaseUrl::origin() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return scheme + "://" + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

BaseUrl parse_base_url(const std::string& url) {
  BaseUrl b;
  const size_t sep = url.find("://");
  if (sep == std::string::npos) throw UsageError("archive URL '" + url + "' needs a scheme (http:// or https://)");
  b.scheme = lower(url.substr(0, sep));
  if (b.scheme != "http" && b.scheme != "https")
    throw UsageError("archive URL '" + url + "': scheme must be http or https");
  std::string rest = url.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string::npos)
    throw UsageError("archive URL '" + url + "' must not have a query or fragment");
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  b.prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!b.prefix.empty() && b.prefix.back() == '/') b.prefix.pop_back();
  if (authority.find('@') != std::string::npos)
    throw UsageError("archive URL '" + url + "': put credentials in --token, not in the URL");
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) throw UsageError("archive URL '" + url + "': unclosed [IPv6 address]");
    b.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw UsageError("archive URL '" + url + "': bad host");
      port = authority.substr(close + 2);
    }
  } else {
    const size_t colon = authority.find(':');
    b.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (b.host.empty()) throw UsageError("archive URL '" + url + "' has no host");
  b.port = b.scheme == "https" ? 443 : 80;
  if (!port.empty()) {
    char* end = nullptr;
    const long p = std::strtol(port.c_str(), &end, 10);
    if (*end != '\0' || p < 1 || p > 65535) throw UsageError("archive URL '" + url + "': bad port '" + port + "'");
    b.port = int(p);
  }
  for (char c : b.prefix)
    if (std::isspace(static_cast<unsigned char>(c)) || c == '%')
      throw UsageError("archive URL '" + url + "': the path must not contain spaces or percent signs");
  return b;
}

// ---- the client ----

struct DicomWebClient::Impl {
  DicomWebOptions opt;
  BaseUrl base;
  std::string url;
  std::unique_ptr<httplib::Client> http;

  explicit Impl(DicomWebOptions o) : opt(std::move(o)), base(parse_base_url(opt.url)), url(base.str()) {
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
    if (base.scheme == "https") throw UsageError("https archive URLs need cpp-httplib built with OpenSSL");
#endif
    http = std::make_unique<httplib::Client>(base.origin());
    auto split = [](double s, time_t& sec, time_t& usec) {
      sec = time_t(std::max(0.0, s));
      usec = time_t((std::max(0.0, s) - double(sec)) * 1e6);
    };
    time_t sec = 0, usec = 0;
    split(opt.connect_timeout_s, sec, usec);
    http->set_connection_timeout(sec, usec);
    split(opt.read_timeout_s, sec, usec);
    http->set_read_timeout(sec, usec);
    split(opt.write_timeout_s, sec, usec);
    http->set_write_timeout(sec, usec);
    http->set_follow_location(false);  // never carry a request (or pixel data) elsewhere
    // One connection per request: archives close idle connections quickly (Orthanc after 1 s), and
    // a request on a connection the server just closed would fail as if it were unreachable.
    http->set_keep_alive(false);
    if (!opt.token.empty()) http->set_bearer_token_auth(opt.token.c_str());
  }

  std::string full(const std::string& path) const { return url + path; }

  [[noreturn]] void fail_transport(const std::string& method, const std::string& path, httplib::Error e) const {
    if (e == httplib::Error::Canceled)
      throw DicomWebError(DicomWebError::Kind::kCancelled, method, full(path), 0, "cancelled");
    throw DicomWebError(DicomWebError::Kind::kUnreachable, method, full(path), 0, transport_problem(e));
  }

  // GET of a dicom+json answer (an array, or an object for a single match).
  json get_json(const std::string& path) {
    const httplib::Headers headers = {{"Accept", kDicomJson}};
    int status = 0;
    std::string content_type, body;
    bool too_big = false;
    auto res = http->Get((base.prefix + path).c_str(), headers,
                         [&](const httplib::Response& r) {
                           status = r.status;
                           content_type = r.get_header_value("Content-Type");
                           return true;
                         },
                         [&](const char* p, size_t n) {
                           if (int64_t(body.size() + n) > opt.max_json_bytes) {
                             too_big = true;
                             return false;
                           }
                           body.append(p, n);
                           return true;
                         });
    if (too_big)
      throw DicomWebError(DicomWebError::Kind::kBadResponse, "GET", full(path), status,
                          "answer larger than " + std::to_string(opt.max_json_bytes >> 20) + " MiB");
    if (!res) fail_transport("GET", path, res.error());
    if (status == 204) return json::array();  // QIDO-RS: no match
    if (status != 200) throw DicomWebError(DicomWebError::Kind::kHttp, "GET", full(path), status, excerpt(body));
    if (trim(body).empty()) return json::array();
    try {
      return json::parse(body);
    } catch (const std::exception& e) {
      throw DicomWebError(DicomWebError::Kind::kBadResponse, "GET", full(path), status,
                          "not JSON (Content-Type '" + content_type + "'): " + e.what());
    }
  }

  json get_array(const std::string& path) {
    json j = get_json(path);
    if (j.is_object()) j = json::array({j});
    if (!j.is_array())
      throw DicomWebError(DicomWebError::Kind::kBadResponse, "GET", full(path), 200, "expected a JSON array");
    return j;
  }

  std::vector<DicomHeader> metadata(const std::string& path) {
    std::vector<DicomHeader> out;
    for (const auto& inst : get_array(path)) {
      try {
        out.push_back(header_from_dicom_json(inst));
      } catch (const DicomWebError&) {
        throw;
      } catch (const Error& e) {
        throw DicomWebError(DicomWebError::Kind::kBadResponse, "GET", full(path), 200, e.what());
      }
    }
    return out;
  }
};

DicomWebClient::DicomWebClient(DicomWebOptions opt) : impl_(std::make_unique<Impl>(std::move(opt))) {}
DicomWebClient::~DicomWebClient() = default;

const std::string& DicomWebClient::url() const { return impl_->url; }

nlohmann::json DicomWebClient::get_json(const std::string& path) { return impl_->get_json(path); }

std::vector<StudySummary> DicomWebClient::search_studies(const StudyQuery& q) {
  std::string path = "/studies?includefield=00080061&includefield=00201206&includefield=00201208";
  if (!q.date_from.empty() || !q.date_to.empty())
    path += "&StudyDate=" + percent_encode(q.date_from) + "-" + percent_encode(q.date_to);
  if (q.limit > 0) path += "&limit=" + std::to_string(q.limit);
  if (q.offset > 0) path += "&offset=" + std::to_string(q.offset);
  std::vector<StudySummary> out;
  for (const auto& m : impl_->get_array(path)) {
    StudySummary s;
    s.study_uid = dicom_json_string(m, "0020000D");
    if (s.study_uid.empty()) continue;
    s.patient_id = dicom_json_string(m, "00100020");
    s.study_date = dicom_json_string(m, "00080020");
    s.study_time = dicom_json_string(m, "00080030");
    s.accession_number = dicom_json_string(m, "00080050");
    s.study_description = dicom_json_string(m, "00081030");
    s.modalities = split_backslash(dicom_json_string(m, "00080061"));
    s.series = int(ival(m, "00201206"));
    s.instances = int(ival(m, "00201208"));
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<StudySummary> DicomWebClient::search_all_studies(const std::string& date_from, int page) {
  if (page < 1) page = 100;
  std::vector<StudySummary> out;
  std::set<std::string> seen;
  for (int offset = 0;;) {
    StudyQuery q;
    q.date_from = date_from;
    q.limit = page;
    q.offset = offset;
    const auto got = search_studies(q);
    size_t fresh = 0;
    for (const auto& s : got)
      if (seen.insert(s.study_uid).second) {
        out.push_back(s);
        ++fresh;
      }
    // An empty page ends the list; so does a page of nothing new (an archive ignoring offset). A
    // short page does not: archives cap pages below the limit asked for (e.g. at 200).
    if (got.empty() || fresh == 0) break;
    offset += int(got.size());
  }
  return out;
}

std::vector<SeriesSummary> DicomWebClient::search_series(const std::string& study_uid) {
  const std::string path = "/studies/" + percent_encode(study_uid) +
                           "/series?includefield=00080060&includefield=00200011&includefield=0008103E"
                           "&includefield=00201209";
  std::vector<SeriesSummary> out;
  for (const auto& m : impl_->get_array(path)) {
    SeriesSummary s;
    s.series_uid = dicom_json_string(m, "0020000E");
    if (s.series_uid.empty()) continue;
    s.modality = dicom_json_string(m, "00080060");
    s.number = dicom_json_string(m, "00200011");
    s.description = dicom_json_string(m, "0008103E");
    s.instances = int(ival(m, "00201209"));
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<DicomHeader> DicomWebClient::study_metadata(const std::string& study_uid) {
  return impl_->metadata("/studies/" + percent_encode(study_uid) + "/metadata");
}

std::vector<DicomHeader> DicomWebClient::series_metadata(const std::string& study_uid, const std::string& series_uid) {
  return impl_->metadata("/studies/" + percent_encode(study_uid) + "/series/" + percent_encode(series_uid) +
                         "/metadata");
}

std::vector<std::string> DicomWebClient::retrieve_series(const std::string& study_uid, const std::string& series_uid,
                                                         const std::string& dir) {
  auto& I = *impl_;
  const std::string path = "/studies/" + percent_encode(study_uid) + "/series/" + percent_encode(series_uid);
  const httplib::Headers headers = {{"Accept", "multipart/related; type=\"application/dicom\""}};
  int status = 0;
  std::string content_type, error_body, problem;
  std::unique_ptr<MultipartParser> parser;
  std::vector<std::string> files;
  std::ofstream out;
  int64_t total = 0;
  std::filesystem::create_directories(dir);

  MultipartParser::Handler h;
  h.begin = [&](const std::map<std::string, std::string>& part) {
    auto ct = part.find("content-type");
    if (ct != part.end() && !starts_with(lower(ct->second), "application/dicom"))
      throw Error("a part of type '" + ct->second + "', not application/dicom");
    char name[32];
    std::snprintf(name, sizeof name, "%05zu.dcm", files.size() + 1);
    files.push_back((std::filesystem::path(dir) / name).string());
    out.open(files.back(), std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot write " + files.back());
  };
  h.data = [&](const char* p, size_t n) {
    out.write(p, std::streamsize(n));
    if (!out) throw Error("cannot write " + files.back() + " (disk full?)");
  };
  h.end = [&] {
    out.close();
    if (!out) throw Error("cannot write " + files.back());
  };

  auto res = I.http->Get((I.base.prefix + path).c_str(), headers,
                         [&](const httplib::Response& r) {
                           status = r.status;
                           content_type = r.get_header_value("Content-Type");
                           if (status == 200) {
                             try {
                               parser = std::make_unique<MultipartParser>(multipart_boundary(content_type), h);
                             } catch (const Error& e) {
                               problem = e.what();
                               return false;
                             }
                           }
                           return true;
                         },
                         [&](const char* p, size_t n) {
                           if (I.opt.cancelled && I.opt.cancelled()) return false;
                           if (!parser) {  // an error answer: keep its start for the message
                             if (error_body.size() < 4096) error_body.append(p, std::min<size_t>(n, 4096));
                             return true;
                           }
                           total += int64_t(n);
                           if (total > I.opt.max_retrieve_bytes) {
                             problem = "series larger than " + std::to_string(I.opt.max_retrieve_bytes >> 20) + " MiB";
                             return false;
                           }
                           try {
                             parser->feed(p, n);
                           } catch (const Error& e) {
                             problem = e.what();
                             return false;
                           }
                           return true;
                         });
  if (out.is_open()) out.close();
  if (!problem.empty()) throw DicomWebError(DicomWebError::Kind::kBadResponse, "GET", I.full(path), status, problem);
  if (!res) I.fail_transport("GET", path, res.error());
  if (status != 200) throw DicomWebError(DicomWebError::Kind::kHttp, "GET", I.full(path), status, excerpt(error_body));
  try {
    parser->finish();
  } catch (const Error& e) {
    // Orthanc (and others) send series without a Content-Length and end them by closing the
    // connection: a body cut short is what an archive going down mid-transfer looks like.
    throw DicomWebError(DicomWebError::Kind::kTruncated, "GET", I.full(path), status,
                        std::string("the connection ended early: ") + e.what());
  }
  if (files.empty())
    throw DicomWebError(DicomWebError::Kind::kBadResponse, "GET", I.full(path), status, "no instance in the answer");
  return files;
}

StowResult DicomWebClient::store(const std::vector<std::string>& files, const std::string& study_uid) {
  auto& I = *impl_;
  const std::string path = study_uid.empty() ? "/studies" : "/studies/" + percent_encode(study_uid);
  if (files.empty()) throw Error("STOW-RS: nothing to store");
  std::vector<std::string> sent;
  for (size_t k = 0; k < files.size(); ++k)
    sent.push_back(parse_dicom_header(files[k], "STOW-RS part " + std::to_string(k + 1)).sop_instance_uid);
  std::string boundary = random_boundary();
  for (bool clash = true; clash;) {
    clash = false;
    for (const auto& f : files) clash = clash || f.find(boundary) != std::string::npos;
    if (clash) boundary = random_boundary();
  }
  const std::string body = build_multipart(files, boundary);
  const httplib::Headers headers = {{"Accept", kDicomJson}};
  auto res = I.http->Post((I.base.prefix + path).c_str(), headers, body,
                          "multipart/related; type=\"application/dicom\"; boundary=" + boundary);
  if (!res) I.fail_transport("POST", path, res.error());
  StowResult r;
  r.status = res->status;
  json answer;
  if (!trim(res->body).empty()) {
    try {
      answer = json::parse(res->body);
    } catch (const std::exception&) {
      answer = json();
    }
  }
  if (answer.is_array() && answer.size() == 1) answer = answer[0];
  if (answer.is_object()) {
    for (const auto& [uid, reason] : sequence_items(answer, "00081199")) r.stored.push_back(uid);
    for (const auto& [uid, reason] : sequence_items(answer, "00081198"))
      r.failed.push_back(uid + (reason.empty() ? "" : " (failure reason " + reason + ")"));
  }
  if (r.status != 200 && r.status != 202 && r.failed.empty())
    throw DicomWebError(DicomWebError::Kind::kHttp, "POST", I.full(path), r.status, excerpt(res->body));
  if (answer.is_object() && r.failed.empty()) {
    // Every instance we sent must be accounted for when the archive lists what it stored.
    for (const auto& uid : sent)
      if (std::find(r.stored.begin(), r.stored.end(), uid) == r.stored.end() && answer.contains("00081199"))
        r.failed.push_back(uid + " (not in ReferencedSOPSequence)");
  }
  if (!r.failed.empty())
    throw DicomWebError(DicomWebError::Kind::kStoreFailed, "POST", I.full(path), r.status,
                        "the archive did not store " + join(r.failed, ", "));
  return r;
}

}  // namespace covscreen
