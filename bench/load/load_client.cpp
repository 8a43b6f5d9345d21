// The loopback load generator (serve/load.h).
#include "load/load_client.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "covscreen/core/error.h"
#include "covscreen/core/strings.h"

namespace covscreen {

namespace {
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

std::string random_bytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

// CRC-32 (IEEE 802.3, as PNG uses), bitwise; for the decompression-bomb header below.
uint32_t crc32(const std::string& s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}
std::string png_chunk(const std::string& type, const std::string& data) {
  return be32_bytes(static_cast<uint32_t>(data.size())) + type + data + be32_bytes(crc32(type + data));
}
// A tiny, well-formed PNG whose header claims width x height 8-bit gray pixels.
std::string png_claiming(uint32_t width, uint32_t height) {
  const std::string ihdr = be32_bytes(width) + be32_bytes(height) + std::string("\x08\x00\x00\x00\x00", 5);
  const std::string idat("\x78\x9c\x03\x00\x00\x00\x00\x01", 8);  // an empty zlib stream
  return std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) + png_chunk("IDAT", idat) +
         png_chunk("IEND", "");
}

LoadRequest raw(const std::string& kind, bool valid, int expect, const std::string& type, std::string body) {
  LoadRequest r;
  r.kind = kind;
  r.valid = valid;
  r.expect_status = expect;
  r.content_type = type;
  r.body = std::move(body);
  return r;
}

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// What one request got.
struct Outcome {
  const LoadRequest* req = nullptr;
  bool sent = false;
  int status = 0;  // 0: no HTTP answer
  double ms = 0;
  std::string problem;  // non-empty: the answer broke the contract
  enum Flag { kNone, kValid5xx, kValidOther, kBad200, kNoRetryAfter, kCorruptNot4xx, kCorruptWrongStatus } flag = kNone;
};

bool json_error_body(const httplib::Response& res, std::string* why) {
  if (res.get_header_value("Content-Type").rfind("application/json", 0) != 0) {
    *why = "Content-Type '" + res.get_header_value("Content-Type") + "'";
    return false;
  }
  const json j = json::parse(res.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("error") || !j["error"].is_string() ||
      j["error"].get<std::string>().empty()) {
    *why = "no JSON error";
    return false;
  }
  return true;
}

void judge(const LoadRequest& q, const httplib::Response& res, Outcome& o) {
  std::string why;
  if (q.valid) {
    if (res.status == 200) {
      const json j = json::parse(res.body, nullptr, false);
      const size_t files = q.parts.empty() ? 1 : q.parts.size();
      bool good = !j.is_discarded() && j.contains("results") && j["results"].is_array() && j["results"].size() == files;
      for (size_t k = 0; good && k < files; ++k) {
        const json& it = j["results"][k];
        good = it.value("ok", false) && it.contains("probabilities") && it["probabilities"].is_object() &&
               !it["probabilities"].empty();
        for (auto p = it["probabilities"].begin(); good && p != it["probabilities"].end(); ++p)
          good = p->is_number() && p->get<double>() >= 0.0 && p->get<double>() <= 1.0;
        if (good && q.want_cam)
          good = it.contains("cam_png_base64") && it["cam_png_base64"].is_string() &&
                 it["cam_png_base64"].get<std::string>().size() > 100;
      }
      if (!good) o.flag = Outcome::kBad200, o.problem = "200 body without one ok result per file";
    } else if (res.status == 503) {
      if (res.get_header_value("Retry-After").empty() || !json_error_body(res, &why))
        o.flag = Outcome::kNoRetryAfter, o.problem = "503 without Retry-After or JSON error";
    } else {
      o.flag = res.status >= 500 ? Outcome::kValid5xx : Outcome::kValidOther;
      o.problem = "valid file answered " + std::to_string(res.status);
    }
  } else {
    if (res.status < 400 || res.status >= 500 || !json_error_body(res, &why)) {
      o.flag = Outcome::kCorruptNot4xx;
      o.problem = "corrupt file answered " + std::to_string(res.status) + (why.empty() ? "" : " (" + why + ")");
    } else if (q.expect_status && res.status != q.expect_status) {
      o.flag = Outcome::kCorruptWrongStatus;
      o.problem = "answered " + std::to_string(res.status) + ", expected " + std::to_string(q.expect_status);
    }
  }
  if (!o.problem.empty()) o.problem += ": " + res.body.substr(0, 160);
}

// Runs requests [0, n) of the seeded sequence at the given concurrency; fills `out` (size n).
void fire(const LoadMix& mix, const LoadOptions& opt, uint64_t seed, int n, std::vector<Outcome>& out,
          const std::function<void(int answered)>& on_answer) {
  double total = 0;
  for (const auto& [kind, w] : mix.weights) total += w;
  const auto pick = [&](uint64_t i) -> const LoadRequest& {
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + i);
    double u = std::uniform_real_distribution<double>(0, total)(rng);
    const std::string* kind = &mix.weights.back().first;
    for (const auto& [k, w] : mix.weights) {
      if (u < w) {
        kind = &k;
        break;
      }
      u -= w;
    }
    const auto& list = mix.pool.at(*kind);
    return list[std::uniform_int_distribution<size_t>(0, list.size() - 1)(rng)];
  };
  out.assign(static_cast<size_t>(n), Outcome{});
  std::atomic<int> next{0}, answered{0};
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.time_limit_s));
  std::vector<std::thread> threads;
  for (int t = 0; t < opt.concurrency; ++t) {
    threads.emplace_back([&] {
      httplib::Client cli(opt.host, opt.port);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);
      cli.set_connection_timeout(10, 0);
      cli.set_read_timeout(opt.read_timeout_s, 0);
      cli.set_write_timeout(opt.read_timeout_s, 0);
      httplib::Headers headers;
      if (!opt.token.empty()) headers.emplace("Authorization", "Bearer " + opt.token);
      for (int i; (i = next++) < n;) {
        Outcome& o = out[static_cast<size_t>(i)];
        const LoadRequest& q = pick(static_cast<uint64_t>(i));
        o.req = &q;
        if (Clock::now() > deadline) continue;
        o.sent = true;
        const auto t0 = Clock::now();
        httplib::Result r = [&] {
          if (q.parts.empty()) return cli.Post(q.target.c_str(), headers, q.body, q.content_type.c_str());
          httplib::MultipartFormDataItems items;
          for (const auto& f : q.parts) {
            const bool png = f.bytes.rfind("\x89PNG", 0) == 0;
            items.push_back({"files", f.bytes, f.name, png ? "image/png" : "image/jpeg"});
          }
          return cli.Post(q.target.c_str(), headers, items);
        }();
        o.ms = ms_since(t0);
        if (!r) {
          o.problem = "no answer: " + httplib::to_string(r.error());
          cli.stop();  // a fresh connection for the next request
        } else {
          o.status = r->status;
          judge(q, *r, o);
        }
        if (on_answer) on_answer(++answered);
      }
    });
  }
  for (auto& t : threads) t.join();
}

