// Screening whole studies (screen/study.h): grouping, series choice, slice order, aggregation.
#include "covscreen/screen/study.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <type_traits>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/core/keyed_hash.h"
#include "covscreen/core/labels.h"
#include "covscreen/core/progress.h"
#include "covscreen/core/strings.h"
#include "covscreen/io/dicom_results.h"

namespace fs = std::filesystem;

namespace covscreen {

const EnumNames<StudyAggregate>& study_aggregate_names() {
  static const EnumNames<StudyAggregate> n{"aggregate",
                                           {{StudyAggregate::kMean, "mean"},
                                            {StudyAggregate::kTopKMean, "top-k-mean"},
                                            {StudyAggregate::kMax, "max"},
                                            {StudyAggregate::kNoisyOr, "noisy-or"}}};
  return n;
}

// ---------------------------------------------------------------- rules

namespace {

template <class T>
T get_as(const nlohmann::json& v, const std::string& what, const std::string& key) {
  if (std::is_same<T, int>::value && !v.is_number_integer())
    throw UsageError(what + ": '" + key + "' must be a whole number (" + v.dump() + ")");
  if (std::is_same<T, double>::value && !v.is_number())
    throw UsageError(what + ": '" + key + "' must be a number (" + v.dump() + ")");
  try {
    return v.get<T>();
  } catch (const nlohmann::json::exception&) {
    throw UsageError(what + ": '" + key + "' has the wrong type (" + v.dump() + ")");
  }
}

void check(bool ok, const std::string& what, const std::string& key, const std::string& must) {
  if (!ok) throw UsageError(what + ": '" + key + "' must be " + must);
}

}  // namespace

StudyRules study_rules_from_json(const nlohmann::json& j, const std::string& what) {
  if (!j.is_object()) throw UsageError(what + ": study rules must be a JSON object");
  StudyRules r;
  r.source = what;
  for (const auto& [key, v] : j.items()) {
    if (key == "kind") {
      r.kind = study_kind_names().parse(get_as<std::string>(v, what, key));
    } else if (key == "ct_min_slices") {
      r.ct_min_slices = get_as<int>(v, what, key);
      check(r.ct_min_slices >= 1, what, key, ">= 1");
    } else if (key == "ct_slice_thickness_mm") {
      r.ct_slice_thickness_mm = get_as<double>(v, what, key);
      check(r.ct_slice_thickness_mm > 0, what, key, "> 0");
    } else if (key == "axial_max_tilt_deg") {
      r.axial_max_tilt_deg = get_as<double>(v, what, key);
      check(r.axial_max_tilt_deg >= 0 && r.axial_max_tilt_deg <= 90, what, key, "in [0, 90]");
    } else if (key == "ct_every_kth") {
      r.ct_every_kth = get_as<int>(v, what, key);
      check(r.ct_every_kth >= 1, what, key, ">= 1");
    } else if (key == "ct_min_lung_fraction") {
      r.ct_min_lung_fraction = get_as<double>(v, what, key);
      check(r.ct_min_lung_fraction >= 0 && r.ct_min_lung_fraction < 1, what, key, "in [0, 1)");
    } else if (key == "xray_views") {
      r.xray_views = get_as<std::vector<std::string>>(v, what, key);
      check(!r.xray_views.empty(), what, key, "a non-empty list of ViewPosition values");
    } else if (key == "aggregate") {
      r.aggregate = study_aggregate_names().parse(get_as<std::string>(v, what, key));
    } else if (key == "top_k") {
      r.top_k = get_as<int>(v, what, key);
      check(r.top_k >= 1, what, key, ">= 1");
    } else if (key == "threshold") {
      r.threshold = v.is_null() ? -1 : get_as<double>(v, what, key);
      check(v.is_null() || (r.threshold >= 0 && r.threshold <= 1), what, key, "in [0, 1] (or null: the model's)");
    } else if (key == "report_top") {
      r.report_top = get_as<int>(v, what, key);
      check(r.report_top >= 1, what, key, ">= 1");
    } else {
      throw UsageError(what + ": unknown key '" + key + "' (valid: " +
                       join(to_json(StudyRules{}).at("keys").get<std::vector<std::string>>(), ", ") + ")");
    }
  }
  return r;
}

StudyRules load_study_rules(const std::string& path) { return study_rules_from_json(read_json_file(path), path); }

nlohmann::json to_json(const StudyRules& r) {
  nlohmann::json j = {{"kind", study_kind_names().name(r.kind)},
                      {"ct_min_slices", r.ct_min_slices},
                      {"ct_slice_thickness_mm", r.ct_slice_thickness_mm},
                      {"axial_max_tilt_deg", r.axial_max_tilt_deg},
                      {"ct_every_kth", r.ct_every_kth},
                      {"ct_min_lung_fraction", r.ct_min_lung_fraction},
                      {"xray_views", r.xray_views},
                      {"aggregate", study_aggregate_names().name(r.aggregate)},
                      {"top_k", r.top_k},
                      {"threshold", r.threshold < 0 ? nlohmann::json() : nlohmann::json(r.threshold)},
                      {"report_top", r.report_top}};
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  return {{"rules", j}, {"keys", keys}, {"source", r.source}};
}

std::string describe_aggregate(const StudyRules& r) {
  const std::string& name = study_aggregate_names().name(r.aggregate);
  if (r.aggregate == StudyAggregate::kTopKMean || r.aggregate == StudyAggregate::kNoisyOr)
    return name + " k=" + std::to_string(r.top_k);
  return name;
}

double aggregate_study(std::vector<double> probs, const StudyRules& r) {
  if (probs.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(probs.begin(), probs.end(), std::greater<double>());
  const size_t k = std::min(probs.size(), size_t(r.top_k));
  switch (r.aggregate) {
    case StudyAggregate::kMean:
      return std::accumulate(probs.begin(), probs.end(), 0.0) / double(probs.size());
    case StudyAggregate::kTopKMean:
      return std::accumulate(probs.begin(), probs.begin() + long(k), 0.0) / double(k);
    case StudyAggregate::kMax:
      return probs.front();
    case StudyAggregate::kNoisyOr: {
      double none = 1.0;
      for (size_t i = 0; i < k; ++i) none *= 1.0 - std::clamp(probs[i], 0.0, 1.0);
      return 1.0 - none;
    }
  }
  return probs.front();
}

double study_threshold(const StudyRules& r, const Pipeline& p) {
  return r.threshold >= 0 ? r.threshold : p.threshold();
}

PipelineOptions study_pipeline_options(PipelineOptions base, const StudyRules& r, const Checkpoint& ck) {
  base.kind = resolve_kind(r.kind, ck);
  base.lung_fraction = base.kind == StudyKind::kCt && r.ct_min_lung_fraction > 0;
  base.refuse_without_lungs = base.kind != StudyKind::kCt;  // CT: the rules skip slices without lungs
  base.cam = CamOutput::kNone;
  return base;
}

// ---------------------------------------------------------------- grouping

namespace {

double to_number(const std::string& s, double fallback) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  return (!s.empty() && end && *end == '\0' && std::isfinite(v)) ? v : fallback;
}

std::array<double, 3> slice_normal(const DicomHeader& h) {
  const auto& o = h.orientation;
  return {o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]};
}

int frame_of(const std::string& path) {
  std::string file;
  int frame = 0;
  return split_frame_address(path, &file, &frame) ? frame + 1 : 0;
}

// Slice order: along the normal of the series' first oriented instance when every instance has
// a position, else InstanceNumber; frames of one file in frame order; ties by path.
void order_slices(SeriesGroup& s) {
  const bool geometric = std::all_of(s.instances.begin(), s.instances.end(),
                                     [](const DicomHeader& h) { return h.has_position && h.has_orientation; });
  std::array<double, 3> n{0, 0, 1};
  if (geometric) n = slice_normal(s.instances.front());
  auto key = [&](const DicomHeader& h) {
    if (geometric) return h.position[0] * n[0] + h.position[1] * n[1] + h.position[2] * n[2];
    return to_number(h.instance_number, std::numeric_limits<double>::max());
  };
  std::stable_sort(s.instances.begin(), s.instances.end(), [&](const DicomHeader& a, const DicomHeader& b) {
    const double ka = key(a), kb = key(b);
    if (ka != kb) return ka < kb;
    const int fa = frame_of(a.path), fb = frame_of(b.path);
    if (fa != fb) return fa < fb;
    return a.path < b.path;
  });
}

}  // namespace

