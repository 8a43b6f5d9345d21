#include "covscreen/data/stats.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"

namespace covscreen {
namespace {

std::string class_name(const std::string& c) { return c.empty() ? "(unlabelled)" : c; }
std::string split_name(const std::string& s) { return s.empty() ? "(none)" : s; }
std::string class_key(const std::string& c) { return c.empty() ? "unlabelled" : c; }
std::string split_key(const std::string& s) { return s.empty() ? "unsplit" : s; }

nlohmann::json count_json(const Count& c) { return {{"images", c.images}, {"patients", c.patients}}; }

}  // namespace

DatasetStats compute_stats(const std::vector<std::string>& labels, const std::vector<std::string>& patient_ids,
                           const std::vector<std::string>& splits) {
  if (labels.size() != patient_ids.size() || labels.size() != splits.size())
    throw Error("compute_stats: labels, patient ids and splits differ in length");
  DatasetStats s;
  using Key = std::string;
  std::map<std::string, std::map<std::string, std::set<Key>>> cell_p;
  std::map<std::string, std::set<Key>> class_p, split_p;
  std::set<Key> all_p;
  std::set<std::string> classes, split_set;
  for (size_t i = 0; i < labels.size(); ++i) {
    const Key k = patient_ids[i].empty() ? "\x01" + std::to_string(i) : patient_ids[i];
    const std::string &c = labels[i], &sp = splits[i];
    classes.insert(c);
    split_set.insert(sp);
    ++s.cells[c][sp].images;
    ++s.by_class[c].images;
    ++s.by_split[sp].images;
    ++s.total.images;
    cell_p[c][sp].insert(k);
    class_p[c].insert(k);
    split_p[sp].insert(k);
    all_p.insert(k);
  }
  for (auto& [c, row] : s.cells)
    for (auto& [sp, cnt] : row) cnt.patients = cell_p[c][sp].size();
  for (auto& [c, cnt] : s.by_class) cnt.patients = class_p[c].size();
  for (auto& [sp, cnt] : s.by_split) cnt.patients = split_p[sp].size();
  s.total.patients = all_p.size();
  // Classes: covid first, then sorted, unlabelled last.
  for (const auto& c : classes)
    if (!c.empty() && canonical_label(c) == kCovid) s.classes.push_back(c);
  for (const auto& c : classes)
    if (!c.empty() && canonical_label(c) != kCovid) s.classes.push_back(c);
  if (classes.count("")) s.classes.push_back("");
  for (const char* name : kSplitNames)
    if (split_set.count(name)) s.splits.push_back(name);
  for (const auto& sp : split_set)
    if (!sp.empty() && std::find(s.splits.begin(), s.splits.end(), sp) == s.splits.end()) s.splits.push_back(sp);
  if (split_set.count("")) s.splits.push_back("");
  s.overlap = find_patient_overlap(patient_ids, splits);
  return s;
}

DatasetStats compute_stats(const Manifest& m) {
  std::vector<std::string> labels, ids, splits;
  for (const auto& e : m.entries) {
    labels.push_back(e.label);
    ids.push_back(e.patient_id);
    splits.push_back(e.split);
  }
  DatasetStats s = compute_stats(labels, ids, splits);
  s.kind = "manifest";
  s.layout = m.layout;
  return s;
}

DatasetStats compute_stats(const Pack& p) {
  p.validate("pack");
  std::vector<std::string> labels;
  for (int64_t l : p.labels) labels.push_back(l < 0 ? std::string() : p.classes[static_cast<size_t>(l)]);
  DatasetStats s = compute_stats(labels, p.patient_ids, p.splits);
  s.kind = "pack";
  return s;
}

std::string format_stats_table(const DatasetStats& s) {
  auto cell = [](const Count& c) { return std::to_string(c.images) + " (" + std::to_string(c.patients) + ")"; };
  std::vector<std::string> head = {"split"};
  for (const auto& c : s.classes) head.push_back(class_name(c));
  head.push_back("total");
  std::vector<std::vector<std::string>> rows;
  for (const auto& sp : s.splits) {
    std::vector<std::string> r = {split_name(sp)};
    for (const auto& c : s.classes) {
      auto row = s.cells.find(c);
      Count cnt;
      if (row != s.cells.end())
        if (auto it = row->second.find(sp); it != row->second.end()) cnt = it->second;
      r.push_back(cell(cnt));
    }
    r.push_back(cell(s.by_split.at(sp)));
    rows.push_back(r);
  }
  std::vector<std::string> tot = {"total"};
  for (const auto& c : s.classes) tot.push_back(cell(s.by_class.at(c)));
  tot.push_back(cell(s.total));
  rows.push_back(tot);
  std::vector<size_t> w(head.size(), 0);
  for (size_t i = 0; i < head.size(); ++i) {
    w[i] = head[i].size();
    for (const auto& r : rows) w[i] = std::max(w[i], r[i].size());
  }
  auto line = [&](const std::vector<std::string>& r) {
    std::string out;
    for (size_t i = 0; i < r.size(); ++i) {
      const std::string pad(w[i] - r[i].size(), ' ');
      out += i == 0 ? r[i] + pad : "  " + pad + r[i];
    }
    return out + "\n";
  };
  std::string out = "images (patients) per split and class\n" + line(head);
  for (const auto& r : rows) out += line(r);
  if (s.overlap.empty()) {
    out += "patient overlap check: OK (no patient is in two splits)\n";
  } else {
    out += "patient overlap check: FAILED, " + std::to_string(s.overlap.size()) + " patient(s) in two splits:";
    for (size_t i = 0; i < s.overlap.size() && i < 10; ++i) {
      out += " '" + s.overlap[i].patient_id + "' (";
      for (size_t j = 0; j < s.overlap[i].splits.size(); ++j) out += (j ? "+" : "") + s.overlap[i].splits[j];
      out += ")";
    }
    out += s.overlap.size() > 10 ? " ...\n" : "\n";
  }
  return out;
}

nlohmann::json stats_to_json(const DatasetStats& s) {
  nlohmann::json j;
  j["kind"] = s.kind;
  j["layout"] = s.layout;
  j["images"] = s.total.images;
  j["patients"] = s.total.patients;
  j["classes"] = nlohmann::json::array();
  for (const auto& c : s.classes) j["classes"].push_back(class_key(c));
  j["splits"] = nlohmann::json::array();
  for (const auto& sp : s.splits) j["splits"].push_back(split_key(sp));
  j["by_class"] = nlohmann::json::object();
  for (const auto& [c, cnt] : s.by_class) j["by_class"][class_key(c)] = count_json(cnt);
  j["by_split"] = nlohmann::json::object();
  for (const auto& [sp, cnt] : s.by_split) {
    nlohmann::json o = count_json(cnt);
    o["by_class"] = nlohmann::json::object();
    for (const auto& [c, row] : s.cells)
      if (auto it = row.find(sp); it != row.end()) o["by_class"][class_key(c)] = count_json(it->second);
    j["by_split"][split_key(sp)] = o;
  }
  nlohmann::json ov = nlohmann::json::array();
  for (const auto& o : s.overlap)
    ov.push_back({{"patient_id", o.patient_id}, {"splits", o.splits}, {"images", o.images}});
  j["patient_overlap"] = {{"ok", s.overlap.empty()}, {"count", s.overlap.size()}, {"patients", ov}};
  return j;
}

}  // namespace covscreen
