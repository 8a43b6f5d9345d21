// Isolated decoding (io/decoder_pool.h): the decoder processes give the same gray pixels and the
// same errors as the in-process reader, and a decoder that aborts, segfaults, hangs or runs out of
// memory costs one file (a clear FileError) while the pool goes on. The faults are injected with
// the decoder's test hook, COVSCREEN_DECODER_FAULTS.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "covscreen/core/error.h"
#include "covscreen/io/decoder_pool.h"
#include "covscreen/io/decoder_protocol.h"
#include "covscreen/io/image_reader.h"
#include "decoder_faults.h"
#include "test_util.h"

using namespace covscreen;

namespace {

std::string write_png(const test::TempDir& dir, const std::string& name, int w, int h, int seed) {
  cv::Mat m(h, w, CV_8UC3);
  cv::RNG rng(seed);
  rng.fill(m, cv::RNG::UNIFORM, 0, 255);
  const std::string p = dir.file(name);
  cv::imwrite(p, m);
  return p;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// The problem text of `fn`'s FileError, or "" when it did not throw one.
template <class Fn>
std::string problem_of(Fn fn) {
  try {
    fn();
  } catch (const FileError& e) {
    return e.problem();
  }
  return "";
}

DecoderPoolOptions isolated() {
  DecoderPoolOptions o;
  o.processes = 2;
  o.require_isolation = true;  // fail, not fall back, when covscreen-decoder is missing
  return o;
}

}  // namespace

TEST(DecoderPool, SamePixelsAndErrorsAsInProcess) {
  test::TempDir dir;
  DecoderPool pool(isolated());
  ASSERT_TRUE(pool.stats().isolated);
  std::vector<std::string> files = {write_png(dir, "a.png", 97, 61, 1), write_png(dir, "b.png", 300, 200, 2)};
  if (const std::string d = test::dataset("dicom-samples/pydicom-test-files"); !d.empty())
    for (const char* f : {"CT_small.dcm", "693_J2KI.dcm"}) files.push_back(d + "/" + f);
  ReadOptions ro;
  ro.window.center = -500;
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    const DecodedImage a = read_image(f, ro), b = pool.read(f, ro);
    EXPECT_EQ(a.format, b.format);
    EXPECT_EQ(a.width, b.width);
    EXPECT_EQ(a.bit_depth, b.bit_depth);
    ASSERT_EQ(a.gray.size(), b.gray.size());
    EXPECT_EQ(cv::norm(a.gray, b.gray, cv::NORM_INF), 0.0) << "gray pixels must be bit-exact";
    const DecodedImage c = pool.decode(slurp(f), "upload", ro);
    EXPECT_EQ(cv::norm(a.gray, c.gray, cv::NORM_INF), 0.0);
  }
  // Errors: the same problem as the in-process reader, naming the file.
  std::ofstream(dir.file("text.png")) << "not an image at all\n";
  std::ofstream(dir.file("empty.png")) << "";
  for (const char* name : {"text.png", "empty.png", "missing.png"}) {
    const std::string p = dir.file(name);
    const std::string want = problem_of([&] { read_image(p); });
    ASSERT_FALSE(want.empty()) << name;
    EXPECT_EQ(problem_of([&] { pool.read(p); }), want) << name;
  }
  EXPECT_EQ(pool.stats().crashes, 0u);
}

TEST(DecoderPool, AbortSegfaultHangAndRunawayMemoryCostOneFileEach) {
  test::TempDir dir;
  const auto faults = test::decoder_faults("2");
  ::setenv("COVSCREEN_DECODER_FAULTS", test::decoder_faults_env(faults).c_str(), 1);
  DecoderPoolOptions o = isolated();
  o.timeout_s = 2;
  o.memory_limit_bytes = int64_t(1) << 30;
  DecoderPool pool(o);  // restarted decoders inherit the faults too: unset at the end
  const std::string good = write_png(dir, "good.png", 64, 64, 3);
  const DecodedImage ref = read_image(good);
  for (const auto& [kind, says] : faults) {
    SCOPED_TRACE(kind);
    const std::string p = write_png(dir, "fault-" + kind + ".png", 64, 64, 4);
    const auto t0 = std::chrono::steady_clock::now();
    try {
      pool.read(p);
      ADD_FAILURE() << "no error";
    } catch (const FileError& e) {
      EXPECT_EQ(e.path(), p);
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 20.0);
    // The next file decodes, and exactly as before.
    const DecodedImage again = pool.read(good);
    EXPECT_EQ(cv::norm(ref.gray, again.gray, cv::NORM_INF), 0.0);
  }
  const DecoderStats s = pool.stats();
  EXPECT_EQ(s.crashes, 2u);  // abort, segv (oom: the decoder refuses the file and lives on)
  EXPECT_EQ(s.timeouts, 1u);
  EXPECT_GE(s.restarts, 3u);
  ::unsetenv("COVSCREEN_DECODER_FAULTS");
}

