// `covscreen dataset build` end to end on synthetic CT studies full of known PHI
// (tests/python/make_phi_dicoms.py): no PHI in any output file or name, stable pseudonyms per
// key, card counts = manifest counts, a patient-level split, byte-identical re-runs, and an
// interrupted build that converges on re-run.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "cli_util.h"
#include "covscreen/core/container.h"
#include "covscreen/data/manifest.h"
#include "covscreen/data/split.h"
#include "covscreen/data/stats.h"
#include "covscreen/io/deidentify.h"
#include "covscreen/publish/output_tree.h"

namespace covscreen {
namespace {

using test::fs::path;
using Tree = std::map<std::string, std::string>;  // relative path -> bytes

const char* kKeyA = "publish-test-key-A-0123456789abcdef";
const char* kKeyB = "publish-test-key-B-0123456789abcdef";

Tree read_tree(const path& root) {
  Tree t;
  for (const auto& e : test::fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) t[e.path().lexically_relative(root).string()] = read_file(e.path().string());
  return t;
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

// The generated studies, labels and PHI list, shared by the tests of this file.
class BuildCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fx_ = new test::TempDir();
    const std::string py = test::debian_python();
    if (py.empty() || !test::have_cli()) return;
    const std::string cmd = py + " " + quote(std::string(COVSCREEN_SOURCE_DIR) + "/tests/python/make_phi_dicoms.py") +
                            " " + quote(fx_->path().string()) + " --patients 12 --series 2 --slices 3";
    if (std::system(cmd.c_str()) != 0) return;
    const auto j = nlohmann::json::parse(read_file(fx_->file("phi.json")));
    phi_ = j["strings"].get<std::vector<std::string>>();
    slices_ = j["slices"].get<size_t>();
    write_file_atomic(fx_->file("a.key"), std::string(kKeyA) + "\n");
    write_file_atomic(fx_->file("b.key"), std::string(kKeyB) + "\n");
    ready_ = true;
  }
  static void TearDownTestSuite() {
    delete fx_;
    fx_ = nullptr;
  }
  void SetUp() override {
    if (!ready_) COVSCREEN_SKIP() << "needs the covscreen binary and Debian python3 with pydicom";
  }
  // Runs a build of the fixture into `out` with key file `key` and extra args.
  test::CliRun build(const std::string& out, const std::string& key, const std::string& extra = "") {
    return test::run_cli("dataset build " + quote(fx_->file("studies")) + " --out " + quote(out) + " --labels " +
                             quote(fx_->file("labels.csv")) + " --key-file " + quote(fx_->file(key)) +
                             " --no-progress " + extra,
                         tmp_);
  }
  std::string bin() const { return test::bin_dir() + "/covscreen"; }

