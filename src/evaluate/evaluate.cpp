#include "covscreen/evaluate/evaluate.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

#include "cam_share.h"
#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/core/log.h"
#include "covscreen/core/progress.h"
#include "covscreen/data/csv.h"
#include "covscreen/data/stage2.h"
#include "covscreen/metrics/evaluate.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/report/report.h"
#include "covscreen/screen/pipeline.h"
#include "model_data.h"
#include "study_evaluation.h"

namespace covscreen {
namespace fs = std::filesystem;

namespace {

std::string predictions_csv(const Pack& p, const metrics::EvalInput& in, double threshold,
                            const std::vector<double>& cam_share, const std::vector<double>& typicality,
                            const Typicality& reference) {
  std::ostringstream os;
  os << "path,label,patient_id";
  for (const auto& c : in.classes) os << ",prob_" << c;  // the model's classes; label = the data's own
  os << ",predicted" << (cam_share.empty() ? "" : ",cam_lung_share")
     << (typicality.empty() ? "" : ",typicality,atypical") << "\n";
  os.precision(6);
  const int k = in.num_classes;
  const int covid = in.positive;
  for (int64_t i = 0; i < p.size(); ++i) {
    os << csv_escape(p.paths[i]) << "," << (p.labels[i] >= 0 ? p.classes[p.labels[i]] : "") << ","
       << csv_escape(p.patient_ids[i]);
    int pred = -1;
    for (int j = 0; j < k; ++j) {
      const float v = in.probs[i * k + j];
      os << "," << std::fixed << v;
      if (j != covid && (pred < 0 || v > in.probs[i * k + pred])) pred = j;
    }
    if (covid >= 0 && in.probs[i * k + covid] >= threshold) pred = covid;
    os << "," << in.classes[pred];
    if (!cam_share.empty()) {
      os << ",";
      if (cam_share[size_t(i)] >= 0) os << cam_share[size_t(i)];  // empty: no lungs, or an all-zero map
    }
    if (!typicality.empty())
      os << "," << typicality[size_t(i)] << "," << (reference.atypical(typicality[size_t(i)]) ? 1 : 0);
    os << "\n";
  }
  return os.str();
}

std::string model_name(const std::string& path, const Checkpoint& ck, size_t i) {
  std::string stem = fs::path(path).stem().string();
  return stem.empty() ? ck.model.arch + "-" + std::to_string(i + 1) : stem;
}
}  // namespace

EvaluateResult run_evaluation(const EvaluateJob& opt) {
  if (opt.models.empty()) throw UsageError("evaluate: give at least one --model");
  if (opt.out_dir.empty()) throw UsageError("evaluate: --out is required");
  if (!opt.labels.empty()) return run_study_evaluation(opt);
  if (!opt.rules.empty()) throw UsageError("evaluate: --rules needs --labels (study level)");
  fs::create_directories(opt.out_dir);
  EvaluateResult result;
  report::ReportInput rep;
  std::set<std::string> names;
  for (size_t i = 0; i < opt.models.size(); ++i) {
    PipelineOptions po;
    po.inference = opt.inference;
    Pipeline pipeline(load_checkpoint(opt.models[i]), po);  // stage 2 -> model -> probabilities
    const Checkpoint& ck = pipeline.checkpoint();
    ModelData md = load_for_model(opt.data, opt.layout, opt.split, ck,
                                  opt.cache_dir.empty() ? (fs::path(opt.out_dir) / "packs").string() : opt.cache_dir);
    const LoadedData& data = md.data;
    result.unreadable = std::max(result.unreadable, data.failures.size());
    if (data.pack.size() == 0) throw UsageError("evaluate: no readable images in " + opt.data);

    Progress bar("evaluating " + fs::path(opt.models[i]).filename().string(), data.pack.size());
    std::vector<double> typicality;
    torch::Tensor probs = pipeline.probabilities(data.pack.images, &bar, &typicality);
    bar.finish();
    if (!typicality.empty()) {
      const auto atypical =
          std::count_if(typicality.begin(), typicality.end(), [&](double t) { return ck.typicality.atypical(t); });
      log_info(std::to_string(atypical) + " of " + std::to_string(typicality.size()) + " images atypical for " +
               fs::path(opt.models[i]).filename().string() + " (unlike its training images: typicality < " +
               std::to_string(ck.typicality.flag_below) + "; predictions.csv lists each)");
    }

    metrics::EvalInput in;
    in.num_classes = static_cast<int>(probs.size(1));
    auto p = probs.contiguous();
    in.probs.assign(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
    in.labels = md.labels;
    in.classes = ck.classes;
    in.positive = covid_index(ck.classes);
    bool any_patient = false;
    for (const auto& id : data.pack.patient_ids) any_patient |= !id.empty();
    if (any_patient) in.patient_ids = data.pack.patient_ids;

    metrics::EvaluateOptions eo;
    eo.threshold = metrics::fixed_threshold(ck.threshold);
    eo.threshold.description =
        "stored in the checkpoint (" + ck.threshold_rule + ", chosen on " +
        (ck.extra.contains("calibration")
             ? ck.extra.at("calibration").value("data", nlohmann::json::object()).value("source", "?") +
                   " by model calibrate"
             : std::string("validation data")) +
        ")";
    eo.aggregation = opt.aggregation;
    metrics::Evaluation ev = metrics::evaluate_predictions(in, eo);
    if (opt.cam_share && in.positive >= 0) {
      Progress cams("Grad-CAM inside the lungs", data.pack.size());
      ev.cam_lung_share = cam_lung_shares(ck, data.pack.images, in.positive, &cams);
      cams.finish();
    }
    if (in.positive >= 0) {
      std::vector<double> p_covid;
      for (int64_t r = 0; r < data.pack.size(); ++r) p_covid.push_back(in.probs[r * in.num_classes + in.positive]);
      const std::vector<int> data_labels(data.pack.labels.begin(), data.pack.labels.end());
      ev.by_data_class = metrics::call_rates_by_class(p_covid, data_labels, data.pack.classes, ck.threshold);
    }

    std::string name = model_name(opt.models[i], ck, i);
    while (!names.insert(name).second) name += "-" + std::to_string(i + 1);
    const std::string csv =
        (fs::path(opt.out_dir) / (i == 0 ? std::string("predictions.csv") : "predictions_" + name + ".csv")).string();
    write_file_atomic(csv, predictions_csv(data.pack, in, ck.threshold, ev.cam_lung_share, typicality, ck.typicality));
    result.files.push_back(csv);

    std::ostringstream desc;
    desc << ck.model.arch << ", classes";
    for (const auto& c : ck.classes) desc << " " << c;
    if (ck.training.contains("train_data")) desc << "; trained on " << ck.training["train_data"].value("source", "?");
    if (ck.training.contains("epoch")) desc << ", epoch " << ck.training["epoch"].get<int>() + 1;
    const torch::Device device = resolve_device(opt.inference.device);
    desc << "; inference in " << precision_names().name(pipeline.options().inference.precision) << " on "
         << device.str();
    if (opt.inference.tta_views > 1) desc << ", P averaged over " << opt.inference.tta_views << " test-time views";
    rep.models.push_back({name, opt.models[i], desc.str(), std::move(ev)});
    if (i == 0) {
      std::ostringstream d;
      d << data.description << ": " << data.pack.size() << " images";
      if (!data.failures.empty()) d << " (" << data.failures.size() << " unreadable files left out)";
      rep.data_description = d.str();
    }
  }
  rep.command = opt.command;
  auto files = report::write_report(opt.out_dir, rep);
  result.files.insert(result.files.end(), files.paths.begin(), files.paths.end());
  result.metrics = report::report_json(rep);
  return result;
}

}  // namespace covscreen
