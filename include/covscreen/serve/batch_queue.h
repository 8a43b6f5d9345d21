#pragma once
// The model's single worker: a bounded queue of stage-1 images shared by all HTTP requests.
// The worker takes up to `batch` queued images (waiting up to `batch_wait_ms` to fill a batch
// once the first arrives), runs ONE model call for all of them (stage 2 -> model -> sigmoid),
// and Grad-CAM for the images that asked for it. Inference on one model is not thread-safe, so
// only this thread touches the model. A request submits all its images or none (queue full).
//   ImageJob::input  CV_8UC1 [S x S] stage-1 output, S = the checkpoint's stage1.size
//   ImageJob::probs  [K] per-class sigmoid probabilities
//   ImageJob::cam    CV_32FC1 [S x S] class activation map in [0, 1] (want_cam only)
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <opencv2/core.hpp>

#include "covscreen/core/preprocess_spec.h"
#include "covscreen/models/model.h"
#include "covscreen/train/inference.h"

namespace covscreen {

struct ImageJob {
  using Clock = std::chrono::steady_clock;
  cv::Mat input;
  bool want_cam = false;
  // Filled by the worker before `done` is set.
  std::vector<float> probs;
  cv::Mat cam;
  int cam_class = -1;
  std::string error;          // non-empty: the model could not screen it
  int error_status = 0;       // HTTP status for `error` (500, or 503 when shutting down)
  double queue_ms = 0;        // time waiting in the queue
  double inference_ms = 0;    // time of the model call for the whole batch
  int batch_size = 0;         // images in that model call
  // Bookkeeping.
  Clock::time_point enqueued;
  std::atomic<bool> cancelled{false};  // the request gave up (timeout): skip it
  std::promise<void> done;
};
using ImageJobPtr = std::shared_ptr<ImageJob>;

struct BatchQueueOptions {
  int capacity = 64;
  int batch = 8;
  double batch_wait_ms = 2.0;
  InferenceOptions inference;
  std::function<void()> before_batch;  // test hook (see ServeOptions)
  // Called after every model call with its size and duration (seconds), for metrics.
  std::function<void(int, double)> on_batch;
};

class BatchQueue {
 public:
  // net: in eval mode on its device; it is used only by the worker thread from now on.
  // cam_class: the class CAMs explain (the COVID class), or -1 for each image's most probable class.
  BatchQueue(ScreenModel net, Stage2Spec stage2, int cam_class, BatchQueueOptions opt);
  ~BatchQueue();  // shutdown()
  BatchQueue(const BatchQueue&) = delete;
  BatchQueue& operator=(const BatchQueue&) = delete;

  // Queues all jobs or none: false when they do not fit (or after shutdown).
  bool submit(const std::vector<ImageJobPtr>& jobs);
  size_t depth() const;
  size_t capacity() const { return static_cast<size_t>(opt_.capacity); }
  // Fails the queued jobs (503), lets the running batch finish and joins the worker. Idempotent.
  void shutdown();

 private:
  void worker();
  void run_batch(std::vector<ImageJobPtr>& batch);
  ScreenModel net_;
  Stage2Spec stage2_;
  int cam_class_;
  BatchQueueOptions opt_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ImageJobPtr> queue_;
  bool stop_ = false;
  std::once_flag shutdown_once_;
  std::thread thread_;
};

}  // namespace covscreen
