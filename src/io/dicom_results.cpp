// Screening results as DICOM: a Comprehensive SR and a Secondary Capture image (see the header).
// The data sets are built element by element with GDCM and written by gdcm::Writer (explicit VR
// little endian, a Part 10 meta header with covscreen's implementation UID). Values copied from
// the screened study are checked for their VR's syntax first (dates, times, sex, lengths,
// character set) so that a sloppy source file does not make an invalid result object.
//
// SR content tree (codes: DCM where DICOM has one, else the private scheme 99COVSCREEN):
//   CONTAINER "COVID-19 screening report (research use only)"  (root, SEPARATE)
//     HAS OBS CONTEXT TEXT  Algorithm Name / Algorithm Version (DCM 111001 / 111003),
//                           Model checkpoint SHA-256, Software version
//     CONTAINS TEXT  Intended use = kResearchUseOnly
//     CONTAINS NUM   Probability of COVID-19 (study), Decision threshold   [UCUM "1"]
//     CONTAINS CODE  Screening decision = COVID-19 suspected / COVID-19 not suspected
//     CONTAINS TEXT  Slice aggregation rule
//     CONTAINS NUM   Slices screened, Slices skipped                        [UCUM "{slices}"]
//     CONTAINS CONTAINER "Most suspicious slices"
//       CONTAINS NUM  Slice probability of COVID-19
//         INFERRED FROM IMAGE  (DCM 121112 "Source of Measurement") -> the slice (and frame)
// The slice's probability is the NUM and the image is what it was INFERRED FROM: Comprehensive
// SR has no CONTAINS or HAS PROPERTIES relationship from an IMAGE item to a NUM.
#include "covscreen/io/dicom_results.h"

#include <gdcmDataElement.h>
#include <gdcmDataSet.h>
#include <gdcmFile.h>
#include <gdcmFileMetaInformation.h>
#include <gdcmItem.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmSmartPointer.h>
#include <gdcmTag.h>
#include <gdcmTrace.h>
#include <gdcmTransferSyntax.h>
#include <gdcmVR.h>
#include <gdcmWriter.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <opencv2/imgproc.hpp>
#include <set>
#include <sstream>
#include <system_error>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/core/keyed_hash.h"
#include "gdcm_element.h"
#include "gdcm_trace.h"

namespace covscreen {
namespace {

using io_detail::padded_element;
using io_detail::put_element;

namespace fs = std::filesystem;

constexpr const char* kComprehensiveSr = "1.2.840.10008.5.1.4.1.1.88.33";
constexpr const char* kSecondaryCapture = "1.2.840.10008.5.1.4.1.1.7";
constexpr const char* kExplicitLittle = "1.2.840.10008.1.2.1";
constexpr const char* kScheme = "99COVSCREEN";
constexpr const char* kSrSeriesNumber = "9901";
constexpr const char* kScSeriesNumber = "9902";
constexpr int kMinBannerWidth = 512;  // narrower overlays are upscaled so the banner stays legible

// ------------------------------------------------------------------ values

// covscreen's Implementation Class UID (0002,0012): derived once from a fixed string.
const std::string& implementation_class_uid() {
  static const std::string uid = uid_from_digest(sha256("covscreen implementation class uid"));
  return uid;
}

// A UID that can be written as UI: digits and dots, at most 64 characters. Leading zeros in a
// component are tolerated (the screened study's UID must be copied as it is, even if sloppy).
bool encodable_uid(const std::string& s) {
  if (s.empty() || s.size() > 64 || s.front() == '.' || s.back() == '.') return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '.' && i > 0 && s[i - 1] == '.') return false;
    if (s[i] != '.' && (s[i] < '0' || s[i] > '9')) return false;
  }
  return true;
}

void check_uid(const std::string& uid, const std::string& what) {
  if (uid.empty()) throw Error("DICOM screening results: the report has no " + what);
  if (!encodable_uid(uid))
    throw Error("DICOM screening results: the " + what + " '" + uid.substr(0, 80) + "' is not a valid DICOM UID");
}

