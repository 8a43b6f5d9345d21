#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "covscreen/data/source_marks.h"
#include "covscreen/data/stage2.h"

using namespace covscreen;

namespace {
torch::Tensor random_images(int64_t b, int64_t h, int64_t w, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randint(0, 256, {b, h, w}, gen, torch::kUInt8);
}
// No rotation, translation or blur, one channel: what a test then sees is the step it tests.
Stage2Spec bare_spec() {
  Stage2Spec spec;
  spec.rotate_degrees = 0;
  spec.translate_fraction = 0;
  spec.blur_ksize = 0;
  spec.channels = 1;
  return spec;
}
}  // namespace

TEST(Stage2, KernelIsTheNormalizedGaussianOfSigma08) {
  Stage2 s2(Stage2Spec{});
  auto k = s2.blur_kernel().view({3, 3});
  // 1-D: exp(-x^2 / (2 * 0.8^2)) at x = -1, 0, 1 normalized (hand computed: e^-0.78125 = 0.4578334).
  const double side = 0.4578334 / (1 + 2 * 0.4578334), mid = 1 / (1 + 2 * 0.4578334);
  EXPECT_NEAR(k[1][1].item<double>(), mid * mid, 1e-6);
  EXPECT_NEAR(k[0][1].item<double>(), side * mid, 1e-6);
  EXPECT_NEAR(k[0][0].item<double>(), side * side, 1e-6);
  EXPECT_NEAR(k.sum().item<double>(), 1.0, 1e-6);
}

TEST(Stage2, StandardizesEachImageAndReplicatesChannels) {
  Stage2 s2(Stage2Spec{});
  auto img = random_images(3, 40, 50, 1);
  img[1].fill_(7);  // a constant image must not give NaN
  auto x = s2(img, false);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{3, 3, 40, 50}));
  EXPECT_FALSE(torch::isnan(x).any().item<bool>());
  for (int64_t i : {0, 2}) {
    EXPECT_NEAR(x[i].mean().item<double>(), 0.0, 1e-4);
    EXPECT_NEAR(x[i][0].std(false).item<double>(), 1.0, 1e-3);
  }
  EXPECT_TRUE(torch::equal(x[0][0], x[0][2]));
  EXPECT_NEAR(x[1].abs().max().item<double>(), 0.0, 1e-6);
}

TEST(Stage2, BlurMatchesAHandConvolutionInsideTheImage) {
  Stage2Spec spec;
  spec.channels = 1;
  Stage2 s2(spec);
  auto img = random_images(1, 9, 9, 2);
  auto x = s2(img, false)[0][0];
  // Undo standardization using the blurred image's own statistics: compare up to an affine map
  // by checking the ratio of differences between two interior pixels.
  auto f = img[0].to(torch::kFloat64);
  auto k = s2.blur_kernel().view({3, 3}).to(torch::kFloat64);
  auto blur_at = [&](int r, int c) {
    return (f.slice(0, r - 1, r + 2).slice(1, c - 1, c + 2) * k).sum().item<double>();
  };
  const double b1 = blur_at(3, 3), b2 = blur_at(5, 6), b3 = blur_at(4, 2);
  const double x1 = x[3][3].item<double>(), x2 = x[5][6].item<double>(), x3 = x[4][2].item<double>();
  EXPECT_NEAR((x1 - x2) / (x1 - x3), (b1 - b2) / (b1 - b3), 1e-4);
}

TEST(Stage2, AugmentationIsSeededAndOffWithoutIt) {
  Stage2 s2(Stage2Spec{});
  auto img = random_images(4, 32, 32, 3);
  auto g1 = at::detail::createCPUGenerator(11), g2 = at::detail::createCPUGenerator(11),
       g3 = at::detail::createCPUGenerator(12);
  auto a = s2(img, true, &g1), b = s2(img, true, &g2), c = s2(img, true, &g3);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::allclose(a, c));
  EXPECT_FALSE(torch::allclose(a, s2(img, false)));
}

