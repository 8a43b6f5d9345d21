#include "covscreen/core/log.h"

#include <iostream>
#include <mutex>
#include <string>
#include <utility>

namespace covscreen {
namespace {

void stderr_sink(LogLevel level, const std::string& text) {
  const char* tag = level == LogLevel::kWarning ? "warning: " : level == LogLevel::kError ? "error: " : "";
  std::cerr << ("covscreen: " + std::string(tag) + text + "\n") << std::flush;
}

struct LogState {
  std::mutex mu;
  LogSink sink = stderr_sink;
};

// Never destroyed: threads that outlive main() (a watchdog, a detached worker) may still log.
LogState& state() {
  static LogState* s = new LogState;
  return *s;
}

}  // namespace

LogSink set_log_sink(LogSink sink) {
  LogState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  std::swap(s.sink, sink);
  return sink;
}

void log_message(LogLevel level, const std::string& text) {
  LogState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.sink) s.sink(level, text);
}

}  // namespace covscreen
