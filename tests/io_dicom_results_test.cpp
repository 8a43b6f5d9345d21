// Screening results as DICOM (io/dicom_results.h): the SR and the SC image pass dciodvfy
// (dicom3tools) with no errors, their UIDs and bytes are deterministic, GDCM reads back what was
// put in, and the burned-in banner is there.
#include <gdcmDataElement.h>
#include <gdcmDataSet.h>
#include <gdcmReader.h>
#include <gdcmSequenceOfItems.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <opencv2/imgproc.hpp>
#include <set>
#include <sstream>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/io/dicom_results.h"
#include "test_util.h"

namespace covscreen {
namespace {

constexpr const char* kCtImage = "1.2.840.10008.5.1.4.1.1.2";
constexpr const char* kEnhancedCt = "1.2.840.10008.5.1.4.1.1.2.1";
constexpr const char* kDciodvfy = "/usr/bin/dciodvfy";

ScreeningReport make_report() {
  ScreeningReport r;
  DicomHeader& h = r.study;
  h.sop_class_uid = kCtImage;
  h.sop_instance_uid = "1.2.826.0.1.3680043.8.498.10.1";
  h.study_uid = "1.2.826.0.1.3680043.8.498.1";
  h.series_uid = "1.2.826.0.1.3680043.8.498.2";
  h.patient_id = "PID-0042";
  h.patient_name = "Doe^Jane";
  h.patient_birth_date = "19700101";
  h.patient_sex = "F";
  h.study_date = "20200415";
  h.study_time = "101530";
  h.study_id = "S42";
  h.accession_number = "ACC123";
  h.referring_physician = "House^Gregory";
  h.study_description = "CT CHEST";
  h.modality = "CT";
  h.specific_character_set = "ISO_IR 100";
  r.screened_series_uid = h.series_uid;
  for (int i = 1; i <= 3; ++i)
    r.screened.push_back({kCtImage, "1.2.826.0.1.3680043.8.498.10." + std::to_string(i), 0, 0.1 * i});
  r.top.push_back({kCtImage, "1.2.826.0.1.3680043.8.498.10.3", 0, 0.912345678});
  r.top.push_back({kEnhancedCt, "1.2.826.0.1.3680043.8.498.11.1", 7, 0.8});
  r.covid_probability = 0.8712345678;
  r.threshold = 0.52;
  r.positive = true;
  r.aggregation = "top-k-mean k=2";
  r.slices_screened = 3;
  r.slices_skipped = 1;
  r.model_name = "deep-ct-net";
  r.model_version = "1.0";
  r.model_hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  r.software_version = "0.9.0";
  r.content_date = "20240102";
  r.content_time = "030405";
  return r;
}

// A CAM-like picture: a gradient with a bright blob.
cv::Mat make_overlay(int w, int h) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(uint8_t(x % 256), uint8_t(y % 256), 128);
  cv::circle(m, cv::Point(w / 2, h / 2), std::max(2, w / 8), cv::Scalar(0, 255, 255), cv::FILLED);
  return m;
}

struct Verdict {
  std::string output;
  std::vector<std::string> errors, warnings;
};

Verdict dciodvfy(const std::string& file) {
  Verdict v;
  const std::string cmd = std::string(kDciodvfy) + " '" + file + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return v;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) v.output.append(buf, n);
  pclose(p);
  std::istringstream lines(v.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("Error", 0) == 0) v.errors.push_back(line);
    if (line.rfind("Warning", 0) == 0) v.warnings.push_back(line);
  }
  return v;
}

#define REQUIRE_DCIODVFY()          \
  if (!test::fs::exists(kDciodvfy)) \
  COVSCREEN_SKIP() << kDciodvfy     \
                   << " not found " \
                      "(install the Debian package dicom3tools to check the DICOM objects)"

void expect_valid(const std::string& file) {
  const Verdict v = dciodvfy(file);
  EXPECT_FALSE(v.output.empty()) << "dciodvfy printed nothing for " << file;
  EXPECT_TRUE(v.errors.empty()) << "dciodvfy " << file << ":\n" << v.output;
}

gdcm::DataSet read_back(const std::string& bytes) {
  std::istringstream in(bytes);
  gdcm::Reader r;
  r.SetStream(in);
  EXPECT_TRUE(r.Read());
  return r.GetFile().GetDataSet();
}

