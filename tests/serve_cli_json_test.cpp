// `covscreen screen --format json` and POST /v1/screen write the same record for the same file:
// both are to_json(ScreenResult) (screen/pipeline.h); the server adds only its envelope
// (index, status).
#include "serve_fixture.h"

namespace covscreen {
namespace {

using namespace serve_test;

TEST(ServeCliJson, ScreenJsonAndHttpHaveTheSameFields) {
  if (!test::have_cli()) COVSCREEN_SKIP() << "the covscreen binary is not built";
  const std::string bytes = png(72, 90, 11);
  const std::string file = temp().file("same.png");
  std::ofstream(file, std::ios::binary) << bytes;

  const test::CliRun run =
      test::run_cli("screen --model '" + checkpoint_path() + "' --format json --no-input-check '" + file + "'", temp());
  ASSERT_EQ(run.rc, 0) << run.err;
  const json lines = test::parse_json_lines(run.out);
  ASSERT_EQ(lines.size(), 1u) << run.out;
  const json& cli = lines[0];

  auto server = make_server(test_options());
  auto r = client(*server).Post("/v1/screen", bytes, "image/png");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json http = json::parse(r->body)["results"][0];
  EXPECT_EQ(http["index"], 0);
  EXPECT_EQ(http["status"], 200);
  http.erase("index");
  http.erase("status");

  std::vector<std::string> cli_keys, http_keys;
  for (const auto& [k, v] : cli.items()) cli_keys.push_back(k);
  for (const auto& [k, v] : http.items()) http_keys.push_back(k);
  EXPECT_EQ(cli_keys, http_keys) << "cli: " << cli.dump() << "\nhttp: " << http.dump();
  for (const char* key : {"ok", "format", "width", "height", "predicted", "positive", "threshold"})
    EXPECT_EQ(cli[key], http[key]) << key;
  for (const auto& [cls, p] : cli["probabilities"].items())
    EXPECT_NEAR(p.get<double>(), http["probabilities"][cls].get<double>(), 1e-4) << cls;
  for (const char* key : {"decode", "queue", "inference"}) {
    EXPECT_TRUE(cli["timings_ms"].contains(key)) << key;
    EXPECT_TRUE(http["timings_ms"].contains(key)) << key;
  }
}

}  // namespace
}  // namespace covscreen
