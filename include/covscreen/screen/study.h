#pragma once
// Screening whole studies: DICOM files grouped by StudyInstanceUID -> SeriesInstanceUID, the
// series to screen chosen by rules, slices ordered along the patient axis, lung slices screened
// with the per-image pipeline (screen/pipeline.h), and the slice probabilities aggregated into
// one probability per study. `screen --by study`, `evaluate` on DICOM studies and `covscreen pacs`
// all go through screen_studies(), so they agree on every number.
//
//   covscreen::Pipeline p(covscreen::load_checkpoint("models/deep-ct-net-covid-ct.ckpt"), {});
//   covscreen::StudyRules rules = covscreen::load_study_rules("rules.json");  // or {} for the defaults
//   covscreen::StudyInputs in = covscreen::group_studies(covscreen::collect_inputs({"pacs-export/"}, nullptr));
//   for (const auto& s : covscreen::screen_studies(p, in, rules))
//     std::cout << covscreen::to_json(s).dump() << "\n";   // {"study_uid": ..., "covid_probability": ...}
//
// Rules (defaults; every field can be set in a JSON file, see study_rules_from_json):
//   CT ("CT" modality): axial series (slice normal within `axial_max_tilt_deg` of the patient
//   axis) with at least `ct_min_slices` slices; among them the one whose slice thickness is
//   closest to `ct_slice_thickness_mm` (ties: more slices, then lower series number). Every
//   `ct_every_kth` slice, and only slices whose lung-window content shows lungs (lung share of
//   the slice >= `ct_min_lung_fraction`, preprocess/lung_region.h) count.
//   X-ray (CR, DX, RG, OT: series_refusal): images whose ViewPosition is in `xray_views` (PA, AP);
//   other views are reported as skipped.
//   Aggregation (StudyAggregate): the study probability from the counted slices' P(covid).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/core/registry.h"
#include "covscreen/io/dicom_header.h"
#include "covscreen/preprocess/lung_region.h"
#include "covscreen/screen/input_gate.h"
#include "covscreen/screen/pipeline.h"

