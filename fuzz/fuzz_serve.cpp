// The HTTP request handling of `covscreen serve`, without a socket: the input is a raw HTTP
// request (request line, headers, body), handed to cpp-httplib's Server::process_request()
// through an in-memory detail::BufferStream, so httplib parses the request line, headers,
// query string, Content-Length / chunked bodies and multipart/form-data exactly as it does for
// the real server. The handlers do what ScreenServer's routes do before the model sees anything
// (src/serve/screen_route.cpp steps 1-2, server.cpp's bearer check): collect the uploads, check
// the Content-Type (http_util.h), decode each file (decode_image) and run stage 1, map decode
// problems to statuses. The model itself is not run (one inference per input would make the
// fuzzer slow and finds nothing in the request parsing).
#include <httplib.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "covscreen/core/error.h"
#include "covscreen/io/image_reader.h"
#include "covscreen/preprocess/stage1.h"
#include "covscreen/serve/http_util.h"
#include "fuzz_util.h"

namespace {

using namespace covscreen;

constexpr int kMaxFiles = 8;

// Exposes the protected Server::process_request.
class FuzzServer : public httplib::Server {
 public:
  bool handle(httplib::Stream& s) {
    bool closed = false;
    return process_request(s, /*close_connection=*/true, closed, [](httplib::Request&) {});
  }
};

int decode_status(const std::string& bytes) {
  ReadOptions ro;
  ro.max_pixels = 16ll << 20;
  ro.max_file_bytes = 1 << 20;
  try {
    if (bytes.empty()) throw FileError("upload", "empty file");
    const DecodedImage img = decode_image(bytes, "upload", ro);
    Stage1Spec spec;
    spec.size = 64;
    (void)stage1(img.gray, spec);
    return 200;
  } catch (const FileError& e) {
    const int status = http::status_for_decode_problem(e.problem());
    fuzz::check(status >= 400 && status < 500, "decode problem mapped to a non-4xx status");
    return status;
  }
}

void screen(const httplib::Request& req, httplib::Response& res) {
  if (!http::bearer_ok(req.get_header_value("Authorization"), "secret-token")) {
    res.status = 401;
    return;
  }
  const std::string cam = req.get_param_value("cam");
  (void)cam;
  std::vector<const std::string*> uploads;
  if (req.is_multipart_form_data()) {
    for (const auto& [field, part] : req.files) {
      if (part.filename.empty() && field != "file" && field != "files") continue;
      uploads.push_back(&part.content);
    }
    if (uploads.empty() || static_cast<int>(uploads.size()) > kMaxFiles) {
      res.status = uploads.empty() ? 400 : 413;
      return;
    }
  } else {
    const std::string media = http::media_type(req.get_header_value("Content-Type"));
    fuzz::check(media.find(';') == std::string::npos, "media_type kept a parameter");
    if (!http::accepted_raw_type(media)) {
      res.status = 415;
      return;
    }
    uploads.push_back(&req.body);
  }
  int status = 200;
  for (const std::string* u : uploads) status = std::max(status, decode_status(*u));
  res.status = status;
  res.set_content(http::reason(status) + " " + http::base64_encode(req.body.substr(0, 64)), "text/plain");
}

FuzzServer& server() {
  static FuzzServer* s = [] {
    auto* srv = new FuzzServer;
    srv->set_payload_max_length(1 << 20);
    srv->Post("/v1/screen", screen);
    srv->Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); });
    return srv;
  }();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  httplib::detail::BufferStream stream;
  stream.write(reinterpret_cast<const char*>(data), size);
  server().handle(stream);
  return 0;
}
