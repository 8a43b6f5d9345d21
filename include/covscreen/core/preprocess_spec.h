#pragma once
// The preprocessing spec is data: saved inside every pack and checkpoint, read back by
// screen / evaluate / explain / serve (never taken from flags there).
//
// How stage 1 + stage 2 reproduce the paper's five steps (section 4.1):
//   paper: (1) random rotation ±15° and translation ±5%  (2) histogram equalization
//          (3) resize to a fixed size  (4) Gaussian blur  (5) standardization.
//   here : stage 1 (deterministic, cached in packs): decode -> gray uint8 (DICOM: HU + window)
//          -> histogram equalization (2) -> resize to `size` (3).
//          stage 2 (per batch, torch ops): random rotation/translation (1, training only)
//          -> 3x3 Gaussian blur (4) -> per-image standardization (5) -> gray to 3 channels.
//   The augmentation moves from first to after the resize: a rotation/translation of the
//   equalized, resized image is the same geometric operation applied to fewer pixels, and
//   equalization is a per-pixel intensity mapping of the global histogram, which a rotation
//   within the frame changes only at the borders. This lets stage 1 be cached once.
#include <nlohmann/json.hpp>
#include <string>

namespace covscreen {

struct WindowSpec {
  double center = -600.0;     // Hounsfield units (lung window)
  double width = 1500.0;      // Hounsfield units
  bool use_file_voi = false;  // use the DICOM file's own WindowCenter/WindowWidth when present
};

struct Stage1Spec {
  int size = 256;        // output is size x size gray uint8
  bool equalize = true;  // histogram equalization before the resize
  WindowSpec window;     // DICOM only
};

struct Stage2Spec {
  double rotate_degrees = 15.0;      // training augmentation: uniform in [-r, r]
  double translate_fraction = 0.05;  // training augmentation: uniform in [-t, t] of the size
  int blur_ksize = 3;                // Gaussian blur kernel (0 = off)
  double blur_sigma = 0.8;           // OpenCV's default sigma for a 3x3 kernel
  int channels = 3;                  // gray replicated to this many channels
};

struct PreprocessSpec {
  Stage1Spec stage1;
  Stage2Spec stage2;
  void validate() const;  // throws UsageError
};

void to_json(nlohmann::json& j, const PreprocessSpec& s);
void from_json(const nlohmann::json& j, PreprocessSpec& s);

}  // namespace covscreen
