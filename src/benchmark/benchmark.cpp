#include "covscreen/benchmark/benchmark.h"

#include <sys/resource.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <thread>

#include "covscreen/benchmark/python_baseline.h"
#include "covscreen/core/cpu.h"
#include "covscreen/core/error.h"
#include "covscreen/core/log.h"
#include "covscreen/data/stage2.h"
#include "covscreen/io/image_reader.h"
#include "covscreen/models/int8.h"
#include "covscreen/models/state_dict.h"
#include "covscreen/models/weights_io.h"
#include "covscreen/preprocess/stage1.h"
#include "covscreen/screen/pipeline.h"
#include "covscreen/screen/worker_pool.h"
#include "covscreen/train/throughput.h"

namespace covscreen {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

void say(const std::string& s) { log_info("bench: " + s); }

nlohmann::json machine() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model;
  while (model.empty() && std::getline(in, line))
    if (line.rfind("model name", 0) == 0) model = line.substr(line.find(':') + 2);
  return {{"cpu", model},
          {"logical_cpus", std::thread::hardware_concurrency()},
          {"native_bf16", cpu_has_bf16()},
          {"cpu_flags", cpu_isa_flags()},
          {"torch", TORCH_VERSION},
          {"intra_op_threads", torch::get_num_threads()}};
}

// The pipeline's decode stage (decode + stage 1) on one thread.
nlohmann::json stage1_phase(const std::vector<std::string>& paths, const Pipeline& pipeline) {
  size_t ok = 0;
  const auto t0 = Clock::now();
  for (const auto& p : paths) ok += pipeline.decode_file(p).error.empty();
  const double s = since(t0);
  return {{"images", ok}, {"threads", 1}, {"seconds", s}, {"images_per_s", ok / s}};
}

nlohmann::json latency_phase(Pipeline& pipeline, const std::vector<std::string>& paths, int samples) {
  std::vector<double> ms;
  const int n = std::min<int>(samples + 2, static_cast<int>(paths.size()));
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    pipeline.screen_files({paths[i]});
    if (i >= 2) ms.push_back(1000 * since(t0));  // the first two calls pick kernels
  }
  if (ms.empty()) return {{"error", "need at least 3 files"}};
  std::sort(ms.begin(), ms.end());
  auto q = [&](double f) { return ms[std::min(ms.size() - 1, static_cast<size_t>(f * ms.size()))]; };
  return {{"samples", ms.size()}, {"batch", 1}, {"p50_ms", q(0.5)}, {"p95_ms", q(0.95)}, {"max_ms", ms.back()}};
}

// Stage-1 images [n, size, size] of the first readable files.
torch::Tensor stage1_batch(const std::vector<std::string>& paths, const Pipeline& pipeline, int n) {
  const int64_t size = pipeline.checkpoint().spec.stage1.size;
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < paths.size() && static_cast<int>(out.size()) < n; ++i) {
    const PipelineInput in = pipeline.decode_file(paths[i]);
    if (in.error.empty()) out.push_back(torch::from_blob(in.input.data, {size, size}, torch::kUInt8).clone());
  }
  return torch::stack(out);
}

double images_per_s(const nlohmann::json& j) { return j.value("images_per_s", 0.0); }

// Warm-up, then every file end to end; `ours`: the COVID probability of each screened file.
nlohmann::json screen_phase(Pipeline& pipeline, const std::vector<std::string>& paths, int batch,
                            std::vector<std::pair<std::string, double>>* ours) {
  pipeline.screen_files({paths.begin(), paths.begin() + std::min<size_t>(paths.size(), batch)});
  const auto t0 = Clock::now();
  const auto items = pipeline.screen_files(paths);
  const double secs = since(t0);
  size_t ok = 0;
  for (const auto& it : items)
    if (it.ok) {
      ++ok;
      if (ours) ours->emplace_back(it.file, it.probs.front());
    }
  return {{"images", items.size()},
          {"failed", items.size() - ok},
          {"seconds", secs},
          {"images_per_s", items.size() / secs},
          {"peak_rss_mb", peak_rss_mb()}};
}

// Model only as the Pipeline runs it: one model call per worker at a time, intra-op threads shared out.
nlohmann::json workers_phase(Pipeline& pipeline, const ThroughputOptions& to) {
  const int workers = pipeline.workers();
  WorkerPool pool(workers, std::max(1, torch::get_num_threads() / workers));
  std::vector<ThroughputResult> each(workers);
  pool.run([&](int w) { each[w] = measure_inference(*pipeline.checkpoint().net, to); });
  double sum = 0;
  for (const auto& r : each) sum += r.images_per_s;
  nlohmann::json j = each.front();
  j["workers"] = workers;
  j["threads"] = std::max(1, torch::get_num_threads() / workers);
  j["images_per_s"] = sum;
  return j;
}

