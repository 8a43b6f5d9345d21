#pragma once
// The data set card of a published data set (Markdown + JSON + SVG pictures): images and
// patients per class and split (the paper's Table II), age and sex distributions (its Fig. 1),
// image size and bit-depth statistics, sites, licence and provenance, how it was de-identified.
// Only aggregates and pseudonyms go in: no original ids, paths, dates or free text from headers.
// Deterministic: no timestamps, sorted keys.
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/data/manifest.h"

namespace covscreen::publish {

struct CardInfo {
  std::string name = "covscreen data set";
  std::string description;
  std::string licence = "unspecified";  // e.g. CC-BY-4.0; the publisher decides
  std::string provenance;               // where the scans come from, approvals (free text, no PHI)
  std::string citation;
};

struct PatientRecord {                  // one per patient in the output
  std::string pseudonym, label, split;  // label "" = unlabelled
  int age = -1;                         // years, -1 unknown
  std::string sex;                      // F, M, O or ""
  std::string site;
};

struct ImageRecord {  // one per exported image
  int width = 0, height = 0, bit_depth = 0, channels = 1;
  std::string source_format;
};

struct DatasetCard {
  nlohmann::json json;
  std::string markdown;
  std::string age_svg, sex_svg;  // "" when no patient has an age / a sex
};

// Age bins of 10 years, the last open: "0-9", ..., "80-89", "90+" (ages over 89 are one bin, as
// HIPAA's safe harbour asks).
std::string age_bin(int age);

// `build` is a JSON object of build settings (format, window, selection, split, counts of
// failures...) copied into the card; `deid` describes the de-identification.
DatasetCard make_card(const Manifest& m, const std::vector<PatientRecord>& patients,
                      const std::vector<ImageRecord>& images, const CardInfo& info, const nlohmann::json& build,
                      const nlohmann::json& deid);

}  // namespace covscreen::publish
