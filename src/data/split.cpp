#include "covscreen/data/split.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"

namespace covscreen {
namespace {

// Group key of an entry: its patient id, or (no id) the entry's own path.
std::string group_key(const ManifestEntry& e) { return e.patient_id.empty() ? "\x01" + e.path : e.patient_id; }

}  // namespace

std::string canonical_split(const std::string& name) {
  const std::string s = lower_trim(name);
  if (s == "train" || s == "training") return "train";
  if (s == "val" || s == "valid" || s == "validation" || s == "dev") return "val";
  if (s == "test" || s == "testing") return "test";
  return "";
}

void SplitOptions::validate() const {
  double sum = 0;
  for (double r : ratios) {
    if (!(r >= 0) || !std::isfinite(r)) throw UsageError("split ratios must be finite and >= 0");
    sum += r;
  }
  if (sum <= 0) throw UsageError("split ratios must not all be zero");
}

std::array<double, 3> parse_ratios(const std::string& text) {
  std::array<double, 3> r{0, 0, 0};
  std::stringstream ss(text);
  std::string item;
  size_t i = 0;
  while (std::getline(ss, item, ',')) {
    if (i >= 3) throw UsageError("--ratios takes at most three numbers (train,val,test), got '" + text + "'");
    try {
      size_t used = 0;
      r[i] = std::stod(item, &used);
      if (used != item.size() && !lower_trim(item.substr(used)).empty()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw UsageError("--ratios: '" + item + "' is not a number (expected e.g. 70,10,20)");
    }
    ++i;
  }
  if (i < 2) throw UsageError("--ratios needs two or three numbers (train,val[,test]), got '" + text + "'");
  SplitOptions o;
  o.ratios = r;
  o.validate();
  return r;
}

uint64_t uniform_below(uint64_t bound, std::mt19937_64& rng) {
  if (bound == 0) throw Error("uniform_below: bound must be > 0");
  // Reject the top partial block of 2^64 so that every residue is equally likely.
  const uint64_t limit = ~uint64_t(0) - (~uint64_t(0) % bound + 1) % bound;  // largest multiple of bound, minus 1
  uint64_t x;
  do {
    x = rng();
  } while (x > limit);
  return x % bound;
}

void deterministic_shuffle(std::vector<std::string>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[uniform_below(i, rng)]);
}

std::array<size_t, 3> split_counts(size_t n, const std::array<double, 3>& ratios) {
  const double sum = ratios[0] + ratios[1] + ratios[2];
  std::array<size_t, 3> c{0, 0, 0};
  std::array<double, 3> frac{0, 0, 0};
  size_t given = 0;
  for (int i = 0; i < 3; ++i) {
    const double q = static_cast<double>(n) * ratios[i] / sum;
    c[i] = static_cast<size_t>(std::floor(q + 1e-9));
    frac[i] = ratios[i] > 0 ? q - static_cast<double>(c[i]) : -1.0;
    given += c[i];
  }
  while (given < n) {  // at most two rounds
    int best = 0;
    for (int i = 1; i < 3; ++i)
      if (frac[i] > frac[best] + 1e-12) best = i;
    ++c[best];
    frac[best] = -1.0;
    ++given;
  }
  return c;
}

SplitResult split_manifest(Manifest& m, const SplitOptions& opt) {
  opt.validate();
  // Per patient: entry indices, existing splits, label counts.
  struct Group {
    std::vector<size_t> entries;
    std::set<std::string> splits;
    std::map<std::string, size_t> labels;
  };
  std::map<std::string, Group> groups;
  for (size_t i = 0; i < m.entries.size(); ++i) {
    auto& e = m.entries[i];
    if (opt.resplit) e.split.clear();
    Group& g = groups[group_key(e)];
    g.entries.push_back(i);
    if (!e.split.empty()) g.splits.insert(e.split);
    ++g.labels[e.label];
  }
  SplitResult res;
  std::map<std::string, std::vector<std::string>> strata;  // majority label -> patient keys
  for (auto& [key, g] : groups) {
    if (g.splits.size() == 1) {  // keep: unsplit images of this patient join its split
      for (size_t i : g.entries) m.entries[i].split = *g.splits.begin();
      ++res.patients_kept;
      continue;
    }
    if (g.splits.size() > 1) continue;  // already in two splits: reported by the check below
    std::string major;
    size_t best = 0;
    for (const auto& [label, count] : g.labels)  // map order: ties go to the first label
      if (count > best) best = count, major = label;
    strata[major].push_back(key);
  }
  std::mt19937_64 rng(opt.seed);
  for (auto& [label, keys] : strata) {
    std::sort(keys.begin(), keys.end());
    deterministic_shuffle(keys, rng);
    const auto counts = split_counts(keys.size(), opt.ratios);
    size_t k = 0;
    for (int s = 0; s < 3; ++s)
      for (size_t j = 0; j < counts[s]; ++j, ++k)
        for (size_t i : groups[keys[k]].entries) m.entries[i].split = kSplitNames[s];
    res.patients_assigned += keys.size();
  }
  check_no_patient_overlap(m, "split");
  return res;
}

std::vector<PatientOverlap> find_patient_overlap(const std::vector<std::string>& patient_ids,
                                                 const std::vector<std::string>& splits) {
  if (patient_ids.size() != splits.size()) throw Error("find_patient_overlap: patient_ids and splits differ in length");
  std::map<std::string, std::pair<std::set<std::string>, size_t>> seen;
  for (size_t i = 0; i < patient_ids.size(); ++i) {
    if (patient_ids[i].empty() || splits[i].empty()) continue;
    auto& s = seen[patient_ids[i]];
    s.first.insert(splits[i]);
    ++s.second;
  }
  std::vector<PatientOverlap> out;
  for (const auto& [id, s] : seen)
    if (s.first.size() > 1) out.push_back({id, std::vector<std::string>(s.first.begin(), s.first.end()), s.second});
  return out;
}

std::vector<PatientOverlap> find_patient_overlap(const Manifest& m) {
  std::vector<std::string> ids, splits;
  ids.reserve(m.entries.size());
  splits.reserve(m.entries.size());
  for (const auto& e : m.entries) {
    ids.push_back(e.patient_id);
    splits.push_back(e.split);
  }
  return find_patient_overlap(ids, splits);
}

void check_no_patient_overlap(const Manifest& m, const std::string& where) {
  const auto v = find_patient_overlap(m);
  if (v.empty()) return;
  std::string msg = where + ": " + std::to_string(v.size()) + " patient(s) have images in more than one split:";
  for (size_t i = 0; i < v.size() && i < 10; ++i) {
    msg += " '" + v[i].patient_id + "' (";
    for (size_t j = 0; j < v[i].splits.size(); ++j) msg += (j ? "+" : "") + v[i].splits[j];
    msg += ")";
  }
  if (v.size() > 10) msg += " ...";
  msg += "; re-split with --resplit to assign whole patients";
  throw Error(msg);
}

}  // namespace covscreen
