// Grouped bar chart (see svg.h). 640 px wide at most 12 categories, wider beyond.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "covscreen/core/error.h"
#include "covscreen/report/svg.h"
#include "format.h"

namespace covscreen::report {
namespace {

using detail::escape_xml;
using detail::fixed;

constexpr const char* kBarPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"};

// A "nice" axis maximum >= v (1, 2, 5 x 10^k) and its tick step.
void nice_axis(double v, double* top, double* step) {
  if (v <= 0) v = 1;
  const double mag = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= v) {
      *top = m * mag;
      break;
    }
  *step = *top / 5;
}

}  // namespace

std::string bar_chart_svg(const std::vector<std::string>& categories, const std::vector<BarSeries>& series,
                          const std::string& title, const std::string& x_label, const std::string& y_label) {
  const size_t K = categories.size(), S = series.size();
  double vmax = 0;
  for (const auto& s : series) {
    if (s.values.size() != K)
      throw Error("bar_chart_svg: series '" + s.name + "' has " + std::to_string(s.values.size()) + " values for " +
                  std::to_string(K) + " categories");
    for (double v : s.values) vmax = std::max(vmax, v);
  }
  double top = 1, step = 0.2;
  nice_axis(vmax, &top, &step);
  const double left = 64, right = 24, head = 56, legend = S > 1 ? 22.0 * double(S) : 0.0;
  const double group_w = K ? std::max(40.0, 560.0 / double(K)) : 40.0;
  const double plot_w = group_w * double(std::max<size_t>(K, 1)), plot_h = 300;
  const double width = left + plot_w + right, height = head + legend + plot_h + 64;
  const double y0 = head + legend + plot_h;  // the x axis
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << fixed(width, 0) << "\" height=\"" << fixed(height, 0)
    << "\" viewBox=\"0 0 " << fixed(width, 0) << " " << fixed(height, 0)
    << "\" font-family=\"Helvetica, Arial, sans-serif\">\n";
  o << "<title>" << escape_xml(title) << "</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  o << "<text x=\"" << fixed(width / 2, 1)
    << "\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\" "
    << "fill=\"#222\">" << escape_xml(title) << "</text>\n";
  for (size_t s = 0; s < S && S > 1; ++s) {
    const double y = head + 22.0 * double(s);
    o << "<rect x=\"" << fixed(left, 1) << "\" y=\"" << fixed(y - 11, 1) << "\" width=\"14\" height=\"14\" fill=\""
      << kBarPalette[s % 7] << "\"/><text x=\"" << fixed(left + 20, 1) << "\" y=\"" << fixed(y + 1, 1)
      << "\" font-size=\"13\" fill=\"#222\">" << escape_xml(series[s].name) << "</text>\n";
  }
  for (double t = 0; t <= top + 1e-9; t += step) {
    const double y = y0 - plot_h * t / top;
    o << "<line x1=\"" << fixed(left, 1) << "\" y1=\"" << fixed(y, 1) << "\" x2=\"" << fixed(left + plot_w, 1)
      << "\" y2=\"" << fixed(y, 1) << "\" stroke=\"#e5e5e5\"/><text x=\"" << fixed(left - 6, 1) << "\" y=\""
      << fixed(y + 4, 1) << "\" text-anchor=\"end\" font-size=\"11\" fill=\"#444\">"
      << (step < 1 ? fixed(t, 1) : fixed(t, 0)) << "</text>\n";
  }
  const double bar_w = (group_w - 12) / double(std::max<size_t>(S, 1));
  for (size_t k = 0; k < K; ++k) {
    const double gx = left + group_w * double(k) + 6;
    for (size_t s = 0; s < S; ++s) {
      const double v = series[s].values[k], h = plot_h * v / top, x = gx + bar_w * double(s);
      o << "<rect x=\"" << fixed(x, 1) << "\" y=\"" << fixed(y0 - h, 1) << "\" width=\"" << fixed(bar_w - 1, 1)
        << "\" height=\"" << fixed(h, 1) << "\" fill=\"" << kBarPalette[s % 7] << "\"><title>"
        << escape_xml(series[s].name + ", " + categories[k] + ": " + fixed(v, 0)) << "</title></rect>\n";
      if (v > 0)
        o << "<text x=\"" << fixed(x + bar_w / 2, 1) << "\" y=\"" << fixed(y0 - h - 3, 1)
          << "\" text-anchor=\"middle\" font-size=\"10\" fill=\"#222\">" << fixed(v, 0) << "</text>\n";
    }
    o << "<text x=\"" << fixed(gx + (group_w - 12) / 2, 1) << "\" y=\"" << fixed(y0 + 16, 1)
      << "\" text-anchor=\"middle\" font-size=\"11\" fill=\"#333\">" << escape_xml(categories[k]) << "</text>\n";
  }
  o << "<line x1=\"" << fixed(left, 1) << "\" y1=\"" << fixed(y0, 1) << "\" x2=\"" << fixed(left + plot_w, 1)
    << "\" y2=\"" << fixed(y0, 1) << "\" stroke=\"#222\"/>\n";
  o << "<text x=\"" << fixed(left + plot_w / 2, 1) << "\" y=\"" << fixed(y0 + 40, 1)
    << "\" text-anchor=\"middle\" font-size=\"13\" fill=\"#222\">" << escape_xml(x_label) << "</text>\n";
  o << "<text transform=\"translate(18 " << fixed(y0 - plot_h / 2, 1)
    << ") rotate(-90)\" text-anchor=\"middle\" font-size=\"13\" fill=\"#222\">" << escape_xml(y_label) << "</text>\n";
  o << "</svg>\n";
  return o.str();
}

}  // namespace covscreen::report
