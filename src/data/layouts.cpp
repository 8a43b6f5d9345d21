// index_dataset: layout detection and dispatch, the shared helpers, and the two folder-based
// layouts (folders, kermany). covid-ct and ieee8023 live in their own files.
#include "covscreen/data/layouts.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <regex>
#include <system_error>

#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/data/split.h"
#include "layout_detail.h"

namespace covscreen {
namespace detail {

std::string abs_path(const fs::path& p) { return fs::absolute(p).lexically_normal().string(); }

std::string source_name(const fs::path& root) {
  fs::path p = fs::absolute(root).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "dir/" -> "dir"
  return p.filename().string();
}

namespace {
bool hidden(const fs::path& p) {
  const std::string n = p.filename().string();
  return n.empty() || n[0] == '.' || n == "__MACOSX";
}

std::vector<fs::path> list(const fs::path& dir, bool want_dirs, bool recursive) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw FileError(dir.string(), "not a folder");
  fs::directory_iterator it(dir, ec);
  if (ec) throw FileError(dir.string(), "cannot list folder: " + ec.message());
  for (const auto& e : it) {
    if (hidden(e.path())) continue;
    const bool is_dir = e.is_directory(ec);
    if (is_dir && recursive && !want_dirs) {
      auto sub = list(e.path(), false, true);
      out.insert(out.end(), sub.begin(), sub.end());
    } else if (is_dir == want_dirs && (is_dir || e.is_regular_file(ec))) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

std::vector<fs::path> list_dirs(const fs::path& dir) { return list(dir, true, false); }
std::vector<fs::path> list_files(const fs::path& dir, bool recursive) { return list(dir, false, recursive); }

// One entry per image under the class folder `cls` (recursively), labelled by the folder's
// name, patient id from `patient_of(file)`; other files are skipped and counted.
void index_class_folder(const fs::path& cls, const std::string& split, const std::string& source,
                        const std::function<std::string(const fs::path&)>& patient_of, IndexReport& report,
                        Manifest& m) {
  const std::string name = cls.filename().string();
  for (const auto& f : list_files(cls, true)) {
    if (!is_image_path(f.string())) {
      report.skip("not an image file", f.string());
      continue;
    }
    ManifestEntry e;
    e.path = abs_path(f);
    e.label = canonical_label(name);
    e.original_label = name;
    e.patient_id = patient_of(f);
    e.split = split;
    e.source = source;
    m.entries.push_back(std::move(e));
  }
}

Manifest index_folders(const fs::path& root, IndexReport& report) {
  Manifest m;
  const std::string source = source_name(root);
  auto index_class = [&](const fs::path& cls, const std::string& split) {
    const std::string name = cls.filename().string();
    index_class_folder(
        cls, split, source,
        [&](const fs::path& f) {
          const fs::path rel = f.lexically_relative(cls);
          const bool in_sub = std::distance(rel.begin(), rel.end()) > 1;
          return name + "/" + (in_sub ? rel.begin()->string() : f.stem().string());
        },
        report, m);
  };
  auto skip_loose_files = [&](const fs::path& dir) {
    for (const auto& f : list_files(dir, false))
      report.skip(is_image_path(f.string()) ? "image not inside a class folder" : "not an image file", f.string());
  };
  skip_loose_files(root);
  for (const auto& top : list_dirs(root)) {
    const std::string split = canonical_split(top.filename().string());
    if (split.empty()) {
      index_class(top, "");
      continue;
    }
    skip_loose_files(top);
    for (const auto& cls : list_dirs(top)) index_class(cls, split);
  }
  return m;
}

Manifest index_kermany(const fs::path& root, IndexReport& report) {
  Manifest m;
  const std::string source = source_name(root);
  static const std::regex kPerson(R"(^(person\d+)_)", std::regex::icase);
  static const std::regex kNormal(R"(^(?:NORMAL2-)?(IM-\d+))", std::regex::icase);
  size_t stem_ids = 0;
  auto patient_of = [&](const fs::path& f) {
    const std::string stem = f.stem().string();
    std::smatch mt;
    if (std::regex_search(stem, mt, kPerson) || std::regex_search(stem, mt, kNormal)) return mt[1].str();
    ++stem_ids;
    return stem;
  };
  auto index_class = [&](const fs::path& cls, const std::string& split) {
    index_class_folder(cls, split, source, patient_of, report, m);
  };
  for (const auto& top : list_dirs(root)) {
    const std::string split = canonical_split(top.filename().string());
    if (split.empty()) {
      index_class(top, "");  // NORMAL / PNEUMONIA directly under root
      continue;
    }
    for (const auto& cls : list_dirs(top)) index_class(cls, split);
  }
  if (stem_ids)
    report.notes.push_back(std::to_string(stem_ids) +
                           " file name(s) without personN_ / IM-NNNN: the file stem is the patient id");
  return m;
}

}  // namespace detail

using namespace detail;

size_t IndexReport::skipped_total() const {
  size_t n = 0;
  for (const auto& [reason, count] : skipped) n += count;
  return n;
}

void IndexReport::skip(const std::string& reason, const std::string& what) {
  ++skipped[reason];
  if (examples.size() < 20) examples.push_back(what + ": " + reason);
}

bool is_image_path(const std::string& path) {
  static const char* kExt[] = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".dicom"};
  const std::string ext = lower(fs::path(path).extension().string());
  return std::any_of(std::begin(kExt), std::end(kExt), [&](const char* e) { return ext == e; });
}

std::string detect_layout(const std::string& root_str) {
  const fs::path root(root_str);
  std::error_code ec;
  if (fs::is_regular_file(root, ec)) {
    if (lower(root.extension().string()) == ".csv") return "manifest";
    throw FileError(root_str, "is a file but not a .csv manifest; give a data set folder or a manifest");
  }
  if (!fs::is_directory(root, ec)) throw FileError(root_str, "no such file or folder");
  if (fs::is_directory(root / "Images-processed", ec) || fs::is_directory(root / "Data-split", ec)) return "covid-ct";
  if (fs::is_regular_file(root / "metadata.csv", ec)) return "ieee8023";
  auto has_kermany_classes = [&](const fs::path& dir) {
    for (const auto& d : list_dirs(dir)) {
      const std::string n = d.filename().string();
      if (n == "NORMAL" || n == "PNEUMONIA") return true;
    }
    return false;
  };
  if (has_kermany_classes(root)) return "kermany";
  for (const auto& d : list_dirs(root))
    if (!canonical_split(d.filename().string()).empty() && has_kermany_classes(d)) return "kermany";
  if (list_dirs(root).empty())
    throw FileError(root_str, "no layout fits: no class sub-folders, metadata.csv or manifest (try --layout)");
  return "folders";
}

const Registry<Layout>& layouts() {
  static const Registry<Layout> r = [] {
    Registry<Layout> r("layout");
    r.add("auto", {"detect the layout from the folder's contents", nullptr, true});
    r.add("folders", {"root/[split/]<class>/.../image", [](const std::string& root, const IndexOptions&,
                                                           IndexReport& rep) { return index_folders(root, rep); }});
    r.add("covid-ct",
          {"UCSD COVID-CT (Images-processed/, Data-split/, Meta/)",
           [](const std::string& root, const IndexOptions&, IndexReport& rep) { return index_covid_ct(root, rep); }});
    r.add("ieee8023", {"covid-chestxray-dataset style metadata.csv (also Figure1, Actualmed)",
                       [](const std::string& root, const IndexOptions& opt, IndexReport& rep) {
                         return index_ieee8023(root, opt, rep);
                       }});
    r.add("kermany",
          {"chest_xray [split/]NORMAL|PNEUMONIA",
           [](const std::string& root, const IndexOptions&, IndexReport& rep) { return index_kermany(root, rep); }});
    r.add("manifest",
          {"a manifest CSV (data/manifest.h)",
           [](const std::string& root, const IndexOptions&, IndexReport&) { return read_manifest(root); }, false});
    return r;
  }();
  return r;
}

Manifest index_dataset(const std::string& root_str, const IndexOptions& opt, IndexReport* report_out) {
  IndexReport local;
  IndexReport& report = report_out ? *report_out : local;
  report = IndexReport{};
  layouts().get(opt.layout.empty() ? "auto" : opt.layout);  // "unknown layout 'x' (valid: ...)"
  const std::string layout = opt.layout.empty() || opt.layout == "auto" ? detect_layout(root_str) : opt.layout;
  const Layout& entry = layouts().get(layout);
  std::error_code ec;
  if (entry.folder && !fs::is_directory(root_str, ec)) throw FileError(root_str, "not a folder");
  Manifest m = entry.index(root_str, opt, report);
  m.layout = layout;
  report.layout = layout;
  return m;
}

}  // namespace covscreen
