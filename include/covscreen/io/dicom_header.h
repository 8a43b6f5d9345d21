#pragma once
// The identifying and geometric attributes of a DICOM file, read from its header only (the bytes
// before the pixel data) by covscreen's own structural walker (src/io/dicom_check.h), never by
// GDCM: grouping files into studies and series reads every file a PACS hands over, and no file
// may crash it. Strings are as in the file, trailing padding removed; absent means empty.
//
//   covscreen::DicomHeader h = covscreen::read_dicom_header("ct/slice-001.dcm");
//   h.study_uid, h.series_uid, h.sop_instance_uid, h.position[2] (when h.has_position), ...
#include <array>
#include <cstdint>
#include <functional>
#include <string>

namespace covscreen {

struct DicomHeader {
  std::string path;
  // SOP Common, General Study, Patient.
  std::string sop_class_uid, sop_instance_uid, study_uid, series_uid;
  std::string patient_id, patient_name, patient_birth_date, patient_sex, patient_age;
  std::string study_date, study_time, study_id, accession_number, referring_physician, study_description;
  // General Series, General Equipment, images.
  std::string modality, series_description, series_number, body_part, manufacturer;
  std::string instance_number, image_type, view_position, frame_of_reference_uid;
  std::string specific_character_set;
  bool has_position = false, has_orientation = false;
  std::array<double, 3> position{};     // ImagePositionPatient (mm)
  std::array<double, 6> orientation{};  // ImageOrientationPatient (row, column direction cosines)
  double slice_thickness = 0;           // 0 when absent
  int rows = 0, cols = 0, frames = 1;
};

// Throws FileError naming the file when it is not a readable DICOM file (the structural walk
// fails, or it has no SOP Instance UID).
DicomHeader read_dicom_header(const std::string& path);
DicomHeader parse_dicom_header(const std::string& bytes, const std::string& name);  // the same, from bytes

// A header from its attributes' text, looked up by tag (group << 16 | element): trimmed, multiple
// values joined by '\' as in Part 10, "" when absent. The one list of what a DicomHeader holds,
// filled from a file's header here and from DICOMweb metadata in pacs/dicomweb.h. Rows, columns
// and frames are left to the caller. Throws FileError(name, ...) without the three UIDs.
DicomHeader dicom_header_from_text(const std::function<std::string(uint32_t tag)>& text, const std::string& name);

}  // namespace covscreen
