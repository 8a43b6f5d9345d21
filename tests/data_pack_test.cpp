// Pack files: bit-exact round trip, validation of everything read, clear errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/data/pack.h"
#include "covscreen/data/stats.h"
#include "test_util.h"

using namespace covscreen;

namespace {
Pack make_pack(int64_t n = 5, int64_t h = 16, int64_t w = 12) {
  torch::manual_seed(3);
  Pack p;
  p.classes = {"covid", "normal", "pneumonia"};
  p.images = torch::randint(0, 256, {n, h, w}, torch::kUInt8);
  for (int64_t i = 0; i < n; ++i) {
    p.labels.push_back(i % 4 == 3 ? -1 : i % 3);
    p.patient_ids.push_back("p" + std::to_string(i / 2));
    p.paths.push_back("/data/img (" + std::to_string(i) + "), \"x\".png");
    p.splits.push_back(i < 2 ? "train" : (i < 4 ? "val" : ""));
    p.sources.push_back(i < 3 ? "COVID-CT" : "SARS-CoV-2");
  }
  p.spec.stage1.size = 64;
  p.provenance = {{"layout", "test"}};
  return p;
}

std::string error_of(const std::string& path) {
  try {
    read_pack(path);
  } catch (const FileError& e) {
    return e.what();
  }
  return "";
}

// Rewrites the pack at `path` with a changed header (checksum recomputed, so only our validation catches it).
void rewrite_header(const std::string& path, const std::function<void(nlohmann::json&)>& edit) {
  Container c = read_container(path, std::string(kPackMagic, 8), kPackVersion, "pack");
  edit(c.header);
  write_container(path, c);
}
}  // namespace

TEST(Pack, RoundTripsBitExactly) {
  test::TempDir dir;
  const Pack p = make_pack();
  write_pack(dir.file("a.pack"), p);
  const Pack r = read_pack(dir.file("a.pack"));
  EXPECT_TRUE(torch::equal(r.images, p.images));
  EXPECT_EQ(r.images.sizes(), p.images.sizes());
  EXPECT_EQ(r.classes, p.classes);
  EXPECT_EQ(r.labels, p.labels);
  EXPECT_EQ(r.patient_ids, p.patient_ids);
  EXPECT_EQ(r.paths, p.paths);
  EXPECT_EQ(r.splits, p.splits);
  EXPECT_EQ(r.sources, p.sources);
  EXPECT_EQ(r.spec.stage1.size, 64);
  // A pack without sources (written before they existed) reads with none.
  Pack old = p;
  old.sources.clear();
  write_pack(dir.file("b.pack"), old);
  EXPECT_TRUE(read_pack(dir.file("b.pack")).sources.empty());
  EXPECT_EQ(r.provenance["layout"], "test");
  EXPECT_EQ(r.content_hash(), p.content_hash());
  // Writing what was read gives the same bytes.
  write_pack(dir.file("b.pack"), r);
  EXPECT_EQ(read_file(dir.file("a.pack")), read_file(dir.file("b.pack")));
}

TEST(Pack, ContentHashSeesImagesAndLabels) {
  const Pack p = make_pack();
  Pack q = make_pack();
  EXPECT_EQ(p.content_hash(), q.content_hash());
  EXPECT_EQ(p.content_hash().size(), 16u);
  q.images[2][3][4] += 1;
  EXPECT_NE(p.content_hash(), q.content_hash());
  Pack l = make_pack();
  l.labels[0] = 2;
  EXPECT_NE(p.content_hash(), l.content_hash());
  Pack meta = make_pack();
  meta.paths[0] = "/moved.png";  // paths are not content
  EXPECT_EQ(p.content_hash(), meta.content_hash());
}

TEST(Pack, SelectCopiesRows) {
  const Pack p = make_pack();
  const Pack s = p.select({4, 0});
  ASSERT_EQ(s.size(), 2);
  EXPECT_TRUE(torch::equal(s.images[0], p.images[4]));
  EXPECT_TRUE(torch::equal(s.images[1], p.images[0]));
  EXPECT_EQ(s.labels, (std::vector<int64_t>{p.labels[4], p.labels[0]}));
  EXPECT_EQ(s.paths[0], p.paths[4]);
  EXPECT_EQ(s.classes, p.classes);
  EXPECT_EQ(p.select({}).size(), 0);
  EXPECT_THROW(p.select({5}), Error);
  EXPECT_THROW(p.select({-1}), Error);
}

