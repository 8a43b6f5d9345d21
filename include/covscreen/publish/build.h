#pragma once
// `covscreen dataset build`: a publishable data set from DICOM studies or images.
//
//   input (folders of DICOM series, or images) + labels CSV + key
//     -> slices sorted per patient and series, optional selection (a range, then every k-th)
//     -> patient ids replaced by keyed-hash pseudonyms (core/keyed_hash.h)
//     -> patient-level stratified split (data/split.h, 70/10/20 by default)
//     -> <out>/<split>/<class>/<pseudonym>/s<series>-<slice>.png|jpg (gray 8-bit, DICOM through
//        the window), optionally de-identified DICOM under <out>/dicom/ with the same layout
//     -> <out>/manifest.csv (data/manifest.h; `covscreen dataset pack` reads it),
//        <out>/card.json, <out>/CARD.md, <out>/figures/{age,sex}.svg (publish/card.h)
//
// Nothing identifying is written: names come from pseudonyms and counters, PNG/JPEG carry pixels
// only, the card holds aggregates; the key is read, never written (the key file must lie outside
// <out>). Text burned into pixels is NOT removed. The same input, options and key give
// byte-identical output; an interrupted build re-run converges to the same files (output_tree.h).
#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "covscreen/core/preprocess_spec.h"
#include "covscreen/data/split.h"
#include "covscreen/data/stats.h"
#include "covscreen/io/slice_export.h"
#include "covscreen/publish/card.h"

namespace covscreen::publish {

struct SliceSelection {
  int first = 0, last = 0;  // 1-based, inclusive, per series; 0 = from the start / to the end
  int every = 1;            // keep every k-th slice of the range, starting with its first
  void validate() const;    // throws UsageError
};

// "10:40", "10:", ":40" -> first/last. Throws UsageError.
SliceSelection parse_range(const std::string& text, int every = 1);

struct BuildOptions {
  std::string input, out;
  std::string labels_csv;  // optional
  std::string key_file;    // default: "<out>.key" beside the output folder, created when absent
  SliceEncoding encoding;
  WindowSpec window;
  SliceSelection selection;
  SplitOptions split;
  bool keep_dicom = false;  // also write de-identified DICOM under <out>/dicom/
  bool progress = false;
  CardInfo card;
};

struct BuildResult {
  size_t slices_found = 0, slices_selected = 0, images = 0, patients = 0;
  size_t failed = 0, files_written = 0, stale_removed = 0, burned_in = 0;
  std::map<std::string, size_t> skipped, failures;  // reason -> count
  bool key_created = false;
  std::string key_file, key_id;
  DatasetStats stats;
};

// Throws UsageError (options, an output folder that is not a data set, the key inside it) or
// FileError; slices that cannot be decoded are counted in `failures` and left out.
BuildResult build_dataset(const BuildOptions& opt);

}  // namespace covscreen::publish
