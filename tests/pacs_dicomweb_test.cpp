// The DICOMweb client of `covscreen pacs` (pacs/dicomweb.h):
//   - the multipart/related parser (quoted boundaries, preambles, bare LF, binary parts with CRLF and
//     near-boundaries inside, any chunking) and writer;
//   - application/dicom+json -> DicomHeader, by hand and against read_dicom_header() on the same files
//     as a real PACS (Orthanc) describes them;
//   - the client against an in-process fake archive (bearer token, path prefix, paging, HTTP errors,
//     unreachable, STOW-RS failure answers, cancelling) and against Orthanc (STOW-RS, QIDO-RS with a
//     date range and paging, WADO-RS metadata and retrieval, and what Orthanc does when the same SOP
//     Instance UID is stored twice).
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "covscreen/core/container.h"
#include "covscreen/io/dicom_header.h"
#include "covscreen/io/dicom_results.h"
#include "covscreen/pacs/dicomweb.h"
#include "orthanc_fixture.h"
#include "test_util.h"

namespace covscreen {
namespace {

using json = nlohmann::json;
using test::Orthanc;
using test::OrthancTest;
using test::TempDir;

// ---------------------------------------------------------------- multipart

std::string all_bytes() {
  std::string s;
  for (int i = 0; i < 256; ++i) s += char(i);
  return s;
}

// Feeds `body` in chunks of `chunk` bytes (0: at once).
std::vector<MultipartPart> parse_chunked(const std::string& body, const std::string& boundary, size_t chunk) {
  std::vector<MultipartPart> parts;
  MultipartParser::Handler h;
  h.begin = [&](const std::map<std::string, std::string>& headers) { parts.push_back({headers, {}}); };
  h.data = [&](const char* p, size_t n) { parts.back().body.append(p, n); };
  MultipartParser parser(boundary, h);
  if (chunk == 0) chunk = body.size() + 1;
  for (size_t at = 0; at < body.size(); at += chunk) parser.feed(body.data() + at, std::min(chunk, body.size() - at));
  parser.finish();
  return parts;
}

TEST(Multipart, BoundaryFromContentType) {
  EXPECT_EQ(multipart_boundary("multipart/related; type=\"application/dicom\"; boundary=abc-123"), "abc-123");
  EXPECT_EQ(multipart_boundary("multipart/related; boundary=\"a;b c\"; type=\"application/dicom\""), "a;b c");
  EXPECT_EQ(multipart_boundary("Multipart/Related;Boundary=xyz"), "xyz");
  EXPECT_EQ(multipart_boundary("multipart/related; type=\"application/dicom\"; boundary=\"q\\\"uote\""), "q\"uote");
  EXPECT_THROW(multipart_boundary("application/dicom+json"), Error);
  EXPECT_THROW(multipart_boundary("multipart/related; type=\"application/dicom\""), Error);
  EXPECT_THROW(multipart_boundary("multipart/related; boundary=\"\""), Error);
}

TEST(Multipart, PreambleBinaryPartsAndEveryChunking) {
  const std::string b = "08c92a87-9412-41cb";
  // Binary payloads holding CRLF, "--", a boundary without its CRLF, a CR right before the
  // delimiter's CRLF, NUL bytes and every byte value.
  const std::vector<std::string> payloads = {
      "DICM\r\n\r\n--" + b.substr(0, 10) + "\r\n-" + all_bytes() + std::string("\0\0\r\n", 4),
      "--" + b + " is not a delimiter without CRLF before it\r", "",
      all_bytes() + "\n-" + "\r\n--" + b.substr(0, b.size() - 1) + "X"};
  std::string body = "This is a preamble.\r\nIt may mention --" + b.substr(0, 5) + ".\r\n";
  for (size_t i = 0; i < payloads.size(); ++i)
    body += "--" + b + (i == 1 ? "  \t" : "") +
            "\r\nContent-Type: application/dicom\r\nContent-Length:  " + std::to_string(payloads[i].size()) +
            "\r\nX-Part: " + std::to_string(i) + "\r\n\r\n" + payloads[i] + "\r\n";
  body += "--" + b + "--\r\nepilogue, ignored\r\n--" + b + "\r\n";
  for (size_t chunk : {size_t(0), size_t(1), size_t(2), size_t(3), size_t(7), size_t(19), size_t(64)}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    const auto parts = parse_chunked(body, b, chunk);
    ASSERT_EQ(parts.size(), payloads.size());
    for (size_t i = 0; i < payloads.size(); ++i) {
      EXPECT_EQ(parts[i].body, payloads[i]) << "part " << i;
      EXPECT_EQ(parts[i].headers.at("content-type"), "application/dicom");
      EXPECT_EQ(parts[i].headers.at("x-part"), std::to_string(i));
      EXPECT_EQ(parts[i].headers.at("content-length"), std::to_string(payloads[i].size()));
    }
  }
}

TEST(Multipart, NoPreambleBareLfAndRoundTrip) {
  // The first delimiter opens the body; lines end in bare LF.
  const std::string lf = "--B\nContent-Type: application/dicom\n\nfirst\n--B\n\nsecond\r\n--B--";
  auto parts = parse_multipart(lf, "B");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].body, "first");
  EXPECT_EQ(parts[1].body, "second");
  EXPECT_TRUE(parts[1].headers.empty());

