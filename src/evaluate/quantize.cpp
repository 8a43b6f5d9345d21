#include "covscreen/evaluate/quantize.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>
#include <filesystem>

#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/core/progress.h"
#include "covscreen/core/strings.h"
#include "covscreen/data/stage2.h"
#include "covscreen/metrics/roc.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/models/int8.h"
#include "covscreen/screen/pipeline.h"  // decide
#include "model_data.h"

namespace covscreen {
namespace fs = std::filesystem;

namespace {

// Evenly spaced rows 0 .. n-1, at most `max` of them.
std::vector<int64_t> spread(int64_t n, int64_t max) {
  std::vector<int64_t> rows;
  const int64_t k = std::min(n, max);
  for (int64_t i = 0; i < k; ++i) rows.push_back(i * n / k);
  return rows;
}

torch::Tensor run(ScreenModelImpl& net, const Stage2& stage2, const torch::Tensor& images, InferenceOptions opt,
                  Precision precision, const std::string& what) {
  opt.precision = precision;
  Progress bar(what, images.size(0));
  torch::Tensor p = predict_probs(net, stage2, images, opt, &bar);
  bar.finish();
  return p.to(torch::kFloat).contiguous();
}

}  // namespace

nlohmann::json quantize_model(const QuantizeJob& job) {
  if (job.out.empty()) throw UsageError("model quantize: --out is required");
  if (job.max_images < 1) throw UsageError("model quantize: --max-images must be at least 1");
  if (!int8_available()) throw UsageError("model quantize: this LibTorch has no oneDNN quantized engine");
  Checkpoint ck = load_checkpoint(job.model);
  const int covid = covid_index(ck.classes);
  if (covid < 0) throw UsageError("model quantize: " + job.model + " has no COVID class to measure agreement on");
  ck.net->to(torch::kCPU, torch::kFloat);
  to_channels_last(*ck.net);
  ck.net->eval();
  const Stage2 stage2(ck.spec.stage2);
  InferenceOptions opt;
  opt.device = DeviceKind::kCpu;
  opt.batch_size = job.batch_size;
  const std::string name = fs::path(job.model).filename().string();

  // 1. Calibration: fp32 passes with every ResNet observing its ranges.
  const ModelData cal = load_for_model(job.calibration, job.layout, job.split, ck, job.cache_dir);
  if (cal.data.pack.size() == 0) throw UsageError("model quantize: no readable images in " + job.calibration);
  const auto rows = spread(cal.data.pack.size(), job.max_images);
  const Pack cal_pack = cal.data.pack.select(rows);
  nlohmann::json form;
  {
    Int8Calibration observers(*ck.net);
    run(*ck.net, stage2, cal_pack.images, opt, Precision::kFp32, "calibrating " + name);
    form = observers.finish();
  }
  for (const auto& spec : job.fp32) {  // "PATH" or "PATH:S"
    const auto colon = spec.rfind(':');
    const bool one = colon != std::string::npos;
    const std::string path = one ? spec.substr(0, colon) : spec;
    if (!form.at("networks").contains(path))
      throw UsageError("model quantize: --fp32 " + spec + " is no backbone of the model");
    auto& stages = form["fp32"][path];
    if (!one || stages == "all") {
      stages = "all";  // every stage it holds (attach_int8 knows which)
      continue;
    }
    try {
      stages.push_back(std::stoi(spec.substr(colon + 1)));
    } catch (const std::exception&) {
      throw UsageError("model quantize: --fp32 " + spec + ": the stage after ':' must be a number (0 = stem, 1..4)");
    }
  }

  // 2. Agreement: fp32 against int8 on labelled images.
  const ModelData agree_data =
      job.agreement.empty() ? cal : load_for_model(job.agreement, job.layout, job.agreement_split, ck, job.cache_dir);
  const torch::Tensor& images = agree_data.data.pack.images;
  if (images.size(0) == 0) throw UsageError("model quantize: no readable images to measure agreement on");
  const torch::Tensor p32 = run(*ck.net, stage2, images, opt, Precision::kFp32, "fp32 " + name);
  attach_int8(*ck.net, form);
  const torch::Tensor p8 = run(*ck.net, stage2, images, opt, Precision::kInt8, "int8 " + name);
  detach_int8(*ck.net);

  std::vector<double> s32, s8;
  std::vector<int> labels;
  int64_t same = 0;
  double max_dp = 0, sum_dp = 0;
  const auto a32 = p32.accessor<float, 2>(), a8 = p8.accessor<float, 2>();
  for (int64_t i = 0; i < p32.size(0); ++i) {
    const std::vector<float> v32(&a32[i][0], &a32[i][0] + p32.size(1)), v8(&a8[i][0], &a8[i][0] + p8.size(1));
    same += decide(v32, covid, ck.threshold) == decide(v8, covid, ck.threshold);
    const double dp = std::abs(double(v32[covid]) - double(v8[covid]));
    max_dp = std::max(max_dp, dp);
    sum_dp += dp;
    const int c = agree_data.labels[static_cast<size_t>(i)];
    if (c < 0) continue;
    labels.push_back(c == covid ? 1 : 0);
    s32.push_back(v32[covid]);
    s8.push_back(v8[covid]);
  }
  const auto positives = std::count(labels.begin(), labels.end(), 1);
  if (positives == 0 || positives == static_cast<long>(labels.size()))
    throw UsageError("model quantize: the agreement data needs labelled COVID and non-COVID images for the AUC; " +
                     std::to_string(positives) + " of " + std::to_string(labels.size()) + " labelled images are COVID");
  const double auc32 = metrics::roc_auc(s32, labels), auc8 = metrics::roc_auc(s8, labels);
  const int64_t n = p32.size(0);
  const double same_fraction = double(same) / double(n);
  const bool met = std::abs(auc8 - auc32) <= job.max_auc_difference && same_fraction >= job.min_same_decision;

  nlohmann::json record = {
      {"form", form},
      {"calibration",
       {{"source", cal.data.description},
        {"images", cal_pack.size()},
        {"of", cal.data.pack.size()},
        {"hash", cal_pack.content_hash()}}},
      {"agreement",
       {{"source", agree_data.data.description},
        {"hash", agree_data.data.pack.content_hash()},
        {"images", n},
        {"labelled", labels.size()},
        {"positives", positives},
        {"auc_fp32", auc32},
        {"auc_int8", auc8},
        {"auc_difference", auc8 - auc32},
        {"threshold", ck.threshold},
        {"same_decision", same},
        {"same_decision_fraction", same_fraction},
        {"max_abs_difference_p", max_dp},
        {"mean_abs_difference_p", sum_dp / double(n)},
        {"bar", {{"max_auc_difference", job.max_auc_difference}, {"min_same_decision", job.min_same_decision}}},
        {"met", met}}},
      {"parts", int8_parts(*ck.net, form)},
      {"engine", "LibTorch " TORCH_VERSION " quantized CPU operators, oneDNN"},
      {"command", job.command},
      {"time", utc_now()}};
  ck.optimizer_state.clear();
  if (!ck.extra.is_object()) ck.extra = nlohmann::json::object();
  ck.extra["int8"] = record;
  save_checkpoint(job.out, ck, job.half, job.int8_frozen);
  return record;
}

}  // namespace covscreen