std::vector<StudyGroup> group_headers(std::vector<DicomHeader> headers) {
  std::vector<StudyGroup> studies;
  std::map<std::string, size_t> study_at;
  std::map<std::pair<size_t, std::string>, size_t> series_at;
  std::set<std::pair<std::string, int>> seen;  // (SOP Instance UID, frame): the same file given twice
  for (auto& h : headers) {
    if (!seen.emplace(h.sop_instance_uid, frame_of(h.path)).second) continue;
    auto [it, added] = study_at.emplace(h.study_uid, studies.size());
    if (added) studies.push_back({h.study_uid, {}});
    StudyGroup& st = studies[it->second];
    auto [jt, s_added] = series_at.emplace(std::make_pair(it->second, h.series_uid), st.series.size());
    if (s_added) {
      SeriesGroup g;
      g.series_uid = h.series_uid;
      g.modality = h.modality;
      g.description = h.series_description;
      g.number = h.series_number;
      st.series.push_back(std::move(g));
    }
    st.series[jt->second].instances.push_back(std::move(h));
  }
  for (auto& st : studies) {
    for (auto& s : st.series) {
      order_slices(s);
      std::vector<double> t;
      for (const auto& h : s.instances)
        if (h.slice_thickness > 0) t.push_back(h.slice_thickness);
      if (!t.empty()) {
        std::nth_element(t.begin(), t.begin() + long(t.size() / 2), t.end());
        s.slice_thickness = t[t.size() / 2];
      }
    }
    std::stable_sort(st.series.begin(), st.series.end(), [](const SeriesGroup& a, const SeriesGroup& b) {
      return to_number(a.number, 1e18) < to_number(b.number, 1e18);
    });
  }
  return studies;
}

