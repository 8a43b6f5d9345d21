#pragma once
// Decoding untrusted files where a crash costs one file, not the process. A small pool of decoder
// processes (the `covscreen-decoder` program: read_image / decode_image behind the protocol of
// io/decoder_protocol.h), each with a memory cap (RLIMIT_AS), fed over pipes one file at a time
// with a time limit. A decoder that crashes (a GDCM assertion, a segfault), hangs or exhausts its
// memory is killed and replaced; the file gets a FileError that says what happened:
//   "decoder crashed (SIGABRT) while reading it", "decoding took longer than 10 s", ...
// and the caller goes on with the next file. The gray pixels are the same bytes the in-process
// reader gives (the decoder runs that code).
//
//   DecoderPool& pool = default_decoder_pool();
//   DecodedImage img = pool.read("scan.dcm", ReadOptions{});         // throws FileError
//   DecodedImage up = pool.decode(http_body, "upload", ReadOptions{});
//
// The decoder program is found through $COVSCREEN_DECODER, else next to the running executable,
// else in $COVSCREEN_BIN_DIR (the build folder, for tests). When it cannot be found the pool says
// so once on stderr and decodes in-process (DecoderPoolOptions::require_isolation makes that an
// error instead). Test hook: $COVSCREEN_DECODER_FAULTS="abort:NAME;segv:NAME;hang:NAME;oom:NAME"
// makes the decoder fail that way on files whose name contains NAME (read by the decoder only).
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "covscreen/io/image_reader.h"

namespace covscreen {

struct DecoderPoolOptions {
  int processes = 0;                              // 0: the usable CPUs (at least 2)
  double timeout_s = 10.0;                        // per file
  int64_t memory_limit_bytes = int64_t(4) << 30;  // RLIMIT_AS of each decoder process
  std::string executable;                         // "": found as described above
  bool require_isolation = false;                 // no decoder program: throw instead of decoding in-process
};

struct DecoderStats {
  uint64_t decoded = 0;   // files answered (decoded or refused by the decoder)
  uint64_t crashes = 0;   // decoder died on a file (signal or exit)
  uint64_t timeouts = 0;  // decoder killed after the time limit
  uint64_t restarts = 0;  // decoders started after the first ones
  bool isolated = false;  // decoding runs in separate processes
};

class DecoderPool {
 public:
  explicit DecoderPool(DecoderPoolOptions opt = {});
  ~DecoderPool();  // stops the decoders
  DecoderPool(const DecoderPool&) = delete;
  DecoderPool& operator=(const DecoderPool&) = delete;

  // As read_image / decode_image (io/image_reader.h); thread-safe; throws FileError.
  DecodedImage read(const std::string& path, const ReadOptions& opt = {});
  DecodedImage decode(const std::string& bytes, const std::string& name, const ReadOptions& opt = {});

  DecoderStats stats() const;
  const DecoderPoolOptions& options() const { return opt_; }

 private:
  struct Worker;
  DecodedImage run(bool is_path, const std::string& data, const std::string& name, const ReadOptions& opt);
  Worker* acquire();
  void release(Worker* w);
  void start(Worker& w);
  void stop(Worker& w, bool kill_now);
  int reap(Worker& w);  // waits (at most ~2 s, then SIGKILL) for the process; its wait status or -1
  DecoderPoolOptions opt_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<Worker*> idle_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> decoded_{0}, crashes_{0}, timeouts_{0}, restarts_{0};
};

// The process-wide pool, started on first use with default options (COVSCREEN_DECODE_TIMEOUT_S
// and COVSCREEN_DECODER_MEMORY_MB override the time and memory limits). Every command that reads
// image files from outside decodes through it (screen, evaluate, explain, bench, serve, dataset
// pack and build).
DecoderPool& default_decoder_pool();

// The decoder program's location as described above, or "" when none is found.
std::string find_decoder_executable();

}  // namespace covscreen
