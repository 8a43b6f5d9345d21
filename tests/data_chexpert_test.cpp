// CheXpert-format label CSVs (data/chexpert.h): a file written in CheXpert's exact columns with
// 1.0 / 0.0 / -1.0 / blank values, the uncertainty policies, finding selection and errors.
#include <gtest/gtest.h>

#include <fstream>

#include "covscreen/core/error.h"
#include "covscreen/data/chexpert.h"
#include "test_util.h"

using namespace covscreen;

namespace {

const char* kHeader =
    "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,Lung Opacity,"
    "Lung Lesion,Edema,Consolidation,Pneumonia,Atelectasis,Pneumothorax,Pleural Effusion,Pleural Other,Fracture,"
    "Support Devices\n";

// Three rows as in CheXpert-v1.0-small/train.csv (paths start with the CSV folder's name).
std::string write_csv(const test::TempDir& dir) {
  std::filesystem::create_directories(dir.path() / "CheXpert-v1.0-small");
  const std::string path = dir.file("CheXpert-v1.0-small/train.csv");
  std::ofstream f(path);
  f << kHeader
    << "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,Female,68,Frontal,AP,1.0,,,,,,,,,0.0,,,,1.0\n"
    << "CheXpert-v1.0-small/train/patient00002/study2/view1_frontal.jpg,Female,87,Frontal,AP,,,-1.0,1.0,,-1.0,-1.0,,"
       "-1.0,,-1.0,,1.0,\n"
    << "CheXpert-v1.0-small/train/patient00002/study1/view2_lateral.jpg,Female,83,Lateral,,,,,1.0,,,-1.0,,,,,,1.0,\n";
  return path;
}

}  // namespace

TEST(Chexpert, UOnesAndUZerosMapUncertainLabelsAndBlanksAreNegative) {
  test::TempDir dir;
  const std::string csv = write_csv(dir);
  ChexpertOptions o;  // the default six: Atelectasis, Cardiomegaly, Consolidation, Edema, Pleural Effusion, Pneumonia
  MultiLabelManifest ones = read_chexpert(csv, o);
  ASSERT_EQ(ones.manifest.entries.size(), 3u);
  EXPECT_EQ(ones.findings, kDefaultCxrFindings);
  // row 2: Atelectasis -1, Cardiomegaly -1, Consolidation -1, Edema -1, Pleural Effusion -1, Pneumonia blank
  EXPECT_EQ(ones.targets[1], (std::vector<float>{1, 1, 1, 1, 1, 0}));
  EXPECT_EQ(ones.targets[2], (std::vector<float>{0, 0, 1, 0, 0, 0}));  // Consolidation -1
  EXPECT_EQ(ones.targets[0], (std::vector<float>(6, 0)));
  EXPECT_EQ(ones.uncertain, 6u);
  o.uncertainty = UncertaintyPolicy::kZeros;
  MultiLabelManifest zeros = read_chexpert(csv, o);
  EXPECT_EQ(zeros.targets[1], (std::vector<float>(6, 0)));
  EXPECT_EQ(zeros.targets[2], (std::vector<float>(6, 0)));
}

TEST(Chexpert, ChosenFindingsPatientsRootAndViews) {
  test::TempDir dir;
  const std::string csv = write_csv(dir);
  ChexpertOptions o;
  o.findings = {"Support Devices", "No Finding", "Lung Opacity", "Fracture"};
  MultiLabelManifest m = read_chexpert(csv, o);
  EXPECT_EQ(m.targets[0], (std::vector<float>{1, 1, 0, 0}));
  EXPECT_EQ(m.targets[1], (std::vector<float>{0, 0, 1, 1}));
  EXPECT_EQ(m.manifest.entries[0].patient_id, "patient00001");
  EXPECT_EQ(m.manifest.entries[2].patient_id, "patient00002");
  // Paths start with the CSV folder's name, so they resolve against its parent.
  EXPECT_EQ(
      m.manifest.entries[0].path,
      (dir.path() / "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg").lexically_normal().string());
  o.frontal_only = true;
  MultiLabelManifest f = read_chexpert(csv, o);
  EXPECT_EQ(f.manifest.entries.size(), 2u);
  EXPECT_EQ(f.skipped_lateral, 1u);
}

TEST(Chexpert, ErrorsNameTheFileLineAndColumn) {
  test::TempDir dir;
  const std::string csv = write_csv(dir);
  ChexpertOptions o;
  o.findings = {"Edema", "Covid"};
  try {
    read_chexpert(csv, o);
    FAIL() << "a missing finding column must be refused";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("no column 'Covid'"), std::string::npos) << e.what();
  }
  const std::string bad = dir.file("bad.csv");
  std::ofstream(bad) << kHeader << "a.jpg,,,Frontal,,1.0,,,,,,,yes,,,,,,\n";
  try {
    read_chexpert(bad, ChexpertOptions{});
    FAIL() << "a value other than 1/0/-1/blank must be refused";
  } catch (const FileError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'Pneumonia'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("bad.csv"), std::string::npos) << msg;
  }
  ChexpertOptions twice;
  twice.findings = {"Edema", "Edema"};
  EXPECT_THROW(read_chexpert(csv, twice), UsageError);
  EXPECT_EQ(uncertainty_names().parse("u-zeros"), UncertaintyPolicy::kZeros);
  EXPECT_THROW(uncertainty_names().parse("u-maybe"), UsageError);
}
