#pragma once
// Helpers shared by the fuzz targets (fuzz_<name>.cpp): a scratch folder per process for the
// entry points that take a path, and the checksum fix-up that lets mutated packs and
// checkpoints get past the container checksum (core/container.h) to the parsers behind it.
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "covscreen/core/container.h"

namespace covscreen::fuzz {

// A folder private to this process: /dev/shm when present (no disk I/O), else the temp dir.
// Removed when the process exits normally (a crashed run leaves it for inspection).
inline const std::string& scratch_dir() {
  struct Dir {
    std::string path;
    Dir() {
      namespace fs = std::filesystem;
      const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
      path = (base / ("covscreen-fuzz-" + std::to_string(::getpid()))).string();
      fs::create_directories(path);
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

// Writes `bytes` to `<scratch>/<name>` and returns the path.
inline std::string write_scratch(const std::string& name, const std::string& bytes) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

// Replaces the last 8 bytes with the FNV-1a checksum of the bytes before them, as
// write_container() does; inputs shorter than 8 bytes are returned unchanged.
inline std::string with_container_checksum(std::string bytes) {
  if (bytes.size() < 8) return bytes;
  const size_t body = bytes.size() - 8;
  const uint64_t h = fnv1a64(bytes.data(), body);
  for (int i = 0; i < 8; ++i) bytes[body + i] = static_cast<char>((h >> (8 * i)) & 0xff);
  return bytes;
}

// Aborts with a message (a finding) when `ok` is false.
inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

}  // namespace covscreen::fuzz
