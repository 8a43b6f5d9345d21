#pragma once
// Marks of where an image came from, made at random so that a model cannot learn them
// (Stage2Spec::annotate_probability and jpeg_probability; stage 2 applies them in training):
//   - synthetic annotations: arrows, labels of 1-3 letters or digits (a stroke font), circles
//     and boxes, drawn with torch ops (any device) as thick line segments;
//   - JPEG re-compression: the lossy step of baseline JPEG for a gray image (level shift, 8x8
//     orthonormal DCT, quantization by the standard luminance table scaled for `quality` as
//     libjpeg does, inverse DCT, rounding), also in torch ops. (Entropy coding is lossless.)
// Everything is drawn from a 64-bit seed, so a sample is marked the same wherever it is trained.
//
//   SplitMix64 rng(seed);
//   draw_marks(image, random_marks(rng.next(), h, w));   // image: float [H, W], 0..255
//   image = jpeg_roundtrip(image, 50);
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace covscreen {

// Small, fast and the same on every platform (std:: distributions are not).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next();
  double unit() { return double(next() >> 11) * 0x1.0p-53; }  // uniform in [0, 1)
  double uniform(double a, double b) { return a + (b - a) * unit(); }

 private:
  uint64_t state_;
};

struct Stroke {
  float x0, y0, x1, y1;  // pixel coordinates (column, row)
};

struct Mark {
  std::vector<Stroke> strokes;
  float thickness = 1;  // pixels
  float value = 255;    // gray level drawn
};

// 1-3 marks for an h x w image: arrows pointing anywhere, labels, circles, boxes; white (a gray
// level in [200, 255]) or black; sizes relative to the image.
std::vector<Mark> random_marks(uint64_t seed, int64_t h, int64_t w);

// Draws the marks into `image` (float [H, W], any device; a view writes through), in place.
void draw_marks(const torch::Tensor& image, const std::vector<Mark>& marks);

// image: float [H, W] with values in [0, 255]; quality in [1, 100]. Returns the decoded image.
torch::Tensor jpeg_roundtrip(const torch::Tensor& image, int quality);

}  // namespace covscreen
