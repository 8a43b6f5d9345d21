// DICOM headers for grouping files into studies and series (io/dicom_header.h): the structural
// walk of dicom_check.h, stopped at the pixel data, never GDCM.
#include "covscreen/io/dicom_header.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <vector>

#include "covscreen/core/error.h"
#include "covscreen/io/dicom_reader.h"
#include "dicom_check.h"
#include "image_header.h"

namespace covscreen {
namespace {

constexpr uint32_t tag(uint16_t g, uint16_t e) { return (uint32_t(g) << 16) | e; }

// The text attributes of a DicomHeader, by tag: the one list both readers fill it from.
const std::vector<std::pair<uint32_t, std::string DicomHeader::*>>& text_attributes() {
  static const std::vector<std::pair<uint32_t, std::string DicomHeader::*>> t = {
      {tag(0x0008, 0x0005), &DicomHeader::specific_character_set},
      {tag(0x0008, 0x0008), &DicomHeader::image_type},
      {tag(0x0008, 0x0016), &DicomHeader::sop_class_uid},
      {tag(0x0008, 0x0018), &DicomHeader::sop_instance_uid},
      {tag(0x0008, 0x0020), &DicomHeader::study_date},
      {tag(0x0008, 0x0030), &DicomHeader::study_time},
      {tag(0x0008, 0x0050), &DicomHeader::accession_number},
      {tag(0x0008, 0x0060), &DicomHeader::modality},
      {tag(0x0008, 0x0070), &DicomHeader::manufacturer},
      {tag(0x0008, 0x0090), &DicomHeader::referring_physician},
      {tag(0x0008, 0x1030), &DicomHeader::study_description},
      {tag(0x0008, 0x103E), &DicomHeader::series_description},
      {tag(0x0010, 0x0010), &DicomHeader::patient_name},
      {tag(0x0010, 0x0020), &DicomHeader::patient_id},
      {tag(0x0010, 0x0030), &DicomHeader::patient_birth_date},
      {tag(0x0010, 0x0040), &DicomHeader::patient_sex},
      {tag(0x0010, 0x1010), &DicomHeader::patient_age},
      {tag(0x0018, 0x0015), &DicomHeader::body_part},
      {tag(0x0018, 0x5101), &DicomHeader::view_position},
      {tag(0x0020, 0x000D), &DicomHeader::study_uid},
      {tag(0x0020, 0x000E), &DicomHeader::series_uid},
      {tag(0x0020, 0x0010), &DicomHeader::study_id},
      {tag(0x0020, 0x0011), &DicomHeader::series_number},
      {tag(0x0020, 0x0013), &DicomHeader::instance_number},
      {tag(0x0020, 0x0052), &DicomHeader::frame_of_reference_uid},
  };
  return t;
}

// Exactly N numbers of a multi-valued DS ("a\b\c"); false otherwise.
template <size_t N>
bool numbers(const std::string& v, std::array<double, N>& out) {
  size_t at = 0;
  for (size_t k = 0; k < N; ++k) {
    const size_t end = std::min(v.find('\\', at), v.size());
    const std::string item = io_detail::trim_padding(v.substr(at, end - at));
    char* stop = nullptr;
    out[k] = std::strtod(item.c_str(), &stop);
    if (item.empty() || *stop != '\0' || !std::isfinite(out[k])) return false;
    if (end == v.size()) return k + 1 == N;
    at = end + 1;
  }
  return true;
}

DicomHeader from_scan(const io_detail::DicomScan& scan, const std::string& name) {
  std::map<uint32_t, std::string> text;
  for (const auto& [key, raw] : scan.text) text[key] = io_detail::trim_padding(raw);  // the last one counts
  DicomHeader h = dicom_header_from_text(
      [&](uint32_t key) {
        const auto it = text.find(key);
        return it == text.end() ? std::string() : it->second;
      },
      name);
  h.rows = int(scan.rows);
  h.cols = int(scan.cols);
  h.frames = int(std::max<int64_t>(1, scan.frames));
  return h;
}

}  // namespace

DicomHeader dicom_header_from_text(const std::function<std::string(uint32_t tag)>& text, const std::string& name) {
  DicomHeader h;
  h.path = name;
  for (const auto& [key, member] : text_attributes()) h.*member = text(key);
  std::array<double, 1> thickness{};
  if (numbers(text(tag(0x0018, 0x0050)), thickness) && thickness[0] > 0) h.slice_thickness = thickness[0];
  h.has_position = numbers(text(tag(0x0020, 0x0032)), h.position);
  h.has_orientation = numbers(text(tag(0x0020, 0x0037)), h.orientation);
  if (h.sop_instance_uid.empty()) throw FileError(name, "DICOM header without a SOP Instance UID (0008,0018)");
  if (h.study_uid.empty()) throw FileError(name, "DICOM header without a Study Instance UID (0020,000D)");
  if (h.series_uid.empty()) throw FileError(name, "DICOM header without a Series Instance UID (0020,000E)");
  return h;
}

DicomHeader parse_dicom_header(const std::string& bytes, const std::string& name) {
  const io_detail::DicomScan scan = io_detail::scan_dicom(bytes, uint64_t(kMaxDicomFileBytes), true);
  if (!scan.problem.empty()) throw FileError(name, scan.problem);
  return from_scan(scan, name);
}

DicomHeader read_dicom_header(const std::string& path) {
  std::string bytes;
  const io_detail::DicomScan scan = io_detail::scan_dicom_file_header(path, uint64_t(kMaxDicomFileBytes), &bytes);
  if (!scan.problem.empty()) throw FileError(path, scan.problem);
  return from_scan(scan, path);
}

}  // namespace covscreen
