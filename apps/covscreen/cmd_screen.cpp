// covscreen screen: screen image/DICOM files and folders with a trained model.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "command.h"
#include "covscreen/core/error.h"
#include "covscreen/data/csv.h"
#include "covscreen/core/paths.h"
#include "covscreen/core/progress.h"
#include "covscreen/screen/screener.h"

namespace covscreen::app {
namespace {

struct ScreenArgs {
  std::vector<std::string> inputs;
  std::string model, format = "table", device = "cpu", precision = "auto", cam_dir;
  double threshold = -1;
  int batch = 4, threads = 0, workers = 0;
};


void print(const std::vector<ScreenItem>& items, const Screener& s, const std::string& format) {
  const auto& classes = s.checkpoint().classes;
  if (format == "json") {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& it : items) {
      nlohmann::json j = {{"path", it.path}, {"ok", it.ok}};
      if (it.ok) {
        nlohmann::json p;
        for (size_t k = 0; k < classes.size(); ++k) p[classes[k]] = it.probs[k];
        j["probabilities"] = p;
        j["predicted"] = classes[it.predicted];
        j["positive"] = it.positive;
        j["threshold"] = s.threshold();
        if (!it.cam_path.empty()) j["cam"] = it.cam_path;
      }
      if (!it.error.empty()) j["error"] = it.error;
      arr.push_back(j);
    }
    std::cout << arr.dump(2) << "\n";
    return;
  }
  if (format == "csv") {
    std::cout << "path";
    for (const auto& c : classes) std::cout << ",prob_" << c;
    std::cout << ",predicted,positive,error\n";
    for (const auto& it : items) {
      std::cout << csv_escape(it.path);
      for (size_t k = 0; k < classes.size(); ++k) {
        if (it.ok) std::printf(",%.6f", it.probs[k]), std::fflush(stdout);
        else std::cout << ",";
      }
      std::cout << "," << (it.ok ? classes[it.predicted] : "") << "," << (it.ok ? (it.positive ? "1" : "0") : "")
                << "," << csv_escape(it.error) << "\n";
    }
    return;
  }
  // table
  size_t w = 4;
  for (const auto& it : items) w = std::max(w, it.path.size());
  w = std::min<size_t>(w, 80);
  std::printf("%-*s", static_cast<int>(w), "file");
  for (const auto& c : classes) std::printf("  %9s", ("P(" + c + ")").c_str());
  std::printf("  %-10s\n", "decision");
  for (const auto& it : items) {
    std::string p = it.path.size() > w ? "..." + it.path.substr(it.path.size() - w + 3) : it.path;
    std::printf("%-*s", static_cast<int>(w), p.c_str());
    if (!it.ok) {
      std::printf("  ERROR: %s\n", it.error.c_str());
      continue;
    }
    for (float v : it.probs) std::printf("  %9.3f", v);
    std::printf("  %-10s%s\n", classes[it.predicted].c_str(), it.error.empty() ? "" : ("  (" + it.error + ")").c_str());
  }
  std::fflush(stdout);
}

void run(const ScreenArgs& a) {
  if (a.format != "table" && a.format != "csv" && a.format != "json")
    throw UsageError("--format must be table, csv or json");
  const std::string model = a.model.empty() ? default_model_path() : a.model;
  if (!std::filesystem::exists(model))
    throw UsageError("model file " + model + " not found (pass --model M or set COVSCREEN_MODEL)");
  if (a.threads > 0) torch::set_num_threads(a.threads);
  ScreenOptions opt;
  opt.inference.batch_size = a.batch;
  opt.workers = a.workers;
  opt.inference.device = a.device;
  opt.inference.precision = a.precision;
  opt.threshold = a.threshold;
  opt.cam_dir = a.cam_dir;
  Screener screener(load_checkpoint(model), opt);
  std::vector<ScreenItem> missing;
  const auto paths = collect_inputs(a.inputs, &missing);
  if (paths.empty() && missing.empty()) throw UsageError("no image or DICOM files found in the inputs");
  Progress bar("screening", paths.size());
  auto items = screener.screen_files(paths, &bar);
  bar.finish();
  items.insert(items.end(), missing.begin(), missing.end());
  print(items, screener, a.format);
  size_t failed = 0, positive = 0, ok = 0;
  for (const auto& it : items) {
    if (!it.ok) {
      ++failed;
      std::cerr << "covscreen: " << it.path << ": " << it.error << "\n";
    } else {
      ++ok;
      positive += it.positive;
    }
  }
  std::cerr << ok << " screened (" << positive << " COVID-positive at threshold " << screener.threshold() << "), "
            << failed << " failed. Research use only, not a medical device.\n";
  if (failed) throw ExitCode{kExitPartial};
}

const CommandRegistrar reg(10, [](CLI::App& app) {
  auto a = std::make_shared<ScreenArgs>();
  auto* c = app.add_subcommand("screen", "Screen images, DICOM files or folders for COVID-19");
  c->add_option("inputs", a->inputs, "Files or folders (PNG, JPEG, BMP, TIFF, DICOM)")->required();
  c->add_option("--model", a->model, "Checkpoint (default: the shipped model)");
  c->add_option("--format", a->format, "table | csv | json")->capture_default_str();
  c->add_option("--threshold", a->threshold, "Decision threshold on P(covid) (default: the checkpoint's)");
  c->add_option("--batch", a->batch, "Batch size per worker")->capture_default_str();
  c->add_option("--workers", a->workers, "Parallel batch workers (0 = usable CPUs)")->capture_default_str();
  c->add_option("--device", a->device, "cpu | cuda | auto")->capture_default_str();
  c->add_option("--precision", a->precision, "auto | fp32 | bf16")->capture_default_str();
  c->add_option("--threads", a->threads, "Intra-op threads, shared by the workers (0 = usable CPUs)");
  c->add_option("--cam-dir", a->cam_dir, "Also write Grad-CAM overlays here");
  c->callback([a] { run(*a); });
});

}  // namespace
}  // namespace covscreen::app
