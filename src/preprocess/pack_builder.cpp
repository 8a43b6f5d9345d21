#include "covscreen/preprocess/pack_builder.h"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <opencv2/core.hpp>
#include <set>
#include <thread>

#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/core/log.h"
#include "covscreen/core/progress.h"
#include "covscreen/io/decoder_pool.h"
#include "covscreen/io/image_reader.h"
#include "covscreen/preprocess/stage1.h"

namespace covscreen {

std::vector<std::string> default_classes(const Manifest& m) {
  std::set<std::string> present;
  for (const auto& e : m.entries)
    if (!e.label.empty()) present.insert(canonical_label(e.label));
  std::vector<std::string> out;
  if (present.count(kCovid)) out.push_back(kCovid);
  for (const auto& c : present)
    if (c != kCovid) out.push_back(c);
  return out;
}

PackBuildResult build_pack(const Manifest& m, const PackBuildOptions& opt) {
  opt.spec.validate();
  if (opt.threads < 0) throw UsageError("pack: threads must be >= 0");
  PackBuildResult res;
  Pack& p = res.pack;
  p.spec = opt.spec;
  if (opt.classes.empty()) {
    p.classes = default_classes(m);
  } else {
    for (const auto& c : opt.classes)  // finding names of a multi-label pack stay as written
      p.classes.push_back(opt.targets.empty() ? canonical_label(c) : c);
  }

  // Select entries and map labels; a label outside the classes is a failure, not a guess.
  std::vector<size_t> todo;
  std::vector<int64_t> labels;
  std::vector<std::string> failure_reason(m.entries.size());
  for (size_t i = 0; i < m.entries.size(); ++i) {
    const auto& e = m.entries[i];
    if (!opt.split.empty() && e.split != opt.split) continue;
    todo.push_back(i);
    int64_t l = -1;
    if (!e.label.empty()) {
      l = class_index(p.classes, e.label);
      if (l < 0) {
        std::string list;
        for (const auto& c : p.classes) list += (list.empty() ? "" : ", ") + c;
        failure_reason[i] = "label '" + e.label + "' is not one of the classes (" + list + ")";
      }
    }
    labels.push_back(l);
  }
  if (!opt.targets.empty() && opt.targets.size() != m.entries.size())
    throw UsageError("pack: " + std::to_string(opt.targets.size()) + " target rows for " +
                     std::to_string(m.entries.size()) + " manifest entries");
  for (const auto& row : opt.targets)
    if (row.size() != p.classes.size())
      throw UsageError("pack: a target row has " + std::to_string(row.size()) + " values for " +
                       std::to_string(p.classes.size()) + " classes");
  if (todo.empty())
    throw UsageError("pack: no images to pack" + (opt.split.empty() ? std::string() : " in split '" + opt.split + "'"));

  const int64_t n = static_cast<int64_t>(todo.size()), s = opt.spec.stage1.size;
  torch::Tensor images = torch::zeros({n, s, s}, torch::kUInt8);
  uint8_t* base = images.data_ptr<uint8_t>();
  ReadOptions ro;
  ro.window = opt.spec.stage1.window;

  std::vector<uint8_t> whole_image(todo.size(), 0);  // the spec's lung crop found no lungs
  std::atomic<size_t> next{0};
  std::mutex progress_mu;
  std::unique_ptr<Progress> progress;
  if (opt.progress) progress = std::make_unique<Progress>("pack", todo.size());
  auto work = [&]() {
    for (size_t k = next++; k < todo.size(); k = next++) {
      const size_t i = todo[k];
      const std::string& path = m.entries[i].path;
      std::string& reason = failure_reason[i];  // each slot written by one thread only
      if (reason.empty()) {
        bool failed = false;
        try {
          Stage1Info info;
          const cv::Mat out = stage1(default_decoder_pool().read(path, ro).gray, opt.spec.stage1, &info);
          whole_image[k] = info.crop == LungCrop::kWholeImage;
          if (out.type() != CV_8UC1 || out.rows != s || out.cols != s)
            throw Error("stage 1 returned an image of the wrong size or type");
          for (int r = 0; r < s; ++r)
            std::memcpy(base + (static_cast<size_t>(k) * s + r) * s, out.ptr<uint8_t>(r), static_cast<size_t>(s));
        } catch (const FileError& e) {
          failed = true;
          reason = e.problem();
        } catch (const std::exception& e) {
          failed = true;
          reason = e.what();
        } catch (...) {
          failed = true;
        }
        if (failed && reason.empty()) reason = "unreadable (unknown error)";
      }
      if (progress) {
        std::lock_guard<std::mutex> lock(progress_mu);
        progress->advance(1);
      }
    }
  };
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const size_t nthreads = std::min<size_t>(opt.threads > 0 ? static_cast<size_t>(opt.threads) : hw, todo.size());
  std::vector<std::thread> pool;
  for (size_t t = 1; t < nthreads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (progress) progress->finish();

  // Keep the rows that worked, in manifest order.
  std::vector<int64_t> keep;
  nlohmann::json no_lungs = nlohmann::json::array();
  for (size_t k = 0; k < todo.size(); ++k) {
    const size_t i = todo[k];
    const auto& e = m.entries[i];
    if (!failure_reason[i].empty()) {
      res.failures.push_back({e.path, failure_reason[i]});
      continue;
    }
    keep.push_back(static_cast<int64_t>(k));
    if (whole_image[k]) no_lungs.push_back(e.path);
    p.labels.push_back(labels[k]);
    p.patient_ids.push_back(e.patient_id);
    p.paths.push_back(e.path);
    p.splits.push_back(e.split);
    p.sources.push_back(e.source);
  }
  if (!opt.targets.empty()) {
    p.targets = torch::empty({static_cast<int64_t>(keep.size()), static_cast<int64_t>(p.classes.size())});
    auto acc = p.targets.accessor<float, 2>();
    for (size_t r = 0; r < keep.size(); ++r)
      for (size_t c = 0; c < p.classes.size(); ++c) acc[r][c] = opt.targets[todo[keep[r]]][c];
  }
  p.images =
      keep.size() == todo.size() ? images : images.index_select(0, torch::tensor(keep, torch::kLong)).contiguous();
  p.provenance = opt.provenance.is_object() ? opt.provenance : nlohmann::json::object();
  p.provenance["layout"] = m.layout;
  p.provenance["split_filter"] = opt.split;
  p.provenance["selected"] = todo.size();
  p.provenance["packed"] = keep.size();
  p.provenance["failed"] = res.failures.size();
  if (opt.spec.stage1.lungs.enabled) {
    p.provenance["lung_crop"] = {
        {"cropped", keep.size() - no_lungs.size()}, {"whole_image", no_lungs.size()}, {"whole_image_paths", no_lungs}};
    if (!no_lungs.empty())
      log_info("pack: no lungs found in " + std::to_string(no_lungs.size()) + " of " + std::to_string(keep.size()) +
               " images: the whole image was used (listed in the pack's provenance, lung_crop)");
  }
  p.validate("pack");
  return res;
}

}  // namespace covscreen