  const std::vector<std::string> payloads = {all_bytes(), "\r\n", std::string(100000, '\r')};
  const std::string built = build_multipart(payloads, "covscreen-xyz");
  parts = parse_chunked(built, "covscreen-xyz", 4096);
  ASSERT_EQ(parts.size(), payloads.size());
  for (size_t i = 0; i < payloads.size(); ++i) EXPECT_EQ(parts[i].body, payloads[i]);
}

TEST(Multipart, MalformedBodiesAreRefused) {
  // Truncated: no closing delimiter.
  EXPECT_THROW(parse_multipart("--B\r\nContent-Type: application/dicom\r\n\r\npartial data", "B"), Error);
  // No boundary at all.
  EXPECT_THROW(parse_multipart("just some bytes", "B"), Error);
  // A header line without a colon.
  EXPECT_THROW(parse_multipart("--B\r\nnot a header\r\n\r\nx\r\n--B--\r\n", "B"), Error);
  // The boundary inside a part (followed by other bytes): the body is ambiguous.
  EXPECT_THROW(parse_multipart("--B\r\n\r\nx\r\n--Bogus\r\n--B--\r\n", "B"), Error);
  // Endless part headers.
  EXPECT_THROW(parse_multipart("--B\r\nX: " + std::string(20000, 'a'), "B"), Error);
}

// ---------------------------------------------------------------- dicom+json

