// Bounded load tests of `covscreen serve` (serve/load.h; the full-size run is bench/serve_load.cpp):
// an in-process server with the small random-weight model, 200 requests from 8 client threads
// mixing valid COVID-CT PNG/JPEG files (synthetic pictures when the data set is absent) with
// truncated, corrupt, garbage, text, empty and bomb bodies.
#include <filesystem>
#include <iostream>

#include "load/load_client.h"
#include "serve_fixture.h"

namespace covscreen {
namespace {

using namespace serve_test;
namespace fs = std::filesystem;

// Up to n files of `ext` from the COVID-CT class folders (alternating), or synthetic ones.
std::vector<LoadFile> files(const std::string& ext, size_t n) {
  std::vector<LoadFile> out;
  const std::string root = test::dataset("COVID-CT/Images-processed");
  if (!root.empty()) {
    std::vector<std::vector<fs::path>> dirs;
    for (const char* d : {"CT_COVID", "CT_NonCOVID"}) {
      std::vector<fs::path> v;
      for (const auto& e : fs::directory_iterator(fs::path(root) / d))
        if (e.path().extension() == ext) v.push_back(e.path());
      std::sort(v.begin(), v.end());
      dirs.push_back(v);
    }
    for (size_t i = 0; out.size() < n && i < 1000; ++i)
      for (const auto& v : dirs)
        if (i < v.size() && out.size() < n) out.push_back({v[i].filename().string(), test::slurp(v[i].string())});
  }
  if (out.empty()) {
    std::cout << "COVID-CT not found under " << datasets_root() << ": synthetic " << ext << " pictures\n";
    for (size_t i = 0; i < n; ++i)
      out.push_back(
          {"synthetic" + std::to_string(i) + ext, encode(picture(300 + 20 * static_cast<int>(i), 280, i), ext)});
  }
  return out;
}

const LoadMix& mix() {
  static const LoadMix m = make_load_mix(files(".png", 12), files(".jpg", 12), 11);
  return m;
}

LoadOptions load_options(const ScreenServer& s) {
  LoadOptions lo;
  lo.port = s.port();
  lo.requests = 200;
  lo.concurrency = 8;
  lo.warmup = 120;
  lo.time_limit_s = 240;
  lo.read_timeout_s = 60;
  return lo;
}

// The contract every run must keep, overloaded or not.
void expect_contract(const LoadReport& r) {
  SCOPED_TRACE(r.to_json().dump(1));
  EXPECT_EQ(r.sent, r.requests);
  EXPECT_EQ(r.answered, r.requests);  // no crash, no dropped connection
  EXPECT_EQ(r.transport_errors, 0);
  EXPECT_TRUE(r.server_alive);
  EXPECT_EQ(r.valid_5xx_not_503, 0);
  EXPECT_EQ(r.valid_unexpected, 0);  // valid files: only 200 or 503
  EXPECT_EQ(r.bad_200_bodies, 0);    // a 200 has one ok result per file, probabilities in [0, 1]
  EXPECT_EQ(r.missing_retry_after, 0);
  EXPECT_EQ(r.corrupt_not_4xx_json, 0);  // every corrupt body: a 4xx with a JSON error
  EXPECT_EQ(r.corrupt_wrong_status, 0);  // ... and the right one (400/413/415/422)
  // Every kind of the mix was drawn, and the corrupt kinds were all answered.
  for (const auto& [kind, w] : mix().weights) EXPECT_GT(r.kinds.count(kind) ? r.kinds.at(kind).count : 0, 0) << kind;
}

TEST(ServeLoad, MixedTrafficKeepsTheContractAndMemoryFlat) {
  ServeOptions o = test_options();
  o.http_threads = 12;
  o.max_body_bytes = 8ll << 20;
  auto server = make_server(o);
  const LoadReport r = run_load(mix(), load_options(*server));
  std::cout << r.to_json().dump(1) << "\n";
  expect_contract(r);
  // The queue (64 images) holds every image 8 clients can have in flight: no 503 at all.
  EXPECT_EQ(r.valid_503, 0);
  EXPECT_GT(r.valid_ok, 100);
  // Memory flat: a leak of the request bodies or decoded images (hundreds of KiB each) over the
  // second 100 requests would add tens of MiB; allocator noise stays well under that. Not under
  // ASan, whose quarantine keeps freed memory resident (LeakSanitizer checks for leaks there).
#if defined(__SANITIZE_ADDRESS__)
  return;
#endif
  ASSERT_GT(r.rss_mid_kb, 0);
  EXPECT_LT(r.rss_end_kb - r.rss_mid_kb, 16 * 1024)
      << "RSS grew from " << r.rss_mid_kb << " to " << r.rss_end_kb << " KiB";
  EXPECT_LT(r.rss_peak_kb - r.rss_start_kb, 200 * 1024) << "peak " << r.rss_peak_kb << " KiB, start " << r.rss_start_kb;
}

TEST(ServeLoad, OverloadAnswers503WithRetryAfterNot5xx) {
  ServeOptions o = test_options();
  o.http_threads = 12;
  o.max_body_bytes = 8ll << 20;
  o.queue_capacity = 3;  // 8 clients overflow it while the worker is slow
  o.batch = 2;
  o.before_batch = [] { std::this_thread::sleep_for(std::chrono::milliseconds(40)); };
  auto server = make_server(o);
  const LoadReport r = run_load(mix(), load_options(*server));
  std::cout << r.to_json().dump(1) << "\n";
  expect_contract(r);
  EXPECT_GT(r.valid_503, 0);  // the queue did overflow...
  EXPECT_GT(r.valid_ok, 0);   // ...and the server kept screening
  EXPECT_EQ(r.status.count(500), 0u);
  EXPECT_EQ(r.status.count(504), 0u);
}

}  // namespace
}  // namespace covscreen
