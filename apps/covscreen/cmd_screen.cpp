// covscreen screen: screen image/DICOM files and folders with a trained model (screen/pipeline.h).
// Rows are printed batch by batch as the workers finish them, in input order.
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "command.h"
#include "covscreen/core/error.h"
#include "covscreen/core/paths.h"
#include "covscreen/core/progress.h"
#include "covscreen/data/csv.h"
#include "covscreen/io/dicom_results.h"
#include "covscreen/screen/pipeline.h"
#include "covscreen/screen/study.h"

namespace covscreen::app {
namespace {

enum class ScreenFormat { kTable, kCsv, kJson };
enum class By { kFile, kStudy };
const EnumNames<By>& by_names() {
  static const EnumNames<By> n{"by", {{By::kFile, "file"}, {By::kStudy, "study"}}};
  return n;
}
const EnumNames<ScreenFormat>& screen_format_names() {
  static const EnumNames<ScreenFormat> n{
      "format", {{ScreenFormat::kTable, "table"}, {ScreenFormat::kCsv, "csv"}, {ScreenFormat::kJson, "json"}}};
  return n;
}

struct ScreenArgs {
  std::vector<std::string> inputs;
  std::string model, cam_dir, rules, dicom_out;
  ScreenFormat format = ScreenFormat::kTable;
  By by = By::kFile;
  PipelineOptions opt;
  int threads = 0;
  bool verbose = false;
};

// Writes results as they come: a header first, then rows (table, CSV, or JSON lines: one
// to_json(ScreenResult) object per line).
class RowPrinter {
 public:
  RowPrinter(ScreenFormat f, const std::vector<std::string>& classes, size_t width)
      : f_(f), classes_(classes), w_(width) {}

  void header() {
    if (f_ == ScreenFormat::kCsv) {
      std::printf("path");
      for (const auto& c : classes_) std::printf(",prob_%s", c.c_str());
      std::printf(",predicted,positive,error,refused,typicality,atypical\n");
    } else if (f_ == ScreenFormat::kTable) {
      std::printf("%-*s", static_cast<int>(w_), "file");
      for (const auto& c : classes_) std::printf("  %9s", ("P(" + c + ")").c_str());
      std::printf("  %-10s\n", "decision");
    }
    std::fflush(stdout);
  }

  void rows(const std::vector<ScreenResult>& batch) {
    for (const auto& r : batch) row(r);
    std::fflush(stdout);
  }