TEST(DicomJson, AttributesAsReadDicomHeaderReadsThem) {
  const json inst = json::parse(R"({
    "00080005": {"vr": "CS", "Value": ["ISO_IR 100"]},
    "00080008": {"vr": "CS", "Value": ["ORIGINAL", "PRIMARY", "AXIAL"]},
    "00080016": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.2"]},
    "00080018": {"vr": "UI", "Value": ["1.2.3.4.5"]},
    "00080020": {"vr": "DA", "Value": ["20200305"]},
    "00080050": {"vr": "SH"},
    "00080060": {"vr": "CS", "Value": ["CT"]},
    "00080090": {"vr": "PN", "Value": [{"Alphabetic": "House^Gregory"}]},
    "0008103e": {"vr": "LO", "Value": ["Thorax 2.0"]},
    "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎"}]},
    "00100020": {"vr": "LO", "Value": ["PID-1"]},
    "00180050": {"vr": "DS", "Value": [2]},
    "00185101": {"vr": "CS", "Value": ["PA"]},
    "0020000D": {"vr": "UI", "Value": ["1.2.3"]},
    "0020000E": {"vr": "UI", "Value": ["1.2.3.4"]},
    "00200011": {"vr": "IS", "Value": [4]},
    "00200013": {"vr": "IS", "Value": ["17"]},
    "00200032": {"vr": "DS", "Value": [-172.1259765625, "-328.125", -52.1]},
    "00200037": {"vr": "DS", "Value": [1, 0, 0, 0, 1, 0]},
    "00280008": {"vr": "IS", "Value": ["3"]},
    "00280010": {"vr": "US", "Value": [512]},
    "00280011": {"vr": "US", "Value": [384]},
    "7FE00010": {"vr": "OW", "BulkDataURI": "http://x/bulk"}
  })");
  const DicomHeader h = header_from_dicom_json(inst);
  EXPECT_EQ(h.specific_character_set, "ISO_IR 100");
  EXPECT_EQ(h.image_type, "ORIGINAL\\PRIMARY\\AXIAL");
  EXPECT_EQ(h.sop_class_uid, "1.2.840.10008.5.1.4.1.1.2");
  EXPECT_EQ(h.sop_instance_uid, "1.2.3.4.5");
  EXPECT_EQ(h.study_date, "20200305");
  EXPECT_EQ(h.accession_number, "");
  EXPECT_EQ(h.modality, "CT");
  EXPECT_EQ(h.referring_physician, "House^Gregory");
  EXPECT_EQ(h.series_description, "Thorax 2.0");  // a lower-case key
  EXPECT_EQ(h.patient_name, "Yamada^Tarou=山田^太郎");
  EXPECT_EQ(h.patient_id, "PID-1");
  EXPECT_DOUBLE_EQ(h.slice_thickness, 2.0);
  EXPECT_EQ(h.view_position, "PA");
  EXPECT_EQ(h.study_uid, "1.2.3");
  EXPECT_EQ(h.series_uid, "1.2.3.4");
  EXPECT_EQ(h.series_number, "4");
  EXPECT_EQ(h.instance_number, "17");
  ASSERT_TRUE(h.has_position);
  EXPECT_DOUBLE_EQ(h.position[0], -172.1259765625);
  EXPECT_DOUBLE_EQ(h.position[1], -328.125);
  EXPECT_DOUBLE_EQ(h.position[2], -52.1);
  ASSERT_TRUE(h.has_orientation);
  EXPECT_DOUBLE_EQ(h.orientation[4], 1.0);
  EXPECT_EQ(h.frames, 3);
  EXPECT_EQ(h.rows, 512);
  EXPECT_EQ(h.cols, 384);

  json bad = inst;
  bad["00200037"]["Value"] = {1, 0, 0};  // three of six values
  EXPECT_FALSE(header_from_dicom_json(bad).has_orientation);
  for (const char* uid : {"00080018", "0020000D", "0020000E"}) {
    json missing = inst;
    missing.erase(uid);
    EXPECT_THROW(header_from_dicom_json(missing), Error) << uid;
  }
  EXPECT_THROW(header_from_dicom_json(json::array()), Error);
}

// ---------------------------------------------------------------- URLs

TEST(BaseUrl, ParsedAndChecked) {
  auto b = parse_base_url("http://127.0.0.1:8042/dicom-web/");
  EXPECT_EQ(b.origin(), "http://127.0.0.1:8042");
  EXPECT_EQ(b.prefix, "/dicom-web");
  EXPECT_EQ(b.str(), "http://127.0.0.1:8042/dicom-web");
  EXPECT_EQ(parse_base_url("https://pacs.example.org/wado/rs").origin(), "https://pacs.example.org:443");
  EXPECT_EQ(parse_base_url("HTTP://pacs").str(), "http://pacs:80");
  EXPECT_EQ(parse_base_url("http://[::1]:8042/dw").origin(), "http://[::1]:8042");
  for (const char* bad : {"127.0.0.1:8042", "ftp://pacs/", "http:///dicom-web", "http://user:pw@pacs/",
                          "http://pacs:99999/", "http://pacs:80x/", "http://pacs/dw?x=1"})
    EXPECT_THROW(parse_base_url(bad), UsageError) << bad;
}

// ---------------------------------------------------------------- a fake archive

