// Study-level evaluation: DICOM studies screened as `screen --by study` does, against labels per
// study or per patient (evaluate/evaluate.h).
#include "study_evaluation.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/core/log.h"
#include "covscreen/core/progress.h"
#include "covscreen/data/csv.h"
#include "covscreen/metrics/evaluate.h"
#include "covscreen/metrics/roc.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/report/report.h"
#include "covscreen/screen/study.h"

namespace covscreen {
namespace fs = std::filesystem;

namespace {

// study uid or patient id -> 1 (COVID) / 0 (anything known not to be COVID).
struct StudyLabels {
  bool by_patient = false;
  std::map<std::string, int> label;
};

StudyLabels read_labels(const std::string& path) {
  const CsvTable t = read_csv_table(path);
  StudyLabels out;
  int key = t.column("study_uid");
  if (key < 0) {
    key = t.column_any({"patient", "patient_id"});
    out.by_patient = true;
  }
  const int lab = t.column_any({"label", "diagnosis", "finding"});
  if (key < 0 || lab < 0)
    throw FileError(path, "a labels CSV needs the columns study_uid (or patient) and label (header: " +
                              join(t.header(), ",") + ")");
  for (size_t r = 0; r < t.rows().size(); ++r) {
    const std::string c = canonical_label(t.field(r, lab));
    if (c != kCovid && c != kPneumonia && c != kNormal && c != kNonCovid)
      throw FileError(path, "line " + std::to_string(t.rows()[r].line) + ": label '" + t.field(r, lab) +
                                "' is not COVID-19, pneumonia, normal or non-COVID");
    out.label[t.field(r, key)] = c == kCovid ? 1 : 0;
  }
  if (out.label.empty()) throw FileError(path, "no labelled rows");
  return out;
}

}  // namespace

EvaluateResult run_study_evaluation(const EvaluateJob& job) {
  if (job.models.size() != 1) throw UsageError("evaluate --labels: give exactly one --model");
  const StudyLabels labels = read_labels(job.labels);
  const std::string& model = job.models.front();
  Checkpoint ck = load_checkpoint(model);
  StudyScreenOptions so;
  so.rules = job.rules.empty() ? StudyRules{} : load_study_rules(job.rules);
  PipelineOptions po;
  po.inference = job.inference;
  po = study_pipeline_options(po, so.rules, ck);
  Pipeline pipeline(std::move(ck), po);

  std::vector<ScreenResult> missing;
  const StudyInputs in = group_studies(collect_inputs({job.data}, &missing));
  for (const auto& e : in.errors) log_info("skipped " + e.file + ": " + e.error);
  if (in.studies.empty()) throw UsageError("evaluate: no DICOM studies in " + job.data);
  Progress bar("evaluating studies", in.studies.size(), "study");
  const std::vector<StudyOutput> outs = screen_studies(pipeline, in, so, [&](StudyOutput&) { bar.advance(); });
  bar.finish();

  // Studies with a label and a probability; the rest are listed and counted.
  EvaluateResult result;
  metrics::EvalInput ei;
  ei.classes = {"non-covid", "covid"};
  ei.num_classes = 2;
  ei.positive = 1;
  std::vector<const StudyResult*> used;
  std::string csv = csv_record({"study_uid", "patient_id", "label", "covid_probability", "positive", "slices_screened",
                                "slices_skipped", "error"});
  size_t unlabelled = 0, unscreened = 0;
  for (const auto& o : outs) {
    const StudyResult& s = o.result;
    const auto it = labels.label.find(labels.by_patient ? s.patient_id : s.study_uid);
    const int y = it == labels.label.end() ? -1 : it->second;
    const bool ok = s.error.empty() && std::isfinite(s.covid_probability);
    csv += csv_record({s.study_uid, s.patient_id, y < 0 ? "" : (y ? "covid" : "non-covid"),
                       ok ? std::to_string(s.covid_probability) : "", ok ? (s.positive ? "1" : "0") : "",
                       std::to_string(s.slices_screened), std::to_string(s.slices_skipped), s.error});
    if (y < 0) {
      ++unlabelled;
      log_info("study " + s.study_uid + " (patient " + s.patient_id + ") has no label in " + job.labels);
      continue;
    }
    if (!ok) {
      ++unscreened;
      log_info("study " + s.study_uid + " not screened: " + s.error);
      continue;
    }
    ei.probs.push_back(float(1.0 - s.covid_probability));
    ei.probs.push_back(float(s.covid_probability));
    ei.labels.push_back(y);
    ei.patient_ids.push_back(s.patient_id);
    used.push_back(&s);
  }
  if (used.empty()) throw UsageError("evaluate: no labelled study could be screened");
  fs::create_directories(job.out_dir);
  const std::string csv_path = (fs::path(job.out_dir) / "study_predictions.csv").string();
  write_file_atomic(csv_path, csv);
  result.files.push_back(csv_path);
  result.unreadable = unscreened + in.errors.size() + missing.size();

  const double threshold = study_threshold(so.rules, pipeline);
  metrics::EvaluateOptions eo;
  eo.threshold = metrics::fixed_threshold(threshold);
  eo.threshold.description = so.rules.threshold >= 0
                                 ? "from the study rules (" + so.rules.source + ")"
                                 : "the checkpoint's slice threshold (" + pipeline.checkpoint().threshold_rule + ")";
  eo.patient_level = false;
  metrics::Evaluation ev = metrics::evaluate_predictions(ei, eo);

  // Every aggregation rule on the same counted slices, so a rule can be chosen on validation data.
  nlohmann::json rules_auc = nlohmann::json::array();
  for (StudyAggregate a :
       {StudyAggregate::kMean, StudyAggregate::kTopKMean, StudyAggregate::kMax, StudyAggregate::kNoisyOr}) {
    StudyRules r = so.rules;
    r.aggregate = a;
    std::vector<double> score;
    std::vector<int> y;
    for (size_t i = 0; i < used.size(); ++i) {
      std::vector<double> p;
      for (const auto& x : used[i]->slices)
        if (x.counted) p.push_back(x.covid_probability);
      score.push_back(aggregate_study(p, r));
      y.push_back(ei.labels[i]);
    }
    const bool both = std::count(y.begin(), y.end(), 1) > 0 && std::count(y.begin(), y.end(), 0) > 0;
    rules_auc.push_back({{"aggregation", describe_aggregate(r)},
                         {"auc", both ? nlohmann::json(metrics::roc_auc(score, y)) : nlohmann::json()},
                         {"chosen", a == so.rules.aggregate}});
  }

  report::ReportInput rep;
  rep.title = "covscreen study-level evaluation";
  rep.data_description = job.data + ": " + std::to_string(outs.size()) + " DICOM studies, " +
                         std::to_string(used.size()) + " labelled and screened (" + std::to_string(unlabelled) +
                         " without a label, " + std::to_string(unscreened) + " not screenable); labels " + job.labels +
                         "; study probability " + describe_aggregate(so.rules);
  rep.models.push_back({fs::path(model).stem().string(), model,
                        pipeline.checkpoint().model.arch + ", study level (" + describe_aggregate(so.rules) + ")",
                        std::move(ev)});
  rep.command = job.command;
  rep.extra = {{"level", "study"}, {"rules", to_json(so.rules)}, {"aggregation_rules", rules_auc}};
  const auto files = report::write_report(job.out_dir, rep);
  result.files.insert(result.files.end(), files.paths.begin(), files.paths.end());
  result.metrics = report::report_json(rep);
  return result;
}

}  // namespace covscreen
