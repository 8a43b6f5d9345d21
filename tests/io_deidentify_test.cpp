// DICOM de-identification: synthetic files with known PHI in many tags (tests/python/
// make_phi_dicoms.py) and the shared pydicom samples go through deidentify_dicom; the output
// bytes hold none of the PHI, UIDs are replaced consistently, pixels are unchanged.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <set>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/io/deidentify.h"
#include "covscreen/io/dicom_reader.h"
#include "test_util.h"

namespace covscreen {
namespace {

using test::fs::path;

const KeyedHasher kKeyA("test-key-A-0123456789"), kKeyB("test-key-B-0123456789");

struct PhiFixture {
  test::TempDir dir;
  std::vector<std::string> files, phi;
  bool ok = false;
  PhiFixture(int patients, int series, int slices) {
    const std::string py = test::debian_python();
    if (py.empty()) return;
    const std::string cmd = py + " '" + std::string(COVSCREEN_SOURCE_DIR) + "/tests/python/make_phi_dicoms.py' '" +
                            dir.path().string() + "' --patients " + std::to_string(patients) + " --series " +
                            std::to_string(series) + " --slices " + std::to_string(slices) + " 2>&1";
    if (std::system(cmd.c_str()) != 0) return;
    const auto j = nlohmann::json::parse(read_file(dir.file("phi.json")));
    phi = j["strings"].get<std::vector<std::string>>();
    for (const auto& e : test::fs::recursive_directory_iterator(dir.path() / "studies"))
      if (e.is_regular_file()) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    ok = !files.empty() && !phi.empty();
  }
};

std::vector<std::string> found_in(const std::string& bytes, const std::vector<std::string>& phi) {
  std::vector<std::string> hits;
  for (const auto& s : phi)
    if (bytes.find(s) != std::string::npos) hits.push_back(s);
  return hits;
}

TEST(Deidentify, RulesFollowTheBasicProfileAndTheGenericFallbacks) {
  EXPECT_EQ(deid_action(0x0010, 0x0010, "PN"), DeidAction::kDummy);   // PatientName
  EXPECT_EQ(deid_action(0x0010, 0x0030, "DA"), DeidAction::kEmpty);   // PatientBirthDate
  EXPECT_EQ(deid_action(0x0008, 0x0080, "LO"), DeidAction::kRemove);  // InstitutionName
  EXPECT_EQ(deid_action(0x0020, 0x000D, "UI"), DeidAction::kUid);     // StudyInstanceUID
  EXPECT_EQ(deid_action(0x0009, 0x1001, "LO"), DeidAction::kRemove);  // private
  EXPECT_EQ(deid_action(0x0009, 0x0010, "LO"), DeidAction::kRemove);  // private creator
  EXPECT_EQ(deid_action(0x0008, 0x009C, "PN"), DeidAction::kEmpty);   // any other person name
  EXPECT_EQ(deid_action(0x0018, 0x1012, "DA"), DeidAction::kRemove);  // any other date
  EXPECT_EQ(deid_action(0x0008, 0x1150, "UI"), DeidAction::kUid);     // other UIDs (class UIDs kept by value)
  EXPECT_EQ(deid_action(0x6000, 0x3000, "OW"), DeidAction::kRemove);  // overlay data
  EXPECT_EQ(deid_action(0x0028, 0x1052, "DS"), DeidAction::kKeep);    // RescaleIntercept
  EXPECT_EQ(deid_action(0x7FE0, 0x0010, "OW"), DeidAction::kKeep);    // PixelData
  const auto& rules = basic_profile_rules();
  EXPECT_GT(rules.size(), 150u);
  for (size_t i = 1; i < rules.size(); ++i)
    EXPECT_LT(uint32_t(rules[i - 1].group) << 16 | rules[i - 1].element,
              uint32_t(rules[i].group) << 16 | rules[i].element);
}

TEST(Deidentify, NoPhiSurvivesAndUidsStayConsistent) {
  PhiFixture fx(2, 2, 3);
  if (!fx.ok) COVSCREEN_SKIP() << "Debian python3 with pydicom not available";
  std::string all_input;
  for (const auto& f : fx.files) all_input += read_file(f);
  // The fixture really carries the PHI we look for (otherwise the scan below proves nothing).
  for (const auto& s : fx.phi)
    if (s.find("PHIID") == std::string::npos || s.find('_') == std::string::npos)  // folder names live in paths
      EXPECT_NE(all_input.find(s), std::string::npos) << s;

  std::map<std::string, std::set<std::string>> new_study_by_patient, new_series_by_old;
  std::set<std::string> sops;
  for (const auto& f : fx.files) {
    const DicomIdentity before = read_dicom_identity(f);
    const std::string pseudo = kKeyA.patient_pseudonym(before.patient_id);
    DeidReport rep;
    const std::string out = deidentify_dicom(f, kKeyA, pseudo, &rep);
    EXPECT_EQ(found_in(out, fx.phi), std::vector<std::string>{}) << f;
    EXPECT_GT(rep.removed, 10u);
    EXPECT_GE(rep.uids, 4u);
    EXPECT_EQ(out, deidentify_dicom(f, kKeyA, pseudo)) << "not deterministic";
    EXPECT_NE(out, deidentify_dicom(f, kKeyB, kKeyB.patient_pseudonym(before.patient_id)));
    EXPECT_NE(out.find("1.2.840.10008.5.1.4.1.1.2"), std::string::npos) << "SOP class UID must be kept";

    test::TempDir tmp;
    const std::string p = tmp.file("out.dcm");
    write_file_atomic(p, out);
    const DicomIdentity after = read_dicom_identity(p);
    EXPECT_EQ(after.patient_id, pseudo);
    EXPECT_TRUE(after.patient_age.empty());
    EXPECT_TRUE(after.birth_date.empty());
    EXPECT_TRUE(after.study_date.empty());
    EXPECT_EQ(after.instance_number, before.instance_number);
    EXPECT_EQ(after.study_uid, kKeyA.replace_uid(before.study_uid));
    EXPECT_EQ(after.sop_uid, kKeyA.replace_uid(before.sop_uid));
    new_study_by_patient[before.patient_id].insert(after.study_uid);
    new_series_by_old[before.series_uid].insert(after.series_uid);
    sops.insert(after.sop_uid);
    // Pixels (in HU) unchanged.
    const DicomImage a = read_dicom(f), b = read_dicom(p);
    ASSERT_EQ(a.hu.size(), b.hu.size());
    EXPECT_EQ(cv::norm(a.hu, b.hu, cv::NORM_INF), 0.0);
  }
  EXPECT_EQ(new_study_by_patient.size(), 2u);
  for (const auto& [pid, studies] : new_study_by_patient) EXPECT_EQ(studies.size(), 1u) << "one study per patient";
  EXPECT_EQ(new_series_by_old.size(), 4u);
  for (const auto& [old, news] : new_series_by_old) EXPECT_EQ(news.size(), 1u);
  EXPECT_EQ(sops.size(), fx.files.size());
}

TEST(Deidentify, SharedSamplesKeepTheirPixelsAndLoseTheirIdentity) {
  COVSCREEN_REQUIRE_DATASET(root, "dicom-samples/pydicom-test-files");
  int n = 0;
  for (const char* name : {"CT_small.dcm", "no_meta.dcm", "693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm"}) {
    const std::string f = root + "/" + name;
    if (!test::fs::exists(f)) continue;
    if (std::string(name) == "no_meta.dcm") {  // corrupt by design (see io_dicom_test): refused, not passed on
      EXPECT_THROW(deidentify_dicom(f, kKeyA, "pt-test"), FileError);
      continue;
    }
    const DicomIdentity before = read_dicom_identity(f);
    const std::string out = deidentify_dicom(f, kKeyA, "pt-test");
    for (const std::string& s : {before.patient_id, before.study_uid, before.series_uid, before.sop_uid})
      if (s.size() >= 4) EXPECT_EQ(out.find(s), std::string::npos) << name << ": " << s;
    test::TempDir tmp;
    write_file_atomic(tmp.file("o.dcm"), out);
    const DicomImage a = read_dicom(f), b = read_dicom(tmp.file("o.dcm"));
    ASSERT_EQ(a.hu.size(), b.hu.size()) << name;
    EXPECT_EQ(cv::norm(a.hu, b.hu, cv::NORM_INF), 0.0) << name;
    EXPECT_EQ(read_dicom_identity(tmp.file("o.dcm")).patient_id, "pt-test");
    ++n;
  }
  EXPECT_GT(n, 0);
}

TEST(Deidentify, CorruptInputThrows) {
  test::TempDir tmp;
  write_file_atomic(tmp.file("bad.dcm"), std::string(300, 'x'));
  EXPECT_THROW(deidentify_dicom(tmp.file("bad.dcm"), kKeyA, "pt-x"), FileError);
  EXPECT_THROW(read_dicom_identity(tmp.file("missing.dcm")), FileError);
}

TEST(Deidentify, AgeFromTheAgeStringOrTheDates) {
  DicomIdentity id;
  id.patient_age = "045Y";
  EXPECT_EQ(age_years(id), 45);
  id.patient_age = "018M";
  EXPECT_EQ(age_years(id), 1);
  id.patient_age = "";
  id.birth_date = "19700615";
  id.study_date = "20200614";
  EXPECT_EQ(age_years(id), 49);
  id.study_date = "20200615";
  EXPECT_EQ(age_years(id), 50);
  id.study_date = "";
  EXPECT_EQ(age_years(id), -1);
}

}  // namespace
}  // namespace covscreen