void check_ids(const ScreeningReport& rep) {
  check_uid(rep.study.study_uid, "study instance UID");
  check_uid(rep.screened_series_uid, "screened series instance UID");
}

void check_instance(const ReferencedInstance& r, const char* list) {
  check_uid(r.sop_instance_uid, std::string("SOP instance UID in one of its ") + list + " instances");
  check_uid(r.sop_class_uid, "SOP class UID of instance " + r.sop_instance_uid);
  if (r.frame < 0) throw Error("DICOM screening results: negative frame number for " + r.sop_instance_uid);
}

bool all_digits(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// DA: YYYYMMDD (the old "YYYY.MM.DD" is converted); anything else -> "".
std::string clean_date(std::string s) {
  if (s.size() == 10 && s[4] == '.' && s[7] == '.') s = s.substr(0, 4) + s.substr(5, 2) + s.substr(8, 2);
  return s.size() == 8 && all_digits(s) ? s : std::string();
}

// TM: HH[MM[SS[.F{1,6}]]] (the old "HH:MM:SS" is converted); anything else -> "".
std::string clean_time(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), ':'), s.end());
  const size_t dot = s.find('.');
  const std::string whole = s.substr(0, dot);
  if (whole.size() < 2 || whole.size() > 6 || whole.size() % 2 != 0 || !all_digits(whole)) return "";
  if (dot != std::string::npos) {
    const std::string frac = s.substr(dot + 1);
    if (whole.size() != 6 || frac.empty() || frac.size() > 6 || !all_digits(frac)) return whole;
  }
  return s;
}

bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 99;
    if (n == 99 || n >= s.size() - i) return false;
    for (size_t k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n + 1;
  }
  return true;
}

// A copied string in UTF-8 (the results declare ISO_IR 192): Latin-1 (ISO_IR 100) is converted,
// valid UTF-8 kept, and anything else (other character sets, ISO 2022 escapes) has its non-ASCII
// bytes and control characters replaced by '?'.
std::string to_utf8(const std::string& s, const std::string& charset) {
  std::string out;
  const bool latin1 = charset == "ISO_IR 100";
  if (!latin1 && valid_utf8(s) && s.find('\x1b') == std::string::npos) return s;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7F) {
      out += ch;
    } else if (latin1 && c >= 0xA0) {
      out += char(0xC0 | (c >> 6));
      out += char(0x80 | (c & 0x3F));
    } else {
      out += '?';
    }
  }
  return out;
}

// At most `max_chars` characters (UTF-8 aware), for the VR's length limit.
std::string fit(const std::string& s, size_t max_chars) {
  size_t chars = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (chars++ == max_chars) return s.substr(0, i);
  }
  return s;
}

std::string copied(const std::string& s, const ScreeningReport& rep, size_t max_chars) {
  return fit(to_utf8(s, rep.study.specific_character_set), max_chars);
}

