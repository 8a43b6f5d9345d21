#include "covscreen/screen/pipeline.h"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>

#include "covscreen/core/cpu.h"
#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/core/progress.h"
#include "covscreen/core/strings.h"
#include "covscreen/data/stage2.h"
#include "covscreen/explain/explain.h"
#include "covscreen/io/decoder_pool.h"
#include "covscreen/io/dicom_reader.h"
#include "covscreen/models/int8.h"
#include "covscreen/preprocess/lung_region.h"
#include "covscreen/preprocess/stage1.h"
#include "covscreen/screen/worker_pool.h"

namespace covscreen {
namespace fs = std::filesystem;

namespace {
using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// The problem without the "<name>: " prefix FileError puts in front (the result names the file).
std::string problem_of(const std::exception& e, const std::string& name) {
  if (const auto* fe = dynamic_cast<const FileError*>(&e)) return fe->problem();
  std::string s = e.what();
  if (starts_with(s, name + ": ")) s = s.substr(name.size() + 2);
  return s;
}

cv::Mat to_mat(const torch::Tensor& map) {
  const torch::Tensor m = map.to(torch::kCPU, torch::kFloat).contiguous();
  return cv::Mat(static_cast<int>(m.size(0)), static_cast<int>(m.size(1)), CV_32FC1, m.data_ptr<float>()).clone();
}

// A map of the stage-1 image placed where that image came from in the picture the overlay is
// drawn on (the decoded image, perhaps shrunk): zero outside the lung crop.
cv::Mat map_in_picture(const cv::Mat& map01, const PipelineInput& in) {
  const cv::Size original(in.image.width, in.image.height), picture = in.image.gray.size();
  const Stage1Info& s1 = in.stage1;
  if (s1.crop != LungCrop::kLungs || s1.region.size() == original) return map01;
  const double sx = double(picture.width) / original.width, sy = double(picture.height) / original.height;
  const cv::Rect r = cv::Rect(int(std::lround(s1.region.x * sx)), int(std::lround(s1.region.y * sy)),
                              std::max(1, int(std::lround(s1.region.width * sx))),
                              std::max(1, int(std::lround(s1.region.height * sy)))) &
                     cv::Rect(cv::Point(0, 0), picture);
  cv::Mat out = cv::Mat::zeros(picture, CV_32FC1);
  if (r.empty()) return out;
  cv::Mat m;
  map01.convertTo(m, CV_32F);
  cv::resize(m, out(r), r.size(), 0, 0, cv::INTER_LINEAR);
  return out;
}

cv::Mat shrink_to(const cv::Mat& gray, int max_side) {
  const int side = std::max(gray.cols, gray.rows);
  if (max_side <= 0 || side <= max_side) return gray;
  const double s = static_cast<double>(max_side) / side;
  cv::Mat small;
  cv::resize(
      gray, small,
      cv::Size(std::max(1, static_cast<int>(gray.cols * s + 0.5)), std::max(1, static_cast<int>(gray.rows * s + 0.5))),
      0, 0, cv::INTER_AREA);
  return small;
}
}  // namespace

nlohmann::json to_json(const ScreenResult& r) {
  nlohmann::json j = {{"file", r.file}, {"ok", r.ok}};
  if (!r.error.empty()) j["error"] = r.error;
  if (r.refused) j["refused"] = true;
  if (!r.input_check) j["input_check"] = "off";
  if (!r.ok) return j;
  nlohmann::json probs = nlohmann::json::object();
  for (size_t k = 0; k < r.classes.size() && k < r.probs.size(); ++k) probs[r.classes[k]] = r.probs[k];
  j["format"] = r.format;
  j["width"] = r.width;
  j["height"] = r.height;
  j["probabilities"] = probs;
  j["predicted"] = r.predicted >= 0 ? r.classes[static_cast<size_t>(r.predicted)] : "";
  j["covid_probability"] = std::isnan(r.covid_prob) ? nlohmann::json() : nlohmann::json(r.covid_prob);
  j["positive"] = r.positive;
  j["threshold"] = r.threshold;
  j["batch_size"] = r.batch_size;
  j["timings_ms"] = {{"decode", r.decode_ms}, {"queue", r.queue_ms}, {"inference", r.inference_ms}};
  if (r.cam_class >= 0) j["cam_class"] = r.classes[static_cast<size_t>(r.cam_class)];
  if (!r.cam_path.empty()) j["cam"] = r.cam_path;
  if (!r.cam_png.empty()) j["cam_png_base64"] = base64_encode(r.cam_png);
  if (r.lung_fraction >= 0) j["lung_fraction"] = r.lung_fraction;
  if (r.lung_crop != LungCrop::kOff) j["lung_crop"] = lung_crop_name(r.lung_crop);
  if (r.typicality >= 0) {
    j["typicality"] = r.typicality;
    j["atypical"] = r.atypical;
  }
  return j;
}

namespace {
// A file, or each frame of a multi-frame DICOM file as "scan.dcm#frame-N" (DICOM files often
// have no extension: everything but the other image formats is looked at).
void add_frames(const std::string& path, std::vector<std::string>& out) {
  const bool other_format = has_image_extension(path) && !has_dicom_extension(path);
  const int frames = other_format ? 1 : count_dicom_frames(path);
  if (frames <= 1) {
    out.push_back(path);
    return;
  }
  for (int f = 0; f < frames; ++f) out.push_back(frame_address(path, f));
}

bool names_a_frame(const std::string& arg) {
  std::string file;
  int frame = 0;
  std::error_code ec;
  return split_frame_address(arg, &file, &frame) && fs::is_regular_file(file, ec);
}
}  // namespace

std::vector<std::string> collect_inputs(const std::vector<std::string>& args, std::vector<ScreenResult>* missing,
                                        std::vector<std::string>* passed_over) {
  std::vector<std::string> out;
  for (const auto& a : args) {
    std::error_code ec;
    if (fs::is_directory(a, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(a, fs::directory_options::skip_permission_denied, ec);
           it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (!it->is_regular_file(ec)) continue;
        if (is_image_file(it->path().string()))
          found.push_back(it->path().string());
        else if (passed_over)
          passed_over->push_back(it->path().string());
      }
      std::sort(found.begin(), found.end());
      for (const auto& f : found) add_frames(f, out);
    } else if (fs::exists(a, ec)) {
      add_frames(a, out);
    } else if (names_a_frame(a)) {
      out.push_back(a);  // one frame, asked for by name
    } else if (missing) {
      ScreenResult r;
      r.file = a;
      r.error = "no such file or folder";
      missing->push_back(r);
    }
  }
  return out;
}

std::vector<std::string> cam_stems(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  std::set<std::string> used;
  for (const auto& p : paths) {
    std::string file;
    int frame = 0;
    const bool is_frame = split_frame_address(p, &file, &frame);
    std::string stem = fs::path(is_frame ? file : p).stem().string();
    if (is_frame) stem += "_frame-" + std::to_string(frame + 1);
    if (stem.empty()) stem = "image";
    std::string s = stem;
    for (int n = 2; used.count(s); ++n) s = stem + "-" + std::to_string(n);
    used.insert(s);
    out.push_back(s);
  }
  return out;
}

int default_workers(const InferenceOptions& inference, const ScreenModelImpl& net) {
  const int cpus = usable_cpus();
  // LibTorch 1.13 runs fp32 1x1 convolutions of small batches on ONE thread with its native kernel
  // instead of oneDNN (Convolution.cpp, use_mkldnn), ~20x slower on DenseNet (measured:
  // docs/performance.md). So in fp32 each worker keeps at least two intra-op threads; in bf16
  // one single-threaded worker per CPU is fastest. int8 is laid out as fp32 while fp32 convolutions
  // remain (the pyramid attention), else as bf16 (measured: docs/performance.md "int8").
  const torch::Device device = resolve_device(inference.device);
  if (device.is_cuda()) return 1;
  const Precision p = resolve_precision(inference.precision, device);
  const bool slow_fp32_left = p == Precision::kFp32 || (p == Precision::kInt8 && fp32_convolutions_left(net));
  return slow_fp32_left ? std::max(1, cpus / 2) : cpus;
}

int decide(const std::vector<float>& probs, int covid_class, double threshold) {
  if (probs.empty()) return -1;
  if (covid_class >= 0 && probs[covid_class] >= threshold) return covid_class;
  int best = -1;
  for (int k = 0; k < static_cast<int>(probs.size()); ++k)
    if (k != covid_class && (best < 0 || probs[k] > probs[best])) best = k;
  return best;
}

Pipeline::Pipeline(Checkpoint ck, PipelineOptions opt) : ck_(std::move(ck)), opt_(std::move(opt)) {
  threshold_ = opt_.threshold >= 0 ? opt_.threshold : ck_.threshold;
  covid_ = covid_index(ck_.classes);
  kind_ = resolve_kind(opt_.kind, ck_);
  // Resolved once, with what the checkpoint says of int8 (auto picks it only where measured).
  opt_.inference.precision =
      resolve_precision(opt_.inference.precision, resolve_device(opt_.inference.device), int8_agreed(ck_));
  if (opt_.cam == CamOutput::kFiles && opt_.cam_dir.empty()) throw UsageError("CAM files need a folder (cam_dir)");
  opt_.read.window = ck_.spec.stage1.window;
  // Weights fixed in fp32, eval mode, on the device, NHWC: the workers (and Grad-CAM) share the
  // model without changing it.
  ck_.net->to(resolve_device(opt_.inference.device), torch::kFloat);
  if (opt_.inference.channels_last) to_channels_last(*ck_.net);
  ck_.net->eval();
  if (opt_.inference.precision == Precision::kInt8)
    attach_int8(ck_);  // the backbones in int8, the rest (and Grad-CAM's classify) fp32
  else
    detach_int8(*ck_.net);
  if (opt_.workers <= 0) opt_.workers = default_workers(opt_.inference, *ck_.net);  // after attaching int8
}

Pipeline::~Pipeline() = default;

WorkerPool& Pipeline::pool() {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  if (!pool_) {
    const int workers = std::max(1, opt_.workers);
    pool_ = std::make_unique<WorkerPool>(workers, std::max(1, torch::get_num_threads() / workers));
  }
  return *pool_;
}

PipelineInput Pipeline::decode(const std::string& name, const std::string* bytes, size_t index, int frame,
                               bool keep_image) const {
  const auto t0 = Clock::now();
  PipelineInput in;
  in.file = name;
  in.index = index;
  in.want_cam = opt_.cam != CamOutput::kNone;
  try {
    if (bytes && bytes->empty()) throw FileError(name, "empty file");
    // In a decoder process (io/decoder_pool.h): a file that crashes the decoder costs only itself.
    DecoderPool& decoders = default_decoder_pool();
    ReadOptions read = opt_.read;
    read.frame = frame;
    in.image = bytes ? decoders.decode(*bytes, name, read) : decoders.read(name, read);
    in.input = stage1(in.image.gray, ck_.spec.stage1, &in.stage1);
    if (!in.input.isContinuous()) in.input = in.input.clone();
    // The lung share by the finder of the model's kind (the crop's when it used that finder): the
    // study rules' lung check, and the input gate's.
    const bool gate_lungs = opt_.input_check && opt_.refuse_without_lungs;
    if (opt_.lung_fraction || gate_lungs) {
      const LungMethod method = kind_ == StudyKind::kXray ? LungMethod::kXray : LungMethod::kCt;
      in.lung_fraction = in.stage1.lung_fraction >= 0 && ck_.spec.stage1.lungs.method == method
                             ? in.stage1.lung_fraction
                             : find_lungs(in.image.gray, method).fraction;
    }
    if (opt_.input_check) {
      if (const std::string why = input_refusal(in.image, kind_, gate_lungs ? in.lung_fraction : -1); !why.empty()) {
        in.error = kRefusedPrefix + why;
        in.refused = true;
      }
    }
    if (in.want_cam || keep_image)
      in.image.gray = shrink_to(in.image.gray, opt_.cam_max_side);
    else
      in.image.gray.release();  // keep only what the CAM needs
  } catch (const std::exception& e) {
    in.error = problem_of(e, name);
  }
  in.decode_ms = ms_since(t0);
  return in;
}

PipelineInput Pipeline::decode_file(const std::string& path, size_t index) const {
  return decode(path, nullptr, index);
}

PipelineInput Pipeline::decode_bytes(const std::string& bytes, const std::string& name, size_t index, int frame) const {
  return decode(name, &bytes, index, frame);
}

torch::Tensor Pipeline::model_input(const PipelineInput& in) const {
  const int64_t size = ck_.spec.stage1.size;
  if (in.input.rows != size || in.input.cols != size || in.input.type() != CV_8UC1)
    throw Error(in.file + ": stage-1 image of the wrong shape");
  const torch::Tensor u8 = torch::from_blob(in.input.data, {1, size, size}, torch::kUInt8).clone();
  return Stage2(ck_.spec.stage2)(u8.to(resolve_device(opt_.inference.device)), /*augment=*/false);
}

void Pipeline::add_cam(const PipelineInput& in, const torch::Tensor& x1, ScreenResult& r) const {
  std::string label;
  const cv::Mat cam = cam_of(x1, r, &label);
  if (opt_.keep_cam_map) r.cam_map = cam;
  const cv::Mat map01 = map_in_picture(cam, in);
  if (opt_.cam == CamOutput::kFiles) {
    const std::string stem =
        in.cam_stem.empty() ? fs::path(in.file).stem().string() + "_" + std::to_string(in.index) : in.cam_stem;
    r.cam_path = write_cam_files(opt_.cam_dir, stem, in.image.gray, map01, label, opt_.overlay).overlay;
  } else if (opt_.cam == CamOutput::kPng) {
    std::vector<uchar> png;
    cv::imencode(".png", cam_overlay(in.image.gray, map01, label, opt_.overlay), png);
    r.cam_png.assign(png.begin(), png.end());
  }
}

cv::Mat Pipeline::cam_of(const torch::Tensor& x1, ScreenResult& r, std::string* label) const {
  const int cls = opt_.cam_class >= 0 ? opt_.cam_class : (covid_ >= 0 ? covid_ : r.predicted);
  const ExplainResult ex = explain_image(*ck_.net, x1, cls, opt_.cam_method);
  char text[96];
  std::snprintf(text, sizeof text, "%s p=%.2f", ck_.classes[static_cast<size_t>(cls)].c_str(),
                r.probs[static_cast<size_t>(cls)]);
  *label = text;
  r.cam_class = cls;
  return to_mat(ex.map);
}

cv::Mat Pipeline::screen_with_overlay(const std::string& path, ScreenResult* r) const {
  std::vector<PipelineInput> batch;
  batch.push_back(decode(path, nullptr, 0, 0, /*keep_image=*/true));
  batch[0].want_cam = false;
  try {
    *r = infer(batch)[0];
    if (!r->ok) return {};
    std::string label;
    const PipelineInput& in = batch[0];
    const cv::Mat cam = cam_of(model_input(in), *r, &label);
    if (opt_.keep_cam_map) r->cam_map = cam;
    return cam_overlay(in.image.gray, map_in_picture(cam, in), label, opt_.overlay);
  } catch (const std::exception& e) {
    r->error = std::string(r->ok ? "screened, but the CAM overlay failed: " : "could not be screened: ") + e.what();
    return {};
  }
}

std::vector<ScreenResult> Pipeline::infer(std::vector<PipelineInput>& batch) const {
  const auto t0 = Clock::now();
  std::vector<size_t> good;
  for (size_t i = 0; i < batch.size(); ++i)
    if (batch[i].error.empty()) good.push_back(i);
  const int64_t size = ck_.spec.stage1.size;
  const Stage2 stage2(ck_.spec.stage2);
  torch::Tensor images, probs, pooled;
  std::vector<double> typicality;  // of the good images, when the model has a reference
  if (!good.empty()) {
    images = torch::empty({static_cast<int64_t>(good.size()), size, size}, torch::kUInt8);
    for (size_t j = 0; j < good.size(); ++j) {
      const cv::Mat& m = batch[good[j]].input;
      if (m.rows != size || m.cols != size || m.type() != CV_8UC1 || !m.isContinuous())
        throw Error(batch[good[j]].file + ": stage-1 image of the wrong shape");
      std::memcpy(images[static_cast<int64_t>(j)].data_ptr<uint8_t>(), m.data, static_cast<size_t>(size * size));
    }
    InferenceOptions io = opt_.inference;
    io.batch_size = std::max<int>(io.batch_size, static_cast<int>(good.size()));
    const bool typical = opt_.input_check && !ck_.typicality.empty();
    probs = predict_probs(*ck_.net, stage2, images, io, nullptr, typical ? &pooled : nullptr).contiguous();
    if (typical) typicality = ck_.typicality.scores(pooled);
  }
  const double infer_ms = ms_since(t0);
  std::vector<ScreenResult> out(batch.size());
  size_t j = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const PipelineInput& in = batch[i];
    ScreenResult& r = out[i];
    r.file = in.file;
    r.index = in.index;
    r.format = in.image.format;
    r.width = in.image.width;
    r.height = in.image.height;
    r.classes = ck_.classes;
    r.threshold = threshold_;
    r.decode_ms = in.decode_ms;
    r.queue_ms = in.queue_ms;
    r.lung_fraction = in.lung_fraction;
    r.lung_crop = in.stage1.crop;
    r.input_check = opt_.input_check;
    if (!in.error.empty()) {
      r.error = in.error;
      r.refused = in.refused;
      continue;
    }
    const float* p = probs[static_cast<int64_t>(j)].data_ptr<float>();
    r.probs.assign(p, p + probs.size(1));
    r.covid_prob = covid_ >= 0 ? r.probs[static_cast<size_t>(covid_)] : std::numeric_limits<double>::quiet_NaN();
    r.predicted = decide(r.probs, covid_, threshold_);
    r.positive = covid_ >= 0 && r.covid_prob >= threshold_;
    if (!typicality.empty()) {
      r.typicality = typicality[j];
      r.atypical = ck_.typicality.atypical(r.typicality);
    }
    r.inference_ms = infer_ms;
    r.batch_size = static_cast<int>(good.size());
    r.ok = true;
    if (in.want_cam) {
      try {
        add_cam(in, stage2(images.slice(0, static_cast<int64_t>(j), static_cast<int64_t>(j) + 1), false), r);
      } catch (const std::exception& e) {
        r.error = std::string("screened, but the CAM overlay failed: ") + e.what();
      }
    }
    ++j;
  }
  return out;
}

