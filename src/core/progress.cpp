#include "covscreen/core/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace covscreen {
namespace {
std::string fmt_seconds(double s) {
  if (s < 0 || s > 1e7) return "--:--";
  int t = static_cast<int>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%02d:%02d", t / 60, t % 60);
  return buf;
}
}  // namespace

Progress::Progress(std::string label, size_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total) {
  const char* force = std::getenv("COVSCREEN_PROGRESS");
  enabled_ = force ? std::string(force) == "1" : ::isatty(STDERR_FILENO) != 0;
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() { finish(); }

void Progress::advance(size_t n, const std::string& suffix) {
  done_ += n;
  if (!suffix.empty()) suffix_ = suffix;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ > std::chrono::milliseconds(100) || done_ >= total_) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(true);
}

void Progress::draw(bool final) {
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = secs > 0 ? done_ / secs : 0.0;
  const double frac = total_ ? std::min(1.0, double(done_) / total_) : 0.0;
  const int width = 24;
  std::string bar(static_cast<size_t>(frac * width), '#');
  bar.resize(width, '.');
  const double eta = rate > 0 ? (total_ - std::min(done_, total_)) / rate : -1;
  std::fprintf(stderr, "\r%s [%s] %zu/%zu %.1f %s/s %s<%s %s\033[K", label_.c_str(), bar.c_str(), done_, total_, rate,
               unit_.c_str(), fmt_seconds(secs).c_str(), final ? "00:00" : fmt_seconds(eta).c_str(), suffix_.c_str());
  if (final) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

}  // namespace covscreen
