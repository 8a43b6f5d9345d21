// The input gate (screen/input_gate.h): what an image must be for a model to screen it.
#include "covscreen/screen/input_gate.h"

#include <cstdio>
#include <set>

#include "covscreen/core/labels.h"
#include "covscreen/io/image_reader.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/preprocess/lung_region.h"

namespace covscreen {

const EnumNames<StudyKind>& study_kind_names() {
  static const EnumNames<StudyKind> n{"kind",
                                      {{StudyKind::kAuto, "auto"}, {StudyKind::kCt, "ct"}, {StudyKind::kXray, "xray"}}};
  return n;
}

StudyKind resolve_kind(StudyKind k, const Checkpoint& ck) {
  if (k != StudyKind::kAuto) return k;
  const LungCropSpec& crop = ck.spec.stage1.lungs;
  const bool xray = ck.model.arch == "deep-cxr-net" || (crop.enabled && crop.method == LungMethod::kXray);
  return xray ? StudyKind::kXray : StudyKind::kCt;
}

const char* kind_label(StudyKind kind) { return kind == StudyKind::kXray ? "X-ray" : "CT"; }

std::string series_refusal(const std::string& modality, const std::string& description, StudyKind kind) {
  static const std::set<std::string> non_image = {"SR",       "KO",     "PR",     "DOC",      "SEG",  "REG",
                                                  "RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "PLAN", "FID",
                                                  "AU",       "ECG",    "HD",     "RWV",      "RESP", "SMR"};
  // Projection radiography (PS3.3 C.7.3.1.1.1): computed and digital radiography, a radiograph
  // (RG), and OT, which digitized films are often stored as.
  static const std::set<std::string> xray = {"CR", "DX", "RG", "OT"};
  const std::string m = modality.empty() ? "none given" : modality;
  if (non_image.count(modality)) return "not an image series (" + m + ")";
  if (lower_trim(description).rfind("covscreen", 0) == 0) return "covscreen's own results";
  if (kind == StudyKind::kCt && modality != "CT") return "not CT (Modality " + m + "; this model screens CT)";
  if (kind == StudyKind::kXray && !xray.count(modality))
    return "not an X-ray (Modality " + m + "; this model screens CR, DX, RG, OT)";
  return "";
}

bool chest_body_part(const std::string& body_part) {
  const std::string b = lower_trim(body_part);
  if (b.empty()) return true;
  // DICOM PS3.16 Annex L (CHEST, THORAX, LUNG, CHESTABDOMEN, ...), the trunk and whole body, and
  // what vendors write in their languages (LUNGE, POUMON, TORAX, TORACE, PULMON).
  static const char* chest[] = {"chest", "thora",   "lung", "torax", "torace", "poumon", "pulmo", "mediastin",
                                "heart", "cardiac", "rib",  "stern", "trunk",  "torso",  "body"};
  for (const char* c : chest)
    if (b.find(c) != std::string::npos) return true;
  return false;
}

std::string input_refusal(const DecodedImage& image, StudyKind kind, double lung_fraction) {
  if (image.color_share > kMaxColorShare) {
    char share[32];
    std::snprintf(share, sizeof share, "%.0f%%", 100 * image.color_share);
    return std::string("a colour picture (") + share + " of its pixels in colour; " + kind_label(kind) +
           " images are gray)";
  }
  if (image.format == "dicom") {
    if (std::string why = series_refusal(image.modality, image.series_description, kind); !why.empty()) return why;
    if (!chest_body_part(image.body_part)) return "not the chest (BodyPartExamined " + image.body_part + ")";
    if (kind == StudyKind::kCt && image.image_type.find("LOCALIZER") != std::string::npos)
      return "a localizer (ImageType " + image.image_type + "), not a slice";
  }
  if (lung_fraction >= 0 && lung_fraction < kGateMinLungFraction) {
    char share[32];
    std::snprintf(share, sizeof share, "%.1f%%", 100 * lung_fraction);
    return std::string("no lung fields found (") + kind_label(kind) + " lung finder: " + share + " of the image)";
  }
  return "";
}

}  // namespace covscreen
