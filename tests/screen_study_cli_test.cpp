// `covscreen screen --by study` and `evaluate --labels` on DICOM studies the project never
// trained on (COVID-CT-MD: real hospital CT volumes), with the DICOM SR and Secondary Capture
// checked by dciodvfy (dicom3tools), plus per-file behaviour for the other inputs.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "cli_util.h"

namespace covscreen {
namespace {

namespace fs = std::filesystem;

std::string ct_model() { return std::string(COVSCREEN_SOURCE_DIR) + "/models/deep-ct-net-covid-ct.ckpt"; }

// Error lines of dciodvfy on one file ("" when there are none).
std::string dciodvfy_errors(const std::string& file, const test::TempDir& dir) {
  const std::string out = dir.file("dciodvfy.txt");
  std::system(("dciodvfy '" + file + "' >'" + out + "' 2>&1").c_str());
  std::istringstream in(test::slurp(out));
  std::string line, errors;
  while (std::getline(in, line))
    if (line.rfind("Error", 0) == 0) errors += line + "\n";
  return errors;
}

TEST(ScreenStudyCli, OneRowPerStudyAndDicomResultsThatValidate) {
  if (!test::have_cli()) COVSCREEN_SKIP() << "the covscreen binary is not built";
  COVSCREEN_REQUIRE_DATASET(root, "COVID-CT-MD");
  if (!fs::exists(ct_model())) COVSCREEN_SKIP() << "models/deep-ct-net-covid-ct.ckpt is absent";
  test::TempDir dir;
  const std::string out = dir.file("dicom-out");
  // The COVID-19 and the normal patient, plus the single CT slice of examples/dicom (a study the
  // rules cannot screen: one slice).
  std::ofstream(dir.file("rules.json")) << R"({"ct_every_kth": 2})";  // half the slices: the test's time
  const std::string args = "screen --by study --format json --rules '" + dir.file("rules.json") + "' --model '" +
                           ct_model() + "' --dicom-out '" + out + "' --cam-dir '" + dir.file("cams") + "' '" + root +
                           "/COVID-19 subjects' '" + root + "/Normal subjects' '" + COVSCREEN_SOURCE_DIR +
                           "/examples/dicom'";
  const test::CliRun r = test::run_cli(args, dir, "timeout -k 10 600");
  EXPECT_EQ(r.rc, 2) << "one study cannot be screened: exit 2; stderr:\n" << r.err;
  const nlohmann::json rows = test::parse_json_lines(r.out);
  ASSERT_EQ(rows.size(), 3u) << r.out;
  std::map<std::string, nlohmann::json> by_patient;
  for (const auto& s : rows) by_patient[s.at("patient_id").get<std::string>()] = s;
  for (const char* id : {"98C14734-ASSH", "99C628-ASAD"}) {
    const nlohmann::json& s = by_patient[id];
    ASSERT_TRUE(s.is_object()) << id;
    for (const char* k : {"study_uid", "series_uid", "slices_screened", "slices_skipped", "covid_probability",
                          "positive", "threshold", "aggregation", "top_slices", "cam"})
      EXPECT_TRUE(s.contains(k)) << id << " lacks " << k;
    EXPECT_FALSE(s.contains("error")) << s.dump();
    EXPECT_GT(s["slices_screened"].get<int>(), 10) << s.dump();
    EXPECT_GT(s["slices_skipped"].get<int>(), 0) << "slices without lungs are skipped: " << s.dump();
    ASSERT_EQ(s["top_slices"].size(), 3u);
    EXPECT_GE(s["top_slices"][0]["covid_probability"].get<double>(),
              s["top_slices"][2]["covid_probability"].get<double>());
    EXPECT_TRUE(fs::exists(s["cam"].get<std::string>()));
  }
  const nlohmann::json& lone = by_patient[rows[2].at("patient_id").get<std::string>()];
  EXPECT_NE(lone.value("error", "").find("no screenable CT series"), std::string::npos) << lone.dump();

  // One SR and one SC per screened study, in the study's folder, valid by dciodvfy.
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(out))
    if (e.is_regular_file()) files.push_back(e.path().string());
  ASSERT_EQ(files.size(), 4u);
  if (!fs::exists("/usr/bin/dciodvfy"))
    COVSCREEN_SKIP() << "dciodvfy (dicom3tools) is absent; scripts/setup installs it";
  for (const auto& f : files) EXPECT_EQ(dciodvfy_errors(f, dir), "") << f;

  // The same inputs and model give the same result UIDs (file names).
  const test::CliRun again = test::run_cli(args + " >/dev/null", dir, "timeout -k 10 600");
  std::set<std::string> second;
  for (const auto& e : fs::recursive_directory_iterator(out))
    if (e.is_regular_file()) second.insert(e.path().string());
  EXPECT_EQ(second, std::set<std::string>(files.begin(), files.end()));
}

TEST(ScreenStudyCli, EvaluateOnLabelledStudiesAndTableOutput) {
  if (!test::have_cli()) COVSCREEN_SKIP() << "the covscreen binary is not built";
  COVSCREEN_REQUIRE_DATASET(root, "COVID-CT-MD");
  if (!fs::exists(ct_model())) COVSCREEN_SKIP() << "models/deep-ct-net-covid-ct.ckpt is absent";
  test::TempDir dir;
  // Labels by PatientID as the files carry it; CAP is a pneumonia, so not COVID.
  std::ofstream(dir.file("labels.csv"))
      << "patient,label\n98C14734-ASSH,COVID-19\n98C1066-ASAD,CAP\n99C628-ASAD,Normal\n";
  std::ofstream(dir.file("rules.json")) << R"({"aggregate": "mean", "ct_every_kth": 2})";
  const test::CliRun r =
      test::run_cli("evaluate --model '" + ct_model() + "' --labels '" + dir.file("labels.csv") + "' --rules '" +
                        dir.file("rules.json") + "' '" + root + "' --out '" + dir.file("ev") + "'",
                    dir, "timeout -k 10 600");
  ASSERT_EQ(r.rc, 0) << r.err;
  const nlohmann::json m = nlohmann::json::parse(test::slurp(dir.file("ev/metrics.json")));
  EXPECT_EQ(m.at("n").get<int>(), 3);
  EXPECT_EQ(m.at("n_positive").get<int>(), 1);
  ASSERT_TRUE(m.contains("run"));
  EXPECT_EQ(m["run"]["level"], "study");
  EXPECT_EQ(m["run"]["rules"]["rules"]["ct_every_kth"], 2);
  ASSERT_EQ(m["run"]["aggregation_rules"].size(), 4u);
  const std::string csv = test::slurp(dir.file("ev/study_predictions.csv"));
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4) << csv;
  EXPECT_NE(csv.find("98C1066-ASAD,non-covid,"), std::string::npos) << csv;

  // A bad rules file is refused before any work, naming the file and the key.
  std::ofstream(dir.file("bad.json")) << R"({"aggregate": "median"})";
  const test::CliRun bad = test::run_cli(
      "screen --by study --rules '" + dir.file("bad.json") + "' --model '" + ct_model() + "' '" + root + "'", dir);
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.err.find("median"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("mean, top-k-mean, max, noisy-or"), std::string::npos) << bad.err;
  // --dicom-out without --by study is a usage error.
  const test::CliRun usage = test::run_cli("screen --dicom-out x --model '" + ct_model() + "' '" + root + "'", dir);
  EXPECT_EQ(usage.rc, 1);
  EXPECT_NE(usage.err.find("--by study"), std::string::npos) << usage.err;
}

}  // namespace
}  // namespace covscreen
