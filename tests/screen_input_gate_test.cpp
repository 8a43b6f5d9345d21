// The input gate (screen/input_gate.h): the rules on decoded images' DICOM attributes, colour and
// lung share, then the shipped models on real files: pydicom's non-CT DICOM test files refused by
// modality, skimage's colour photographs refused, CT slices screened by the CT model and refused by
// the X-ray model.
#include <algorithm>
#include <filesystem>

#include "covscreen/core/paths.h"
#include "covscreen/io/dicom_header.h"
#include "covscreen/io/image_reader.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/screen/input_gate.h"
#include "covscreen/screen/pipeline.h"
#include "test_util.h"

namespace covscreen {
namespace {

namespace fs = std::filesystem;

DecodedImage dicom(const std::string& modality, const std::string& body_part = "",
                   const std::string& image_type = "ORIGINAL\\PRIMARY\\AXIAL") {
  DecodedImage d;
  d.format = "dicom";
  d.modality = modality;
  d.body_part = body_part;
  d.image_type = image_type;
  return d;
}

TEST(InputGate, ModalityMustFitTheModel) {
  EXPECT_EQ(input_refusal(dicom("CT", "CHEST"), StudyKind::kCt, 0.2), "");
  EXPECT_NE(input_refusal(dicom("MR"), StudyKind::kCt, 0.2).find("not CT (Modality MR"), std::string::npos);
  EXPECT_NE(input_refusal(dicom(""), StudyKind::kCt, 0.2).find("not CT"), std::string::npos);
  EXPECT_NE(input_refusal(dicom("SR"), StudyKind::kCt, 0.2).find("not an image"), std::string::npos);
  for (const char* m : {"CR", "DX", "RG", "OT"}) EXPECT_EQ(input_refusal(dicom(m), StudyKind::kXray, 0.2), "") << m;
  for (const char* m : {"CT", "MR", "US", "MG", "NM", "PT", "XA"})
    EXPECT_NE(input_refusal(dicom(m), StudyKind::kXray, 0.2).find("not an X-ray"), std::string::npos) << m;
}

TEST(InputGate, BodyPartWherePresentMustBeTheChest) {
  for (const char* b : {"CHEST", "chest ", "THORAX", "LUNG", "CHESTABDOMEN", "Thorax/Abdomen", "LUNGE", "TORAX",
                        "WHOLEBODY", "POUMON", ""})
    EXPECT_TRUE(chest_body_part(b)) << b;
  for (const char* b : {"HEAD", "BRAIN", "KNEE", "ABDOMEN", "PELVIS", "HAND", "SKULL"})
    EXPECT_FALSE(chest_body_part(b)) << b;
  EXPECT_NE(input_refusal(dicom("CT", "HEAD"), StudyKind::kCt, 0.2).find("not the chest (BodyPartExamined HEAD)"),
            std::string::npos);
}

TEST(InputGate, LocalizersAndImagesWithoutLungsAreRefused) {
  EXPECT_NE(input_refusal(dicom("CT", "CHEST", "ORIGINAL\\PRIMARY\\LOCALIZER"), StudyKind::kCt, 0.2).find("localizer"),
            std::string::npos);
  DecodedImage png;
  png.format = "png";
  EXPECT_EQ(input_refusal(png, StudyKind::kCt, 0.2), "");
  EXPECT_EQ(input_refusal(png, StudyKind::kCt, -1), "") << "a share that was not measured is not judged";
  EXPECT_NE(input_refusal(png, StudyKind::kCt, 0.001).find("no lung fields found (CT lung finder: 0.1%"),
            std::string::npos);
  EXPECT_NE(input_refusal(png, StudyKind::kXray, 0.0).find("X-ray lung finder"), std::string::npos);
  EXPECT_EQ(input_refusal(png, StudyKind::kCt, kGateMinLungFraction), "");
}

TEST(InputGate, ColourPicturesAreRefused) {
  DecodedImage png;
  png.format = "png";
  png.color_share = 0.13;  // the most coloured CT figure of COVID-CT (red arrows)
  EXPECT_EQ(input_refusal(png, StudyKind::kCt, 0.2), "");
  png.color_share = 0.44;  // skimage's chelsea.png
  EXPECT_NE(input_refusal(png, StudyKind::kXray, 0.2).find("a colour picture (44% of its pixels in colour; X-ray"),
            std::string::npos);
}

// ---------------------------------------------------------------- the shipped models on real files

std::string shipped(const std::string& name) {
  const fs::path p = fs::path(COVSCREEN_SOURCE_DIR) / "models" / name;
  return fs::exists(p) ? p.string() : std::string();
}

const fs::path kPydicomFiles = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
const fs::path kSkimageData = "/usr/lib/python3/dist-packages/skimage/data";

ScreenResult screen_one(Pipeline& p, const std::string& path) { return p.screen_files({path}).front(); }

TEST(InputGateShipped, CtModelRefusesOtherModalitiesAndPhotographs) {
  const std::string model = shipped("deep-ct-net-covid-ct.ckpt");
  if (model.empty()) COVSCREEN_SKIP() << "the shipped CT model is not in models/";
  if (!fs::exists(kPydicomFiles / "MR_small.dcm")) COVSCREEN_SKIP() << "python3-pydicom's test files not installed";
  if (!fs::exists(kSkimageData / "chelsea.png")) COVSCREEN_SKIP() << "python3-skimage's data not installed";
  Pipeline p(load_checkpoint(model), {});
  ASSERT_FALSE(p.checkpoint().typicality.empty()) << "the shipped CT model has no typicality reference";
  const ScreenResult mr = screen_one(p, (kPydicomFiles / "MR_small.dcm").string());
  EXPECT_FALSE(mr.ok);
  EXPECT_TRUE(mr.refused);
  EXPECT_NE(mr.error.find("not screened: not CT (Modality MR"), std::string::npos) << mr.error;
  EXPECT_EQ(to_json(mr).value("refused", false), true);

  // Every DICOM file of pydicom's whose Modality is not CT: refused (or unreadable), never screened.
  std::vector<std::string> not_ct;
  for (const auto& e : fs::directory_iterator(kPydicomFiles)) {
    try {
      const DicomHeader h = read_dicom_header(e.path().string());
      if (h.modality != "CT") not_ct.push_back(e.path().string());
    } catch (const std::exception&) {
    }
  }
  ASSERT_GT(not_ct.size(), 20u);
  for (const auto& r : p.screen_files(not_ct)) EXPECT_FALSE(r.ok) << r.file << " was screened by the CT model";

  for (const char* photo : {"chelsea.png", "coffee.png"}) {
    const ScreenResult r = screen_one(p, (kSkimageData / photo).string());
    EXPECT_TRUE(r.refused) << photo << ": " << (r.ok ? "screened" : r.error);
    EXPECT_NE(r.error.find("a colour picture"), std::string::npos) << r.error;
  }

  PipelineOptions off;
  off.input_check = false;
  Pipeline unchecked(load_checkpoint(model), off);
  const ScreenResult forced = screen_one(unchecked, (kPydicomFiles / "MR_small.dcm").string());
  EXPECT_TRUE(forced.ok) << forced.error;
  EXPECT_EQ(to_json(forced).value("input_check", ""), "off");
  EXPECT_FALSE(to_json(forced).contains("typicality")) << "no typicality with the checks off";
}

// The shipped models on their own kind: COVID-CT val slices screened (at most one refused: a
// soft-tissue window the CT lung finder misses) with a typicality each, and the X-ray model
// refusing the CT DICOM slices of COVID-CT-MD by modality.
TEST(InputGateShipped, OwnKindScreenedOtherKindRefusedByModality) {
  const std::string ct = shipped("deep-ct-net-covid-ct.ckpt"), cxr = shipped("deep-cxr-net-cxr.ckpt");
  if (ct.empty() || cxr.empty()) COVSCREEN_SKIP() << "the shipped models are not in models/";
  COVSCREEN_REQUIRE_DATASET(covid_ct, "COVID-CT");
  COVSCREEN_REQUIRE_DATASET(ct_md, "COVID-CT-MD");
  std::vector<std::string> slices;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(covid_ct) / "Images-processed"))
    if (e.is_regular_file() && slices.size() < 60) slices.push_back(e.path().string());
  std::sort(slices.begin(), slices.end());
  Pipeline p(load_checkpoint(ct), {});
  int screened = 0, typical = 0;
  for (const auto& r : p.screen_files(slices)) {
    screened += r.ok;
    typical += r.ok && r.typicality >= 0 && !r.atypical;
  }
  EXPECT_GE(screened, int(slices.size()) - 1);
  EXPECT_GE(typical, int(slices.size()) * 9 / 10);

  std::vector<std::string> dicoms;
  for (const auto& e : fs::recursive_directory_iterator(ct_md))
    if (e.is_regular_file() && e.path().extension() == ".dcm" && dicoms.size() < 8) dicoms.push_back(e.path().string());
  ASSERT_FALSE(dicoms.empty());
  Pipeline x(load_checkpoint(cxr), {});
  EXPECT_EQ(x.kind(), StudyKind::kXray);
  for (const auto& r : x.screen_files(dicoms)) {
    EXPECT_TRUE(r.refused) << r.file;
    EXPECT_NE(r.error.find("not an X-ray (Modality CT"), std::string::npos) << r.error;
  }
}

}  // namespace
}  // namespace covscreen
