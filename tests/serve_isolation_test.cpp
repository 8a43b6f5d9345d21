// `covscreen serve` with decoders that abort, segfault, hang and run out of memory on chosen
// uploads (COVSCREEN_DECODER_FAULTS, set before the process's first decode): each such upload is
// answered 422 with a JSON error, the server keeps serving, /metrics counts the crashes and
// timeouts.
#include <stdlib.h>

#include "decoder_faults.h"
#include "serve_fixture.h"

namespace covscreen {
namespace {

using namespace serve_test;

TEST(ServeIsolation, DecoderFaultsAre422AndTheServerKeepsServing) {
  const auto faults = test::decoder_faults("2");
  ::setenv("COVSCREEN_DECODER_FAULTS", test::decoder_faults_env(faults).c_str(), 1);
  ::setenv("COVSCREEN_DECODE_TIMEOUT_S", "2", 1);
  ::setenv("COVSCREEN_DECODER_MEMORY_MB", "1024", 1);
  auto s = make_server(test_options());  // the process-wide decoder pool starts with these
  auto c = client(*s);
  const std::string bytes = png(64, 64, 9);
  for (const auto& [kind, text] : faults) {
    const std::string name = "fault-" + kind + ".png";
    SCOPED_TRACE(name);
    const httplib::MultipartFormDataItems one = {{"files", bytes, name, "image/png"}};
    auto r = c.Post("/v1/screen", one);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 422) << r->body;
    const json j = json::parse(r->body);
    EXPECT_NE(j["results"][0]["error"].get<std::string>().find(text), std::string::npos) << r->body;
    // The next upload is screened.
    auto ok = c.Post("/v1/screen", bytes, "image/png");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200) << ok->body;
  }
  // A request mixing a crashing file with good ones: the good ones are screened.
  const httplib::MultipartFormDataItems mixed = {{"files", bytes, "a.png", "image/png"},
                                                 {"files", bytes, "fault-segv-2.png", "image/png"},
                                                 {"files", bytes, "b.png", "image/png"}};
  auto r = c.Post("/v1/screen", mixed);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = json::parse(r->body);
  EXPECT_TRUE(j["results"][0]["ok"].get<bool>());
  EXPECT_FALSE(j["results"][1]["ok"].get<bool>());
  EXPECT_EQ(j["results"][1]["status"], 422);
  EXPECT_TRUE(j["results"][2]["ok"].get<bool>());
  const std::string metrics = c.Get("/metrics")->body;
  EXPECT_NE(metrics.find("covscreen_decoder_crashes_total 3"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("covscreen_decoder_timeouts_total 1"), std::string::npos) << metrics;
  EXPECT_EQ(c.Get("/healthz")->status, 200);
}

}  // namespace
}  // namespace covscreen
