// Limits on CSV / manifest and pack input (data/csv.h, core/container.h via data/pack.h):
// the named constants, too many fields, too long records, and pack sizes that disagree with
// the file, each refused with a FileError that names the file.
#include <cstdint>
#include <functional>
#include <string>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/data/csv.h"
#include "covscreen/data/manifest.h"
#include "covscreen/data/pack.h"
#include "test_util.h"

namespace covscreen {
namespace {

using test::TempDir;

std::string problem(const std::function<void()>& f) {
  try {
    f();
  } catch (const FileError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(DataLimits, CsvFieldCountIsLimited) {
  EXPECT_EQ(kMaxCsvFields, 4096u);
  const std::string ok = "h\n" + std::string(kMaxCsvFields - 1, ',') + "\n";
  EXPECT_EQ(parse_csv(ok, "ok.csv").at(1).fields.size(), kMaxCsvFields);
  const std::string wide = "h\n" + std::string(kMaxCsvFields, ',') + "\n";
  const std::string p = problem([&] { parse_csv(wide, "wide.csv"); });
  EXPECT_NE(p.find("wide.csv: line 2: more than 4096 fields"), std::string::npos) << p;
}

TEST(DataLimits, ManifestWithAnOverlongLineIsRefused) {
  TempDir dir;
  const std::string path = dir.file("m.csv");
  write_file_atomic(path, "path,label\n" + std::string(kMaxCsvRecordBytes + 1, 'x') + ",covid\n");
  const std::string p = problem([&] { read_manifest(path); });
  EXPECT_NE(p.find(path + ": line 2: record longer than 1048576 bytes"), std::string::npos) << p;
}

// A container file by hand: magic, version, header, blobs, then the checksum (optional).
std::string container(const std::string& header, const std::string& blobs_part, uint32_t nblobs) {
  auto u32 = [](uint32_t v) { return std::string{char(v), char(v >> 8), char(v >> 16), char(v >> 24)}; };
  auto u64 = [&](uint64_t v) { return u32(uint32_t(v)) + u32(uint32_t(v >> 32)); };
  std::string out =
      std::string(kPackMagic, 8) + u32(kPackVersion) + u64(header.size()) + header + u32(nblobs) + blobs_part;
  return out + u64(fnv1a64(out.data(), out.size()));
}

std::string blob(const std::string& name, uint64_t claimed, const std::string& bytes) {
  auto u32 = [](uint32_t v) { return std::string{char(v), char(v >> 8), char(v >> 16), char(v >> 24)}; };
  return u32(uint32_t(name.size())) + name + u32(uint32_t(claimed)) + u32(uint32_t(claimed >> 32)) + bytes;
}

TEST(DataLimits, PackSizesAreCheckedAgainstTheFile) {
  TempDir dir;
  const std::string path = dir.file("x.pack");
  // A blob claiming more bytes than the file holds.
  write_file_atomic(path, container("{}", blob("images", 1ull << 40, "abcd"), 1));
  std::string p = problem([&] { read_pack(path); });
  EXPECT_NE(p.find(path + ": truncated"), std::string::npos) << p;
  // A header length beyond the file.
  std::string bytes = container("{}", "", 0);
  bytes[12] = '\x7f';
  write_file_atomic(path, bytes);
  p = problem([&] { read_pack(path); });
  EXPECT_NE(p.find("header length"), std::string::npos) << p;
  // An absurd blob count.
  write_file_atomic(path, container("{}", "", 0xFFFFFFFFu));
  p = problem([&] { read_pack(path); });
  EXPECT_NE(p.find("absurd blob count"), std::string::npos) << p;
  // N x H x W that disagrees with the images blob (2 x 3 x 4 = 24 bytes claimed, 4 present).
  write_file_atomic(path, container(R"({"n":2,"h":3,"w":4})", blob("images", 4, "abcd"), 1));
  p = problem([&] { read_pack(path); });
  EXPECT_NE(p.find("header says 2 images of 3x4 (24 bytes) but the images blob has 4 bytes"), std::string::npos) << p;
  // N x H x W whose product overflows 64 bits.
  write_file_atomic(path, container(R"({"n":9223372036854775807,"h":4096,"w":4096})", blob("images", 4, "abcd"), 1));
  p = problem([&] { read_pack(path); });
  EXPECT_NE(p.find("damaged pack"), std::string::npos) << p;
}

}  // namespace
}  // namespace covscreen
