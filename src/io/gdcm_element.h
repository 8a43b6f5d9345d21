#pragma once
// Private to src/io: writing one DICOM value with GDCM, padded to an even length as PS3.5 6.2 asks
// (UI and OB with a NUL, every other VR with a space). Used by the results writer (dicom_results.cpp)
// and by de-identification (deidentify.cpp).
#include <gdcmDataElement.h>
#include <gdcmDataSet.h>
#include <gdcmTag.h>
#include <gdcmVR.h>

#include <cstdint>
#include <string>

namespace covscreen::io_detail {

// Sets de's value to v, padded to an even length: with a NUL when nul_pad (UIDs, OB), else a space.
inline void set_padded_value(gdcm::DataElement& de, std::string v, bool nul_pad) {
  if (v.size() % 2) v += nul_pad ? '\0' : ' ';
  de.SetByteValue(v.data(), gdcm::VL(uint32_t(v.size())));
}

// The element (g,e) of VR vr holding v, padded as above.
inline gdcm::DataElement padded_element(uint16_t g, uint16_t e, gdcm::VR vr, const std::string& v) {
  gdcm::DataElement de(gdcm::Tag(g, e));
  de.SetVR(vr);
  set_padded_value(de, v, vr == gdcm::VR::UI || vr == gdcm::VR::OB);
  return de;
}

// Sets (g,e) in ds to v, replacing what was there.
inline void put_element(gdcm::DataSet& ds, uint16_t g, uint16_t e, gdcm::VR vr, const std::string& v) {
  ds.Replace(padded_element(g, e, vr, v));
}

}  // namespace covscreen::io_detail