StudyInputs group_studies(const std::vector<std::string>& paths) {
  StudyInputs out;
  std::vector<DicomHeader> headers;
  std::map<std::string, DicomHeader> cache;  // per file, for the frames of a multi-frame file
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string& address = paths[i];
    std::string file = address;
    int frame = 0;
    if (!split_frame_address(address, &file, &frame)) file = address;
    if (has_image_extension(file) && !has_dicom_extension(file)) {
      out.other_files.push_back(address);
      continue;
    }
    if (lower_trim(fs::path(file).filename().string()) == "dicomdir") continue;  // an export's index
    auto it = cache.find(file);
    if (it == cache.end()) {
      try {
        it = cache.emplace(file, read_dicom_header(file)).first;
      } catch (const std::exception& e) {
        ScreenResult r;
        r.file = address;
        r.index = i;
        r.error = e.what();
        out.errors.push_back(std::move(r));
        continue;
      }
    }
    DicomHeader h = it->second;
    h.path = address;
    headers.push_back(std::move(h));
  }
  out.studies = group_headers(std::move(headers));
  return out;
}

namespace {

// A slice whose normal is within max_tilt_deg of the patient's head-foot axis (no orientation: not refused).
bool axial_within(const DicomHeader& h, double max_tilt_deg) {
  if (!h.has_orientation) return true;
  const auto n = slice_normal(h);
  const double len = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
  return len > 0 && std::abs(n[2]) / len >= std::cos(max_tilt_deg * M_PI / 180.0) - 1e-9;
}

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

}  // namespace