json latency_json(const LatencySummary& s) {
  const auto r = [](double v) { return std::round(v * 10) / 10; };
  return {{"n", s.n}, {"p50", r(s.p50)}, {"p95", r(s.p95)}, {"p99", r(s.p99)}, {"max", r(s.max)}, {"mean", r(s.mean)}};
}

json status_json(const std::map<int, int>& m) {
  json j = json::object();
  for (const auto& [s, n] : m) j[s ? std::to_string(s) : "no_answer"] = n;
  return j;
}

double mib(int64_t kb) { return kb < 0 ? -1.0 : std::round(kb / 1024.0 * 10) / 10; }
}  // namespace

LoadMix make_load_mix(const std::vector<LoadFile>& png, const std::vector<LoadFile>& jpeg, uint64_t seed) {
  if (png.empty() || jpeg.empty()) throw UsageError("the load mix needs at least one PNG and one JPEG file");
  std::mt19937_64 rng(seed);
  LoadMix m;
  m.weights = {{"valid_png", 30},  {"valid_jpeg", 20},   {"valid_multipart", 10},
               {"valid_cam", 5},   {"truncated_png", 6}, {"truncated_jpeg", 6},
               {"corrupt_png", 5}, {"garbage", 6},       {"text", 4},
               {"empty", 5},       {"bomb", 3}};
  auto& P = m.pool;
  for (const auto& f : png) P["valid_png"].push_back(raw("valid_png", true, 0, "image/png", f.bytes));
  for (const auto& f : jpeg) P["valid_jpeg"].push_back(raw("valid_jpeg", true, 0, "image/jpeg", f.bytes));
  for (size_t i = 0; i < std::max(png.size(), jpeg.size()); ++i) {
    LoadRequest r = raw("valid_multipart", true, 0, "", "");
    r.parts = {png[i % png.size()], jpeg[i % jpeg.size()]};
    P["valid_multipart"].push_back(std::move(r));
  }
  for (const auto& f : png) {
    LoadRequest r = raw("valid_cam", true, 0, "image/png", f.bytes);
    r.target = "/v1/screen?cam=1";
    r.want_cam = true;
    P["valid_cam"].push_back(std::move(r));
  }
  // Cut after the signature and the header, so the decoder sees a real but incomplete file: 422.
  for (const double cut : {0.3, 0.6, 0.95}) {
    for (size_t i = 0; i < std::min<size_t>(png.size(), 8); ++i)
      P["truncated_png"].push_back(raw("truncated_png", false, 422, "image/png",
                                       png[i].bytes.substr(0, static_cast<size_t>(png[i].bytes.size() * cut))));
    for (size_t i = 0; i < std::min<size_t>(jpeg.size(), 8); ++i)
      P["truncated_jpeg"].push_back(raw("truncated_jpeg", false, 422, "image/jpeg",
                                        jpeg[i].bytes.substr(0, static_cast<size_t>(jpeg[i].bytes.size() * cut))));
  }
  for (int i = 0; i < 8; ++i) {
    // A PNG signature and garbage: not decodable (422).
    P["corrupt_png"].push_back(raw("corrupt_png", false, 422, "image/png",
                                   std::string("\x89PNG\r\n\x1a\n", 8) + random_bytes(rng, 2000 + 1000 * i)));
    // Random bytes that start with no known signature: not an image (415).
    std::string junk = random_bytes(rng, 500 + 3000 * i);
    junk[0] = '\x01';
    P["garbage"].push_back(raw("garbage", false, 415, i % 2 ? "image/jpeg" : "application/octet-stream", junk));
  }
  P["text"].push_back(raw("text", false, 415, "image/png", "this is a radiology report, not an image\n"));
  P["text"].push_back(raw("text", false, 415, "application/dicom", std::string(600, 'A')));
  P["empty"].push_back(raw("empty", false, 400, "image/png", ""));
  P["empty"].push_back(raw("empty", false, 400, "application/dicom", ""));
  P["bomb"].push_back(raw("bomb", false, 413, "image/png", png_claiming(100000, 100000)));
  P["bomb"].push_back(raw("bomb", false, 413, "image/png", png_claiming(20000, 20000)));
  return m;
}