// An in-process HTTP server on 127.0.0.1 with handlers set by the test.
class FakeArchive {
 public:
  FakeArchive() {
    port_ = http.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { http.listen_after_bind(); });
    while (!http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~FakeArchive() {
    http.stop();
    thread_.join();
  }
  std::string url(const std::string& prefix = "/dicom-web") const {
    return "http://127.0.0.1:" + std::to_string(port_) + prefix;
  }
  httplib::Server http;

 private:
  int port_ = 0;
  std::thread thread_;
};

json study_match(const std::string& uid, const std::string& date) {
  return {{"0020000D", {{"vr", "UI"}, {"Value", {uid}}}},
          {"00080020", {{"vr", "DA"}, {"Value", {date}}}},
          {"00080061", {{"vr", "CS"}, {"Value", {"CT", "SR"}}}},
          {"00100020", {{"vr", "LO"}, {"Value", {"P-" + uid}}}},
          {"00201208", {{"vr", "IS"}, {"Value", {12}}}}};
}

TEST(DicomWebClient, TokenPrefixQueryAndPaging) {
  FakeArchive fake;
  std::vector<std::string> seen_queries;
  std::atomic<int> unauthorized{0}, cap{1000};  // cap: the archive's own page limit
  fake.http.Get("/pacs/dw/studies", [&](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") != "Bearer s3cret" ||
        req.get_header_value("Accept") != "application/dicom+json") {
      ++unauthorized;
      res.status = 401;
      return;
    }
    seen_queries.push_back(req.get_param_value("StudyDate") + "|" + req.get_param_value("limit") + "|" +
                           req.get_param_value("offset"));
    const int limit = std::min(cap.load(), std::stoi(req.get_param_value("limit"))),
              offset = req.has_param("offset") ? std::stoi(req.get_param_value("offset")) : 0;
    json out = json::array();
    for (int i = offset; i < std::min(5, offset + limit); ++i)
      out.push_back(study_match("1.2." + std::to_string(i), "2024010" + std::to_string(i)));
    res.set_content(out.dump(), "application/dicom+json");
  });
  DicomWebClient c({fake.url("/pacs/dw/"), "s3cret"});
  EXPECT_EQ(c.url(), fake.url("/pacs/dw"));
  const auto all = c.search_all_studies("20240101", 2);
  EXPECT_EQ(unauthorized.load(), 0);
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[3].study_uid, "1.2.3");
  EXPECT_EQ(all[3].study_date, "20240103");
  EXPECT_EQ(all[3].patient_id, "P-1.2.3");
  EXPECT_EQ(all[3].modalities, (std::vector<std::string>{"CT", "SR"}));
  EXPECT_EQ(all[3].instances, 12);
  // A short page is not the end (archives cap their pages): only an empty page is.
  EXPECT_EQ(seen_queries,
            (std::vector<std::string>{"20240101-|2|", "20240101-|2|2", "20240101-|2|4", "20240101-|2|5"}));
  // An archive that caps pages at 2 when asked for 4 still gives every study.
  cap = 2;
  seen_queries.clear();
  EXPECT_EQ(c.search_all_studies("20240101", 4).size(), 5u);
  EXPECT_EQ(seen_queries,
            (std::vector<std::string>{"20240101-|4|", "20240101-|4|2", "20240101-|4|4", "20240101-|4|5"}));
}