SeriesChoice choose_series(const StudyGroup& study, const StudyRules& rules, StudyKind kind) {
  SeriesChoice c;
  std::vector<int> candidates;
  std::vector<std::string> seen;
  for (size_t i = 0; i < study.series.size(); ++i) {
    const SeriesGroup& s = study.series[i];
    seen.push_back(s.modality.empty() ? "?" : s.modality);
    const std::string refusal = series_refusal(s.modality, s.description, kind);
    if (!refusal.empty()) {
      c.skipped.emplace_back(s.series_uid, refusal);
    } else if (kind == StudyKind::kCt) {
      if (std::any_of(s.instances.begin(), s.instances.end(),
                      [](const DicomHeader& h) { return h.image_type.find("LOCALIZER") != std::string::npos; })) {
        c.skipped.emplace_back(s.series_uid, "a localizer (ImageType LOCALIZER)");
      } else if (!std::all_of(s.instances.begin(), s.instances.end(),
                              [&](const DicomHeader& h) { return axial_within(h, rules.axial_max_tilt_deg); })) {
        c.skipped.emplace_back(s.series_uid, "not axial");
      } else if (int(s.instances.size()) < rules.ct_min_slices) {
        c.skipped.emplace_back(s.series_uid, std::to_string(s.instances.size()) + " slices (fewer than " +
                                                 std::to_string(rules.ct_min_slices) + ")");
      } else {
        candidates.push_back(int(i));
      }
    } else {
      candidates.push_back(int(i));
    }
  }
  if (kind == StudyKind::kCt) {
    // Original images before derived ones (reformats, MIPs); then the slice thickness closest to
    // the configured one; then more slices; then series order.
    auto original = [&](const SeriesGroup& g) { return g.instances.front().image_type.rfind("DERIVED", 0) != 0; };
    auto better = [&](int a, int b) {
      const SeriesGroup &sa = study.series[size_t(a)], &sb = study.series[size_t(b)];
      if (original(sa) != original(sb)) return original(sa);
      const double da = sa.slice_thickness > 0 ? std::abs(sa.slice_thickness - rules.ct_slice_thickness_mm) : 1e9;
      const double db = sb.slice_thickness > 0 ? std::abs(sb.slice_thickness - rules.ct_slice_thickness_mm) : 1e9;
      if (da != db) return da < db;
      return sa.instances.size() > sb.instances.size();
    };
    if (!candidates.empty()) {
      c.series = *std::min_element(candidates.begin(), candidates.end(), better);
      for (int i : candidates)
        if (i != c.series)
          c.skipped.emplace_back(
              study.series[size_t(i)].series_uid,
              "another series chosen (slice thickness " + fmt(study.series[size_t(i)].slice_thickness) + " mm)");
      const size_t n = study.series[size_t(c.series)].instances.size();
      for (size_t k = 0; k < n; k += size_t(rules.ct_every_kth)) c.instances.push_back(k);
    }
  } else {
    // X-ray: the first series with a frontal view (or a view not given); other views are skipped.
    auto frontal = [&](const DicomHeader& h) {
      return h.view_position.empty() ||
             std::find(rules.xray_views.begin(), rules.xray_views.end(), h.view_position) != rules.xray_views.end();
    };
    for (int i : candidates) {
      const SeriesGroup& s = study.series[size_t(i)];
      std::vector<size_t> views;
      for (size_t k = 0; k < s.instances.size(); ++k)
        if (frontal(s.instances[k])) views.push_back(k);
      if (c.series < 0 && !views.empty()) {
        c.series = i;
        c.instances = views;
        for (size_t k = 0; k < s.instances.size(); ++k)
          if (!frontal(s.instances[k]))
            c.skipped.emplace_back(
                s.instances[k].path.empty() ? s.instances[k].sop_instance_uid : s.instances[k].path,
                "view " + s.instances[k].view_position + " (not " + join(rules.xray_views, "/") + ")");
      } else if (c.series >= 0) {
        c.skipped.emplace_back(s.series_uid, "another series chosen");
      } else {
        std::string views_seen;
        for (const auto& h : s.instances) views_seen += (views_seen.empty() ? "" : ",") + h.view_position;
        c.skipped.emplace_back(s.series_uid, "no frontal view (" + views_seen + ")");
      }
    }
  }
  if (c.series < 0) {
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    c.why_none = std::string("no screenable ") + (kind == StudyKind::kCt ? "CT series" : "X-ray image") +
                 " (series modalities: " + join(seen, ", ") + ")";
    if (!c.skipped.empty()) c.why_none += "; " + c.skipped.front().second;
  }
  return c;
}

// ---------------------------------------------------------------- output

nlohmann::json to_json(const StudyResult& s) {
  auto slice = [](const SliceScore& x) {
    nlohmann::json j = {{"file", x.file},
                        {"sop_instance_uid", x.sop_instance_uid},
                        {"position", x.position},
                        {"covid_probability", x.covid_probability}};
    if (x.frame > 0) j["frame"] = x.frame;
    if (x.lung_fraction >= 0) j["lung_fraction"] = x.lung_fraction;
    return j;
  };
  nlohmann::json j = {
      {"study_uid", s.study_uid},
      {"patient_id", s.patient_id},
      {"modality", s.modality},
      {"series_uid", s.series_uid},
      {"slices_screened", s.slices_screened},
      {"slices_skipped", s.slices_skipped},
      {"covid_probability", std::isnan(s.covid_probability) ? nlohmann::json() : nlohmann::json(s.covid_probability)},
      {"positive", s.positive},
      {"threshold", s.threshold},
      {"aggregation", s.aggregation}};
  j["top_slices"] = nlohmann::json::array();
  for (const auto& t : s.top) j["top_slices"].push_back(slice(t));
  j["skipped_series"] = nlohmann::json::array();
  for (const auto& [uid, why] : s.skipped_series) j["skipped_series"].push_back({{"uid", uid}, {"reason", why}});
  if (!s.slice_errors.empty()) j["errors"] = s.slice_errors;
  if (!s.cam_path.empty()) j["cam"] = s.cam_path;
  if (!s.error.empty()) j["error"] = s.error;
  if (s.slices_atypical >= 0) j["slices_atypical"] = s.slices_atypical;
  if (!s.input_check) j["input_check"] = "off";
  return j;
}

