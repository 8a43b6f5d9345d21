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

// Rows, Columns, NumberOfFrames (US / IS): a whole number in [0, 1e9], else `fallback`.
int int_value(const json& inst, const std::string& tag, int fallback) {
  const std::string v = dicom_json_string(inst, tag);
  char* stop = nullptr;
  const double d = std::strtod(v.c_str(), &stop);
  if (v.empty() || *stop != '\0' || !std::isfinite(d) || d < 0 || d > 1e9) return fallback;
  return int(d);
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
  char key[9];
  DicomHeader h = dicom_header_from_text(
      [&](uint32_t tag) {
        std::snprintf(key, sizeof key, "%08X", tag);
        return dicom_json_string(inst, key);
      },
      "dicom+json instance " + dicom_json_string(inst, "00080018"));
  h.path.clear();
  h.rows = int_value(inst, "00280010", 0);
  h.cols = int_value(inst, "00280011", 0);
  h.frames = std::max(1, int_value(inst, "00280008", 1));
  return h;
}

}  // namespace covscreen
