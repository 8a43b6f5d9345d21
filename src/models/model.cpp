#include "covscreen/models/model.h"

#include "covscreen/core/error.h"
#include "covscreen/core/json_fields.h"
#include "covscreen/models/ensemble.h"
#include "covscreen/models/registry.h"

namespace covscreen {

namespace {
// The JSON fields of ModelConfig and of its cxr section, listed once (core/json_fields.h).
template <class C, class F>
void cxr_fields(C& x, F&& f) {
  f("part_arch", x.part_arch);
  f("shared_stages", x.shared_stages);
  f("part1_outputs", x.part1_outputs);
  f("part1_select", x.part1_select);
  f("part2_outputs", x.part2_outputs);
  f("part1_input_size", x.part1_input_size);
  f("part2_input_size", x.part2_input_size);
  f("trunk_features", x.trunk_features);
  f("head_hidden", x.head_hidden);
  f("positive_index", x.positive_index);
}
template <class C, class F>
void model_fields(C& c, F&& f) {
  f("arch", c.arch);
  f("backbone", c.backbone);
  f("num_classes", c.num_classes);
  f("fpa_channels", c.fpa_channels);
  f("input_size", c.input_size);
  f("members", c.members);
  f("cxr", c.cxr);
}
}  // namespace

void ModelConfig::validate() const {
  const Architecture& a = architectures().get(arch);
  const Backbone& bb = backbone_of(*this);
  if (num_classes < 1 || num_classes > 100000) throw UsageError("model: num_classes must be in [1, 100000]");
  if (fpa_channels < 1 || fpa_channels > 4096) throw UsageError("model: fpa_channels must be in [1, 4096]");
  if (input_size < 32 || input_size > 4096) throw UsageError("model: input_size must be in [32, 4096]");
  if (members < 1 || members > kMaxEnsembleMembers)
    throw UsageError("model: members must be in [1, " + std::to_string(kMaxEnsembleMembers) + "]");
  if (a.validate) a.validate(*this);
  if (a.uses_fpa && bb.map_size(input_size) < 2)
    throw UsageError("model: " + arch +
                     " needs input_size >= 64 (the backbone map must be at least 2x2 for the BatchNorm after the "
                     "pyramid attention)");
}

void to_json(nlohmann::json& j, const ModelConfig::Cxr& x) {
  write_fields(j, x, [](auto& c, auto&& f) { cxr_fields(c, f); });
}

void from_json(const nlohmann::json& j, ModelConfig::Cxr& x) {
  merge_fields(
      j, x, [](auto& c, auto&& f) { cxr_fields(c, f); }, "model config: cxr");
}

void to_json(nlohmann::json& j, const ModelConfig& c) {
  write_fields(j, c, [](auto& m, auto&& f) { model_fields(m, f); });
  const Architecture* a = architectures().find(c.arch);
  if (!a || !a->build_for_training) j.erase("cxr");  // only a model built from parts has that section
  if (c.members == 1) j.erase("members");            // a single model's config reads as before ensembles
}

void from_json(const nlohmann::json& j, ModelConfig& c) {
  ModelConfig m = c;  // all or nothing
  merge_fields(
      j, m, [](auto& x, auto&& f) { model_fields(x, f); }, "model config");
  architectures().get(m.arch);  // "unknown architecture 'x' (valid: ...)"
  backbones().get(m.backbone);
  c = m;
}

ScreenModel make_model(const ModelConfig& cfg) {
  cfg.validate();
  if (cfg.members > 1) return make_ensemble_model(cfg);
  return architectures().get(cfg.arch).make(cfg);
}

}  // namespace covscreen
