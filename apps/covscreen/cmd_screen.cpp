// covscreen screen: screen image/DICOM files and folders with a trained model (screen/pipeline.h).
// Rows are printed batch by batch as the workers finish them, in input order.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "command.h"
#include "covscreen/core/error.h"
#include "covscreen/core/paths.h"
#include "covscreen/core/progress.h"
#include "covscreen/data/csv.h"
#include "covscreen/screen/pipeline.h"

namespace covscreen::app {
namespace {

enum class Format { kTable, kCsv, kJson };
const EnumNames<Format>& format_names() {
  static const EnumNames<Format> n{"format",
                                   {{Format::kTable, "table"}, {Format::kCsv, "csv"}, {Format::kJson, "json"}}};
  return n;
}

struct ScreenArgs {
  std::vector<std::string> inputs;
  std::string model, cam_dir;
  Format format = Format::kTable;
  PipelineOptions opt;
  int threads = 0;
};

// Writes results as they come: a header first, then rows (table, CSV, or JSON lines: one
// to_json(ScreenResult) object per line).
class RowPrinter {
 public:
  RowPrinter(Format f, const std::vector<std::string>& classes, size_t width) : f_(f), classes_(classes), w_(width) {}

  void header() {
    if (f_ == Format::kCsv) {
      std::printf("path");
      for (const auto& c : classes_) std::printf(",prob_%s", c.c_str());
      std::printf(",predicted,positive,error\n");
    } else if (f_ == Format::kTable) {
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
    if (f_ == Format::kJson) {
      std::printf("%s\n", to_json(r).dump().c_str());
    } else if (f_ == Format::kCsv) {
      std::printf("%s", csv_escape(r.file).c_str());
      for (size_t k = 0; k < classes_.size(); ++k)
        if (r.ok)
          std::printf(",%.6f", r.probs[k]);
        else
          std::printf(",");
      std::printf(",%s,%s,%s\n", r.ok ? classes_[static_cast<size_t>(r.predicted)].c_str() : "",
                  r.ok ? (r.positive ? "1" : "0") : "", csv_escape(r.error).c_str());
    } else {
      const std::string p = r.file.size() > w_ ? "..." + r.file.substr(r.file.size() - w_ + 3) : r.file;
      std::printf("%-*s", static_cast<int>(w_), p.c_str());
      if (!r.ok) {
        std::printf("  ERROR: %s\n", r.error.c_str());
        return;
      }
      for (float v : r.probs) std::printf("  %9.3f", v);
      std::printf("  %-10s%s\n", classes_[static_cast<size_t>(r.predicted)].c_str(),
                  r.error.empty() ? "" : ("  (" + r.error + ")").c_str());
    }
  }
  Format f_;
  std::vector<std::string> classes_;
  size_t w_;
};

void run(ScreenArgs& a) {
  const std::string model = a.model.empty() ? default_model_path() : a.model;
  if (!std::filesystem::exists(model))
    throw UsageError("model file " + model + " not found (pass --model M or set COVSCREEN_MODEL)");
  if (a.threads > 0) torch::set_num_threads(a.threads);
  if (!a.cam_dir.empty()) {
    a.opt.cam = CamOutput::kFiles;
    a.opt.cam_dir = a.cam_dir;
  }
  std::vector<ScreenResult> missing;
  const auto paths = collect_inputs(a.inputs, &missing);
  if (paths.empty() && missing.empty()) throw UsageError("no image or DICOM files found in the inputs");
  Pipeline pipeline(load_checkpoint(model), a.opt);

  size_t width = 4;
  for (const auto& p : paths) width = std::max(width, p.size());
  for (const auto& m : missing) width = std::max(width, m.file.size());
  RowPrinter printer(a.format, pipeline.checkpoint().classes, std::min<size_t>(width, 80));
  printer.header();
  size_t failed = 0, positive = 0, ok = 0;
  auto tally = [&](const std::vector<ScreenResult>& batch) {
    for (const auto& r : batch) {
      if (!r.ok) {
        ++failed;
        std::cerr << "covscreen: " << r.file << ": " << r.error << "\n";
      } else {
        ++ok;
        positive += r.positive;
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
  std::cerr << ok << " screened (" << positive << " COVID-positive at threshold " << pipeline.threshold() << "), "
            << failed << " failed. Research use only, not a medical device.\n";
  if (failed) throw ExitCode{kExitPartial};
}

const CommandRegistrar reg(10, [](CLI::App& app) {
  auto a = std::make_shared<ScreenArgs>();
  a->opt.inference.batch_size = 4;
  a->opt.inference.device = DeviceKind::kCpu;
  auto* c = app.add_subcommand("screen", "Screen images, DICOM files or folders for COVID-19");
  c->add_option("inputs", a->inputs, "Files or folders (PNG, JPEG, BMP, TIFF, DICOM)")->required();
  c->add_option("--model", a->model, "Checkpoint (default: the shipped model)");
  add_enum_option(c, "--format", a->format, format_names(), "Output (json: one JSON object per line)");
  c->add_option("--threshold", a->opt.threshold, "Decision threshold on P(covid) (default: the checkpoint's)");
  c->add_option("--batch", a->opt.inference.batch_size, "Batch size per worker")->capture_default_str();
  c->add_option("--workers", a->opt.workers,
                "Parallel batch workers (0 = one per CPU in bf16, one per two CPUs in fp32)")
      ->capture_default_str();
  add_enum_option(c, "--device", a->opt.inference.device, device_names(), "Device");
  add_enum_option(c, "--precision", a->opt.inference.precision, precision_names(), "Precision");
  c->add_option("--threads", a->threads, "Intra-op threads, shared by the workers (0 = usable CPUs)");
  c->add_option("--cam-dir", a->cam_dir, "Also write Grad-CAM overlays here");
  c->callback([a] { run(*a); });
});

}  // namespace
}  // namespace covscreen::app
