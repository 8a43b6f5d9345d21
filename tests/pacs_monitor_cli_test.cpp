// `covscreen pacs` against a real PACS (Orthanc + DICOMweb, tests/orthanc_fixture.h) with the shipped
// models and real CT (COVID-CT-MD) and X-ray images (tests/python/make_pacs_studies.py):
//   - each screenable study gains exactly one SR series and one SC series of one instance each, the SR
//     references instances of the screened series, a corrupt study fails (exit 2) and is retried up
//     to --max-failures, an X-ray study is 'no screenable series' for the CT model;
//   - a second run adds nothing and leaves the state file as it was;
//   - a study screened again (its state entry lost, as after a crash between STOW-RS and the state
//     write) stores the same SR/SC UIDs again: still one SR and one SC;
//   - the X-ray model screens the frontal view only;
//   - the archive going down mid-run: the monitor retries with backoff (1 s, 2 s, ...), SIGTERM ends it
//     cleanly, --once gives up with exit 3; after a restart on the same storage one run finishes the
//     remaining study, with exactly one SR and one SC per study.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include "cli_util.h"
#include "covscreen/core/container.h"
#include "covscreen/io/dicom_header.h"
#include "covscreen/pacs/dicomweb.h"
#include "orthanc_fixture.h"
#include "test_util.h"

namespace covscreen {
namespace {

using json = nlohmann::json;
using test::CliRun;
using test::TempDir;

const std::string kCtModel = std::string(COVSCREEN_SOURCE_DIR) + "/models/deep-ct-net-covid-ct.ckpt";
const std::string kCxrModel = std::string(COVSCREEN_SOURCE_DIR) + "/models/deep-cxr-net-cxr.ckpt";

class PacsCli : public test::OrthancTest {
 protected:
  void SetUp() override {
    test::OrthancTest::SetUp();
    if (IsSkipped()) return;
    if (!test::have_cli()) COVSCREEN_SKIP() << "covscreen binary not built in " << test::bin_dir();
    for (const auto& m : {kCtModel, kCxrModel})
      if (!test::fs::exists(m)) COVSCREEN_SKIP() << "shipped model " << m << " not found";
    const auto& s = test::pacs_studies();
    if (!s.missing.empty()) COVSCREEN_SKIP() << "no test studies: " << s.missing;
  }
  const test::PacsStudies& studies() const { return test::pacs_studies(); }

  void upload(const std::vector<std::string>& names) {
    DicomWebClient c({orthanc().dicomweb()});
    for (const auto& n : names) {
      std::vector<std::string> files;
      for (const auto& f : studies().files(n)) files.push_back(read_file(f));
      ASSERT_EQ(c.store(files).stored.size(), files.size()) << n;
    }
  }

  CliRun pacs(const std::string& args) {
    return test::run_cli("pacs --url " + orthanc().dicomweb() + " " + args, dir());
  }

  json state(const std::string& path) const { return json::parse(read_file(path)); }

  // Series of a study by modality: modality -> (series uid -> instances).
  std::map<std::string, std::map<std::string, int>> series_of(const std::string& study_uid) {
    DicomWebClient c({orthanc().dicomweb()});
    std::map<std::string, std::map<std::string, int>> out;
    for (const auto& s : c.search_series(study_uid)) out[s.modality][s.series_uid] = s.instances;
    return out;
  }