// DS (at most 16 characters): whole numbers (counts) exactly, others to 6 significant digits.
std::string ds_value(double v) {
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

struct DateTime {
  std::string date, time;
};

DateTime content_date_time(const ScreeningReport& rep) {
  DateTime dt{clean_date(rep.content_date), clean_time(rep.content_time)};
  if (dt.date.empty() || dt.time.empty()) {
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char d[16], t[16];
    std::strftime(d, sizeof d, "%Y%m%d", &utc);
    std::strftime(t, sizeof t, "%H%M%S", &utc);
    if (dt.date.empty()) dt.date = d;
    if (dt.time.empty()) dt.time = t;
  }
  return dt;
}

std::string decision_text(const ScreeningReport& rep) {
  return rep.positive ? "COVID-19 suspected" : "COVID-19 not suspected";
}

// ------------------------------------------------------------------ data set building

struct Code {
  const char* value;
  const char* scheme;
  const char* meaning;
};

const Code kReportTitle{"REPORT", kScheme, "COVID-19 screening report (research use only)"};
const Code kAlgorithmName{"111001", "DCM", "Algorithm Name"};
const Code kAlgorithmVersion{"111003", "DCM", "Algorithm Version"};
const Code kModelHash{"MODEL-SHA256", kScheme, "Model checkpoint SHA-256"};
const Code kSoftware{"SOFTWARE", kScheme, "Screening software version"};
const Code kIntendedUse{"INTENDED-USE", kScheme, "Intended use"};
const Code kProbability{"P-COVID", kScheme, "Probability of COVID-19"};
const Code kThreshold{"THRESHOLD", kScheme, "Decision threshold"};
const Code kDecision{"DECISION", kScheme, "Screening decision"};
const Code kSuspected{"SUSPECTED", kScheme, "COVID-19 suspected"};
const Code kNotSuspected{"NOT-SUSPECTED", kScheme, "COVID-19 not suspected"};
const Code kAggregation{"AGGREGATION", kScheme, "Slice aggregation rule"};
const Code kScreened{"N-SCREENED", kScheme, "Slices screened"};
const Code kSkipped{"N-SKIPPED", kScheme, "Slices skipped"};
const Code kAtypical{"N-ATYPICAL", kScheme, "Slices unlike the model's training images"};
const Code kInputCheck{"INPUT-CHECK", kScheme, "Input checks"};
const Code kTopSlices{"TOP-SLICES", kScheme, "Most suspicious slices"};
const Code kSliceProbability{"SLICE-P-COVID", kScheme, "Slice probability of COVID-19"};
const Code kSourceOfMeasurement{"121112", "DCM", "Source of Measurement"};
const Code kNoUnits{"1", "UCUM", "no units"};
const Code kSlices{"{slices}", "UCUM", "slices"};
const Code kNotANumber{"114000", "DCM", "Not a number"};

void put_us(gdcm::DataSet& ds, uint16_t e, uint16_t v) {  // group 0028
  const char b[2] = {char(v & 0xFF), char(v >> 8)};
  gdcm::DataElement de(gdcm::Tag(0x0028, e));
  de.SetVR(gdcm::VR::US);
  de.SetByteValue(b, gdcm::VL(2));
  ds.Replace(de);
}

void put_seq(gdcm::DataSet& ds, uint16_t g, uint16_t e, const std::vector<gdcm::DataSet>& items) {
  gdcm::SmartPointer<gdcm::SequenceOfItems> sq = new gdcm::SequenceOfItems();
  sq->SetLengthToUndefined();
  for (const gdcm::DataSet& nested : items) {
    gdcm::Item item;
    item.SetVLToUndefined();
    item.SetNestedDataSet(nested);
    sq->AddItem(item);
  }
  gdcm::DataElement de(gdcm::Tag(g, e));
  de.SetVR(gdcm::VR::SQ);
  de.SetValue(*sq);
  de.SetVLToUndefined();
  ds.Replace(de);
}

gdcm::DataSet code_item(const Code& c) {
  gdcm::DataSet ds;
  put_element(ds, 0x0008, 0x0100, gdcm::VR::SH, c.value);
  put_element(ds, 0x0008, 0x0102, gdcm::VR::SH, c.scheme);
  put_element(ds, 0x0008, 0x0104, gdcm::VR::LO, c.meaning);
  return ds;
}

gdcm::DataSet referenced_sop(const ReferencedInstance& r) {
  gdcm::DataSet ds;
  put_element(ds, 0x0008, 0x1150, gdcm::VR::UI, r.sop_class_uid);
  put_element(ds, 0x0008, 0x1155, gdcm::VR::UI, r.sop_instance_uid);
  if (r.frame > 0) put_element(ds, 0x0008, 0x1160, gdcm::VR::IS, std::to_string(r.frame));
  return ds;
}

// An SR content item: relationship (absent for the root), value type and concept name.
gdcm::DataSet content_item(const char* relationship, const char* value_type, const Code* concept_name) {
  gdcm::DataSet ds;
  if (relationship) put_element(ds, 0x0040, 0xA010, gdcm::VR::CS, relationship);
  put_element(ds, 0x0040, 0xA040, gdcm::VR::CS, value_type);
  if (concept_name) put_seq(ds, 0x0040, 0xA043, {code_item(*concept_name)});
  return ds;
}

gdcm::DataSet text_item(const char* relationship, const Code& name, const std::string& text) {
  gdcm::DataSet ds = content_item(relationship, "TEXT", &name);
  put_element(ds, 0x0040, 0xA160, gdcm::VR::UT, to_utf8(text, ""));  // e.g. a model named after a file
  return ds;
}

gdcm::DataSet code_value_item(const char* relationship, const Code& name, const Code& value) {
  gdcm::DataSet ds = content_item(relationship, "CODE", &name);
  put_seq(ds, 0x0040, 0xA168, {code_item(value)});
  return ds;
}

gdcm::DataSet num_item(const char* relationship, const Code& name, double value, const Code& units) {
  gdcm::DataSet ds = content_item(relationship, "NUM", &name);
  if (std::isfinite(value)) {
    gdcm::DataSet mv;
    put_element(mv, 0x0040, 0xA30A, gdcm::VR::DS, ds_value(value));
    put_seq(mv, 0x0040, 0x08EA, {code_item(units)});
    put_seq(ds, 0x0040, 0xA300, {mv});
  } else {  // no value: an empty Measured Value Sequence and the reason
    put_seq(ds, 0x0040, 0xA300, {});
    put_seq(ds, 0x0040, 0xA301, {code_item(kNotANumber)});
  }
  return ds;
}

gdcm::DataSet image_item(const char* relationship, const ReferencedInstance& r) {
  gdcm::DataSet ds = content_item(relationship, "IMAGE", &kSourceOfMeasurement);
  put_seq(ds, 0x0008, 0x1199, {referenced_sop(r)});
  return ds;
}

void put_patient_and_study(gdcm::DataSet& ds, const ScreeningReport& rep) {
  const DicomHeader& h = rep.study;
  // Patient (all type 2).
  put_element(ds, 0x0010, 0x0010, gdcm::VR::PN, copied(h.patient_name, rep, 64 * 5));
  put_element(ds, 0x0010, 0x0020, gdcm::VR::LO, copied(h.patient_id, rep, 64));
  put_element(ds, 0x0010, 0x0030, gdcm::VR::DA, clean_date(h.patient_birth_date));
  const std::string sex = h.patient_sex == "M" || h.patient_sex == "F" || h.patient_sex == "O" ? h.patient_sex : "";
  put_element(ds, 0x0010, 0x0040, gdcm::VR::CS, sex);
  // General Study.
  put_element(ds, 0x0020, 0x000D, gdcm::VR::UI, h.study_uid);
  put_element(ds, 0x0008, 0x0020, gdcm::VR::DA, clean_date(h.study_date));
  put_element(ds, 0x0008, 0x0030, gdcm::VR::TM, clean_time(h.study_time));
  put_element(ds, 0x0008, 0x0090, gdcm::VR::PN, copied(h.referring_physician, rep, 64 * 5));
  put_element(ds, 0x0020, 0x0010, gdcm::VR::SH, copied(h.study_id, rep, 16));
  put_element(ds, 0x0008, 0x0050, gdcm::VR::SH, copied(h.accession_number, rep, 16));
  if (!h.study_description.empty()) put_element(ds, 0x0008, 0x1030, gdcm::VR::LO, copied(h.study_description, rep, 64));
}

void put_equipment(gdcm::DataSet& ds, const ScreeningReport& rep) {
  put_element(ds, 0x0008, 0x0070, gdcm::VR::LO, "covscreen");
  if (!rep.software_version.empty()) put_element(ds, 0x0018, 0x1020, gdcm::VR::LO, fit(rep.software_version, 64));
}

void put_sop_common(gdcm::DataSet& ds, const char* sop_class, const std::string& sop_instance, const DateTime& dt) {
  put_element(ds, 0x0008, 0x0005, gdcm::VR::CS, "ISO_IR 192");
  put_element(ds, 0x0008, 0x0016, gdcm::VR::UI, sop_class);
  put_element(ds, 0x0008, 0x0018, gdcm::VR::UI, sop_instance);
  put_element(ds, 0x0008, 0x0012, gdcm::VR::DA, dt.date);
  put_element(ds, 0x0008, 0x0013, gdcm::VR::TM, dt.time);
}

std::string encode(const gdcm::DataSet& ds, const char* sop_class, const std::string& sop_instance) {
  io_detail::silence_gdcm();
  gdcm::Writer w;
  gdcm::File& file = w.GetFile();
  file.SetDataSet(ds);
  gdcm::FileMetaInformation& meta = file.GetHeader();
  meta.SetDataSetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
  meta.Replace(padded_element(0x0002, 0x0002, gdcm::VR::UI, sop_class));
  meta.Replace(padded_element(0x0002, 0x0003, gdcm::VR::UI, sop_instance));
  meta.Replace(padded_element(0x0002, 0x0010, gdcm::VR::UI, kExplicitLittle));
  meta.Replace(padded_element(0x0002, 0x0012, gdcm::VR::UI, implementation_class_uid()));
  meta.Replace(padded_element(0x0002, 0x0013, gdcm::VR::SH, "COVSCREEN"));
  meta.Replace(padded_element(0x0002, 0x0016, gdcm::VR::AE, "COVSCREEN"));
  std::ostringstream out;
  w.SetStream(out);
  bool ok = false;
  try {
    ok = w.Write();
  } catch (const std::exception& e) {
    throw Error(std::string("DICOM screening results: GDCM could not encode the object: ") + e.what());
  }
  if (!ok) throw Error("DICOM screening results: GDCM could not encode the object");
  return out.str();
}

// ------------------------------------------------------------------ the banner

struct BannerLine {
  std::string text;
  cv::Scalar colour;
};

// The overlay (upscaled to kMinBannerWidth when narrower, so that the text stays legible) under
// a dark strip holding `lines`, one under the other, as large as the widest line allows (the
// font scales with the width; at most scale 3).
cv::Mat with_banner(const cv::Mat& overlay, const std::vector<BannerLine>& lines) {
  cv::Mat img = overlay;
  if (img.cols < kMinBannerWidth) {
    const double f = double(kMinBannerWidth) / img.cols;
    cv::resize(overlay, img, cv::Size(kMinBannerWidth, std::max(1, int(std::lround(img.rows * f)))), 0, 0,
               cv::INTER_LINEAR);
  }
  const int w = img.cols;
  const int font = cv::FONT_HERSHEY_SIMPLEX;
  const int pad = std::max(4, w / 80);
  const double avail = w - 2.0 * pad;
  auto widest = [&](double scale, int thickness) {
    int m = 1;
    for (const BannerLine& l : lines) m = std::max(m, cv::getTextSize(l.text, font, scale, thickness, nullptr).width);
    return double(m);
  };
  double scale = std::min(3.0, avail / widest(1.0, 2));
  const int thickness = std::max(1, int(std::lround(scale * 2.4)));
  scale = std::min(scale, scale * avail / widest(scale, thickness));  // thicker strokes are wider
  std::vector<cv::Size> sizes;
  int baseline = 0, height = pad;
  for (const BannerLine& l : lines) {
    sizes.push_back(cv::getTextSize(l.text, font, scale, thickness, &baseline));
    height += sizes.back().height + baseline + pad;
  }
  cv::Mat banner(height, w, CV_8UC3, cv::Scalar(16, 16, 16));
  int y = pad;
  for (size_t i = 0; i < lines.size(); ++i) {
    y += sizes[i].height;
    cv::putText(banner, lines[i].text, cv::Point(pad, y), font, scale, lines[i].colour, thickness, cv::LINE_AA);
    y += baseline + pad;
  }
  cv::Mat out;
  cv::vconcat(banner, img, out);
  return out;
}

}  // namespace

