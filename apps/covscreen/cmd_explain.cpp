// covscreen explain: Grad-CAM / Grad-CAM++ overlays for image/DICOM files and folders.
// Per input: <out>/<stem>_cam.png (overlay at the original resolution) and <stem>_cam16.png
// (the raw map, 16-bit). Preprocessing comes from the checkpoint's spec, never from flags.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include <torch/torch.h>

#include "command.h"
#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/core/paths.h"
#include "covscreen/data/stage2.h"
#include "covscreen/explain/explain.h"
#include "covscreen/explain/rank_correlation.h"
#include "covscreen/io/image_reader.h"
#include "covscreen/io/overlay.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/preprocess/stage1.h"
#include "covscreen/screen/screener.h"
#include "covscreen/train/inference.h"

namespace covscreen::app {
namespace {

namespace fs = std::filesystem;

struct ExplainArgs {
  std::vector<std::string> inputs;
  std::string model, cls, method = "gradcam", out, device = "cpu";
  double alpha = 0.45;
  bool randomization_check = false;
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
  std::string list;
  for (const auto& c : classes) list += (list.empty() ? "" : ", ") + c;
  throw UsageError("--class " + want + ": the model's classes are " + list);
}

// <stem>, then <stem>-2, <stem>-3, ... so two inputs never write the same files.
std::string unique_stem(const std::string& path, std::set<std::string>& used) {
  std::string stem = fs::path(path).stem().string();
  if (stem.empty()) stem = "image";
  std::string s = stem;
  for (int n = 2; used.count(s); ++n) s = stem + "-" + std::to_string(n);
  used.insert(s);
  return s;
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

cv::Mat to_mat(const torch::Tensor& map) {
  const torch::Tensor m = map.to(torch::kCPU, torch::kFloat).contiguous();
  return cv::Mat(static_cast<int>(m.size(0)), static_cast<int>(m.size(1)), CV_32FC1, m.data_ptr<float>()).clone();
}

void run(const ExplainArgs& a) {
  const CamMethod method = parse_cam_method(a.method);
  if (!(a.alpha >= 0.0 && a.alpha <= 1.0)) throw UsageError("--alpha must be in [0, 1]");
  const std::string model_path = a.model.empty() ? default_model_path() : a.model;
  if (!fs::exists(model_path)) {
    if (a.model.empty())
      throw UsageError("no model given and the default model " + model_path +
                       " does not exist: pass --model PATH (or set COVSCREEN_MODEL)");
    throw FileError(model_path, "no such file");
  }
  const torch::Device device = resolve_device(a.device);
  Checkpoint ck = load_checkpoint(model_path);
  ck.net->to(device);
  ck.net->eval();
  const int cls = pick_class(ck.classes, a.cls);
  const Stage2 stage2(ck.spec.stage2);
  ReadOptions read_opt;
  read_opt.window = ck.spec.stage1.window;
  OverlayOptions overlay_opt;
  overlay_opt.alpha = a.alpha;

  // Adebayo et al. 2018: the same architecture with fresh random weights.
  ScreenModel random_net;
  if (a.randomization_check) {
    torch::manual_seed(a.seed);
    random_net = make_model(ck.model);
    random_net->to(device);
    random_net->eval();
  }

  std::vector<ScreenItem> missing;
  const std::vector<std::string> paths = collect_inputs(a.inputs, &missing);
  if (paths.empty() && missing.empty()) throw UsageError("no image or DICOM files found in the inputs");
  size_t failed = missing.size(), done = 0;
  for (const auto& m : missing) std::cerr << "covscreen: " << m.path << ": " << m.error << "\n";

  std::set<std::string> used;
  double rho_sum = 0;
  for (const std::string& path : paths) {
    try {
      const DecodedImage img = read_image(path, read_opt);
      cv::Mat s1 = stage1(img.gray, ck.spec.stage1);
      if (!s1.isContinuous()) s1 = s1.clone();
      const torch::Tensor u8 = torch::from_blob(s1.data, {1, s1.rows, s1.cols}, torch::kUInt8).clone();
      const torch::Tensor x = stage2(u8.to(device), /*augment=*/false);
      const ExplainResult r = explain_image(*ck.net, x, cls, method);
      char text[128];
      std::snprintf(text, sizeof text, "%s p=%.2f", ck.classes[cls].c_str(), r.probs[cls]);
      const CamFiles files = write_cam_files(a.out, unique_stem(path, used), img.gray, to_mat(r.map), text, overlay_opt);
      std::cout << path << "\t" << probs_text(ck.classes, r.probs) << "\t" << files.overlay;
      if (random_net) {
        const ExplainResult rr = explain_image(*random_net, x, cls, method);
        const double rho = spearman_correlation(r.map, rr.map);
        rho_sum += rho;
        char buf[64];
        std::snprintf(buf, sizeof buf, "\tspearman_vs_random=%.4f", rho);
        std::cout << buf;
      }
      std::cout << "\n" << std::flush;
      ++done;
    } catch (const FileError& e) {
      ++failed;
      std::cerr << "covscreen: " << e.what() << "\n";
    } catch (const c10::Error& e) {
      ++failed;
      std::cerr << "covscreen: " << path << ": " << e.what_without_backtrace() << "\n";
    } catch (const UsageError&) {
      throw;  // not about this file (e.g. the model does not fit the input size)
    } catch (const std::exception& e) {
      ++failed;
      std::cerr << "covscreen: " << path << ": " << e.what() << "\n";
    }
  }
  if (random_net && done > 0) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "randomization check: mean Spearman rank correlation %.4f over %zu images",
                  rho_sum / static_cast<double>(done), done);
    std::cout << buf << " (trained vs re-initialized weights; well below 1 = the maps depend on the training)\n";
  }
  std::cerr << done << " explained (" << to_string(method) << ", class " << ck.classes[cls] << "), " << failed
            << " failed; overlays in " << a.out << "\n";
  if (failed) throw ExitCode{kExitPartial};
}

const CommandRegistrar reg(40, [](CLI::App& app) {
  auto a = std::make_shared<ExplainArgs>();
  auto* c = app.add_subcommand("explain", "Class activation maps (Grad-CAM) over images, DICOM files or folders");
  c->add_option("inputs", a->inputs, "Files or folders (PNG, JPEG, BMP, TIFF, DICOM)")->required();
  c->add_option("--model", a->model, "Checkpoint (default: the shipped model)");
  c->add_option("--out", a->out, "Output folder for <stem>_cam.png and <stem>_cam16.png")->required();
  c->add_option("--class", a->cls, "Class to explain, by name or index (default: covid, else the first)");
  c->add_option("--method", a->method, "gradcam | gradcam++")->capture_default_str();
  c->add_option("--alpha", a->alpha, "Heatmap weight in the overlay")->capture_default_str();
  c->add_option("--device", a->device, "cpu | cuda | auto")->capture_default_str();
  c->add_flag("--randomization-check", a->randomization_check,
              "Also compare each map with the map of a randomly re-initialized model of the same architecture "
              "(Spearman rank correlation, Adebayo et al. 2018)");
  c->add_option("--seed", a->seed, "Seed of the re-initialized model")->capture_default_str();
  c->callback([a] { run(*a); });
});

}  // namespace
}  // namespace covscreen::app
