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

// Linear blend from #f7fbff to #08306b (the ends of ColorBrewer "Blues"), t in [0, 1].
std::string shade(double t) {
  const int a[3] = {0xf7, 0xfb, 0xff}, b[3] = {0x08, 0x30, 0x6b};
  char buf[8];
  int c[3];
  for (int i = 0; i < 3; ++i) c[i] = static_cast<int>(std::lround(a[i] + (b[i] - a[i]) * t));
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c[0], c[1], c[2]);
  return buf;
}

}  // namespace

std::string confusion_svg(const std::vector<std::vector<long>>& matrix, const std::vector<std::string>& names,
                          const std::string& title) {
  const size_t K = names.size();
  if (K == 0 || matrix.size() != K)
    throw Error("confusion_svg: " + std::to_string(matrix.size()) + " rows for " + std::to_string(K) + " classes");
  for (const auto& r : matrix)
    if (r.size() != K)
      throw Error("confusion_svg: a row has " + std::to_string(r.size()) + " columns, expected " + std::to_string(K));
  size_t longest = 4;
  for (const auto& n : names) longest = std::max(longest, n.size());
  const double cell = std::clamp(420.0 / static_cast<double>(K), 56.0, 110.0);
  const double label_w = 16 + 7.2 * static_cast<double>(std::min<size_t>(longest, 28));
  const double left = 36 + label_w, top = 78;
  const double width = std::max(left + cell * K + 24, 320.0), height = top + cell * K + 58;
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height << "\" viewBox=\"0 0 "
    << width << " " << height << "\" font-family=\"Helvetica, Arial, sans-serif\">\n";
  o << "<title>" << escape_xml(title) << "</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  o << "<text x=\"" << width / 2
    << "\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\" fill=\"#222\">" << escape_xml(title)
    << "</text>\n";
  o << "<text x=\"" << left + cell * K / 2 << "\" y=\"" << top - 32
    << "\" text-anchor=\"middle\" font-size=\"13\" fill=\"#222\">Predicted class</text>\n";
  o << "<text transform=\"translate(16 " << top + cell * K / 2
    << ") rotate(-90)\" text-anchor=\"middle\" font-size=\"13\" fill=\"#222\">True class</text>\n";
  const double name_size = std::min(13.0, cell / 5.5);
  for (size_t k = 0; k < K; ++k) {
    o << "<text x=\"" << left + cell * (k + 0.5) << "\" y=\"" << top - 10 << "\" text-anchor=\"middle\" font-size=\""
      << fixed(name_size, 1) << "\" fill=\"#333\">" << escape_xml(names[k]) << "</text>\n";
    o << "<text x=\"" << left - 8 << "\" y=\"" << top + cell * (k + 0.5) + 4 << "\" text-anchor=\"end\" font-size=\""
      << fixed(name_size, 1) << "\" fill=\"#333\">" << escape_xml(names[k]) << "</text>\n";
  }
  for (size_t i = 0; i < K; ++i) {
    long row = 0;
    for (long v : matrix[i]) row += v;
    for (size_t j = 0; j < K; ++j) {
      const double share = row > 0 ? static_cast<double>(matrix[i][j]) / static_cast<double>(row) : 0.0;
      const double x = left + cell * j, y = top + cell * i;
      const char* ink = share > 0.5 ? "#ffffff" : "#111111";
      o << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << cell << "\" height=\"" << cell << "\" fill=\""
        << shade(share) << "\" stroke=\"#ffffff\" stroke-width=\"2\"/>\n";
      o << "<text x=\"" << x + cell / 2 << "\" y=\"" << y + cell / 2 + 2 << "\" text-anchor=\"middle\" font-size=\""
        << fixed(std::min(20.0, cell / 3.6), 1) << "\" font-weight=\"bold\" fill=\"" << ink << "\">" << matrix[i][j]
        << "</text>\n";
      if (row > 0)
        o << "<text x=\"" << x + cell / 2 << "\" y=\"" << y + cell / 2 + 19 << "\" text-anchor=\"middle\" font-size=\""
          << fixed(std::min(12.0, cell / 6), 1) << "\" fill=\"" << ink << "\">" << fixed(100 * share, 1)
          << "%</text>\n";
    }
  }
  o << "<text x=\"" << left << "\" y=\"" << height - 14
    << "\" font-size=\"11\" fill=\"#555\">Counts; % of the true class (row); shade = row share</text>\n";
  o << "</svg>\n";
  return o.str();
}

}  // namespace covscreen::report
