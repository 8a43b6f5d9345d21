// Manifest / CSV parsing: parse_csv() on the bytes (with a small record limit so the limit is
// exercised too), a write/parse round trip of every record, and read_manifest() on a file
// holding the bytes. Bad input must give FileError; anything else escaping, a crash or a
// round trip that changes the fields is a finding.
#include <cstdint>
#include <string>
#include <vector>

#include "covscreen/core/error.h"
#include "covscreen/data/csv.h"
#include "covscreen/data/manifest.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace covscreen;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const std::vector<CsvRecord> recs = parse_csv(text, "in.csv", 4096);
    for (const CsvRecord& r : recs) {
      fuzz::check(!r.fields.empty() && r.fields.size() <= kMaxCsvFields, "record with no fields or too many");
      // A lone empty field is written as a blank line (skipped on reading) and a leading BOM is
      // dropped on reading: both are documented, so they are not round-tripped here.
      if (r.fields.size() == 1 && r.fields[0].empty()) continue;
      if (r.fields[0].rfind("\xEF\xBB\xBF", 0) == 0) continue;
      const std::vector<CsvRecord> again = parse_csv(csv_record(r.fields), "roundtrip.csv", 1u << 20);
      fuzz::check(again.size() == 1 && again[0].fields == r.fields, "csv_record/parse_csv round trip changed a record");
    }
  } catch (const FileError&) {
  }
  try {
    const Manifest m = read_manifest(fuzz::write_scratch("manifest.csv", text));
    for (const auto& e : m.entries) fuzz::check(!e.path.empty(), "manifest entry with an empty path");
  } catch (const FileError&) {
  }
  return 0;
}
