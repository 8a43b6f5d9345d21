// The publish library without the CLI: labels CSV parsing, slice selection, age bins, the card
// and a build from plain images with a `path,patient,label` CSV.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <set>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/data/manifest.h"
#include "covscreen/publish/build.h"
#include "covscreen/publish/sources.h"
#include "test_util.h"

namespace covscreen::publish {
namespace {

TEST(PublishLabels, ReadsPatientsAndRefusesConflicts) {
  test::TempDir d;
  write_file_atomic(d.file("l.csv"),
                    "Patient,Label,Age,Sex,Site\nA1,COVID-19,45,female,s1\nA2,NORMAL,,m,\nA1,covid,45,F,s1\n");
  const LabelTable t = read_labels(d.file("l.csv"));
  ASSERT_EQ(t.patients.size(), 2u);
  EXPECT_EQ(t.patients.at("A1").label, "covid");
  EXPECT_EQ(t.patients.at("A1").age, 45);
  EXPECT_EQ(t.patients.at("A1").sex, "F");
  EXPECT_EQ(t.patients.at("A2").age, -1);
  EXPECT_EQ(t.patients.at("A2").sex, "M");
  write_file_atomic(d.file("c.csv"), "patient,label\nA1,covid\nA1,normal\n");
  EXPECT_THROW(read_labels(d.file("c.csv")), FileError);
  write_file_atomic(d.file("a.csv"), "patient,label,age\nA1,covid,old\n");
  EXPECT_THROW(read_labels(d.file("a.csv")), FileError);
  write_file_atomic(d.file("n.csv"), "id,label\nA1,covid\n");
  EXPECT_THROW(read_labels(d.file("n.csv")), FileError);
}

TEST(PublishSelection, ParsesRanges) {
  EXPECT_EQ(parse_range("10:40").first, 10);
  EXPECT_EQ(parse_range("10:40").last, 40);
  EXPECT_EQ(parse_range("5:").last, 0);
  EXPECT_EQ(parse_range(":7").first, 0);
  EXPECT_EQ(parse_range("", 3).every, 3);
  EXPECT_THROW(parse_range("40:10"), UsageError);
  EXPECT_THROW(parse_range("0:3"), UsageError);
  EXPECT_THROW(parse_range("7"), UsageError);
  EXPECT_THROW(parse_range("a:b"), UsageError);
  EXPECT_THROW(parse_range("", 0), UsageError);
}

TEST(PublishCard, AgeBinsCapAt90) {
  EXPECT_EQ(age_bin(0), "0-9");
  EXPECT_EQ(age_bin(19), "10-19");
  EXPECT_EQ(age_bin(89), "80-89");
  EXPECT_EQ(age_bin(90), "90+");
  EXPECT_EQ(age_bin(104), "90+");
  EXPECT_EQ(age_bin(-1), "unknown");
}

TEST(PublishCard, PicturesOnlyWhenTheMetadataHasThem) {
  Manifest m;
  m.entries = {{"a.png", "covid", "pt-1", "train", "", "covid"}, {"b.png", "", "pt-2", "test", "", "unlabelled"}};
  std::vector<PatientRecord> ps = {{"pt-1", "covid", "train", 95, "F", "x"}, {"pt-2", "", "test", -1, "", ""}};
  std::vector<ImageRecord> ims = {{512, 512, 12, 1, "dicom"}, {484, 500, 16, 1, "dicom"}};
  DatasetCard c = make_card(m, ps, ims, CardInfo{}, {{"format", "png"}}, {{"summary", "s"}});
  EXPECT_NE(c.age_svg.find("<svg"), std::string::npos);
  EXPECT_NE(c.sex_svg.find("<svg"), std::string::npos);
  EXPECT_EQ(c.json["demographics"]["age"]["bins"]["covid"]["90+"], 1);
  EXPECT_EQ(c.json["demographics"]["age"]["range_years"]["max"], 90) << "ages over 89 are not published";
  EXPECT_EQ(c.json["images"]["width"]["min"], 484);
  EXPECT_EQ(c.json["images"]["source_bit_depth"]["12"], 1);
  EXPECT_EQ(c.json["counts"]["images"], 2);
  EXPECT_NE(c.markdown.find("| train | 1 (1) | 0 (0) | 1 (1) |"), std::string::npos) << c.markdown;
  ps[0].age = -1;
  ps[0].sex = "";
  c = make_card(m, ps, ims, CardInfo{}, {}, {});
  EXPECT_TRUE(c.age_svg.empty());
  EXPECT_TRUE(c.sex_svg.empty());
}

TEST(PublishBuild, ImagesWithAPathCsvGoToPatientFolders) {
  test::TempDir d;
  const test::fs::path in = d.path() / "in" / "JOHN_DOE_scans";
  test::fs::create_directories(in);
  std::string csv = "path,patient,label,age,sex\n";
  for (int i = 0; i < 8; ++i) {
    cv::Mat img(40 + i, 30, CV_8UC1, cv::Scalar(20 * i));
    const std::string name = "JOHN_DOE_" + std::to_string(i) + ".png";
    ASSERT_TRUE(cv::imwrite((in / name).string(), img));
    csv += "JOHN_DOE_scans/" + name + ",MRN" + std::to_string(i / 2) + "," +
           (i < 6 ? (i % 4 < 2 ? "covid" : "normal") : "") + "," + std::to_string(30 + i) + ",F\n";
  }
  write_file_atomic(d.file("labels.csv"), csv);
  write_file_atomic(d.file("k.key"), "a-long-enough-secret-key");
  BuildOptions o;
  o.input = (d.path() / "in").string();
  o.out = d.file("out");
  o.labels_csv = d.file("labels.csv");
  o.key_file = d.file("k.key");
  o.split.ratios = {1, 0, 1};
  const BuildResult r = build_dataset(o);
  EXPECT_EQ(r.images, 8u);
  EXPECT_EQ(r.patients, 4u);
  EXPECT_FALSE(r.key_created);
  const Manifest m = read_manifest(d.file("out/manifest.csv"));
  ASSERT_EQ(m.entries.size(), 8u);
  std::set<std::string> pids;
  for (const auto& e : m.entries) {
    EXPECT_EQ(e.path.find("JOHN"), std::string::npos);
    EXPECT_EQ(e.path.find("MRN"), std::string::npos);
    pids.insert(e.patient_id);
    const std::string cls = test::fs::path(e.path).parent_path().parent_path().filename().string();
    EXPECT_EQ(cls, e.label.empty() ? "unlabelled" : e.label);
  }
  EXPECT_EQ(pids.size(), 4u);
  const std::string card = read_file(d.file("out/card.json"));
  EXPECT_EQ(card.find("MRN"), std::string::npos);
  EXPECT_EQ(card.find("JOHN"), std::string::npos);
  EXPECT_EQ(card.find("a-long-enough-secret-key"), std::string::npos);
  // Without --key-file the key is created beside the output, never inside it.
  BuildOptions o2 = o;
  o2.key_file.clear();
  o2.out = d.file("out2");
  const BuildResult r2 = build_dataset(o2);
  EXPECT_TRUE(r2.key_created);
  EXPECT_EQ(r2.key_file, d.file("out2.key"));
  EXPECT_TRUE(test::fs::exists(d.file("out2.key")));
}

}  // namespace
}  // namespace covscreen::publish