TEST(Pack, RefusesToWriteInconsistentPacks) {
  test::TempDir dir;
  Pack p = make_pack();
  p.labels[1] = 3;
  EXPECT_THROW(write_pack(dir.file("x.pack"), p), FileError);
  p = make_pack();
  p.paths.pop_back();
  EXPECT_THROW(write_pack(dir.file("x.pack"), p), FileError);
  p = make_pack();
  p.images = p.images.to(torch::kFloat);
  EXPECT_THROW(write_pack(dir.file("x.pack"), p), FileError);
}

TEST(Pack, TruncatedCorruptAndForeignFilesGiveClearErrors) {
  test::TempDir dir;
  write_pack(dir.file("a.pack"), make_pack());
  const std::string bytes = read_file(dir.file("a.pack"));
  for (size_t cut : {size_t(0), size_t(8), size_t(40), bytes.size() / 2, bytes.size() - 1}) {
    write_file_atomic(dir.file("t.pack"), bytes.substr(0, cut));
    const std::string e = error_of(dir.file("t.pack"));
    EXPECT_NE(e.find("t.pack"), std::string::npos) << cut << ": " << e;
  }
  std::string flipped = bytes;
  flipped[bytes.size() - 100] ^= 1;  // inside the images
  write_file_atomic(dir.file("c.pack"), flipped);
  EXPECT_NE(error_of(dir.file("c.pack")).find("checksum"), std::string::npos);
  write_file_atomic(dir.file("img.pack"), std::string("\xff\xd8\xff\xe0", 4) + std::string(100, 'j'));
  EXPECT_NE(error_of(dir.file("img.pack")).find("JPEG"), std::string::npos) << error_of(dir.file("img.pack"));
  EXPECT_NE(error_of(dir.file("none.pack")).find("none.pack"), std::string::npos);
}

TEST(Pack, ValidatesHeaderAgainstTheBlob) {
  test::TempDir dir;
  const std::string f = dir.file("h.pack");
  auto expect_error = [&](const std::function<void(nlohmann::json&)>& edit, const std::string& words) {
    write_pack(f, make_pack());
    rewrite_header(f, edit);
    const std::string e = error_of(f);
    EXPECT_NE(e.find(words), std::string::npos) << "got: " << e;
  };
  expect_error([](nlohmann::json& h) { h["n"] = 6; }, "bytes");
  expect_error([](nlohmann::json& h) { h["w"] = 13; }, "bytes");
  expect_error([](nlohmann::json& h) { h["h"] = -1; }, "'h'");
  expect_error([](nlohmann::json& h) { h["labels"][0] = 7; }, "label 7");
  expect_error([](nlohmann::json& h) { h["paths"].erase(0); }, "'paths' has 4 entries");
  expect_error([](nlohmann::json& h) { h["splits"][1] = 5; }, "wrong type");
  expect_error([](nlohmann::json& h) { h.erase("classes"); }, "classes");
  expect_error([](nlohmann::json& h) { h["spec"]["stage1"]["size"] = 3; }, "spec");
  expect_error([](nlohmann::json& h) { h = nlohmann::json::array(); }, "not a JSON object");
}

TEST(Pack, StatsOfAPack) {
  const Pack p = make_pack(8);
  const DatasetStats s = compute_stats(p);
  EXPECT_EQ(s.kind, "pack");
  EXPECT_EQ(s.total.images, 8u);
  EXPECT_EQ(s.total.patients, 4u);
  // labels 0,1,2,-1,1,2,0,-1 -> covid 2, normal 2, pneumonia 2, unlabelled 2.
  EXPECT_EQ(s.by_class.at("covid").images, 2u);
  EXPECT_EQ(s.by_class.at("").images, 2u);
  const auto j = stats_to_json(s);
  EXPECT_EQ(j["by_class"]["unlabelled"]["images"], 2);
  EXPECT_EQ(j["by_split"]["train"]["images"], 2);
  EXPECT_EQ(j["by_split"]["unsplit"]["images"], 4);
  EXPECT_EQ(j["classes"][0], "covid");
}
