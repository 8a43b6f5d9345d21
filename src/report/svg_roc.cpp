#include <algorithm>
#include <cmath>
#include <sstream>

#include "covscreen/report/svg.h"
#include "format.h"

namespace covscreen::report {
namespace {

using detail::escape_xml;
using detail::fixed;

// Okabe & Ito (2008) colour-blind safe palette, yellow left out (too light on white).
constexpr const char* kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"};
constexpr int kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);
constexpr const char* kDashes[] = {"", "7 4", "2 3"};  // after the palette runs out

// Geometry (px).
constexpr double kWidth = 560, kHeight = 540;
constexpr double kLeft = 72, kTop = 48, kSize = 440;  // square plot area

double px(double x) { return kLeft + x * kSize; }
double py(double y) { return kTop + (1 - y) * kSize; }

// Indices of the points left after removing interior points that lie on the segment between
// their neighbours (ROC curves with many samples are mostly straight runs).
std::vector<size_t> simplify(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<size_t> keep;
  for (size_t i = 0; i < x.size(); ++i) {
    if (keep.size() >= 2) {
      const size_t a = keep[keep.size() - 2], b = keep.back();
      const double cross = (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a]);
      const bool forward = (x[i] - x[b]) * (x[b] - x[a]) >= 0 && (y[i] - y[b]) * (y[b] - y[a]) >= 0;
      if (std::fabs(cross) < 1e-12 && forward)
        keep.back() = i;
      else
        keep.push_back(i);
    } else {
      keep.push_back(i);
    }
  }
  return keep;
}

std::string legend_text(const RocSeries& s) {
  std::string t = s.name + "   ";
  if (!s.auc) return t + "AUC undefined";
  t += "AUC " + fixed(*s.auc);
  if (s.auc_ci) t += " (" + fixed(s.auc_ci->lo) + "–" + fixed(s.auc_ci->hi) + ")";
  return t;
}

}  // namespace

RocSeries roc_series(const std::string& name, const metrics::LevelMetrics& level) {
  RocSeries s;
  s.name = name;
  s.fpr = level.roc.fpr;
  s.tpr = level.roc.tpr;
  s.auc = level.auc;
  s.auc_ci = level.auc_ci;
  return s;
}

