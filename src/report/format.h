#pragma once
// Internal text helpers of the report module: escaping and number formatting.
#include <cstdio>
#include <optional>
#include <string>

#include "covscreen/metrics/proportion.h"

namespace covscreen::report::detail {

inline std::string escape_xml(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

inline std::string fixed(double x, int digits = 3) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

inline std::string value_ci(std::optional<double> v, std::optional<metrics::Interval> ci, int digits = 3) {
  if (!v) return "n/a";
  std::string s = fixed(*v, digits);
  if (ci) s += " (" + fixed(ci->lo, digits) + "–" + fixed(ci->hi, digits) + ")";
  return s;
}

// "0.870 (0.827–0.903)\n261/300": the line break is a space in Markdown, <br> in HTML.
inline std::string proportion(const metrics::Proportion& p) {
  if (!p.defined()) return "n/a";
  return fixed(p.value) + " (" + fixed(p.ci.lo) + "–" + fixed(p.ci.hi) + ")\n" + std::to_string(p.k) + "/" +
         std::to_string(p.n);
}

inline std::string opt(std::optional<double> v, int digits = 3) { return v ? fixed(*v, digits) : "n/a"; }

}  // namespace covscreen::report::detail