 private:
  void row(const ScreenResult& r) {
    if (f_ == ScreenFormat::kJson) {
      std::printf("%s\n", to_json(r).dump().c_str());
    } else if (f_ == ScreenFormat::kCsv) {
      std::printf("%s", csv_escape(r.file).c_str());
      for (size_t k = 0; k < classes_.size(); ++k)
        if (r.ok)
          std::printf(",%.6f", r.probs[k]);
        else
          std::printf(",");
      std::printf(",%s,%s,%s,%s,", r.ok ? classes_[static_cast<size_t>(r.predicted)].c_str() : "",
                  r.ok ? (r.positive ? "1" : "0") : "", csv_escape(r.error).c_str(), r.refused ? "1" : "0");
      if (r.ok && r.typicality >= 0)
        std::printf("%.4f,%s\n", r.typicality, r.atypical ? "1" : "0");
      else
        std::printf(",\n");
    } else {
      const std::string p = r.file.size() > w_ ? "..." + r.file.substr(r.file.size() - w_ + 3) : r.file;
      std::printf("%-*s", static_cast<int>(w_), p.c_str());
      if (!r.ok) {
        std::printf("  %s\n", (r.refused ? "NOT SCREENED (" + r.error.substr(std::strlen(kRefusedPrefix)) + ")"
                                         : "ERROR: " + r.error)
                                  .c_str());
        return;
      }
      for (float v : r.probs) std::printf("  %9.3f", v);
      std::string note = r.error;
      if (r.lung_crop == LungCrop::kWholeImage)
        note += std::string(note.empty() ? "" : "; ") + "no lungs found: whole image";
      if (r.atypical) {
        char t[96];
        std::snprintf(t, sizeof t, "ATYPICAL: typicality %.3f, unlike the model's training images", r.typicality);
        note += std::string(note.empty() ? "" : "; ") + t;
      }
      std::printf("  %-10s%s\n", classes_[static_cast<size_t>(r.predicted)].c_str(),
                  note.empty() ? "" : ("  (" + note + ")").c_str());
    }
  }
  ScreenFormat f_;
  std::vector<std::string> classes_;
  size_t w_;
};

// One row per study (screen --by study): table, CSV, or JSON lines of to_json(StudyResult).
class StudyPrinter {
 public:
  explicit StudyPrinter(ScreenFormat f) : f_(f) {}
  void header() {
    if (f_ == ScreenFormat::kCsv)
      std::printf(
          "study_uid,patient_id,series_uid,slices_screened,slices_skipped,covid_probability,positive,threshold,"
          "aggregation,top_slices,error\n");
    else if (f_ == ScreenFormat::kTable)
      std::printf("%-28s  %-14s  %8s  %7s  %9s  %-12s  %s\n", "study", "patient", "screened", "skipped", "P(covid)",
                  "decision", "top slices (P)");
    std::fflush(stdout);
  }
  void row(const StudyResult& s) {
    if (f_ == ScreenFormat::kJson) {
      std::printf("%s\n", to_json(s).dump().c_str());
    } else if (f_ == ScreenFormat::kCsv) {
      std::string top;
      for (const auto& t : s.top) top += (top.empty() ? "" : ";") + t.file;
      std::printf("%s,%s,%s,%d,%d,%s,%s,%.6f,%s,%s,%s\n", csv_escape(s.study_uid).c_str(),
                  csv_escape(s.patient_id).c_str(), csv_escape(s.series_uid).c_str(), s.slices_screened,
                  s.slices_skipped, s.error.empty() ? std::to_string(s.covid_probability).c_str() : "",
                  s.error.empty() ? (s.positive ? "1" : "0") : "", s.threshold, csv_escape(s.aggregation).c_str(),
                  csv_escape(top).c_str(), csv_escape(s.error).c_str());
    } else {
      const std::string uid =
          s.study_uid.size() > 28 ? "..." + s.study_uid.substr(s.study_uid.size() - 25) : s.study_uid;
      std::printf("%-28s  %-14s  %8d  %7d  ", uid.c_str(), s.patient_id.substr(0, 14).c_str(), s.slices_screened,
                  s.slices_skipped);
      if (!s.error.empty()) {
        std::printf("%9s  %-12s  %s\n", "-", "NOT SCREENED", s.error.c_str());
      } else {
        std::string top;
        for (const auto& t : s.top) {
          char b[32];
          std::snprintf(b, sizeof b, " (%.2f)", t.covid_probability);
          top += (top.empty() ? "" : ", ") + std::filesystem::path(t.file).filename().string() + b;
        }
        std::printf("%9.3f  %-12s  %s\n", s.covid_probability, s.positive ? "COVID" : "not COVID", top.c_str());
      }
    }
    std::fflush(stdout);
  }

