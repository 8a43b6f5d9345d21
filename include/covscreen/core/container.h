#pragma once
// One versioned binary container used by packs and checkpoints.
//
// Layout (all integers little-endian):
//   magic     8 bytes   e.g. "CVSPACK\0" or "CVSCKPT\0" (a constant per kind)
//   version   u32
//   header    u64 length + that many bytes of UTF-8 JSON (kind-specific metadata)
//   nblobs    u32
//   blobs     for each: u32 name length, name, u64 byte length, bytes
//   checksum  u64 FNV-1a over every byte before it
//
// Writing goes to "<path>.tmp-<pid>" then fsync + rename, so a reader never sees a
// half-written file and a failed write leaves the previous file intact.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace covscreen {

struct Container {
  std::string magic;  // exactly 8 bytes
  uint32_t version = 1;
  nlohmann::json header;
  std::map<std::string, std::string> blobs;  // name -> raw bytes
};

// Limits on what is read from outside.
constexpr uint64_t kMaxContainerHeaderBytes = 256ull << 20;  // 256 MiB of JSON
constexpr uint32_t kMaxContainerBlobs = 1u << 20;

// Writes atomically. Throws FileError on any I/O failure (the old file stays as it was).
void write_container(const std::string& path, const Container& c);

// Reads and verifies magic, version (<= max_version), sizes against the file size and the
// checksum. `expected_magic` names the kind; a file of another kind gets an error that says
// what it looks like instead (a pack given as a checkpoint, a PyTorch file, an image...).
Container read_container(const std::string& path, const std::string& expected_magic, uint32_t max_version,
                         const std::string& kind_name);

// Writes `bytes` to `path` atomically (temp file, fsync, rename). Throws FileError.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Reads a whole file. Throws FileError naming the path when it cannot be read.
std::string read_file(const std::string& path);
// Reads a whole file as JSON. Throws FileError naming the path when it cannot be read or is not
// JSON ("<what> is not valid JSON: ..." with `what`, else "not valid JSON: ...").
nlohmann::json read_json_file(const std::string& path, const std::string& what = "");

uint64_t fnv1a64(const void* data, size_t n, uint64_t h = 1469598103934665603ull);

}  // namespace covscreen
