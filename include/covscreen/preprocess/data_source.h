#pragma once
// What `train --train/--val` and `evaluate` accept as data: a pack file, or a manifest CSV /
// data set folder (any layout of data/layouts.h) that is indexed and packed on the fly into a
// cache, keyed by the content of the manifest, the split, the classes and the stage-1 spec.
#include <string>
#include <vector>

#include "covscreen/core/preprocess_spec.h"
#include "covscreen/data/pack.h"
#include "covscreen/preprocess/pack_builder.h"

namespace covscreen {

struct DataSourceOptions {
  std::string layout = "auto";
  std::string split;                 // keep only this split ("" = all)
  Stage1Spec stage1;                 // for packing on the fly (a pack keeps its own)
  std::vector<std::string> classes;  // map labels onto these (a model's classes); empty = as found
  std::string cache_dir;             // where on-the-fly packs go; "" = no cache
};

struct LoadedData {
  Pack pack;
  std::vector<PackFailure> failures;  // files that could not be packed
  std::string description;            // "pack F" / "covid-ct layout of DIR, split val"
};

// Throws FileError/UsageError; unreadable images are listed in failures, not thrown.
LoadedData load_data(const std::string& source, const DataSourceOptions& opt);

}  // namespace covscreen
