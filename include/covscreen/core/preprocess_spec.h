#pragma once
// The preprocessing spec is data: saved inside every pack and checkpoint, read back by
// screen / evaluate / explain / serve (never taken from flags there).
//
// How stage 1 + stage 2 reproduce the paper's five steps (section 4.1):
//   paper: (1) random rotation ±15° and translation ±5%  (2) histogram equalization
//          (3) resize to a fixed size  (4) Gaussian blur  (5) standardization.
//   here : stage 1 (deterministic, cached in packs): decode -> gray uint8 (DICOM: HU + window)
//          -> [lung crop, not in the paper: LungCropSpec] -> histogram equalization (2)
//          -> resize to `size` (3).
//          stage 2 (per batch, torch ops): random rotation/translation (1, training only)
//          -> 3x3 Gaussian blur (4) -> per-image standardization (5) -> gray to 3 channels.
//   The augmentation moves from first to after the resize: a rotation/translation of the
//   equalized, resized image is the same geometric operation applied to fewer pixels, and
//   equalization is a per-pixel intensity mapping of the global histogram, which a rotation
//   within the frame changes only at the borders. This lets stage 1 be cached once.
#include <nlohmann/json.hpp>
#include <string>

#include "covscreen/core/registry.h"

namespace covscreen {

struct WindowSpec {
  double center = -600.0;     // Hounsfield units (lung window)
  double width = 1500.0;      // Hounsfield units
  bool use_file_voi = false;  // use the DICOM file's own WindowCenter/WindowWidth when present
};

// How the lung fields are found (preprocess/lung_region.h): on a CT slice the air around the body
// is darker than the lungs; on a chest X-ray it is not, and the lungs are the dark fields either
// side of the mediastinum.
enum class LungMethod { kCt, kXray };
const EnumNames<LungMethod>& lung_method_names();  // ct | xray

// Stage 1's lung crop (version 1; not in the paper; against source shortcuts in the margins).
// The lung fields are found on the decoded gray image (for DICOM CT that is the lung window of
// the Hounsfield units, so the threshold is one in HU); their bounding box (for X-rays, joined
// with its mirror image across the middle, so that one lung found still keeps both), grown by
// `margin` x its size on every side and then to a square (inside the image), is cut out before the
// equalization and the resize. No lungs found (share < kMinLungFraction): the whole image is
// used, and the result says so. mask: pixels outside the lung fields (grown by the margin) black.
struct LungCropSpec {
  bool enabled = false;
  LungMethod method = LungMethod::kCt;
  double margin = 0.1;
  bool mask = false;
  int version = 1;  // of the finder and the crop; a checkpoint asking for another is refused
  // The same images out of stage 1 (two crops that are off are the same, whatever their fields).
  bool operator==(const LungCropSpec& o) const {
    return enabled == o.enabled &&
           (!enabled || (method == o.method && margin == o.margin && mask == o.mask && version == o.version));
  }
  bool operator!=(const LungCropSpec& o) const { return !(*this == o); }
};

struct Stage1Spec {
  int size = 256;        // output is size x size gray uint8
  bool equalize = true;  // histogram equalization before the resize
  WindowSpec window;     // DICOM only
  LungCropSpec lungs;
};

struct Stage2Spec {
  double rotate_degrees = 15.0;      // training augmentation: uniform in [-r, r]
  double translate_fraction = 0.05;  // training augmentation: uniform in [-t, t] of the size
  // Further training augmentation (not in the paper; 0 = off): zoom by a factor in
  // [1 - s, 1 + s] (with the rotation/translation: a random resized crop), and a gamma
  // exp(u * g), u uniform in [-1, 1), on intensities in [0, 1]. (A linear contrast change would
  // be undone by the per-image standardization.)
  double scale_fraction = 0.0;
  double gamma_log = 0.0;
  // Shortcut-breaking augmentation (not in the paper; 0 = off) for sources whose images carry
  // marks of where they came from (COVID-CT's COVID slices are figures cut out of papers):
  // with probability annotate_probability, 1-3 synthetic annotations (arrows, letters and digits,
  // circles, boxes; white or black) drawn at random places on images of every class, so that
  // such marks carry no label; with probability jpeg_probability, a JPEG re-compression at a
  // quality in [20, 90] (data/source_marks.h). Both act on the stage-1 image, before the rest.
  double annotate_probability = 0.0;
  double jpeg_probability = 0.0;
  int blur_ksize = 3;       // Gaussian blur kernel (0 = off)
  double blur_sigma = 0.8;  // OpenCV's default sigma for a 3x3 kernel
  int channels = 3;         // gray replicated to this many channels
};

struct PreprocessSpec {
  Stage1Spec stage1;
  Stage2Spec stage2;
  void validate() const;  // throws UsageError
};

void to_json(nlohmann::json& j, const PreprocessSpec& s);
void from_json(const nlohmann::json& j, PreprocessSpec& s);

// How two specs differ in what screening does to an image: stage 1 (size unless `ignore_size`,
// equalization, DICOM window, lung crop) and stage 2's blur and channels; the training-only
// augmentation is not compared. "" when they screen alike, else what differs, e.g.
// "lung crop {\"crop\":true,...} vs {\"crop\":false,...}". For models combined into one
// (deep-cxr-net's frozen parts, a seed ensemble's members).
std::string screening_difference(const PreprocessSpec& a, const PreprocessSpec& b, bool ignore_size = false);

}  // namespace covscreen