TEST(DicomWebClient, ErrorsNameUrlAndStatus) {
  FakeArchive fake;
  fake.http.Get("/dicom-web/studies/1.2.3/series", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content("{\"error\": \"no such study\"}", "application/json");
  });
  fake.http.Get("/dicom-web/studies/1.2.4/series",
                [](const httplib::Request&, httplib::Response& res) { res.status = 503; });
  fake.http.Get("/dicom-web/studies/1.2.5/series", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("this is not json", "application/dicom+json");
  });
  DicomWebClient c({fake.url()});
  try {
    c.search_series("1.2.3");
    FAIL() << "no error";
  } catch (const DicomWebError& e) {
    EXPECT_EQ(e.kind(), DicomWebError::Kind::kHttp);
    EXPECT_EQ(e.status(), 404);
    EXPECT_FALSE(e.transient());
    const std::string what = e.what();
    EXPECT_NE(what.find("GET " + fake.url() + "/studies/1.2.3/series"), std::string::npos) << what;
    EXPECT_NE(what.find("HTTP 404 Not Found"), std::string::npos) << what;
    EXPECT_NE(what.find("no such study"), std::string::npos) << what;
  }
  try {
    c.search_series("1.2.4");
    FAIL() << "no error";
  } catch (const DicomWebError& e) {
    EXPECT_EQ(e.status(), 503);
    EXPECT_TRUE(e.transient());
  }
  try {
    c.search_series("1.2.5");
    FAIL() << "no error";
  } catch (const DicomWebError& e) {
    EXPECT_EQ(e.kind(), DicomWebError::Kind::kBadResponse);
    EXPECT_FALSE(e.transient());
  }
  // Nothing listens on this port: unreachable, which the monitor retries with backoff.
  const int port = test::free_port();
  DicomWebClient down({"http://127.0.0.1:" + std::to_string(port) + "/dicom-web"});
  try {
    down.search_all_studies();
    FAIL() << "no error";
  } catch (const DicomWebError& e) {
    EXPECT_EQ(e.kind(), DicomWebError::Kind::kUnreachable);
    EXPECT_TRUE(e.transient());
    EXPECT_EQ(e.status(), 0);
    EXPECT_NE(std::string(e.what()).find("http://127.0.0.1:" + std::to_string(port) + "/dicom-web/studies"),
              std::string::npos)
        << e.what();
  }
}

TEST(DicomWebClient, RetrievesMultipartIntoFilesAndCancels) {
  FakeArchive fake;
  const std::vector<std::string> payloads = {"DICM\r\n--not-it\r\n" + all_bytes(), std::string(300000, '\n'),
                                             all_bytes() + "\r\n"};
  std::string accept;
  fake.http.Get("/dicom-web/studies/1.2/series/1.2.3", [&](const httplib::Request& req, httplib::Response& res) {
    accept = req.get_header_value("Accept");
    const std::string body = "preamble\r\n" + build_multipart(payloads, "b:o=u;nd");
    res.set_content(body, "multipart/related; type=\"application/dicom\"; boundary=\"b:o=u;nd\"");
  });
  fake.http.Get("/dicom-web/studies/1.2/series/1.2.4", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content("--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n--x--\r\n", "multipart/related; boundary=x");
  });
  fake.http.Get("/dicom-web/studies/1.2/series/1.2.5", [&](const httplib::Request&, httplib::Response& res) {
    const std::string body = build_multipart(payloads, "cut");
    res.set_content(body.substr(0, body.size() - 20), "multipart/related; type=\"application/dicom\"; boundary=cut");
  });
  TempDir dir;
  DicomWebClient c({fake.url()});
  const auto files = c.retrieve_series("1.2", "1.2.3", dir.file("series"));
  EXPECT_EQ(accept, "multipart/related; type=\"application/dicom\"");
  ASSERT_EQ(files.size(), payloads.size());
  for (size_t i = 0; i < files.size(); ++i) EXPECT_EQ(read_file(files[i]), payloads[i]) << files[i];
  // A part that is not DICOM.
  EXPECT_THROW(c.retrieve_series("1.2", "1.2.4", dir.file("other")), DicomWebError);
  // A body cut short (an archive going down mid-transfer): transient, retried by the monitor.
  try {
    c.retrieve_series("1.2", "1.2.5", dir.file("cut"));
    FAIL() << "no error";
  } catch (const DicomWebError& e) {
    EXPECT_EQ(e.kind(), DicomWebError::Kind::kTruncated) << e.what();
    EXPECT_TRUE(e.transient());
  }

  DicomWebOptions o{fake.url()};
  o.cancelled = [] { return true; };
  DicomWebClient cancelled(o);
  try {
    cancelled.retrieve_series("1.2", "1.2.3", dir.file("cancelled"));
    FAIL() << "not cancelled";
  } catch (const DicomWebError& e) {
    EXPECT_EQ(e.kind(), DicomWebError::Kind::kCancelled);
  }
}