// --all-precisions: fp32, bf16 where native (or on CUDA), int8 where the checkpoint has a form (CPU), but `done`.
std::vector<Precision> other_precisions(const BenchmarkOptions& opt, Precision done, const Checkpoint& ck) {
  std::vector<Precision> out;
  if (!opt.all_precisions) return out;
  const bool cuda = resolve_device(opt.device).is_cuda();
  for (const Precision p : {Precision::kFp32, Precision::kBf16, Precision::kInt8})
    if (p != done && (p != Precision::kBf16 || cuda || cpu_has_bf16()) &&
        (p != Precision::kInt8 || (!cuda && int8_record(ck))))
      out.push_back(p);
  return out;
}

// The network bench/python/pytorch_baseline.py builds for this config ("" = none it can).
std::string python_arch(const ModelConfig& c) {
  if (c.members > 1) return "";
  if (c.arch == "resnet50" || c.arch == "resnet50v1") return c.arch;
  if (c.arch == "deep-ct-net" && c.backbone == "densenet121" && c.fpa_channels == 64 && c.input_size == 256)
    return "deep-ct-net";
  return "";
}

}  // namespace

nlohmann::json run_benchmark(const BenchmarkOptions& opt) {
  if (opt.threads > 0) torch::set_num_threads(opt.threads);
  std::vector<ScreenResult> missing;
  auto paths = collect_inputs(opt.inputs, &missing);
  if (!missing.empty()) throw UsageError(missing.front().file + ": " + missing.front().error);
  if (paths.size() > static_cast<size_t>(opt.max_images)) paths.resize(opt.max_images);
  if (paths.empty()) throw UsageError("bench: no image or DICOM files in the inputs");

  Checkpoint ck = load_checkpoint(opt.model);
  const ModelConfig model_cfg = ck.model;
  PipelineOptions so;
  so.inference.batch_size = opt.batch;
  so.inference.precision = opt.precision;
  so.inference.device = opt.device;
  so.workers = opt.workers;
  Pipeline pipeline(std::move(ck), so);
  const Precision resolved = pipeline.options().inference.precision;  // with the checkpoint's int8 record
  const std::string precision = precision_names().name(resolved);

  nlohmann::json out = {{"bench", "covscreen"}, {"machine", machine()}, {"model", opt.model}};
  out["config"] = {{"images", paths.size()},
                   {"batch", opt.batch},
                   {"threads", torch::get_num_threads()},
                   {"workers", pipeline.workers()},
                   {"precision", precision},
                   {"layout", "channels_last"},
                   {"device", device_names().name(opt.device)}};

  say("stage 1 on " + std::to_string(paths.size()) + " files");
  out["stage1"] = stage1_phase(paths, pipeline);

  say("end-to-end screening");
  std::vector<std::pair<std::string, double>> ours;
  out["screen"] = screen_phase(pipeline, paths, opt.batch, &ours);

  say("single-file latency");
  out["latency"] = latency_phase(pipeline, paths, opt.latency_samples);

  ThroughputOptions to;
  to.size = static_cast<int>(pipeline.checkpoint().spec.stage1.size);  // the model's own input side
  to.batch = opt.batch;
  to.precision = resolved;
  to.device = opt.device;
  to.steps = opt.steps;
  say("model only");
  out["model_only"] = measure_inference(*pipeline.checkpoint().net, to);
  out["model_only_workers"] = workers_phase(pipeline, to);
  // The other precisions this machine and checkpoint can run, the same phases with their own pipeline.
  const std::vector<Precision> others = other_precisions(opt, resolved, pipeline.checkpoint());
  for (const Precision p : others) {
    const std::string name = precision_names().name(p);
    say("precision " + name + ": end-to-end screening and model only");
    PipelineOptions po = so;
    po.inference.precision = p;
    Pipeline other(load_checkpoint(opt.model), po);
    ThroughputOptions t = to;
    t.precision = p;
    out["precisions"][name] = {{"workers", other.workers()},
                               {"screen", screen_phase(other, paths, opt.batch, nullptr)},
                               {"model_only_workers", workers_phase(other, t)}};
  }
  if (opt.train) {
    say("training steps");
    ModelConfig one = model_cfg;
    one.members = 1;  // a seed ensemble's members are trained one at a time, as single models
    out["train"] = measure_training(one, to);
  }
  out["peak_rss_mb"] = peak_rss_mb();

  if (!opt.baseline) return out;
  const std::string py_arch = python_arch(model_cfg);
  if (py_arch.empty()) {
    out["baseline"] = {{"skipped",
                        "bench/python/pytorch_baseline.py builds a single Deep-CT-Net (DenseNet-121, "
                        "fpa 64, 256 px) or a plain ResNet-50; this checkpoint is a " +
                            model_cfg.arch + (model_cfg.members > 1 ? " seed ensemble" : "")}};
    return out;
  }
  const fs::path tmp = fs::temp_directory_path() / ("covscreen-bench-" + std::to_string(getpid()));
  fs::create_directories(tmp);
  const std::string sd = (tmp / "weights.pt").string(), list = (tmp / "files.txt").string();
  export_state_dict(pipeline.checkpoint(), sd);
  {
    std::ofstream f(list);  // the files covscreen could read (PIL would stop the DataLoader at a bad one)
    for (const auto& [p, prob] : ours) f << p << "\n";
  }
  PythonBaseline py{opt.python, opt.baseline_script};
  const std::vector<std::string> common = {"--batch",   std::to_string(opt.batch),
                                           "--threads", std::to_string(torch::get_num_threads()),
                                           "--arch",    py_arch,
                                           "--size",    std::to_string(pipeline.checkpoint().spec.stage1.size)};
  auto with = [&](std::vector<std::string> a, std::vector<std::string> extra) {
    a.insert(a.end(), common.begin(), common.end());
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  const std::vector<std::string> tuned = {"--precision", precision, "--channels-last"};
  nlohmann::json base;
  say("python baseline: same-weights check (fp32)");
  {
    const std::string io = (tmp / "io.pt").string();
    auto& net = *pipeline.checkpoint().net;
    auto images = stage1_batch(paths, pipeline, 4);
    torch::Tensor x, p;
    const bool int8 = runs_int8(net);  // the check is of the weights: fp32 on both sides
    if (int8) detach_int8(net);
    {
      c10::InferenceMode guard;
      x = Stage2(pipeline.checkpoint().spec.stage2)(images, /*augment=*/false);
      p = net.forward(x.contiguous(torch::MemoryFormat::ChannelsLast));
    }
    if (int8) attach_int8(pipeline.checkpoint());
    write_state_dict(io, NamedTensors{{"input", x.contiguous()}, {"logits", p.contiguous()}});
    base["parity"] = py.run({"parity", "--weights", sd, "--io", io, "--arch", py_arch});
  }
  say("python baseline: screening, typical (fp32, NCHW)");
  base["screen_typical"] =
      py.run(with({"screen", "--weights", sd, "--list", list, "--probs", (tmp / "p.csv").string()}, {}));
  if (!base["screen_typical"].contains("error"))
    base["probability_agreement"] = compare_probabilities(ours, (tmp / "p.csv").string());
  say("python baseline: screening, tuned (" + precision + ", channels-last)");
  base["screen_tuned"] = py.run(with({"screen", "--weights", sd, "--list", list}, tuned));
  say("python baseline: model only, tuned (" + precision + (resolved == Precision::kInt8 ? ": FX" : "") +
      ", channels-last)");
  base["model_tuned"] = py.run(with({"model", "--weights", sd, "--steps", std::to_string(opt.steps)}, tuned));
  for (const Precision p : others) {  // --all-precisions: the same network in Python in each of them
    const std::string name = precision_names().name(p);
    say("python baseline: model only, " + name);
    base["model_tuned_" + name] = py.run(with({"model", "--weights", sd, "--steps", std::to_string(opt.steps)},
                                              {"--precision", name, "--channels-last"}));
  }
  if (opt.train) {
    const std::vector<std::string> steps = {"--steps", std::to_string(opt.steps)};
    say("python baseline: training, typical");
    base["train_typical"] = py.run(with({"train"}, steps));
    say("python baseline: training, tuned");
    auto t = tuned;
    if (resolved == Precision::kInt8) t[1] = "fp32";  // int8 is for inference; training runs fp32 (as measure_training)
    t.insert(t.end(), steps.begin(), steps.end());
    base["train_tuned"] = py.run(with({"train"}, t));
  }
  fs::remove_all(tmp);
  out["baseline"] = base;

  nlohmann::json ratio;
  auto put = [&](const std::string& key, const nlohmann::json& ours_j, const std::string& base_key) {
    if (base.contains(base_key) && images_per_s(base[base_key]) > 0)
      ratio[key] = images_per_s(ours_j) / images_per_s(base[base_key]);
  };
  put("screen_vs_typical", out["screen"], "screen_typical");
  put("screen_vs_tuned", out["screen"], "screen_tuned");
  put("model_vs_tuned", out["model_only"], "model_tuned");
  for (const Precision p : others) {
    const std::string name = precision_names().name(p);
    if (base.contains("model_tuned_" + name) && images_per_s(base["model_tuned_" + name]) > 0)
      ratio["model_vs_tuned_" + name] =
          images_per_s(out["precisions"][name]["model_only_workers"]) / images_per_s(base["model_tuned_" + name]);
  }
  if (out.contains("train")) {
    put("train_vs_typical", out["train"], "train_typical");
    put("train_vs_tuned", out["train"], "train_tuned");
  }
  out["ratio"] = ratio;
  return out;
}

}  // namespace covscreen
