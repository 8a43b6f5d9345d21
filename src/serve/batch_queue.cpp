#include "covscreen/serve/batch_queue.h"

#include <algorithm>

#include "covscreen/screen/worker_pool.h"

namespace covscreen {

namespace {
double ms_since(ImageJob::Clock::time_point t0, ImageJob::Clock::time_point t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

void finish(const ImageJobPtr& job) {
  try {
    job->done.set_value();
  } catch (const std::future_error&) {
    // already finished
  }
}

void fail(const ImageJobPtr& job, const std::string& error, int status) {
  job->result.file = job->input.file;
  job->result.ok = false;
  job->result.error = error;
  job->error_status = status;
  finish(job);
}
}  // namespace

BatchQueue::BatchQueue(Pipeline& pipeline, BatchQueueOptions opt) : pipeline_(pipeline), opt_(std::move(opt)) {
  opt_.capacity = std::max(1, opt_.capacity);
  opt_.batch = std::max(1, opt_.batch);
  WorkerPool& pool = pipeline_.pool();
  dispatcher_ = std::thread([this, &pool] { pool.run([this](int) { worker(); }); });
}

BatchQueue::~BatchQueue() { shutdown(); }

bool BatchQueue::submit(const std::vector<ImageJobPtr>& jobs) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ || queue_.size() + jobs.size() > static_cast<size_t>(opt_.capacity)) return false;
    const auto now = ImageJob::Clock::now();
    for (const auto& j : jobs) {
      j->enqueued = now;
      queue_.push_back(j);
    }
  }
  cv_.notify_all();
  return true;
}

size_t BatchQueue::depth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void BatchQueue::shutdown() {
  std::call_once(shutdown_once_, [this] {
    std::deque<ImageJobPtr> left;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      left.swap(queue_);
    }
    cv_.notify_all();
    for (auto& j : left) fail(j, "the server is shutting down", 503);
    if (dispatcher_.joinable()) dispatcher_.join();
  });
}

void BatchQueue::worker() {
  const auto wait = std::chrono::duration<double, std::milli>(opt_.batch_wait_ms);
  const size_t batch_max = static_cast<size_t>(opt_.batch);
  for (;;) {
    std::vector<ImageJobPtr> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;  // shutdown() fails whatever is queued
      if (opt_.batch_wait_ms > 0 && queue_.size() < batch_max)
        cv_.wait_for(lock, wait, [&] { return stop_ || queue_.size() >= batch_max; });
      if (stop_) return;
      while (!queue_.empty() && batch.size() < batch_max) {
        ImageJobPtr j = std::move(queue_.front());
        queue_.pop_front();
        if (j->cancelled.load()) {
          fail(j, "cancelled", 504);
          continue;
        }
        batch.push_back(std::move(j));
      }
    }
    if (batch.empty()) continue;
    if (opt_.before_batch) opt_.before_batch();
    run_batch(batch);
  }
}

void BatchQueue::run_batch(std::vector<ImageJobPtr>& batch) {
  const auto t0 = ImageJob::Clock::now();
  std::vector<PipelineInput> inputs;
  inputs.reserve(batch.size());
  for (auto& j : batch) {
    j->input.queue_ms = ms_since(j->enqueued, t0);
    inputs.push_back(std::move(j->input));
  }
  try {
    std::vector<ScreenResult> results = pipeline_.infer(inputs);
    for (size_t i = 0; i < batch.size(); ++i) batch[i]->result = std::move(results[i]);
  } catch (const std::exception& e) {
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i]->input = std::move(inputs[i]);
      batch[i]->error_status = 500;
      batch[i]->result.error = std::string("inference failed: ") + e.what();
    }
  }
  const double infer_ms = ms_since(t0, ImageJob::Clock::now());
  for (auto& j : batch) finish(j);
  if (opt_.on_batch) opt_.on_batch(static_cast<int>(batch.size()), infer_ms / 1000.0);
}

}  // namespace covscreen
