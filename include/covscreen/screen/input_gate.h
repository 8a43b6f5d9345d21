#pragma once
// The input gate: is this image what the model was made for? Checked on every image between
// decoding and the model (Pipeline::decode, Pipeline::infer), so `screen`, `screen --by study`,
// `evaluate` on files, `explain`, `serve` and `pacs` all pass through it.
//
//   Hard checks: the image is NOT screened (ScreenResult::refused, the reason in `error`; serve
//   answers 422):
//     - DICOM Modality fits the model's kind (series_refusal): CT for CT models; for X-ray models
//       the projection radiography modalities CR, DX and RG (and OT, a digitized film);
//     - DICOM BodyPartExamined, where present, names the chest (chest_body_part);
//     - DICOM ImageType LOCALIZER (a CT scout view: a projection, not a slice);
//     - a colour picture: more than kMaxColorShare of its pixels off the image's one tint
//       (DecodedImage::color_share; a photograph, not a CT or X-ray image, which are gray or, as a
//       photographed film, tinted gray);
//     - lung fields found (preprocess/lung_region.h, the CT or the X-ray finder): a lung share of
//       at least kGateMinLungFraction, else "no lung fields found".
//   Soft check: typicality (models/typicality.h) under the checkpoint's flag_below: screened, and
//   flagged atypical in every output.
//   PipelineOptions::input_check = false (`--no-input-check`) turns all of them off; the outputs
//   say so.
//
//   covscreen::StudyKind kind = covscreen::resolve_kind(covscreen::StudyKind::kAuto, ck);  // kCt / kXray
//   std::string why = covscreen::input_refusal(decoded, kind, lung_fraction);  // "" = screen it
#include <string>

#include "covscreen/core/registry.h"

namespace covscreen {

struct Checkpoint;
struct DecodedImage;

// Which images a model screens: CT slices or X-ray images (CR, DX, ...).
enum class StudyKind {
  kAuto,
  kCt,
  kXray
};  // kAuto: from the model (deep-cxr-net or an X-ray lung crop: X-ray, else CT)
const EnumNames<StudyKind>& study_kind_names();
StudyKind resolve_kind(StudyKind k, const Checkpoint& ck);
const char* kind_label(StudyKind kind);  // "CT" | "X-ray" (resolved kinds)

// "" when a series (or an image) of this modality can be screened for `kind` (resolved), else why
// not. Non-image objects (SR, KO, PR, SEG, RT, ...) and covscreen's own results (SeriesDescription
// "covscreen ...") never can.
std::string series_refusal(const std::string& modality, const std::string& description, StudyKind kind);

// True when a BodyPartExamined value names the chest (CHEST, THORAX, LUNG, ... in any case; the
// German, French and Spanish words vendors write too); an empty value is not judged (true).
bool chest_body_part(const std::string& body_part);

// Measured (io's color_share): at most 0.13 in the shared CT and X-ray sets (a figure with red
// arrows), 0.00-0.01 for blue-tinted film photographs, 0.44-0.69 for skimage's cat and coffee.
inline constexpr double kMaxColorShare = 0.25;

// The lung share under which the gate refuses an image: the finder found next to nothing. Lower
// than the study rules' kMinLungFraction (which only decides which slices of a study count): on
// COVID-CT val it refuses 1 of 118 slices (a soft-tissue window the finder misses) where 0.02
// refuses 2; on COVID-CT-MD only slices above or below the lungs.
inline constexpr double kGateMinLungFraction = 0.005;

// Prefix of every refusal's message ("not screened: ..."); serve maps it to 422.
inline constexpr const char* kRefusedPrefix = "not screened: ";

// The hard checks of one decoded image: "" to screen it, else the reason (without the prefix).
// `lung_fraction`: the share the kind's lung finder found (< 0: not measured, not judged).
std::string input_refusal(const DecodedImage& image, StudyKind kind, double lung_fraction);

}  // namespace covscreen