LatencySummary summarize(std::vector<double> ms) {
  LatencySummary s;
  s.n = ms.size();
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  // Nearest-rank percentiles.
  const auto pct = [&](double p) {
    const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(ms.size())));
    return ms[std::min(ms.size() - 1, rank == 0 ? 0 : rank - 1)];
  };
  s.p50 = pct(50);
  s.p95 = pct(95);
  s.p99 = pct(99);
  s.max = ms.back();
  double sum = 0;
  for (double v : ms) sum += v;
  s.mean = sum / static_cast<double>(ms.size());
  return s;
}

int64_t process_rss_kb(int pid, bool peak) {
  std::ifstream f(pid > 0 ? "/proc/" + std::to_string(pid) + "/status" : std::string("/proc/self/status"));
  const std::string key = peak ? "VmHWM:" : "VmRSS:";
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key, 0) == 0) {
      std::istringstream in(line.substr(key.size()));
      int64_t kb = -1;
      in >> kb;
      return kb;
    }
  }
  return -1;
}

LoadReport run_load(const LoadMix& mix, const LoadOptions& opt) {
  if (opt.requests <= 0 || opt.concurrency <= 0 || opt.warmup < 0)
    throw UsageError("load: requests and concurrency must be positive, warm-up not negative");
  if (opt.port <= 0 || opt.port > 65535) throw UsageError("load: no server port");
  if (mix.weights.empty()) throw UsageError("load: empty mix");
  for (const auto& [kind, w] : mix.weights)
    if (!mix.pool.count(kind) || mix.pool.at(kind).empty()) throw UsageError("load: no requests of kind " + kind);

  LoadReport rep;
  rep.requests = opt.requests;
  rep.concurrency = opt.concurrency;
  std::vector<Outcome> outcomes;
  if (opt.warmup > 0) fire(mix, opt, opt.seed + 0x5eed, opt.warmup, outcomes, nullptr);

  rep.rss_start_kb = process_rss_kb(opt.rss_pid);
  std::atomic<int64_t> peak{rep.rss_start_kb}, mid{-1};
  std::atomic<bool> stop{false};
  std::thread sampler([&] {
    while (!stop) {
      const int64_t kb = process_rss_kb(opt.rss_pid);
      if (kb > peak) peak = kb;
      for (int k = 0; k < 10 && !stop; ++k) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const int half = std::max(1, opt.requests / 2);
  const int tenth = std::max(1, opt.requests / 10);
  std::vector<int64_t> trace(10, -1);  // each slot written once, by the thread that answered it
  const auto t0 = Clock::now();
  fire(mix, opt, opt.seed, opt.requests, outcomes, [&](int answered) {
    if (answered == half) mid = process_rss_kb(opt.rss_pid);
    if (answered % tenth == 0 && answered / tenth <= 10)
      trace[static_cast<size_t>(answered / tenth - 1)] = process_rss_kb(opt.rss_pid);
  });
  rep.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  stop = true;
  sampler.join();
  rep.rss_end_kb = process_rss_kb(opt.rss_pid);
  rep.rss_mid_kb = mid;
  rep.rss_peak_kb = std::max<int64_t>(peak, rep.rss_end_kb);
  rep.rss_hwm_kb = process_rss_kb(opt.rss_pid, true);
  for (int64_t kb : trace)
    if (kb >= 0) rep.rss_trace_kb.push_back(kb);

  for (const Outcome& o : outcomes) {
    KindReport& k = rep.kinds[o.req->kind];
    ++k.count;
    if (!o.sent) continue;
    ++rep.sent;
    ++k.status[o.status];
    ++rep.status[o.status];
    k.latency_ms.push_back(o.ms);
    if (o.status == 0) {
      ++rep.transport_errors;
    } else {
      ++rep.answered;
      if (o.req->valid && o.status == 200 && o.flag != Outcome::kBad200) {
        ++rep.valid_ok;
        rep.valid_images += o.req->parts.empty() ? 1 : static_cast<int>(o.req->parts.size());
      }
      if (o.req->valid && o.status == 503) ++rep.valid_503;
    }
    switch (o.flag) {
      case Outcome::kValid5xx:
        ++rep.valid_5xx_not_503;
        ++rep.valid_unexpected;
        break;
      case Outcome::kValidOther:
        ++rep.valid_unexpected;
        break;
      case Outcome::kBad200:
        ++rep.bad_200_bodies;
        break;
      case Outcome::kNoRetryAfter:
        ++rep.missing_retry_after;
        break;
      case Outcome::kCorruptNot4xx:
        ++rep.corrupt_not_4xx_json;
        break;
      case Outcome::kCorruptWrongStatus:
        ++rep.corrupt_wrong_status;
        break;
      case Outcome::kNone:
        break;
    }
    if (!o.problem.empty() && rep.problems.size() < 10) rep.problems.push_back(o.req->kind + ": " + o.problem);
  }

  httplib::Client cli(opt.host, opt.port);
  cli.set_connection_timeout(10, 0);
  cli.set_read_timeout(30, 0);
  const auto h = cli.Get("/healthz");
  rep.server_alive = h && h->status == 200;
  return rep;
}

json LoadReport::to_json() const {
  json kinds_j = json::object();
  std::vector<double> valid_ms, valid200_ms, corrupt_ms;
  for (const auto& [kind, k] : kinds) {
    kinds_j[kind] = {
        {"count", k.count}, {"status", status_json(k.status)}, {"latency_ms", latency_json(summarize(k.latency_ms))}};
    const bool valid = kind.rfind("valid_", 0) == 0;
    auto& all = valid ? valid_ms : corrupt_ms;
    all.insert(all.end(), k.latency_ms.begin(), k.latency_ms.end());
  }
  return {
      {"requests", requests},
      {"concurrency", concurrency},
      {"sent", sent},
      {"answered", answered},
      {"seconds", std::round(seconds * 1000) / 1000},
      {"requests_per_s", seconds > 0 ? std::round(answered / seconds * 100) / 100 : 0.0},
      {"valid_ok_per_s", seconds > 0 ? std::round(valid_ok / seconds * 100) / 100 : 0.0},
      {"valid_images", valid_images},
      {"valid_images_per_s", seconds > 0 ? std::round(valid_images / seconds * 100) / 100 : 0.0},
      {"latency_ms", {{"valid", latency_json(summarize(valid_ms))}, {"corrupt", latency_json(summarize(corrupt_ms))}}},
      {"status", status_json(status)},
      {"kinds", kinds_j},
      {"checks",
       {{"transport_errors", transport_errors},
        {"valid_ok", valid_ok},
        {"valid_503", valid_503},
        {"valid_5xx_not_503", valid_5xx_not_503},
        {"valid_unexpected", valid_unexpected},
        {"bad_200_bodies", bad_200_bodies},
        {"missing_retry_after", missing_retry_after},
        {"corrupt_not_4xx_json", corrupt_not_4xx_json},
        {"corrupt_wrong_status", corrupt_wrong_status},
        {"server_alive", server_alive}}},
      {"rss_mib",
       {{"start", mib(rss_start_kb)},
        {"mid", mib(rss_mid_kb)},
        {"end", mib(rss_end_kb)},
        {"peak_sampled", mib(rss_peak_kb)},
        {"hwm", mib(rss_hwm_kb)},
        {"trace",
         [&] {
           json t = json::array();
           for (int64_t kb : rss_trace_kb) t.push_back(mib(kb));
           return t;
         }()}}},
      {"problems", problems},
  };
}

}  // namespace covscreen
