// covscreen-decoder: the decoder process of io/decoder_pool.h. Reads request frames on stdin,
// decodes each file in this process (read_image / decode_image), writes a reply frame on stdout,
// until stdin closes. A crash here costs covscreen one file, not the run.
//   covscreen-decoder --memory-limit BYTES --parent PID
// Test hook: COVSCREEN_DECODER_FAULTS="abort:NAME;segv:NAME;hang:NAME;oom:NAME" fails that way on
// requests whose file name contains NAME (the fault-injection test of tests/screen_isolation_*).
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "covscreen/io/decoder_protocol.h"

namespace {

using covscreen::decoder::Reply;
using covscreen::decoder::Request;

std::vector<std::pair<std::string, std::string>> read_faults() {
  std::vector<std::pair<std::string, std::string>> out;
  const char* env = std::getenv("COVSCREEN_DECODER_FAULTS");
  if (!env) return out;
  std::string s = env;
  size_t at = 0;
  while (at <= s.size()) {
    size_t end = s.find(';', at);
    if (end == std::string::npos) end = s.size();
    const std::string item = s.substr(at, end - at);
    const size_t colon = item.find(':');
    if (colon != std::string::npos && colon + 1 < item.size())
      out.emplace_back(item.substr(0, colon), item.substr(colon + 1));
    at = end + 1;
  }
  return out;
}

// Fails as asked when the request names a file with a fault; returns normally otherwise.
void inject(const std::vector<std::pair<std::string, std::string>>& faults, const std::string& name) {
  for (const auto& [kind, needle] : faults) {
    if (name.find(needle) == std::string::npos) continue;
    if (kind == "abort") std::abort();
    if (kind == "segv") ::raise(SIGSEGV);
    if (kind == "hang")
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
    if (kind == "oom") {  // allocate and touch until the memory limit says no
      std::vector<std::unique_ptr<char[]>> hog;
      for (;;) {
        hog.emplace_back(new char[64 << 20]);
        std::memset(hog.back().get(), 1, 64 << 20);
      }
    }
  }
}

// Ends this process when `parent` is gone, even in the middle of a file that hangs. (Not
// PR_SET_PDEATHSIG: that fires when the *thread* that started us ends, and the pool starts
// decoders from whichever thread needs one, e.g. a pack builder's short-lived threads.)
void watch_parent(pid_t parent) {
  if (::getppid() != parent) std::_Exit(0);
  std::thread([parent] {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      if (::getppid() != parent) std::_Exit(0);
    }
  }).detach();
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--parent") == 0) watch_parent(static_cast<pid_t>(std::strtol(argv[i + 1], nullptr, 10)));
    if (std::strcmp(argv[i], "--memory-limit") == 0) {
      const rlim_t limit = static_cast<rlim_t>(std::strtoll(argv[i + 1], nullptr, 10));
#if !defined(__SANITIZE_ADDRESS__)  // AddressSanitizer's shadow memory needs the address space
      if (limit > 0) {
        rlimit rl{limit, limit};
        ::setrlimit(RLIMIT_AS, &rl);
      }
#else
      (void)limit;
#endif
    }
  }
  const auto faults = read_faults();
  std::string payload;
  try {
    while (covscreen::decoder::read_frame(0, &payload)) {
      const Request req = covscreen::decoder::decode_request(payload);
      Reply rep;
      try {
        inject(faults, req.name);
        rep = covscreen::decoder::serve_request(req);
      } catch (const std::bad_alloc&) {
        rep = Reply{};
        rep.message = covscreen::decoder::kOutOfMemoryProblem;
      }
      payload.clear();
      payload.shrink_to_fit();
      if (!covscreen::decoder::write_frame(1, covscreen::decoder::encode_reply(rep))) return 0;
    }
  } catch (const std::exception&) {
    return 3;  // a malformed request: the pool restarts this decoder
  }
  return 0;
}
