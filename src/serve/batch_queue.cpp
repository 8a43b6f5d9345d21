#include "covscreen/serve/batch_queue.h"

#include <algorithm>
#include <cstring>

#include <torch/torch.h>

#include "covscreen/data/stage2.h"
#include "covscreen/explain/explain.h"

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
  job->error = error;
  job->error_status = status;
  finish(job);
}
}  // namespace

BatchQueue::BatchQueue(ScreenModel net, Stage2Spec stage2, int cam_class, BatchQueueOptions opt)
    : net_(std::move(net)), stage2_(stage2), cam_class_(cam_class), opt_(std::move(opt)) {
  opt_.capacity = std::max(1, opt_.capacity);
  opt_.batch = std::max(1, opt_.batch);
  thread_ = std::thread([this] { worker(); });
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
    if (thread_.joinable()) thread_.join();
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
  const int n = static_cast<int>(batch.size());
  try {
    const int64_t size = batch.front()->input.rows;
    torch::Tensor images = torch::empty({n, size, size}, torch::kUInt8);
    for (int i = 0; i < n; ++i) {
      const cv::Mat& m = batch[static_cast<size_t>(i)]->input;
      if (m.rows != size || m.cols != size || m.type() != CV_8UC1 || !m.isContinuous())
        throw std::runtime_error("internal error: stage-1 image of the wrong shape");
      std::memcpy(images[i].data_ptr<uint8_t>(), m.data, static_cast<size_t>(size * size));
    }
    Stage2 stage2(stage2_);
    InferenceOptions io = opt_.inference;
    io.batch_size = n;
    const torch::Tensor probs = predict_probs(*net_, stage2, images, io).contiguous();
    const int64_t k = probs.size(1);
    std::vector<int64_t> cam_rows, cam_classes;
    for (int i = 0; i < n; ++i) {
      ImageJob& j = *batch[static_cast<size_t>(i)];
      const float* p = probs[i].data_ptr<float>();
      j.probs.assign(p, p + k);
      if (j.want_cam) {
        cam_rows.push_back(i);
        j.cam_class = cam_class_ >= 0 ? cam_class_
                                      : static_cast<int>(std::max_element(p, p + k) - p);
        cam_classes.push_back(j.cam_class);
      }
    }
    if (!cam_rows.empty()) {
      const torch::Tensor sel = images.index_select(0, torch::tensor(cam_rows, torch::kLong));
      const torch::Tensor x = stage2(sel, /*augment=*/false);
      const auto maps = explain_batch(*net_, x, cam_classes);
      for (size_t c = 0; c < cam_rows.size(); ++c) {
        const torch::Tensor m = maps[c].map.contiguous();
        cv::Mat map01(static_cast<int>(m.size(0)), static_cast<int>(m.size(1)), CV_32FC1, m.data_ptr<float>());
        batch[static_cast<size_t>(cam_rows[c])]->cam = map01.clone();
      }
    }
  } catch (const std::exception& e) {
    for (auto& j : batch) {
      j->probs.clear();
      j->error = std::string("inference failed: ") + e.what();
      j->error_status = 500;
    }
  }
  const auto t1 = ImageJob::Clock::now();
  const double infer_ms = ms_since(t0, t1);
  for (auto& j : batch) {
    j->queue_ms = ms_since(j->enqueued, t0);
    j->inference_ms = infer_ms;
    j->batch_size = n;
    finish(j);
  }
  if (opt_.on_batch) opt_.on_batch(n, infer_ms / 1000.0);
}

}  // namespace covscreen
