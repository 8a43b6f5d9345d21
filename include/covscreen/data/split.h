#pragma once
// Patient-level, class-stratified train/val/test splits and the check that no patient is in
// two splits.
//
// Algorithm (deterministic on every platform and standard library):
//   1. Group entries by patient_id (an entry without one is its own group, keyed by its path).
//   2. Keep existing splits unless `resplit`: an unsplit entry of a patient that already has
//      exactly one split joins it; the other patients are assigned below.
//   3. Stratum of a patient = its majority label (ties: the alphabetically first label).
//   4. For each stratum in label order: sort its patient ids, shuffle them with Fisher-Yates
//      driven by one std::mt19937_64(seed) (bounded draws by rejection sampling, not
//      std::shuffle / std::uniform_int_distribution, whose results differ between standard
//      libraries), then give the first round(n * r_train) to train, the next to val, the rest to
//      test, with counts from the largest-remainder method so they sum to n.
//   Ratios are relative weights (70,10,20 == 0.7,0.1,0.2); a zero ratio leaves that split empty.
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "covscreen/data/manifest.h"

namespace covscreen {

inline constexpr std::array<const char*, 3> kSplitNames = {"train", "val", "test"};

// "Train", "training" -> "train"; "Val", "valid", "validation" -> "val"; "Test", "testing" -> "test";
// anything else -> "" (not a split name).
std::string canonical_split(const std::string& name);

struct SplitOptions {
  std::array<double, 3> ratios{0.7, 0.1, 0.2};  // train, val, test (relative weights)
  uint64_t seed = 20240601;
  bool resplit = false;   // false: keep the splits entries already have
  void validate() const;  // throws UsageError
};

// Parses "70,10,20" (or "0.7,0.1,0.2"; two values mean no test split). Throws UsageError.
std::array<double, 3> parse_ratios(const std::string& text);

struct SplitResult {
  size_t patients_assigned = 0;  // patients whose split this call chose
  size_t patients_kept = 0;      // patients that kept an existing split
};

// Assigns splits in place, then runs check_no_patient_overlap (throws if it fails).
SplitResult split_manifest(Manifest& m, const SplitOptions& opt);

// A patient id with images in more than one split.
struct PatientOverlap {
  std::string patient_id;
  std::vector<std::string> splits;  // sorted
  size_t images = 0;
};

// Patients (non-empty ids) found in two or more of the non-empty splits, sorted by id.
std::vector<PatientOverlap> find_patient_overlap(const std::vector<std::string>& patient_ids,
                                                 const std::vector<std::string>& splits);
std::vector<PatientOverlap> find_patient_overlap(const Manifest& m);

// Throws Error listing (up to 10 of) the patients in two splits, prefixed by `where`.
void check_no_patient_overlap(const Manifest& m, const std::string& where = "manifest");

// The deterministic RNG pieces, exposed for tests.
// A uniform integer in [0, bound) by rejection sampling (bound > 0).
uint64_t uniform_below(uint64_t bound, std::mt19937_64& rng);
// Fisher-Yates from the back: for i = n-1..1, swap v[i] with v[uniform_below(i + 1)].
void deterministic_shuffle(std::vector<std::string>& v, std::mt19937_64& rng);
// Counts per split that sum to n (largest remainder; ties go to the earlier split).
std::array<size_t, 3> split_counts(size_t n, const std::array<double, 3>& ratios);

}  // namespace covscreen