TEST(Stage2, ZoomAndGammaDrawTwoMoreColumnsAndDoWhatTheySay) {
  Stage2Spec plain;
  EXPECT_EQ(Stage2(plain).draw_columns(), 3) << "recipes without zoom and gamma draw as before";
  auto g1 = at::detail::createCPUGenerator(5), g2 = at::detail::createCPUGenerator(5);
  EXPECT_TRUE(torch::equal(Stage2(plain).draw(4, &g1), torch::rand({4, 3}, g2) * 2 - 1));
  Stage2Spec spec = bare_spec();
  spec.scale_fraction = 0.5;
  spec.gamma_log = 0.5;
  const Stage2 s2(spec);
  ASSERT_EQ(s2.draw_columns(), 5);
  // A bright square in the middle of a dark image: zoom in (u = +1, factor 1.5) makes it larger.
  auto img = torch::full({1, 64, 64}, 20, torch::kUInt8);
  img.slice(1, 24, 40).slice(2, 24, 40).fill_(220);
  auto bright = [](const torch::Tensor& x) {  // above half-way between the darkest and the brightest
    return (x > (x.max() + x.min()) / 2).sum().item<int64_t>();
  };
  const auto none = s2.augmented(img, torch::zeros({1, 5}));
  const auto in = s2.augmented(img, torch::tensor({{0.f, 0.f, 0.f, 1.f, 0.f}}));
  const auto out = s2.augmented(img, torch::tensor({{0.f, 0.f, 0.f, -1.f, 0.f}}));
  EXPECT_EQ(bright(none), 16 * 16);
  EXPECT_NEAR(double(bright(in)), 16 * 16 * 1.5 * 1.5, 40);
  EXPECT_NEAR(double(bright(out)), 16 * 16 * 0.5 * 0.5, 20);
  // Gamma: a ramp; u = +1 is gamma e^0.5 > 1, which darkens the middle grays relative to the ends.
  auto ramp = torch::arange(0, 256, torch::kInt64).to(torch::kUInt8).view({1, 16, 16});
  auto flat = [&](const torch::Tensor& d) { return s2.augmented(ramp, d).view({-1}); };
  const auto g0 = flat(torch::zeros({1, 5})), gp = flat(torch::tensor({{0.f, 0.f, 0.f, 0.f, 1.f}}));
  // Standardized: compare the middle value's rank-preserving position between the two ends.
  auto mid = [](const torch::Tensor& x) { return ((x[128] - x[0]) / (x[255] - x[0])).item<double>(); };
  EXPECT_NEAR(mid(g0), 128.0 / 255.0, 1e-3);
  EXPECT_NEAR(mid(gp), std::pow(128.0 / 255.0, std::exp(0.5)), 1e-3);
  EXPECT_ANY_THROW(s2.augmented(img, torch::zeros({1, 3}))) << "draws of the wrong width";
}

TEST(Stage2, RejectsWrongInput) {
  Stage2 s2(Stage2Spec{});
  EXPECT_ANY_THROW(s2(torch::zeros({2, 3, 8, 8}, torch::kUInt8), false));
  EXPECT_ANY_THROW(s2(torch::zeros({2, 8, 8}, torch::kFloat32), false));
}

TEST(SourceMarks, AStrokeIsDrawnWithItsThicknessAndRoundEnds) {
  auto img = torch::zeros({64, 64});
  Mark m;
  m.strokes = {{10, 20, 50, 20}};
  m.thickness = 3;
  m.value = 255;
  draw_marks(img, {m});
  for (int64_t row : {19, 20, 21})
    EXPECT_EQ(img[row].slice(0, 10, 51).eq(255).sum().item<int64_t>(), 41) << "row " << row;
  EXPECT_EQ(img[18].sum().item<double>(), 0.0) << "distance 2 > half the thickness";
  EXPECT_EQ(img[20][9].item<float>(), 255.f) << "round end";
  EXPECT_EQ(img[20][8].item<float>(), 0.f);
  EXPECT_EQ(img.eq(255).sum().item<int64_t>(), 3 * 43);
  // A view writes through, and strokes outside the image are clipped.
  auto batch = torch::zeros({2, 1, 16, 16});
  Mark out;
  out.strokes = {{-30, -30, -20, -20}, {8, -5, 8, 40}};
  draw_marks(batch.select(0, 1).select(0, 0), {out});
  EXPECT_EQ(batch[0].sum().item<double>(), 0.0);
  EXPECT_EQ(batch[1][0].select(1, 8).eq(255).sum().item<int64_t>(), 16);
}

