#pragma once
// Screening results as DICOM objects that a PACS stores and any viewer shows next to the images:
//   - a Comprehensive SR (1.2.840.10008.5.1.4.1.1.88.33) holding P(covid), the decision, the
//     threshold, the model (name, version, hash), the aggregation rule and the "research use
//     only" statement, and referencing the screened series and the top slices;
//   - a Secondary Capture image (1.2.840.10008.5.1.4.1.1.7, RGB) of the most suspicious slice
//     with its CAM overlay and a burned-in "RESEARCH USE ONLY - NOT FOR DIAGNOSIS" banner.
// Both belong to the screened study (same Study Instance UID and Patient/Study attributes, copied
// from `study`), each in a new series. Their UIDs are deterministic: the same study, screened
// series and model give the same UIDs (results_uid), so storing a result twice replaces it.
// Checked with dciodvfy (dicom3tools) in tests/io_dicom_results_test.cpp: no errors; the only
// warnings are dciodvfy not knowing the private coding scheme 99COVSCREEN (declared in the
// Coding Scheme Identification Sequence) and, when the source lacks them, the DICOMDIR keys.
//
// SR content: root CONTAINER "COVID-19 screening report (research use only)"; observation
// context TEXT items for the model (DCM 111001 Algorithm Name, 111003 Algorithm Version, the
// checkpoint hash) and software; then TEXT intended use (kResearchUseOnly), NUM P(covid) and
// threshold (UCUM "1"), CODE decision, TEXT aggregation rule, NUM slices screened/skipped, and a
// CONTAINER "Most suspicious slices" of NUM slice P(covid), each INFERRED FROM an IMAGE item
// referencing the slice (and its frame). A probability that is not finite gets an empty value
// with the qualifier (114000, DCM, "Not a number"). CompletionFlag is PARTIAL when slices were
// skipped. Copied patient/study values are made valid for their VR (dates, times, sex, lengths;
// Latin-1 -> UTF-8, as the results declare ISO_IR 192) or left empty.
//
// SC pixels: the overlay (upscaled to 512 px wide when narrower) under a dark banner strip added
// above it (no pixel of the overlay is covered): "RESEARCH USE ONLY - NOT FOR DIAGNOSIS",
// "covscreen P(covid)=0.87 threshold 0.52" and the decision, the font scaled to the width.
//
//   covscreen::ScreeningReport rep = ...;   // from screen/study.h to_report()
//   std::string sr = covscreen::screening_sr(rep);               // Part 10 file bytes
//   std::string sc = covscreen::screening_sc(rep, overlay_bgr);  // overlay: CV_8UC3 BGR
//   covscreen::write_screening_results(rep, overlay_bgr, "out/");  // both, atomically
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "covscreen/io/dicom_header.h"

namespace covscreen {

struct ReferencedInstance {
  std::string sop_class_uid, sop_instance_uid;
  int frame = 0;                 // 1-based frame of a multi-frame instance; 0: not multi-frame
  double covid_probability = 0;  // top slices: the slice's P(covid)
};

struct ScreeningReport {
  DicomHeader study;  // patient and study attributes are copied from here (any screened instance)
  std::string screened_series_uid;
  std::vector<ReferencedInstance> screened;  // every screened instance of that series
  std::vector<ReferencedInstance> top;       // most suspicious first
  double covid_probability = 0;              // the study's, after aggregation
  double threshold = 0.5;
  bool positive = false;
  std::string aggregation;  // e.g. "top-k-mean k=5"
  int slices_screened = 0, slices_skipped = 0;
  int slices_atypical = -1;  // counted slices unlike the model's training images; -1: the model has no reference
  bool input_check = true;   // false: screened with the input gate off (said in the report)
  std::string model_name, model_version, model_hash;  // hash: hex digest of the checkpoint file
  std::string software_version;                       // covscreen's
  std::string content_date, content_time;             // DA/TM; empty: now (UTC)
};

inline constexpr const char* kResearchUseOnly =
    "RESEARCH USE ONLY - NOT FOR DIAGNOSIS. covscreen is not a medical device; its output must not be used "
    "to diagnose, treat or rule out COVID-19 or any other condition.";

// "2.25." + the first 128 bits of SHA-256(role NUL study uid NUL series uid NUL model hash), in
// decimal (at most 44 characters). role: "sr-series", "sr-instance", "sc-series", "sc-instance".
// Throws Error when the study or screened series UID is missing.
std::string results_uid(const std::string& role, const ScreeningReport& rep);

// DICOM Part 10 bytes (explicit VR little endian). Throw Error when the report lacks the study or
// screened series UID, a referenced instance lacks its SOP class or instance UID, or a UID is not
// digits and dots (at most 64 characters); UsageError when the overlay is empty or not CV_8UC3.
// content_date/content_time set: the same report gives the same bytes.
std::string screening_sr(const ScreeningReport& rep);
std::string screening_sc(const ScreeningReport& rep, const cv::Mat& overlay_bgr);

// A UID (or any identifier) as a file or folder name: characters other than [0-9A-Za-z.-] become '_'.
std::string uid_file_name(const std::string& uid);

struct ResultFiles {
  std::string sr, sc;  // paths written ("" when not written)
};
// Writes <dir>/<study uid>/sr-<uid>.dcm and sc-<uid>.dcm atomically (creating folders). The SC is
// skipped when overlay_bgr is empty. The study UID is the folder name (characters other than
// [0-9A-Za-z.-] replaced by '_'). Both objects are encoded before anything is written. Throws
// FileError when writing fails, and what screening_sr/screening_sc throw.
ResultFiles write_screening_results(const ScreeningReport& rep, const cv::Mat& overlay_bgr, const std::string& dir);

}  // namespace covscreen