std::vector<ScreenResult> Pipeline::screen_files(const std::vector<std::string>& paths, const BatchCallback& on_batch,
                                                 Progress* progress) {
  const size_t bs = static_cast<size_t>(std::max(1, opt_.inference.batch_size));
  const size_t batches = (paths.size() + bs - 1) / bs;
  std::vector<std::vector<ScreenResult>> results(batches);
  std::vector<char> done(batches, 0);
  std::atomic<size_t> next{0};
  std::mutex mu;  // progress, done flags and the in-order callback
  size_t emitted = 0;
  const std::vector<std::string> stems = opt_.cam == CamOutput::kFiles ? cam_stems(paths) : std::vector<std::string>();
  auto work = [&](int) {
    for (size_t k; (k = next++) < batches;) {
      std::vector<PipelineInput> batch;
      for (size_t i = k * bs; i < std::min(paths.size(), (k + 1) * bs); ++i) {
        batch.push_back(decode_file(paths[i], i));
        if (!stems.empty()) batch.back().cam_stem = stems[i];
      }
      try {
        results[k] = infer(batch);
      } catch (...) {  // a model failure, not a bad file: the other workers stop too
        next = batches;
        throw;
      }
      std::lock_guard<std::mutex> lock(mu);
      if (progress) progress->advance(batch.size());
      done[k] = 1;
      while (emitted < batches && done[emitted]) {
        const size_t e = emitted++;  // before the callback: a batch is never handed over twice
        if (!on_batch) continue;
        try {
          on_batch(results[e]);
        } catch (...) {  // the caller gave up: the other workers stop too
          next = batches;
          throw;
        }
      }
    }
  };
  if (batches == 1)
    work(0);  // one batch (one file, say): all of the caller's intra-op threads on it, for latency
  else if (batches > 1)
    pool().run(work);
  std::vector<ScreenResult> out;
  out.reserve(paths.size());
  for (auto& r : results) out.insert(out.end(), std::make_move_iterator(r.begin()), std::make_move_iterator(r.end()));
  return out;
}

