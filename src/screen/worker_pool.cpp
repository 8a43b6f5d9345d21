#include "covscreen/screen/worker_pool.h"

#include <ATen/Parallel.h>

#include <algorithm>

namespace covscreen {

WorkerPool::WorkerPool(int workers, int intra_op_threads) {
  const int saved = at::get_num_threads();
  pending_ = std::max(1, workers);
  for (int i = 0; i < pending_; ++i) threads_.emplace_back(&WorkerPool::loop, this, i, intra_op_threads);
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [this] { return pending_ == 0; });
  // at::set_num_threads also sets the default that threads started later begin with: put the
  // caller's back, so the pool changes nothing outside its own threads.
  at::set_num_threads(saved);
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkerPool::run(const std::function<void(int)>& fn) {
  std::unique_lock<std::mutex> lock(mutex_);
  job_ = &fn;
  error_ = nullptr;
  pending_ = size();
  ++generation_;
  wake_.notify_all();
  done_.wait(lock, [this] { return pending_ == 0; });
  job_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

void WorkerPool::loop(int index, int intra_op_threads) {
  at::internal::lazy_init_num_threads();               // first, so it cannot undo the next line later
  at::set_num_threads(std::max(1, intra_op_threads));  // this thread's OpenMP team size
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (--pending_ == 0) done_.notify_all();
  }
  size_t seen = 0;
  for (;;) {
    const std::function<void(int)>* job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
    }
    std::exception_ptr error;
    try {
      (*job)(index);
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (error && !error_) error_ = error;
    if (--pending_ == 0) done_.notify_all();
  }
}

}  // namespace covscreen
