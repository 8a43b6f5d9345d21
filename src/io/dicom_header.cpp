// DICOM headers for grouping files into studies and series (io/dicom_header.h): the structural
// walk of dicom_check.h, stopped at the pixel data, never GDCM.
#include "covscreen/io/dicom_header.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>

#include "covscreen/core/error.h"
#include "covscreen/io/dicom_reader.h"
#include "dicom_check.h"
#include "image_header.h"

namespace covscreen {
namespace {

constexpr uint32_t tag(uint16_t g, uint16_t e) { return (uint32_t(g) << 16) | e; }

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

// Up to `n` numbers of a multi-valued DS ("a\b\c"); false unless exactly n parse.
template <size_t N>
bool numbers(const std::string& v, std::array<double, N>& out) {
  size_t at = 0;
  for (size_t k = 0; k < N; ++k) {
    const size_t end = std::min(v.find('\\', at), v.size());
    const std::string item = trimmed(v.substr(at, end - at));
    char* stop = nullptr;
    out[k] = std::strtod(item.c_str(), &stop);
    if (item.empty() || *stop != '\0' || !std::isfinite(out[k])) return false;
    if (end == v.size()) return k + 1 == N;
    at = end + 1;
  }
  return true;
}

DicomHeader from_scan(const io_detail::DicomScan& scan, const std::string& name) {
  DicomHeader h;
  h.path = name;
  for (const auto& [key, raw] : scan.text) {
    const std::string v = trimmed(raw);
    switch (key) {
      case tag(0x0008, 0x0005):
        h.specific_character_set = v;
        break;
      case tag(0x0008, 0x0008):
        h.image_type = v;
        break;
      case tag(0x0008, 0x0016):
        h.sop_class_uid = v;
        break;
      case tag(0x0008, 0x0018):
        h.sop_instance_uid = v;
        break;
      case tag(0x0008, 0x0020):
        h.study_date = v;
        break;
      case tag(0x0008, 0x0030):
        h.study_time = v;
        break;
      case tag(0x0008, 0x0050):
        h.accession_number = v;
        break;
      case tag(0x0008, 0x0060):
        h.modality = v;
        break;
      case tag(0x0008, 0x0070):
        h.manufacturer = v;
        break;
      case tag(0x0008, 0x0090):
        h.referring_physician = v;
        break;
      case tag(0x0008, 0x1030):
        h.study_description = v;
        break;
      case tag(0x0008, 0x103E):
        h.series_description = v;
        break;
      case tag(0x0010, 0x0010):
        h.patient_name = v;
        break;
      case tag(0x0010, 0x0020):
        h.patient_id = v;
        break;
      case tag(0x0010, 0x0030):
        h.patient_birth_date = v;
        break;
      case tag(0x0010, 0x0040):
        h.patient_sex = v;
        break;
      case tag(0x0010, 0x1010):
        h.patient_age = v;
        break;
      case tag(0x0018, 0x0015):
        h.body_part = v;
        break;
      case tag(0x0018, 0x0050): {
        std::array<double, 1> t{};
        if (numbers(v, t) && t[0] > 0) h.slice_thickness = t[0];
        break;
      }
      case tag(0x0018, 0x5101):
        h.view_position = v;
        break;
      case tag(0x0020, 0x000D):
        h.study_uid = v;
        break;
      case tag(0x0020, 0x000E):
        h.series_uid = v;
        break;
      case tag(0x0020, 0x0010):
        h.study_id = v;
        break;
      case tag(0x0020, 0x0011):
        h.series_number = v;
        break;
      case tag(0x0020, 0x0013):
        h.instance_number = v;
        break;
      case tag(0x0020, 0x0032):
        h.has_position = numbers(v, h.position);
        break;
      case tag(0x0020, 0x0037):
        h.has_orientation = numbers(v, h.orientation);
        break;
      case tag(0x0020, 0x0052):
        h.frame_of_reference_uid = v;
        break;
      default:
        break;
    }
  }
  h.rows = int(scan.rows);
  h.cols = int(scan.cols);
  h.frames = int(std::max<int64_t>(1, scan.frames));
  if (h.sop_instance_uid.empty()) throw FileError(name, "DICOM file without a SOP Instance UID (0008,0018)");
  if (h.study_uid.empty()) throw FileError(name, "DICOM file without a Study Instance UID (0020,000D)");
  if (h.series_uid.empty()) throw FileError(name, "DICOM file without a Series Instance UID (0020,000E)");
  return h;
}

}  // namespace

DicomHeader parse_dicom_header(const std::string& bytes, const std::string& name) {
  const io_detail::DicomScan scan = io_detail::scan_dicom(bytes, uint64_t(kMaxDicomFileBytes), true);
  if (!scan.problem.empty()) throw FileError(name, scan.problem);
  return from_scan(scan, name);
}

DicomHeader read_dicom_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path, "cannot open");
  // Most headers end within the first 64 KiB; a header that runs on (or a deflated file) is read whole.
  std::string head(size_t(64) << 10, '\0');
  in.read(&head[0], std::streamsize(head.size()));
  head.resize(size_t(in.gcount()));
  if (head.empty()) throw FileError(path, "empty file");
  io_detail::DicomScan scan = io_detail::scan_dicom(head, uint64_t(kMaxDicomFileBytes), true);
  if (!scan.problem.empty() && head.size() == (size_t(64) << 10)) {
    const std::string all = io_detail::read_file_bytes(path, kMaxDicomFileBytes);
    return parse_dicom_header(all, path);
  }
  if (!scan.problem.empty()) throw FileError(path, scan.problem);
  return from_scan(scan, path);
}

}  // namespace covscreen