std::string results_uid(const std::string& role, const ScreeningReport& rep) {
  check_ids(rep);
  std::string msg = role;
  msg += '\0';
  msg += rep.study.study_uid;
  msg += '\0';
  msg += rep.screened_series_uid;
  msg += '\0';
  msg += rep.model_hash;
  return uid_from_digest(sha256(msg));
}

std::string screening_sr(const ScreeningReport& rep) {
  check_ids(rep);
  for (const auto& r : rep.screened) check_instance(r, "screened");
  for (const auto& r : rep.top) check_instance(r, "top");
  const DateTime dt = content_date_time(rep);
  const std::string instance_uid = results_uid("sr-instance", rep);

  gdcm::DataSet ds;
  put_patient_and_study(ds, rep);
  // SR Document Series.
  put_element(ds, 0x0008, 0x0060, gdcm::VR::CS, "SR");
  put_element(ds, 0x0020, 0x000E, gdcm::VR::UI, results_uid("sr-series", rep));
  put_element(ds, 0x0020, 0x0011, gdcm::VR::IS, kSrSeriesNumber);
  put_element(ds, 0x0008, 0x103E, gdcm::VR::LO, "covscreen report (research use only)");
  put_element(ds, 0x0008, 0x0021, gdcm::VR::DA, dt.date);
  put_element(ds, 0x0008, 0x0031, gdcm::VR::TM, dt.time);
  put_seq(ds, 0x0008, 0x1111, {});
  put_equipment(ds, rep);
  // SR Document General.
  put_element(ds, 0x0020, 0x0013, gdcm::VR::IS, "1");
  if (rep.slices_skipped > 0) {
    put_element(ds, 0x0040, 0xA491, gdcm::VR::CS, "PARTIAL");
    put_element(ds, 0x0040, 0xA492, gdcm::VR::LO,
                std::to_string(rep.slices_skipped) + " slice(s) not counted: rules, no lungs or unreadable");
    ;
  } else {
    put_element(ds, 0x0040, 0xA491, gdcm::VR::CS, "COMPLETE");
  }
  put_element(ds, 0x0040, 0xA493, gdcm::VR::CS, "UNVERIFIED");
  put_element(ds, 0x0008, 0x0023, gdcm::VR::DA, dt.date);
  put_element(ds, 0x0008, 0x0033, gdcm::VR::TM, dt.time);
  put_seq(ds, 0x0040, 0xA372, {});
  {  // Current Requested Procedure Evidence: study -> screened series -> every referenced instance
    std::vector<gdcm::DataSet> sops;
    std::set<std::string> seen;
    for (const auto* list : {&rep.screened, &rep.top})
      for (const ReferencedInstance& r : *list)
        if (seen.insert(r.sop_instance_uid).second) {
          ReferencedInstance whole = r;
          whole.frame = 0;
          sops.push_back(referenced_sop(whole));
        }
    gdcm::DataSet series;
    put_element(series, 0x0020, 0x000E, gdcm::VR::UI, rep.screened_series_uid);
    put_seq(series, 0x0008, 0x1199, sops);
    gdcm::DataSet study;
    put_element(study, 0x0020, 0x000D, gdcm::VR::UI, rep.study.study_uid);
    put_seq(study, 0x0008, 0x1115, {series});
    if (!sops.empty()) put_seq(ds, 0x0040, 0xA375, {study});
  }
  // SR Document Content.
  gdcm::DataSet root = content_item(nullptr, "CONTAINER", &kReportTitle);
  put_element(root, 0x0040, 0xA050, gdcm::VR::CS, "SEPARATE");
  std::vector<gdcm::DataSet> items;
  if (!rep.model_name.empty()) items.push_back(text_item("HAS OBS CONTEXT", kAlgorithmName, rep.model_name));
  if (!rep.model_version.empty()) items.push_back(text_item("HAS OBS CONTEXT", kAlgorithmVersion, rep.model_version));
  if (!rep.model_hash.empty()) items.push_back(text_item("HAS OBS CONTEXT", kModelHash, rep.model_hash));
  if (!rep.software_version.empty())
    items.push_back(text_item("HAS OBS CONTEXT", kSoftware, "covscreen " + rep.software_version));
  items.push_back(text_item("CONTAINS", kIntendedUse, kResearchUseOnly));
  items.push_back(num_item("CONTAINS", kProbability, rep.covid_probability, kNoUnits));
  items.push_back(num_item("CONTAINS", kThreshold, rep.threshold, kNoUnits));
  items.push_back(code_value_item("CONTAINS", kDecision, rep.positive ? kSuspected : kNotSuspected));
  if (!rep.aggregation.empty()) items.push_back(text_item("CONTAINS", kAggregation, rep.aggregation));
  items.push_back(num_item("CONTAINS", kScreened, rep.slices_screened, kSlices));
  items.push_back(num_item("CONTAINS", kSkipped, rep.slices_skipped, kSlices));
  if (rep.slices_atypical >= 0) items.push_back(num_item("CONTAINS", kAtypical, rep.slices_atypical, kSlices));
  if (!rep.input_check)
    items.push_back(text_item("CONTAINS", kInputCheck, "off: the modality, body part and lung checks were not made"));
  if (!rep.top.empty()) {
    gdcm::DataSet top = content_item("CONTAINS", "CONTAINER", &kTopSlices);
    put_element(top, 0x0040, 0xA050, gdcm::VR::CS, "SEPARATE");
    std::vector<gdcm::DataSet> slices;
    for (const ReferencedInstance& r : rep.top) {
      gdcm::DataSet num = num_item("CONTAINS", kSliceProbability, r.covid_probability, kNoUnits);
      put_seq(num, 0x0040, 0xA730, {image_item("INFERRED FROM", r)});
      slices.push_back(num);
    }
    put_seq(top, 0x0040, 0xA730, slices);
    items.push_back(top);
  }
  put_seq(root, 0x0040, 0xA730, items);
  for (auto it = root.Begin(); it != root.End(); ++it) ds.Replace(*it);
  {  // the private coding scheme
    gdcm::DataSet scheme;
    put_element(scheme, 0x0008, 0x0102, gdcm::VR::SH, kScheme);
    put_element(scheme, 0x0008, 0x0115, gdcm::VR::ST, "covscreen codes");
    put_element(scheme, 0x0008, 0x0116, gdcm::VR::ST, "covscreen project");
    put_seq(ds, 0x0008, 0x0110, {scheme});
  }
  put_sop_common(ds, kComprehensiveSr, instance_uid, dt);
  return encode(ds, kComprehensiveSr, instance_uid);
}