ModelIdentity model_identity(const std::string& checkpoint_path, const Checkpoint& ck) {
  ModelIdentity m;
  m.name = fs::path(checkpoint_path).filename().string() + " (" + ck.model.arch + ")";
  m.version = std::string("covscreen ") + COVSCREEN_VERSION;
  m.hash = to_hex(sha256(read_file(checkpoint_path)));
  return m;
}

ScreeningReport to_report(const StudyResult& s, const ModelIdentity& model) {
  ScreeningReport rep;
  rep.study = s.reference;
  rep.screened_series_uid = s.series_uid;
  for (const auto& x : s.slices)
    rep.screened.push_back({x.sop_class_uid, x.sop_instance_uid, x.frame, x.covid_probability});
  for (const auto& x : s.top) rep.top.push_back({x.sop_class_uid, x.sop_instance_uid, x.frame, x.covid_probability});
  // A multi-frame instance is referenced once in the evidence, whatever its frames.
  std::vector<ReferencedInstance> unique;
  for (auto r : rep.screened) {
    if (std::any_of(unique.begin(), unique.end(),
                    [&](const ReferencedInstance& u) { return u.sop_instance_uid == r.sop_instance_uid; }))
      continue;
    r.frame = 0;
    unique.push_back(r);
  }
  rep.screened = std::move(unique);
  rep.covid_probability = s.covid_probability;
  rep.threshold = s.threshold;
  rep.positive = s.positive;
  rep.aggregation = s.aggregation;
  rep.slices_screened = s.slices_screened;
  rep.slices_skipped = s.slices_skipped;
  rep.slices_atypical = s.slices_atypical;
  rep.input_check = s.input_check;
  rep.model_name = model.name;
  rep.model_version = model.version;
  rep.model_hash = model.hash;
  rep.software_version = COVSCREEN_VERSION;
  return rep;
}

// ---------------------------------------------------------------- screening

