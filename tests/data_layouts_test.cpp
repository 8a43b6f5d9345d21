// Indexing data set layouts. Expected counts come from each data set's SOURCES.md (quoted
// next to the numbers), not from this code.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/data/layouts.h"
#include "covscreen/data/split.h"
#include "covscreen/data/stats.h"
#include "test_util.h"

using namespace covscreen;
namespace fs = std::filesystem;

namespace {
size_t count(const Manifest& m, const std::string& label, const std::string& split = "*") {
  size_t n = 0;
  for (const auto& e : m.entries) n += e.label == label && (split == "*" || e.split == split);
  return n;
}
void touch(const fs::path& p, const std::string& bytes = "x") {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}
}  // namespace

TEST(Layouts, CovidCtMatchesTheOfficialSplit) {
  COVSCREEN_REQUIRE_DATASET(root, "COVID-CT");
  EXPECT_EQ(detect_layout(root), "covid-ct");
  IndexReport rep;
  const Manifest m = index_dataset(root, {}, &rep);
  EXPECT_EQ(m.layout, "covid-ct");
  EXPECT_EQ(rep.layout, "covid-ct");
  // SOURCES.md: train CT_COVID 191, CT_NonCOVID 234; val 60 / 58; 251 + 292 files.
  EXPECT_EQ(count(m, "covid", "train"), 191u);
  EXPECT_EQ(count(m, "non-covid", "train"), 234u);
  EXPECT_EQ(count(m, "covid", "val"), 60u);
  EXPECT_EQ(count(m, "non-covid", "val"), 58u);
  EXPECT_EQ(m.entries.size(), 251u + 292u);
  for (const auto& e : m.entries) {
    EXPECT_FALSE(e.patient_id.empty()) << e.path;
    EXPECT_TRUE(fs::exists(e.path)) << e.path;
    EXPECT_TRUE(e.original_label == "CT_COVID" || e.original_label == "CT_NonCOVID");
    EXPECT_EQ(e.source, "COVID-CT");
  }
  // Spot check against Meta/COVID-CT-MetaInfo.csv: its first row is
  // "2020.01.24.919183-p27-132.png,Patient 1,...".
  bool found = false;
  for (const auto& e : m.entries)
    if (fs::path(e.path).filename() == "2020.01.24.919183-p27-132.png") {
      found = true;
      EXPECT_EQ(e.patient_id, "Patient 1");
      EXPECT_EQ(e.split, "train");
    }
  EXPECT_TRUE(found);
  EXPECT_EQ(rep.skipped_total(), 0u);
}

TEST(Layouts, Ieee8023MatchesSources) {
  COVSCREEN_REQUIRE_DATASET(root, "covid-chestxray-dataset");
  EXPECT_EQ(detect_layout(root), "ieee8023");
  IndexReport rep;
  const Manifest m = index_dataset(root, {}, &rep);
  // SOURCES.md: 395 rows, 390 files; COVID-19 303 images (181 patients); non-COVID 87 = No Finding 13
  // + other pneumonia 74.
  EXPECT_EQ(m.entries.size(), 390u);
  EXPECT_EQ(count(m, "covid"), 303u);
  EXPECT_EQ(count(m, "normal"), 13u);
  EXPECT_EQ(count(m, "pneumonia"), 74u);
  EXPECT_EQ(rep.skipped_total(), 5u);
  EXPECT_EQ(rep.skipped.at("second metadata row for the same image"), 5u);
  const DatasetStats s = compute_stats(m);
  EXPECT_EQ(s.by_class.at("covid").patients, 181u);
  std::set<std::string> paths;
  for (const auto& e : m.entries) {
    EXPECT_TRUE(paths.insert(e.path).second) << "indexed twice: " << e.path;
    EXPECT_FALSE(e.patient_id.empty());
    EXPECT_TRUE(e.split.empty());
  }
  // View filter: SOURCES.md counts views PA 215, AP Supine 81, AP 72, L 27 over the 395 rows; 5 of
  // the duplicate rows are PA except one lateral (000002-29.jpg), so frontal PA+AP images = 215-4 + 72.
  IndexOptions frontal;
  frontal.views = {"PA", "AP"};
  const Manifest f = index_dataset(root, frontal, &rep);
  EXPECT_EQ(f.entries.size(), 215u - 4u + 72u);
  EXPECT_EQ(rep.skipped.at("view L filtered out"), 27u);
  EXPECT_EQ(rep.skipped.at("view AP Supine filtered out"), 81u);
  // Modality filter: nothing here is CT.
  IndexOptions ct;
  ct.modality = "CT";
  EXPECT_TRUE(index_dataset(root, ct, &rep).entries.empty());
}