std::string screening_sc(const ScreeningReport& rep, const cv::Mat& overlay_bgr) {
  check_ids(rep);
  if (overlay_bgr.empty()) throw UsageError("DICOM screening results: the overlay image is empty");
  if (overlay_bgr.type() != CV_8UC3)
    throw UsageError("DICOM screening results: the overlay must be an 8-bit BGR image (CV_8UC3)");
  for (const auto& r : rep.top) check_instance(r, "top");
  const DateTime dt = content_date_time(rep);
  const std::string instance_uid = results_uid("sc-instance", rep);

  char status[96];
  if (std::isfinite(rep.covid_probability))
    std::snprintf(status, sizeof status, "covscreen P(covid)=%.2f threshold %.2f", rep.covid_probability,
                  rep.threshold);
  else
    std::snprintf(status, sizeof status, "covscreen P(covid)=n/a threshold %.2f", rep.threshold);
  const cv::Mat bgr = with_banner(overlay_bgr, {{"RESEARCH USE ONLY - NOT FOR DIAGNOSIS", cv::Scalar(0, 215, 255)},
                                                {status, cv::Scalar(255, 255, 255)},
                                                {decision_text(rep), cv::Scalar(255, 255, 255)}});
  if (bgr.rows > 65535 || bgr.cols > 65535) throw UsageError("DICOM screening results: the overlay is too large");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  if (!rgb.isContinuous()) rgb = rgb.clone();

  gdcm::DataSet ds;
  put_patient_and_study(ds, rep);
  // General Series.
  put_element(ds, 0x0008, 0x0060, gdcm::VR::CS, "OT");
  put_element(ds, 0x0020, 0x000E, gdcm::VR::UI, results_uid("sc-series", rep));
  put_element(ds, 0x0020, 0x0011, gdcm::VR::IS, kScSeriesNumber);
  put_element(ds, 0x0018, 0x0015, gdcm::VR::CS, "CHEST");  // an unpaired part: Laterality (2C) is not needed
  put_element(ds, 0x0008, 0x103E, gdcm::VR::LO, "covscreen CAM (research use only)");
  put_element(ds, 0x0008, 0x0021, gdcm::VR::DA, dt.date);
  put_element(ds, 0x0008, 0x0031, gdcm::VR::TM, dt.time);
  put_equipment(ds, rep);
  // SC Equipment and SC Image.
  put_element(ds, 0x0008, 0x0064, gdcm::VR::CS, "WSD");
  put_element(ds, 0x0018, 0x1016, gdcm::VR::LO, "covscreen");
  if (!rep.software_version.empty()) put_element(ds, 0x0018, 0x1019, gdcm::VR::LO, fit(rep.software_version, 64));
  put_element(ds, 0x0018, 0x1012, gdcm::VR::DA, dt.date);
  put_element(ds, 0x0018, 0x1014, gdcm::VR::TM, dt.time);
  // General Image.
  put_element(ds, 0x0020, 0x0013, gdcm::VR::IS, "1");
  put_element(ds, 0x0020, 0x0020, gdcm::VR::CS, "");
  put_element(ds, 0x0008, 0x0008, gdcm::VR::CS, "DERIVED\\SECONDARY");
  put_element(ds, 0x0008, 0x0023, gdcm::VR::DA, dt.date);
  put_element(ds, 0x0008, 0x0033, gdcm::VR::TM, dt.time);
  put_element(ds, 0x0028, 0x0301, gdcm::VR::CS, "YES");
  put_element(ds, 0x0028, 0x2110, gdcm::VR::CS, "00");
  put_element(ds, 0x0008, 0x2111, gdcm::VR::ST,
              "Class activation map of the most suspicious slice blended over it, with a burned-in research use only "
              "banner (covscreen)");
  if (!rep.top.empty()) put_seq(ds, 0x0008, 0x2112, {referenced_sop(rep.top[0])});
  // Image Pixel.
  put_us(ds, 0x0002, 3);
  put_element(ds, 0x0028, 0x0004, gdcm::VR::CS, "RGB");
  put_us(ds, 0x0006, 0);
  put_us(ds, 0x0010, uint16_t(rgb.rows));
  put_us(ds, 0x0011, uint16_t(rgb.cols));
  put_us(ds, 0x0100, 8);
  put_us(ds, 0x0101, 8);
  put_us(ds, 0x0102, 7);
  put_us(ds, 0x0103, 0);
  ds.Replace(padded_element(0x7FE0, 0x0010, gdcm::VR::OB,
                            std::string(reinterpret_cast<const char*>(rgb.data), rgb.total() * rgb.elemSize())));
  put_sop_common(ds, kSecondaryCapture, instance_uid, dt);
  return encode(ds, kSecondaryCapture, instance_uid);
}

std::string uid_file_name(const std::string& uid) {
  std::string name = uid.empty() ? "_" : uid;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '_';
  return name;
}

ResultFiles write_screening_results(const ScreeningReport& rep, const cv::Mat& overlay_bgr, const std::string& dir) {
  check_ids(rep);
  const fs::path folder = fs::path(dir) / uid_file_name(rep.study.study_uid);
  // Encode first: nothing is written when either object cannot be made.
  const std::string sr = screening_sr(rep);
  const std::string sc = overlay_bgr.empty() ? std::string() : screening_sc(rep, overlay_bgr);
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw FileError(folder.string(), "cannot create the results folder: " + ec.message());
  ResultFiles out;
  out.sr = (folder / ("sr-" + results_uid("sr-instance", rep) + ".dcm")).string();
  write_file_atomic(out.sr, sr);
  if (!sc.empty()) {
    out.sc = (folder / ("sc-" + results_uid("sc-instance", rep) + ".dcm")).string();
    write_file_atomic(out.sc, sc);
  }
  return out;
}

}  // namespace covscreen
