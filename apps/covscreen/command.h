#pragma once
// Subcommands register themselves: each apps/covscreen/cmd_*.cpp defines a static
// CommandRegistrar that adds its CLI11 subcommand; main.cpp stays fixed.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "covscreen/core/preprocess_spec.h"
#include "covscreen/core/registry.h"
#include "covscreen/core/strings.h"
#include "covscreen/inference/inference.h"
#include "covscreen/metrics/threshold.h"

namespace covscreen {
struct TrainConfig;
}

namespace covscreen::app {

using CommandAdder = std::function<void(CLI::App&)>;
std::vector<std::pair<int, CommandAdder>>& command_adders();  // (order, adder)

struct CommandRegistrar {
  CommandRegistrar(int order, CommandAdder add) { command_adders().emplace_back(order, std::move(add)); }
};

// The shipped models (core/paths.h shipped_models(), and the default model when it is not one of
// them) with their identities (checkpoint_identity), as JSON and as text lines: `covscreen
// --version` and `covscreen model info` without a checkpoint (cmd_model.cpp).
nlohmann::json installed_models();
std::string format_installed_models(const nlohmann::json& models);
std::string version_text();  // the version line, then format_installed_models()

// Exit codes: 0 ok, 1 usage/model/fatal error, 2 some inputs failed (the rest was done).
inline constexpr int kExitError = 1, kExitPartial = 2;

// Options whose values come from a table: the help lists the choices, and a bad value is refused
// while the command line is read (before any work), with the valid values:
//   c->add_option("--layout", a.layout, "Folder layout: " + layouts().choices())->check(registry_check(layouts()));
//   add_enum_option(c, "--device", opt.device, device_names(), "Device");   // parsed into the enum
// parse_check turns any parse function that throws on a bad value into a CLI11 validator.
template <class Parse>
CLI::Validator parse_check(Parse parse, const std::string& desc, const std::string& name) {
  return CLI::Validator(
      [parse](std::string& v) {
        try {
          parse(v);
          return std::string();
        } catch (const std::exception& e) {
          return std::string(e.what());
        }
      },
      desc, name);
}

template <class E>
CLI::Validator enum_check(const EnumNames<E>& names) {
  return parse_check([&names](const std::string& v) { names.parse(v); }, names.choices(), names.key());
}

template <class Entry>
CLI::Validator registry_check(const Registry<Entry>& registry) {
  return parse_check([&registry](const std::string& v) { registry.get(v); }, registry.choices(), registry.what());
}

template <class E>
CLI::Option* add_enum_option(CLI::App* app, const std::string& flags, E& target, const EnumNames<E>& names,
                             const std::string& help) {
  auto* opt = app->add_option_function<std::string>(
      flags, [&target, &names](const std::string& v) { target = names.parse(v); }, help + ": " + names.choices());
  opt->check(enum_check(names));
  opt->default_str(names.name(target));
  return opt;
}

// Stage 1's lung crop (core/preprocess_spec.h LungCropSpec), the same flags wherever a pack is made:
// --lung-crop ct|xray turns it on with that finder; --lung-margin, --lung-mask.
inline void add_lung_crop_options(CLI::App* app, LungCropSpec* spec) {
  app->add_option_function<std::string>(
         "--lung-crop",
         [spec](const std::string& v) {
           spec->enabled = true;
           spec->method = lung_method_names().parse(v);
         },
         "Crop each image to its lung fields (stage 1), found by the finder for: " + lung_method_names().choices())
      ->check(enum_check(lung_method_names()));
  app->add_option("--lung-margin", spec->margin, "--lung-crop: margin around the lungs, a fraction of their size")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app->add_flag("--lung-mask", spec->mask, "--lung-crop: also black out what is outside the lungs (and the margin)");
}

// --tta N (InferenceOptions::tta_views), the same wherever a model screens.
inline void add_tta_option(CLI::App* app, InferenceOptions* inference) {
  app->add_option("--tta", inference->tta_views,
                  "Test-time augmentation: P averaged over N views, the image and N-1 fixed transforms from the "
                  "model's training augmentation (1 = off)")
      ->capture_default_str()
      ->check(CLI::Range(1, kMaxTtaViews));
}

// --no-input-check (PipelineOptions::input_check, screen/input_gate.h), the same wherever a model screens.
inline void add_input_check_option(CLI::App* app, bool* input_check) {
  app->add_flag_callback(
      "--no-input-check", [input_check] { *input_check = false; },
      "Screen every image, also those the input gate refuses (wrong modality or body part, no lungs found); "
      "the outputs say the checks were off");
}

// A threshold rule (metrics/threshold.h), checked as it is parsed: train's --threshold-rule, model
// calibrate's --rule.
inline CLI::Option* add_threshold_rule_option(CLI::App* app, const std::string& name, std::string* rule,
                                              const std::string& what) {
  std::vector<std::string> forms;
  for (const auto& [key, info] : metrics::threshold_rules().entries()) forms.push_back(info.syntax);
  return app->add_option(name, *rule, what + ": " + join(forms, " | "))
      ->check(parse_check([](const std::string& v) { metrics::parse_threshold_rule(v); }, "RULE", "threshold rule"));
}

// A training config as `train --recipe R --config F` makes it before its other flags: the named
// recipe, then the JSON file over it (an empty path: none). Bad JSON is a FileError naming it.
TrainConfig train_config_from(const std::string& recipe, const std::string& config_path);

// Thrown by a subcommand callback to end with an exit code without an error message.
struct ExitCode {
  int code;
};

}  // namespace covscreen::app