  // One SR and one SC (OT) series of one instance each, next to the original series; the SR
  // references instances of the study's screened series (CurrentRequestedProcedureEvidenceSequence),
  // and its SOP Instance UID is the one in the state. Returns the referenced SOP Instance UIDs.
  std::set<std::string> expect_one_result(const std::string& name, const json& rec) {
    SCOPED_TRACE(name);
    const std::string study = studies().uid(name);
    auto series = series_of(study);
    EXPECT_EQ(series["SR"].size(), 1u);
    EXPECT_EQ(series["OT"].size(), 1u);
    for (const auto& m : {"SR", "OT"})
      for (const auto& [uid, n] : series[m]) EXPECT_EQ(n, 1) << m << " series " << uid;
    std::set<std::string> refs;
    if (series["SR"].size() != 1) return refs;
    DicomWebClient c({orthanc().dicomweb()});
    const json md = c.get_json("/studies/" + study + "/series/" + series["SR"].begin()->first + "/metadata");
    EXPECT_EQ(md.size(), 1u);
    if (md.size() != 1) return refs;
    EXPECT_EQ(dicom_json_string(md[0], "00080018"), rec.value("sr_uid", "")) << "SR UID in the state";
    EXPECT_EQ(dicom_json_string(md[0], "0020000D"), study);
    const json& evidence = md[0]["0040A375"]["Value"];
    for (const auto& st : evidence) {
      EXPECT_EQ(dicom_json_string(st, "0020000D"), study);
      for (const auto& se : st["00081115"]["Value"]) {
        EXPECT_EQ(dicom_json_string(se, "0020000E"), rec.value("series_uid", ""));
        for (const auto& inst : se["00081199"]["Value"]) refs.insert(dicom_json_string(inst, "00081155"));
      }
    }
    const auto all = studies().index.at(name).at("sop_instance_uids").get<std::vector<std::string>>();
    EXPECT_FALSE(refs.empty());
    for (const auto& r : refs) EXPECT_NE(std::find(all.begin(), all.end(), r), all.end()) << r << " not in the study";
    const json sc = c.get_json("/studies/" + study + "/series/" + series["OT"].begin()->first + "/metadata");
    EXPECT_EQ(sc.size() == 1 ? dicom_json_string(sc[0], "00080018") : "", rec.value("sc_uid", ""));
    return refs;
  }
};

std::map<std::string, json> by_study(const std::string& json_lines) {
  std::map<std::string, json> out;
  for (const auto& j : test::parse_json_lines(json_lines)) out[j.at("study_uid").get<std::string>()] = j;
  return out;
}

TEST_F(PacsCli, ScreensEachStudyOnceAndStoresResults) {
  start_orthanc();
  upload({"ct-covid", "ct-normal", "ct-broken", "cxr"});
  const int uploaded = orthanc().count_instances();
  const auto& S = studies();
  const std::string st = dir().file("state-ct.json");
  const std::string common = "--once --state " + st + " --model " + kCtModel + " --max-failures 2 --format json";

  // Run 1: two CT studies screened, the corrupt one failed, the X-ray one has nothing for a CT model.
  CliRun r = pacs(common);
  ASSERT_EQ(r.rc, 2) << r.err;
  auto out = by_study(r.out);
  ASSERT_EQ(out.size(), 4u) << r.out;
  EXPECT_EQ(out[S.uid("ct-covid")]["status"], "screened");
  EXPECT_EQ(out[S.uid("ct-normal")]["status"], "screened");
  EXPECT_EQ(out[S.uid("ct-broken")]["status"], "failed");
  EXPECT_EQ(out[S.uid("cxr")]["status"], "no-screenable-series");
  EXPECT_NE(r.err.find("study 1 of 4"), std::string::npos) << r.err;
  json s1 = state(st);
  for (const auto& n : {"ct-covid", "ct-normal"}) {
    const json& rec = s1["studies"][S.uid(n)];
    EXPECT_EQ(rec["status"], "screened") << n;
    EXPECT_EQ(rec["slices_screened"], int(S.files(n).size())) << n;
    const double p = rec["covid_probability"];
    EXPECT_TRUE(p >= 0 && p <= 1) << p;
    expect_one_result(n, rec);
  }
  const json& broken = s1["studies"][S.uid("ct-broken")];
  EXPECT_EQ(broken["status"], "failed");
  EXPECT_EQ(broken["failures"], 1);
  EXPECT_NE(broken["error"].get<std::string>().find("pixel data"), std::string::npos) << broken;
  EXPECT_EQ(s1["studies"][S.uid("cxr")]["status"], "no-screenable-series");
  EXPECT_NE(s1["studies"][S.uid("cxr")]["reason"].get<std::string>().find("not CT (Modality DX"), std::string::npos);
  for (const auto& n : {"ct-broken", "cxr"}) {
    auto series = series_of(S.uid(n));
    EXPECT_EQ(series.count("SR") + series.count("OT"), 0u) << n << ": nothing stored";
  }
  EXPECT_EQ(orthanc().count_instances(), uploaded + 4);

  // Run 2: only the corrupt study is tried again (and given up: --max-failures 2); nothing is stored.
  r = pacs(common);
  EXPECT_EQ(r.rc, 2) << r.err;
  out = by_study(r.out);
  ASSERT_EQ(out.size(), 1u) << r.out;
  EXPECT_EQ(out[S.uid("ct-broken")]["failures"], 2);
  EXPECT_EQ(out[S.uid("ct-broken")]["will_retry"], false);
  EXPECT_EQ(orthanc().count_instances(), uploaded + 4);
  json s2 = state(st);
  EXPECT_EQ(s2["studies"][S.uid("ct-broken")]["failures"], 2);
  for (const auto& n : {"ct-covid", "ct-normal", "cxr"}) EXPECT_EQ(s2["studies"][S.uid(n)], s1["studies"][S.uid(n)]);

  // Run 3: nothing to do; the state file is not even rewritten.
  const std::string before = read_file(st);
  r = pacs(common);
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("1 given up after 2 failures"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(st), before);
  EXPECT_EQ(orthanc().count_instances(), uploaded + 4);

  // Run 4: a crash between STOW-RS and the state write, simulated by removing the study from the
  // state: it is screened and stored again under the same UIDs, and the archive still has one SR and
  // one SC (Orthanc keeps one instance per SOP Instance UID).
  json s3 = state(st);
  const json old = s3["studies"][S.uid("ct-covid")];
  s3["studies"].erase(S.uid("ct-covid"));
  write_file_atomic(st, s3.dump());
  r = pacs(common);
  EXPECT_EQ(r.rc, 0) << r.err;
  const json again = state(st)["studies"][S.uid("ct-covid")];
  EXPECT_EQ(again["sr_uid"], old["sr_uid"]);
  EXPECT_EQ(again["sc_uid"], old["sc_uid"]);
  EXPECT_EQ(again["covid_probability"], old["covid_probability"]);
  expect_one_result("ct-covid", again);
  EXPECT_EQ(orthanc().count_instances(), uploaded + 4);

  // The X-ray model (its own state file): the X-ray study's frontal view is screened, the lateral
  // is not; the CT studies have nothing for it.
  const std::string sx = dir().file("state-cxr.json");
  r = pacs("--once --state " + sx + " --model " + kCxrModel + " --format json");
  EXPECT_EQ(r.rc, 0) << r.err;
  const json rec = state(sx)["studies"][S.uid("cxr")];
  EXPECT_EQ(rec["status"], "screened") << rec;
  EXPECT_EQ(rec["slices_screened"], 1);
  const auto refs = expect_one_result("cxr", rec);
  EXPECT_EQ(refs, std::set<std::string>{S.index["cxr"]["frontal_sop_instance_uid"].get<std::string>()});
  EXPECT_EQ(state(sx)["studies"][S.uid("ct-normal")]["status"], "no-screenable-series");
  EXPECT_EQ(orthanc().count_instances(), uploaded + 6);
  // A state file belongs to one model: the CT state with the X-ray model is refused.
  r = pacs("--once --state " + st + " --model " + kCxrModel);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("one --state file per archive, model and kind"), std::string::npos) << r.err;
}

// A `covscreen pacs` process in the background, its output in files.
struct Background {
  pid_t pid = -1;
  std::string out, err;
  Background(const std::string& args, const TempDir& dir) : out(dir.file("bg.out")), err(dir.file("bg.err")) {
    const std::string cmd = "exec '" + test::bin_dir() + "/covscreen' " + args + " >'" + out + "' 2>'" + err + "'";
    pid = ::fork();
    if (pid == 0) {
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Background() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  // The exit status, or -1 when it did not end within `timeout_s`.
  int wait(double timeout_s) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    int st = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid, &st, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }
  std::string stderr_text() const { return test::slurp(err); }
};

// Polls `pred` every 50 ms for up to `timeout_s`.
template <class Pred>
bool eventually(Pred pred, double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

TEST_F(PacsCli, ArchiveGoingDownMidRun) {
  start_orthanc();
  upload({"ct-covid", "ct-normal"});
  const int uploaded = orthanc().count_instances();
  const auto& S = studies();
  const std::string st = dir().file("state.json");
  auto screened = [&] {
    try {
      int n = 0;
      const json j = state(st);
      for (const auto& [uid, rec] : j.at("studies").items()) n += rec.at("status") == "screened";
      return n;
    } catch (const std::exception&) {
      return 0;  // not written yet
    }
  };

  // The monitor (polling, no --once) screens the first study; then the archive goes away while the
  // monitor is held (SIGSTOP), so it meets the dead archive in the second study.
  {
    Background mon("pacs --url " + orthanc().dicomweb() + " --state " + st + " --model " + kCtModel + " --poll 1",
                   dir());
    ASSERT_TRUE(eventually([&] { return screened() >= 1; }, 120)) << mon.stderr_text();
    ::kill(mon.pid, SIGSTOP);
    const int done_before = screened();
    EXPECT_EQ(done_before, 1) << "the second study (seconds of work) was done within 50 ms?";
    orthanc().stop();
    ::kill(mon.pid, SIGCONT);
    if (done_before == 1) {
      // It keeps retrying with a growing delay...
      ASSERT_TRUE(eventually([&] { return mon.stderr_text().find("retrying in 2 s") != std::string::npos; }, 30))
          << mon.stderr_text();
      EXPECT_NE(mon.stderr_text().find("archive " + orthanc().dicomweb() + " unreachable ("), std::string::npos);
      EXPECT_NE(mon.stderr_text().find("retrying in 1 s"), std::string::npos);
    }
    // ...until SIGTERM, which ends it at once and cleanly (nothing failed: exit 0).
    ::kill(mon.pid, SIGTERM);
    EXPECT_EQ(mon.wait(20), 0) << mon.stderr_text();
    EXPECT_NE(mon.stderr_text().find("SIGTERM"), std::string::npos) << mon.stderr_text();
    EXPECT_EQ(screened(), done_before);  // the state is whole JSON and holds what was stored
    EXPECT_EQ(state(st)["studies"].size(), size_t(done_before)) << "the abandoned study is not recorded";
  }

  // --once while the archive is down: gives up after --retries tries, exit 3.
  CliRun r = test::run_cli(
      "pacs --url " + orthanc().dicomweb() + " --once --retries 2 --state " + st + " --model " + kCtModel, dir());
  EXPECT_EQ(r.rc, 3) << r.err;
  EXPECT_NE(r.err.find("gave up after 2 tries"), std::string::npos) << r.err;

  // The archive comes back on the same storage and port: one run finishes the rest.
  start_orthanc();
  r = pacs("--once --state " + st + " --model " + kCtModel);
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(screened(), 2);
  const json s = state(st);
  for (const auto& n : {"ct-covid", "ct-normal"}) expect_one_result(n, s["studies"][S.uid(n)]);
  EXPECT_EQ(orthanc().count_instances(), uploaded + 4);
}

}  // namespace
}  // namespace covscreen
