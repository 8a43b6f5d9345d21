#pragma once
// `covscreen model calibrate`: set a model's decision threshold on a site's own labelled data.
// A threshold chosen on the training source's validation split does not carry over to another
// hospital: its scans shift every score (README, "Cross-source validation"). A site runs the
// model on some of its own studies and keeps the threshold that meets its rule, typically
//   specificity>=0.9   at most 10% of the site's normal images called COVID (negatives alone do)
// The new checkpoint is the old one with that threshold and rule, and a "calibration" record in
// its card (rule, data, counts, the previous threshold, what the choice gives on the data):
//   CalibrateJob job{.model = "m.ckpt", .data = "site-normals/", .rule = "specificity>=0.9", .out = "site.ckpt"};
//   CalibrateResult r = calibrate_threshold(job);   // r.choice.description says what it gives
#include <nlohmann/json.hpp>
#include <string>

#include "covscreen/inference/inference.h"
#include "covscreen/metrics/threshold.h"

namespace covscreen {

struct CalibrateJob {
  std::string model;  // checkpoint to calibrate
  std::string data;   // pack, manifest CSV or folder with labels (load_data)
  std::string layout = "auto";
  std::string split;      // "" = all
  std::string rule;       // metrics::parse_threshold_rule text
  std::string out;        // checkpoint to write (may be `model`)
  bool half = false;      // store the weights as fp16 (as the shipped models are)
  std::string cache_dir;  // on-the-fly packs; "" = none
  InferenceOptions inference;
  std::string command;  // recorded in the card
};

struct CalibrateResult {
  metrics::ThresholdChoice choice;
  double previous_threshold = 0.5;
  size_t positives = 0, negatives = 0, unlabelled = 0, unreadable = 0;
  nlohmann::json record;  // what the card's "calibration" holds
};

// Throws UsageError/FileError (nothing written) when the data cannot decide the rule: no
// readable labelled images, or one class where the rule needs both (youden, sensitivity>=S).
CalibrateResult calibrate_threshold(const CalibrateJob& job);

// `covscreen model typicality`: a checkpoint's typicality reference (models/typicality.h) from the
// images it was trained on (train adds one itself; this adds it to older checkpoints), written to
// `out` with the data's description and hash in the reference's info.
struct TypicalityJob {
  std::string model, data, layout = "auto";
  std::string split = "train";  // "" = all
  std::string out;
  bool half = false;
  std::string cache_dir;
  InferenceOptions inference;
  TypicalityOptions typicality;
  std::string command;
};
Typicality add_typicality(const TypicalityJob& job);

}  // namespace covscreen
