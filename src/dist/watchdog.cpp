#include "covscreen/dist/watchdog.h"

#include <cstdlib>

#include "covscreen/core/log.h"

namespace covscreen::dist {

Watchdog::Watchdog(std::chrono::milliseconds limit, std::string who, Handler on_expire)
    : limit_(limit), who_(std::move(who)), on_expire_(std::move(on_expire)) {
  if (!on_expire_)
    on_expire_ = [](const std::string& m) {
      log_error(m);
      std::_Exit(1);
    };
  thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Watchdog::Scope::Scope(Watchdog& w, std::string what) : w_(w) {
  std::lock_guard<std::mutex> lock(w_.mu_);
  w_.armed_ = true;
  w_.what_ = std::move(what);
  w_.deadline_ = std::chrono::steady_clock::now() + w_.limit_;
  w_.cv_.notify_all();
}

Watchdog::Scope::~Scope() {
  std::lock_guard<std::mutex> lock(w_.mu_);
  w_.armed_ = false;
}

void Watchdog::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (!armed_) {
      cv_.wait(lock);
      continue;
    }
    const auto deadline = deadline_;
    cv_.wait_until(lock, deadline);
    if (!stop_ && armed_ && deadline_ == deadline && std::chrono::steady_clock::now() >= deadline) {
      const std::string msg = who_ + ": " + what_ + " did not finish within " + std::to_string(limit_.count() / 1000) +
                              " s (a peer rank died or hung); ending this rank";
      armed_ = false;
      lock.unlock();
      on_expire_(msg);
      lock.lock();
    }
  }
}

}  // namespace covscreen::dist
