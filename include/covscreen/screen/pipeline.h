#pragma once
// The per-image pipeline: one path from a file to a result record, used by `screen`, `evaluate`,
// `explain`, `bench` and `serve`.
//
//   decode (PNG/JPEG/BMP/TIFF/DICOM -> gray) -> stage 1 (equalize, resize; preprocess/stage1.h)
//   -> stage 2 (blur, standardize; data/stage2.h) -> model -> probabilities -> decision
//   -> optional Grad-CAM overlay -> ScreenResult
//
// Usage:
//   covscreen::Pipeline p(covscreen::load_checkpoint("models/deep-ct-net-covid-ct.ckpt"), {});
//   for (const auto& r : p.screen_files({"a.png", "b.dcm"}))
//     std::cout << covscreen::to_json(r).dump() << "\n";          // {"file": "a.png", "ok": true, ...}
//   // Streaming: batches come back in input order as soon as they are done.
//   p.screen_files(paths, [](std::vector<covscreen::ScreenResult>& batch) { print(batch); });
//   covscreen::ScreenResult one = p.screen_bytes(http_body, "upload.png");
//
// Speed: `workers` threads (WorkerPool) each take a whole batch (decode, stage 1, model) at a
// time, with the intra-op threads shared out between them, so decoding overlaps the model and
// small single-threaded model calls keep the caches warm (docs/performance.md). The server
// feeds its micro-batches to the same workers (serve/batch_queue.h). The model is shared by the
// workers and never modified by them (eval mode, fixed weights), Grad-CAM included.
// A file that cannot be read gets an error in its result and the run goes on.
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "covscreen/explain/grad_cam.h"
#include "covscreen/inference/inference.h"
#include "covscreen/io/image_reader.h"
#include "covscreen/io/overlay.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/preprocess/stage1.h"
#include "covscreen/screen/input_gate.h"

namespace covscreen {

class Progress;
class WorkerPool;

// What to do with class activation maps.
enum class CamOutput {
  kNone,
  kFiles,  // write <stem>_cam.png and <stem>_cam16.png into cam_dir (result.cam_path)
  kPng,    // keep the overlay as PNG bytes in the result (result.cam_png), for HTTP answers
};

struct PipelineOptions {
  InferenceOptions inference;  // batch_size = images per model call and worker
  double threshold = -1;       // < 0: the checkpoint's
  int workers = 0;             // parallel batch workers; 0: default_workers(inference, model)
  ReadOptions read;            // size limits (the window comes from the checkpoint's spec)
  CamOutput cam = CamOutput::kNone;
  std::string cam_dir;  // kFiles
  int cam_class = -1;   // the class CAMs explain; -1: COVID, else the predicted class
  CamMethod cam_method = CamMethod::kGradCam;
  OverlayOptions overlay;
  int cam_max_side = 0;       // > 0: overlays drawn on the picture shrunk to at most this side
  bool keep_cam_map = false;  // also keep the raw map in the result (explain's checks)
  bool lung_fraction =
      false;  // measure the lung share of each image (preprocess/lung_region.h; the input gate does too)
  // The input gate (screen/input_gate.h): false screens every image (`--no-input-check`).
  bool input_check = true;
  StudyKind kind = StudyKind::kAuto;  // what the model screens; auto: from the checkpoint
  bool refuse_without_lungs = true;   // false in studies: their rules count slices without lungs as skipped
};

// One image's result: the record `screen --format json` and POST /v1/screen both write.
struct ScreenResult {
  std::string file;  // path, or the upload's display name
  size_t index = 0;  // position in the run's inputs
  bool ok = false;
  std::string error;                 // why it could not be screened (or what failed after screening)
  bool refused = false;              // the input gate refused it (error: "not screened: <reason>")
  bool input_check = true;           // false: screened with the input gate off
  double typicality = -1;            // models/typicality.h score in [0, 1]; -1: the model has no reference
  bool atypical = false;             // typicality under the model's flag_below (screened, flagged)
  std::string format;                // "png", "jpeg", "dicom", ...
  int width = 0, height = 0;         // original size
  std::vector<std::string> classes;  // the model's
  std::vector<float> probs;          // per-class sigmoid probabilities
  int predicted = -1;                // class index of the decision
  double covid_prob = std::numeric_limits<double>::quiet_NaN();
  bool positive = false;  // covid_prob >= threshold
  double threshold = 0.5;
  int cam_class = -1;                   // the class the CAM explains (when one was made)
  std::string cam_path;                 // CamOutput::kFiles
  std::string cam_png;                  // CamOutput::kPng: PNG bytes
  cv::Mat cam_map;                      // keep_cam_map: CV_32FC1 [S x S] in [0, 1]
  double lung_fraction = -1;            // lung pixels / all pixels by the finder of the model's kind
                                        // (PipelineOptions::lung_fraction, the input gate); -1: not measured
  LungCrop lung_crop = LungCrop::kOff;  // the spec's lung crop: done, or the whole image used
  double decode_ms = 0, queue_ms = 0, inference_ms = 0;
  int batch_size = 0;  // images in the model call
};
// {"file", "ok", "error"?, and when screened: "format", "width", "height", "probabilities"
// {class: p}, "predicted", "covid_probability", "positive", "threshold", "batch_size",
// "timings_ms" {decode, queue, inference}; with a CAM: "cam_class" and "cam" (file) or
// "cam_png_base64"; when the lung share was measured (studies, the input gate): "lung_fraction"; when the model's spec
// crops to the lungs: "lung_crop" ("lungs" | "whole image (no lungs found)"); "refused": true when
// the input gate refused it; "typicality" and "atypical" when the model has a typicality reference;
// "input_check": "off" when the gate was off}.
nlohmann::json to_json(const ScreenResult& r);

// A decoded image between the decode and model stages (the server decodes on its HTTP threads).
struct PipelineInput {
  std::string file;
  size_t index = 0;
  std::string error;     // decoding failed, or the input gate refused it: the result carries it
  bool refused = false;  // the input gate's refusal
  DecodedImage image;    // gray at original size: kept only while a CAM overlay is wanted
  cv::Mat input;         // stage-1 output, CV_8UC1 [S x S], continuous
  Stage1Info stage1;     // the lung crop: which part of the image `input` shows
  bool want_cam = false;
  double lung_fraction = -1;
  std::string cam_stem;  // CamOutput::kFiles: <cam_dir>/<cam_stem>_cam.png (see cam_stems)
  double decode_ms = 0, queue_ms = 0;
};

// Expands the command-line inputs: folders are walked recursively (image and DICOM files,
// io/image_reader.h is_image_file, sorted); files are kept as given whatever their extension; a multi-frame DICOM file
// becomes one input per frame, "scan.dcm#frame-1" ... (io/image_reader.h), and "scan.dcm#frame-N" names one frame.
// Missing paths become error results. `passed_over`: the files in those folders that are neither
// images nor DICOM (a README, a .csv), so a run can say what it did not look at.
std::vector<std::string> collect_inputs(const std::vector<std::string>& args, std::vector<ScreenResult>* missing,
                                        std::vector<std::string>* passed_over = nullptr);

// File stems for CAM files, unique within one run and in input order: "scan", "scan-2", ...
std::vector<std::string> cam_stems(const std::vector<std::string>& paths);

// Workers when PipelineOptions::workers is 0: one per CPU in bf16 (single-threaded model calls);
// in fp32 one per two CPUs, each with two intra-op threads (LibTorch's fp32 path is slow on one);
// int8 as fp32 while `net` keeps fp32 convolutions beside its int8 backbones (models/int8.h), else as bf16.
int default_workers(const InferenceOptions& inference, const ScreenModelImpl& net);

// The decision for one probability vector: the COVID class when P(covid) >= threshold, else
// the most probable other class.
int decide(const std::vector<float>& probs, int covid_class, double threshold);

class Pipeline {
 public:
  using BatchCallback = std::function<void(std::vector<ScreenResult>& batch)>;

