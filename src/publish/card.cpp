#include "covscreen/publish/card.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "covscreen/data/stats.h"
#include "covscreen/report/svg.h"

namespace covscreen::publish {
namespace {

using nlohmann::json;

const char* const kAgeBins[] = {"0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90+"};
const char* const kSexes[] = {"F", "M", "O", ""};

std::string cls(const std::string& label) { return label.empty() ? "unlabelled" : label; }
std::string sex_name(const std::string& s) { return s.empty() ? "unknown" : s; }

struct MinMax {
  int lo = 0, hi = 0;
  bool any = false;
  void add(int v) {
    lo = any ? std::min(lo, v) : v;
    hi = any ? std::max(hi, v) : v;
    any = true;
  }
  json to_json() const { return any ? json{{"min", lo}, {"max", hi}} : json(nullptr); }
};

std::string fmt1(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

}  // namespace

std::string age_bin(int age) {
  if (age < 0) return "unknown";
  return kAgeBins[std::min(age / 10, 9)];
}

DatasetCard make_card(const Manifest& m, const std::vector<PatientRecord>& patients,
                      const std::vector<ImageRecord>& images, const CardInfo& info, const json& build,
                      const json& deid) {
  DatasetCard card;
  const DatasetStats st = compute_stats(m);
  std::vector<std::string> classes;
  for (const auto& c : st.classes) classes.push_back(cls(c));

  // Demographics per class (patients).
  std::map<std::string, std::map<std::string, size_t>> age_by_class, sex_by_class;
  std::map<std::string, std::map<std::string, size_t>> site_patients;  // site -> class -> patients
  size_t ages_known = 0, sexes_known = 0;
  double age_sum = 0;
  MinMax age_range;
  for (const auto& p : patients) {
    const std::string c = cls(p.label);
    if (p.age >= 0) {
      ++age_by_class[c][age_bin(p.age)];
      ++ages_known;
      age_sum += p.age;
      age_range.add(std::min(p.age, 90));
    }
    if (!p.sex.empty()) ++sexes_known;
    ++sex_by_class[c][sex_name(p.sex)];
    ++site_patients[p.site.empty() ? "unknown" : p.site][c];
  }
  json age = {{"patients_with_age", ages_known},
              {"patients_without_age", patients.size() - ages_known},
              {"bins", json::object()}};
  if (ages_known) {
    age["range_years"] = age_range.to_json();
    age["mean_years"] = std::round(10.0 * age_sum / double(ages_known)) / 10.0;
  }
  for (const auto& [c, bins] : age_by_class) age["bins"][c] = bins;
  json sex = json::object();
  for (const auto& [c, counts] : sex_by_class) sex[c] = counts;
  json sites = json::object();
  for (const auto& [s, counts] : site_patients) sites[s] = counts;

  // Images.
  MinMax w, h;
  std::map<std::string, size_t> sizes, depths, channels, formats;
  for (const auto& im : images) {
    w.add(im.width);
    h.add(im.height);
    ++sizes[std::to_string(im.width) + "x" + std::to_string(im.height)];
    ++depths[std::to_string(im.bit_depth)];
    ++channels[std::to_string(im.channels)];
    ++formats[im.source_format];
  }
  json img = {{"count", images.size()},     {"width", w.to_json()},
              {"height", h.to_json()},      {"sizes", sizes},
              {"source_bit_depth", depths}, {"source_channels", channels},
              {"source_formats", formats},  {"output", {{"bit_depth", 8}, {"channels", 1}}}};

  card.json = {{"name", info.name},
               {"description", info.description},
               {"licence", info.licence},
               {"provenance", info.provenance},
               {"citation", info.citation},
               {"created_by", "covscreen dataset build " COVSCREEN_VERSION},
               {"layout", "<split>/<class>/<patient pseudonym>/<slice>; manifest.csv lists every image"},
               {"counts", stats_to_json(st)},
               {"demographics", {{"age", age}, {"sex", sex}}},
               {"sites", sites},
               {"images", img},
               {"build", build},
               {"deidentification", deid}};

  // Pictures (Fig. 1): one bar series per class.
  if (ages_known) {
    std::vector<std::string> cats(std::begin(kAgeBins), std::end(kAgeBins));
    std::vector<report::BarSeries> series;
    for (const auto& c : classes) {
      report::BarSeries s{c, {}};
      for (const auto& b : cats) s.values.push_back(double(age_by_class[c][b]));
      series.push_back(s);
    }
    card.age_svg = report::bar_chart_svg(cats, series, info.name + ": age of patients", "age (years)", "patients");
  }
  if (sexes_known) {
    std::vector<std::string> cats;
    for (const char* s : kSexes) cats.push_back(sex_name(s));
    std::vector<report::BarSeries> series;
    for (const auto& c : classes) {
      report::BarSeries s{c, {}};
      for (const auto& k : cats) s.values.push_back(double(sex_by_class[c][k]));
      series.push_back(s);
    }
    card.sex_svg = report::bar_chart_svg(cats, series, info.name + ": sex of patients", "sex", "patients");
  }

  // Markdown.
  std::ostringstream md;
  md << "# " << info.name << "\n\n";
  if (!info.description.empty()) md << info.description << "\n\n";
  md << "- Licence: " << info.licence << "\n";
  md << "- Provenance: " << (info.provenance.empty() ? "not stated" : info.provenance) << "\n";
  if (!info.citation.empty()) md << "- Citation: " << info.citation << "\n";
  md << "- Built by: covscreen dataset build " << COVSCREEN_VERSION << "\n\n";
  md << "## Images (patients) per class and split\n\n";
  md << "| split |";
  for (const auto& c : classes) md << " " << c << " |";
  md << " total |\n|---|";
  for (size_t i = 0; i <= classes.size(); ++i) md << "---|";
  md << "\n";
  for (const auto& s : st.splits) {
    md << "| " << (s.empty() ? "(none)" : s) << " |";
    for (const auto& c : st.classes) {
      const auto ci = st.cells.find(c);
      Count n;
      if (ci != st.cells.end() && ci->second.count(s)) n = ci->second.at(s);
      md << " " << n.images << " (" << n.patients << ") |";
    }
    md << " " << st.by_split.at(s).images << " (" << st.by_split.at(s).patients << ") |\n";
  }
  md << "| total |";
  for (const auto& c : st.classes) md << " " << st.by_class.at(c).images << " (" << st.by_class.at(c).patients << ") |";
  md << " " << st.total.images << " (" << st.total.patients << ") |\n\n";
  md << "Patient-level split: " << (st.overlap.empty() ? "no patient is in two splits." : "PATIENTS IN TWO SPLITS!")
     << "\n\n";
  md << "## Patients: age and sex\n\n";
  if (ages_known) {
    md << ages_known << " of " << patients.size() << " patients have an age; range " << age_range.lo << "-"
       << (age_range.hi >= 90 ? "90+" : std::to_string(age_range.hi)) << " years, mean "
       << fmt1(age_sum / double(ages_known)) << ".\n\n![age](figures/age.svg)\n\n";
  } else {
    md << "No patient has an age in the metadata.\n\n";
  }
  md << "| class | F | M | O | unknown |\n|---|---|---|---|---|\n";
  for (const auto& c : classes) {
    md << "| " << c << " |";
    for (const char* s : kSexes) md << " " << sex_by_class[c][sex_name(s)] << " |";
    md << "\n";
  }
  md << "\n" << (sexes_known ? "![sex](figures/sex.svg)\n\n" : "");
  md << "## Sites (patients)\n\n| site | patients |\n|---|---|\n";
  for (const auto& [s, counts] : site_patients) {
    size_t n = 0;
    for (const auto& kv : counts) n += kv.second;
    md << "| " << s << " | " << n << " |\n";
  }
  md << "\n## Images\n\n"
     << images.size() << " images, gray 8-bit "
     << (build.is_object() ? build.value("format", std::string("png")) : std::string("png")) << ".";
  if (w.any) md << " Source width " << w.lo << "-" << w.hi << " px, height " << h.lo << "-" << h.hi << " px.";
  md << "\n\n| source bit depth | images |\n|---|---|\n";
  for (const auto& [d, n] : depths) md << "| " << d << " | " << n << " |\n";
  md << "\n| source size | images |\n|---|---|\n";
  for (const auto& [s, n] : sizes) md << "| " << s << " | " << n << " |\n";
  md << "\n## De-identification\n\n"
     << (deid.is_object() ? deid.value("summary", std::string()) : std::string()) << "\n\n"
     << "**Text burned into the pixels is not removed.** Check the images (ultrasound, secondary captures, "
        "scanned documents and screenshots often carry names and dates in the pixels) before publishing.\n\n";
  md << "## Build settings\n\n```json\n" << build.dump(2) << "\n```\n";
  card.markdown = md.str();
  return card;
}

}  // namespace covscreen::publish
