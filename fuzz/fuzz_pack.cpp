// Pack reading: read_pack() on a file holding the input, with the container checksum fixed up
// (fuzz_util.h) so that mutations reach the header, blob and tensor parsing behind it.
// Bad input must give FileError; anything else escaping or a crash is a finding.
#include <cstdint>
#include <string>

#include "covscreen/core/error.h"
#include "covscreen/data/pack.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace covscreen;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  // Even sizes: checksum fixed up (reach the parser); odd sizes: as given (checksum check).
  const std::string path = fuzz::write_scratch("in.pack", size % 2 ? bytes : fuzz::with_container_checksum(bytes));
  try {
    const Pack p = read_pack(path);
    p.validate("fuzz");
    const int64_t n = p.size();
    fuzz::check(p.labels.size() == size_t(n) && p.paths.size() == size_t(n), "pack sizes disagree after validate");
    (void)p.content_hash();
    if (n > 0) (void)p.select({0, n - 1});
  } catch (const FileError&) {
  }
  return 0;
}
