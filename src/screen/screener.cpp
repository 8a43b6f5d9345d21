#include "covscreen/screen/screener.h"

#include <algorithm>
#include <filesystem>
#include <future>
#include <thread>

#include <opencv2/core.hpp>
#include <torch/torch.h>

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
  if (opt_.decode_threads <= 0) opt_.decode_threads = std::max(1u, std::thread::hardware_concurrency());
  ck_.net->to(resolve_device(opt_.inference.device));
  ck_.net->eval();
}

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
  std::vector<ScreenItem> out;
  out.reserve(paths.size());
  const size_t bs = static_cast<size_t>(std::max(1, opt_.inference.batch_size));
  // Decodes paths[begin, end) on the worker threads.
  auto decode_range = [this, &paths](size_t begin, size_t end) {
    std::vector<Decoded> d(end - begin);
    const size_t nt = std::min<size_t>(static_cast<size_t>(opt_.decode_threads), d.size());
    std::vector<std::thread> workers;
    for (size_t t = 0; t < nt; ++t)
      workers.emplace_back([&, t] {
        for (size_t i = t; i < d.size(); i += nt) d[i] = decode_one(paths[begin + i], nullptr);
      });
    for (auto& w : workers) w.join();
    return d;
  };
  std::future<std::vector<Decoded>> next;
  if (!paths.empty()) next = std::async(std::launch::async, decode_range, 0, std::min(bs, paths.size()));
  for (size_t begin = 0; begin < paths.size(); begin += bs) {
    std::vector<Decoded> batch = next.get();
    const size_t nb = begin + bs;
    if (nb < paths.size()) next = std::async(std::launch::async, decode_range, nb, std::min(nb + bs, paths.size()));
    run_batch(batch, out);
    if (progress) progress->advance(batch.size());
  }
  return out;
}

ScreenItem Screener::screen_bytes(const std::string& bytes, const std::string& name) {
  std::vector<Decoded> batch{decode_one(name, &bytes)};
  std::vector<ScreenItem> out;
  run_batch(batch, out);
  return out.front();
}

}  // namespace covscreen
