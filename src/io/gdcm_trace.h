#pragma once
// Private to src/io: GDCM's own trace messages off, once per process (they would go to stderr
// unasked; covscreen reports problems itself, naming the file).
#include <gdcmTrace.h>

#include <mutex>

namespace covscreen::io_detail {

inline void silence_gdcm() {
  static std::once_flag once;
  std::call_once(once, [] {
    gdcm::Trace::DebugOff();
    gdcm::Trace::WarningOff();
    gdcm::Trace::ErrorOff();
  });
}

}  // namespace covscreen::io_detail
