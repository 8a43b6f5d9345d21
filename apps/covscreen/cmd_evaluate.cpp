// covscreen evaluate: metrics with confidence intervals, ROC plots and reports.
#include <iostream>

#include "command.h"
#include "covscreen/data/layouts.h"
#include "covscreen/evaluate/evaluate.h"

namespace covscreen::app {
namespace {

const CommandRegistrar evaluate_command(25, [](CLI::App& app) {
  auto o = std::make_shared<EvaluateJob>();
  auto* c = app.add_subcommand("evaluate", "Evaluate one or more models on labelled data; write metrics and reports");
  c->add_option("--model", o->models, "Checkpoint; repeat --model for several (one overlaid ROC plot)")
      ->required()
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c->add_option("data", o->data, "A pack, a manifest CSV or a data set folder")->required();
  c->add_option("--out", o->out_dir, "Output folder")->required();
  c->add_option("--layout", o->layout, "Layout of a folder input: " + layouts().choices())
      ->check(registry_check(layouts()));
  c->add_option("--split", o->split, "Only this split (train, val, test)");
  add_enum_option(c, "--aggregation", o->aggregation, metrics::aggregation_names(), "Patient-level aggregation");
  c->add_option("--labels", o->labels,
                "Study level: DATA is a folder of DICOM studies and this CSV labels them (columns study_uid,label "
                "or patient,label); studies are screened as `screen --by study` does")
      ->check(CLI::ExistingFile);
  c->add_option("--rules", o->rules, "Study level: series rules and aggregation (JSON, as for screen --rules)")
      ->check(CLI::ExistingFile);
  c->add_flag(
      "!--no-cam-share", o->cam_share,
      "Skip the Grad-CAM share inside the lungs (one Grad-CAM per image: about 2x the time of evaluate without it)");
  c->add_option("--batch", o->inference.batch_size, "Batch size")->capture_default_str();
  add_enum_option(c, "--device", o->inference.device, device_names(), "Device");
  add_enum_option(c, "--precision", o->inference.precision, precision_names(), "Precision");
  add_tta_option(c, &o->inference);
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