ScreenResult Pipeline::screen_bytes(const std::string& bytes, const std::string& name) {
  std::vector<PipelineInput> batch{decode_bytes(bytes, name)};
  return infer(batch).front();
}

torch::Tensor Pipeline::probabilities(const torch::Tensor& stage1_images, Progress* progress,
                                      std::vector<double>* typicality) {
  const int64_t n = stage1_images.size(0);
  const int64_t bs = std::max(1, opt_.inference.batch_size);
  const int64_t batches = (n + bs - 1) / bs;
  const bool typical = typicality && opt_.input_check && !ck_.typicality.empty();
  std::vector<torch::Tensor> parts(static_cast<size_t>(batches)), pooled(typical ? parts.size() : 0);
  std::atomic<int64_t> next{0};
  std::mutex mu;
  const Stage2 stage2(ck_.spec.stage2);
  auto work = [&](int) {
    for (int64_t k; (k = next++) < batches;) {
      const torch::Tensor b = stage1_images.slice(0, k * bs, std::min(n, (k + 1) * bs));
      try {
        parts[static_cast<size_t>(k)] = predict_probs(*ck_.net, stage2, b, opt_.inference, nullptr,
                                                      typical ? &pooled[static_cast<size_t>(k)] : nullptr);
      } catch (...) {
        next = batches;
        throw;
      }
      std::lock_guard<std::mutex> lock(mu);
      if (progress) progress->advance(static_cast<size_t>(b.size(0)));
    }
  };
  if (batches <= 1)
    work(0);
  else
    pool().run(work);
  if (typical && !pooled.empty()) *typicality = ck_.typicality.scores(torch::cat(pooled));
  if (parts.empty()) return torch::empty({0, static_cast<int64_t>(ck_.classes.size())});
  return torch::cat(parts);
}

}  // namespace covscreen