std::string text_of(const gdcm::DataElement& de) {
  const gdcm::ByteValue* bv = de.GetByteValue();
  if (!bv) return "";
  std::string s(bv->GetPointer(), bv->GetLength());
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

std::string top_text(const gdcm::DataSet& ds, uint16_t g, uint16_t e) {
  const gdcm::Tag t(g, e);
  return ds.FindDataElement(t) ? text_of(ds.GetDataElement(t)) : std::string("<absent>");
}

uint16_t top_us(const gdcm::DataSet& ds, uint16_t e) {
  const gdcm::ByteValue* bv = ds.GetDataElement(gdcm::Tag(0x0028, e)).GetByteValue();
  if (!bv || bv->GetLength() != 2) return 0;
  const auto* p = reinterpret_cast<const uint8_t*>(bv->GetPointer());
  return uint16_t(p[0] | p[1] << 8);
}

// Every value of the tag anywhere in the data set (nested sequences included).
void collect(const gdcm::DataSet& ds, const gdcm::Tag& tag, std::vector<std::string>& out) {
  for (auto it = ds.Begin(); it != ds.End(); ++it) {
    if (it->GetTag() == tag) out.push_back(text_of(*it));
    gdcm::SmartPointer<gdcm::SequenceOfItems> sq = it->GetValueAsSQ();
    if (!sq) continue;
    for (gdcm::SequenceOfItems::SizeType i = 1; i <= sq->GetNumberOfItems(); ++i)
      collect(sq->GetItem(i).GetNestedDataSet(), tag, out);
  }
}

std::vector<std::string> all_values(const gdcm::DataSet& ds, uint16_t g, uint16_t e) {
  std::vector<std::string> out;
  collect(ds, gdcm::Tag(g, e), out);
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(DicomResults, UidsAreDeterministicValidAndDependOnTheModel) {
  const ScreeningReport a = make_report();
  std::set<std::string> uids;
  for (const char* role : {"sr-series", "sr-instance", "sc-series", "sc-instance"}) {
    const std::string u = results_uid(role, a);
    EXPECT_EQ(u, results_uid(role, make_report()));
    EXPECT_LE(u.size(), 64u);
    ASSERT_EQ(u.rfind("2.25.", 0), 0u) << u;
    const std::string tail = u.substr(5);
    EXPECT_FALSE(tail.empty());
    EXPECT_TRUE(tail == "0" || tail[0] != '0') << u;
    EXPECT_EQ(tail.find_first_not_of("0123456789"), std::string::npos) << u;
    uids.insert(u);
  }
  EXPECT_EQ(uids.size(), 4u);
  ScreeningReport b = make_report();
  b.model_hash[0] = '0';
  EXPECT_NE(results_uid("sr-instance", a), results_uid("sr-instance", b));
  ScreeningReport c = make_report();
  c.screened_series_uid += ".1";
  EXPECT_NE(results_uid("sr-instance", a), results_uid("sr-instance", c));
}

TEST(DicomResults, BytesAreDeterministic) {
  const ScreeningReport a = make_report();
  const cv::Mat overlay = make_overlay(300, 200);
  EXPECT_EQ(screening_sr(a), screening_sr(make_report()));
  EXPECT_EQ(screening_sc(a, overlay), screening_sc(make_report(), overlay.clone()));
  ScreeningReport b = make_report();
  b.model_hash = "another";
  EXPECT_NE(screening_sr(a), screening_sr(b));
}

TEST(DicomResults, SrAndScPassDciodvfy) {
  REQUIRE_DCIODVFY();
  test::TempDir dir;
  const ScreeningReport rep = make_report();
  const ResultFiles f = write_screening_results(rep, make_overlay(512, 512), dir.path().string());
  const std::string folder = (dir.path() / rep.study.study_uid).string();
  EXPECT_EQ(f.sr, folder + "/sr-" + results_uid("sr-instance", rep) + ".dcm");
  EXPECT_EQ(f.sc, folder + "/sc-" + results_uid("sc-instance", rep) + ".dcm");
  ASSERT_TRUE(test::fs::exists(f.sr));
  ASSERT_TRUE(test::fs::exists(f.sc));
  expect_valid(f.sr);
  expect_valid(f.sc);
}

TEST(DicomResults, AbsentPatientAttributesAndOddValuesStillPassDciodvfy) {
  REQUIRE_DCIODVFY();
  test::TempDir dir;
  ScreeningReport rep = make_report();
  DicomHeader& h = rep.study;
  h.patient_name = h.patient_id = h.patient_birth_date = h.patient_sex = "";
  h.study_date = h.study_time = h.study_id = h.accession_number = h.referring_physician = "";
  h.study_description = "";
  rep.model_name = rep.model_version = rep.model_hash = rep.software_version = rep.aggregation = "";
  rep.slices_skipped = 0;
  rep.top.clear();
  rep.content_date = rep.content_time = "";  // now
  const ResultFiles f = write_screening_results(rep, make_overlay(64, 48), dir.path().string());
  expect_valid(f.sr);
  expect_valid(f.sc);

  // Values a sloppy source file may hold: Latin-1 names, old date/time forms, an unknown sex,
  // an over-long study ID, a probability that is not a number.
  ScreeningReport odd = make_report();
  odd.study.patient_name = "M\xfcller^J\xf6rg";
  odd.study.patient_sex = "X";
  odd.study.study_date = "2020.04.15";
  odd.study.study_time = "10:15:30";
  odd.study.patient_birth_date = "1970";
  odd.study.study_id = "A-STUDY-ID-THAT-IS-FAR-TOO-LONG";
  odd.top[1].covid_probability = std::nan("");
  odd.covid_probability = std::nan("");
  test::TempDir dir2;
  const ResultFiles g = write_screening_results(odd, make_overlay(700, 300), dir2.path().string());
  expect_valid(g.sr);
  expect_valid(g.sc);
  const gdcm::DataSet sr = read_back(read_file(g.sr));
  EXPECT_EQ(top_text(sr, 0x0010, 0x0010), "M\xc3\xbcller^J\xc3\xb6rg");  // UTF-8
  EXPECT_EQ(top_text(sr, 0x0008, 0x0020), "20200415");
  EXPECT_EQ(top_text(sr, 0x0008, 0x0030), "101530");
  EXPECT_EQ(top_text(sr, 0x0010, 0x0030), "");
  EXPECT_EQ(top_text(sr, 0x0010, 0x0040), "");
  EXPECT_EQ(top_text(sr, 0x0020, 0x0010), "A-STUDY-ID-THAT-");
}

TEST(DicomResults, SrReadsBackWithTheReportsContent) {
  const ScreeningReport rep = make_report();
  const gdcm::DataSet ds = read_back(screening_sr(rep));
  EXPECT_EQ(top_text(ds, 0x0008, 0x0016), "1.2.840.10008.5.1.4.1.1.88.33");
  EXPECT_EQ(top_text(ds, 0x0008, 0x0018), results_uid("sr-instance", rep));
  EXPECT_EQ(top_text(ds, 0x0020, 0x000E), results_uid("sr-series", rep));
  EXPECT_EQ(top_text(ds, 0x0020, 0x000D), rep.study.study_uid);
  EXPECT_EQ(top_text(ds, 0x0010, 0x0020), "PID-0042");
  EXPECT_EQ(top_text(ds, 0x0010, 0x0010), "Doe^Jane");
  EXPECT_EQ(top_text(ds, 0x0008, 0x0060), "SR");
  EXPECT_EQ(top_text(ds, 0x0040, 0xA491), "PARTIAL");  // one slice skipped
  EXPECT_EQ(top_text(ds, 0x0040, 0xA493), "UNVERIFIED");
  EXPECT_EQ(top_text(ds, 0x0008, 0x0023), "20240102");
  EXPECT_EQ(top_text(ds, 0x0008, 0x0033), "030405");

  const auto numbers = all_values(ds, 0x0040, 0xA30A);
  EXPECT_TRUE(contains(numbers, "0.871235")) << ::testing::PrintToString(numbers);  // P(covid), %.6g
  EXPECT_TRUE(contains(numbers, "0.52"));
  EXPECT_TRUE(contains(numbers, "0.912346"));  // the top slice's
  EXPECT_TRUE(contains(numbers, "3"));         // slices screened
  const auto texts = all_values(ds, 0x0040, 0xA160);
  EXPECT_TRUE(contains(texts, kResearchUseOnly));
  EXPECT_TRUE(contains(texts, "deep-ct-net"));
  EXPECT_TRUE(contains(texts, rep.model_hash));
  EXPECT_TRUE(contains(texts, "top-k-mean k=2"));
  const auto meanings = all_values(ds, 0x0008, 0x0104);
  EXPECT_TRUE(contains(meanings, "COVID-19 suspected"));
  EXPECT_FALSE(contains(meanings, "COVID-19 not suspected"));

  const auto referenced = all_values(ds, 0x0008, 0x1155);
  for (const auto& r : rep.screened) EXPECT_TRUE(contains(referenced, r.sop_instance_uid)) << r.sop_instance_uid;
  for (const auto& r : rep.top) EXPECT_TRUE(contains(referenced, r.sop_instance_uid)) << r.sop_instance_uid;
  EXPECT_TRUE(contains(all_values(ds, 0x0008, 0x1150), kEnhancedCt));
  EXPECT_EQ(all_values(ds, 0x0008, 0x1160), std::vector<std::string>{"7"});  // the multi-frame top slice
  EXPECT_TRUE(contains(all_values(ds, 0x0020, 0x000E), rep.screened_series_uid));

  ScreeningReport neg = make_report();
  neg.positive = false;
  neg.slices_skipped = 0;
  const gdcm::DataSet nds = read_back(screening_sr(neg));
  EXPECT_TRUE(contains(all_values(nds, 0x0008, 0x0104), "COVID-19 not suspected"));
  EXPECT_EQ(top_text(nds, 0x0040, 0xA491), "COMPLETE");
}

TEST(DicomResults, ScHoldsTheOverlayUnderABurnedInBanner) {
  const ScreeningReport rep = make_report();
  const cv::Mat overlay = make_overlay(640, 480);
  const gdcm::DataSet ds = read_back(screening_sc(rep, overlay));
  EXPECT_EQ(top_text(ds, 0x0008, 0x0016), "1.2.840.10008.5.1.4.1.1.7");
  EXPECT_EQ(top_text(ds, 0x0008, 0x0018), results_uid("sc-instance", rep));
  EXPECT_EQ(top_text(ds, 0x0020, 0x000D), rep.study.study_uid);
  EXPECT_EQ(top_text(ds, 0x0028, 0x0004), "RGB");
  EXPECT_EQ(top_text(ds, 0x0028, 0x0301), "YES");
  EXPECT_EQ(all_values(ds, 0x0008, 0x1155), std::vector<std::string>{rep.top[0].sop_instance_uid});
  EXPECT_EQ(top_us(ds, 0x0002), 3);
  const int rows = top_us(ds, 0x0010), cols = top_us(ds, 0x0011);
  EXPECT_EQ(cols, overlay.cols);
  ASSERT_GT(rows, overlay.rows);
  const int banner = rows - overlay.rows;
  EXPECT_GE(banner, 24);  // room for legible text
  EXPECT_LE(banner, overlay.rows / 3);
  const gdcm::ByteValue* px = ds.GetDataElement(gdcm::Tag(0x7FE0, 0x0010)).GetByteValue();
  ASSERT_NE(px, nullptr);
  ASSERT_GE(px->GetLength(), size_t(rows) * cols * 3);
  const cv::Mat rgb(rows, cols, CV_8UC3, const_cast<char*>(px->GetPointer()));
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  // Below the banner: the overlay, unchanged.
  EXPECT_EQ(cv::norm(bgr.rowRange(banner, rows), overlay, cv::NORM_INF), 0.0);
  // The banner: dark, with text in it, and different from what the overlay shows there.
  const cv::Mat strip = bgr.rowRange(0, banner);
  cv::Mat gray;
  cv::cvtColor(strip, gray, cv::COLOR_BGR2GRAY);
  const double text_fraction = cv::countNonZero(gray > 128) / double(gray.total());
  EXPECT_GT(text_fraction, 0.02);
  EXPECT_LT(text_fraction, 0.5);
  EXPECT_GT(cv::norm(strip, overlay.rowRange(0, banner), cv::NORM_L1), 0.0);

  // A narrow overlay is upscaled so that the banner text stays legible.
  const gdcm::DataSet small = read_back(screening_sc(rep, make_overlay(128, 96)));
  EXPECT_GE(top_us(small, 0x0011), 400);
  EXPECT_GT(top_us(small, 0x0010), 96 * 4);
}

TEST(DicomResults, MissingIdentifiersAndBadOverlaysThrow) {
  const cv::Mat overlay = make_overlay(64, 64);
  ScreeningReport no_study = make_report();
  no_study.study.study_uid.clear();
  EXPECT_THROW(screening_sr(no_study), Error);
  EXPECT_THROW(screening_sc(no_study, overlay), Error);
  EXPECT_THROW(results_uid("sr-instance", no_study), Error);
  test::TempDir dir;
  EXPECT_THROW(write_screening_results(no_study, overlay, dir.path().string()), Error);
  EXPECT_TRUE(test::fs::is_empty(dir.path()));
  try {
    screening_sr(no_study);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("study instance UID"), std::string::npos) << e.what();
  }
  ScreeningReport no_series = make_report();
  no_series.screened_series_uid.clear();
  EXPECT_THROW(screening_sr(no_series), Error);
  ScreeningReport bad_instance = make_report();
  bad_instance.screened[1].sop_instance_uid.clear();
  EXPECT_THROW(screening_sr(bad_instance), Error);
  ScreeningReport bad_uid = make_report();
  bad_uid.study.study_uid = "1.2.abc";
  EXPECT_THROW(screening_sr(bad_uid), Error);

  const ScreeningReport rep = make_report();
  EXPECT_THROW(screening_sc(rep, cv::Mat()), UsageError);
  EXPECT_THROW(screening_sc(rep, cv::Mat(8, 8, CV_8UC1, cv::Scalar(0))), UsageError);
  // No overlay: only the SR is written.
  const ResultFiles f = write_screening_results(rep, cv::Mat(), dir.path().string());
  EXPECT_TRUE(test::fs::exists(f.sr));
  EXPECT_EQ(f.sc, "");
}

}  // namespace
}  // namespace covscreen
