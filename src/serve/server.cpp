#include "covscreen/serve/server.h"

#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/io/image_reader.h"
#include "covscreen/serve/http_util.h"
#include "covscreen/serve/page.h"
#include "server_impl.h"

namespace covscreen {

namespace {
using Clock = std::chrono::steady_clock;

// One request is handled start to end on one httplib worker thread: the pre-routing handler
// stamps it here and the logger reads it back.
thread_local Clock::time_point t_request_start{};

const char* const kRoutes[] = {"/", "/healthz", "/metrics", "/v1/model", "/v1/screen"};

std::string route_of(const std::string& path) {
  for (const char* r : kRoutes)
    if (path == r) return r;
  return "other";
}

std::mutex& log_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

void ServeOptions::validate() const {
  if (port < 0 || port > 65535) throw UsageError("--port must be in [0, 65535]");
  if (host.empty()) throw UsageError("--host must not be empty");
  if (max_body_bytes <= 0) throw UsageError("--max-body-mb must be positive");
  if (max_pixels <= 0) throw UsageError("the pixel limit must be positive");
  if (max_files < 1) throw UsageError("--max-files must be at least 1");
  if (queue_capacity < 1) throw UsageError("--queue must be at least 1");
  if (batch < 1) throw UsageError("--batch must be at least 1");
  if (workers < 0) throw UsageError("--workers must not be negative");
  if (batch_wait_ms < 0) throw UsageError("--batch-wait-ms must not be negative");
  if (http_threads < 1) throw UsageError("--http-threads must be at least 1");
  if (request_timeout_s <= 0) throw UsageError("--timeout must be positive");
  if (io_timeout_s < 1) throw UsageError("the socket timeout must be at least 1 s");
  if (cam_max_side < 16) throw UsageError("the CAM size must be at least 16 px");
  if (retry_after_s < 0) throw UsageError("Retry-After must not be negative");
  if (token.find_first_of(" \t\r\n") != std::string::npos) throw UsageError("--token must not contain spaces");
}

std::string model_id_for_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path, "cannot open file for reading");
  uint64_t h = 1469598103934665603ull;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h = fnv1a64(buf.data(), static_cast<size_t>(in.gcount()), h);
  }
  std::string stem = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  if (stem.find('.') != std::string::npos) stem = stem.substr(0, stem.find('.'));
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return stem + "-" + std::string(hex, 12);
}

void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

std::string request_id(const httplib::Response& res) { return res.get_header_value("X-Request-Id"); }

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, status, {{"error", message}, {"status", status}, {"request_id", request_id(res)}});
}

bool ScreenServer::Impl::authorized(const httplib::Request& req, httplib::Response& res) const {
  if (opt.token.empty() || http::bearer_ok(req.get_header_value("Authorization"), opt.token)) return true;
  const bool sent = req.has_header("Authorization");
  res.set_header("WWW-Authenticate",
                 sent ? "Bearer realm=\"covscreen\", error=\"invalid_token\"" : "Bearer realm=\"covscreen\"");
  send_error(res, 401, sent ? "invalid bearer token" : "this server needs a bearer token (Authorization: Bearer ...)");
  return false;
}

void ScreenServer::Impl::install_routes() {
  http.set_pre_routing_handler([this](const httplib::Request&, httplib::Response& res) {
    t_request_start = Clock::now();
    char id[40];
    std::snprintf(id, sizeof id, "%s-%06llu", id_prefix.c_str(), static_cast<unsigned long long>(next_id.fetch_add(1)));
    res.set_header("X-Request-Id", id);
    return httplib::Server::HandlerResponse::Unhandled;
  });

  http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // our own JSON error
    std::string msg = http::reason(res.status);
    if (res.status == 404) msg = "no such route: " + req.method + " " + req.path;
    if (res.status == 413) msg = "request body too large";
    send_error(res, res.status, msg);
    return httplib::Server::HandlerResponse::Handled;
  }));

  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    send_error(res, 500, "internal server error");
  });

  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    double seconds = 0;
    if (t_request_start != Clock::time_point{})
      seconds = std::chrono::duration<double>(Clock::now() - t_request_start).count();
    t_request_start = Clock::time_point{};
    const std::string route = route_of(req.path);
    metrics.observe_request(route, res.status, seconds);
    if (!opt.log_requests) return;
    // Ids, route, status, sizes and time only: no file names, paths or headers (PHI).
    // Multipart bodies are parsed into req.files, so the size is the declared Content-Length.
    const unsigned long long in_bytes =
        req.body.empty() ? std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10) : req.body.size();
    char line[256];
    std::snprintf(line, sizeof line, "covscreen serve: %s %s %s %d in=%lluB out=%zuB %.1fms\n", request_id(res).c_str(),
                  req.method.size() <= 7 ? req.method.c_str() : "?", route.c_str(), res.status, in_bytes,
                  res.body.size(), seconds * 1000.0);
    std::lock_guard<std::mutex> lock(log_mutex());
    std::cerr << line << std::flush;
  });

  auto guarded = [this](auto handler) {
    return [this, handler](const httplib::Request& req, httplib::Response& res) {
      if (authorized(req, res)) handler(req, res);
    };
  };

  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                   "img-src data: blob:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; "
                   "base-uri 'none'");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_content(index_html(), "text/html; charset=utf-8");
  });
  http.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200,
              {{"status", "ok"},
               {"model_id", model_id},
               {"queue_depth", queue->depth()},
               {"queue_capacity", queue->capacity()}});
  });
  http.Get("/metrics", guarded([this](const httplib::Request&, httplib::Response& res) {
             res.set_content(metrics.prometheus(queue->depth(), queue->capacity()) +
                                 ServeMetrics::prometheus_decoders(default_decoder_pool().stats()),
                             "text/plain; version=0.0.4");
           }));
  http.Get("/v1/model", guarded([this](const httplib::Request&, httplib::Response& res) {
             nlohmann::json j = card;
             j["id"] = model_id;
             j["notice"] = kNotice;
             send_json(res, 200, j);
           }));
  http.Post("/v1/screen",
            guarded([this](const httplib::Request& req, httplib::Response& res) { handle_screen(req, res); }));
  const auto not_allowed = [](const char* allow) {
    return [allow](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Allow", allow);
      send_error(res, 405, req.method + " is not allowed here (allowed: " + allow + ")");
    };
  };
  for (const char* r : {"/", "/healthz", "/metrics", "/v1/model"}) {
    http.Post(r, not_allowed("GET"));
    http.Put(r, not_allowed("GET"));
    http.Delete(r, not_allowed("GET"));
  }
  http.Get("/v1/screen", not_allowed("POST"));
  http.Put("/v1/screen", not_allowed("POST"));
  http.Delete("/v1/screen", not_allowed("POST"));
}