  static test::TempDir* fx_;
  static std::vector<std::string> phi_;
  static size_t slices_;
  static bool ready_;
  test::TempDir tmp_;
};
test::TempDir* BuildCli::fx_ = nullptr;
std::vector<std::string> BuildCli::phi_;
size_t BuildCli::slices_ = 0;
bool BuildCli::ready_ = false;

TEST_F(BuildCli, NoPhiInAnyOutputFileOrName) {
  const std::string out = tmp_.file("ds");
  const auto r = build(out, "a.key", "--keep-dicom");
  ASSERT_EQ(r.rc, 0) << r.err << r.out;
  const Tree t = read_tree(out);
  size_t pngs = 0, dcms = 0;
  std::vector<std::string> forbidden = phi_;
  forbidden.push_back(kKeyA);
  for (const auto& [rel, bytes] : t) {
    for (const auto& s : forbidden) {
      EXPECT_EQ(rel.find(s), std::string::npos) << "PHI '" << s << "' in the name " << rel;
      EXPECT_EQ(bytes.find(s), std::string::npos) << "PHI '" << s << "' inside " << rel;
    }
    if (rel.size() > 4 && rel.substr(rel.size() - 4) == ".png") {
      ++pngs;
      // Chunks of the PNG: pixels only (no tEXt/zTXt/iTXt/tIME/eXIf).
      for (size_t pos = 8; pos + 8 <= bytes.size();) {
        const uint32_t len = uint32_t(uint8_t(bytes[pos])) << 24 | uint32_t(uint8_t(bytes[pos + 1])) << 16 |
                             uint32_t(uint8_t(bytes[pos + 2])) << 8 | uint8_t(bytes[pos + 3]);
        const std::string type = bytes.substr(pos + 4, 4);
        EXPECT_TRUE(type == "IHDR" || type == "IDAT" || type == "IEND") << rel << ": chunk " << type;
        pos += 12 + len;
      }
    }
    if (rel.size() > 4 && rel.substr(rel.size() - 4) == ".dcm") {
      ++dcms;
      EXPECT_EQ(read_dicom_identity(out + "/" + rel).patient_id, rel.substr(rel.rfind("/pt-") + 1, 15));
    }
  }
  EXPECT_EQ(pngs, slices_);
  EXPECT_EQ(dcms, slices_);
  EXPECT_TRUE(t.count("card.json") && t.count("CARD.md") && t.count("manifest.csv"));
  EXPECT_TRUE(t.count("figures/age.svg") && t.count("figures/sex.svg"));
  EXPECT_FALSE(t.count(publish::kInProgressMarker));
  EXPECT_NE(t.at("CARD.md").find("burned into the pixels is not removed"), std::string::npos);
  // The input really held the PHI: the scan above could fail.
  std::string input;
  for (const auto& [rel, bytes] : read_tree(fx_->path() / "studies")) input += rel + bytes;
  for (const auto& s : phi_) EXPECT_NE(input.find(s), std::string::npos) << s;
}

TEST_F(BuildCli, CardCountsMatchTheManifestAndTheSplitIsByPatient) {
  const std::string out = tmp_.file("ds");
  const auto r = build(out, "a.key");
  ASSERT_EQ(r.rc, 0) << r.err;
  const Manifest m = read_manifest(out + "/manifest.csv");
  ASSERT_EQ(m.entries.size(), slices_);
  const auto card = nlohmann::json::parse(read_file(out + "/card.json"));
  nlohmann::json want = stats_to_json(compute_stats(m)), got = card["counts"];
  want.erase("layout");  // "manifest" when read back, "dataset-build" when built
  got.erase("layout");
  EXPECT_EQ(got, want);
  EXPECT_EQ(card["counts"]["images"], slices_);
  EXPECT_EQ(card["counts"]["patients"], 12);
  EXPECT_EQ(card["images"]["count"], slices_);
  EXPECT_TRUE(card["counts"]["patient_overlap"]["ok"].get<bool>());
  EXPECT_TRUE(find_patient_overlap(m).empty());
  std::map<std::string, std::set<std::string>> splits_of;
  std::set<std::string> splits;
  size_t unlabelled = 0;
  for (const auto& e : m.entries) {
    EXPECT_TRUE(test::fs::exists(e.path)) << e.path;
    const path rel = path(e.path).lexically_relative(out);
    auto it = rel.begin();
    EXPECT_EQ(*it++, e.split);
    EXPECT_EQ(*it++, e.label.empty() ? "unlabelled" : e.label);
    EXPECT_EQ(*it, e.patient_id);
    splits_of[e.patient_id].insert(e.split);
    splits.insert(e.split);
    if (e.label.empty()) ++unlabelled;
  }
  for (const auto& [p, s] : splits_of) EXPECT_EQ(s.size(), 1u) << p;
  EXPECT_GE(splits.size(), 2u) << "12 patients should reach more than one split";
  EXPECT_EQ(unlabelled, slices_ / 12) << "the last patient has no label row";
  // Age (from the CSV, or the DICOM header for the unlabelled patient) and sex for all 12.
  EXPECT_EQ(card["demographics"]["age"]["patients_with_age"], 12);
  size_t sexes = 0;
  for (const auto& [cls, counts] : card["demographics"]["sex"].items())
    for (const auto& [s, n] : counts.items()) sexes += s == "unknown" ? 0 : n.get<size_t>();
  EXPECT_EQ(sexes, 12u);
  // `dataset stats` reads the manifest and agrees.
  const auto st = test::run_cli("dataset stats --json " + quote(out + "/manifest.csv"), tmp_);
  ASSERT_EQ(st.rc, 0) << st.err;
  EXPECT_EQ(nlohmann::json::parse(st.out)["images"], slices_);
}

TEST_F(BuildCli, SameKeySameBytesOtherKeyOtherPseudonyms) {
  const std::string a1 = tmp_.file("a1"), a2 = tmp_.file("a2"), b = tmp_.file("b");
  ASSERT_EQ(build(a1, "a.key", "--keep-dicom").rc, 0);
  ASSERT_EQ(build(a2, "a.key", "--keep-dicom").rc, 0);
  ASSERT_EQ(build(b, "b.key", "--keep-dicom").rc, 0);
  const Tree t1 = read_tree(a1), t2 = read_tree(a2), tb = read_tree(b);
  EXPECT_EQ(t1.size(), t2.size());
  EXPECT_TRUE(t1 == t2) << "two builds with the same key differ";
  std::set<std::string> pa, pb;
  for (const auto& e : read_manifest(a1 + "/manifest.csv").entries) pa.insert(e.patient_id);
  for (const auto& e : read_manifest(b + "/manifest.csv").entries) pb.insert(e.patient_id);
  EXPECT_EQ(pa.size(), 12u);
  EXPECT_EQ(pb.size(), 12u);
  for (const auto& p : pa) EXPECT_FALSE(pb.count(p)) << p << " appears under both keys";
  EXPECT_NE(t1.at("card.json"), tb.at("card.json"));  // key id differs
  // A re-run in place writes nothing new and keeps every byte.
  const auto again = build(a1, "a.key", "--keep-dicom");
  ASSERT_EQ(again.rc, 0) << again.err;
  EXPECT_NE(again.out.find(" 0 files written, 0 stale removed"), std::string::npos) << again.out;
  EXPECT_TRUE(read_tree(a1) == t1);
}

TEST_F(BuildCli, InterruptedBuildConvergesOnRerun) {
  const std::string clean = tmp_.file("clean"), out = tmp_.file("ds");
  ASSERT_EQ(build(clean, "a.key", "--keep-dicom").rc, 0);
  // Start a build and kill it as soon as it has written its first slice.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string b = bin(), in = fx_->file("studies"), labels = fx_->file("labels.csv"), key = fx_->file("a.key");
    ::freopen("/dev/null", "w", stdout);
    ::freopen("/dev/null", "w", stderr);
    ::execl(b.c_str(), b.c_str(), "dataset", "build", in.c_str(), "--out", out.c_str(), "--labels", labels.c_str(),
            "--key-file", key.c_str(), "--no-progress", "--keep-dicom", (char*)nullptr);
    ::_exit(127);
  }
  bool killed = false;
  for (int i = 0; i < 20000; ++i) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) break;  // finished before we could kill it
    std::error_code ec;
    if (test::fs::exists(out + "/" + publish::kInProgressMarker, ec) && test::fs::exists(out + "/train", ec)) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      killed = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (killed) {
    EXPECT_TRUE(test::fs::exists(out + "/" + publish::kInProgressMarker)) << "a killed build is marked incomplete";
    EXPECT_FALSE(test::fs::exists(out + "/card.json"));
  }
  // Leftovers of a crash and of an earlier build with other options.
  test::fs::create_directories(out + "/train/covid");
  test::fs::create_directories(out + "/val/normal/pt-000000000000");
  write_file_atomic(out + "/train/covid/s1-0001.png.tmp-99999", "half-written");
  write_file_atomic(out + "/val/normal/pt-000000000000/s9-0001.png", "an old slice");
  const auto r = build(out, "a.key", "--keep-dicom");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("stale removed"), std::string::npos);
  const Tree got = read_tree(out), want = read_tree(clean);
  EXPECT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want) << "the re-run after an interruption differs from a clean build";
  std::cout << "[ info ] the first build was " << (killed ? "killed mid-way" : "already finished") << "\n";
}

