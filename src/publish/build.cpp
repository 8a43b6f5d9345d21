// The build pipeline of include/covscreen/publish/build.h.
#include "covscreen/publish/build.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/core/keyed_hash.h"
#include "covscreen/core/progress.h"
#include "covscreen/io/deidentify.h"
#include "covscreen/publish/output_tree.h"
#include "covscreen/publish/sources.h"

namespace covscreen::publish {
namespace fs = std::filesystem;
using nlohmann::json;

void SliceSelection::validate() const {
  if (every < 1) throw UsageError("--every must be >= 1, got " + std::to_string(every));
  if (first < 0 || last < 0 || (last > 0 && first > last))
    throw UsageError("--range must be FIRST:LAST with 1 <= FIRST <= LAST, got " + std::to_string(first) + ":" +
                     std::to_string(last));
}

SliceSelection parse_range(const std::string& text, int every) {
  SliceSelection s;
  s.every = every;
  const size_t colon = text.find(':');
  if (!text.empty()) {
    if (colon == std::string::npos) throw UsageError("--range must look like 10:40, 10: or :40, got '" + text + "'");
    auto num = [&](const std::string& t) -> int {
      if (t.empty()) return 0;
      if (t.find_first_not_of("0123456789") != std::string::npos || t.size() > 9)
        throw UsageError("--range must look like 10:40, got '" + text + "'");
      const int v = std::stoi(t);
      if (v < 1) throw UsageError("--range slices count from 1, got '" + text + "'");
      return v;
    };
    s.first = num(text.substr(0, colon));
    s.last = num(text.substr(colon + 1));
  }
  s.validate();
  return s;
}

namespace {

std::string class_folder(const std::string& label) {
  std::string out;
  for (char c : label.empty() ? std::string("unlabelled") : label)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return out.empty() || out[0] == '.' ? "_" + out : out;
}

std::string slice_name(size_t series, size_t index) {
  char b[48];
  std::snprintf(b, sizeof b, "s%zu-%04zu", series, index);
  return b;
}

std::string default_key_file(const std::string& out) {
  fs::path p = fs::absolute(out).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.string() + ".key";
}

bool inside(const fs::path& child, const fs::path& dir) {
  const fs::path c = fs::weakly_canonical(child), d = fs::weakly_canonical(dir);
  const auto r = c.lexically_relative(d);
  return !r.empty() && *r.begin() != "..";
}

struct Planned {  // one selected slice, with its place in the output
  const SourceSlice* src;
  std::string name;  // s<series>-<index>
  size_t patient;    // index into the patient list
};

}  // namespace

BuildResult build_dataset(const BuildOptions& opt) {
  opt.encoding.validate();
  opt.selection.validate();
  opt.split.validate();
  if (opt.input.empty() || opt.out.empty()) throw UsageError("dataset build: an input and --out are required");
  BuildResult res;
  res.key_file = opt.key_file.empty() ? default_key_file(opt.out) : opt.key_file;
  if (inside(res.key_file, opt.out))
    throw UsageError("the key file " + res.key_file +
                     " is inside the output folder; keep it outside (it must never "
                     "be published)");
  if (inside(opt.out, opt.input) || inside(opt.input, opt.out))
    throw UsageError("the output folder and the input must not contain each other");
  const KeyedHasher hasher(load_or_create_key(res.key_file, true, &res.key_created));
  res.key_id = hasher.key_id();
  const LabelTable labels = opt.labels_csv.empty() ? LabelTable{} : read_labels(opt.labels_csv);

  ScanResult scan = scan_sources(opt.input, labels);
  res.skipped = scan.skipped;
  res.slices_found = scan.slices.size();
  if (scan.slices.empty()) throw FileError(opt.input, "no DICOM slices or images found");

  // Patients: pseudonyms, metadata (CSV first, then the DICOM header); series and selection.
  std::vector<PatientRecord> patients;
  std::map<std::string, size_t> patient_index;  // original id -> index
  std::map<std::string, std::string> pseudonym_owner;
  std::vector<Planned> plan;
  for (size_t i = 0; i < scan.slices.size();) {
    const SourceSlice& first = scan.slices[i];
    const size_t pi = patients.size();
    PatientRecord p;
    p.pseudonym = hasher.patient_pseudonym(first.patient);
    if (!pseudonym_owner.emplace(p.pseudonym, first.patient).second)
      throw Error("two patient ids map to the pseudonym " + p.pseudonym + "; use another key");
    auto meta = labels.patients.find(first.patient);
    if (meta == labels.patients.end()) meta = labels.patients.find(p.pseudonym);
    if (meta != labels.patients.end()) {
      p.label = meta->second.label;
      p.age = meta->second.age;
      p.sex = meta->second.sex;
      p.site = meta->second.site;
    }
    size_t series_no = 0;
    std::string series;
    size_t in_series = 0;
    for (; i < scan.slices.size() && scan.slices[i].patient == first.patient; ++i) {
      const SourceSlice& s = scan.slices[i];
      if (p.age < 0 && s.age >= 0) p.age = s.age;
      if (p.sex.empty() && !s.sex.empty()) p.sex = s.sex;
      if (series_no == 0 || s.series != series) ++series_no, series = s.series, in_series = 0;
      const int k = int(++in_series);
      const auto& sel = opt.selection;
      if (k < std::max(sel.first, 1) || (sel.last > 0 && k > sel.last)) continue;
      if ((k - std::max(sel.first, 1)) % sel.every != 0) continue;
      plan.push_back({&s, slice_name(series_no, size_t(k)), pi});
    }
    patient_index[first.patient] = pi;
    patients.push_back(p);
  }
  res.slices_selected = plan.size();

  // Patient-level split over the planned slices.
  Manifest m;
  m.layout = "dataset-build";
  for (const auto& pl : plan) {
    ManifestEntry e;
    e.patient_id = patients[pl.patient].pseudonym;
    e.label = patients[pl.patient].label;
    m.entries.push_back(e);
  }
  split_manifest(m, opt.split);
  for (size_t k = 0; k < plan.size(); ++k) patients[plan[k].patient].split = m.entries[k].split;

  // Export.
  OutputTree out(opt.out);
  out.open();
  ReadOptions read;
  read.window = opt.window;
  std::vector<ImageRecord> images;
  Manifest done;
  done.layout = m.layout;
  std::set<size_t> patients_out;
  std::optional<Progress> bar;
  if (opt.progress) bar.emplace("build", plan.size(), "img");
  for (size_t k = 0; k < plan.size(); ++k) {
    const Planned& pl = plan[k];
    const PatientRecord& p = patients[pl.patient];
    const std::string dir = p.split + "/" + class_folder(p.label) + "/" + p.pseudonym + "/";
    try {
      const EncodedSlice enc = encode_slice(pl.src->path, read, opt.encoding);
      out.write(dir + pl.name + opt.encoding.extension(), enc.bytes);
      if (opt.keep_dicom && pl.src->dicom)
        out.write("dicom/" + dir + pl.name + ".dcm", deidentify_dicom(pl.src->path, hasher, p.pseudonym));
      images.push_back({enc.width, enc.height, enc.bit_depth, enc.channels, enc.source_format});
    } catch (const FileError& e) {
      ++res.failures[e.problem()];
      ++res.failed;
      if (bar) bar->advance();
      continue;
    }
    if (pl.src->burned_in) ++res.burned_in;
    ManifestEntry e = m.entries[k];
    e.path = dir + pl.name + opt.encoding.extension();
    e.source = p.site;
    auto meta = labels.patients.find(pl.src->patient);
    e.original_label = p.label.empty()                 ? "unlabelled"
                       : meta != labels.patients.end() ? meta->second.original_label
                                                       : p.label;
    done.entries.push_back(e);
    patients_out.insert(pl.patient);
    if (bar) bar->advance();
  }
  if (bar) bar->finish();
  if (done.entries.empty())
    throw Error("dataset build: none of the " + std::to_string(plan.size()) + " selected slices could be exported");
  check_no_patient_overlap(done, "dataset build");

  std::vector<PatientRecord> kept;
  for (size_t pi : patients_out) kept.push_back(patients[pi]);
  std::sort(kept.begin(), kept.end(),
            [](const PatientRecord& a, const PatientRecord& b) { return a.pseudonym < b.pseudonym; });

  json build = {
      {"format", slice_format_names().name(opt.encoding.format)},
      {"window",
       {{"center_hu", opt.window.center}, {"width_hu", opt.window.width}, {"use_file_voi", opt.window.use_file_voi}}},
      {"selection", {{"first", opt.selection.first}, {"last", opt.selection.last}, {"every", opt.selection.every}}},
      {"split", {{"ratios", opt.split.ratios}, {"seed", opt.split.seed}}},
      {"slices_found", res.slices_found},
      {"slices_selected", res.slices_selected},
      {"failed", res.failed},
      {"skipped_files", res.skipped},
      {"dicom_copies", opt.keep_dicom}};
  if (opt.encoding.format == SliceFormat::kJpeg) build["jpeg_quality"] = opt.encoding.jpeg_quality;
  json deid = {
      {"profile", "DICOM PS3.15 Annex E, Basic Application Level Confidentiality Profile"},
      {"method", kDeidentificationMethod},
      {"pseudonyms", "patient ids -> 'pt-' + 48 bits of HMAC-SHA256(key, id); UIDs -> 2.25.<HMAC-SHA256>"},
      {"key_id", res.key_id},
      {"burned_in_text_removed", false},
      {"images_flagged_burned_in_annotation", res.burned_in},
      {"summary",
       "Images are re-encoded from pixels only (no header travels with a PNG/JPEG). Patient ids are replaced by "
       "keyed-hash pseudonyms (HMAC-SHA256; key id " +
           res.key_id + ", the key itself is not published). " +
           std::string(opt.keep_dicom ? "The DICOM copies under dicom/ follow the PS3.15 Annex E Basic Profile: "
                                        "names, ids, dates, addresses, institutions, free text and private tags "
                                        "removed or emptied, UIDs replaced consistently by keyed hashes. "
                                      : "") +
           "Ages are published only as 10-year bins (90+ as one bin)."}};
  const DatasetCard card = make_card(done, kept, images, opt.card, build, deid);
  if (!card.age_svg.empty()) out.write("figures/age.svg", card.age_svg);
  if (!card.sex_svg.empty()) out.write("figures/sex.svg", card.sex_svg);
  Manifest listed = done;  // write_manifest takes absolute paths and writes them relative to its folder
  for (auto& e : listed.entries) e.path = out.path(e.path);
  write_manifest(out.path("manifest.csv"), listed);
  out.keep("manifest.csv");
  out.write("CARD.md", card.markdown);
  out.write("card.json", card.json.dump(2) + "\n");
  res.stale_removed = out.finish();
  res.files_written = out.written();
  res.images = done.entries.size();
  res.patients = kept.size();
  res.stats = compute_stats(done);
  return res;
}

}  // namespace covscreen::publish
