#pragma once
// Messages from the libraries to the person running them: a file left out, a fallback taken, a
// peer lost. They all go to one process-wide sink, one call at a time (thread-safe; a sink must
// not log itself). The default sink writes one line to stderr:
//   log_info("skipped a.png: ...")     ->  "covscreen: skipped a.png: ..."
//   log_warning("no decoder ...")      ->  "covscreen: warning: no decoder ..."
//   log_error("rank 1 hung ...")       ->  "covscreen: error: rank 1 hung ..."
// set_log_sink redirects them (serve and pacs logs, tests) or silences them (an empty sink).
// Not for the progress bar (core/progress.h) or training progress (train/trainer.h TrainReporter).
#include <functional>
#include <string>

namespace covscreen {

enum class LogLevel { kInfo, kWarning, kError };

using LogSink = std::function<void(LogLevel, const std::string&)>;  // the text, without prefix or newline

// Installs `sink` for the whole process and returns the one it replaces (to restore it later).
LogSink set_log_sink(LogSink sink);

void log_message(LogLevel level, const std::string& text);
inline void log_info(const std::string& text) { log_message(LogLevel::kInfo, text); }
inline void log_warning(const std::string& text) { log_message(LogLevel::kWarning, text); }
inline void log_error(const std::string& text) { log_message(LogLevel::kError, text); }

}  // namespace covscreen
