// covscreen evaluate: metrics with confidence intervals, ROC plots and reports.
#include <iostream>

#include "command.h"
#include "covscreen/screen/evaluate.h"

namespace covscreen::app {
namespace {

const CommandRegistrar reg(20, [](CLI::App& app) {
  auto o = std::make_shared<EvaluateJob>();
  auto* c = app.add_subcommand("evaluate", "Evaluate one or more models on labelled data; write metrics and reports");
  c->add_option("--model", o->models, "Checkpoint; repeat --model for several (one overlaid ROC plot)")
      ->required()
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c->add_option("data", o->data, "A pack, a manifest CSV or a data set folder")->required();
  c->add_option("--out", o->out_dir, "Output folder")->required();
  c->add_option("--layout", o->layout, "Layout of a folder input (auto, folders, covid-ct, ieee8023, kermany)");
  c->add_option("--split", o->split, "Only this split (train, val, test)");
  c->add_option("--aggregation", o->aggregation, "Patient-level aggregation: mean | max")->capture_default_str();
  c->add_option("--batch", o->inference.batch_size, "Batch size")->capture_default_str();
  c->add_option("--device", o->inference.device, "auto | cpu | cuda")->capture_default_str();
  c->add_option("--precision", o->inference.precision, "fp32 | bf16 | auto")->capture_default_str();
  c->callback([o] {
    EvaluateResult r = run_evaluation(*o);
    const auto& m = r.metrics;
    std::cout << "n=" << m.value("n", 0) << " auc=" << m.value("auc", nlohmann::json()).dump()
              << " auc_ci=" << m.value("auc_ci", nlohmann::json()).dump()
              << " accuracy=" << m.value("accuracy", nlohmann::json()).dump()
              << " f1=" << m.value("f1", nlohmann::json()).dump() << "\n";
    for (const auto& f : r.files) std::cout << "wrote " << f << "\n";
    if (r.unreadable) throw ExitCode{kExitPartial};
  });
});

}  // namespace
}  // namespace covscreen::app
