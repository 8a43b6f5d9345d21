#include "covscreen/data/stage2.h"

#include <torch/torch.h>

#include <cmath>

#include "covscreen/core/error.h"
#include "covscreen/data/source_marks.h"

namespace covscreen {
namespace F = torch::nn::functional;

namespace {
// Normalized 1-D Gaussian of size k, as cv::getGaussianKernel(k, sigma).
torch::Tensor gaussian_1d(int k, double sigma) {
  auto x = torch::arange(k, torch::kFloat64) - (k - 1) / 2.0;
  auto g = torch::exp(-(x * x) / (2.0 * sigma * sigma));
  return (g / g.sum()).to(torch::kFloat32);
}
}  // namespace

Stage2::Stage2(const Stage2Spec& spec) : spec_(spec) {
  if (spec_.blur_ksize > 0) {
    auto g = gaussian_1d(spec_.blur_ksize, spec_.blur_sigma);
    kernel_ = torch::outer(g, g).view({1, 1, spec_.blur_ksize, spec_.blur_ksize});
  }
}

int64_t Stage2::draw_columns() const {
  if (spec_.annotate_probability > 0 || spec_.jpeg_probability > 0) return 6;
  return spec_.scale_fraction > 0 || spec_.gamma_log > 0 ? 5 : 3;
}

void Stage2::mark_sources(const torch::Tensor& x, const torch::Tensor& seeds) const {
  const auto u = seeds.to(torch::kCPU, torch::kFloat32).contiguous();
  for (int64_t i = 0; i < x.size(0); ++i) {
    // A draw in [-1, 1) has 24 bits of mantissa: a seed per image, whichever batch it is in.
    SplitMix64 r(uint64_t((double(u[i].item<float>()) + 1) * 0.5 * double(1 << 24)));
    const bool annotate = r.unit() < spec_.annotate_probability, jpeg = r.unit() < spec_.jpeg_probability;
    const int quality = 20 + int(r.unit() * 71);  // [20, 90]
    const uint64_t marks_seed = r.next();
    auto image = x.select(0, i).select(0, 0);  // a view: drawn in place
    if (annotate) draw_marks(image, random_marks(marks_seed, image.size(0), image.size(1)));
    if (jpeg) image.copy_(jpeg_roundtrip(image, quality));
  }
}

torch::Tensor Stage2::draw(int64_t n, at::Generator* gen) const {
  c10::optional<at::Generator> g;
  if (gen) g = *gen;
  return torch::rand({n, draw_columns()}, g, torch::TensorOptions().dtype(torch::kFloat32)) * 2 - 1;
}

torch::Tensor Stage2::operator()(const torch::Tensor& images, bool augment, at::Generator* gen) const {
  if (!augment) return apply(images, nullptr);
  const auto u = draw(images.dim() > 0 ? images.size(0) : 0, gen);
  return apply(images, &u);
}

torch::Tensor Stage2::augmented(const torch::Tensor& images, const torch::Tensor& draws) const {
  if (draws.dim() != 2 || draws.size(1) != draw_columns() || images.dim() < 1 || draws.size(0) != images.size(0))
    throw Error("stage 2: augmentation draws must be [B, " + std::to_string(draw_columns()) + "] for B images");
  return apply(images, &draws);
}

torch::Tensor Stage2::apply(const torch::Tensor& images, const torch::Tensor* draws) const {
  if (images.dim() != 3 || images.scalar_type() != torch::kUInt8)
    throw Error("stage 2 expects uint8 images [B, H, W], got " + std::to_string(images.dim()) + "-d " +
                std::string(c10::toString(images.scalar_type())));
  const int64_t b = images.size(0);
  auto x = images.to(torch::kFloat32).unsqueeze(1);  // [B, 1, H, W]

  const bool extra = draws && draws->size(1) >= 5;
  if (draws && draws->size(1) == 6) mark_sources(x, draws->select(1, 5));
  if (draws && (spec_.rotate_degrees > 0 || spec_.translate_fraction > 0 || spec_.scale_fraction > 0)) {
    const auto u = draws->to(torch::kCPU, torch::kFloat32);  // uniform in [-1, 1): angle, tx, ty[, zoom]
    auto angle = u.select(1, 0) * (spec_.rotate_degrees * M_PI / 180.0);
    // Normalized coordinates span 2 units over the image: a shift of t * size is 2t.
    auto tx = u.select(1, 1) * (2.0 * spec_.translate_fraction);
    auto ty = u.select(1, 2) * (2.0 * spec_.translate_fraction);
    // The grid maps output to input coordinates: zoom z in shows 1/z of the image.
    auto inv_zoom = extra ? 1.0 / (1.0 + u.select(1, 3) * spec_.scale_fraction) : torch::ones_like(angle);
    auto c = torch::cos(angle) * inv_zoom, s = torch::sin(angle) * inv_zoom;
    auto theta = torch::stack({torch::stack({c, -s, tx}, 1), torch::stack({s, c, ty}, 1)}, 1).to(x.device());
    auto grid = F::affine_grid(theta, {b, 1, x.size(2), x.size(3)}, /*align_corners=*/false);
    x = F::grid_sample(
        x, grid, F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kZeros).align_corners(false));
  }

  if (extra && spec_.gamma_log > 0) {  // (a linear contrast change would be undone by step 3)
    const auto gamma = torch::exp(draws->select(1, 4).to(x.device(), torch::kFloat32) * spec_.gamma_log);
    x = (x / 255.0).clamp(0, 1).pow(gamma.view({b, 1, 1, 1})) * 255.0;
  }

  if (kernel_.defined()) {
    const int64_t p = spec_.blur_ksize / 2;
    x = F::pad(x, F::PadFuncOptions({p, p, p, p}).mode(torch::kReflect));  // = OpenCV BORDER_REFLECT_101
    x = F::conv2d(x, kernel_.to(x.device()));
  }

  auto flat = x.view({b, -1});
  auto mean = flat.mean(1).view({b, 1, 1, 1});
  auto std = flat.std(1, /*unbiased=*/false).clamp_min(1e-6).view({b, 1, 1, 1});
  x = (x - mean) / std;
  if (spec_.channels > 1) x = x.expand({b, spec_.channels, x.size(2), x.size(3)}).contiguous();
  return x;
}

}  // namespace covscreen
