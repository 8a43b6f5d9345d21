#include "covscreen/models/ensemble.h"

#include <torch/nn/modules/container/modulelist.h>

#include <algorithm>
#include <cmath>

#include "covscreen/core/error.h"
#include "covscreen/models/registry.h"
#include "covscreen/models/state_dict.h"

namespace covscreen {

EnsembleImpl::EnsembleImpl(const ModelConfig& cfg) {
  cfg.validate();
  ModelConfig one = cfg;
  one.members = 1;
  auto list = register_module("members", torch::nn::ModuleList());
  for (int i = 0; i < cfg.members; ++i) {
    members_.push_back(make_model(one));
    list->push_back(members_.back());
  }
  member_map_channels_ = members_.front()->cam_channels();
}

torch::Tensor EnsembleImpl::features(const torch::Tensor& x) {
  std::vector<torch::Tensor> maps, extras;
  for (auto& m : members_) {
    torch::Tensor f = m->features(x);
    const int64_t c = member_map_channels_;
    if (c > 0 && c < f.size(1)) {
      maps.push_back(f.narrow(1, 0, c));
      extras.push_back(f.narrow(1, c, f.size(1) - c));
    } else {
      maps.push_back(f);
    }
  }
  maps.insert(maps.end(), extras.begin(), extras.end());
  return torch::cat(maps, 1);
}

torch::Tensor EnsembleImpl::classify(const torch::Tensor& f) {
  const int64_t n = static_cast<int64_t>(members_.size());
  if (f.dim() != 4) throw Error("ensemble: classify() takes a [B, C, h, w] feature map");
  const int64_t total = f.size(1);
  const int64_t c = member_map_channels_ > 0 ? member_map_channels_ : total / n;  // one member's map
  const int64_t e = (total - n * c) / n;                                          // its constant channels
  if (n * (c + e) != total)
    throw Error("ensemble: " + std::to_string(total) + " feature channels do not split over " + std::to_string(n) +
                " members");
  torch::Tensor sum;
  for (int64_t i = 0; i < n; ++i) {
    torch::Tensor own = f.narrow(1, i * c, c);
    if (e > 0) own = torch::cat({own, f.narrow(1, n * c + i * e, e)}, 1);
    torch::Tensor logits = members_[static_cast<size_t>(i)]->classify(own);
    sum = sum.defined() ? sum + logits : logits;
  }
  return sum / static_cast<double>(n);
}

std::vector<std::pair<std::string, int64_t>> EnsembleImpl::part_sizes() const {
  std::vector<std::pair<std::string, int64_t>> out;
  for (size_t i = 0; i < members_.size(); ++i)
    for (const auto& [name, count] : members_[i]->part_sizes())
      out.emplace_back("member " + std::to_string(i) + " " + name, count);
  return out;
}

std::string EnsembleImpl::backbone_prefix() const {
  throw UsageError(
      "a seed ensemble has one backbone per member: import weights into a single model, train it, then "
      "combine the checkpoints with `covscreen model ensemble`");
}

int64_t EnsembleImpl::cam_channels() const {
  return member_map_channels_ > 0 ? member_map_channels_ * static_cast<int64_t>(members_.size()) : -1;
}

ScreenModel make_ensemble_model(const ModelConfig& cfg) { return std::make_shared<EnsembleImpl>(cfg); }

Checkpoint make_ensemble(const std::vector<Checkpoint>& members, const std::vector<std::string>& files) {
  if (members.size() != files.size()) throw Error("make_ensemble: one file name per member");
  if (members.size() < 2 || members.size() > static_cast<size_t>(kMaxEnsembleMembers))
    throw UsageError("an ensemble needs 2 to " + std::to_string(kMaxEnsembleMembers) + " models (have " +
                     std::to_string(members.size()) + ")");
  const Checkpoint& first = members.front();
  const nlohmann::json first_model = first.model;
  for (size_t i = 0; i < members.size(); ++i) {
    const Checkpoint& m = members[i];
    const std::string& file = files[i];
    if (!m.net) throw Error("make_ensemble: " + file + " has no model");
    if (m.model.members != 1)
      throw FileError(
          file, "is already an ensemble (" + std::to_string(m.model.members) + " members): combine single models");
    if (i == 0) continue;
    if (const nlohmann::json j = m.model; j != first_model)
      throw FileError(
          file, "has another architecture config than " + files[0] + ": " + j.dump() + " vs " + first_model.dump());
    if (m.classes != first.classes) throw FileError(file, "has other classes than " + files[0]);
    if (const std::string d = screening_difference(m.spec, first.spec); !d.empty())
      throw FileError(file, "prepares images otherwise than " + files[0] + ": " + d);
  }

  Checkpoint e;
  e.model = first.model;
  e.model.members = static_cast<int>(members.size());
  e.classes = first.classes;
  e.spec = first.spec;
  auto ens = std::make_shared<EnsembleImpl>(e.model);
  e.net = ens;
  nlohmann::json records = nlohmann::json::array();
  double mean_logit = 0;
  for (size_t i = 0; i < members.size(); ++i) {
    const Checkpoint& m = members[i];
    StateDict sd;
    for (const auto& [name, t] : module_tensors(*m.net)) sd.emplace(name, t);
    load_module_state(*ens->members()[i], sd, files[i]);
    const double t = std::clamp(m.threshold, 1e-6, 1.0 - 1e-6);
    mean_logit += std::log(t / (1.0 - t)) / static_cast<double>(members.size());
    records.push_back({{"file", files[i]},
                       {"seed", m.training.is_object() ? m.training.value("seed", nlohmann::json()) : nlohmann::json()},
                       {"threshold", m.threshold},
                       {"threshold_rule", m.threshold_rule},
                       {"metrics", m.metrics},
                       {"training", m.training}});
  }
  e.net->eval();
  e.threshold = 1.0 / (1.0 + std::exp(-mean_logit));
  e.threshold_rule = "fixed=" + std::to_string(e.threshold);
  e.training = {{"source", "ensemble"},
                {"members", records},
                {"combine", "mean of the members' logits"},
                {"threshold",
                 "the members' thresholds averaged on the logit scale; choose the ensemble's own with "
                 "`covscreen model calibrate`"},
                {"covscreen_version", COVSCREEN_VERSION}};
  return e;
}

}  // namespace covscreen
