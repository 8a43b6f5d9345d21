// POST /v1/screen: collect the uploaded files, decode them on this HTTP thread (the pipeline's
// decode stage), queue them for the pipeline's workers as one group (all or none), wait with a
// deadline, answer JSON: one to_json(ScreenResult) per file (the record `screen --format json`
// writes) plus the HTTP envelope (index, status).
#include <algorithm>
#include <chrono>

#include "covscreen/core/error.h"
#include "covscreen/serve/http_util.h"
#include "server_impl.h"

namespace covscreen {

namespace {
using Clock = std::chrono::steady_clock;

double ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

struct Upload {
  std::string name;  // shown back to the client only (never logged, never a path)
  const std::string* bytes = nullptr;
};

// Only the last path component of a client-side file name, for display.
std::string display_name(const std::string& filename, size_t index) {
  std::string n =
      filename.substr(filename.find_last_of("/\\") == std::string::npos ? 0 : filename.find_last_of("/\\") + 1);
  if (n.empty()) n = "file" + std::to_string(index + 1);
  if (n.size() > 255) n = n.substr(0, 255);
  return n;
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
      return send_error(res, 413,
                        "too many files in one request (" + std::to_string(uploads.size()) + " > " +
                            std::to_string(opt.max_files) + ")");
  } else {
    const std::string media = http::media_type(req.get_header_value("Content-Type"));
    if (!http::accepted_raw_type(media))
      return send_error(res, 415,
                        "unsupported Content-Type '" + media +
                            "' (use image/png, image/jpeg, application/dicom or multipart/form-data)");
    if (req.body.empty()) return send_error(res, 400, "empty body: send a PNG, JPEG or DICOM file");
    uploads.push_back({"upload", &req.body});
  }

  // 2. Decode + stage 1 here, on the HTTP thread; bad files never reach the model. A multi-frame
  //    DICOM upload gives one result per frame, "name#frame-N".
  std::vector<ImageJobPtr> jobs, queued;
  std::vector<std::string> names;
  std::vector<int> status;
  for (size_t u = 0; u < uploads.size(); ++u) {
    PipelineInput first = pipeline->decode_bytes(*uploads[u].bytes, uploads[u].name, jobs.size());
    const int frames = first.error.empty() ? std::max(1, first.image.frames) : 1;
    for (int f = 0; f < frames; ++f) {
      auto job = std::make_shared<ImageJob>();
      const std::string name = frames > 1 ? frame_address(uploads[u].name, f) : uploads[u].name;
      job->input = f == 0 ? std::move(first) : pipeline->decode_bytes(*uploads[u].bytes, name, jobs.size(), f);
      job->input.file = name;
      job->input.want_cam = want_cam;
      if (!want_cam) job->input.image.gray.release();
      status.push_back(200);
      if (!job->input.error.empty()) {
        status.back() = http::status_for_decode_problem(job->input.error);
        std::vector<PipelineInput> failed{job->input};
        job->result = pipeline->infer(failed).front();  // the record of a failed input; no model call
      } else {
        queued.push_back(job);
      }
      jobs.push_back(job);
      names.push_back(name);
    }
  }

  // 3. The model, through the shared queue.
  if (!queued.empty() && !queue->submit(queued)) {
    res.set_header("Retry-After", std::to_string(opt.retry_after_s));
    return send_error(res, 503, "the screening queue is full; retry later");
  }
  const auto deadline =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.request_timeout_s));
  for (const auto& j : queued) {
    if (j->done.get_future().wait_until(deadline) != std::future_status::ready) {
      for (const auto& k : queued) k->cancelled = true;
      return send_error(res, 504, "timed out waiting for the model");
    }
  }

  // 4. The answer.
  nlohmann::json results = nlohmann::json::array();
  int n_ok = 0, n_failed = 0, first_error_status = 0;
  std::string first_error;
  for (size_t i = 0; i < jobs.size(); ++i) {
    ScreenResult& r = jobs[i]->result;
    if (jobs[i]->error_status) status[i] = jobs[i]->error_status;
    r.file = names[i];
    nlohmann::json j = to_json(r);
    j["index"] = i;
    j["status"] = r.ok ? 200 : status[i];
    if (!r.ok) {
      ++n_failed;
      if (!first_error_status) first_error_status = status[i], first_error = r.error;
    } else {
      ++n_ok;
    }
    results.push_back(std::move(j));
  }
  metrics.count_images(n_ok, n_failed);

  nlohmann::json body = {{"request_id", request_id(res)},
                         {"model_id", model_id},
                         {"classes", ck().classes},
                         {"threshold", pipeline->threshold()},
                         {"results", results},
                         {"timings_ms", {{"total", ms(t0, Clock::now())}}},
                         {"notice", kNotice}};
  int status_code = 200;
  if (n_ok == 0 && first_error_status) {
    // Nothing could be screened: the request failed, with the (first) file's status.
    status_code = first_error_status;
    body["error"] = multipart ? "no file could be screened: " + first_error : first_error;
    body["status"] = status_code;
  }
  if (status_code == 503) res.set_header("Retry-After", std::to_string(opt.retry_after_s));
  send_json(res, status_code, body);
}

}  // namespace covscreen
