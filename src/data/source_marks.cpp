#include "covscreen/data/source_marks.h"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "covscreen/core/error.h"

namespace covscreen {
namespace F = torch::nn::functional;

uint64_t SplitMix64::next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

namespace {
// A stroke font on a 3 x 5 grid (x 0..2, y 0..4 downwards): each glyph is polylines written as
// digit pairs "xy". The letters and digits that label panels and sides in figures.
struct Glyph {
  char c;
  std::array<const char*, 3> lines;
};
constexpr Glyph kGlyphs[] = {
    {'0', {"0020240400", "2400", nullptr}},    {'1', {"011014", "0424", nullptr}},
    {'2', {"002022020424", nullptr, nullptr}}, {'3', {"00202404", "0222", nullptr}},
    {'4', {"000222", "2024", nullptr}},        {'5', {"200002222404", nullptr, nullptr}},
    {'6', {"200004242202", nullptr, nullptr}}, {'7', {"002014", nullptr, nullptr}},
    {'8', {"0020240400", "0222", nullptr}},    {'9', {"220200202404", nullptr, nullptr}},
    {'A', {"0401102124", "0222", nullptr}},    {'B', {"00102112231404", "0004", "0212"}},
    {'C', {"20000424", nullptr, nullptr}},     {'D', {"00102123140400", nullptr, nullptr}},
    {'E', {"20000424", "0212", nullptr}},      {'F', {"200004", "0212", nullptr}},
    {'H', {"0004", "2024", "0222"}},           {'L', {"000424", nullptr, nullptr}},
    {'N', {"04002420", nullptr, nullptr}},     {'P', {"0400202202", nullptr, nullptr}},
    {'R', {"0004", "00202202", "1224"}},       {'T', {"0020", "1014", nullptr}},
};
constexpr int kGlyphCount = sizeof(kGlyphs) / sizeof(kGlyphs[0]);

void add_label(Mark& m, SplitMix64& r, float x, float y, float height) {
  const float u = height / 4;
  const int n = 1 + int(r.unit() * 3);
  for (int k = 0; k < n; ++k, x += 3 * u) {
    const Glyph& g = kGlyphs[std::min(kGlyphCount - 1, int(r.unit() * kGlyphCount))];
    for (const char* line : g.lines) {
      if (!line) continue;
      for (const char* p = line; p[2] != '\0'; p += 2)
        m.strokes.push_back({x + (p[0] - '0') * u, y + (p[1] - '0') * u, x + (p[2] - '0') * u, y + (p[3] - '0') * u});
    }
  }
}

void add_arrow(Mark& m, SplitMix64& r, float tx, float ty, float length) {
  const double a = r.uniform(0, 2 * M_PI), head = length * r.uniform(0.25, 0.4), spread = 25 * M_PI / 180;
  m.strokes.push_back({float(tx - length * std::cos(a)), float(ty - length * std::sin(a)), tx, ty});
  for (double side : {-1.0, 1.0}) {
    const double b = a + M_PI + side * spread;
    m.strokes.push_back({tx, ty, float(tx + head * std::cos(b)), float(ty + head * std::sin(b))});
  }
}

void add_ellipse(Mark& m, float cx, float cy, float rx, float ry) {
  constexpr int kSides = 24;
  for (int k = 0; k < kSides; ++k) {
    const double a0 = 2 * M_PI * k / kSides, a1 = 2 * M_PI * (k + 1) / kSides;
    m.strokes.push_back({float(cx + rx * std::cos(a0)), float(cy + ry * std::sin(a0)), float(cx + rx * std::cos(a1)),
                         float(cy + ry * std::sin(a1))});
  }
}

void add_box(Mark& m, float cx, float cy, float hw, float hh) {
  const float x0 = cx - hw, x1 = cx + hw, y0 = cy - hh, y1 = cy + hh;
  m.strokes.insert(m.strokes.end(), {{x0, y0, x1, y0}, {x1, y0, x1, y1}, {x1, y1, x0, y1}, {x0, y1, x0, y0}});
}

// The standard luminance quantization table (ITU-T T.81, Annex K.1), row-major.
constexpr int kLuminance[64] = {16, 11, 10, 16, 24,  40,  51,  61,  12, 12, 14, 19, 26,  58,  60,  55,
                                14, 13, 16, 24, 40,  57,  69,  56,  14, 17, 22, 29, 51,  87,  80,  62,
                                18, 22, 37, 56, 68,  109, 103, 77,  24, 35, 55, 64, 81,  104, 113, 92,
                                49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99};
}  // namespace

std::vector<Mark> random_marks(uint64_t seed, int64_t h, int64_t w) {
  SplitMix64 r(seed);
  const float s = float(std::min(h, w));
  std::vector<Mark> marks(1 + size_t(r.unit() * 3));
  for (Mark& m : marks) {
    m.thickness = std::max(1.5f, float(s / 224.0 * r.uniform(1, 3.5)));
    m.value = r.unit() < 0.6 ? float(r.uniform(200, 255)) : 0.f;
    const double kind = r.unit();
    const float cx = float(r.uniform(0.1, 0.9) * w), cy = float(r.uniform(0.1, 0.9) * h);
    if (kind < 0.4) {
      add_arrow(m, r, cx, cy, float(s * r.uniform(0.08, 0.25)));
    } else if (kind < 0.7) {
      add_label(m, r, cx, cy, float(s * r.uniform(0.04, 0.12)));
    } else if (kind < 0.85) {
      const float rx = float(s * r.uniform(0.04, 0.18));
      add_ellipse(m, cx, cy, rx, float(rx * r.uniform(0.6, 1.4)));
    } else {
      add_box(m, cx, cy, float(s * r.uniform(0.04, 0.2)), float(s * r.uniform(0.04, 0.2)));
    }
  }
  return marks;
}

void draw_marks(const torch::Tensor& image, const std::vector<Mark>& marks) {
  if (image.dim() != 2 || image.scalar_type() != torch::kFloat32)
    throw Error("draw_marks expects a float [H, W] image");
  const int64_t h = image.size(0), w = image.size(1);
  const auto opt = torch::TensorOptions().dtype(torch::kFloat32).device(image.device());
  for (const Mark& m : marks) {
    if (m.strokes.empty()) continue;
    const float r = m.thickness / 2;
    float lo_x = std::numeric_limits<float>::max(), lo_y = lo_x, hi_x = -lo_x, hi_y = -lo_x;
    std::vector<float> seg;
    for (const Stroke& s : m.strokes) {
      lo_x = std::min({lo_x, s.x0, s.x1}), hi_x = std::max({hi_x, s.x0, s.x1});
      lo_y = std::min({lo_y, s.y0, s.y1}), hi_y = std::max({hi_y, s.y0, s.y1});
      seg.insert(seg.end(), {s.x0, s.y0, s.x1, s.y1});
    }
    // Only the pixels of the mark's bounding box (grown by its half thickness) are looked at.
    const int64_t xa = std::max<int64_t>(0, int64_t(std::floor(lo_x - r))),
                  xb = std::min<int64_t>(w, int64_t(std::ceil(hi_x + r)) + 1),
                  ya = std::max<int64_t>(0, int64_t(std::floor(lo_y - r))),
                  yb = std::min<int64_t>(h, int64_t(std::ceil(hi_y + r)) + 1);
    if (xa >= xb || ya >= yb) continue;
    const auto s = torch::tensor(seg).view({-1, 4}).to(image.device());
    const auto x0 = s.select(1, 0).view({-1, 1, 1}), y0 = s.select(1, 1).view({-1, 1, 1});
    const auto dx = s.select(1, 2).view({-1, 1, 1}) - x0, dy = s.select(1, 3).view({-1, 1, 1}) - y0;
    const auto px = torch::arange(xa, xb, opt).view({1, 1, -1}), py = torch::arange(ya, yb, opt).view({1, -1, 1});
    // Distance from each pixel centre to the nearest point of each segment.
    const auto t = (((px - x0) * dx + (py - y0) * dy) / (dx * dx + dy * dy).clamp_min(1e-6)).clamp(0, 1);
    const auto ex = px - x0 - t * dx, ey = py - y0 - t * dy;
    const auto inside = std::get<0>((ex * ex + ey * ey).min(0)) <= r * r;
    image.slice(0, ya, yb).slice(1, xa, xb).masked_fill_(inside, m.value);
  }
}

torch::Tensor jpeg_roundtrip(const torch::Tensor& image, int quality) {
  if (image.dim() != 2) throw Error("jpeg_roundtrip expects a [H, W] image");
  quality = std::clamp(quality, 1, 100);
  const int64_t h = image.size(0), w = image.size(1), ph = (8 - h % 8) % 8, pw = (8 - w % 8) % 8;
  const auto opt = torch::TensorOptions().dtype(torch::kFloat32).device(image.device());
  // 8-bit samples; partial blocks are filled by repeating the last row and column, as libjpeg does.
  auto x = image.to(torch::kFloat32).round().clamp(0, 255).view({1, 1, h, w});
  if (ph || pw) x = F::pad(x, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReplicate));
  const int64_t H = h + ph, W = w + pw;
  const auto blocks = (x.reshape({H / 8, 8, W / 8, 8}) - 128).permute({0, 2, 1, 3});  // [H/8, W/8, 8, 8]
  // Orthonormal DCT-II: C[k][n] = a(k) cos((2n + 1) k pi / 16), a(0) = sqrt(1/8), else 1/2.
  const auto k = torch::arange(8, opt).view({8, 1}), n = torch::arange(8, opt).view({1, 8});
  auto c = torch::cos((2 * n + 1) * k * (M_PI / 16)) * 0.5;
  c[0].fill_(std::sqrt(1.0 / 8));
  // libjpeg's jpeg_quality_scaling and jpeg_add_quant_table (baseline: at most 255).
  const int scale = quality < 50 ? 5000 / quality : 200 - 2 * quality;
  std::vector<float> q(64);
  for (int i = 0; i < 64; ++i) q[i] = float(std::clamp((kLuminance[i] * scale + 50) / 100, 1, 255));
  const auto qt = torch::tensor(q).view({8, 8}).to(image.device());
  auto coef = torch::matmul(torch::matmul(c, blocks), c.t());
  coef = torch::round(coef / qt) * qt;
  auto back = torch::matmul(torch::matmul(c.t(), coef), c) + 128;
  back = back.permute({0, 2, 1, 3}).reshape({H, W}).slice(0, 0, h).slice(1, 0, w);
  return back.round().clamp(0, 255);
}

}  // namespace covscreen
