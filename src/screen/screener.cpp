#include "covscreen/screen/screener.h"

#include <algorithm>
#include <filesystem>
#include <atomic>
#include <mutex>
#include <thread>

#include <opencv2/core.hpp>
#include <torch/torch.h>

#include "covscreen/core/cpu.h"
#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/core/progress.h"
#include "covscreen/data/stage2.h"
#include "covscreen/explain/explain.h"
#include "covscreen/io/overlay.h"
#include "covscreen/preprocess/stage1.h"

namespace covscreen {
namespace fs = std::filesystem;

struct Screener::Decoded {
  std::string path;
  std::string error;
  cv::Mat original;  // gray uint8 at original size (kept only for CAM overlays)
  cv::Mat input;     // stage-1 output
  int width = 0, height = 0;
};

namespace {
bool screenable_extension(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return has_image_extension(p.string()) || e == ".dcm" || e == ".dicom";
}
}  // namespace

std::vector<std::string> collect_inputs(const std::vector<std::string>& args, std::vector<ScreenItem>* missing) {
  std::vector<std::string> out;
  for (const auto& a : args) {
    std::error_code ec;
    if (fs::is_directory(a, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(a, fs::directory_options::skip_permission_denied, ec);
           it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (it->is_regular_file(ec) && screenable_extension(it->path())) found.push_back(it->path().string());
      }
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else if (fs::exists(a, ec)) {
      out.push_back(a);
    } else if (missing) {
      ScreenItem item;
      item.path = a;
      item.error = "no such file or folder";
      missing->push_back(item);
    }
  }
  return out;
}

int decide(const std::vector<float>& probs, int covid_class, double threshold) {
  if (probs.empty()) return -1;
  if (covid_class >= 0 && probs[covid_class] >= threshold) return covid_class;
  int best = -1;
  for (int k = 0; k < static_cast<int>(probs.size()); ++k)
    if (k != covid_class && (best < 0 || probs[k] > probs[best])) best = k;
  return best;
}

Screener::Screener(Checkpoint ck, ScreenOptions opt) : ck_(std::move(ck)), opt_(std::move(opt)) {
  threshold_ = opt_.threshold >= 0 ? opt_.threshold : ck_.threshold;
  covid_ = covid_index(ck_.classes);
  if (opt_.workers <= 0) opt_.workers = usable_cpus();
  // Grad-CAM flips the shared model's training flags around each backward: one worker then.
  if (!opt_.cam_dir.empty()) opt_.workers = 1;
  ck_.net->to(resolve_device(opt_.inference.device));
  if (opt_.inference.channels_last) to_channels_last(*ck_.net);
  ck_.net->eval();
}

Screener::~Screener() = default;

Screener::Decoded Screener::decode_one(const std::string& path, const std::string* bytes) const {
  Decoded d;
  d.path = path;
  try {
    ReadOptions ro;
    ro.window = ck_.spec.stage1.window;
    DecodedImage img = bytes ? decode_image(*bytes, path, ro) : read_image(path, ro);
    d.width = img.width;
    d.height = img.height;
    d.input = stage1(img.gray, ck_.spec.stage1);
    if (!opt_.cam_dir.empty()) d.original = img.gray;
  } catch (const std::exception& e) {
    d.error = e.what();
    const std::string prefix = path + ": ";
    if (d.error.rfind(prefix, 0) == 0) d.error = d.error.substr(prefix.size());
  }
  return d;
}

void Screener::run_batch(std::vector<Decoded>& batch, std::vector<ScreenItem>& out) {
  std::vector<size_t> good;
  for (size_t i = 0; i < batch.size(); ++i)
    if (batch[i].error.empty()) good.push_back(i);
  torch::Tensor probs;
  const int64_t size = ck_.spec.stage1.size;
  Stage2 stage2(ck_.spec.stage2);
  torch::Tensor images;
  if (!good.empty()) {
    images = torch::empty({static_cast<int64_t>(good.size()), size, size}, torch::kUInt8);
    for (size_t j = 0; j < good.size(); ++j)
      std::memcpy(images[j].data_ptr<uint8_t>(), batch[good[j]].input.data, size * size);
    InferenceOptions io = opt_.inference;
    io.batch_size = std::max<int>(io.batch_size, static_cast<int>(good.size()));
    probs = predict_probs(*ck_.net, stage2, images, io);
  }
  size_t j = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    ScreenItem item;
    item.path = batch[i].path;
    item.width = batch[i].width;
    item.height = batch[i].height;
    if (!batch[i].error.empty()) {
      item.error = batch[i].error;
      out.push_back(std::move(item));
      continue;
    }
    auto row = probs[j].contiguous();
    item.probs.assign(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
    item.covid_prob = covid_ >= 0 ? item.probs[covid_] : std::numeric_limits<double>::quiet_NaN();
    item.predicted = decide(item.probs, covid_, threshold_);
    item.positive = covid_ >= 0 && item.covid_prob >= threshold_;
    item.ok = true;
    if (!opt_.cam_dir.empty()) {
      try {
        const int cls = covid_ >= 0 ? covid_ : item.predicted;
        auto x = stage2(images.slice(0, j, j + 1), false);
        ExplainResult ex = explain_image(*ck_.net, x, cls);
        auto m = ex.map.contiguous();
        cv::Mat map01(static_cast<int>(m.size(0)), static_cast<int>(m.size(1)), CV_32FC1, m.data_ptr<float>());
        char text[96];
        std::snprintf(text, sizeof text, "%s p=%.2f", ck_.classes[cls].c_str(), item.probs[cls]);
        const std::string stem = fs::path(item.path).stem().string() + "_" + std::to_string(out.size());
        item.cam_path = write_cam_files(opt_.cam_dir, stem, batch[i].original, map01.clone(), text).overlay;
      } catch (const std::exception& e) {
        item.error = std::string("screened, but the CAM overlay failed: ") + e.what();
      }
    }
    out.push_back(std::move(item));
    ++j;
  }
}

std::vector<ScreenItem> Screener::screen_files(const std::vector<std::string>& paths, Progress* progress) {
  // Each worker takes the next batch, decodes it and runs the model on it, on its own thread
  // with its share of the intra-op threads: on a few cores, W single-threaded model calls on
  // small batches keep the caches warm and need no synchronisation between cores, which beats
  // one model call spread over W threads (docs/performance.md).
  const size_t bs = static_cast<size_t>(std::max(1, opt_.inference.batch_size));
  const size_t batches = (paths.size() + bs - 1) / bs;
  std::vector<std::vector<ScreenItem>> results(batches);
  std::atomic<size_t> next{0};
  std::mutex progress_mutex;
  auto work = [&](int) {
    for (size_t k; (k = next++) < batches;) {
      std::vector<Decoded> batch;
      for (size_t i = k * bs; i < std::min(paths.size(), (k + 1) * bs); ++i) batch.push_back(decode_one(paths[i], nullptr));
      try {
        run_batch(batch, results[k]);
      } catch (...) {  // a model failure, not a bad file: the other workers stop too
        next = batches;
        throw;
      }
      std::lock_guard<std::mutex> lock(progress_mutex);
      if (progress) progress->advance(batch.size());
    }
  };
  if (batches == 1) {
    work(0);  // one batch (one file, say): all of the caller's intra-op threads on it, for latency
  } else {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (!pool_) {
      const int workers = std::max(1, opt_.workers);
      pool_ = std::make_unique<WorkerPool>(workers, std::max(1, torch::get_num_threads() / workers));
    }
    pool_->run(work);
  }
  std::vector<ScreenItem> out;
  out.reserve(paths.size());
  for (auto& r : results) out.insert(out.end(), std::make_move_iterator(r.begin()), std::make_move_iterator(r.end()));
  return out;
}

ScreenItem Screener::screen_bytes(const std::string& bytes, const std::string& name) {
  std::vector<Decoded> batch{decode_one(name, &bytes)};
  std::vector<ScreenItem> out;
  run_batch(batch, out);
  return out.front();
}

}  // namespace covscreen
