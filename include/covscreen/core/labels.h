#pragma once
// The canonical label vocabulary, so data sets and models from different sources line up.
//   covid      COVID-19 (CT_COVID, COV, COVID-19, "COVID-19, ARDS", ...)
//   pneumonia  other pneumonia (PNEUMONIA, bacterial/viral non-COVID pneumonia, SARS, ...)
//   normal     no finding (NORMAL, "No Finding", NOR, ...)
//   non-covid  anything known not to be COVID-19 without a finer label (CT_NonCOVID)
// Unknown names are returned lower-cased and trimmed (a user's own class list is kept).
#include <string>
#include <vector>

namespace covscreen {

inline constexpr const char* kCovid = "covid";
inline constexpr const char* kPneumonia = "pneumonia";
inline constexpr const char* kNormal = "normal";
inline constexpr const char* kNonCovid = "non-covid";

std::string canonical_label(const std::string& original);

// `s` without leading/trailing white space, in lower case (ASCII).
std::string lower_trim(const std::string& s);

// Index of `label` in `classes`, after mapping both to canonical names. A model trained on
// {covid, non-covid} accepts pneumonia/normal data as non-covid. Returns -1 when nothing fits.
int class_index(const std::vector<std::string>& classes, const std::string& label);

// Index of the COVID class in `classes`, or -1.
int covid_index(const std::vector<std::string>& classes);

}  // namespace covscreen
