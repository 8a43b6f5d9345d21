#pragma once
// A progress bar on stderr for long work: count, rate, ETA and a free-text suffix.
// Draws only when stderr is a terminal (or COVSCREEN_PROGRESS=1); otherwise silent,
// so logs and CI output stay clean.
#include <chrono>
#include <cstddef>
#include <string>

namespace covscreen {

class Progress {
 public:
  Progress(std::string label, size_t total, std::string unit = "img");
  ~Progress();
  void advance(size_t n = 1, const std::string& suffix = "");
  void finish();
  bool enabled() const { return enabled_; }

 private:
  void draw(bool final);
  std::string label_, unit_, suffix_;
  size_t total_, done_ = 0;
  bool enabled_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace covscreen
