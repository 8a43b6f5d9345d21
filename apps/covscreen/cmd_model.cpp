// covscreen model import | import-keras | export | convert | ensemble | calibrate | quantize | typicality | info:
// PyTorch weights in and out, shipping form, seed ensembles, a site's own threshold, and the model card.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "command.h"
#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/core/paths.h"
#include "covscreen/core/strings.h"
#include "covscreen/data/layouts.h"
#include "covscreen/dist/launcher.h"
#include "covscreen/evaluate/calibrate.h"
#include "covscreen/evaluate/quantize.h"
#include "covscreen/models/ensemble.h"
#include "covscreen/models/keras_resnet.h"
#include "covscreen/models/registry.h"
#include "covscreen/models/weights_io.h"

namespace covscreen::app {

nlohmann::json installed_models() {
  const auto identify = [](const std::string& path) {
    try {
      return checkpoint_identity(path);
    } catch (const std::exception& e) {
      return nlohmann::json{{"path", path}, {"error", e.what()}};
    }
  };
  const char* env = std::getenv("COVSCREEN_MODEL");
  const std::string def = default_model_path();
  nlohmann::json j = {{"models_dir", shipped_models_dir()},
                      {"default", def},
                      {"default_from", env && *env ? "COVSCREEN_MODEL" : "shipped"},
                      {"models", nlohmann::json::array()}};
  bool def_listed = false;
  for (const std::string& path : shipped_models()) {
    nlohmann::json m = identify(path);
    m["default"] = path == def;
    def_listed = def_listed || path == def;
    j["models"].push_back(m);
  }
  if (!def_listed) {
    nlohmann::json m =
        std::filesystem::exists(def) ? identify(def) : nlohmann::json{{"path", def}, {"error", "not found"}};
    m["default"] = true;
    j["models"].push_back(m);
  }
  return j;
}

std::string format_installed_models(const nlohmann::json& j) {
  std::ostringstream out;
  out << "default model: " << j.at("default").get<std::string>()
      << (j.at("default_from") == "COVSCREEN_MODEL" ? " (from COVSCREEN_MODEL)" : "") << "\n";
  out << "models in " << j.at("models_dir").get<std::string>() << ":";
  if (j.at("models").empty()) out << " none";
  for (const auto& m : j.at("models")) {
    out << "\n  " << std::filesystem::path(m.at("path").get<std::string>()).filename().string();
    if (m.contains("error")) {
      out << "  unusable: " << m.at("error").get<std::string>();
    } else {
      char threshold[32];
      std::snprintf(threshold, sizeof threshold, "%.3f", m.at("threshold").get<double>());
      out << "  " << m.at("arch").get<std::string>() << ", classes "
          << join(m.at("classes").get<std::vector<std::string>>(), "/") << ", threshold " << threshold;
      if (const std::string saved = m.value("saved", ""); !saved.empty()) out << ", trained " << saved.substr(0, 10);
      out << ", sha256 " << m.at("sha256").get<std::string>().substr(0, 16);
    }
    if (m.value("default", false)) out << "  (default)";
  }
  return out.str();
}

std::string version_text() {
  return std::string("covscreen ") + COVSCREEN_VERSION + " (research use only, not a medical device)\n" +
         format_installed_models(installed_models());
}

namespace {

std::vector<std::string> split_classes(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s + ",") {
    if (c == ',') {
      if (cur.empty()) throw UsageError("--classes: empty class name in '" + s + "'");
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  return out;
}

void print_list(const char* what, const std::vector<std::string>& v, size_t max_shown = 8) {
  std::cout << "  " << what << ": " << v.size();
  for (size_t i = 0; i < v.size() && i < max_shown; ++i) std::cout << (i ? ", " : " (") << v[i];
  if (!v.empty()) std::cout << (v.size() > max_shown ? ", ...)" : ")");
  std::cout << "\n";
}

void add_model_flags(CLI::App* cmd, ModelConfig* cfg) {
  cmd->add_option("--backbone", cfg->backbone, "Backbone of deep-ct-net / deep-cxr-net: " + backbones().choices())
      ->capture_default_str()
      ->check(registry_check(backbones()));
  cmd->add_option("--fpa-channels", cfg->fpa_channels, "deep-ct-net pyramid width")->capture_default_str();
  cmd->add_option("--input-size", cfg->input_size, "input side in pixels")->capture_default_str();
}

void add(CLI::App& app) {
  auto* model = app.add_subcommand(
      "model", "import/export PyTorch weights, convert, combine into an ensemble, calibrate, print a model card");
  model->require_subcommand(1);

  // ---- import
  static ImportOptions imp;
  static std::string classes, out;
  static bool half = false, allow_missing = false;
  auto* import = model->add_subcommand("import", "make a checkpoint from a torchvision/torchxrayvision state_dict");
  import->add_option("--arch", imp.model.arch, "Architecture: " + architectures().choices())
      ->required()
      ->check(registry_check(architectures()));
  import->add_option("--state-dict", imp.state_dict, "torch.save(model.state_dict(), f) file")->required();
  import->add_option("--classes", classes, "comma-separated class names, e.g. covid,non-covid")->required();
  import->add_option("--out", out, "checkpoint to write")->required();
  import->add_option("--seed", imp.seed, "seed for the new head")->capture_default_str();
  import->add_flag("--half", half, "store weights as fp16");
  import->add_flag("--allow-missing", allow_missing, "write the checkpoint even when backbone tensors are missing");
  add_model_flags(import, &imp.model);
  import->callback([] {
    imp.classes = split_classes(classes);
  ImportReport rep;
  Checkpoint ck = import_checkpoint(imp, &rep);
  std::cout << "import " << imp.state_dict << " -> " << ck.model.arch << "\n";
  print_list("loaded", rep.loaded);
  print_list("ignored", rep.ignored);
  print_list("missing", rep.missing);
  for (const auto& n : rep.notes) std::cout << "  note: " << n << "\n";
  if (!rep.complete() && !allow_missing)
    throw FileError(imp.state_dict, std::to_string(rep.missing.size()) +
                                        " backbone tensors missing (use --allow-missing to keep their fresh init)");
  save_checkpoint(out, ck, half);
  std::cout << "wrote " << out << "\n";
});

// ---- import-keras (ImageNet ResNet-50 from a TensorFlow.js layers model; scripts/get-imagenet-resnet50)
static std::string keras_json, keras_out;
auto* keras = model->add_subcommand(
    "import-keras",
    "convert Keras' ImageNet ResNet-50 (TensorFlow.js model.json + shards) into a resnet50v1 state_dict");
keras->add_option("model_json", keras_json, "the TensorFlow.js model.json (its shards beside it)")->required();
keras->add_option("--out", keras_out, "torch.save file to write (train --init and model import read it)")->required();
keras->callback([] {
  const StateDict sd = convert_keras_resnet50(keras_json);
  write_state_dict(keras_out, sd);
  std::cout << "converted " << keras_json << " -> " << keras_out << " (" << sd.size()
            << " tensors, resnet50v1 with the 1000-class ImageNet fc; input (RGB - caffe mean) / " << kKerasInputScale
            << ")\n";
});

// ---- export
static std::string ckpt_in, sd_out;
auto* exp = model->add_subcommand("export", "write a checkpoint's weights as a PyTorch state_dict file");
exp->add_option("checkpoint", ckpt_in, "covscreen checkpoint")->required();
exp->add_option("--out", sd_out, "torch.save file to write (torch.load reads it)")->required();
exp->callback([] {
  Checkpoint ck = load_checkpoint(ckpt_in);
  export_state_dict(ck, sd_out);
  std::cout << "wrote " << sd_out << " (" << module_tensors(*ck.net).size() << " tensors)\n";
});

// ---- convert (for shipping: fp16 weights, no optimizer state)
static std::string conv_in, conv_out, conv_evaluations;
static bool conv_half = false, conv_int8_frozen = false;
auto* conv = model->add_subcommand("convert", "rewrite a checkpoint without its optimizer state, optionally in fp16");
conv->add_option("checkpoint", conv_in, "covscreen checkpoint")->required();
conv->add_option("--out", conv_out, "checkpoint to write")->required();
conv->add_flag("--half", conv_half, "store floating weights as fp16 (loaded back as fp32)");
conv->add_flag("--int8-frozen", conv_int8_frozen,
               "store the weights the architecture keeps frozen (deep-cxr-net's parts 1, 2 and shared trunk) as 8-bit "
               "integers, one scale per output channel (loaded back as fp32)");
conv->add_option("--evaluations", conv_evaluations,
                 "JSON object {\"command\", \"rows\": [...]} of results on other data (scripts/cross_source.sh "
                 "writes one) to keep in the model card");
conv->callback([] {
  Checkpoint ck = load_checkpoint(conv_in);
  ck.optimizer_state.clear();
  if (!conv_evaluations.empty()) {
    const nlohmann::json e = read_json_file(conv_evaluations);
    if (!e.is_object() || !e.contains("rows") || !e.at("rows").is_array())
      throw FileError(conv_evaluations, "expected a JSON object with a \"rows\" array");
    if (!ck.extra.is_object()) ck.extra = nlohmann::json::object();
    ck.extra["evaluations"] = e;
  }
  save_checkpoint(conv_out, ck, conv_half, conv_int8_frozen);
  std::cout << "wrote " << conv_out << (conv_half ? " (fp16 weights)" : "")
            << (conv_int8_frozen ? " (frozen weights in 8 bits)" : "") << "\n";
});

// ---- ensemble (models/ensemble.h: e.g. the same recipe trained with other seeds, as one model)
static std::vector<std::string> ens_in;
static std::string ens_out;
static bool ens_half = false;
auto* ens = model->add_subcommand(
    "ensemble", "combine checkpoints of one architecture and preprocessing into one model that averages their logits");
ens->add_option("checkpoints", ens_in, "covscreen checkpoints (2 or more; e.g. one recipe, other seeds)")->required();
ens->add_option("--out", ens_out, "checkpoint to write")->required();
ens->add_flag("--half", ens_half, "store floating weights as fp16 (as the shipped models are)");
ens->callback([] {
  std::vector<Checkpoint> members;
  for (const auto& f : ens_in) members.push_back(load_checkpoint(f));
  const Checkpoint e = make_ensemble(members, ens_in);
  save_checkpoint(ens_out, e, ens_half);
  std::cout << "ensemble of " << members.size() << " models -> " << ens_out << (ens_half ? " (fp16 weights)" : "")
            << "\nthreshold " << e.threshold
            << ": the members' thresholds averaged on the logit scale; choose the ensemble's own on validation "
               "data with `covscreen model calibrate`\n";
});

// ---- calibrate (a site's own threshold, evaluate/calibrate.h)
auto job = std::make_shared<CalibrateJob>();
auto* cal = model->add_subcommand(
    "calibrate", "set a checkpoint's decision threshold on a site's own labelled images (e.g. its normal studies)");
cal->add_option("checkpoint", job->model, "covscreen checkpoint")->required();
cal->add_option("data", job->data, "A pack, a manifest CSV or a data set folder, with labels")->required();
add_threshold_rule_option(cal, "--rule", &job->rule, "Threshold rule, applied to the images of DATA")->required();
cal->add_option("--out", job->out, "checkpoint to write")->required();
cal->add_flag("--half", job->half, "store floating weights as fp16 (as the shipped models are)");
cal->add_option("--layout", job->layout, "Layout of a folder input: " + layouts().choices())
    ->check(registry_check(layouts()));
cal->add_option("--split", job->split, "Only this split (train, val, test)");
cal->add_option("--batch", job->inference.batch_size, "Batch size")->capture_default_str();
add_enum_option(cal, "--device", job->inference.device, device_names(), "Device");
add_enum_option(cal, "--precision", job->inference.precision, precision_names(), "Precision");
add_tta_option(cal, &job->inference);
cal->callback([job] {
  job->command = join(dist::own_command_line(), " ");
  const CalibrateResult r = calibrate_threshold(*job);
  std::cout << "threshold " << r.previous_threshold << " -> " << r.choice.threshold << ": " << r.choice.description
            << "\n"
            << "wrote " << job->out << (job->half ? " (fp16 weights)" : "") << "\n";
  if (r.unreadable) throw ExitCode{kExitPartial};
});

// ---- quantize (post-training int8, evaluate/quantize.h)
auto qjob = std::make_shared<QuantizeJob>();
auto* quant = model->add_subcommand(
    "quantize",
    "post-training int8: calibrate a checkpoint's ResNets on images it was validated on, measure its agreement with "
    "fp32 and write it with its int8 form (run with --precision int8)");
quant->add_option("checkpoint", qjob->model, "covscreen checkpoint")->required();
quant
    ->add_option("--calibration", qjob->calibration,
                 "Images the model was validated on: a pack, a manifest CSV or a data set folder, with labels")
    ->required();
quant->add_option("--out", qjob->out, "checkpoint to write")->required();
quant->add_option("--split", qjob->split, "Only this split of the calibration data (train, val, test)");
quant->add_option("--layout", qjob->layout, "Layout of a folder input: " + layouts().choices())
    ->check(registry_check(layouts()));
quant->add_option("--max-images", qjob->max_images, "Calibration images used at most (evenly spaced)")
    ->capture_default_str()
    ->check(CLI::Range(1, 100000));
quant->add_option("--agreement", qjob->agreement,
                  "Labelled data to measure the agreement with fp32 on (default: the calibration data)");
quant->add_option("--agreement-split", qjob->agreement_split, "Only this split of the agreement data");
quant->add_option("--max-auc-difference", qjob->max_auc_difference, "The bar: largest |AUC(int8) - AUC(fp32)|")
    ->capture_default_str()
    ->check(CLI::Range(0.0, 1.0));
quant
    ->add_option("--min-same-decision", qjob->min_same_decision,
                 "The bar: smallest share of images with the same decision at the model's threshold")
    ->capture_default_str()
    ->check(CLI::Range(0.0, 1.0));
quant->add_option("--fp32", qjob->fp32,
                  "Keep a ResNet (PATH) or one of its stages (PATH:S, 0 = stem, 1..4 = layerN) in fp32; PATH as `model "
                  "info` lists them");
quant->add_flag("--half", qjob->half, "store floating weights as fp16 (as the shipped models are)");
quant->add_flag("--int8-frozen", qjob->int8_frozen, "store frozen weights in 8 bits (as `model convert`)");
quant->add_option("--batch", qjob->batch_size, "Batch size")->capture_default_str()->check(CLI::Range(1, 4096));
quant->callback([qjob] {
  qjob->command = join(dist::own_command_line(), " ");
  const nlohmann::json r = quantize_model(*qjob);
  const auto& a = r.at("agreement");
  const auto& parts = r.at("parts");
  std::cout << "int8: " << parts.at("int8_parameters") << " parameters ("
            << join(parts.at("int8").get<std::vector<std::string>>(), ", ")
            << "); fp32: " << parts.at("fp32_parameters") << " parameters ("
            << join(parts.at("fp32").get<std::vector<std::string>>(), ", ") << ")\n"
            << "calibrated on " << r.at("calibration").at("images") << " images of "
            << r.at("calibration").at("source").get<std::string>() << "\nagreement on " << a.at("images")
            << " images: AUC fp32 " << a.at("auc_fp32").get<double>() << ", int8 " << a.at("auc_int8").get<double>()
            << "; same decision at " << a.at("threshold").get<double>() << " for " << a.at("same_decision") << " ("
            << 100 * a.at("same_decision_fraction").get<double>() << "%); largest |dP| "
            << a.at("max_abs_difference_p").get<double>() << "\n"
            << (a.at("met").get<bool>() ? "the bar is met: --precision auto may run it in int8 on CPUs without bf16"
                                        : "the bar is NOT met: int8 runs only when asked for (--precision int8)")
            << "\nwrote " << qjob->out << "\n";
});

// ---- typicality (models/typicality.h: what screening flags as atypical)
auto tjob = std::make_shared<TypicalityJob>();
auto* typ = model->add_subcommand(
    "typicality",
    "add a typicality reference to a checkpoint: its features of the images it was trained on, against which "
    "screening flags images unlike them");
typ->add_option("checkpoint", tjob->model, "covscreen checkpoint")->required();
typ->add_option("data", tjob->data, "The images the model was trained on: a pack, a manifest CSV or a data set folder")
    ->required();
typ->add_option("--out", tjob->out, "checkpoint to write")->required();
typ->add_option("--split", tjob->split, "Only this split (default train; \"\" = all)")->capture_default_str();
typ->add_option("--layout", tjob->layout, "Layout of a folder input: " + layouts().choices())
    ->check(registry_check(layouts()));
typ->add_option("--components", tjob->typicality.components, "Principal directions kept")
    ->capture_default_str()
    ->check(CLI::Range(1, 4096));
typ->add_option("--flag-below", tjob->typicality.flag_below, "Typicality under which an image is flagged atypical")
    ->capture_default_str()
    ->check(CLI::Range(0.0, 1.0));
typ->add_flag("--half", tjob->half, "store floating weights as fp16 (as the shipped models are)");
typ->add_option("--batch", tjob->inference.batch_size, "Batch size")->capture_default_str();
add_enum_option(typ, "--device", tjob->inference.device, device_names(), "Device");
add_enum_option(typ, "--precision", tjob->inference.precision, precision_names(), "Precision");
typ->callback([tjob] {
  tjob->command = join(dist::own_command_line(), " ");
  const Typicality t = add_typicality(*tjob);
  std::cout << "typicality reference: " << t.info.value("images_fitted", 0) << " images fitted, "
            << t.info.value("images_held_out", 0) << " held out, " << t.basis.size(0) << " of " << t.dim()
            << " feature directions; flags typicality < " << t.flag_below << "\nwrote " << tjob->out
            << (tjob->half ? " (fp16 weights)" : "") << "\n";
});

// ---- info
static std::string info_ckpt;
static ModelConfig fresh;
static bool as_json = false;
auto* info = model->add_subcommand(
    "info", "print the model card of a checkpoint, or of a fresh --arch; without either, list the installed models");
info->add_option("checkpoint", info_ckpt, "covscreen checkpoint");
auto* arch_opt =
    info->add_option("--arch", fresh.arch, "a fresh model instead of a checkpoint: " + architectures().choices())
        -> check(registry_check(architectures()));
info->add_option("--num-classes", fresh.num_classes, "classes of the fresh model")->capture_default_str();
add_model_flags(info, &fresh);
info->add_flag("--json", as_json, "print JSON");
info->callback([arch_opt] {
  if (!info_ckpt.empty() && arch_opt->count() > 0)
    throw UsageError("model info: give a checkpoint or --arch (not both)");
  if (info_ckpt.empty() && arch_opt->count() == 0) {
    const nlohmann::json models = installed_models();
    std::cout << (as_json ? models.dump(2) : format_installed_models(models)) << "\n";
    return;
  }
  nlohmann::json card;
  if (!info_ckpt.empty()) {
    card = model_card(load_checkpoint(info_ckpt));
  } else {
    card = model_card(fresh);
  }
  if (as_json) {
    std::cout << card.dump(2) << "\n";
  } else {
    std::cout << (info_ckpt.empty() ? "fresh " + fresh.arch : info_ckpt) << "\n" << format_model_card(card);
  }
});
}  // namespace

const CommandRegistrar registrar(50, add);

}  // namespace covscreen::app
}  // namespace covscreen::app