 private:
  ScreenFormat f_;
};

// screen --by study: DICOM files grouped into studies (screen/study.h); other files one by one
// after them. Returns the number of studies and files that failed.
size_t run_by_study(ScreenArgs& a, const std::string& model, const std::vector<std::string>& paths,
                    std::vector<ScreenResult> errors) {
  Checkpoint ck = load_checkpoint(model);
  StudyScreenOptions so;
  so.rules = a.rules.empty() ? StudyRules{} : load_study_rules(a.rules);
  so.cam_dir = a.cam_dir;
  so.keep_overlay = !a.dicom_out.empty();
  a.opt = study_pipeline_options(a.opt, so.rules, ck);
  const ModelIdentity identity = a.dicom_out.empty() ? ModelIdentity{} : model_identity(model, ck);
  StudyInputs in = group_studies(paths);
  for (auto& e : in.errors) errors.push_back(std::move(e));
  Pipeline pipeline(std::move(ck), a.opt);
  StudyPrinter printer(a.format);
  printer.header();
  size_t failed = 0, positive = 0, ok = 0;
  Progress bar("screening", in.studies.size(), "study");
  screen_studies(
      pipeline, in, so,
      [&](StudyOutput& out) {
        const StudyResult& s = out.result;
        printer.row(s);
        bar.advance(1);
        if (!s.error.empty()) {
          ++failed;
          std::cerr << "covscreen: study " << s.study_uid << ": " << s.error << "\n";
          return;
        }
        ++ok;
        positive += s.positive;
        if (!a.dicom_out.empty()) {
          try {
            const ResultFiles f = write_screening_results(to_report(s, identity), out.overlay, a.dicom_out);
            std::cerr << "covscreen: study " << s.study_uid << ": wrote " << f.sr
                      << (f.sc.empty() ? "" : " and " + f.sc) << "\n";
          } catch (const std::exception& e) {
            ++failed;
            std::cerr << "covscreen: study " << s.study_uid << ": DICOM results not written: " << e.what() << "\n";
          }
        }
      },
      nullptr);
  bar.finish();
  std::cerr << ok << " studies screened (" << positive << " COVID-positive at threshold "
            << study_threshold(so.rules, pipeline) << ", " << describe_aggregate(so.rules) << "), " << failed
            << " not screened. Research use only, not a medical device.\n";
  if (in.other_files.empty() && errors.empty()) return failed;
  // Files that are not DICOM keep the per-file behaviour, after the studies.
  if (a.format != ScreenFormat::kJson) std::printf("\n");
  RowPrinter files(a.format, pipeline.checkpoint().classes, 60);
  files.header();
  for (const auto& r : pipeline.screen_files(in.other_files)) {
    files.rows({r});
    if (!r.ok) {
      ++failed;
      std::cerr << "covscreen: " << r.file << ": " << r.error << "\n";
    }
  }
  files.rows(errors);
  for (const auto& r : errors) std::cerr << "covscreen: " << r.file << ": " << r.error << "\n";
  return failed + errors.size();
}

void run(ScreenArgs& a) {
  const std::string model = a.model.empty() ? default_model_path() : a.model;
  if (!std::filesystem::exists(model))
    throw UsageError("model file " + model + " not found (pass --model M or set COVSCREEN_MODEL)");
  if (a.threads > 0) torch::set_num_threads(a.threads);
  if (a.by == By::kFile && (!a.rules.empty() || !a.dicom_out.empty()))
    throw UsageError("--rules and --dicom-out need --by study");
  std::vector<ScreenResult> missing;
  std::vector<std::string> passed_over;
  const auto paths = collect_inputs(a.inputs, &missing, &passed_over);
  if (!passed_over.empty()) {  // said, so that no file of a folder goes without a word
    std::sort(passed_over.begin(), passed_over.end());
    std::cerr << "covscreen: " << passed_over.size()
              << " file(s) in the folders are neither images nor DICOM and were passed over"
              << (a.verbose ? ":" : " (--verbose names them)") << "\n";
    if (a.verbose)
      for (const auto& f : passed_over) std::cerr << "covscreen:   " << f << "\n";
  }
  if (paths.empty() && missing.empty()) throw UsageError("no image or DICOM files found in the inputs");
  if (a.by == By::kStudy) {
    if (run_by_study(a, model, paths, std::move(missing)) > 0) throw ExitCode{kExitPartial};
    return;
  }
  if (!a.cam_dir.empty()) {
    a.opt.cam = CamOutput::kFiles;
    a.opt.cam_dir = a.cam_dir;
  }
  Pipeline pipeline(load_checkpoint(model), a.opt);

  size_t width = 4;
  for (const auto& p : paths) width = std::max(width, p.size());
  for (const auto& m : missing) width = std::max(width, m.file.size());
  RowPrinter printer(a.format, pipeline.checkpoint().classes, std::min<size_t>(width, 80));
  printer.header();
  size_t failed = 0, refused = 0, positive = 0, ok = 0, atypical = 0;
  auto tally = [&](const std::vector<ScreenResult>& batch) {
    for (const auto& r : batch) {
      if (!r.ok) {
        ++(r.refused ? refused : failed);
        std::cerr << "covscreen: " << r.file << ": " << r.error << "\n";
      } else {
        ++ok;
        positive += r.positive;
        atypical += r.atypical;
      }
    }
  };
  Progress bar("screening", paths.size());
  pipeline.screen_files(
      paths,
      [&](std::vector<ScreenResult>& batch) {
        printer.rows(batch);
        tally(batch);
      },
      &bar);
  bar.finish();
  printer.rows(missing);
  tally(missing);
  std::cerr << ok << " screened (" << positive << " COVID-positive at threshold " << pipeline.threshold() << "; "
            << atypical << " atypical), " << refused << " not screened (not " << kind_label(pipeline.kind())
            << " chest images: the input gate), " << failed << " failed"
            << (a.opt.input_check ? "" : ". Input checks OFF (--no-input-check)")
            << ". Research use only, not a medical device.\n";
  if (failed || refused) throw ExitCode{kExitPartial};
}

const CommandRegistrar screen_command(10, [](CLI::App& app) {
  auto a = std::make_shared<ScreenArgs>();
  a->opt.inference.batch_size = 4;
  a->opt.inference.device = DeviceKind::kCpu;
  auto* c = app.add_subcommand("screen", "Screen images, DICOM files or folders for COVID-19");
  c->add_option("inputs", a->inputs, "Files or folders (PNG, JPEG, BMP, TIFF, DICOM)")->required();
  c->add_option("--model", a->model, "Checkpoint (default: the shipped model)");
  add_enum_option(c, "--format", a->format, screen_format_names(), "Output (json: one JSON object per line)");
  c->add_option("--threshold", a->opt.threshold, "Decision threshold on P(covid) (default: the checkpoint's)");
  c->add_option("--batch", a->opt.inference.batch_size, "Batch size per worker")->capture_default_str();
  c->add_option("--workers", a->opt.workers,
                "Parallel batch workers (0 = one per CPU in bf16, one per two CPUs in fp32)")
      ->capture_default_str();
  add_enum_option(c, "--device", a->opt.inference.device, device_names(), "Device");
  add_enum_option(c, "--precision", a->opt.inference.precision, precision_names(), "Precision");
  add_tta_option(c, &a->opt.inference);
  add_input_check_option(c, &a->opt.input_check);
  c->add_flag("--verbose", a->verbose, "Name the files of the input folders that were passed over (not images)");
  c->add_option("--threads", a->threads, "Intra-op threads, shared by the workers (0 = usable CPUs)");
  c->add_option("--cam-dir", a->cam_dir,
                "Also write Grad-CAM overlays here (--by study: the top slice of each study only)");
  add_enum_option(c, "--by", a->by, by_names(),
                  "file: one row per image; study: DICOM files grouped into studies, one row per study");
  c->add_option("--rules", a->rules,
                "--by study: JSON file of series rules and aggregation (docs/studies.md; default: built in)")
      ->check(CLI::ExistingFile);
  c->add_option("--dicom-out", a->dicom_out,
                "--by study: write a DICOM SR and a Secondary Capture (CAM) per study into this folder");
  c->callback([a] { run(*a); });
});

}  // namespace
}  // namespace covscreen::app