TEST(SourceMarks, RandomMarksAreSeededVariedAndInsideTheImage) {
  int arrows = 0, ellipses = 0, boxes = 0, labels = 0, black = 0, white = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const auto marks = random_marks(seed, 224, 200);
    ASSERT_GE(marks.size(), 1u);
    ASSERT_LE(marks.size(), 3u);
    const auto again = random_marks(seed, 224, 200);
    ASSERT_EQ(again.size(), marks.size());
    for (size_t i = 0; i < marks.size(); ++i) {
      const Mark& m = marks[i];
      ASSERT_FALSE(m.strokes.empty());
      EXPECT_EQ(again[i].strokes.front().x1, m.strokes.front().x1);
      EXPECT_GE(m.thickness, 1.5f);
      EXPECT_TRUE(m.value == 0 || (m.value >= 200 && m.value <= 255)) << m.value;
      (m.value == 0 ? black : white)++;
      const size_t n = m.strokes.size();
      // An arrow's tip and a label, circle or box's anchor lie inside the image.
      if (n == 3 && m.strokes[1].x0 == m.strokes[0].x1) {
        ++arrows;
        EXPECT_GE(m.strokes[0].x1, 0.1f * 200 - 1e-3f);
        EXPECT_LE(m.strokes[0].y1, 0.9f * 224 + 1e-3f);
      } else if (n == 24) {
        ++ellipses;
      } else if (n == 4 && m.strokes[0].y0 == m.strokes[0].y1 && m.strokes[1].x0 == m.strokes[1].x1) {
        ++boxes;
      } else {
        ++labels;
      }
    }
  }
  EXPECT_GT(arrows, 50);
  EXPECT_GT(labels, 40);
  EXPECT_GT(ellipses, 15);
  EXPECT_GT(boxes, 15);
  EXPECT_GT(black, 50);
  EXPECT_GT(white, 100);
  EXPECT_NE(random_marks(1, 224, 224).front().strokes.front().x0, random_marks(2, 224, 224).front().strokes.front().x0);
}

TEST(SourceMarks, JpegKeepsTheShapeAndBlockMeansAndLosesMoreAtLowerQuality) {
  auto gen = at::detail::createCPUGenerator(9);
  const auto img = torch::randint(64, 192, {21, 30}, gen, torch::kUInt8).to(torch::kFloat32);
  double last = -1;
  for (int quality : {100, 90, 50, 20}) {
    const auto out = jpeg_roundtrip(img, quality);
    ASSERT_EQ(out.sizes(), img.sizes());
    EXPECT_GE(out.min().item<float>(), 0.f);
    EXPECT_LE(out.max().item<float>(), 255.f);
    EXPECT_TRUE(torch::equal(out, out.round()));
    const double err = (out - img).abs().mean().item<double>();
    EXPECT_GT(err, last) << "quality " << quality;
    last = err;
    if (quality == 100) EXPECT_LT(err, 1.0);
    // DC is quantized by at most half its step (the table's 16, scaled): block means move little.
    const double dc_step = std::clamp((16 * (quality < 50 ? 5000 / quality : 200 - 2 * quality) + 50) / 100, 1, 255);
    const auto a = img.slice(0, 0, 16).slice(1, 0, 24).reshape({2, 8, 3, 8}).mean({1, 3});
    const auto b = out.slice(0, 0, 16).slice(1, 0, 24).reshape({2, 8, 3, 8}).mean({1, 3});
    EXPECT_LE((a - b).abs().max().item<double>(), dc_step / 16 + 1.5) << "quality " << quality;
  }
  EXPECT_ANY_THROW(jpeg_roundtrip(torch::zeros({2, 8, 8}), 50));
}

TEST(Stage2, AnnotationsAndJpegDrawASixthColumnAndAreSeededPerImage) {
  Stage2Spec spec = bare_spec();
  spec.annotate_probability = 1;
  const Stage2 s2(spec);
  ASSERT_EQ(s2.draw_columns(), 6);
  auto img = torch::full({3, 48, 48}, 100, torch::kUInt8);
  img[2].slice(1, 0, 24).fill_(140);
  auto d = torch::zeros({3, 6});
  d[0][5] = 0.25f;
  d[1][5] = 0.25f;
  d[2][5] = -0.5f;
  const auto out = s2.augmented(img, d);
  // Image 0 was constant: marked, it is no longer. Images 0 and 1 share a seed: the same marks.
  EXPECT_GT(out[0].std().item<double>(), 0.1);
  EXPECT_TRUE(torch::equal(out[0], out[1]));
  EXPECT_TRUE(torch::equal(out, s2.augmented(img, d)));
  d[1][5] = 0.75f;
  EXPECT_FALSE(torch::equal(out[1], s2.augmented(img, d)[1]));
  // Without the augmentation (inference), nothing is drawn.
  EXPECT_NEAR(s2(img, false)[0].abs().max().item<double>(), 0.0, 1e-6);
  // Probabilities of 0: the sixth column does nothing.
  Stage2Spec off = spec;
  off.annotate_probability = 0;
  off.jpeg_probability = 1e-9;
  const Stage2 s_off(off);
  ASSERT_EQ(s_off.draw_columns(), 6);
  EXPECT_NEAR(s_off.augmented(img, d)[0].abs().max().item<double>(), 0.0, 1e-6);
}
