#pragma once
// The decoder faults the isolation tests inject through the decoder's test hook
// (COVSCREEN_DECODER_FAULTS, io/decoder_pool.h) on files whose names contain "fault-<kind>".
#include <string>
#include <utility>
#include <vector>

namespace covscreen::test {

// AddressSanitizer builds (scripts/test-asan): the decoder process sets no RLIMIT_AS (ASan's
// shadow memory needs the address space), and ASan turns a SIGSEGV into exit status 1.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAsanBuild = true;
#else
inline constexpr bool kAsanBuild = false;
#endif

// Each fault and what the file's error must then say.
inline std::vector<std::pair<std::string, std::string>> decoder_faults(const std::string& hang_seconds) {
  std::vector<std::pair<std::string, std::string>> f = {
      {"abort", "decoder crashed (SIGABRT)"},
      {"segv", kAsanBuild ? "while reading this file" : "decoder crashed (SIGSEGV)"},
      {"hang", "decoding took longer than " + hang_seconds + " s"}};
  if (!kAsanBuild) f.push_back({"oom", "out of memory"});
  return f;
}
inline std::string decoder_faults_env(const std::vector<std::pair<std::string, std::string>>& faults) {
  std::string env;
  for (const auto& [kind, says] : faults) env += (env.empty() ? "" : ";") + kind + ":fault-" + kind;
  return env;
}

}  // namespace covscreen::test
