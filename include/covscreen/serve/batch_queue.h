#pragma once
// The server's model queue: a bounded queue of decoded images shared by all HTTP requests, served
// by the pipeline's workers (screen/pipeline.h: the same WorkerPool and per-worker intra-op
// threads that make `covscreen screen` fast). Each worker takes up to `batch` queued images
// (waiting up to `batch_wait_ms` to fill its batch once the first arrives) and runs them through
// Pipeline::infer as one model call. A request submits all its images or none (queue full).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "covscreen/screen/pipeline.h"

namespace covscreen {

struct ImageJob {
  using Clock = std::chrono::steady_clock;
  PipelineInput input;  // decoded on the HTTP thread
  // Filled by a worker before `done` is set.
  ScreenResult result;
  int error_status = 0;  // non-zero: the model could not screen it (500; 503 when shutting down)
  // Bookkeeping.
  Clock::time_point enqueued;
  std::atomic<bool> cancelled{false};  // the request gave up (timeout): skip it
  std::promise<void> done;
};
using ImageJobPtr = std::shared_ptr<ImageJob>;

struct BatchQueueOptions {
  int capacity = 64;
  int batch = 8;  // per worker and model call
  double batch_wait_ms = 2.0;
  std::function<void()> before_batch;  // test hook (see ServeOptions)
  // Called after every model call with its size and duration (seconds), for metrics.
  std::function<void(int, double)> on_batch;
};

class BatchQueue {
 public:
  // Starts the pipeline's workers on its pool; they serve this queue until shutdown().
  BatchQueue(Pipeline& pipeline, BatchQueueOptions opt);
  ~BatchQueue();  // shutdown()
  BatchQueue(const BatchQueue&) = delete;
  BatchQueue& operator=(const BatchQueue&) = delete;

  // Queues all jobs or none: false when they do not fit (or after shutdown).
  bool submit(const std::vector<ImageJobPtr>& jobs);
  size_t depth() const;
  size_t capacity() const { return static_cast<size_t>(opt_.capacity); }
  // Fails the queued jobs (503), lets the running batches finish and stops the workers. Idempotent.
  void shutdown();

 private:
  void worker();
  void run_batch(std::vector<ImageJobPtr>& batch);
  Pipeline& pipeline_;
  BatchQueueOptions opt_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ImageJobPtr> queue_;
  bool stop_ = false;
  std::once_flag shutdown_once_;
  std::thread dispatcher_;  // holds the pool's run() while the workers serve the queue
};

}  // namespace covscreen
