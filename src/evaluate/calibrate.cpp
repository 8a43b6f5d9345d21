#include "covscreen/evaluate/calibrate.h"

#include <torch/torch.h>

#include <filesystem>

#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/core/progress.h"
#include "covscreen/core/strings.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/screen/pipeline.h"
#include "model_data.h"

namespace covscreen {
namespace fs = std::filesystem;

CalibrateResult calibrate_threshold(const CalibrateJob& job) {
  if (job.out.empty()) throw UsageError("model calibrate: --out is required");
  const metrics::ThresholdRule rule = metrics::parse_threshold_rule(job.rule);
  PipelineOptions po;
  po.inference = job.inference;
  Pipeline pipeline(load_checkpoint(job.model), po);
  Checkpoint ck = pipeline.checkpoint();
  const int covid = covid_index(ck.classes);
  if (covid < 0) throw UsageError("model calibrate: " + job.model + " has no COVID class to set a threshold for");

  const ModelData md = load_for_model(job.data, job.layout, job.split, ck, job.cache_dir);
  const LoadedData& data = md.data;

  // COVID images are positives, every other class the model knows is a negative (a covid /
  // non-covid model calibrated on normal and pneumonia images: both negatives); images without a
  // label, or with one the model cannot place, take no part.
  CalibrateResult r;
  r.previous_threshold = ck.threshold;
  r.unreadable = data.failures.size();
  std::vector<int64_t> rows;
  std::vector<int> labels;
  for (int64_t i = 0; i < data.pack.size(); ++i) {
    const int model_class = md.labels[static_cast<size_t>(i)];
    if (model_class < 0) {
      ++r.unlabelled;
      continue;
    }
    rows.push_back(i);
    labels.push_back(model_class == covid ? 1 : 0);
    (model_class == covid ? r.positives : r.negatives) += 1;
  }
  const bool needs_positives =
      rule.method == metrics::ThresholdMethod::kYouden || rule.method == metrics::ThresholdMethod::kTargetSensitivity;
  const bool needs_negatives = needs_positives || rule.method == metrics::ThresholdMethod::kTargetSpecificity;
  if (rows.empty() || (needs_negatives && r.negatives == 0) || (needs_positives && r.positives == 0))
    throw UsageError("model calibrate: " + metrics::to_string(rule) + " needs labelled " +
                     (needs_positives   ? "COVID and non-COVID "
                      : needs_negatives ? "non-COVID "
                                        : "") +
                     "images; " + job.data + " has " + std::to_string(r.positives) + " COVID and " +
                     std::to_string(r.negatives) + " non-COVID images the model's classes can place (" +
                     std::to_string(r.unlabelled) + " without such a label, " + std::to_string(r.unreadable) +
                     " unreadable)");

  torch::Tensor images = data.pack.images.index_select(0, torch::tensor(rows, torch::kLong));
  Progress bar("calibrating " + fs::path(job.model).filename().string(), images.size(0));
  const torch::Tensor probs = pipeline.probabilities(images, &bar).to(torch::kFloat).contiguous();
  bar.finish();
  const auto p = probs.accessor<float, 2>();
  std::vector<double> scores;
  for (int64_t i = 0; i < probs.size(0); ++i) scores.push_back(p[i][covid]);
  r.choice = metrics::choose_threshold(scores, labels, rule);

  r.record = {
      {"rule", metrics::to_string(rule)},
      {"threshold", r.choice.threshold},
      {"description", r.choice.description},
      {"previous_threshold", r.previous_threshold},
      {"previous_rule", ck.threshold_rule},
      {"data", {{"source", data.description}, {"hash", data.pack.content_hash()}}},
      {"positives", r.positives},
      {"negatives", r.negatives},
      {"inference",
       {{"tta_views", job.inference.tta_views}, {"precision", precision_names().name(job.inference.precision)}}},
      {"command", job.command},
      {"time", utc_now()}};
  ck.threshold = r.choice.threshold;
  ck.threshold_rule = metrics::to_string(rule);
  ck.optimizer_state.clear();
  if (!ck.extra.is_object()) ck.extra = nlohmann::json::object();
  ck.extra["calibration"] = r.record;
  save_checkpoint(job.out, ck, job.half);
  return r;
}

Typicality add_typicality(const TypicalityJob& job) {
  if (job.out.empty()) throw UsageError("model typicality: --out is required");
  Checkpoint ck = load_checkpoint(job.model);
  const ModelData md = load_for_model(job.data, job.layout, job.split, ck, job.cache_dir);
  const Pack& pack = md.data.pack;
  Progress bar("typicality of " + fs::path(job.model).filename().string(), pack.size());
  ck.typicality = fit_typicality(*ck.net, Stage2(ck.spec.stage2), pack.images, job.inference, job.typicality, &bar);
  bar.finish();
  ck.typicality.info["data"] = {{"source", md.data.description}, {"hash", pack.content_hash()}};
  ck.typicality.info["command"] = job.command;
  ck.typicality.info["time"] = utc_now();
  ck.optimizer_state.clear();
  save_checkpoint(job.out, ck, job.half);
  return ck.typicality;
}

}  // namespace covscreen
