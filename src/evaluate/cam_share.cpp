#include "cam_share.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <opencv2/core.hpp>

#include "covscreen/core/error.h"
#include "covscreen/core/progress.h"
#include "covscreen/data/stage2.h"
#include "covscreen/explain/explain.h"
#include "covscreen/preprocess/lung_region.h"
#include "covscreen/screen/study.h"

namespace covscreen {

std::vector<double> cam_lung_shares(const Checkpoint& ck, const torch::Tensor& stage1, int cls, Progress* progress) {
  const Stage2 stage2(ck.spec.stage2);
  // The lung finder of the model's crop; without one, the one for the model's kind of image.
  const LungMethod method = ck.spec.stage1.lungs.enabled                             ? ck.spec.stage1.lungs.method
                            : resolve_kind(StudyKind::kAuto, ck) == StudyKind::kXray ? LungMethod::kXray
                                                                                     : LungMethod::kCt;
  const int64_t n = stage1.size(0), s = stage1.size(1);
  constexpr int64_t kBatch = 8;
  std::vector<double> out;
  out.reserve(size_t(n));
  for (int64_t at = 0; at < n; at += kBatch) {
    const int64_t m = std::min(kBatch, n - at);
    const torch::Tensor u8 = stage1.slice(0, at, at + m).contiguous();
    const std::vector<ExplainResult> ex =
        explain_batch(*ck.net, stage2(u8, /*augment=*/false), std::vector<int64_t>(size_t(m), cls));
    for (int64_t j = 0; j < m; ++j) {
      cv::Mat gray(static_cast<int>(s), static_cast<int>(s), CV_8UC1, u8[j].data_ptr<uint8_t>());
      const LungRegion lungs = find_lungs(gray, method);
      if (lungs.fraction < kMinLungFraction) {
        out.push_back(std::numeric_limits<double>::quiet_NaN());
        continue;
      }
      // explain_batch gives the map at the model input's size, which is the stage-1 size here.
      const torch::Tensor map = ex[size_t(j)].map.to(torch::kFloat).contiguous();
      if (map.dim() != 2 || map.size(0) != s || map.size(1) != s)
        throw Error("Grad-CAM map of shape " + std::to_string(map.size(0)) + "x" + std::to_string(map.size(1)) +
                    ", expected " + std::to_string(s) + "x" + std::to_string(s));
      const cv::Mat cam(static_cast<int>(s), static_cast<int>(s), CV_32FC1, map.data_ptr<float>());
      const double total = cv::sum(cam)[0];
      cv::Mat mask;
      lungs.mask.convertTo(mask, CV_32F, 1.0 / 255.0);
      const double inside = cv::sum(cam.mul(mask))[0];
      out.push_back(total > 0 ? inside / total : -1.0);
    }
    if (progress) progress->advance(size_t(m));
  }
  return out;
}

}  // namespace covscreen
