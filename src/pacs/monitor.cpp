// `covscreen pacs` (pacs/monitor.h): poll a DICOMweb archive, screen new studies, store the
// results back, remember what was done.
#include "covscreen/pacs/monitor.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <set>

#include "covscreen/core/container.h"
#include "covscreen/core/strings.h"
#include "covscreen/io/dicom_results.h"
#include "covscreen/models/checkpoint.h"

namespace fs = std::filesystem;

namespace covscreen {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kStateFormat = "covscreen pacs state";
constexpr int kStateVersion = 1;

// A stop was requested while waiting for, or talking to, the archive: the current study is abandoned.
struct StopRequested {};

std::string fmt_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, s < 10 ? "%.3g" : "%.0f", s);
  return buf;
}

std::string fmt_prob(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", p);
  return buf;
}

bool valid_date(const std::string& d) {
  if (d.size() != 8 || !std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  const int m = std::stoi(d.substr(4, 2)), day = std::stoi(d.substr(6, 2));
  return m >= 1 && m <= 12 && day >= 1 && day <= 31;
}

// A temporary folder, removed with everything in it when it goes out of scope.
class TempFolder {
 public:
  explicit TempFolder(const std::string& parent) {
    const fs::path base = parent.empty() ? fs::temp_directory_path() : fs::path(parent);
    std::error_code ec;
    fs::create_directories(base, ec);
    std::string templ = (base / "covscreen-pacs-XXXXXX").string();
    if (!mkdtemp(&templ[0])) throw FileError(base.string(), "cannot create a temporary folder here");
    path_ = templ;
  }
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  void clear() const {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(path_, ec)) fs::remove_all(e.path(), ec);
  }

 private:
  std::string path_;
};

}  // namespace

void PacsOptions::validate() const {
  if (archive.url.empty()) throw UsageError("--url is required (e.g. http://127.0.0.1:8042/dicom-web)");
  parse_base_url(archive.url);
  if (model_path.empty() || !fs::exists(model_path)) throw UsageError("model file '" + model_path + "' not found");
  if (!rules_path.empty() && !fs::exists(rules_path)) throw UsageError("rules file '" + rules_path + "' not found");
  if (state_path.empty()) throw UsageError("--state must not be empty");
  if (!since.empty() && !valid_date(since)) throw UsageError("--since must be a date YYYYMMDD, got '" + since + "'");
  if (!(poll_s > 0)) throw UsageError("--poll must be positive");
  if (max_failures < 1) throw UsageError("--max-failures must be at least 1");
  if (max_tries < 1) throw UsageError("--retries must be at least 1");
  if (!(backoff_initial_s > 0) || backoff_max_s < backoff_initial_s)
    throw UsageError("backoff: initial delay must be positive and not above the cap");
  if (page_size < 1) throw UsageError("the QIDO-RS page size must be at least 1");
  if (archive.token.find_first_of(" \t\r\n") != std::string::npos) throw UsageError("--token must not contain spaces");
}

namespace {
// The fields of a screened study, in the summary and in the state file alike.
void add_screened(json& j, const PacsStudyOutcome& o) {
  j["series_uid"] = o.series_uid;
  j["covid_probability"] = o.covid_probability;
  j["positive"] = o.positive;
  j["threshold"] = o.threshold;
  j["slices_screened"] = o.slices_screened;
  j["sr_uid"] = o.sr_uid;
  j["sc_uid"] = o.sc_uid;
}
}  // namespace

json to_json(const PacsStudyOutcome& o) {
  json j = {{"study_uid", o.study_uid},
            {"patient_id", o.patient_id},
            {"study_date", o.study_date},
            {"status", o.status},
            {"seconds", o.seconds}};
  if (o.status == "screened") {
    add_screened(j, o);
    j["result"] = o.result;
  } else if (o.status == "failed") {
    j["error"] = o.reason;
    j["failures"] = o.failures;
    j["will_retry"] = o.will_retry;
  } else {
    j["reason"] = o.reason;
  }
  return j;
}

// An exclusive lock on "<state>.lock" for the life of the monitor: two runs on one state file
// would screen the same studies twice.
struct PacsMonitor::Lock {
  int fd = -1;
  explicit Lock(const std::string& state_path) {
    const std::string path = state_path + ".lock";
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw FileError(path, "cannot create the lock file of the state");
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      throw UsageError("another covscreen pacs is running with state file " + state_path);
    }
  }
  ~Lock() {
    if (fd >= 0) ::close(fd);
  }
};