std::string roc_svg(const std::vector<RocSeries>& series, const std::string& title) {
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight
    << "\" viewBox=\"0 0 " << kWidth << " " << kHeight << "\" font-family=\"Helvetica, Arial, sans-serif\">\n";
  o << "<title>" << escape_xml(title) << "</title>\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  o << "<text x=\"" << px(0.5)
    << "\" y=\"28\" text-anchor=\"middle\" font-size=\"17\" font-weight=\"bold\" "
       "fill=\"#222\">"
    << escape_xml(title) << "</text>\n";
  // Grid every 0.1, ticks and labels every 0.2.
  o << "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n";
  for (int i = 1; i < 10; ++i) {
    const double v = i / 10.0;
    o << "<line x1=\"" << px(v) << "\" y1=\"" << py(0) << "\" x2=\"" << px(v) << "\" y2=\"" << py(1) << "\"/>"
      << "<line x1=\"" << px(0) << "\" y1=\"" << py(v) << "\" x2=\"" << px(1) << "\" y2=\"" << py(v) << "\"/>\n";
  }
  o << "</g>\n<g font-size=\"12\" fill=\"#333\">\n";
  for (int i = 0; i <= 5; ++i) {
    const double v = i / 5.0;
    const std::string label = fixed(v, 1);
    o << "<line x1=\"" << px(v) << "\" y1=\"" << py(0) << "\" x2=\"" << px(v) << "\" y2=\"" << py(0) + 5
      << "\" stroke=\"#333\"/>"
      << "<text x=\"" << px(v) << "\" y=\"" << py(0) + 19 << "\" text-anchor=\"middle\">" << label << "</text>"
      << "<line x1=\"" << px(0) - 5 << "\" y1=\"" << py(v) << "\" x2=\"" << px(0) << "\" y2=\"" << py(v)
      << "\" stroke=\"#333\"/>"
      << "<text x=\"" << px(0) - 9 << "\" y=\"" << py(v) + 4 << "\" text-anchor=\"end\">" << label << "</text>\n";
  }
  o << "</g>\n";
  o << "<rect x=\"" << px(0) << "\" y=\"" << py(1) << "\" width=\"" << kSize << "\" height=\"" << kSize
    << "\" fill=\"none\" stroke=\"#333\" stroke-width=\"1\"/>\n";
  o << "<text x=\"" << px(0.5) << "\" y=\"" << py(0) + 42
    << "\" text-anchor=\"middle\" font-size=\"13\" fill=\"#222\">False positive rate (1 − specificity)</text>\n";
  o << "<text transform=\"translate(" << px(0) - 46 << " " << py(0.5)
    << ") rotate(-90)\" text-anchor=\"middle\" font-size=\"13\" fill=\"#222\">True positive rate "
       "(sensitivity)</text>\n";
  // Chance line.
  o << "<line x1=\"" << px(0) << "\" y1=\"" << py(0) << "\" x2=\"" << px(1) << "\" y2=\"" << py(1)
    << "\" stroke=\"#888\" stroke-width=\"1.2\" stroke-dasharray=\"5 5\"/>\n";
  // Curves.
  for (size_t s = 0; s < series.size(); ++s) {
    const RocSeries& r = series[s];
    if (r.fpr.empty() || r.fpr.size() != r.tpr.size()) continue;
    const char* colour = kPalette[s % kPaletteSize];
    const char* dash = kDashes[(s / kPaletteSize) % 3];
    o << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"2.4\" stroke-linejoin=\"round\"";
    if (*dash) o << " stroke-dasharray=\"" << dash << "\"";
    o << " points=\"";
    for (size_t i : simplify(r.fpr, r.tpr)) {
      const double x = std::clamp(r.fpr[i], 0.0, 1.0), y = std::clamp(r.tpr[i], 0.0, 1.0);
      o << fixed(px(x), 2) << "," << fixed(py(y), 2) << " ";
    }
    o << "\"><title>" << escape_xml(legend_text(r)) << "</title></polyline>\n";
  }
  // Legend, lower right inside the plot (where ROC curves rarely go).
  size_t longest = 11;  // "Chance line"
  for (const RocSeries& r : series) longest = std::max(longest, legend_text(r).size());
  const double row = 20, box_w = std::min(kSize - 16, 40 + 6.6 * static_cast<double>(longest));
  const double box_h = 12 + row * static_cast<double>(series.size() + 1);
  const double bx = px(1) - 8 - box_w, by = py(0) - 8 - box_h;
  o << "<g font-size=\"12\" fill=\"#222\">\n<rect x=\"" << bx << "\" y=\"" << by << "\" width=\"" << box_w
    << "\" height=\"" << box_h << "\" fill=\"#ffffff\" fill-opacity=\"0.92\" stroke=\"#bbb\" rx=\"3\"/>\n";
  for (size_t s = 0; s <= series.size(); ++s) {
    const double y = by + 16 + row * static_cast<double>(s);
    if (s < series.size()) {
      const char* dash = kDashes[(s / kPaletteSize) % 3];
      o << "<line x1=\"" << bx + 8 << "\" y1=\"" << y - 4 << "\" x2=\"" << bx + 30 << "\" y2=\"" << y - 4
        << "\" stroke=\"" << kPalette[s % kPaletteSize] << "\" stroke-width=\"3\"";
      if (*dash) o << " stroke-dasharray=\"" << dash << "\"";
      o << "/><text x=\"" << bx + 36 << "\" y=\"" << y << "\" xml:space=\"preserve\">"
        << escape_xml(legend_text(series[s])) << "</text>\n";
    } else {
      o << "<line x1=\"" << bx + 8 << "\" y1=\"" << y - 4 << "\" x2=\"" << bx + 30 << "\" y2=\"" << y - 4
        << "\" stroke=\"#888\" stroke-width=\"1.2\" stroke-dasharray=\"5 5\"/><text x=\"" << bx + 36 << "\" y=\"" << y
        << "\" fill=\"#555\">Chance line</text>\n";
    }
  }
  o << "</g>\n</svg>\n";
  return o.str();
}

}  // namespace covscreen::report
