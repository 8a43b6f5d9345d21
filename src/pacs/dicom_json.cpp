// application/dicom+json (PS3.18 F.2) -> DicomHeader: the attributes io/dicom_header.h reads from a
// file's header, taken from a WADO-RS metadata answer instead, so series are chosen before any
// pixel data is downloaded.
#include <cmath>
#include <cstdio>

#include "covscreen/core/strings.h"
#include "covscreen/pacs/dicomweb.h"

namespace covscreen {
namespace {

using json = nlohmann::json;

// The element of `tag` ("0020000D"), accepting lower-case hex keys too.
const json* element(const json& inst, const std::string& tag) {
  auto it = inst.find(tag);
  if (it == inst.end()) it = inst.find(lower(tag));
  if (it == inst.end() || !it->is_object()) return nullptr;
  return &*it;
}

std::string number_text(const json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return std::to_string(v.get<int64_t>());
  const double d = v.get<double>();
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(int64_t(d));
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

std::string value_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return number_text(v);
  if (v.is_object()) {  // a person name: Alphabetic[=Ideographic[=Phonetic]]
    std::string out;
    std::string groups[3];
    const char* keys[3] = {"Alphabetic", "Ideographic", "Phonetic"};
    size_t last = 0;
    for (size_t k = 0; k < 3; ++k) {
      auto it = v.find(keys[k]);
      if (it != v.end() && it->is_string()) {
        groups[k] = it->get<std::string>();
        last = k + 1;
      }
    }
    for (size_t k = 0; k < last; ++k) out += (k ? "=" : "") + groups[k];
    return out;
  }
  return "";  // null (an empty value) or a sequence item
}

template <size_t N>
bool numbers(const json& inst, const std::string& tag, std::array<double, N>& out) {
  const json* e = element(inst, tag);
  if (!e) return false;
  auto it = e->find("Value");
  if (it == e->end() || !it->is_array() || it->size() != N) return false;
  for (size_t k = 0; k < N; ++k) {
    const json& v = (*it)[k];
    if (v.is_number()) {
      out[k] = v.get<double>();
    } else if (v.is_string()) {
      const std::string s = trim(v.get<std::string>());
      char* stop = nullptr;
      out[k] = std::strtod(s.c_str(), &stop);
      if (s.empty() || *stop != '\0') return false;
    } else {
      return false;
    }
    if (!std::isfinite(out[k])) return false;
  }
  return true;
}

int int_value(const json& inst, const std::string& tag, int fallback) {
  std::array<double, 1> v{};
  if (!numbers(inst, tag, v) || v[0] < 0 || v[0] > 1e9) return fallback;
  return int(v[0]);
}

}  // namespace

std::string dicom_json_string(const json& instance, const std::string& tag) {
  if (!instance.is_object()) return "";
  const json* e = element(instance, tag);
  if (!e) return "";
  auto it = e->find("Value");
  if (it == e->end() || !it->is_array()) return "";
  std::string out;
  for (size_t k = 0; k < it->size(); ++k) out += (k ? "\\" : "") + value_text((*it)[k]);
  return trim(out);
}

DicomHeader header_from_dicom_json(const json& inst) {
  if (!inst.is_object()) throw Error("dicom+json: an instance is not a JSON object");
  DicomHeader h;
  auto s = [&](const char* tag) { return dicom_json_string(inst, tag); };
  h.specific_character_set = s("00080005");
  h.image_type = s("00080008");
  h.sop_class_uid = s("00080016");
  h.sop_instance_uid = s("00080018");
  h.study_date = s("00080020");
  h.study_time = s("00080030");
  h.accession_number = s("00080050");
  h.modality = s("00080060");
  h.manufacturer = s("00080070");
  h.referring_physician = s("00080090");
  h.study_description = s("00081030");
  h.series_description = s("0008103E");
  h.patient_name = s("00100010");
  h.patient_id = s("00100020");
  h.patient_birth_date = s("00100030");
  h.patient_sex = s("00100040");
  h.patient_age = s("00101010");
  h.body_part = s("00180015");
  std::array<double, 1> thickness{};
  if (numbers(inst, "00180050", thickness) && thickness[0] > 0) h.slice_thickness = thickness[0];
  h.view_position = s("00185101");
  h.study_uid = s("0020000D");
  h.series_uid = s("0020000E");
  h.study_id = s("00200010");
  h.series_number = s("00200011");
  h.instance_number = s("00200013");
  h.has_position = numbers(inst, "00200032", h.position);
  h.has_orientation = numbers(inst, "00200037", h.orientation);
  h.frame_of_reference_uid = s("00200052");
  h.rows = int_value(inst, "00280010", 0);
  h.cols = int_value(inst, "00280011", 0);
  h.frames = std::max(1, int_value(inst, "00280008", 1));
  if (h.sop_instance_uid.empty()) throw Error("dicom+json instance without a SOP Instance UID (0008,0018)");
  if (h.study_uid.empty())
    throw Error("dicom+json instance " + h.sop_instance_uid + " without a Study Instance UID (0020,000D)");
  if (h.series_uid.empty())
    throw Error("dicom+json instance " + h.sop_instance_uid + " without a Series Instance UID (0020,000E)");
  return h;
}

}  // namespace covscreen
