#include "covscreen/models/weights_io.h"

#include <torch/utils.h>

#include <sstream>

#include "covscreen/core/error.h"
#include "covscreen/core/strings.h"
#include "covscreen/models/registry.h"

namespace covscreen {

namespace {

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n < 0 ? -n : n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return n < 0 ? "-" + s : s;
}

}  // namespace

Checkpoint import_checkpoint(const ImportOptions& opt, ImportReport* report) {
  if (opt.classes.size() < 2) throw UsageError("import: give at least two classes (--classes a,b)");
  Checkpoint ck;
  ck.model = opt.model;
  ck.model.num_classes = static_cast<int>(opt.classes.size());
  ck.model.validate();
  ck.classes = opt.classes;
  ck.spec.stage1.size = ck.model.input_size;
  torch::manual_seed(opt.seed);
  ck.net = make_model(ck.model);
  const StateDict sd = read_state_dict(opt.state_dict);
  ImportReport rep = import_backbone(*ck.net, ck.model, sd, opt.state_dict);
  ck.net->eval();
  ck.training = {{"source", "import"},
                 {"state_dict", opt.state_dict},
                 {"seed", opt.seed},
                 {"tensors_loaded", rep.loaded.size()},
                 {"keys_ignored", rep.ignored.size()},
                 {"tensors_missing", rep.missing},
                 {"notes", rep.notes}};
  if (report) *report = std::move(rep);
  return ck;
}

void export_state_dict(const Checkpoint& ck, const std::string& path) {
  if (!ck.net) throw Error("export: the checkpoint has no model");
  write_state_dict(path, module_tensors(*ck.net));
}

nlohmann::json model_card(const ModelConfig& cfg) {
  Checkpoint ck;
  ck.model = cfg;
  ck.spec.stage1.size = cfg.input_size;
  ck.net = make_model(cfg);
  for (int i = 0; i < cfg.num_classes; ++i) ck.classes.push_back("class" + std::to_string(i));
  nlohmann::json card = model_card(ck);
  card.erase("training");
  card.erase("metrics");
  card.erase("threshold");
  card.erase("threshold_rule");
  card.erase("classes");  // placeholders only
  return card;
}

std::string format_model_card(const nlohmann::json& card) {
  std::ostringstream out;
  auto line = [&](const std::string& key, const std::string& value) {
    out << "  " << key << std::string(key.size() < 16 ? 16 - key.size() : 1, ' ') << value << "\n";
  };
  const auto& m = card.at("model");
  std::string arch = m.at("arch").get<std::string>();
  if (architectures().get(arch).uses_fpa)
    arch += " (backbone " + m.at("backbone").get<std::string>() + ", fpa_channels " +
            std::to_string(m.at("fpa_channels").get<int>()) + ")";
  if (m.contains("cxr")) line("cxr", m.at("cxr").dump());
  line("arch", arch);
  line("input", std::to_string(m.at("input_size").get<int>()) + " x " + std::to_string(m.at("input_size").get<int>()));
  if (card.contains("classes")) line("classes", join(card.at("classes").get<std::vector<std::string>>(), ", "));
  for (const auto& p : card.at("parts"))
    line("params " + p.at("name").get<std::string>(), with_commas(p.at("parameters").get<int64_t>()));
  line("params total", with_commas(card.at("total_parameters").get<int64_t>()));
  if (card.contains("spec")) line("spec", card.at("spec").dump());
  if (card.contains("threshold"))
    line("threshold",
         std::to_string(card.at("threshold").get<double>()) + " (" + card.value("threshold_rule", std::string()) + ")");
  if (card.contains("calibration")) {
    const auto& c = card.at("calibration");
    line("calibrated", c.value("description", std::string()) + " on " +
                           c.value("data", nlohmann::json::object()).value("source", std::string("?")) + " (was " +
                           c.value("previous_rule", std::string("?")) + ")");
  }
  if (card.contains("int8")) {  // evaluate/quantize.h
    const auto& q = card.at("int8");
    const auto& a = q.value("agreement", nlohmann::json::object());
    const auto& parts = q.value("parts", nlohmann::json::object());
    line("int8", with_commas(parts.value("int8_parameters", int64_t{0})) + " parameters in int8 (" +
                     join(parts.value("int8", std::vector<std::string>{}), ", ") + "), " +
                     with_commas(parts.value("fp32_parameters", int64_t{0})) + " in fp32 (" +
                     join(parts.value("fp32", std::vector<std::string>{}), ", ") + ")");
    line("int8 agreement", "AUC " + a.value("auc_int8", nlohmann::json()).dump() + " vs fp32 " +
                               a.value("auc_fp32", nlohmann::json()).dump() + ", same decision for " +
                               a.value("same_decision", nlohmann::json()).dump() + " of " +
                               a.value("images", nlohmann::json()).dump() + " images of " +
                               a.value("source", std::string("?")) + ": bar " +
                               (a.value("met", false) ? "met" : "NOT met (int8 only when asked for)"));
  }
  if (card.contains("typicality")) {
    const auto& t = card.at("typicality");
    const auto& info = t.value("info", nlohmann::json::object());
    line("typicality", std::to_string(t.value("components", 0)) + " of " + std::to_string(t.value("dim", 0)) +
                           " feature directions from " + std::to_string(info.value("images_fitted", 0)) +
                           " images of " +
                           info.value("data", nlohmann::json::object()).value("source", std::string("?")) + ", " +
                           std::to_string(info.value("images_held_out", 0)) + " held out; flags typicality < " +
                           nlohmann::json(t.value("flag_below", 0.0)).dump());
  }
  if (m.contains("members")) line("ensemble", std::to_string(m.at("members").get<int>()) + " members, logits averaged");
  if (card.contains("training") && !card.at("training").empty()) {
    nlohmann::json t = card.at("training");
    if (t.contains("members") && t.at("members").is_array()) {  // an ensemble's members, one line each
      int i = 0;
      for (const auto& mem : t.at("members")) {
        if (!mem.is_object()) continue;
        const nlohmann::json metrics = mem.value("metrics", nlohmann::json::object());
        line("member " + std::to_string(i++),
             mem.value("file", std::string("?")) + ", seed " + mem.value("seed", nlohmann::json()).dump() +
                 ", threshold " + mem.value("threshold", nlohmann::json()).dump() + ", validation AUC " +
                 (metrics.is_object() ? metrics.value("auc", nlohmann::json()) : nlohmann::json()).dump());
      }
      t.erase("members");
    }
    line("training", t.dump());
  }
  if (card.contains("metrics") && !card.at("metrics").empty()) line("metrics", card.at("metrics").dump());
  if (card.contains("evaluations"))
    for (const auto& e : card.at("evaluations").value("rows", nlohmann::json::array()))
      line("evaluated", e.value("data", std::string("?")) + ": " + e.dump());
  return out.str();
}

}  // namespace covscreen
