#pragma once
// Private to src/serve: the state behind ScreenServer, shared by server.cpp (setup, small
// routes, logging) and screen_route.cpp (POST /v1/screen).
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "covscreen/screen/pipeline.h"
#include "covscreen/serve/batch_queue.h"
#include "covscreen/serve/metrics.h"
#include "covscreen/serve/server.h"

namespace covscreen {

inline constexpr const char* kNotice = "Research use only, not a medical device.";

struct ScreenServer::Impl {
  std::unique_ptr<Pipeline> pipeline;  // the model and its workers
  std::string model_id;
  ServeOptions opt;
  nlohmann::json card;
  ServeMetrics metrics;
  std::unique_ptr<BatchQueue> queue;  // declared after the pipeline: stopped before it goes

  const Checkpoint& ck() const { return pipeline->checkpoint(); }
  httplib::Server http;
  std::thread thread;
  int port = -1;
  std::atomic<bool> stopped{false};
  std::atomic<uint64_t> next_id{1};
  std::string id_prefix;

  void install_routes();
  void handle_screen(const httplib::Request& req, httplib::Response& res);
  bool authorized(const httplib::Request& req, httplib::Response& res) const;
};

// Sends `body` as JSON with `status`.
void send_json(httplib::Response& res, int status, const nlohmann::json& body);
// Sends {"error": message, "request_id": ...} with `status`.
void send_error(httplib::Response& res, int status, const std::string& message);
// The request id the pre-routing handler gave this request (X-Request-Id).
std::string request_id(const httplib::Response& res);

}  // namespace covscreen