TEST(Layouts, Figure1AndActualmedMetadataWork) {
  COVSCREEN_REQUIRE_DATASET(fig1, "Figure1-COVID-chestxray-dataset");
  COVSCREEN_REQUIRE_DATASET(actual, "Actualmed-COVID-chestxray-dataset");
  IndexReport rep;
  // Figure1 SOURCES.md: 39 images: COVID-19 25, No finding 2, Pneumonia 1, blank finding 11.
  Manifest m = index_dataset(fig1, {}, &rep);
  EXPECT_EQ(m.layout, "ieee8023");
  EXPECT_EQ(count(m, "covid"), 25u);
  EXPECT_EQ(count(m, "normal"), 2u);
  EXPECT_EQ(count(m, "pneumonia"), 1u);
  EXPECT_EQ(rep.skipped.at("blank or unknown finding"), 11u);
  EXPECT_EQ(rep.skipped_total(), 11u);
  for (const auto& e : m.entries) {  // "COVID-00003a"/"COVID-00003b" count as one patient
    EXPECT_EQ(e.patient_id.find_first_of("abcdefghijklmnopqrstuvwxyz"), std::string::npos) << e.patient_id;
    EXPECT_TRUE(fs::exists(e.path));
  }
  // Actualmed SOURCES.md: 37 images: COVID-19 17, No finding 13, blank finding 7.
  m = index_dataset(actual, {}, &rep);
  EXPECT_EQ(count(m, "covid"), 17u);
  EXPECT_EQ(count(m, "normal"), 13u);
  EXPECT_EQ(m.entries.size(), 30u);
  EXPECT_EQ(rep.skipped.at("blank or unknown finding"), 7u);
}

TEST(Layouts, KermanyMatchesSources) {
  COVSCREEN_REQUIRE_DATASET(root, "chest_xray_pneumonia");
  EXPECT_EQ(detect_layout(root), "kermany");
  IndexReport rep;
  const Manifest m = index_dataset(root, {}, &rep);
  // SOURCES.md: NORMAL 277 images / 253 patients, PNEUMONIA 285 (bacteria 188, virus 97) / 237 patients.
  EXPECT_EQ(count(m, "normal", "train"), 277u);
  EXPECT_EQ(count(m, "pneumonia", "train"), 285u);
  const DatasetStats s = compute_stats(m);
  EXPECT_EQ(s.by_class.at("normal").patients, 253u);
  EXPECT_EQ(s.by_class.at("pneumonia").patients, 237u);
  size_t bacteria = 0, virus = 0;
  for (const auto& e : m.entries) {
    bacteria += e.path.find("_bacteria_") != std::string::npos;
    virus += e.path.find("_virus_") != std::string::npos;
    if (e.label == "pneumonia") EXPECT_EQ(e.patient_id.rfind("person", 0), 0u) << e.patient_id;
    if (e.label == "normal") EXPECT_EQ(e.patient_id.rfind("IM-", 0), 0u) << e.patient_id;
  }
  EXPECT_EQ(bacteria, 188u);
  EXPECT_EQ(virus, 97u);
  EXPECT_TRUE(rep.notes.empty());
}

