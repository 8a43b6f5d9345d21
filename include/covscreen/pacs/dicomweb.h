#pragma once
// A DICOMweb client (PS3.18) for `covscreen pacs`: QIDO-RS searches, WADO-RS metadata and series
// retrieval, STOW-RS storage. Plain DICOMweb only, no vendor REST API, so any archive that speaks
// it works (tested against Orthanc with its DICOMweb plugin, tests/pacs_*_test.cpp).
//
//   covscreen::DicomWebClient pacs({"http://127.0.0.1:8042/dicom-web", "token"});
//   for (const auto& st : pacs.search_all_studies("20240101"))                     // QIDO-RS
//     for (const auto& h : pacs.study_metadata(st.study_uid)) ...                  // WADO-RS metadata
//   auto files = pacs.retrieve_series(study_uid, series_uid, "/tmp/dir");          // WADO-RS
//   pacs.store({sr_bytes, sc_bytes});                                              // STOW-RS
//
// Every request goes to the base URL given here (its path prefix kept), never to a URL taken from
// a response (RetrieveURL, redirects): pixel data is only ever sent back to the same archive.
// Errors are DicomWebError: they name the method, the URL and the HTTP status, and say whether the
// archive could not be reached at all (transient(): the caller retries with backoff).
//
// The parsers are free functions, tested on their own: parse_multipart / MultipartParser
// (multipart/related, RFC 2046: quoted boundaries, preambles, binary parts), multipart_boundary
// (from a Content-Type), header_from_dicom_json (application/dicom+json, PS3.18 F.2).
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/core/error.h"
#include "covscreen/io/dicom_header.h"

namespace covscreen {

class DicomWebError : public Error {
 public:
  enum class Kind {
    kUnreachable,  // no HTTP answer: connection refused/reset, timeout, TLS failure
    kHttp,         // an HTTP answer with an unexpected status
    kBadResponse,  // a 2xx answer whose body could not be understood
    kTruncated,    // the connection ended before the answer did (an archive going down mid-transfer)
    kStoreFailed,  // STOW-RS: the archive refused some instances (FailedSOPSequence)
    kCancelled,    // DicomWebOptions::cancelled said stop
  };
  DicomWebError(Kind kind, std::string method, std::string url, int status, const std::string& problem);
  Kind kind() const { return kind_; }
  const std::string& url() const { return url_; }
  int status() const { return status_; }  // 0 without an HTTP answer
  const std::string& problem() const { return problem_; }
  // Worth retrying later with backoff: unreachable, truncated, or 502/503/504 (a proxy or an
  // overloaded archive).
  bool transient() const;

 private:
  Kind kind_;
  std::string method_, url_;
  int status_;
  std::string problem_;
};

struct DicomWebOptions {
  std::string url;    // http[s]://host[:port][/prefix], e.g. http://127.0.0.1:8042/dicom-web
  std::string token;  // non-empty: "Authorization: Bearer <token>" on every request
  double connect_timeout_s = 10;
  double read_timeout_s = 300;  // between two reads of an answer (not the whole transfer)
  double write_timeout_s = 300;
  int64_t max_retrieve_bytes = int64_t(16) << 30;  // one series retrieval, all parts together
  int64_t max_json_bytes = int64_t(512) << 20;     // one QIDO / metadata / STOW answer
  // Polled during retrievals: true aborts the transfer (DicomWebError kCancelled).
  std::function<bool()> cancelled;
};

// A QIDO-RS study match.
struct StudySummary {
  std::string study_uid, patient_id, study_date, study_time, accession_number, study_description;
  std::vector<std::string> modalities;  // ModalitiesInStudy (0008,0061)
  int series = -1, instances = -1;      // NumberOfStudyRelated{Series,Instances}; -1: not given
};

// A QIDO-RS series match.
struct SeriesSummary {
  std::string series_uid, modality, number, description;
  int instances = -1;  // NumberOfSeriesRelatedInstances; -1: not given
};

struct StudyQuery {
  std::string date_from, date_to;  // YYYYMMDD, inclusive; empty: open (StudyDate=from-to)
  int limit = 0, offset = 0;       // 0 limit: the archive's default
};

// What the archive said to a STOW-RS request.
struct StowResult {
  int status = 0;                   // 200 (or 202 when failures were allowed)
  std::vector<std::string> stored;  // SOP Instance UIDs in ReferencedSOPSequence
  std::vector<std::string> failed;  // "uid (reason)" from FailedSOPSequence
};

// Parses and checks a base URL: scheme http or https, a host, an optional port, an optional path
// prefix. Throws UsageError naming the URL.
struct BaseUrl {
  std::string scheme, host;
  int port = 0;
  std::string prefix;          // "" or "/dicom-web" (no trailing slash)
  std::string origin() const;  // scheme://host:port
  std::string str() const { return origin() + prefix; }
};
BaseUrl parse_base_url(const std::string& url);

class DicomWebClient {
 public:
  explicit DicomWebClient(DicomWebOptions opt);
  ~DicomWebClient();
  DicomWebClient(const DicomWebClient&) = delete;
  DicomWebClient& operator=(const DicomWebClient&) = delete;