PacsMonitor::PacsMonitor(PacsOptions opt, std::ostream& log) : opt_(std::move(opt)), log_(log) {
  opt_.validate();
  {
    std::error_code ec;
    const fs::path parent = fs::path(opt_.state_path).parent_path();
    if (!parent.empty()) fs::create_directories(parent, ec);
  }
  lock_ = std::make_unique<Lock>(opt_.state_path);
  DicomWebOptions web = opt_.archive;
  web.cancelled = [this] { return stop_.load(); };
  pacs_ = std::make_unique<DicomWebClient>(web);

  rules_ = opt_.rules_path.empty() ? StudyRules{} : load_study_rules(opt_.rules_path);
  Checkpoint ck = load_checkpoint(opt_.model_path);
  if (opt_.kind != StudyKind::kAuto) rules_.kind = opt_.kind;
  rules_.kind = resolve_kind(rules_.kind, ck);
  model_ = model_identity(opt_.model_path, ck);
  const PipelineOptions po = study_pipeline_options(opt_.pipeline, rules_, ck);
  pipeline_ = std::make_unique<Pipeline>(std::move(ck), po);
  load_state();
}

PacsMonitor::~PacsMonitor() = default;

void PacsMonitor::request_stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

bool PacsMonitor::wait_for(double seconds) {
  std::unique_lock<std::mutex> g(mu_);
  cv_.wait_for(g, std::chrono::duration<double>(seconds), [this] { return stop_.load(); });
  return !stop_.load();
}

void PacsMonitor::load_state() {
  const json identity = {{"archive", pacs_->url()},
                         {"model", model_.name},
                         {"model_hash", model_.hash},
                         {"kind", study_kind_names().name(rules_.kind)}};
  if (!fs::exists(opt_.state_path)) {
    state_ = {{"format", kStateFormat}, {"version", kStateVersion}, {"studies", json::object()}};
    state_.update(identity);
    return;
  }
  state_ = read_json_file(opt_.state_path, "state file");
  if (!state_.is_object() || state_.value("format", "") != kStateFormat || !state_.contains("studies") ||
      !state_["studies"].is_object())
    throw FileError(opt_.state_path, "not a covscreen pacs state file");
  if (state_.value("version", 0) > kStateVersion)
    throw FileError(opt_.state_path,
                    "state file of a newer covscreen (version " + std::to_string(state_.value("version", 0)) + ")");
  for (const char* key : {"archive", "model_hash", "kind"})
    if (state_.value(key, "") != identity[key].get<std::string>())
      throw UsageError("state file " + opt_.state_path + " belongs to " + key + " '" + state_.value(key, "") +
                       "', not '" + identity[key].get<std::string>() +
                       "': use one --state file per archive, model and kind");
}

void PacsMonitor::save_state() {
  state_["updated"] = utc_now();
  write_file_atomic(opt_.state_path, state_.dump(1) + "\n");
}

void PacsMonitor::record(const PacsStudyOutcome& o) {
  json r = {{"status", o.status}, {"time", utc_now()}};
  if (!o.patient_id.empty()) r["patient_id"] = o.patient_id;
  if (!o.study_date.empty()) r["study_date"] = o.study_date;
  if (o.status == "screened") {
    add_screened(r, o);
  } else if (o.status == "failed") {
    r["error"] = o.reason;
  } else {
    r["reason"] = o.reason;
  }
  if (o.failures > 0) r["failures"] = o.failures;
  state_["studies"][o.study_uid] = r;
}

template <class F>
auto PacsMonitor::with_retry(const std::string& what, F&& f) -> decltype(f()) {
  double delay = opt_.backoff_initial_s;
  // A stop request does not prevent the first try (storing the results of a study just screened
  // still happens), only waiting to try again; downloads watch it themselves (cancelled()).
  for (int tries = 1;; ++tries) {
    try {
      return f();
    } catch (const DicomWebError& e) {
      if (e.kind() == DicomWebError::Kind::kCancelled) throw StopRequested{};
      if (!e.transient()) throw;
      // An archive that answers but cuts its answers short every time fails the study, even when polling.
      if (e.kind() == DicomWebError::Kind::kTruncated && tries >= opt_.max_tries) throw;
      const std::string reason = e.kind() == DicomWebError::Kind::kTruncated ? "answer cut short on " + what
                                 : e.status() ? "HTTP " + std::to_string(e.status()) + " on " + what
                                              : e.problem() + " on " + what;
      if (opt_.once && tries >= opt_.max_tries)
        throw ArchiveUnreachable("archive " + pacs_->url() + " unreachable (" + reason + "); gave up after " +
                                 std::to_string(tries) + " tries");
      log_ << "covscreen pacs: archive " << pacs_->url() << " unreachable (" << reason << "); retrying in "
           << fmt_seconds(delay) << " s" << std::endl;
      if (!wait_for(delay)) throw StopRequested{};
      delay = std::min(delay * 2, opt_.backoff_max_s);
    }
  }
}

