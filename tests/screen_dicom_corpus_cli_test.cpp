// `covscreen screen` on a folder of DICOM files nobody here wrote (Debian's python3-pydicom test
// files; COVSCREEN_DICOM_CORPUS overrides): the process survives, exits 2 (some files are not
// images), writes one record per file or frame, names every refused file, no decoder crashes,
// and a multi-frame file is screened frame by frame as "file.dcm#frame-N".
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "cli_util.h"

namespace covscreen {
namespace {

namespace fs = std::filesystem;

TEST(ScreenDicomCorpusCli, EveryFileScreenedOrRefusedByNameFramesOneByOne) {
  if (!test::have_cli()) COVSCREEN_SKIP() << "the covscreen binary is not built";
  const char* env = std::getenv("COVSCREEN_DICOM_CORPUS");
  const fs::path corpus =
      env && *env ? fs::path(env) : fs::path("/usr/lib/python3/dist-packages/pydicom/data/test_files");
  if (!fs::is_directory(corpus)) COVSCREEN_SKIP() << corpus << " is absent (Debian's python3-pydicom; scripts/setup)";
  test::TempDir dir;
  const std::string model = test::small_checkpoint(dir, 5);
  const test::CliRun r =
      test::run_cli("screen --model '" + model + "' --format json --no-input-check --batch 4 '" + corpus.string() + "'",
                    dir, "timeout -k 10 600");
  ASSERT_EQ(r.rc, 2) << "expected 2 (some files are not images); stderr:\n" << r.err.substr(0, 4000);
  const nlohmann::json items = test::parse_json_lines(r.out);
  int ok = 0, refused = 0;
  std::set<std::string> rtdose_frames;
  for (const auto& it : items) {
    const std::string file = it["file"].get<std::string>();
    if (it["ok"].get<bool>()) {
      ++ok;
    } else {
      ++refused;
      const std::string error = it.value("error", "");
      EXPECT_FALSE(error.empty()) << file;
      EXPECT_EQ(error.find("decoder crashed"), std::string::npos) << file << ": " << error;
      EXPECT_NE(r.err.find(file), std::string::npos) << "stderr must name " << file;
    }
    if (file.find("/rtdose.dcm#frame-") != std::string::npos) rtdose_frames.insert(file);
  }
  EXPECT_EQ(rtdose_frames.size(), 15u) << "rtdose.dcm has 15 frames";
  EXPECT_TRUE(rtdose_frames.count((corpus / "rtdose.dcm").string() + "#frame-15"));
  // pydicom decodes 75 of these files, 118 images with the frames (io_dicom_corpus_test checks the pixels).
  EXPECT_GE(ok, 110) << r.err.substr(0, 4000);
  EXPECT_NE(r.err.find(std::to_string(ok) + " screened"), std::string::npos) << r.err.substr(r.err.size() - 400);
  std::cout << ok << " images screened, " << refused << " files refused\n";

  // The input gate on (a CT model): what was screened above is screened or refused by the gate with
  // a reason (another modality or body part, no lungs); nothing else changes.
  const test::CliRun g = test::run_cli(
      "screen --model '" + model + "' --format json --batch 4 '" + corpus.string() + "'", dir, "timeout -k 10 600");
  ASSERT_EQ(g.rc, 2);
  const nlohmann::json gated = test::parse_json_lines(g.out);
  ASSERT_EQ(gated.size(), items.size());
  int screened = 0, by_gate = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    ASSERT_EQ(gated[i]["file"], items[i]["file"]);
    if (gated[i]["ok"].get<bool>()) {
      ++screened;
      EXPECT_TRUE(items[i]["ok"].get<bool>()) << gated[i]["file"];
    } else if (gated[i].value("refused", false)) {
      ++by_gate;
      EXPECT_TRUE(items[i]["ok"].get<bool>()) << gated[i]["file"] << ": refused by the gate, but not screened without";
      EXPECT_EQ(gated[i]["error"].get<std::string>().rfind("not screened: ", 0), 0u) << gated[i]["error"];
    } else {
      EXPECT_EQ(gated[i]["error"], items[i]["error"]) << gated[i]["file"];
    }
  }
  EXPECT_EQ(screened + by_gate, ok);
  EXPECT_GT(by_gate, 40) << "pydicom's MR, US, RT, NM, ... images are not CT";
  std::cout << "input gate on: " << screened << " screened, " << by_gate << " refused by the gate\n";
}

}  // namespace
}  // namespace covscreen
