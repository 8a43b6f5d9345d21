#pragma once
// The backstop against a silent hang: a thread that watches the collectives this rank waits
// in. Gloo's per-operation timeout and the store's timeout normally end a wait on a dead or
// hung peer with an exception; if a wait outlives `limit` anyway (a backend that does not
// honour its timeout, a wedged transport), `on_expire` runs with a message naming the
// operation. The default prints the message and ends the process with exit status 1: a thread
// blocked inside a collective cannot be unwound by throwing, and a clear death beats a hang.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace covscreen::dist {

class Watchdog {
 public:
  using Handler = std::function<void(const std::string& message)>;
  Watchdog(std::chrono::milliseconds limit, std::string who, Handler on_expire = {});
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Arms the watchdog for the scope's lifetime (scopes do not nest; the innermost wins).
  class Scope {
   public:
    Scope(Watchdog& w, std::string what);
    ~Scope();

   private:
    Watchdog& w_;
  };

 private:
  void run();
  std::chrono::milliseconds limit_;
  std::string who_;
  Handler on_expire_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, armed_ = false;
  std::string what_;
  std::chrono::steady_clock::time_point deadline_;
  std::thread thread_;
};

}  // namespace covscreen::dist
