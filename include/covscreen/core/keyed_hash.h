#pragma once
// Keyed hashing for de-identification: SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), and a
// KeyedHasher that turns identifiers (patient ids, DICOM UIDs) into stable pseudonyms.
// The same key and input always give the same output; without the key the mapping cannot be
// recomputed or reversed. The key is never written anywhere by this code.
#include <array>
#include <cstdint>
#include <string>

namespace covscreen {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest sha256(const std::string& data);
Sha256Digest hmac_sha256(const std::string& key, const std::string& message);
std::string to_hex(const uint8_t* data, size_t n);
// "2.25." + the first 128 bits of the digest in decimal (a UUID-derived UID, PS3.5 B.2): at most
// 44 characters, digits and dots only.
std::string uid_from_digest(const Sha256Digest& d);
inline std::string to_hex(const Sha256Digest& d) { return to_hex(d.data(), d.size()); }

inline constexpr size_t kMinKeyBytes = 16;

class KeyedHasher {
 public:
  // Throws UsageError when the key is shorter than kMinKeyBytes.
  explicit KeyedHasher(std::string key);

  // HMAC(key, domain + '\0' + value): domains keep patient ids and UIDs apart.
  Sha256Digest mac(const std::string& domain, const std::string& value) const;
  // "pt-" + 12 hex digits (48 bits) of mac("patient", id): stable, no PHI, safe as a folder name.
  std::string patient_pseudonym(const std::string& patient_id) const;
  // "2.25." + the first 128 bits of mac("uid", uid) in decimal (a UUID-derived UID, PS3.5 B.2):
  // at most 44 characters, digits and dots only.
  std::string replace_uid(const std::string& uid) const;
  // 16 hex digits that identify the key (mac("key-id", "")), for the data set card.
  std::string key_id() const;

 private:
  std::string key_;
};

// Reads the key file (trailing CR/LF/spaces dropped). When it does not exist and `create` is
// set, writes 32 random bytes as 64 hex digits (mode 0600) and sets *created. Throws
// FileError / UsageError (too short).
std::string load_or_create_key(const std::string& path, bool create, bool* created = nullptr);

}  // namespace covscreen
