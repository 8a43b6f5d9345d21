#include "covscreen/preprocess/data_source.h"

#include <filesystem>
#include <fstream>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/data/layouts.h"
#include "covscreen/data/split.h"

namespace covscreen {
namespace fs = std::filesystem;

namespace {
// Keeps the rows of `split` and maps labels onto `classes`.
Pack filter_pack(const Pack& p, const std::string& split, const std::vector<std::string>& classes,
                 const std::string& where) {
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < p.size(); ++i)
    if (split.empty() || canonical_split(p.splits[i]) == canonical_split(split)) keep.push_back(i);
  if (keep.empty()) throw UsageError(where + ": no images of split '" + split + "'");
  Pack out = keep.size() == static_cast<size_t>(p.size()) ? p : p.select(keep);
  if (!classes.empty() && classes != out.classes) {
    for (auto& l : out.labels)
      if (l >= 0) l = class_index(classes, out.classes[l]);
    out.classes = classes;
  }
  return out;
}
}  // namespace

LoadedData load_data(const std::string& source, const DataSourceOptions& opt) {
  LoadedData d;
  if (is_pack_file(source)) {
    d.pack = filter_pack(read_pack(source), opt.split, opt.classes, source);
    d.description = "pack " + source + (opt.split.empty() ? "" : ", split " + opt.split);
    return d;
  }
  IndexOptions io;
  io.layout = opt.layout;
  IndexReport report;
  Manifest m = index_dataset(source, io, &report);
  if (!opt.classes.empty()) {
    for (auto& e : m.entries) {
      if (e.label.empty()) continue;
      const int k = class_index(opt.classes, e.label);
      if (k >= 0) e.label = opt.classes[k];
    }
  }
  PackBuildOptions po;
  po.split = opt.split;
  po.spec.stage1 = opt.stage1;
  po.classes = opt.classes;
  po.provenance = {{"source", source}, {"layout", report.layout}};
  d.description = report.layout + " layout of " + source + (opt.split.empty() ? "" : ", split " + opt.split);

  std::string cache;
  if (!opt.cache_dir.empty()) {
    PreprocessSpec spec;
    spec.stage1 = opt.stage1;
    std::string key = nlohmann::json(spec).dump() + opt.split + report.layout;
    for (const auto& c : opt.classes) key += "|" + c;
    for (const auto& e : m.entries) key += "\n" + e.path + "," + e.label + "," + e.patient_id + "," + e.split;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a64(key.data(), key.size())));
    fs::create_directories(opt.cache_dir);
    cache = (fs::path(opt.cache_dir) / (fs::path(source).filename().string() + "-" +
                                        (opt.split.empty() ? "all" : opt.split) + "-" + hex + ".pack"))
                .string();
    if (fs::exists(cache)) {
      d.pack = read_pack(cache);
      d.description += " (cached " + cache + ")";
      return d;
    }
  }
  PackBuildResult r = build_pack(m, po);
  d.pack = std::move(r.pack);
  d.failures = std::move(r.failures);
  if (!cache.empty()) write_pack(cache, d.pack);
  return d;
}

}  // namespace covscreen