  const std::string& url() const;  // the base URL, normalized

  // QIDO-RS GET {base}/studies: one page.
  std::vector<StudySummary> search_studies(const StudyQuery& q);
  // Every matching study, page by page (`page` per request) until a short page; duplicates dropped.
  std::vector<StudySummary> search_all_studies(const std::string& date_from = "", int page = 100);
  // QIDO-RS GET {base}/studies/{study}/series.
  std::vector<SeriesSummary> search_series(const std::string& study_uid);
  // WADO-RS GET {base}/studies/{study}[/series/{series}]/metadata: one header per instance (path empty).
  std::vector<DicomHeader> study_metadata(const std::string& study_uid);
  std::vector<DicomHeader> series_metadata(const std::string& study_uid, const std::string& series_uid);
  // The raw dicom+json of any GET below the base URL (tests read SRs back with it).
  nlohmann::json get_json(const std::string& path);
  // WADO-RS GET {base}/studies/{study}/series/{series} (multipart/related; type="application/dicom"),
  // streamed into `dir` as 00001.dcm, 00002.dcm, ... Returns the paths. Throws DicomWebError (files
  // already written stay; the caller owns `dir`).
  std::vector<std::string> retrieve_series(const std::string& study_uid, const std::string& series_uid,
                                           const std::string& dir);
  // STOW-RS POST {base}/studies (or {base}/studies/{study} when study_uid is given) of DICOM Part 10
  // files. Succeeds when the answer is 200 (or 202) and no instance is in FailedSOPSequence
  // (0008,1198) and each sent instance is in ReferencedSOPSequence (0008,1199) when the archive sends
  // one; otherwise throws DicomWebError kStoreFailed listing the failed SOP Instance UIDs and reasons.
  StowResult store(const std::vector<std::string>& part10_files, const std::string& study_uid = "");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- parsers (no network) ----

// The boundary parameter of a multipart Content-Type (quoted or not, any parameter order).
// Throws Error when the type is not multipart/* or has no boundary.
std::string multipart_boundary(const std::string& content_type);

// A streaming multipart parser: feed() the body in chunks of any size; the handler sees each part's
// headers (names lower-cased), its bytes (possibly in several calls) and its end. Accepts a preamble
// and an epilogue, CRLF or bare LF line ends around delimiters, transport padding after a boundary,
// and binary parts with any bytes (CRLF included) that do not form "CRLF--boundary".
class MultipartParser {
 public:
  struct Handler {
    std::function<void(const std::map<std::string, std::string>& headers)> begin;
    std::function<void(const char* data, size_t n)> data;
    std::function<void()> end;
  };
  MultipartParser(std::string boundary, Handler handler);
  void feed(const char* p, size_t n);  // throws Error on a malformed body
  void finish();                       // throws Error when the closing delimiter was not seen
  size_t parts() const { return parts_; }

 private:
  enum class State { kPreamble, kAfterDelimiter, kHeaders, kBody, kEpilogue };
  void run();
  std::string delim_;  // "\n--" + boundary
  Handler h_;
  State state_ = State::kPreamble;
  std::string buf_;
  std::map<std::string, std::string> headers_;
  size_t parts_ = 0;
};

struct MultipartPart {
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};
std::vector<MultipartPart> parse_multipart(const std::string& body, const std::string& boundary);
// A multipart/related body of `parts`, each with "Content-Type: <part_type>".
std::string build_multipart(const std::vector<std::string>& parts, const std::string& boundary,
                            const std::string& part_type = "application/dicom");

// One instance of application/dicom+json (an object keyed by "GGGGEEEE") -> the attributes
// read_dicom_header reads (io/dicom_header.h): strings joined by '\' as in Part 10, person names
// in their Alphabetic form, numbers written back as text. Throws Error when the object has no SOP
// Instance UID, Study Instance UID or Series Instance UID.
DicomHeader header_from_dicom_json(const nlohmann::json& instance);
// The string value of an attribute ("" when absent or empty); multiple values joined by '\'.
std::string dicom_json_string(const nlohmann::json& instance, const std::string& tag);

}  // namespace covscreen
