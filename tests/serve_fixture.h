#pragma once
// Shared fixtures of the serve tests: a fresh, untrained DenseNet-121 at 64x64 saved once per
// process, seeded synthetic pictures, hand-made bad files, an in-process server on 127.0.0.1
// with an ephemeral port, and a gate that holds the model worker (ServeOptions::before_batch).
#include <gtest/gtest.h>
#include <httplib.h>
#include <torch/torch.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli_util.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/serve/server.h"
#include "test_util.h"

namespace covscreen::serve_test {

using json = nlohmann::json;

inline const test::TempDir& temp() {
  static test::TempDir dir;
  return dir;
}

// A fresh (untrained) DenseNet-121 at 64x64, saved once per process.
inline const std::string& checkpoint_path() {
  static const std::string path = test::small_checkpoint(temp(), 7, "serve_small.ckpt");
  return path;
}

// A seeded synthetic chest-ish picture: gradient, noise and a bright disc.
inline cv::Mat picture(int w, int h, uint64_t seed) {
  cv::Mat m(h, w, CV_8UC1);
  cv::RNG rng(seed);
  rng.fill(m, cv::RNG::UNIFORM, 0, 60);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) m.at<uint8_t>(y, x) = cv::saturate_cast<uint8_t>(m.at<uint8_t>(y, x) + x);
  cv::circle(m, {w / 3 + static_cast<int>(seed % 7), h / 2}, std::min(w, h) / 5, cv::Scalar(230), -1);
  return m;
}

inline std::string encode(const cv::Mat& m, const std::string& ext) {
  std::vector<uchar> buf;
  cv::imencode(ext, m, buf);
  return std::string(buf.begin(), buf.end());
}

inline std::string png(int w = 80, int h = 96, uint64_t seed = 1) { return encode(picture(w, h, seed), ".png"); }

// CRC-32 (IEEE 802.3, as PNG uses), bitwise.
inline uint32_t crc32(const std::string& s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

inline std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

inline std::string chunk(const std::string& type, const std::string& data) {
  return be32(static_cast<uint32_t>(data.size())) + type + data + be32(crc32(type + data));
}

// A tiny, well-formed PNG file whose header claims width x height (a decompression bomb).
inline std::string png_claiming(uint32_t width, uint32_t height) {
  std::string ihdr = be32(width) + be32(height) + std::string("\x08\x00\x00\x00\x00", 5);  // 8-bit gray
  const std::string idat("\x78\x9c\x03\x00\x00\x00\x00\x01", 8);                           // an empty zlib stream
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IDAT", idat) + chunk("IEND", "");
}

inline std::string base64_decode(const std::string& in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t buf = 0;  // only the low 24 bits matter (at most 14 unread bits are kept)
  int bits = 0;
  for (char c : in) {
    const int v = val(c);
    if (v < 0) continue;
    buf = ((buf << 6) | static_cast<uint32_t>(v)) & 0xFFFFFFu;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xFF);
    }
  }
  return out;
}

inline ServeOptions test_options() {
  ServeOptions o;
  o.port = 0;
  o.host = "127.0.0.1";
  o.max_body_bytes = 2ll << 20;
  o.inference.device = DeviceKind::kCpu;
  o.http_threads = 6;
  o.workers = 1;  // the queue tests count model calls of one worker
  o.log_requests = false;
  o.input_check = false;  // synthetic pictures, no lungs; the gate's own tests: ServeHttp.InputGate*
  return o;
}

inline std::unique_ptr<ScreenServer> make_server(ServeOptions o) {
  auto s = std::make_unique<ScreenServer>(load_checkpoint(checkpoint_path()), model_id_for_file(checkpoint_path()),
                                          std::move(o));
  s->start();
  return s;
}

inline httplib::Client client(const ScreenServer& s) {
  httplib::Client c("127.0.0.1", s.port());
  c.set_read_timeout(60, 0);
  c.set_write_timeout(60, 0);
  return c;
}

inline json body_json(const httplib::Result& r) {
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << r->body.substr(0, 200);
  return json::parse(r->body);
}

// Error responses are JSON objects with an "error" string.
inline void expect_json_error(const httplib::Result& r, int status) {
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, status) << r->body.substr(0, 300);
  const json j = body_json(r);
  ASSERT_TRUE(j.contains("error")) << r->body;
  EXPECT_TRUE(j["error"].is_string());
  EXPECT_FALSE(j["error"].get<std::string>().empty());
}

// A gate the model worker waits at (ServeOptions::before_batch): the first `hold` batches
// block until open() is called.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool is_open = false;
  int entered = 0;
  void wait_here() {
    std::unique_lock<std::mutex> lock(mu);
    ++entered;
    cv.notify_all();
    cv.wait(lock, [this] { return is_open; });
  }
  bool wait_entered(int n, std::chrono::seconds limit = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, limit, [&] { return entered >= n; });
  }
  void open() {
    std::lock_guard<std::mutex> lock(mu);
    is_open = true;
    cv.notify_all();
  }
};

// Opens the gate when the test leaves, even early, so the server (declared before) can stop.
struct OpenOnExit {
  Gate& gate;
  ~OpenOnExit() { gate.open(); }
};

inline bool wait_for(const std::function<bool()>& cond, double seconds = 20) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

}  // namespace covscreen::serve_test
