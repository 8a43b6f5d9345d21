// covscreen bench: screening speed on this machine, with the PyTorch baseline in the same run.
#include <iostream>

#include "command.h"
#include "covscreen/benchmark/benchmark.h"
#include "covscreen/core/paths.h"

namespace covscreen::app {
namespace {

const CommandRegistrar bench_command(70, [](CLI::App& app) {
  auto o = std::make_shared<BenchmarkOptions>();
  auto no_baseline = std::make_shared<bool>(false);
  auto* c = app.add_subcommand("bench",
                               "Measure screening speed (end to end, latency, model, training) "
                               "against the same model in PyTorch from Python; prints JSON");
  c->add_option("inputs", o->inputs, "Image / DICOM files or folders to screen")->required();
  c->add_option("--model", o->model, "Checkpoint (default: the shipped model)");
  c->add_option("--images", o->max_images, "Use the first N files")->capture_default_str();
  c->add_option("--batch", o->batch, "Batch size")->capture_default_str();
  c->add_option("--threads", o->threads, "Intra-op threads (0 = physical cores)")->capture_default_str();
  c->add_option("--workers", o->workers, "Parallel batch workers (0 = one per CPU in bf16, one per two CPUs in fp32)")
      ->capture_default_str();
  add_enum_option(c, "--precision", o->precision, precision_names(), "Precision");
  c->add_option("--latency-samples", o->latency_samples, "Single-file calls timed")->capture_default_str();
  c->add_option("--steps", o->steps, "Timed steps of the model-only and training phases")->capture_default_str();
  c->add_flag("!--no-train", o->train, "Skip the training phases");
  c->add_flag("--no-baseline", *no_baseline, "Skip the Python baseline");
  c->add_flag("--all-precisions", o->all_precisions,
              "Also screen and time the model in every other precision this machine and model can run (fp32; bf16 "
              "where native; int8 where the checkpoint has an int8 form: covscreen model quantize)");
  c->add_option("--python", o->python, "Python with torch and torchvision")->capture_default_str();
  c->add_option("--baseline-script", o->baseline_script, "Path of pytorch_baseline.py");
  c->callback([o, no_baseline] {
    if (o->model.empty()) o->model = default_model_path();
    o->baseline = !*no_baseline;
    std::cout << run_benchmark(*o).dump(2) << std::endl;
  });
});

}  // namespace
}  // namespace covscreen::app
