#pragma once
// `covscreen pacs`: screens the studies of a DICOMweb archive and stores the results back into it.
//
//   poll: QIDO-RS studies (StudyDate >= since) -> those not in the state file (or failed fewer than
//         max_failures times), oldest first
//   each: QIDO-RS series -> keep the series this model screens (modality) -> WADO-RS metadata of
//         those -> choose_series() (screen/study.h, the rules of `screen --by study`) -> WADO-RS
//         retrieve of that one series into a temporary folder -> screen_studies() -> DICOM SR + SC
//         (io/dicom_results.h) -> STOW-RS to the same archive -> state file -> temporary files removed
//
// The state file (JSON, written atomically after each study) maps study UID -> what happened:
// "screened" (time, P(covid), decision, series, SR and SC UIDs), "no-screenable-series" (the
// reason; not retried) or "failed" (the error and how many times; retried on later polls until
// max_failures). It is written only after the results were stored, and the results' UIDs are
// deterministic (results_uid), so a crash between STOW-RS and the state write makes the next run
// store the same SR/SC UIDs again, which an archive treats as the same instances (no duplicate;
// Orthanc as shipped answers success and keeps the first copy, with "OverwriteInstances" it keeps
// the new one: tests/pacs_dicomweb_test.cpp). One state file belongs to one archive, model (its
// SHA-256) and kind; "<state>.lock" (flock) keeps a second run off it.
//
// A stop request (SIGINT/SIGTERM in the CLI) ends waits and downloads at once and abandons that
// study (not recorded: the next run screens it); a study being screened is finished and stored.
//
// The archive being unreachable (DicomWebError::transient) is not a study failure: the request is
// retried after 1 s, 2 s, 4 s ... (capped at backoff_max_s), with a line on the log each time; with
// `once`, after `max_tries` tries in a row the run stops with ArchiveUnreachable. An answer cut
// short (kTruncated) is retried max_tries times, then fails the study.
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "covscreen/core/registry.h"
#include "covscreen/pacs/dicomweb.h"
#include "covscreen/screen/pipeline.h"
#include "covscreen/screen/study.h"

namespace covscreen {

struct PacsOptions {
  DicomWebOptions archive;
  std::string model_path;
  std::string rules_path;  // "" : the default StudyRules
  std::string state_path;
  std::string since;     // YYYYMMDD: only studies from that day on
  std::string work_dir;  // temporary folders go here ("" : the system temp folder)
  // CT or X-ray studies (screen/study.h StudyKind); kAuto: the rules file's kind, else from the model.
  StudyKind kind = StudyKind::kAuto;
  bool once = false;     // one poll, then return
  double poll_s = 60;    // between polls (not once)
  int max_failures = 3;  // a failing study is tried this many times in all
  int max_tries = 6;     // once: tries of one request while the archive is unreachable
  double backoff_initial_s = 1, backoff_max_s = 60;
  int page_size = 100;  // QIDO-RS limit per request
  PipelineOptions pipeline;
  void validate() const;  // UsageError
};

// What happened to one study in this run (one line of the summary).
struct PacsStudyOutcome {
  std::string study_uid, patient_id, study_date;
  std::string status;  // "screened", "no-screenable-series", "failed"
  std::string series_uid, sr_uid, sc_uid;
  std::string reason;  // no-screenable-series: why; failed: the error
  int failures = 0;    // failed: how many times so far
  bool will_retry = false;
  double covid_probability = 0;
  bool positive = false;
  double threshold = 0.5;
  int slices_screened = 0;
  double seconds = 0;
  nlohmann::json result;  // screened: to_json(StudyResult)
};
nlohmann::json to_json(const PacsStudyOutcome& o);

// The run stopped because the archive stayed unreachable (once) or a stop was requested while
// waiting for it.
class ArchiveUnreachable : public Error {
 public:
  using Error::Error;
};

class PacsMonitor {
 public:
  struct Summary {
    int screened = 0, no_series = 0, failed = 0, skipped_given_up = 0, polls = 0;
    bool stopped = false;  // request_stop() ended the run
  };
  using OnStudy = std::function<void(const PacsStudyOutcome&)>;

  // Loads the model, the rules and the state (UsageError when the state file belongs to another
  // archive or model, or is being used by another run). `log` gets progress and retry lines.
  PacsMonitor(PacsOptions opt, std::ostream& log);
  ~PacsMonitor();
  PacsMonitor(const PacsMonitor&) = delete;
  PacsMonitor& operator=(const PacsMonitor&) = delete;

  // Polls until request_stop() (or once). `on_study` sees each outcome. Throws ArchiveUnreachable.
  Summary run(const OnStudy& on_study = {});
  // Thread-safe; ends waits at once, abandons a download in progress, lets a screening finish.
  void request_stop();

  const ModelIdentity& model() const { return model_; }
  StudyKind kind() const { return rules_.kind; }

 private:
  struct Lock;
  PacsStudyOutcome process(const StudySummary& st, int failures_before);
  void screen_series(const StudySummary& st, const StudyGroup& group, const SeriesChoice& choice, PacsStudyOutcome& o);
  template <class F>
  auto with_retry(const std::string& what, F&& f) -> decltype(f());
  bool wait_for(double seconds);  // false: stop requested
  void load_state();
  void save_state();
  void record(const PacsStudyOutcome& o);

  PacsOptions opt_;
  std::ostream& log_;
  std::unique_ptr<Lock> lock_;
  std::unique_ptr<Pipeline> pipeline_;
  StudyRules rules_;
  ModelIdentity model_;
  std::unique_ptr<DicomWebClient> pacs_;
  nlohmann::json state_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace covscreen
