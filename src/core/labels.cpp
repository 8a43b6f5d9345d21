#include "covscreen/core/labels.h"

#include <algorithm>
#include <cctype>

namespace covscreen {
std::string lower_trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  std::string out = s.substr(a, b - a);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

namespace {
bool contains(const std::string& s, const char* w) { return s.find(w) != std::string::npos; }
}  // namespace

std::string canonical_label(const std::string& original) {
  const std::string s = lower_trim(original);
  if (s.empty()) return s;
  // "non-covid" style names first: they contain "covid" too.
  if (contains(s, "noncovid") || contains(s, "non-covid") || contains(s, "non_covid") || contains(s, "non covid") ||
      s == "ct_noncovid")
    return kNonCovid;
  if (contains(s, "covid") || s == "cov" || contains(s, "sars-cov-2") || contains(s, "sars_cov_2")) return kCovid;
  if (s == "normal" || s == "nor" || contains(s, "no finding") || s == "no_finding" || s == "healthy") return kNormal;
  if (contains(s, "pneumonia") || s == "pna" || s == "cap" || s == "viral" || s == "bacterial" || s == "bacteria" ||
      s == "virus" || s == "sars" || s == "mers" || s == "ards")
    return kPneumonia;
  return s;
}

int class_index(const std::vector<std::string>& classes, const std::string& label) {
  const std::string want = canonical_label(label);
  for (size_t i = 0; i < classes.size(); ++i)
    if (canonical_label(classes[i]) == want) return static_cast<int>(i);
  // A two-way covid / non-covid model takes any known non-COVID label as non-covid.
  if (want == kPneumonia || want == kNormal) {
    for (size_t i = 0; i < classes.size(); ++i)
      if (canonical_label(classes[i]) == kNonCovid) return static_cast<int>(i);
  }
  return -1;
}

int covid_index(const std::vector<std::string>& classes) {
  for (size_t i = 0; i < classes.size(); ++i)
    if (canonical_label(classes[i]) == kCovid) return static_cast<int>(i);
  return -1;
}

}  // namespace covscreen
