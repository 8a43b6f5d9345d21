// The bounded, micro-batching model queue of `covscreen serve` over HTTP: a full queue answers
// 503 + Retry-After, concurrent requests share one model call, a stuck model gives 504.
#include <atomic>
#include <future>

#include "serve_fixture.h"

namespace covscreen {
namespace {

using namespace serve_test;

TEST(ServeQueue, FullQueueAnswers503WithRetryAfter) {
  Gate gate;
  ServeOptions o = test_options();
  o.queue_capacity = 1;
  o.batch = 1;
  o.batch_wait_ms = 0;
  o.before_batch = [&gate] { gate.wait_here(); };
  auto s = make_server(o);
  const std::string bytes = png(64, 64, 41);
  auto post = [&] {
    auto r = client(*s).Post("/v1/screen", bytes, "image/png");
    return r ? r->status : -1;
  };
  std::future<int> a, b;
  OpenOnExit opener{gate};  // destroyed first: frees the worker, then a/b finish, then the server stops

  a = std::async(std::launch::async, post);
  ASSERT_TRUE(gate.wait_entered(1));  // A is on the model worker, the queue is empty again
  b = std::async(std::launch::async, post);
  ASSERT_TRUE(wait_for([&] { return s->queue_depth() == 1; }));  // B waits in the queue

  auto c = client(*s);
  auto r = c.Post("/v1/screen", bytes, "image/png");
  expect_json_error(r, 503);
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  // A multipart request that does not fit as a whole is refused as a whole.
  const httplib::MultipartFormDataItems two = {{"files", bytes, "a.png", "image/png"},
                                               {"files", bytes, "b.png", "image/png"}};
  expect_json_error(c.Post("/v1/screen", two), 503);
  // Bad files are refused before they reach the queue.
  expect_json_error(c.Post("/v1/screen", bytes.substr(0, 50), "image/png"), 422);
  // Liveness still answers.
  EXPECT_EQ(c.Get("/healthz")->status, 200);

  gate.open();
  EXPECT_EQ(a.get(), 200);
  EXPECT_EQ(b.get(), 200);
  EXPECT_TRUE(wait_for([&] { return s->metrics().requests("/v1/screen", 503) == 2; }, 5));
}

TEST(ServeQueue, ConcurrentRequestsShareOneBatch) {
  Gate gate;
  ServeOptions o = test_options();
  o.queue_capacity = 16;
  o.batch = 8;
  o.batch_wait_ms = 0;
  std::atomic<int> calls{0};
  o.before_batch = [&] {
    if (calls++ == 0) gate.wait_here();  // hold only the first batch
  };
  auto s = make_server(o);
  auto post = [&](uint64_t seed) {
    auto r = client(*s).Post("/v1/screen", png(64, 64, seed), "image/png");
    return r ? json::parse(r->body) : json();
  };
  std::vector<std::future<json>> answers;
  OpenOnExit opener{gate};
  answers.push_back(std::async(std::launch::async, post, 50));
  ASSERT_TRUE(gate.wait_entered(1));
  for (uint64_t i = 1; i < 4; ++i) answers.push_back(std::async(std::launch::async, post, 50 + i));
  ASSERT_TRUE(wait_for([&] { return s->queue_depth() == 3; }));
  gate.open();
  const json first = answers[0].get();
  EXPECT_EQ(first["results"][0]["batch_size"], 1) << first.dump();
  for (size_t i = 1; i < 4; ++i) {
    const json j = answers[i].get();
    ASSERT_TRUE(j["results"][0]["ok"].get<bool>()) << j.dump();
    EXPECT_EQ(j["results"][0]["batch_size"], 3) << "three requests, one model call";
  }
  EXPECT_EQ(calls.load(), 2);
}

TEST(ServeQueue, SlowModelTimesOutWith504) {
  Gate gate;
  ServeOptions o = test_options();
  o.request_timeout_s = 0.3;
  o.before_batch = [&gate] { gate.wait_here(); };
  auto s = make_server(o);
  OpenOnExit opener{gate};
  auto c = client(*s);
  expect_json_error(c.Post("/v1/screen", png(), "image/png"), 504);
}

}  // namespace
}  // namespace covscreen
