#pragma once
// A loopback load generator for `covscreen serve` (bench/serve_load.cpp, tests/serve_load_test.cpp).
// C client threads (cpp-httplib, keep-alive) fire N requests at POST /v1/screen, each drawn with a
// seeded RNG (request i uses seed + i, so the sequence does not depend on thread timing) from a
// mix of valid images (raw PNG, raw JPEG, multipart with two files, ?cam=1) and corrupt bodies
// (truncated PNG/JPEG, a PNG signature followed by garbage, random bytes, text, an empty body, a
// PNG header claiming 10^10 or 4·10^8 pixels). Every answer is checked:
//   valid   -> 200 with one ok result per file (probabilities in [0, 1], a CAM when asked), or
//              503 with Retry-After and a JSON error (overload); anything else is counted;
//   corrupt -> a 4xx with a JSON {"error": "..."} body, and the status the kind calls for.
// The server's resident memory (VmRSS of `rss_pid`, this process when 0) is read after the warm-up,
// half-way, at the end, and sampled every 50 ms for the peak. Times in ms, memory in KiB.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace covscreen {

struct LoadFile {
  std::string name;   // shown to the server as the multipart file name
  std::string bytes;  // the file's content
};

struct LoadRequest {
  std::string kind;       // "valid_png", "truncated_jpeg", ...
  bool valid = true;      // valid: 200 or 503; corrupt: 4xx JSON
  int expect_status = 0;  // corrupt: the 4xx this kind must get (0: any 4xx)
  std::string target = "/v1/screen";
  std::string content_type;     // raw body's media type (unused for multipart)
  std::string body;             // raw body
  std::vector<LoadFile> parts;  // non-empty: multipart/form-data with these files
  bool want_cam = false;        // valid 200 answers must carry a CAM overlay per file
};

struct LoadMix {
  // kind -> relative weight, and kind -> the requests of that kind to draw from.
  std::vector<std::pair<std::string, double>> weights;
  std::map<std::string, std::vector<LoadRequest>> pool;
};

// The default mix, about 70% valid requests: raw PNG 30, raw JPEG 20, multipart (2 files) 10,
// ?cam=1 PNG 5; truncated PNG 6, truncated JPEG 6, corrupt PNG 5, random bytes 6, text 4,
// empty 5, bomb 3. Needs at least one PNG and one JPEG. Throws UsageError otherwise.
LoadMix make_load_mix(const std::vector<LoadFile>& png, const std::vector<LoadFile>& jpeg, uint64_t seed = 1);

struct LoadOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string token;  // sent as a bearer token when non-empty
  int requests = 2000;
  int concurrency = 16;
  int warmup = 32;  // requests before the measurement (not counted; RSS start taken after)
  uint64_t seed = 1;
  double time_limit_s = 900;  // no request starts after this (the rest count as not sent)
  int read_timeout_s = 180;   // client socket timeout
  int rss_pid = 0;            // the server process (0: this process, for an in-process server)
};

struct LatencySummary {
  size_t n = 0;
  double p50 = 0, p95 = 0, p99 = 0, max = 0, mean = 0;
};
LatencySummary summarize(std::vector<double> ms);

struct KindReport {
  int count = 0;
  std::map<int, int> status;  // HTTP status -> count (0: no answer)
  std::vector<double> latency_ms;
};

struct LoadReport {
  int requests = 0, concurrency = 0;
  int sent = 0, answered = 0;
  double seconds = 0;  // wall time of the measured requests
  std::map<std::string, KindReport> kinds;
  std::map<int, int> status;  // all requests
  int transport_errors = 0;   // no HTTP answer (connection refused/reset, timeout)
  int valid_ok = 0, valid_503 = 0;
  int valid_images = 0;               // images screened in the valid requests answered 200
  int valid_5xx_not_503 = 0;          // must be 0
  int valid_unexpected = 0;           // valid request answered neither 200 nor 503 (includes the above)
  int bad_200_bodies = 0;             // 200 whose JSON is not one ok result per file with probabilities
  int missing_retry_after = 0;        // 503 without Retry-After or JSON error
  int corrupt_not_4xx_json = 0;       // corrupt request not answered 4xx with a JSON error
  int corrupt_wrong_status = 0;       // 4xx, but not the one its kind calls for
  std::vector<std::string> problems;  // the first few, for the log
  int64_t rss_start_kb = 0, rss_mid_kb = 0, rss_end_kb = 0, rss_peak_kb = 0, rss_hwm_kb = 0;
  std::vector<int64_t> rss_trace_kb;  // after each tenth of the requests (a leak grows linearly)
  bool server_alive = false;          // /healthz answered 200 after the run

  nlohmann::json to_json() const;
};

// Runs the warm-up and then `requests` requests at `concurrency`. Never throws for HTTP problems
// (they are counted); throws UsageError for bad options.
LoadReport run_load(const LoadMix& mix, const LoadOptions& opt);

// VmRSS (or VmHWM, the peak) of process `pid` (0: this process) in KiB, from /proc; -1 if unknown.
int64_t process_rss_kb(int pid, bool peak = false);

}  // namespace covscreen
