#pragma once
// A seed ensemble: N models of one config, each trained on its own seed, that screen as one model
// (a checkpoint whose ModelConfig::members is N). Every command takes it like any other model.
//   features(x) = the members' feature maps side by side [B, N*C, h, w] (a member's constant
//                 channels after its map, deep-cxr-net's part outputs, follow all N maps)
//   classify(f) = the mean of the members' logits on their own channels -> [B, K]
// Grad-CAM on these features is the ensemble's own: the gradient of the mean logit weights each
// member's map, so the CAM is the rectified sum of the members' CAMs / N.
// Parameter names: members.<i>.<the member's own names>.
//
//   std::vector<Checkpoint> ms;  std::vector<std::string> files = {"seed1/best.ckpt", "seed2/best.ckpt"};
//   for (const auto& f : files) ms.push_back(load_checkpoint(f));
//   Checkpoint e = make_ensemble(ms, files);  // FileError naming a member of another architecture,
//                                             // classes or preprocessing
//   save_checkpoint("ensemble.ckpt", e, /*half=*/true);
// The ensemble's threshold is the members' thresholds averaged on the logit scale, a placeholder
// to be replaced by `covscreen model calibrate` on validation data (the ensemble's scores are not
// any member's).
#include <string>
#include <vector>

#include "covscreen/models/checkpoint.h"
#include "covscreen/models/model.h"

namespace covscreen {

class EnsembleImpl : public ScreenModelImpl {
 public:
  explicit EnsembleImpl(const ModelConfig& cfg);  // cfg.members models of cfg (each with members = 1)
  torch::Tensor features(const torch::Tensor& x) override;
  torch::Tensor classify(const torch::Tensor& f) override;
  std::vector<std::pair<std::string, int64_t>> part_sizes() const override;  // "member i: <part>"
  std::string backbone_prefix() const override;  // throws UsageError: backbone weights go into one model
  int64_t cam_channels() const override;
  const std::vector<ScreenModel>& members() const { return members_; }

 private:
  std::vector<ScreenModel> members_;
  int64_t member_map_channels_ = -1;  // a member's cam_channels()
};

// The model make_model(cfg) builds for cfg.members > 1.
ScreenModel make_ensemble_model(const ModelConfig& cfg);

// One checkpoint of `members` (loaded from `files`, named in errors and in the card): the same
// architecture config, classes and screening preprocessing (core/preprocess_spec.h's
// screening_difference), single models, 2 to kMaxEnsembleMembers of them. Their weights are
// copied; the card's training record lists each member's file, seed, training record, threshold
// and validation metrics.
Checkpoint make_ensemble(const std::vector<Checkpoint>& members, const std::vector<std::string>& files);

}  // namespace covscreen
