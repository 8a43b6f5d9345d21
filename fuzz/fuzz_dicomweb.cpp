// What a DICOMweb archive answers (`covscreen pacs`, pacs/dicomweb.h): the first byte picks the
// parser. 0: a multipart/related body (boundary "b", fed to the streaming parser in chunks whose
// sizes come from the input, and parsed whole: both must agree); 1: a Content-Type header's
// boundary; 2: an application/dicom+json answer, each instance to a DicomHeader. Bad input must
// give covscreen::Error; anything else escaping, or a crash, is a finding.
#include <cstdint>
#include <string>

#include "covscreen/core/error.h"
#include "covscreen/pacs/dicomweb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace covscreen;
  if (size < 1) return 0;
  const std::string in(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 3) {
      case 0: {
        std::vector<MultipartPart> streamed;
        MultipartParser p("b", {[&](const std::map<std::string, std::string>& h) {
                                  streamed.push_back({h, ""});
                                },
                                [&](const char* d, size_t n) { streamed.back().body.append(d, n); }, [] {}});
        const size_t chunk = 1 + data[0] / 3 % 17;
        for (size_t at = 0; at < in.size(); at += chunk) p.feed(in.data() + at, std::min(chunk, in.size() - at));
        p.finish();
        const std::vector<MultipartPart> whole = parse_multipart(in, "b");
        if (whole.size() != streamed.size()) __builtin_trap();
        for (size_t i = 0; i < whole.size(); ++i)
          if (whole[i].body != streamed[i].body || whole[i].headers != streamed[i].headers) __builtin_trap();
        break;
      }
      case 1:
        multipart_boundary(in);
        break;
      default: {
        const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
        if (j.is_array())
          for (const auto& instance : j) {
            try {
              header_from_dicom_json(instance);
            } catch (const Error&) {
            }
          }
        else if (!j.is_discarded())
          header_from_dicom_json(j);
        break;
      }
    }
  } catch (const Error&) {
  }
  return 0;
}
