// A multi-label pack from a CheXpert-format CSV generated over shared pediatric CXRs: the targets
// follow the CSV through stage 1, survive a write/read round trip and a select().
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "covscreen/data/chexpert.h"
#include "covscreen/data/pack.h"
#include "covscreen/preprocess/pack_builder.h"
#include "test_util.h"

using namespace covscreen;
namespace fs = std::filesystem;

TEST(ChexpertPack, TargetsFollowTheImagesOfSharedCxrs) {
  COVSCREEN_REQUIRE_DATASET(root, "chest_xray_pneumonia/train");
  std::vector<fs::path> normal, pneumonia;
  for (const auto& e : fs::directory_iterator(fs::path(root) / "NORMAL"))
    if (normal.size() < 3) normal.push_back(e.path());
  for (const auto& e : fs::directory_iterator(fs::path(root) / "PNEUMONIA"))
    if (pneumonia.size() < 3) pneumonia.push_back(e.path());
  ASSERT_EQ(normal.size(), 3u);
  ASSERT_EQ(pneumonia.size(), 3u);
  test::TempDir dir;
  const std::string csv = dir.file("train.csv");
  {
    std::ofstream f(csv);
    f << "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,Lung Opacity,"
         "Lung Lesion,Edema,Consolidation,Pneumonia,Atelectasis,Pneumothorax,Pleural Effusion,Pleural Other,"
         "Fracture,Support Devices\n";
    for (const auto& p : normal) f << p.string() << ",,,Frontal,,1.0,,,,,,,0.0,,,,,,\n";
    for (const auto& p : pneumonia) f << p.string() << ",,,Frontal,,0.0,,,-1.0,,,,1.0,,,,,,\n";
    f << (dir.path() / "missing.jpg").string() << ",,,Frontal,,1.0,,,,,,,,,,,,,\n";  // unreadable: left out
  }
  ChexpertOptions o;
  o.findings = {"No Finding", "Pneumonia", "Lung Opacity"};
  o.uncertainty = UncertaintyPolicy::kOnes;
  MultiLabelManifest ml = read_chexpert(csv, o);
  PackBuildOptions po;
  po.spec.stage1.size = 64;
  po.classes = ml.findings;
  po.targets = ml.targets;
  po.progress = false;
  PackBuildResult r = build_pack(ml.manifest, po);
  ASSERT_EQ(r.failures.size(), 1u);
  ASSERT_TRUE(r.pack.multilabel());
  EXPECT_EQ(r.pack.classes, ml.findings);  // finding names are not canonicalised ("No Finding" stays)
  const auto expect =
      torch::tensor({1.f, 0.f, 0.f, 1.f, 0.f, 0.f, 1.f, 0.f, 0.f, 0.f, 1.f, 1.f, 0.f, 1.f, 1.f, 0.f, 1.f, 1.f})
          .view({6, 3});
  EXPECT_TRUE(torch::equal(r.pack.targets, expect)) << r.pack.targets;
  for (int64_t l : r.pack.labels) EXPECT_EQ(l, -1);

  const std::string path = dir.file("p.pack");
  write_pack(path, r.pack);
  const Pack back = read_pack(path);
  ASSERT_TRUE(back.multilabel());
  EXPECT_TRUE(torch::equal(back.targets, expect));
  EXPECT_EQ(back.content_hash(), r.pack.content_hash());
  const Pack two = back.select({5, 0});
  EXPECT_TRUE(torch::equal(two.targets[0], expect[5]));
  EXPECT_TRUE(torch::equal(two.targets[1], expect[0]));
}
