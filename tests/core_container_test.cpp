#include <gtest/gtest.h>

#include <fstream>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "test_util.h"

using namespace covscreen;

TEST(Container, RoundTripsBitExactly) {
  test::TempDir dir;
  Container c;
  c.magic = std::string("CVSTEST\0", 8);
  c.version = 3;
  c.header = {{"a", 1}, {"b", "x"}};
  c.blobs["z"] = std::string("\0\1\2\3", 4);
  c.blobs["big"] = std::string(100000, '\x7f');
  write_container(dir.file("f.bin"), c);
  Container r = read_container(dir.file("f.bin"), c.magic, 3, "a test file");
  EXPECT_EQ(r.version, 3u);
  EXPECT_EQ(r.header, c.header);
  EXPECT_EQ(r.blobs, c.blobs);
}

TEST(Container, RejectsTruncatedDamagedAndForeignFiles) {
  test::TempDir dir;
  Container c;
  c.magic = std::string("CVSTEST\0", 8);
  c.header = {{"k", "v"}};
  c.blobs["data"] = std::string(1000, 'a');
  write_container(dir.file("f.bin"), c);
  const std::string bytes = read_file(dir.file("f.bin"));
  for (size_t cut : {size_t(0), size_t(5), size_t(20), bytes.size() / 2, bytes.size() - 1}) {
    write_file_atomic(dir.file("t.bin"), bytes.substr(0, cut));
    EXPECT_THROW(read_container(dir.file("t.bin"), c.magic, 1, "a test file"), FileError) << cut;
  }
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x10;
  write_file_atomic(dir.file("d.bin"), flipped);
  try {
    read_container(dir.file("d.bin"), c.magic, 1, "a test file");
    FAIL() << "damaged file accepted";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("d.bin"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos);
  }
  write_file_atomic(dir.file("x.png"), std::string("\x89PNG\r\n\x1a\n", 8) + std::string(100, '\0'));
  try {
    read_container(dir.file("x.png"), c.magic, 1, "a test file");
    FAIL();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("PNG"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_container(dir.file("missing.bin"), c.magic, 1, "a test file"), FileError);
  // A newer version than this build reads.
  c.version = 9;
  write_container(dir.file("v.bin"), c);
  EXPECT_THROW(read_container(dir.file("v.bin"), c.magic, 1, "a test file"), FileError);
}

TEST(Container, FailedWriteKeepsThePreviousFile) {
  test::TempDir dir;
  write_file_atomic(dir.file("keep.bin"), "old");
  // A path in a folder that does not exist cannot be written: error, nothing else touched.
  EXPECT_THROW(write_file_atomic(dir.file("nope/keep.bin"), "new"), FileError);
  EXPECT_EQ(read_file(dir.file("keep.bin")), "old");
}