namespace covscreen {

class Progress;

enum class StudyAggregate {
  kMean,      // mean of the counted slices
  kTopKMean,  // mean of the top_k highest (all when fewer)
  kMax,       // the highest
  kNoisyOr,   // 1 - prod(1 - p) over the top_k highest
};
const EnumNames<StudyAggregate>& study_aggregate_names();

struct StudyRules {
  StudyKind kind = StudyKind::kAuto;
  int ct_min_slices = 10;
  double ct_slice_thickness_mm = 2.0;
  double axial_max_tilt_deg = 20.0;
  int ct_every_kth = 1;
  double ct_min_lung_fraction = kMinLungFraction;
  std::vector<std::string> xray_views = {"PA", "AP"};
  StudyAggregate aggregate = StudyAggregate::kTopKMean;
  int top_k = 5;
  double threshold = -1;            // on the study probability; < 0: the checkpoint's slice threshold
  int report_top = 3;               // top slices in the output (and referenced by the DICOM SR)
  std::string source = "defaults";  // the rules file, for the output
};

// Unknown keys and bad values throw UsageError naming `what` (the file) and the key.
StudyRules study_rules_from_json(const nlohmann::json& j, const std::string& what);
StudyRules load_study_rules(const std::string& path);  // FileError / UsageError
nlohmann::json to_json(const StudyRules& r);
std::string describe_aggregate(const StudyRules& r);  // e.g. "top-k-mean k=5"

// The study probability of the counted slices' probabilities (NaN when empty).
double aggregate_study(std::vector<double> probs, const StudyRules& r);

// The threshold on the study probability: the rules', else the pipeline's (the checkpoint's).
double study_threshold(const StudyRules& r, const Pipeline& p);

// `base` with what screen_studies needs for these rules and this model: the lung share measured
// (CT) and no per-image CAM files (a study's CAM is its top slice's). Every caller builds its
// Pipeline with this.
PipelineOptions study_pipeline_options(PipelineOptions base, const StudyRules& r, const Checkpoint& ck);

// One series of one study, instances in slice order.
struct SeriesGroup {
  std::string series_uid, modality, description, number;
  std::vector<DicomHeader> instances;  // ordered along the slice normal, else by InstanceNumber
  double slice_thickness = 0;          // the median of the instances' (0 when not given)
};

struct StudyGroup {
  std::string study_uid;
  std::vector<SeriesGroup> series;  // in series number order
};

struct StudyInputs {
  std::vector<StudyGroup> studies;       // in order of first appearance
  std::vector<std::string> other_files;  // not DICOM: screened one by one
  std::vector<ScreenResult> errors;      // files that could not be read as DICOM headers
};
// Splits files (already expanded by collect_inputs; "file.dcm#frame-N" entries are taken per file)
// into DICOM studies and other files. A DICOM file whose header cannot be read is an error result;
// a DICOMDIR (the index of a CD/USB export) is left out.
StudyInputs group_studies(const std::vector<std::string>& paths);
// The same from headers already read (e.g. DICOMweb metadata); DicomHeader::path may be empty.
// An instance (SOP Instance UID and frame) given twice counts once: the first.
std::vector<StudyGroup> group_headers(std::vector<DicomHeader> headers);

// The part of the series rule that needs no instance is series_refusal (screen/input_gate.h, StudyKind
// too): choose_series applies it; `pacs` applies it to QIDO-RS series before fetching any metadata.

// What the rules pick in one study: the series (index into StudyGroup::series) and the instances
// to screen (indices into its instances); others are listed with the reason they were skipped.
struct SeriesChoice {
  int series = -1;                                           // -1: nothing screenable (`why_none` says why)
  std::vector<size_t> instances;                             // chosen slices (every k-th), before the lung check
  std::vector<std::pair<std::string, std::string>> skipped;  // (series uid or file, reason)
  std::string why_none;
};
// `kind` resolved (resolve_kind): kCt or kXray.
SeriesChoice choose_series(const StudyGroup& study, const StudyRules& rules, StudyKind kind);

struct SliceScore {
  std::string file, sop_class_uid, sop_instance_uid;
  int frame = 0;        // 1-based frame of a multi-frame file, 0 otherwise
  size_t position = 0;  // rank in the series' slice order
  double covid_probability = 0;
  double lung_fraction = -1;  // CT; -1 when not measured
  bool counted = true;        // false: no lungs in the slice (skipped)
};

struct StudyResult {
  std::string study_uid, patient_id, modality;
  std::string series_uid;        // the screened series ("" when none)
  std::string error;             // no screenable series, or every slice failed
  int slices_screened = 0;       // counted in the study probability
  int slices_skipped = 0;        // in the chosen series but not counted (no lungs, not every k-th, unreadable)
  int slices_atypical = -1;      // counted slices the typicality check flags; -1: the model has no reference
  bool input_check = true;       // false: screened with the input gate off
  double covid_probability = 0;  // NaN when nothing was screened
  bool positive = false;
  double threshold = 0.5;
  std::string aggregation;                                          // describe_aggregate()
  std::vector<SliceScore> top;                                      // the report_top most suspicious counted slices
  std::vector<SliceScore> slices;                                   // every screened slice in slice order
  std::vector<std::pair<std::string, std::string>> skipped_series;  // (uid or file, reason)
  std::vector<std::string> slice_errors;                            // "file: problem"
  std::string cam_path;                                             // the top slice's CAM overlay (with a cam folder)
  DicomHeader reference;  // patient and study attributes (the first screened instance)
};
// {"study_uid", "patient_id", "modality", "series_uid", "slices_screened", "slices_skipped",
//  "covid_probability", "positive", "threshold", "aggregation", "top_slices" [{file,
//  sop_instance_uid, frame?, position, covid_probability, lung_fraction?}], "skipped_series" [{uid, reason}],
//  "errors"?, "cam"?, "error"?, "slices_atypical"? (the model has a typicality reference), "input_check": "off"?}
nlohmann::json to_json(const StudyResult& s);

struct StudyScreenOptions {
  StudyRules rules;
  std::string cam_dir;        // non-empty: the top slice's CAM overlay is written there as <study>_cam.png
  bool keep_overlay = false;  // keep the top slice's overlay in StudyOutput (DICOM SC)
};

struct StudyOutput {
  StudyResult result;
  cv::Mat overlay;  // BGR, the top slice with its CAM (keep_overlay)
};

// Screens every study (its chosen series' lung slices) with the pipeline, batch by batch on its
// workers. `on_study` sees each study as soon as it is done, in order; with it, the overlay of
// each StudyOutput is released after the call (a long run keeps no images). Progress counts slices.
// Throws UsageError when the model has no COVID class.
std::vector<StudyOutput> screen_studies(Pipeline& p, const StudyInputs& in, const StudyScreenOptions& opt,
                                        const std::function<void(StudyOutput&)>& on_study = {},
                                        Progress* progress = nullptr);

// The model's identity in DICOM results: name (file name and architecture), version, and
// hash = SHA-256 of the checkpoint file (hex).
struct ModelIdentity {
  std::string name, version, hash;
};
ModelIdentity model_identity(const std::string& checkpoint_path, const Checkpoint& ck);

// The DICOM results' content for one screened study (io/dicom_results.h).
struct ScreeningReport;
ScreeningReport to_report(const StudyResult& s, const ModelIdentity& model);

}  // namespace covscreen