TEST(DicomWebClient, StowChecksTheAnswer) {
  const std::string file = std::string(COVSCREEN_SOURCE_DIR) + "/examples/dicom/ct-nolabel-1.dcm";
  const std::string bytes = read_file(file);
  const std::string sop = read_dicom_header(file).sop_instance_uid;
  auto sequence = [](const std::string& uid, int reason) {
    json item = {{"00081150", {{"vr", "UI"}, {"Value", {"1.2.840.10008.5.1.4.1.1.2"}}}},
                 {"00081155", {{"vr", "UI"}, {"Value", {uid}}}}};
    if (reason) item["00081197"] = {{"vr", "US"}, {"Value", {reason}}};
    return json{{"vr", "SQ"}, {"Value", {item}}};
  };
  FakeArchive fake;
  int status = 200;
  json answer;
  std::string content_type, body;
  fake.http.Post("/dicom-web/studies", [&](const httplib::Request& req, httplib::Response& res) {
    content_type = req.get_header_value("Content-Type");
    body = req.body;
    res.status = status;
    res.set_content(answer.dump(), "application/dicom+json");
  });
  DicomWebClient c({fake.url()});

  answer = {{"00081199", sequence(sop, 0)}};
  const StowResult ok = c.store({bytes});
  EXPECT_EQ(ok.stored, std::vector<std::string>{sop});
  const auto parts = parse_multipart(body, multipart_boundary(content_type));
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].body, bytes);
  EXPECT_EQ(parts[0].headers.at("content-type"), "application/dicom");
  EXPECT_EQ(content_type.rfind("multipart/related; type=\"application/dicom\"; boundary=", 0), 0u) << content_type;

  // 409: every instance failed, with a reason (0xA700: out of resources).
  status = 409;
  answer = {{"00081198", sequence(sop, 0xA700)}};
  try {
    c.store({bytes});
    FAIL() << "no error";
  } catch (const DicomWebError& e) {
    EXPECT_EQ(e.kind(), DicomWebError::Kind::kStoreFailed);
    EXPECT_NE(std::string(e.what()).find(sop + " (failure reason 42752)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("HTTP 409"), std::string::npos) << e.what();
  }
  // 200 but the instance missing from ReferencedSOPSequence.
  status = 200;
  answer = {{"00081199", sequence("1.2.3.999", 0)}};
  EXPECT_THROW(c.store({bytes}), DicomWebError);
  // 500 without a DICOM answer.
  status = 500;
  answer = {{"error", "disk full"}};
  try {
    c.store({bytes});
    FAIL() << "no error";
  } catch (const DicomWebError& e) {
    EXPECT_EQ(e.kind(), DicomWebError::Kind::kHttp);
    EXPECT_NE(std::string(e.what()).find("POST " + fake.url() + "/studies: HTTP 500"), std::string::npos) << e.what();
  }
  EXPECT_THROW(c.store({"not a DICOM file"}), Error);
}

// ---------------------------------------------------------------- a real PACS

#define REQUIRE_STUDIES(var)                           \
  const test::PacsStudies& var = test::pacs_studies(); \
  if (!var.missing.empty()) COVSCREEN_SKIP() << "no test studies: " << var.missing

std::string header_diff(const DicomHeader& a, const DicomHeader& b) {
  std::string d;
  auto cmp = [&](const char* name, const std::string& x, const std::string& y) {
    if (x != y) d += std::string(name) + ": '" + x + "' vs '" + y + "'\n";
  };
  cmp("sop_class_uid", a.sop_class_uid, b.sop_class_uid);
  cmp("sop_instance_uid", a.sop_instance_uid, b.sop_instance_uid);
  cmp("study_uid", a.study_uid, b.study_uid);
  cmp("series_uid", a.series_uid, b.series_uid);
  cmp("patient_id", a.patient_id, b.patient_id);
  cmp("patient_name", a.patient_name, b.patient_name);
  cmp("patient_birth_date", a.patient_birth_date, b.patient_birth_date);
  cmp("patient_sex", a.patient_sex, b.patient_sex);
  cmp("patient_age", a.patient_age, b.patient_age);
  cmp("study_date", a.study_date, b.study_date);
  cmp("study_time", a.study_time, b.study_time);
  cmp("study_id", a.study_id, b.study_id);
  cmp("accession_number", a.accession_number, b.accession_number);
  cmp("referring_physician", a.referring_physician, b.referring_physician);
  cmp("study_description", a.study_description, b.study_description);
  cmp("modality", a.modality, b.modality);
  cmp("series_description", a.series_description, b.series_description);
  cmp("series_number", a.series_number, b.series_number);
  cmp("body_part", a.body_part, b.body_part);
  cmp("manufacturer", a.manufacturer, b.manufacturer);
  cmp("instance_number", a.instance_number, b.instance_number);
  cmp("image_type", a.image_type, b.image_type);
  cmp("view_position", a.view_position, b.view_position);
  cmp("frame_of_reference_uid", a.frame_of_reference_uid, b.frame_of_reference_uid);
  cmp("specific_character_set", a.specific_character_set, b.specific_character_set);
  cmp("has_position", std::to_string(a.has_position), std::to_string(b.has_position));
  cmp("has_orientation", std::to_string(a.has_orientation), std::to_string(b.has_orientation));
  for (size_t k = 0; k < 3; ++k) cmp("position", std::to_string(a.position[k]), std::to_string(b.position[k]));
  for (size_t k = 0; k < 6; ++k) cmp("orientation", std::to_string(a.orientation[k]), std::to_string(b.orientation[k]));
  cmp("slice_thickness", std::to_string(a.slice_thickness), std::to_string(b.slice_thickness));
  cmp("rows", std::to_string(a.rows), std::to_string(b.rows));
  cmp("cols", std::to_string(a.cols), std::to_string(b.cols));
  cmp("frames", std::to_string(a.frames), std::to_string(b.frames));
  return d;
}

void store_study(DicomWebClient& c, const test::PacsStudies& s, const std::string& study) {
  std::vector<std::string> files;
  for (const auto& f : s.files(study)) files.push_back(read_file(f));
  const StowResult r = c.store(files);
  ASSERT_EQ(r.stored.size(), files.size()) << study;
}

TEST_F(OrthancTest, StowQidoWadoRoundTrip) {
  REQUIRE_STUDIES(s);
  start_orthanc();
  DicomWebClient c({orthanc().dicomweb()});
  store_study(c, s, "ct-covid");
  store_study(c, s, "cxr");
  EXPECT_EQ(orthanc().count_instances(), int(s.files("ct-covid").size() + 2));

  // QIDO-RS: both studies, one page at a time; a date range keeps the X-ray only (2020-04-01).
  auto all = c.search_all_studies("", 1);
  ASSERT_EQ(all.size(), 2u);
  std::set<std::string> uids = {all[0].study_uid, all[1].study_uid};
  EXPECT_EQ(uids, (std::set<std::string>{s.uid("ct-covid"), s.uid("cxr")}));
  for (const auto& st : all)
    if (st.study_uid == s.uid("ct-covid")) {
      EXPECT_EQ(st.modalities, std::vector<std::string>{"CT"});
      EXPECT_EQ(st.study_date, "20200305");
      EXPECT_EQ(st.instances, int(s.files("ct-covid").size()));
    }
  const auto since = c.search_all_studies("20200401");
  ASSERT_EQ(since.size(), 1u);
  EXPECT_EQ(since[0].study_uid, s.uid("cxr"));
  const auto series = c.search_series(s.uid("cxr"));
  ASSERT_EQ(series.size(), 2u);
  for (const auto& se : series) {
    EXPECT_EQ(se.modality, "DX");
    EXPECT_EQ(se.instances, 1);
  }

  // WADO-RS metadata: the same attributes as the files' own headers.
  std::map<std::string, DicomHeader> by_sop;
  for (const auto& study : {"ct-covid", "cxr"})
    for (const auto& f : s.files(study)) {
      DicomHeader h = read_dicom_header(f);
      by_sop[h.sop_instance_uid] = h;
    }
  size_t compared = 0;
  for (const auto& study : {s.uid("ct-covid"), s.uid("cxr")})
    for (const auto& h : c.study_metadata(study)) {
      ASSERT_TRUE(by_sop.count(h.sop_instance_uid)) << h.sop_instance_uid;
      EXPECT_EQ(header_diff(h, by_sop[h.sop_instance_uid]), "") << h.sop_instance_uid;
      ++compared;
    }
  EXPECT_EQ(compared, by_sop.size());

  // WADO-RS retrieval of one series: every instance, as DICOM files (Orthanc sends them in explicit
  // VR little endian, so compare the headers, not the bytes).
  TempDir dir;
  const std::string ct_series = read_dicom_header(s.files("ct-covid")[0]).series_uid;
  const auto files = c.retrieve_series(s.uid("ct-covid"), ct_series, dir.file("ct"));
  ASSERT_EQ(files.size(), s.files("ct-covid").size());
  std::set<std::string> got;
  for (const auto& f : files) {
    const DicomHeader h = read_dicom_header(f);
    EXPECT_EQ(header_diff(h, by_sop[h.sop_instance_uid]), "") << f;
    got.insert(h.sop_instance_uid);
  }
  EXPECT_EQ(got.size(), files.size());
  // Unknown study: 404 naming the URL.
  try {
    c.retrieve_series("1.2.3.4.5", "1.2.3.4.5.6", dir.file("none"));
    FAIL() << "no error";
  } catch (const DicomWebError& e) {
    EXPECT_EQ(e.status(), 404) << e.what();
    EXPECT_NE(std::string(e.what()).find(orthanc().dicomweb() + "/studies/1.2.3.4.5/series/1.2.3.4.5.6"),
              std::string::npos);
  }
}

// What Orthanc does when an instance is stored again under the same SOP Instance UID (a result stored
// twice after a crash between STOW-RS and the state write): never a second instance. As shipped
// ("OverwriteInstances": false) it answers success and keeps the first copy; with
// "OverwriteInstances": true the second copy replaces the first.
TEST_F(OrthancTest, RepeatedStowOfTheSameInstance) {
  ScreeningReport rep;
  rep.study = read_dicom_header(std::string(COVSCREEN_SOURCE_DIR) + "/examples/dicom/ct-nolabel-1.dcm");
  rep.screened_series_uid = rep.study.series_uid;
  rep.screened.push_back({rep.study.sop_class_uid, rep.study.sop_instance_uid, 0, 0.4});
  rep.top = rep.screened;
  rep.covid_probability = 0.4;
  rep.aggregation = "top-k-mean k=5";
  rep.slices_screened = 1;
  rep.model_name = "test";
  rep.model_version = "1";
  rep.model_hash = "00";
  rep.content_date = "20240101";
  rep.content_time = "101010";
  const std::string first = screening_sr(rep);
  rep.covid_probability = 0.9;
  rep.content_time = "202020";
  const std::string second = screening_sr(rep);
  const DicomHeader h1 = parse_dicom_header(first, "first"), h2 = parse_dicom_header(second, "second");
  ASSERT_EQ(h1.sop_instance_uid, h2.sop_instance_uid);
  ASSERT_NE(first, second);

  auto stored_content_time = [&](DicomWebClient& c) {
    const json md = c.get_json("/studies/" + h1.study_uid + "/series/" + h1.series_uid + "/metadata");
    return md.size() == 1 ? dicom_json_string(md[0], "00080033") : "instances: " + std::to_string(md.size());
  };
  for (bool overwrite : {false, true}) {
    SCOPED_TRACE(overwrite ? "OverwriteInstances true" : "OverwriteInstances false (as shipped)");
    TempDir dir;
    Orthanc pacs(dir.path(), {overwrite});
    ASSERT_EQ(pacs.start(), "");
    DicomWebClient c({pacs.dicomweb()});
    EXPECT_EQ(c.store({first}).stored, std::vector<std::string>{h1.sop_instance_uid});
    EXPECT_EQ(c.store({second}, h1.study_uid).stored, std::vector<std::string>{h1.sop_instance_uid});
    EXPECT_EQ(pacs.count_instances(), 1);
    EXPECT_EQ(stored_content_time(c), overwrite ? "202020" : "101010");
  }
}

}  // namespace
}  // namespace covscreen
