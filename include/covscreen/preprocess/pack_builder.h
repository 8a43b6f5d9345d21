#pragma once
// Building a pack (data/pack.h) from a manifest: decode every image (io/image_reader.h), run
// stage 1 (preprocess/stage1.h: histogram equalization + resize to spec.stage1.size), and stack
// the results as uint8 [N, size, size]. Decoding runs on `threads` std::threads; the output keeps
// the manifest's order whatever the scheduling. A file that cannot be read, or whose label is not
// one of the classes, is reported in `failures` (path + reason) and left out; it never stops the
// batch. Entries with an empty label get label -1 (unlabelled).
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/core/preprocess_spec.h"
#include "covscreen/data/manifest.h"
#include "covscreen/data/pack.h"

namespace covscreen {

struct PackBuildOptions {
  std::string split;                                     // keep only entries of this split ("" = all)
  PreprocessSpec spec;                                   // stage 1 is applied; the whole spec is stored in the pack
  std::vector<std::string> classes;                      // empty: the sorted canonical labels present, "covid" first
  int threads = 0;                                       // 0: std::thread::hardware_concurrency()
  bool progress = true;                                  // progress bar on stderr (core/progress.h)
  nlohmann::json provenance = nlohmann::json::object();  // copied into the pack, counts added
  // Multi-label (data/chexpert.h): one row of K targets per manifest entry, K = classes.size();
  // the pack then carries them (Pack::targets) and every label is -1. Empty = single-label.
  std::vector<std::vector<float>> targets;
};

struct PackFailure {
  std::string path;
  std::string reason;
};

struct PackBuildResult {
  Pack pack;
  std::vector<PackFailure> failures;  // in manifest order
};

// Default class list for a manifest: sorted canonical labels present (non-empty), covid first.
std::vector<std::string> default_classes(const Manifest& m);

// Throws UsageError for a bad spec/option or when the split filter leaves nothing.
PackBuildResult build_pack(const Manifest& m, const PackBuildOptions& opt);

}  // namespace covscreen
