#pragma once
// Counters and histograms of the screening service, rendered in the Prometheus text format
// (version 0.0.4). Thread-safe. Routes are the server's fixed route names ("/v1/screen", ...,
// "other" for anything unknown), so a client cannot grow the label set.
//   covscreen_http_requests_total{route,status}          counter
//   covscreen_http_request_duration_seconds{route}       histogram (seconds)
//   covscreen_images_total{outcome="ok|error"}           counter
//   covscreen_batches_total, covscreen_batch_images_total counters (mean batch size = ratio)
//   covscreen_inference_duration_seconds                 histogram of model calls (seconds)
//   covscreen_queue_depth, covscreen_queue_capacity      gauges
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "covscreen/io/decoder_pool.h"

namespace covscreen {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // Lines "<name>_bucket{<labels>le="..."} n", _sum, _count. labels: "" or `a="b",`.
  std::string render(const std::string& name, const std::string& labels) const;
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bound (not cumulative), plus +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class ServeMetrics {
 public:
  ServeMetrics();
  void observe_request(const std::string& route, int status, double seconds);
  void observe_batch(int images, double seconds);
  void count_images(int ok, int failed);
  uint64_t requests(const std::string& route, int status) const;
  uint64_t requests_total() const;
  std::string prometheus(size_t queue_depth, size_t queue_capacity) const;
  // The decoder processes' counters (io/decoder_pool.h) in the same text format.
  static std::string prometheus_decoders(const DecoderStats& s);

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  Histogram inference_;
  uint64_t batches_ = 0, batch_images_ = 0, images_ok_ = 0, images_failed_ = 0;
};

}  // namespace covscreen