// Decoders live as long as the pool's process, not the thread that started them: a pack builder
// starts them from short-lived threads (PR_SET_PDEATHSIG would kill them when that thread ends),
// and a decoder whose parent process is gone ends on its own.
TEST(DecoderPool, OutlivesTheThreadThatStartedItsDecoders) {
  test::TempDir dir;
  std::unique_ptr<DecoderPool> pool;
  std::thread([&] { pool = std::make_unique<DecoderPool>(isolated()); }).join();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  const std::string p = write_png(dir, "a.png", 40, 30, 5);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(pool->read(p).gray.cols, 40);
  EXPECT_EQ(pool->stats().crashes, 0u);

  const std::string exe = find_decoder_executable();
  ASSERT_FALSE(exe.empty());
  int in[2];
  ASSERT_EQ(::pipe(in), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {  // its stdin stays open, so only the parent check can end it
    ::dup2(in[0], 0);
    ::close(in[1]);
    ::execl(exe.c_str(), exe.c_str(), "--parent", "999999999", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(in[0]);
  int st = -1;
  bool ended = false;
  for (int i = 0; i < 200 && !ended; ++i) {
    ended = ::waitpid(pid, &st, WNOHANG) == pid;
    if (!ended) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!ended) ::kill(pid, SIGKILL), ::waitpid(pid, &st, 0);
  ::close(in[1]);
  EXPECT_TRUE(ended) << "the decoder did not notice that its parent is gone";
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
}

// Real files on which GDCM itself aborts (fuzz/gdcm-aborts/, found by fuzzing): each costs
// one file, with an error naming it, and the next file decodes.
TEST(DecoderPool, FilesThatAbortGdcmCostOneFileEach) {
  test::TempDir dir;
  DecoderPool pool(isolated());
  const std::string good = write_png(dir, "good.png", 32, 32, 9);
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(COVSCREEN_SOURCE_DIR) + "/fuzz/gdcm-aborts")) {
    SCOPED_TRACE(e.path().string());
    ++files;
    const std::string why = problem_of([&] { pool.read(e.path().string()); });
    EXPECT_NE(why.find("while reading this file"), std::string::npos) << why;
    EXPECT_EQ(pool.read(good).gray.cols, 32);
  }
  EXPECT_GT(files, 0);
  EXPECT_EQ(pool.stats().crashes, uint64_t(files));
}

TEST(DecoderProtocol, RoundTripsAndRefusesMalformedFrames) {
  using namespace decoder;
  Request q;
  q.is_path = false;
  q.name = "upload.dcm";
  q.data = std::string("\0\1\2bytes", 8);
  q.read.window.center = -400;
  q.read.window.use_file_voi = true;
  q.read.max_pixels = 12345;
  const Request q2 = decode_request(encode_request(q));
  EXPECT_FALSE(q2.is_path);
  EXPECT_EQ(q2.name, q.name);
  EXPECT_EQ(q2.data, q.data);
  EXPECT_DOUBLE_EQ(q2.read.window.center, -400);
  EXPECT_TRUE(q2.read.window.use_file_voi);
  EXPECT_EQ(q2.read.max_pixels, 12345);

  Reply r;
  r.ok = true;
  r.image.format = "png";
  r.image.width = 5;
  r.image.height = 3;
  r.image.gray = cv::Mat(3, 5, CV_8UC1);
  cv::randu(r.image.gray, 0, 255);
  const std::string bytes = encode_reply(r);
  const Reply r2 = decode_reply(bytes);
  ASSERT_TRUE(r2.ok);
  EXPECT_EQ(cv::norm(r.image.gray, r2.image.gray, cv::NORM_INF), 0.0);
  for (size_t cut = 0; cut < bytes.size(); cut += 3)
    EXPECT_THROW(decode_reply(bytes.substr(0, cut)), ProtocolError) << cut;
  EXPECT_THROW(decode_reply(bytes + "x"), ProtocolError);
  EXPECT_THROW(decode_request(bytes), ProtocolError);  // a reply is not a request
  EXPECT_THROW(frame_size(std::string(8, '\xff')), ProtocolError);
}
