#pragma once
// A fixed set of threads that live as long as the pool, each with its own intra-op (OpenMP)
// thread count. Long-lived on purpose: OpenMP keeps one team per calling thread, and oneDNN
// caches per thread, so fresh threads for every call would rebuild both (tens of ms per call).
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace covscreen {

class WorkerPool {
 public:
  // `workers` threads, each running torch ops with `intra_op_threads` threads.
  WorkerPool(int workers, int intra_op_threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int size() const { return static_cast<int>(threads_.size()); }
  // Runs fn(worker index) on every worker and waits for all; rethrows the first exception.
  // One run at a time (callers serialise).
  void run(const std::function<void(int)>& fn);

 private:
  void loop(int index, int intra_op_threads);
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int)>* job_ = nullptr;
  size_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace covscreen