TEST_F(BuildCli, RefusesForeignFoldersAndKeysInsideTheOutput) {
  const std::string foreign = tmp_.file("foreign");
  test::fs::create_directories(foreign);
  write_file_atomic(foreign + "/notes.txt", "someone's files");
  auto r = build(foreign, "a.key");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("refusing"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(foreign + "/notes.txt"), "someone's files");
  const std::string out = tmp_.file("ds");
  test::fs::create_directories(out);
  write_file_atomic(out + "/k.key", std::string(kKeyA));
  r = test::run_cli(
      "dataset build " + quote(fx_->file("studies")) + " --out " + quote(out) + " --key-file " + quote(out + "/k.key"),
      tmp_);
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("inside the output"), std::string::npos) << r.err;
}

TEST_F(BuildCli, SelectionKeepsARangeThenEveryKthSlice) {
  const std::string out = tmp_.file("ds");
  const auto r = build(out, "a.key", "--range 2:3 --every 2 --format jpeg");
  ASSERT_EQ(r.rc, 0) << r.err;
  const Manifest m = read_manifest(out + "/manifest.csv");
  EXPECT_EQ(m.entries.size(), 12u * 2u);  // slice 2 of each of the 2 series of 12 patients
  for (const auto& e : m.entries) {
    EXPECT_EQ(path(e.path).filename().string().substr(2), "-0002.jpg") << e.path;
    EXPECT_EQ(read_file(e.path).substr(0, 3), "\xFF\xD8\xFF");
  }
}

TEST(BuildCliShared, SharedCtSamplesBuildWithoutTheirIdentity) {
  COVSCREEN_REQUIRE_DATASET(root, "dicom-samples/pydicom-test-files");
  if (!test::have_cli()) COVSCREEN_SKIP() << "no covscreen binary";
  test::TempDir tmp;
  write_file_atomic(tmp.file("k.key"), kKeyA);
  const auto r = test::run_cli("dataset build " + quote(root) + " --out " + quote(tmp.file("ds")) + " --key-file " +
                                   quote(tmp.file("k.key")) + " --no-progress --keep-dicom",
                               tmp);
  ASSERT_TRUE(r.rc == 0 || r.rc == 2) << r.err;
  const Manifest m = read_manifest(tmp.file("ds/manifest.csv"));
  EXPECT_GE(m.entries.size(), 3u);
  for (const auto& e : m.entries) EXPECT_TRUE(e.label.empty() && e.original_label == "unlabelled");
  std::vector<std::string> ids;
  for (const char* f : {"CT_small.dcm", "693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm"}) {
    const DicomIdentity id = read_dicom_identity(root + "/" + f);
    for (const auto& s : {id.patient_id, id.study_uid, id.series_uid, id.sop_uid})
      if (s.size() >= 4) ids.push_back(s);
  }
  for (const auto& [rel, bytes] : read_tree(tmp.file("ds")))
    for (const auto& s : ids) EXPECT_EQ((rel + bytes).find(s), std::string::npos) << s << " in " << rel;
  std::cout << r.out;
}

}  // namespace
}  // namespace covscreen