  Pipeline(Checkpoint ck, PipelineOptions opt);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Whole runs on the worker pool; `on_batch` sees each batch's results in input order, as soon
  // as it and every batch before it are done. One run at a time.
  std::vector<ScreenResult> screen_files(const std::vector<std::string>& paths, const BatchCallback& on_batch = {},
                                         Progress* progress = nullptr);
  ScreenResult screen_bytes(const std::string& bytes, const std::string& name);  // on the calling thread
  // Stage-1 images (a pack): uint8 [N, S, S] -> probabilities float [N, K], batched on the workers.
  // `typicality`: also each image's typicality score (models/typicality.h), when the model has a
  // reference and the input check is on (else left empty).
  torch::Tensor probabilities(const torch::Tensor& stage1_images, Progress* progress = nullptr,
                              std::vector<double>* typicality = nullptr);

  // The stages, for callers that run them on threads of their own (thread-safe).
  PipelineInput decode_file(const std::string& path, size_t index = 0) const;
  PipelineInput decode_bytes(const std::string& bytes, const std::string& name, size_t index = 0,
                             int frame = 0) const;  // frame: of a multi-frame DICOM file (0-based)
  std::vector<ScreenResult> infer(std::vector<PipelineInput>& batch) const;  // one model call
  torch::Tensor model_input(const PipelineInput& in) const;                  // stage 2 output [1, C, S, S]
  // One file screened with its CAM overlay (BGR, at most cam_max_side), whatever PipelineOptions::cam
  // says; the overlay is empty when the file could not be screened (r->error says why).
  cv::Mat screen_with_overlay(const std::string& path, ScreenResult* r) const;

  WorkerPool& pool();  // created on first use, with the intra-op threads as set then
  const Checkpoint& checkpoint() const { return ck_; }
  const PipelineOptions& options() const { return opt_; }
  double threshold() const { return threshold_; }
  int covid_class() const { return covid_; }
  int workers() const { return opt_.workers; }
  StudyKind kind() const { return kind_; }  // resolved: kCt or kXray

 private:
  PipelineInput decode(const std::string& name, const std::string* bytes, size_t index, int frame = 0,
                       bool keep_image = false) const;
  void add_cam(const PipelineInput& in, const torch::Tensor& x1, ScreenResult& r) const;
  cv::Mat cam_of(const torch::Tensor& x1, ScreenResult& r, std::string* label) const;  // map in [0, 1]; sets cam_class
  Checkpoint ck_;
  PipelineOptions opt_;
  double threshold_;
  int covid_;
  StudyKind kind_;  // resolved
  std::unique_ptr<WorkerPool> pool_;
  std::mutex pool_mutex_;
};

}  // namespace covscreen