PacsMonitor::Summary PacsMonitor::run(const OnStudy& on_study) {
  Summary sum;
  log_ << "covscreen pacs: archive " << pacs_->url() << ", model " << model_.name << " ("
       << (rules_.kind == StudyKind::kCt ? "CT" : "X-ray") << " studies), state " << opt_.state_path << " ("
       << state_["studies"].size() << " studies recorded). Research use only, not a medical device." << std::endl;
  try {
    for (;;) {
      ++sum.polls;
      auto studies =
          with_retry("the study search", [&] { return pacs_->search_all_studies(opt_.since, opt_.page_size); });
      std::stable_sort(studies.begin(), studies.end(), [](const StudySummary& a, const StudySummary& b) {
        return std::tie(a.study_date, a.study_time, a.study_uid) < std::tie(b.study_date, b.study_time, b.study_uid);
      });
      std::vector<std::pair<StudySummary, int>> todo;
      int given_up = 0;
      for (const auto& st : studies) {
        const json& rec = state_["studies"].contains(st.study_uid) ? state_["studies"][st.study_uid] : json();
        if (rec.is_null()) {
          todo.emplace_back(st, 0);
        } else if (rec.value("status", "") == "failed") {
          const int failures = rec.value("failures", 1);
          if (failures < opt_.max_failures)
            todo.emplace_back(st, failures);
          else
            ++given_up;
        }
      }
      sum.skipped_given_up = given_up;
      if (opt_.once || !todo.empty())
        log_ << "covscreen pacs: " << studies.size() << " studies in the archive"
             << (opt_.since.empty() ? "" : " since " + opt_.since) << ", " << todo.size() << " to screen"
             << (given_up ? ", " + std::to_string(given_up) + " given up after " + std::to_string(opt_.max_failures) +
                                " failures (remove them from the state file to retry)"
                          : std::string())
             << std::endl;
      for (size_t k = 0; k < todo.size(); ++k) {
        if (stop_) break;
        const std::string tag =
            "study " + std::to_string(k + 1) + " of " + std::to_string(todo.size()) + " " + todo[k].first.study_uid;
        log_ << "covscreen pacs: " << tag << " (patient " << todo[k].first.patient_id << ", "
             << (todo[k].first.study_date.empty() ? "no date" : todo[k].first.study_date) << ")" << std::endl;
        PacsStudyOutcome o;
        try {
          o = process(todo[k].first, todo[k].second);
        } catch (const StopRequested&) {
          log_ << "covscreen pacs: " << tag << ": abandoned (stop requested); it will be screened by a later run"
               << std::endl;
          break;
        }
        record(o);
        save_state();
        if (o.status == "screened") {
          ++sum.screened;
          log_ << "covscreen pacs: " << tag << ": P(covid) " << fmt_prob(o.covid_probability)
               << (o.positive ? " >= " : " < ") << fmt_prob(o.threshold) << " ("
               << (o.positive ? "COVID-19 suspected" : "not suspected") << "), " << o.slices_screened
               << (rules_.kind == StudyKind::kCt ? " slices" : " image(s)") << "; SR"
               << (o.sc_uid.empty() ? "" : " and SC") << " stored (" << fmt_seconds(o.seconds) << " s)" << std::endl;
        } else if (o.status == "failed") {
          ++sum.failed;
          log_ << "covscreen pacs: " << tag << ": FAILED: " << o.reason << "; "
               << (o.will_retry ? "will retry on a later poll" : "giving up") << " (" << o.failures << " of "
               << opt_.max_failures << " tries)" << std::endl;
        } else {
          ++sum.no_series;
          log_ << "covscreen pacs: " << tag << ": not screened: " << o.reason << std::endl;
        }
        if (on_study) on_study(o);
      }
      if (opt_.once || stop_) break;
      if (!wait_for(opt_.poll_s)) break;
    }
  } catch (const StopRequested&) {
    log_ << "covscreen pacs: stopped while waiting for the archive" << std::endl;
  }
  sum.stopped = stop_;
  return sum;
}

