#pragma once
// DICOM de-identification after the DICOM PS3.15 Annex E Basic Application Level
// Confidentiality Profile (no options retained), with keyed-hash pseudonyms and UIDs.
//
// What happens to each attribute, at every nesting level (sequence items included):
//   1. the attribute is in basic_profile_rules() (a transcription of Table E.1-1's Basic Profile
//      column): X removed, Z emptied, D replaced by a dummy (PatientName and PatientID get the
//      patient's pseudonym), U replaced by KeyedHasher::replace_uid (the same UID maps to the same
//      new UID in every file, so studies and series stay together), K kept;
//   2. a private attribute (odd group): removed (private creators too);
//   3. any other attribute whose VR is PN: emptied; DA, DT or TM: removed; UI: each value that is
//      not a DICOM-defined UID (prefix 1.2.840.10008.) replaced as under U;
//   4. curves (50xx,xxxx), overlay data and comments (60xx,3000 / 60xx,4000): removed;
//   5. everything else (pixel data, geometry, rescale, modality, manufacturer) is kept.
// Then PatientIdentityRemoved (0012,0062) = YES, DeidentificationMethod (0012,0063) and
// LongitudinalTemporalInformationModified (0028,0303) = REMOVED are set, and the file meta
// header is rebuilt from the data set (no source AE titles or private meta elements survive).
//
// NOT removed: text burned into the pixels (BurnedInAnnotation, 0028,0301, is reported in
// DicomIdentity so callers can warn), and identifying content inside kept free-form values
// that the profile keeps.
#include <cstdint>
#include <string>
#include <vector>

#include "covscreen/core/keyed_hash.h"

namespace covscreen {

enum class DeidAction : char { kRemove = 'X', kEmpty = 'Z', kDummy = 'D', kUid = 'U', kKeep = 'K' };

struct DeidRule {
  uint16_t group, element;
  DeidAction action;
  const char* keyword;
};

// Table E.1-1, Basic Profile column (one action per attribute; where the table allows a choice,
// the stricter one).
const std::vector<DeidRule>& basic_profile_rules();

// The action for one attribute (rules 1-5 above); `vr` is the two-letter VR ("" when unknown).
DeidAction deid_action(uint16_t group, uint16_t element, const std::string& vr);

inline constexpr const char* kDeidentificationMethod = "PS3.15 E.1 Basic Profile; keyed-hash UIDs (covscreen)";

// Identifying header values the builder needs before de-identification. They are PHI: keep them
// in memory, never write them out.
struct DicomIdentity {
  std::string patient_id;  // (0010,0020)
  std::string study_uid, series_uid, sop_uid;
  std::string modality;
  std::string patient_age;             // (0010,1010) e.g. "045Y"
  std::string patient_sex;             // (0010,0040) M, F, O or ""
  std::string birth_date, study_date;  // YYYYMMDD or ""
  bool has_instance_number = false;
  long instance_number = 0;
  bool has_position = false;
  double position_z = 0.0;  // ImagePositionPatient[2], mm
  int rows = 0, cols = 0, bits_stored = 0, samples_per_pixel = 1;
  bool burned_in_annotation = false;  // (0028,0301) == YES
};

// Reads the header up to the pixel data. Throws FileError.
DicomIdentity read_dicom_identity(const std::string& path);

// Age in whole years from PatientAge ("045Y", "006M", ...), else from the birth and study
// dates; -1 when neither is usable.
int age_years(const DicomIdentity& id);

struct DeidReport {
  size_t removed = 0, emptied = 0, replaced = 0, uids = 0;
};

// Reads `path`, de-identifies it as above and returns the bytes of a complete DICOM file (the
// same transfer syntax and pixel data). Deterministic: the same input and key give the same
// bytes. Throws FileError.
std::string deidentify_dicom(const std::string& path, const KeyedHasher& hasher, const std::string& pseudonym,
                             DeidReport* report = nullptr);

}  // namespace covscreen
