#pragma once
// The screening service behind `covscreen serve`: one model, shared by all requests through a
// bounded micro-batching queue (serve/batch_queue.h), on cpp-httplib.
//   POST /v1/screen   raw body (image/png, image/jpeg, application/dicom, image/*,
//                     application/octet-stream) or multipart/form-data with several files;
//                     ?cam=1 adds the Grad-CAM overlay as a base64 PNG per file
//   GET  /v1/model    the model card (classes, preprocessing, training, metrics) and model id
//   GET  /healthz     liveness (no token needed)
//   GET  /metrics     Prometheus text format
//   GET  /            the web page (serve/page.h)
// Every error is a 4xx/5xx with a JSON body {"error": "..."}: 400 empty/malformed, 401 token,
// 404 route, 405 method, 413 body/image too large, 415 not an image, 422 corrupt image,
// 503 queue full (Retry-After), 504 model timeout, 500 inference failure.
// With a token, /v1/* and /metrics need "Authorization: Bearer <token>" (constant-time compare).
// Nothing is read from the file system on behalf of a request; logs hold request ids, routes,
// statuses, sizes and times only (no file names, no DICOM tags).
#include <cstddef>
#include <memory>
#include <string>

#include "covscreen/models/checkpoint.h"
#include "covscreen/serve/metrics.h"
#include "covscreen/serve/serve_options.h"

namespace covscreen {

class ScreenServer {
 public:
  // Moves the model to its device and starts the model worker. Throws UsageError for bad options.
  ScreenServer(Checkpoint ck, std::string model_id, ServeOptions opt);
  ~ScreenServer();  // stop()
  ScreenServer(const ScreenServer&) = delete;
  ScreenServer& operator=(const ScreenServer&) = delete;

  // Binds host:port (port 0: an ephemeral one) and returns the port. Throws Error when it cannot.
  int bind();
  // Serves until stop() (binds first if needed). Blocks.
  void listen();
  // listen() on a background thread; returns once the server accepts connections.
  void start();
  // Stops accepting, lets running requests finish, fails queued images (503). Idempotent.
  void stop();

  int port() const;
  size_t queue_depth() const;
  const ServeMetrics& metrics() const;
  const std::string& model_id() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// "<file stem>-<first 12 hex digits of the FNV-1a 64 hash of the file's bytes>". Throws FileError.
std::string model_id_for_file(const std::string& path);

}  // namespace covscreen