PacsStudyOutcome PacsMonitor::process(const StudySummary& st, int failures_before) {
  PacsStudyOutcome o;
  o.study_uid = st.study_uid;
  o.patient_id = st.patient_id;
  o.study_date = st.study_date;
  const auto t0 = Clock::now();
  auto not_screenable = [&](const std::string& reason) {
    o.status = "no-screenable-series";
    o.reason = reason;
  };
  try {
    auto series = with_retry("the series search", [&] { return pacs_->search_series(st.study_uid); });
    std::stable_sort(series.begin(), series.end(), [](const SeriesSummary& a, const SeriesSummary& b) {
      const double na = std::atof(a.number.c_str()), nb = std::atof(b.number.c_str());
      return na != nb ? na < nb : a.series_uid < b.series_uid;
    });
    std::vector<std::string> left_out;
    std::vector<DicomHeader> headers;
    for (const auto& s : series) {
      std::string why;
      why = series_refusal(s.modality, s.description, rules_.kind);
      if (!why.empty()) {
        left_out.push_back("series " + (s.number.empty() ? s.series_uid : s.number) + ": " + why);
        continue;
      }
      auto h = with_retry("the metadata", [&] { return pacs_->series_metadata(st.study_uid, s.series_uid); });
      for (auto& x : h) headers.push_back(std::move(x));
    }
    if (headers.empty()) {
      not_screenable(std::string("no ") + (rules_.kind == StudyKind::kCt ? "CT series" : "X-ray image") +
                     (left_out.empty() ? "" : " (" + join(left_out, "; ") + ")"));
    } else {
      auto groups = group_headers(std::move(headers));
      auto it =
          std::find_if(groups.begin(), groups.end(), [&](const StudyGroup& g) { return g.study_uid == st.study_uid; });
      if (it == groups.end()) throw Error("the archive's metadata holds no instance of this study");
      const SeriesChoice choice = choose_series(*it, rules_, rules_.kind);
      if (choice.series < 0)
        not_screenable(choice.why_none + (left_out.empty() ? "" : "; " + join(left_out, "; ")));
      else
        screen_series(st, *it, choice, o);
    }
  } catch (const StopRequested&) {
    throw;
  } catch (const ArchiveUnreachable&) {
    throw;
  } catch (const std::exception& e) {
    o.status = "failed";
    o.reason = e.what();
    o.failures = failures_before + 1;
    o.will_retry = o.failures < opt_.max_failures;
  }
  o.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return o;
}

void PacsMonitor::screen_series(const StudySummary& st, const StudyGroup& group, const SeriesChoice& choice,
                                PacsStudyOutcome& o) {
  const SeriesGroup& chosen = group.series[size_t(choice.series)];
  TempFolder tmp(opt_.work_dir);
  const std::string dir = (fs::path(tmp.path()) / "series").string();
  const auto files = with_retry("the series retrieval", [&] {
    tmp.clear();
    return pacs_->retrieve_series(st.study_uid, chosen.series_uid, dir);
  });
  // Stop requested during the download: abandon before the (long) screening.
  if (stop_) throw StopRequested{};
  std::vector<ScreenResult> missing;
  StudyInputs in = group_studies(collect_inputs({dir}, &missing));
  auto it = std::find_if(in.studies.begin(), in.studies.end(),
                         [&](const StudyGroup& g) { return g.study_uid == st.study_uid; });
  if (it == in.studies.end())
    throw Error("none of the " + std::to_string(files.size()) + " retrieved files of series " + chosen.series_uid +
                " belongs to the study" + (in.errors.empty() ? "" : " (" + in.errors.front().error + ")"));
  StudyInputs one;
  one.studies.push_back(*it);
  StudyScreenOptions so;
  so.rules = rules_;
  so.keep_overlay = true;
  auto outs = screen_studies(*pipeline_, one, so);
  if (outs.empty()) throw Error("screening returned no result");
  StudyOutput& out = outs.front();
  const StudyResult& r = out.result;
  if (!r.error.empty()) throw Error("screening series " + chosen.series_uid + ": " + r.error);

  const ScreeningReport rep = to_report(r, model_);
  std::vector<std::string> parts = {screening_sr(rep)};
  if (!out.overlay.empty()) parts.push_back(screening_sc(rep, out.overlay));
  const DicomHeader sr = parse_dicom_header(parts[0], "SR");
  o.sr_uid = sr.sop_instance_uid;
  if (parts.size() > 1) o.sc_uid = parse_dicom_header(parts[1], "SC").sop_instance_uid;
  with_retry("storing the results", [&] { return pacs_->store(parts, st.study_uid); });

  o.status = "screened";
  o.series_uid = r.series_uid;
  o.covid_probability = r.covid_probability;
  o.positive = r.positive;
  o.threshold = r.threshold;
  o.slices_screened = r.slices_screened;
  o.result = to_json(r);
  // The downloaded files are gone when this returns: their paths mean nothing to the reader.
  for (auto& t : o.result["top_slices"]) t.erase("file");
  o.result.erase("cam");
}

}  // namespace covscreen
