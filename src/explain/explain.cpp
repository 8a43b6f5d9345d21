#include "covscreen/explain/explain.h"

#include <string>

#include "covscreen/core/error.h"

namespace covscreen {

std::vector<ExplainResult> explain_batch(ScreenModelImpl& net, const torch::Tensor& x,
                                         const std::vector<int64_t>& class_idx, CamMethod method) {
  if (!x.defined() || x.dim() != 4) throw UsageError("explain: input must be a [B, C, H, W] tensor");
  const int64_t batch = x.size(0);
  if (static_cast<int64_t>(class_idx.size()) != batch)
    throw UsageError("explain: need one class per image (" + std::to_string(batch) + "), got " +
                     std::to_string(class_idx.size()));
  const torch::Tensor target = torch::tensor(class_idx, torch::kLong);
  const CamResult cam = grad_cam(net, x, target, method);
  const torch::Tensor maps = normalize_maps(upsample_maps(cam.maps, x.size(2), x.size(3))).to(torch::kCPU);
  const torch::Tensor raw = cam.maps.to(torch::kCPU);
  const torch::Tensor logits = cam.logits.to(torch::kCPU).contiguous();
  const torch::Tensor probs = torch::sigmoid(logits).contiguous();

  std::vector<ExplainResult> out(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) {
    ExplainResult& r = out[static_cast<size_t>(b)];
    r.map = maps[b].contiguous();
    r.raw_map = raw[b].contiguous();
    const float* lp = logits[b].data_ptr<float>();
    const float* pp = probs[b].data_ptr<float>();
    r.logits.assign(lp, lp + logits.size(1));
    r.probs.assign(pp, pp + probs.size(1));
    r.class_idx = static_cast<int>(class_idx[static_cast<size_t>(b)]);
  }
  return out;
}

ExplainResult explain_image(ScreenModelImpl& net, const torch::Tensor& x1, int class_idx, CamMethod method) {
  if (!x1.defined() || x1.dim() != 4 || x1.size(0) != 1)
    throw UsageError("explain_image: input must be a [1, C, H, W] tensor");
  return explain_batch(net, x1, {class_idx}, method).front();
}

}  // namespace covscreen
