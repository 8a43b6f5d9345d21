// HTTP tests of `covscreen serve` (serve/server.h), in-process on 127.0.0.1 with an ephemeral
// port (fixtures: serve_fixture.h). Every route, the bad bodies (empty, truncated, not an
// image, huge dimensions, over the size limit), the token and /metrics.
#include <fstream>
#include <iterator>
#include <regex>

#include "covscreen/screen/pipeline.h"
#include "serve_fixture.h"

namespace covscreen {
namespace {

using namespace serve_test;

// ---------------------------------------------------------------- the shared server
class ServeHttp : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = make_server(test_options()).release(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static ScreenServer* server_;
};
ScreenServer* ServeHttp::server_ = nullptr;

TEST_F(ServeHttp, BindsLoopbackOnAnEphemeralPort) {
  EXPECT_GT(server_->port(), 0);
  EXPECT_EQ(ServeOptions{}.host, "127.0.0.1");  // the default never listens beyond this machine
}

TEST_F(ServeHttp, HealthzAndModelCard) {
  auto c = client(*server_);
  auto r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(body_json(r)["status"], "ok");
  r = c.Get("/v1/model");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const json card = body_json(r);
  EXPECT_EQ(card["classes"], json({"covid", "non-covid"}));
  EXPECT_EQ(card["arch"], "densenet121");
  EXPECT_EQ(card["spec"]["stage1"]["size"], 64);
  EXPECT_EQ(card["id"], server_->model_id());
  EXPECT_NE(card["id"].get<std::string>().find("serve_small-"), std::string::npos);
}

TEST_F(ServeHttp, PageIsSelfContainedWithTheNotice) {
  auto c = client(*server_);
  auto r = c.Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type").rfind("text/html", 0), 0u);
  EXPECT_NE(r->body.find("not a medical device"), std::string::npos);
  for (const char* id : {"id=\"drop\"", "id=\"results\"", "id=\"cam\"", "id=\"csv\"", "id=\"notice\""})
    EXPECT_NE(r->body.find(id), std::string::npos) << id;
  EXPECT_EQ(r->body.find("<script src"), std::string::npos);  // nothing external
  EXPECT_EQ(r->body.find("http://"), std::string::npos);
  EXPECT_EQ(r->body.find("https://"), std::string::npos);
  EXPECT_NE(r->get_header_value("Content-Security-Policy").find("default-src 'none'"), std::string::npos);
}

TEST_F(ServeHttp, ScreensARawPngLikeThePipeline) {
  const std::string bytes = png(80, 96, 3);
  auto c = client(*server_);
  auto r = c.Post("/v1/screen", bytes, "image/png");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_FALSE(r->get_header_value("X-Request-Id").empty());
  const json j = body_json(r);
  EXPECT_EQ(j["model_id"], server_->model_id());
  EXPECT_DOUBLE_EQ(j["threshold"].get<double>(), 0.5);
  ASSERT_EQ(j["results"].size(), 1u);
  const json& it = j["results"][0];
  EXPECT_TRUE(it["ok"].get<bool>());
  EXPECT_EQ(it["width"], 80);
  EXPECT_EQ(it["height"], 96);
  EXPECT_EQ(it["format"], "png");
  EXPECT_FALSE(it.contains("cam_png_base64"));
  ASSERT_TRUE(it.contains("timings_ms"));
  EXPECT_GE(it["timings_ms"]["inference"].get<double>(), 0.0);

  // The same file through the pipeline on this thread (not the server's queue) gives the same numbers.
  PipelineOptions po;
  po.inference.device = DeviceKind::kCpu;
  po.input_check = false;  // as the server's test_options
  Pipeline pipeline(load_checkpoint(checkpoint_path()), po);
  const ScreenResult ref = pipeline.screen_bytes(bytes, "ref.png");
  ASSERT_TRUE(ref.ok) << ref.error;
  const float pc = it["probabilities"]["covid"].get<float>();
  const float pn = it["probabilities"]["non-covid"].get<float>();
  EXPECT_NEAR(pc, ref.probs[0], 1e-4);
  EXPECT_NEAR(pn, ref.probs[1], 1e-4);
  EXPECT_EQ(it["positive"].get<bool>(), pc >= 0.5f);
  EXPECT_EQ(it["predicted"], pc >= 0.5f ? "covid" : "non-covid");
  EXPECT_NEAR(it["covid_probability"].get<double>(), pc, 1e-6);
}

TEST_F(ServeHttp, ScreensJpegAndOctetStream) {
  auto c = client(*server_);
  auto r = c.Post("/v1/screen", encode(picture(70, 70, 5), ".jpg"), "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_json(r)["results"][0]["format"], "jpeg");
  r = c.Post("/v1/screen", png(), "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(ServeHttp, ScreensRealDicom) {
  COVSCREEN_REQUIRE_DATASET(dir, "dicom-samples/pydicom-test-files");
  std::ifstream in(dir + "/CT_small.dcm", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(bytes.empty());
  auto c = client(*server_);
  auto r = c.Post("/v1/screen", bytes, "application/dicom");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json it = body_json(r)["results"][0];
  EXPECT_EQ(it["format"], "dicom");
  EXPECT_EQ(it["width"], 128);
  EXPECT_EQ(it["height"], 128);
}

// A multi-frame upload (an RT dose grid of 15 frames from Debian's python3-pydicom) is screened
// frame by frame, "upload#frame-N", as `screen` does with files.
TEST_F(ServeHttp, MultiFrameDicomGivesOneResultPerFrame) {
  const std::string path = "/usr/lib/python3/dist-packages/pydicom/data/test_files/rtdose.dcm";
  std::ifstream in(path, std::ios::binary);
  if (!in) COVSCREEN_SKIP() << path << " is absent (python3-pydicom)";
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto c = client(*server_);
  auto r = c.Post("/v1/screen", bytes, "application/dicom");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json results = body_json(r)["results"];
  ASSERT_EQ(results.size(), 15u) << r->body;
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i]["file"], "upload#frame-" + std::to_string(i + 1));
    EXPECT_TRUE(results[i]["ok"].get<bool>()) << results[i].dump();
    EXPECT_EQ(results[i]["index"], i);
  }
}

// Every file of a DICOM corpus nobody here wrote, uploaded one by one: each gets 200 (screened)
// or a 4xx naming the problem, never a 5xx, and the server stays up.
TEST_F(ServeHttp, EveryFileOfTheDebianDicomCorpusGetsAnAnswer) {
  const std::filesystem::path corpus = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
  if (!std::filesystem::is_directory(corpus)) COVSCREEN_SKIP() << corpus << " is absent (python3-pydicom)";
  auto c = client(*server_);
  c.set_read_timeout(120, 0);
  int screened = 0, refused = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(corpus)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.empty()) continue;
    auto r = c.Post("/v1/screen", bytes, "application/dicom");
    ASSERT_TRUE(r) << e.path() << ": no answer";
    EXPECT_LT(r->status, 500) << e.path() << ": " << r->body.substr(0, 300);
    (r->status == 200 ? screened : refused)++;
    if (r->status != 200) EXPECT_NE(body_json(r).value("error", ""), "") << e.path();
  }
  EXPECT_GE(screened, 75);
  EXPECT_GT(refused, 0);
  auto r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ServeHttp, MultipartWithTwoFilesAndCamOverlays) {
  auto c = client(*server_);
  const httplib::MultipartFormDataItems items = {
      {"files", png(80, 96, 11), "first.png", "image/png"},
      {"files", encode(picture(120, 100, 12), ".jpg"), "second.jpg", "image/jpeg"},
  };
  auto r = c.Post("/v1/screen?cam=1", items);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body.substr(0, 300);
  const json j = body_json(r);
  ASSERT_EQ(j["results"].size(), 2u);
  const int sizes[2][2] = {{80, 96}, {120, 100}};
  for (int i = 0; i < 2; ++i) {
    const json& it = j["results"][i];
    EXPECT_EQ(it["index"], i);
    EXPECT_EQ(it["file"], i == 0 ? "first.png" : "second.jpg");
    EXPECT_TRUE(it["ok"].get<bool>()) << it.dump();
    EXPECT_EQ(it["cam_class"], "covid");
    ASSERT_TRUE(it.contains("cam_png_base64"));
    const std::string pngbytes = base64_decode(it["cam_png_base64"].get<std::string>());
    ASSERT_GT(pngbytes.size(), 8u);
    EXPECT_EQ(pngbytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    const cv::Mat overlay = cv::imdecode(std::vector<uchar>(pngbytes.begin(), pngbytes.end()), cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(overlay.empty());
    EXPECT_EQ(overlay.cols, sizes[i][0]);
    EXPECT_EQ(overlay.rows, sizes[i][1]);
    EXPECT_EQ(overlay.channels(), 3);
  }
}

TEST_F(ServeHttp, MultipartReportsEachFile) {
  auto c = client(*server_);
  const std::string good = png(64, 64, 21);
  const httplib::MultipartFormDataItems items = {
      {"files", good, "good.png", "image/png"},
      {"files", good.substr(0, good.size() / 2), "cut.png", "image/png"},
      {"files", "just some text, no pixels", "notes.txt", "text/plain"},
  };
  auto r = c.Post("/v1/screen", items);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;  // something was screened
  const json j = body_json(r);
  ASSERT_EQ(j["results"].size(), 3u);
  EXPECT_EQ(j["results"][0]["status"], 200);
  EXPECT_EQ(j["results"][1]["status"], 422);
  EXPECT_EQ(j["results"][2]["status"], 415);
  EXPECT_FALSE(j["results"][1]["ok"].get<bool>());
  EXPECT_TRUE(j["results"][1].contains("error"));

  // Nothing screenable at all: the request fails with the file's status.
  const httplib::MultipartFormDataItems bad = {{"files", good.substr(0, 40), "cut.png", "image/png"}};
  expect_json_error(c.Post("/v1/screen", bad), 422);
  // A form without files.
  const httplib::MultipartFormDataItems none = {{"comment", "hello", "", ""}};
  expect_json_error(c.Post("/v1/screen", none), 400);
}

TEST_F(ServeHttp, BadBodiesGetTheRightStatus) {
  auto c = client(*server_);
  const std::string good = png(80, 96, 31);
  expect_json_error(c.Post("/v1/screen", "", "image/png"), 400);                                // empty
  expect_json_error(c.Post("/v1/screen", good.substr(0, good.size() - 30), "image/png"), 422);  // truncated
  expect_json_error(c.Post("/v1/screen", "this is not an image at all", "image/png"), 415);
  expect_json_error(c.Post("/v1/screen", std::string(500, '\x01'), "image/png"), 415);    // unknown signature
  expect_json_error(c.Post("/v1/screen", good, "text/plain"), 415);                       // wrong media type
  expect_json_error(c.Post("/v1/screen", png_claiming(65535, 65535), "image/png"), 413);  // decompression bomb
  // Over the 2 MiB body limit.
  expect_json_error(c.Post("/v1/screen", std::string(3u << 20, '\0'), "image/png"), 413);
}

TEST_F(ServeHttp, UnknownRoutesAndMethods) {
  auto c = client(*server_);
  expect_json_error(c.Get("/nope"), 404);
  expect_json_error(c.Get("/v1/screen/../../etc/passwd"), 404);
  expect_json_error(c.Post("/v2/screen", png(), "image/png"), 404);
  auto r = c.Get("/v1/screen");
  expect_json_error(r, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "POST");
  expect_json_error(c.Post("/healthz", "x", "text/plain"), 405);
}

TEST_F(ServeHttp, MetricsCountRequests) {
  auto c = client(*server_);
  auto count = [&](const std::string& route, int status) -> long {
    auto r = c.Get("/metrics");
    if (!r || r->status != 200) return -1;
    const std::regex re("covscreen_http_requests_total\\{route=\"" + route + "\",status=\"" + std::to_string(status) +
                        "\"\\} ([0-9]+)");
    std::smatch m;
    return std::regex_search(r->body, m, re) ? std::stol(m[1]) : 0;
  };
  const long ok0 = count("/v1/screen", 200), bad0 = count("/v1/screen", 400), nf0 = count("other", 404);
  ASSERT_GE(ok0, 0);
  ASSERT_EQ(c.Post("/v1/screen", png(), "image/png")->status, 200);
  ASSERT_EQ(c.Post("/v1/screen", png(64, 64, 2), "image/png")->status, 200);
  ASSERT_EQ(c.Post("/v1/screen", "", "image/png")->status, 400);
  ASSERT_EQ(c.Get("/missing")->status, 404);
  // The counters move after the response is written: give the server a moment.
  EXPECT_TRUE(wait_for([&] { return count("/v1/screen", 200) == ok0 + 2; }, 5)) << count("/v1/screen", 200);
  EXPECT_TRUE(wait_for([&] { return count("/v1/screen", 400) == bad0 + 1; }, 5));
  EXPECT_TRUE(wait_for([&] { return count("other", 404) == nf0 + 1; }, 5));

  auto r = c.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Content-Type").rfind("text/plain", 0), 0u);
  for (const char* s : {"# TYPE covscreen_http_requests_total counter", "covscreen_queue_depth 0",
                        "covscreen_http_request_duration_seconds_bucket{route=\"/v1/screen\",le=\"+Inf\"}",
                        "covscreen_inference_duration_seconds_count", "covscreen_images_total{outcome=\"ok\"}"})
    EXPECT_NE(r->body.find(s), std::string::npos) << s;
}

// ---------------------------------------------------------------- servers with other options
TEST(ServeToken, BearerTokenGuardsTheApi) {
  ServeOptions o = test_options();
  o.token = "s3cret-token";
  auto s = make_server(o);
  auto c = client(*s);
  auto r = c.Get("/v1/model");  // missing
  expect_json_error(r, 401);
  EXPECT_EQ(r->get_header_value("WWW-Authenticate").rfind("Bearer", 0), 0u);
  r = c.Get("/v1/model", {{"Authorization", "Bearer wrong"}});
  expect_json_error(r, 401);
  EXPECT_NE(r->get_header_value("WWW-Authenticate").find("invalid_token"), std::string::npos);
  expect_json_error(c.Get("/v1/model", {{"Authorization", "Bearer s3cret-token-and-more"}}), 401);
  expect_json_error(c.Get("/v1/model", {{"Authorization", "Basic czNjcmV0LXRva2Vu"}}), 401);
  expect_json_error(c.Post("/v1/screen", {{"Authorization", "Bearer s3cret"}}, png(), "image/png"), 401);
  expect_json_error(c.Get("/metrics"), 401);

  r = c.Get("/v1/model", {{"Authorization", "Bearer s3cret-token"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = c.Post("/v1/screen", {{"Authorization", "bearer s3cret-token"}}, png(), "image/png");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  r = c.Get("/healthz");  // liveness needs no token
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// The input gate on: an image the model was not made for is answered 422 with the reason, the
// request's other files are screened, and the server keeps serving.
TEST(ServeInputGate, RefusesWith422TheImagesTheModelWasNotMadeFor) {
  const std::string mr = "/usr/lib/python3/dist-packages/pydicom/data/test_files/MR_small.dcm";
  if (!std::filesystem::exists(mr)) COVSCREEN_SKIP() << "python3-pydicom's test files not installed";
  ServeOptions o = test_options();
  o.input_check = true;
  auto s = make_server(o);
  auto c = client(*s);
  std::ifstream in(mr, std::ios::binary);
  const std::string dicom((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto r = c.Post("/v1/screen", dicom, "application/dicom");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->body;
  const json j = json::parse(r->body);
  EXPECT_NE(j["error"].get<std::string>().find("not screened: not CT (Modality MR"), std::string::npos) << r->body;
  EXPECT_TRUE(j["results"][0].value("refused", false));

  o.input_check = false;  // the same file with the checks off: screened, and said so
  auto off = make_server(o);
  auto c2 = client(*off);
  r = c2.Post("/v1/screen", dicom, "application/dicom");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["results"][0].value("input_check", ""), "off");
}

}  // namespace
}  // namespace covscreen