TEST(Layouts, UnseenFolderLayoutWithSpacesParenthesesAndMixedFormats) {
  test::TempDir dir;
  const fs::path r = dir.path() / "my data (v2)";
  touch(r / "COVID" / "Covid (1).png");
  touch(r / "COVID" / "Covid (2).JPG");
  touch(r / "COVID" / "scan, final.jpeg");
  touch(r / "non-COVID" / "Non Covid (1).png");
  touch(r / "non-COVID" / "sub dir" / "Non Covid (2).jpg");
  touch(r / "non-COVID" / "notes.txt");
  touch(r / "non-COVID" / ".DS_Store");
  touch(r / "README.md");
  EXPECT_EQ(detect_layout(r.string()), "folders");
  IndexReport rep;
  const Manifest m = index_dataset(r.string(), {}, &rep);
  ASSERT_EQ(m.entries.size(), 5u);
  EXPECT_EQ(count(m, "covid"), 3u);
  EXPECT_EQ(count(m, "non-covid"), 2u);
  EXPECT_EQ(rep.skipped.at("not an image file"), 2u);  // notes.txt, README.md; hidden files ignored
  std::map<std::string, std::string> pid;
  for (const auto& e : m.entries) pid[fs::path(e.path).filename().string()] = e.patient_id;
  EXPECT_EQ(pid["Covid (1).png"], "COVID/Covid (1)");
  EXPECT_EQ(pid["Non Covid (2).jpg"], "non-COVID/sub dir");
  EXPECT_TRUE(fs::exists(m.entries[0].path));
  EXPECT_EQ(m.entries[0].source, "my data (v2)");
  // Through a manifest file and back.
  write_manifest(dir.file("m.csv"), m);
  IndexOptions mo;
  const Manifest back = index_dataset(dir.file("m.csv"), mo, &rep);
  EXPECT_EQ(rep.layout, "manifest");
  ASSERT_EQ(back.entries.size(), m.entries.size());
  for (size_t i = 0; i < m.entries.size(); ++i) EXPECT_EQ(back.entries[i].path, m.entries[i].path);
}

TEST(Layouts, CtCov19StyleSplitFoldersAndPatientFolders) {
  test::TempDir dir;
  const fs::path r = dir.path();
  touch(r / "Train" / "COV" / "21" / "FILE001.jpg");
  touch(r / "Train" / "COV" / "21" / "FILE002.jpg");
  touch(r / "Train" / "NOR" / "21" / "FILE001.jpg");
  touch(r / "Train" / "CAP" / "3" / "a.png");
  touch(r / "TEST" / "COV" / "40" / "FILE001.jpg");
  touch(r / "validation" / "NOR" / "7" / "x.png");
  const Manifest m = index_dataset(r.string());
  EXPECT_EQ(m.layout, "folders");
  ASSERT_EQ(m.entries.size(), 6u);
  EXPECT_EQ(count(m, "covid", "train"), 2u);
  EXPECT_EQ(count(m, "covid", "test"), 1u);
  EXPECT_EQ(count(m, "normal", "train"), 1u);
  EXPECT_EQ(count(m, "normal", "val"), 1u);
  EXPECT_EQ(count(m, "pneumonia", "train"), 1u);  // CAP = community-acquired pneumonia
  const DatasetStats s = compute_stats(m);
  EXPECT_EQ(s.by_class.at("covid").patients, 2u);  // COV/21 and COV/40
  EXPECT_EQ(s.total.patients, 5u);                 // NOR/21 is not COV/21
  EXPECT_TRUE(s.overlap.empty());
}

TEST(Layouts, ErrorsNameTheProblem) {
  test::TempDir dir;
  EXPECT_THROW(index_dataset(dir.file("nope")), FileError);
  EXPECT_THROW(detect_layout(dir.path().string()), FileError);  // empty folder
  IndexOptions bad;
  bad.layout = "imagenet";
  touch(dir.path() / "a" / "b.png");
  EXPECT_THROW(index_dataset(dir.path().string(), bad), UsageError);
  touch(dir.path() / "metadata.csv", "foo,bar\n1,2\n");
  EXPECT_THROW(index_dataset(dir.path().string()), FileError);  // ieee8023 without its columns
  EXPECT_TRUE(is_image_path("a/B.JPEG"));
  EXPECT_TRUE(is_image_path("x.dcm"));
  EXPECT_FALSE(is_image_path("x.txt"));
  EXPECT_FALSE(is_image_path("png"));
}
