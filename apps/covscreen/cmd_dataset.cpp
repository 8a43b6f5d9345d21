// covscreen dataset index | split | pack | stats | preview | build: index a data set folder, split
// it by patient, preprocess it into a pack, count what is in a manifest or a pack, look at what
// training's augmentation makes of a pack, and build a de-identified, publishable data set from
// DICOM studies or images.
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "command.h"
#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/data/chexpert.h"
#include "covscreen/data/layouts.h"
#include "covscreen/data/pack.h"
#include "covscreen/data/split.h"
#include "covscreen/data/stage2.h"
#include "covscreen/data/stats.h"
#include "covscreen/preprocess/pack_builder.h"
#include "covscreen/publish/build.h"
#include "covscreen/train/train_config.h"

namespace covscreen::app {
namespace {
namespace fs = std::filesystem;

constexpr size_t kMaxListed = 50;  // failures / skipped examples printed

struct Input {
  std::string path;
  std::string layout = "auto";
  std::string modality = "X-ray";
  std::string views;
};

void add_input_options(CLI::App* cmd, Input* in, const char* what) {
  cmd->add_option("input", in->path, what)->required();
  cmd->add_option("--layout", in->layout, "Data set layout: " + layouts().choices())
      ->capture_default_str()
      ->check(registry_check(layouts()));
  cmd->add_option("--modality", in->modality, "ieee8023: keep this modality (\"\" = all)")->capture_default_str();
  cmd->add_option("--views", in->views, "ieee8023: keep these views, e.g. PA,AP (default: all)");
}

void print_report(const IndexReport& rep, bool detected) {
  std::cout << "layout: " << rep.layout << (detected ? " (auto-detected)" : "") << "\n";
  if (rep.skipped_total()) {
    std::cout << "skipped: " << rep.skipped_total() << "\n";
    for (const auto& [reason, n] : rep.skipped) std::cout << "  " << n << "  " << reason << "\n";
    for (size_t i = 0; i < rep.examples.size() && i < 10; ++i) std::cout << "    e.g. " << rep.examples[i] << "\n";
  } else {
    std::cout << "skipped: 0\n";
  }
  for (const auto& n : rep.notes) std::cout << "note: " << n << "\n";
}

// A manifest CSV, or a data set folder indexed on the fly (the report is printed when `verbose`).
Manifest load(const Input& in, bool verbose) {
  IndexOptions opt;
  opt.layout = in.layout;
  opt.modality = in.modality;
  opt.views = split_list(in.views);
  IndexReport rep;
  Manifest m = index_dataset(in.path, opt, &rep);
  if (verbose) print_report(rep, in.layout == "auto");
  return m;
}

void add_index(CLI::App* ds) {
  static Input in;
  static std::string out;
  auto* cmd = ds->add_subcommand("index", "index a data set folder into a manifest CSV");
  add_input_options(cmd, &in, "data set folder (or a manifest .csv)");
  cmd->add_option("--out", out, "manifest CSV to write (path,label,patient_id,split,source,original_label)");
  cmd->callback([] {
    const Manifest m = load(in, true);
    std::cout << "indexed: " << m.entries.size() << " images\n" << format_stats_table(compute_stats(m));
    if (!out.empty()) {
      write_manifest(out, m);
      std::cout << "wrote " << out << "\n";
    }
  });
}

void add_split(CLI::App* ds) {
  static Input in;
  static std::string out, ratios = "70,10,20";
  static SplitOptions opt;
  auto* cmd = ds->add_subcommand("split", "patient-level, class-stratified train/val/test split");
  add_input_options(cmd, &in, "manifest CSV (or a data set folder, then --out is required)");
  cmd->add_option("--ratios", ratios, "train,val,test weights")->capture_default_str();
  cmd->add_option("--seed", opt.seed, "seed of the std::mt19937_64 shuffle")->capture_default_str();
  cmd->add_flag("--resplit", opt.resplit, "ignore existing splits and split every patient");
  cmd->add_option("--out", out, "manifest to write (default: the input manifest, rewritten in place)");
  cmd->callback([] {
    opt.ratios = parse_ratios(ratios);
    const bool is_csv = fs::is_regular_file(in.path);
    if (out.empty() && !is_csv) throw UsageError("dataset split: --out is required when the input is a folder");
    Manifest m = load(in, !is_csv);
    const SplitResult r = split_manifest(m, opt);  // runs the overlap check
    std::cout << "split: " << r.patients_assigned << " patients assigned (seed " << opt.seed << ", ratios " << ratios
              << "), " << r.patients_kept << " kept their existing split\n"
              << format_stats_table(compute_stats(m));
    const std::string dest = out.empty() ? in.path : out;
    write_manifest(dest, m);
    std::cout << "wrote " << dest << "\n";
  });
}

void add_pack(CLI::App* ds) {
  static Input in;
  static std::string out, split, classes;
  static PackBuildOptions opt;
  static bool no_equalize = false, no_progress = false, chexpert = false;
  static ChexpertOptions cx;
  static std::string findings;
  auto* cmd = ds->add_subcommand("pack", "preprocess images (stage 1) into one pack file");
  add_input_options(cmd, &in, "manifest CSV or data set folder");
  cmd->add_option("--out", out, "pack file to write")->required();
  cmd->add_option("--split", split, "only this split: train|val|test");
  cmd->add_option("--size", opt.spec.stage1.size, "output side in pixels")->capture_default_str();
  cmd->add_option("--classes", classes, "class list, e.g. covid,non-covid (default: labels present, covid first)");
  cmd->add_option("--threads", opt.threads, "decoding threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("--no-equalize", no_equalize, "skip histogram equalization");
  cmd->add_option("--window-center", opt.spec.stage1.window.center, "DICOM window centre, HU")->capture_default_str();
  cmd->add_option("--window-width", opt.spec.stage1.window.width, "DICOM window width, HU")->capture_default_str();
  cmd->add_flag("--file-voi", opt.spec.stage1.window.use_file_voi, "DICOM: use the file's own window");
  add_lung_crop_options(cmd, &opt.spec.stage1.lungs);
  cmd->add_flag("--no-progress", no_progress, "no progress bar");
  cmd->add_flag("--chexpert", chexpert,
                "the input is a CheXpert-format CSV (Path + finding columns): a multi-label pack");
  cmd->add_option("--findings", findings,
                  "--chexpert: finding columns to keep, comma-separated (default: Atelectasis, Cardiomegaly, "
                  "Consolidation, Edema, Pleural Effusion, Pneumonia)");
  add_enum_option(cmd, "--uncertainty", cx.uncertainty, uncertainty_names(),
                  "--chexpert: what -1 labels become (u-ones: 1, u-zeros: 0)");
  cmd->add_option("--root", cx.root, "--chexpert: folder the Path column is relative to (default: automatic)");
  cmd->add_flag("--frontal-only", cx.frontal_only, "--chexpert: keep frontal views only");
  cmd->callback([] {
    if (!split.empty()) {
      const std::string s = canonical_split(split);
      if (s.empty()) throw UsageError("--split must be train, val or test, got '" + split + "'");
      opt.split = s;
    }
    opt.spec.stage1.equalize = !no_equalize;
    opt.progress = !no_progress;
    opt.classes = split_list(classes);
    Manifest m;
    if (chexpert) {
      if (!findings.empty()) cx.findings = split_list(findings);
      MultiLabelManifest ml = read_chexpert(in.path, cx);
      std::cout << "chexpert: " << ml.manifest.entries.size() << " rows, " << ml.uncertain
                << " uncertain labels mapped by " << uncertainty_names().name(cx.uncertainty) << ", "
                << ml.skipped_lateral << " lateral views skipped\n";
      m = std::move(ml.manifest);
      opt.classes = ml.findings;
      opt.targets = std::move(ml.targets);
    } else {
      m = load(in, in.layout != "manifest" && !fs::is_regular_file(in.path));
    }
    opt.provenance = {{"input", in.path}, {"covscreen_version", COVSCREEN_VERSION}};
    if (chexpert)
      opt.provenance["chexpert"] = {{"findings", cx.findings},
                                    {"uncertainty", uncertainty_names().name(cx.uncertainty)}};
    PackBuildResult r = build_pack(m, opt);
    for (size_t i = 0; i < r.failures.size() && i < kMaxListed; ++i)
      std::cerr << "covscreen: bad image: " << r.failures[i].path << ": " << r.failures[i].reason << "\n";
    if (r.failures.size() > kMaxListed)
      std::cerr << "covscreen: ... and " << r.failures.size() - kMaxListed << " more bad images\n";
    if (r.pack.size() == 0)
      throw Error("dataset pack: none of the " + std::to_string(r.failures.size()) + " images could be packed");
    write_pack(out, r.pack);
    std::cout << "wrote " << out << ": " << r.pack.size() << " images of " << r.pack.images.size(1) << "x"
              << r.pack.images.size(2) << ", classes";
    for (const auto& c : r.pack.classes) std::cout << " " << c;
    std::cout << ", content hash " << r.pack.content_hash() << "\n";
    if (r.pack.multilabel()) {
      const torch::Tensor pos = r.pack.targets.sum(0);
      std::cout << "positives per finding:";
      for (size_t k = 0; k < r.pack.classes.size(); ++k)
        std::cout << (k ? ", " : " ") << r.pack.classes[k] << " " << pos[k].item<float>();
      std::cout << "\n";
    }
    std::cout << "failed: " << r.failures.size() << "\n" << format_stats_table(compute_stats(r.pack));
    if (!r.failures.empty()) throw ExitCode{kExitPartial};
  });
}

void add_stats(CLI::App* ds) {
  static Input in;
  static bool json = false;
  auto* cmd = ds->add_subcommand("stats", "images and patients per class and split; patient-overlap check");
  add_input_options(cmd, &in, "manifest CSV, pack file or data set folder");
  cmd->add_flag("--json", json, "print JSON (stable keys) instead of a table");
  cmd->callback([] {
    DatasetStats s;
    if (is_pack_file(in.path)) {
      s = compute_stats(read_pack(in.path));
    } else {
      s = compute_stats(load(in, false));
    }
    if (json) {
      nlohmann::json j = stats_to_json(s);
      j["input"] = in.path;
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << s.kind << ": " << in.path << (s.layout.empty() ? "" : " (layout " + s.layout + ")") << "\n"
                << format_stats_table(s);
    }
    if (!s.overlap.empty()) {
      std::cerr << "covscreen: error: " << s.overlap.size()
                << " patient(s) are in more than one split (re-split with `covscreen dataset split --resplit`)\n";
      throw ExitCode{kExitError};
    }
  });
}

// A contact sheet: `count` images of a pack, each as packed (stage 1) next to what training feeds
// the model (stage 2 with the recipe's augmentation; channel 0, stretched to 0-255 for display).
void add_preview(CLI::App* ds) {
  static std::string pack_path, out, recipe = "scratch", config;
  static int count = 16;
  static int64_t seed = 1;
  auto* cmd = ds->add_subcommand(
      "preview", "a PNG contact sheet of a pack: each image as packed and as training augments it (--config)");
  cmd->add_option("pack", pack_path, "pack file")->required();
  cmd->add_option("--out", out, "PNG file to write")->required();
  cmd->add_option("--recipe", recipe, "named training config: " + recipes().choices())->capture_default_str();
  cmd->add_option("--config", config, "JSON training config, as for train (its spec.stage2 and augment)");
  cmd->add_option("--count", count, "images shown")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("--seed", seed, "chooses the images and the augmentation draws")->capture_default_str();
  cmd->callback([] {
    const TrainConfig cfg = train_config_from(recipe, config);
    const Pack pack = read_pack(pack_path);
    if (pack.size() == 0) throw FileError(pack_path, "the pack has no images");
    auto gen = at::detail::createCPUGenerator(uint64_t(seed));
    const int64_t n = std::min<int64_t>(count, pack.size());
    const auto idx = torch::randperm(pack.size(), gen, torch::kInt64).slice(0, 0, n);
    const auto images = pack.images.index_select(0, idx);
    const Stage2 stage2(cfg.spec.stage2);
    auto x = cfg.augment ? stage2.augmented(images, stage2.draw(n, &gen)) : stage2(images, false);
    x = x.select(1, 0);
    const auto lo = std::get<0>(x.flatten(1).min(1)).view({n, 1, 1}),
               hi = std::get<0>(x.flatten(1).max(1)).view({n, 1, 1});
    const auto shown = ((x - lo) / (hi - lo).clamp_min(1e-6) * 255).round().to(torch::kUInt8).contiguous();
    const int side = int(std::min<int64_t>(256, images.size(1))), per_row = 4;
    const int rows = int((n + per_row - 1) / per_row);
    cv::Mat sheet(rows * side, per_row * 2 * side, CV_8UC1, cv::Scalar(0));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t k = idx[i].item<int64_t>();
      const std::string label = "#" + std::to_string(k) + " " +
                                (pack.multilabel() || pack.labels[k] < 0 ? "" : pack.classes[size_t(pack.labels[k])]);
      for (int part = 0; part < 2; ++part) {
        const torch::Tensor t = part == 0 ? images[i].contiguous() : shown[i];
        const cv::Mat m(int(t.size(0)), int(t.size(1)), CV_8UC1, t.data_ptr<uint8_t>());
        const int col = int(i % per_row) * 2 + part, row = int(i / per_row);
        cv::Mat tile = sheet(cv::Rect(col * side, row * side, side, side));
        cv::resize(m, tile, tile.size(), 0, 0, cv::INTER_AREA);
        if (part == 0) {
          cv::putText(tile, label, {4, 14}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0), 3, cv::LINE_AA);
          cv::putText(tile, label, {4, 14}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(255), 1, cv::LINE_AA);
        }
      }
    }
    std::vector<uint8_t> png;
    if (!cv::imencode(".png", sheet, png)) throw FileError(out, "could not encode the PNG");
    write_file_atomic(out, std::string(png.begin(), png.end()));
    std::cout << "wrote " << out << ": " << n << " of " << pack.size() << " images of " << pack_path
              << ", each as packed (left) and as training sees it (right; recipe " << cfg.name
              << (cfg.augment ? ", augmented" : ", augmentation off") << "), seed " << seed << "\n";
  });
}

void add_build(CLI::App* ds) {
  static publish::BuildOptions opt;
  static std::string ratios = "70,10,20", range;
  static bool no_progress = false;
  auto* cmd = ds->add_subcommand("build",
                                 "de-identified data set from DICOM studies or images: "
                                 "split/class/patient/slice.png, manifest, data set card");
  cmd->add_option("input", opt.input, "folder of DICOM studies (folders of series) or of images")->required();
  cmd->add_option("--out", opt.out, "output folder (created; a previous build there is brought up to date)")
      ->required();
  cmd->add_option("--labels", opt.labels_csv, "CSV patient,label[,age,sex,site] (images: path,patient,label,...)");
  cmd->add_option("--key-file", opt.key_file,
                  "secret key for the pseudonyms, kept OUTSIDE --out (default: <out>.key, created when absent)");
  add_enum_option(cmd, "--format", opt.encoding.format, slice_format_names(), "Image format (png: lossless)");
  cmd->add_option("--jpeg-quality", opt.encoding.jpeg_quality, "1..100")->capture_default_str();
  cmd->add_option("--window-center", opt.window.center, "DICOM window centre, HU")->capture_default_str();
  cmd->add_option("--window-width", opt.window.width, "DICOM window width, HU")->capture_default_str();
  cmd->add_flag("--file-voi", opt.window.use_file_voi, "DICOM: use the file's own window");
  cmd->add_option("--every", opt.selection.every, "keep every k-th slice of each series")->capture_default_str();
  cmd->add_option("--range", range, "slices FIRST:LAST of each series (1-based, inclusive; 10:, :40)");
  cmd->add_option("--ratios", ratios, "train,val,test weights")->capture_default_str();
  cmd->add_option("--seed", opt.split.seed, "seed of the split")->capture_default_str();
  cmd->add_flag("--keep-dicom", opt.keep_dicom, "also write de-identified DICOM copies under <out>/dicom/");
  cmd->add_option("--name", opt.card.name, "data set name (card)")->capture_default_str();
  cmd->add_option("--description", opt.card.description, "description (card)");
  cmd->add_option("--licence,--license", opt.card.licence, "licence, e.g. CC-BY-4.0 (card)")->capture_default_str();
  cmd->add_option("--provenance", opt.card.provenance, "where the scans come from, approvals (card; no PHI)");
  cmd->add_option("--citation", opt.card.citation, "how to cite (card)");
  cmd->add_flag("--no-progress", no_progress, "no progress bar");
  cmd->callback([] {
    opt.split.ratios = parse_ratios(ratios);
    opt.selection = publish::parse_range(range, opt.selection.every);
    opt.progress = !no_progress;
    const publish::BuildResult r = publish::build_dataset(opt);
    if (r.key_created)
      std::cerr << "covscreen: created a new key in " << r.key_file
                << ": keep it secret and outside the data set; the same key gives the same pseudonyms\n";
    for (const auto& [reason, n] : r.skipped) std::cout << "skipped: " << n << "  " << reason << "\n";
    for (const auto& [reason, n] : r.failures)
      std::cerr << "covscreen: " << n << " slice(s) failed: " << reason << "\n";
    if (r.burned_in)
      std::cerr << "covscreen: warning: " << r.burned_in
                << " image(s) are flagged BurnedInAnnotation=YES; burned-in text is NOT removed\n";
    std::cout << "built " << opt.out << ": " << r.images << " images of " << r.patients << " patients ("
              << r.slices_found << " slices found, " << r.slices_selected << " selected, " << r.failed
              << " failed), key id " << r.key_id << ", " << r.files_written << " files written, " << r.stale_removed
              << " stale removed\n"
              << format_stats_table(r.stats);
    if (r.failed) throw ExitCode{kExitPartial};
  });
}

const CommandRegistrar dataset_command(20, [](CLI::App& app) {
  auto* ds = app.add_subcommand("dataset", "index, split, pack, count, preview and build data sets");
  ds->require_subcommand(1);
  add_index(ds);
  add_split(ds);
  add_pack(ds);
  add_stats(ds);
  add_preview(ds);
  add_build(ds);
});

}  // namespace
}  // namespace covscreen::app