ScreenServer::ScreenServer(Checkpoint ck, std::string model_id, ServeOptions opt) : impl_(std::make_unique<Impl>()) {
  opt.validate();
  Impl& s = *impl_;
  s.model_id = std::move(model_id);
  s.opt = std::move(opt);
  s.card = model_card(ck);
  std::random_device rd;
  char prefix[16];
  std::snprintf(prefix, sizeof prefix, "%08x", rd());
  s.id_prefix = prefix;

  PipelineOptions po;
  po.inference = s.opt.inference;
  po.inference.batch_size = s.opt.batch;
  po.workers = s.opt.workers;
  po.read.max_pixels = s.opt.max_pixels;
  po.read.max_file_bytes = s.opt.max_body_bytes;
  po.cam = CamOutput::kPng;
  po.cam_max_side = s.opt.cam_max_side;
  po.input_check = s.opt.input_check;
  s.pipeline = std::make_unique<Pipeline>(std::move(ck), po);
  BatchQueueOptions qo;
  qo.capacity = s.opt.queue_capacity;
  qo.batch = s.opt.batch;
  qo.batch_wait_ms = s.opt.batch_wait_ms;
  qo.before_batch = s.opt.before_batch;
  ServeMetrics* m = &s.metrics;
  qo.on_batch = [m](int n, double seconds) { m->observe_batch(n, seconds); };
  s.queue = std::make_unique<BatchQueue>(*s.pipeline, qo);

  // Every HTTP thread allocates bodies and images: glibc would give each busy thread an arena of
  // its own and keep the freed pages there, so resident memory creeps up under load. Two arenas
  // keep it flat (docs/performance.md, Serving). Process-wide: the server is what the process is.
  mallopt(M_ARENA_MAX, 2);
  const int threads = s.opt.http_threads;
  s.http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  s.http.set_payload_max_length(static_cast<size_t>(s.opt.max_body_bytes));
  s.http.set_read_timeout(s.opt.io_timeout_s, 0);
  s.http.set_write_timeout(s.opt.io_timeout_s, 0);
  // A keep-alive connection holds an HTTP thread while it is open: keep them short so that
  // clients beyond http_threads are not starved.
  s.http.set_keep_alive_timeout(2);
  s.http.set_keep_alive_max_count(10);
  // Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm holds the
  // body until the client's delayed ACK, adding ~40 ms to every answer (bench/serve_load.cpp).
  s.http.set_tcp_nodelay(true);
  s.http.set_default_headers({{"X-Content-Type-Options", "nosniff"}, {"Cache-Control", "no-store"}});
  s.install_routes();
}

ScreenServer::~ScreenServer() { stop(); }

int ScreenServer::bind() {
  Impl& s = *impl_;
  if (s.port > 0) return s.port;
  if (s.opt.port == 0) {
    s.port = s.http.bind_to_any_port(s.opt.host);
  } else {
    s.port = s.http.bind_to_port(s.opt.host, s.opt.port) ? s.opt.port : -1;
  }
  if (s.port <= 0)
    throw Error("cannot listen on " + s.opt.host + ":" + std::to_string(s.opt.port) +
                " (address in use, not a local address, or no permission)");
  return s.port;
}

void ScreenServer::listen() {
  bind();
  impl_->http.listen_after_bind();
  impl_->queue->shutdown();
}

void ScreenServer::start() {
  bind();
  Impl& s = *impl_;
  s.thread = std::thread([&s] { s.http.listen_after_bind(); });
  for (int i = 0; i < 500 && !s.http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!s.http.is_running()) {
    stop();
    throw Error("the HTTP server did not start on " + s.opt.host + ":" + std::to_string(s.port));
  }
}

void ScreenServer::stop() {
  Impl& s = *impl_;
  if (s.stopped.exchange(true)) return;
  s.http.stop();
  if (s.thread.joinable()) s.thread.join();
  s.queue->shutdown();
}

int ScreenServer::port() const { return impl_->port; }
size_t ScreenServer::queue_depth() const { return impl_->queue->depth(); }
const ServeMetrics& ScreenServer::metrics() const { return impl_->metrics; }
const std::string& ScreenServer::model_id() const { return impl_->model_id; }

}  // namespace covscreen
