#pragma once
// Options of `covscreen serve` (one struct, defaults here, validated once). Sizes in bytes,
// pixel counts in pixels, times in seconds unless the name says _ms.
#include <cstdint>
#include <functional>
#include <string>

#include "covscreen/inference/inference.h"

namespace covscreen {

struct ServeOptions {
  std::string host = "127.0.0.1";       // loopback unless told otherwise
  int port = 8080;                      // 0: an ephemeral port (see ScreenServer::port())
  std::string token;                    // non-empty: /v1/* and /metrics need "Authorization: Bearer <token>"
  int64_t max_body_bytes = 64ll << 20;  // larger bodies: 413
  int64_t max_pixels = 64ll << 20;      // larger images (decompression bombs): 413
  int max_files = 64;                   // files in one multipart request
  int queue_capacity = 64;              // images waiting for the model; full: 503 + Retry-After
  int batch = 4;                        // images per model call and worker (micro-batch across requests)
  int workers = 0;                      // model workers; 0 = default_workers() (screen/pipeline.h)
  double batch_wait_ms = 2.0;           // how long a worker waits to fill its batch once one image is queued
  int http_threads = 32;                // connections served at once (a keep-alive connection holds one
                                        // while open; more clients than this wait to be accepted)
  double request_timeout_s = 60.0;      // wait for the model at most this long per request: 504
  int io_timeout_s = 30;                // socket read/write timeout
  int cam_max_side = 768;               // CAM overlays are drawn on the picture shrunk to this long side
  int retry_after_s = 1;                // Retry-After on 503
  InferenceOptions inference;           // device, precision (batch_size is `batch`)
  bool input_check = true;              // the input gate (screen/input_gate.h); false: --no-input-check
  bool log_requests = true;             // one stderr line per request: id, route, status, sizes, time (no PHI)
  // Test hook: called on a model worker after it took a batch off the queue, before inference.
  std::function<void()> before_batch;

  void validate() const;  // throws UsageError
};

}  // namespace covscreen