namespace {

struct Planned {
  const StudyGroup* study = nullptr;
  SeriesChoice choice;
  size_t first = 0, count = 0;  // its slices in the flat input list
};

StudyOutput finish(const Planned& pl, const std::vector<ScreenResult>& slices, const StudyRules& rules,
                   const Pipeline& p, StudyKind kind, const StudyScreenOptions& opt) {
  StudyOutput out;
  StudyResult& s = out.result;
  const StudyGroup& st = *pl.study;
  s.study_uid = st.study_uid;
  s.aggregation = describe_aggregate(rules);
  s.threshold = study_threshold(rules, p);
  s.input_check = p.options().input_check;
  s.skipped_series = pl.choice.skipped;
  s.covid_probability = std::numeric_limits<double>::quiet_NaN();
  if (!st.series.empty() && !st.series.front().instances.empty()) {
    s.reference = st.series.front().instances.front();
    s.patient_id = s.reference.patient_id;
  }
  if (pl.choice.series < 0) {
    s.error = pl.choice.why_none;
    return out;
  }
  const SeriesGroup& series = st.series[size_t(pl.choice.series)];
  s.series_uid = series.series_uid;
  s.modality = series.modality;
  s.reference = series.instances.front();
  s.patient_id = s.reference.patient_id;
  s.slices_skipped = int(series.instances.size() - pl.choice.instances.size());
  if (kind == StudyKind::kXray) s.slices_skipped = 0;  // other views are listed in skipped_series
  std::vector<double> counted;
  for (size_t k = 0; k < pl.count; ++k) {
    const ScreenResult& r = slices[pl.first + k];
    const size_t pos = pl.choice.instances[k];
    const DicomHeader& h = series.instances[pos];
    if (!r.ok) {
      s.slice_errors.push_back(r.error);
      ++s.slices_skipped;
      continue;
    }
    SliceScore x;
    x.file = h.path;
    x.sop_class_uid = h.sop_class_uid;
    x.sop_instance_uid = h.sop_instance_uid;
    x.frame = frame_of(h.path);
    x.position = pos;
    x.covid_probability = r.covid_prob;
    x.lung_fraction = r.lung_fraction;
    x.counted = kind != StudyKind::kCt || r.lung_fraction < 0 || r.lung_fraction >= rules.ct_min_lung_fraction;
    if (x.counted) {
      counted.push_back(x.covid_probability);
      ++s.slices_screened;
      if (r.typicality >= 0) s.slices_atypical = std::max(s.slices_atypical, 0) + int(r.atypical);
    } else {
      ++s.slices_skipped;
    }
    s.slices.push_back(std::move(x));
  }
  if (counted.empty()) {
    s.error = s.slices.empty() ? "no slice of series " + series.series_uid + " could be read" +
                                     (s.slice_errors.empty() ? "" : " (" + s.slice_errors.front() + ")")
                               : "no slice with lungs in series " + series.series_uid + " (" +
                                     std::to_string(s.slices.size()) + " screened)";
    return out;
  }
  s.covid_probability = aggregate_study(counted, rules);
  s.positive = s.covid_probability >= s.threshold;
  std::vector<SliceScore> ranked;
  for (const auto& x : s.slices)
    if (x.counted) ranked.push_back(x);
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const SliceScore& a, const SliceScore& b) { return a.covid_probability > b.covid_probability; });
  ranked.resize(std::min(ranked.size(), size_t(rules.report_top)));
  s.top = std::move(ranked);
  if (!opt.cam_dir.empty() || opt.keep_overlay) {
    ScreenResult top;
    cv::Mat overlay = p.screen_with_overlay(s.top.front().file, &top);
    if (overlay.empty()) {  // noted in the study's errors; the study stands
      s.slice_errors.push_back(s.top.front().file + ": " + top.error);
    } else {
      if (!opt.cam_dir.empty()) {
        try {
          std::error_code ec;
          fs::create_directories(opt.cam_dir, ec);
          std::vector<uchar> png;
          cv::imencode(".png", overlay, png);
          const std::string path = (fs::path(opt.cam_dir) / (uid_file_name(s.study_uid) + "_cam.png")).string();
          write_file_atomic(path, std::string(png.begin(), png.end()));
          s.cam_path = path;
        } catch (const std::exception& e) {
          s.slice_errors.push_back(std::string("CAM overlay not written: ") + e.what());
        }
      }
      if (opt.keep_overlay) out.overlay = overlay;
    }
  }
  return out;
}

}  // namespace

std::vector<StudyOutput> screen_studies(Pipeline& p, const StudyInputs& in, const StudyScreenOptions& opt,
                                        const std::function<void(StudyOutput&)>& on_study, Progress* progress) {
  const StudyRules& rules = opt.rules;
  const StudyKind kind = resolve_kind(rules.kind, p.checkpoint());
  if (p.covid_class() < 0)
    throw UsageError("screening studies needs a model with a COVID class (this one has: " +
                     join(p.checkpoint().classes, ", ") + ")");
  if (kind == StudyKind::kCt && rules.ct_min_lung_fraction > 0 && !p.options().lung_fraction)
    throw UsageError(
        "screen_studies: the lung check needs a pipeline that measures lungs (PipelineOptions::lung_fraction)");
  std::vector<Planned> plan;
  std::vector<std::string> paths;
  for (const auto& st : in.studies) {
    Planned pl;
    pl.study = &st;
    pl.choice = choose_series(st, rules, kind);
    pl.first = paths.size();
    if (pl.choice.series >= 0)
      for (size_t k : pl.choice.instances) paths.push_back(st.series[size_t(pl.choice.series)].instances[k].path);
    pl.count = paths.size() - pl.first;
    plan.push_back(std::move(pl));
  }
  std::vector<StudyOutput> out;
  std::vector<ScreenResult> results;
  size_t next_study = 0;
  auto emit_ready = [&]() {
    while (next_study < plan.size() && plan[next_study].first + plan[next_study].count <= results.size()) {
      out.push_back(finish(plan[next_study], results, rules, p, kind, opt));
      if (on_study) {
        on_study(out.back());
        out.back().overlay.release();
      }
      ++next_study;
    }
  };
  emit_ready();  // studies with nothing to screen ahead of the first slice
  if (!paths.empty())
    p.screen_files(
        paths,
        [&](std::vector<ScreenResult>& batch) {
          for (auto& r : batch) results.push_back(std::move(r));
          emit_ready();
        },
        progress);
  emit_ready();
  return out;
}

}  // namespace covscreen
