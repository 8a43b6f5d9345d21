#pragma once
// Screening files with a checkpoint: decode (PNG/JPEG/BMP/TIFF/DICOM) -> stage 1 -> stage 2 ->
// model -> per-class probabilities and a COVID decision at the checkpoint's threshold.
// Batched; `workers` threads each take a whole batch (decode, stage 1, model) at a time, with
// the intra-op threads shared out between them, so decoding overlaps the model. A file that cannot be read is reported in its item (error) and the batch
// goes on. Optional Grad-CAM overlays per file (explain/, io/overlay.h).
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "covscreen/io/image_reader.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/screen/worker_pool.h"
#include "covscreen/train/inference.h"

namespace covscreen {

class Progress;

struct ScreenOptions {
  InferenceOptions inference;
  double threshold = -1;       // < 0: the checkpoint's threshold
  std::string cam_dir;         // non-empty: write <stem>_cam.png / _cam16.png here
  int workers = 0;             // parallel batch workers; 0: the usable CPUs
};

struct ScreenItem {
  std::string path;
  bool ok = false;
  std::string error;                 // why the file could not be screened
  std::vector<float> probs;          // K class probabilities
  int predicted = -1;                // class index of the decision
  double covid_prob = std::numeric_limits<double>::quiet_NaN();
  bool positive = false;             // covid_prob >= threshold
  std::string cam_path;              // overlay PNG when cam_dir is set
  int width = 0, height = 0;         // original size
};

// Expands the command-line inputs: folders are walked recursively (image and DICOM files,
// sorted); files are kept as given whatever their extension. Missing paths become error items.
std::vector<std::string> collect_inputs(const std::vector<std::string>& args, std::vector<ScreenItem>* missing);

class Screener {
 public:
  Screener(Checkpoint ck, ScreenOptions opt);
  ~Screener();
  std::vector<ScreenItem> screen_files(const std::vector<std::string>& paths, Progress* progress = nullptr);
  // One in-memory file (e.g. an HTTP body); `name` is used in errors.
  ScreenItem screen_bytes(const std::string& bytes, const std::string& name);
  const Checkpoint& checkpoint() const { return ck_; }
  double threshold() const { return threshold_; }
  int covid_class() const { return covid_; }
  int workers() const { return opt_.workers; }

 private:
  struct Decoded;
  Decoded decode_one(const std::string& path, const std::string* bytes) const;
  void run_batch(std::vector<Decoded>& batch, std::vector<ScreenItem>& out);
  Checkpoint ck_;
  ScreenOptions opt_;
  std::unique_ptr<WorkerPool> pool_;  // created on first use (intra-op threads as set then)
  std::mutex pool_mutex_;
  double threshold_;
  int covid_;
};

// The decision for one probability vector: the COVID class when P(covid) >= threshold, else
// the most probable other class.
int decide(const std::vector<float>& probs, int covid_class, double threshold);

}  // namespace covscreen
