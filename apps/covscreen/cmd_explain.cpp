// covscreen explain: Grad-CAM / Grad-CAM++ overlays for image/DICOM files and folders.
// Per input: <out>/<stem>_cam.png (overlay at the original resolution) and <stem>_cam16.png
// (the raw map, 16-bit). Preprocessing comes from the checkpoint's spec, never from flags.
#include <torch/torch.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "command.h"
#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/core/paths.h"
#include "covscreen/core/strings.h"
#include "covscreen/explain/explain.h"
#include "covscreen/explain/rank_correlation.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/screen/pipeline.h"

namespace covscreen::app {
namespace {

namespace fs = std::filesystem;

struct ExplainArgs {
  std::vector<std::string> inputs;
  std::string model, cls, out;
  CamMethod method = CamMethod::kGradCam;
  DeviceKind device = DeviceKind::kCpu;
  double alpha = 0.45;
  bool randomization_check = false;
  bool input_check = true;
  uint64_t seed = 1;
};

// The class to explain: a name (canonical names accepted) or an index; default covid, else 0.
int pick_class(const std::vector<std::string>& classes, const std::string& want) {
  if (classes.empty()) throw UsageError("the checkpoint has no class list");
  if (want.empty()) return std::max(0, covid_index(classes));
  if (want.find_first_not_of("0123456789") == std::string::npos && want.size() < 6) {
    const int k = std::stoi(want);
    if (k < static_cast<int>(classes.size())) return k;
  }
  const int k = class_index(classes, want);
  if (k >= 0) return k;
  throw UsageError("--class " + want + ": the model's classes are " + join(classes, ", "));
}

std::string probs_text(const std::vector<std::string>& classes, const std::vector<float>& p) {
  std::string s;
  char buf[32];
  for (size_t k = 0; k < classes.size() && k < p.size(); ++k) {
    std::snprintf(buf, sizeof buf, "=%.3f", p[k]);
    s += (s.empty() ? "" : " ") + classes[k] + buf;
  }
  return s;
}

void run(const ExplainArgs& a) {
  if (!(a.alpha >= 0.0 && a.alpha <= 1.0)) throw UsageError("--alpha must be in [0, 1]");
  const std::string model_path = a.model.empty() ? default_model_path() : a.model;
  if (!fs::exists(model_path)) {
    if (a.model.empty())
      throw UsageError("no model given and the default model " + model_path +
                       " does not exist: pass --model PATH (or set COVSCREEN_MODEL)");
    throw FileError(model_path, "no such file");
  }
  Checkpoint ck = load_checkpoint(model_path);
  PipelineOptions po;
  po.inference.device = a.device;
  po.inference.precision = Precision::kFp32;  // the CAM runs in fp32; so do the printed probabilities
  po.cam = CamOutput::kFiles;
  po.cam_dir = a.out;
  po.cam_class = pick_class(ck.classes, a.cls);
  po.cam_method = a.method;
  po.overlay.alpha = a.alpha;
  po.keep_cam_map = a.randomization_check;
  po.input_check = a.input_check;
  const ModelConfig model_cfg = ck.model;
  Pipeline pipeline(std::move(ck), po);
  const auto& classes = pipeline.checkpoint().classes;

  // Adebayo et al. 2018: the same architecture with fresh random weights.
  ScreenModel random_net;
  if (a.randomization_check) {
    torch::manual_seed(a.seed);
    random_net = make_model(model_cfg);
    random_net->to(resolve_device(a.device));
    random_net->eval();
  }

  std::vector<ScreenResult> missing;
  const std::vector<std::string> paths = collect_inputs(a.inputs, &missing);
  if (paths.empty() && missing.empty()) throw UsageError("no image or DICOM files found in the inputs");
  size_t failed = missing.size(), done = 0;
  for (const auto& m : missing) std::cerr << "covscreen: " << m.file << ": " << m.error << "\n";

  const std::vector<std::string> stems = cam_stems(paths);
  double rho_sum = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    std::vector<PipelineInput> batch{pipeline.decode_file(paths[i], i)};
    batch[0].cam_stem = stems[i];
    const ScreenResult r = pipeline.infer(batch).front();
    if (!r.ok || !r.error.empty()) {
      ++failed;
      std::cerr << "covscreen: " << r.file << ": " << r.error << "\n";
      continue;
    }
    std::cout << r.file << "\t" << probs_text(classes, r.probs) << "\t" << r.cam_path;
    if (random_net) {
      const cv::Mat& m = r.cam_map;
      const torch::Tensor map = torch::from_blob(m.data, {m.rows, m.cols}, torch::kFloat).clone();
      const ExplainResult rr = explain_image(*random_net, pipeline.model_input(batch[0]), r.cam_class, a.method);
      const double rho = spearman_correlation(map, rr.map);
      rho_sum += rho;
      char buf[64];
      std::snprintf(buf, sizeof buf, "\tspearman_vs_random=%.4f", rho);
      std::cout << buf;
    }
    std::cout << "\n" << std::flush;
    ++done;
  }
  if (random_net && done > 0) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "randomization check: mean Spearman rank correlation %.4f over %zu images",
                  rho_sum / static_cast<double>(done), done);
    std::cout << buf << " (trained vs re-initialized weights; well below 1 = the maps depend on the training)\n";
  }
  std::cerr << done << " explained (" << cam_method_names().name(a.method) << ", class "
            << classes[static_cast<size_t>(po.cam_class)] << "), " << failed << " failed; overlays in " << a.out
            << "\n";
  if (failed) throw ExitCode{kExitPartial};
}

const CommandRegistrar explain_command(40, [](CLI::App& app) {
  auto a = std::make_shared<ExplainArgs>();
  auto* c = app.add_subcommand("explain", "Class activation maps (Grad-CAM) over images, DICOM files or folders");
  c->add_option("inputs", a->inputs, "Files or folders (PNG, JPEG, BMP, TIFF, DICOM)")->required();
  c->add_option("--model", a->model, "Checkpoint (default: the shipped model)");
  c->add_option("--out", a->out, "Output folder for <stem>_cam.png and <stem>_cam16.png")->required();
  c->add_option("--class", a->cls, "Class to explain, by name or index (default: covid, else the first)");
  add_enum_option(c, "--method", a->method, cam_method_names(), "Class activation map");
  c->add_option("--alpha", a->alpha, "Heatmap weight in the overlay")->capture_default_str();
  add_enum_option(c, "--device", a->device, device_names(), "Device");
  add_input_check_option(c, &a->input_check);
  c->add_flag("--randomization-check", a->randomization_check,
              "Also compare each map with the map of a randomly re-initialized model of the same architecture "
              "(Spearman rank correlation, Adebayo et al. 2018)");
  c->add_option("--seed", a->seed, "Seed of the re-initialized model")->capture_default_str();
  c->callback([a] { run(*a); });
});

}  // namespace
}  // namespace covscreen::app
