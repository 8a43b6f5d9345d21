// POST /v1/screen: collect the uploaded files, decode them on this HTTP thread (stage 1), queue
// them for the model as one group (all or none), wait with a deadline, answer JSON.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "covscreen/core/error.h"
#include "covscreen/io/image_reader.h"
#include "covscreen/io/overlay.h"
#include "covscreen/preprocess/stage1.h"
#include "covscreen/screen/screener.h"
#include "covscreen/serve/http_util.h"
#include "server_impl.h"

namespace covscreen {

namespace {
using Clock = std::chrono::steady_clock;

double ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

struct Upload {
  std::string name;            // shown back to the client only (never logged, never a path)
  const std::string* bytes = nullptr;
};

struct FileResult {
  int status = 200;
  std::string error;
  DecodedImage image;          // gray at original size (kept only for CAM, shrunk)
  ImageJobPtr job;
  double decode_ms = 0;
};

// Only the last path component of a client-side file name, for display.
std::string display_name(const std::string& filename, size_t index) {
  std::string n = filename.substr(filename.find_last_of("/\\") == std::string::npos ? 0 : filename.find_last_of("/\\") + 1);
  if (n.empty()) n = "file" + std::to_string(index + 1);
  if (n.size() > 255) n = n.substr(0, 255);
  return n;
}

std::string problem_of(const std::exception& e) {
  if (const auto* fe = dynamic_cast<const FileError*>(&e)) return fe->problem();
  return e.what();
}
}  // namespace

void ScreenServer::Impl::handle_screen(const httplib::Request& req, httplib::Response& res) {
  const auto t0 = Clock::now();
  const std::string cam_param = req.get_param_value("cam");
  const bool want_cam = cam_param == "1" || cam_param == "true" || cam_param == "yes";

  // 1. The uploads.
  std::vector<Upload> uploads;
  const bool multipart = req.is_multipart_form_data();
  if (multipart) {
    for (const auto& [field, part] : req.files) {
      if (part.filename.empty() && field != "file" && field != "files") continue;  // other form fields
      uploads.push_back({display_name(part.filename, uploads.size()), &part.content});
    }
    if (uploads.empty()) return send_error(res, 400, "the multipart body has no files (use file fields)");
    if (static_cast<int>(uploads.size()) > opt.max_files)
      return send_error(res, 413, "too many files in one request (" + std::to_string(uploads.size()) +
                                      " > " + std::to_string(opt.max_files) + ")");
  } else {
    const std::string media = http::media_type(req.get_header_value("Content-Type"));
    if (!http::accepted_raw_type(media))
      return send_error(res, 415, "unsupported Content-Type '" + media +
                                      "' (use image/png, image/jpeg, application/dicom or multipart/form-data)");
    if (req.body.empty()) return send_error(res, 400, "empty body: send a PNG, JPEG or DICOM file");
    uploads.push_back({"upload", &req.body});
  }

  // 2. Decode + stage 1 here, on the HTTP thread; bad files never reach the model.
  ReadOptions ro;
  ro.window = ck.spec.stage1.window;
  ro.max_pixels = opt.max_pixels;
  ro.max_file_bytes = opt.max_body_bytes;
  std::vector<FileResult> files(uploads.size());
  std::vector<ImageJobPtr> jobs;
  for (size_t i = 0; i < uploads.size(); ++i) {
    FileResult& f = files[i];
    const auto d0 = Clock::now();
    try {
      if (uploads[i].bytes->empty()) throw FileError("upload", "empty file");
      f.image = decode_image(*uploads[i].bytes, "upload", ro);
      cv::Mat input = stage1(f.image.gray, ck.spec.stage1);
      auto job = std::make_shared<ImageJob>();
      job->input = input.isContinuous() ? input : input.clone();
      job->want_cam = want_cam;
      if (want_cam) {
        const int side = std::max(f.image.gray.cols, f.image.gray.rows);
        if (side > opt.cam_max_side) {
          const double s = static_cast<double>(opt.cam_max_side) / side;
          cv::Mat small;
          cv::resize(f.image.gray, small,
                     cv::Size(std::max(1, static_cast<int>(f.image.gray.cols * s + 0.5)),
                              std::max(1, static_cast<int>(f.image.gray.rows * s + 0.5))),
                     0, 0, cv::INTER_AREA);
          f.image.gray = small;
        }
      } else {
        f.image.gray.release();
      }
      f.job = job;
      jobs.push_back(job);
    } catch (const std::exception& e) {
      const std::string problem = problem_of(e);
      f.status = dynamic_cast<const FileError*>(&e) ? http::status_for_decode_problem(problem) : 422;
      f.error = problem;
    }
    f.decode_ms = ms(d0, Clock::now());
  }

  // 3. The model, through the shared queue.
  if (!jobs.empty() && !queue->submit(jobs)) {
    res.set_header("Retry-After", std::to_string(opt.retry_after_s));
    return send_error(res, 503, "the screening queue is full; retry later");
  }
  const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.request_timeout_s));
  for (const auto& j : jobs) {
    if (j->done.get_future().wait_until(deadline) != std::future_status::ready) {
      for (const auto& k : jobs) k->cancelled = true;
      return send_error(res, 504, "timed out waiting for the model");
    }
  }

  // 4. The answer.
  const auto& classes = ck.classes;
  nlohmann::json results = nlohmann::json::array();
  int n_ok = 0, n_failed = 0, first_error_status = 0;
  std::string first_error;
  for (size_t i = 0; i < files.size(); ++i) {
    FileResult& f = files[i];
    if (f.job && !f.job->error.empty()) {
      f.status = f.job->error_status ? f.job->error_status : 500;
      f.error = f.job->error;
    }
    nlohmann::json r = {{"file", uploads[i].name}, {"index", i}, {"status", f.status}, {"ok", f.error.empty()}};
    if (!f.error.empty()) {
      r["error"] = f.error;
      ++n_failed;
      if (!first_error_status) first_error_status = f.status, first_error = f.error;
      results.push_back(r);
      continue;
    }
    const ImageJob& j = *f.job;
    nlohmann::json probs = nlohmann::json::object();
    for (size_t k = 0; k < classes.size() && k < j.probs.size(); ++k) probs[classes[k]] = j.probs[k];
    const int predicted = decide(j.probs, covid, threshold);
    r["probabilities"] = probs;
    r["predicted"] = predicted >= 0 ? classes[static_cast<size_t>(predicted)] : "";
    r["covid_probability"] = covid >= 0 ? nlohmann::json(j.probs[static_cast<size_t>(covid)]) : nlohmann::json();
    r["positive"] = covid >= 0 && j.probs[static_cast<size_t>(covid)] >= threshold;
    r["format"] = f.image.format;
    r["width"] = f.image.width;
    r["height"] = f.image.height;
    r["timings_ms"] = {{"decode", f.decode_ms}, {"queue", j.queue_ms}, {"inference", j.inference_ms}};
    r["batch_size"] = j.batch_size;
    if (j.want_cam && !j.cam.empty()) {
      try {
        char label[96];
        std::snprintf(label, sizeof label, "%s p=%.2f", classes[static_cast<size_t>(j.cam_class)].c_str(),
                      j.probs[static_cast<size_t>(j.cam_class)]);
        const cv::Mat overlay = cam_overlay(f.image.gray, j.cam, label);
        std::vector<uchar> png;
        cv::imencode(".png", overlay, png);
        r["cam_class"] = classes[static_cast<size_t>(j.cam_class)];
        r["cam_png_base64"] = http::base64_encode(std::string(png.begin(), png.end()));
      } catch (const std::exception& e) {
        r["cam_error"] = e.what();
      }
    }
    ++n_ok;
    results.push_back(std::move(r));
  }
  metrics.count_images(n_ok, n_failed);

  nlohmann::json body = {{"request_id", request_id(res)},
                         {"model_id", model_id},
                         {"classes", classes},
                         {"threshold", threshold},
                         {"results", results},
                         {"timings_ms", {{"total", ms(t0, Clock::now())}}},
                         {"notice", kNotice}};
  int status = 200;
  if (n_ok == 0 && first_error_status) {
    // Nothing could be screened: the request failed, with the (first) file's status.
    status = first_error_status;
    body["error"] = multipart ? "no file could be screened: " + first_error : first_error;
    body["status"] = status;
  }
  if (status == 503) res.set_header("Retry-After", std::to_string(opt.retry_after_s));
  send_json(res, status, body);
}

}  // namespace covscreen
