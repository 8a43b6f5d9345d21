#include "covscreen/serve/metrics.h"

#include <cstdio>
#include <sstream>

#include "covscreen/core/strings.h"

namespace covscreen {

namespace {
const std::vector<double> kLatencyBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

std::string num(double v) { return format_number(v); }
}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

std::string Histogram::render(const std::string& name, const std::string& labels) const {
  std::ostringstream o;
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cum += counts_[i];
    o << name << "_bucket{" << labels << "le=\"" << num(bounds_[i]) << "\"} " << cum << "\n";
  }
  cum += counts_.back();
  o << name << "_bucket{" << labels << "le=\"+Inf\"} " << cum << "\n";
  std::string plain = labels;
  if (!plain.empty() && plain.back() == ',') plain.pop_back();
  const std::string braces = plain.empty() ? "" : "{" + plain + "}";
  o << name << "_sum" << braces << " " << num(sum_) << "\n";
  o << name << "_count" << braces << " " << count_ << "\n";
  return o.str();
}

ServeMetrics::ServeMetrics() : inference_(kLatencyBounds) {}

void ServeMetrics::observe_request(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{route, status}];
  auto it = latency_.find(route);
  if (it == latency_.end()) it = latency_.emplace(route, Histogram(kLatencyBounds)).first;
  it->second.observe(seconds);
}

void ServeMetrics::observe_batch(int images, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++batches_;
  batch_images_ += static_cast<uint64_t>(images);
  inference_.observe(seconds);
}

void ServeMetrics::count_images(int ok, int failed) {
  std::lock_guard<std::mutex> lock(mu_);
  images_ok_ += static_cast<uint64_t>(ok);
  images_failed_ += static_cast<uint64_t>(failed);
}

uint64_t ServeMetrics::requests(const std::string& route, int status) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = requests_.find({route, status});
  return it == requests_.end() ? 0 : it->second;
}

uint64_t ServeMetrics::requests_total() const {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t n = 0;
  for (const auto& kv : requests_) n += kv.second;
  return n;
}

std::string ServeMetrics::prometheus(size_t queue_depth, size_t queue_capacity) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream o;
  o << "# HELP covscreen_http_requests_total HTTP requests by route and status.\n"
    << "# TYPE covscreen_http_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    o << "covscreen_http_requests_total{route=\"" << key.first << "\",status=\"" << key.second << "\"} " << n << "\n";
  o << "# HELP covscreen_http_request_duration_seconds Time from routing to response, by route.\n"
    << "# TYPE covscreen_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_)
    o << h.render("covscreen_http_request_duration_seconds", "route=\"" + route + "\",");
  o << "# HELP covscreen_images_total Images screened (ok) or refused (error).\n"
    << "# TYPE covscreen_images_total counter\n"
    << "covscreen_images_total{outcome=\"ok\"} " << images_ok_ << "\n"
    << "covscreen_images_total{outcome=\"error\"} " << images_failed_ << "\n";
  o << "# HELP covscreen_batches_total Model calls.\n# TYPE covscreen_batches_total counter\n"
    << "covscreen_batches_total " << batches_ << "\n";
  o << "# HELP covscreen_batch_images_total Images over all model calls.\n"
    << "# TYPE covscreen_batch_images_total counter\n"
    << "covscreen_batch_images_total " << batch_images_ << "\n";
  o << "# HELP covscreen_inference_duration_seconds Duration of one model call (a micro-batch).\n"
    << "# TYPE covscreen_inference_duration_seconds histogram\n"
    << inference_.render("covscreen_inference_duration_seconds", "");
  o << "# HELP covscreen_queue_depth Images waiting for the model.\n# TYPE covscreen_queue_depth gauge\n"
    << "covscreen_queue_depth " << queue_depth << "\n";
  o << "# HELP covscreen_queue_capacity Queue size limit.\n# TYPE covscreen_queue_capacity gauge\n"
    << "covscreen_queue_capacity " << queue_capacity << "\n";
  return o.str();
}

std::string ServeMetrics::prometheus_decoders(const DecoderStats& s) {
  std::ostringstream o;
  o << "# HELP covscreen_decoder_crashes_total Decoder processes that died on a file (the file got an error).\n"
    << "# TYPE covscreen_decoder_crashes_total counter\n"
    << "covscreen_decoder_crashes_total " << s.crashes << "\n"
    << "# HELP covscreen_decoder_timeouts_total Decoder processes stopped after the time limit.\n"
    << "# TYPE covscreen_decoder_timeouts_total counter\n"
    << "covscreen_decoder_timeouts_total " << s.timeouts << "\n"
    << "# HELP covscreen_decoder_files_total Files the decoder processes answered.\n"
    << "# TYPE covscreen_decoder_files_total counter\n"
    << "covscreen_decoder_files_total " << s.decoded << "\n";
  return o.str();
}

}  // namespace covscreen
