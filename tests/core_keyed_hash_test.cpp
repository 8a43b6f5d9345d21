// SHA-256 against FIPS 180-2 appendix B, HMAC-SHA256 against RFC 4231, and the pseudonym rules.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "covscreen/core/error.h"
#include "covscreen/core/keyed_hash.h"
#include "test_util.h"

namespace covscreen {
namespace {

std::string unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out += char(std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

TEST(Sha256, FipsVectors) {
  EXPECT_EQ(to_hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(to_hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(to_hex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(to_hex(sha256(std::string(1000000, 'a'))),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, EveryLengthAroundTheBlockBoundaryDiffers) {
  std::set<std::string> seen;
  for (size_t n = 50; n < 140; ++n) seen.insert(to_hex(sha256(std::string(n, 'x'))));
  EXPECT_EQ(seen.size(), 90u);
}

struct Rfc4231 {
  std::string key, data, mac;
};

TEST(HmacSha256, Rfc4231Vectors) {
  const std::vector<Rfc4231> cases = {
      {std::string(20, '\x0b'), "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"Jefe", "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {std::string(20, '\xaa'), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), std::string(50, '\xcd'),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {std::string(131, '\xaa'),
       "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be "
       "hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (const auto& c : cases) EXPECT_EQ(to_hex(hmac_sha256(c.key, c.data)), c.mac) << c.data;
}

TEST(KeyedHasher, PseudonymsAreStablePerKeyAndDifferAcrossKeys) {
  const KeyedHasher a("0123456789abcdef-key-a"), a2("0123456789abcdef-key-a"), b("0123456789abcdef-key-b");
  EXPECT_EQ(a.patient_pseudonym("PAT-001"), a2.patient_pseudonym("PAT-001"));
  EXPECT_NE(a.patient_pseudonym("PAT-001"), b.patient_pseudonym("PAT-001"));
  EXPECT_NE(a.patient_pseudonym("PAT-001"), a.patient_pseudonym("PAT-002"));
  const std::string p = a.patient_pseudonym("PAT-001");
  ASSERT_EQ(p.size(), 15u);
  EXPECT_EQ(p.substr(0, 3), "pt-");
  EXPECT_EQ(p.find_first_not_of("0123456789abcdef", 3), std::string::npos);
  EXPECT_NE(a.key_id(), b.key_id());
  EXPECT_EQ(a.key_id().find("0123456789abcdef-key"), std::string::npos);
}

TEST(KeyedHasher, ReplacedUidsAreValidAndConsistent) {
  const KeyedHasher a("0123456789abcdef-key-a"), b("0123456789abcdef-key-b");
  const std::string uid = "1.2.826.0.1.3680043.8.498.12345678901234567890";
  const std::string r = a.replace_uid(uid);
  EXPECT_EQ(r, a.replace_uid(uid));
  EXPECT_NE(r, b.replace_uid(uid));
  EXPECT_NE(r, a.replace_uid(uid + "1"));
  EXPECT_EQ(r.substr(0, 5), "2.25.");
  EXPECT_LE(r.size(), 64u);
  EXPECT_EQ(r.find_first_not_of("0123456789", 5), std::string::npos);
  EXPECT_TRUE(r.size() == 5 || r[5] != '0');  // no leading zero in a UID component
}

TEST(KeyedHasher, ShortKeysAreRefused) { EXPECT_THROW(KeyedHasher("short"), UsageError); }

TEST(KeyFile, CreatedOnceThenReadBack) {
  test::TempDir dir;
  const std::string path = dir.file("site.key");
  EXPECT_THROW(load_or_create_key(path, false), FileError);
  bool created = false;
  const std::string k1 = load_or_create_key(path, true, &created);
  EXPECT_TRUE(created);
  EXPECT_EQ(k1.size(), 64u);
  EXPECT_EQ(test::fs::status(path).permissions() & test::fs::perms::others_read, test::fs::perms::none);
  const std::string k2 = load_or_create_key(path, true, &created);
  EXPECT_FALSE(created);
  EXPECT_EQ(k1, k2);
  std::ofstream(dir.file("short.key")) << "abc\n";
  EXPECT_THROW(load_or_create_key(dir.file("short.key"), false), FileError);
  std::ofstream(dir.file("trail.key")) << "0123456789abcdef-key\r\n";
  EXPECT_EQ(load_or_create_key(dir.file("trail.key"), false), "0123456789abcdef-key");
}

}  // namespace
}  // namespace covscreen
