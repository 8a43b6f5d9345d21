// Patient-level, stratified splits, the overlap check and the stats table.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "covscreen/core/error.h"
#include "covscreen/data/layouts.h"
#include "covscreen/data/split.h"
#include "covscreen/data/stats.h"
#include "test_util.h"

using namespace covscreen;

namespace {
// `patients` patients of one label, each with 1..3 images.
void add(Manifest& m, const std::string& label, const std::string& prefix, int patients) {
  for (int p = 0; p < patients; ++p)
    for (int k = 0; k <= p % 3; ++k)
      m.entries.push_back({"/d/" + prefix + std::to_string(p) + "_" + std::to_string(k) + ".png", label,
                           prefix + std::to_string(p), "", "synthetic", label});
}

std::map<std::string, std::string> split_of_patient(const Manifest& m) {
  std::map<std::string, std::string> out;
  for (const auto& e : m.entries) out[e.patient_id] = e.split;
  return out;
}
}  // namespace

TEST(Split, CountsSumAndFollowRatios) {
  EXPECT_EQ(split_counts(10, {70, 10, 20}), (std::array<size_t, 3>{7, 1, 2}));
  EXPECT_EQ(split_counts(100, {0.7, 0.1, 0.2}), (std::array<size_t, 3>{70, 10, 20}));
  EXPECT_EQ(split_counts(1, {70, 10, 20}), (std::array<size_t, 3>{1, 0, 0}));
  EXPECT_EQ(split_counts(7, {80, 20, 0}), (std::array<size_t, 3>{6, 1, 0}));
  for (size_t n = 0; n < 50; ++n) {
    auto c = split_counts(n, {70, 10, 20});
    EXPECT_EQ(c[0] + c[1] + c[2], n);
  }
  EXPECT_EQ(parse_ratios("70,10,20"), (std::array<double, 3>{70, 10, 20}));
  EXPECT_EQ(parse_ratios("0.8,0.2"), (std::array<double, 3>{0.8, 0.2, 0}));
  EXPECT_THROW(parse_ratios("70"), UsageError);
  EXPECT_THROW(parse_ratios("70,x,20"), UsageError);
  EXPECT_THROW(parse_ratios("0,0,0"), UsageError);
  EXPECT_THROW(parse_ratios("-1,1,1"), UsageError);
  EXPECT_THROW(parse_ratios("1,1,1,1"), UsageError);
}

TEST(Split, RngIsTheDocumentedMt19937_64) {
  // std::mt19937_64 is fully specified by the standard: its 10000th output from the default
  // seed is 9981545732273789042 ([rand.predef]); our bounded draw and shuffle are built on it.
  std::mt19937_64 ref;
  ref.discard(9999);
  EXPECT_EQ(ref(), 9981545732273789042ull);
  std::mt19937_64 a(5), b(5);
  std::vector<std::string> v1{"a", "b", "c", "d", "e", "f"}, v2 = v1;
  deterministic_shuffle(v1, a);
  deterministic_shuffle(v2, b);
  EXPECT_EQ(v1, v2);
  std::multiset<std::string> s1(v1.begin(), v1.end()), s0{"a", "b", "c", "d", "e", "f"};
  EXPECT_EQ(s1, s0);
  // Every value of a small bound is reachable and roughly uniform.
  std::mt19937_64 r(1);
  std::array<int, 3> hist{0, 0, 0};
  for (int i = 0; i < 30000; ++i) ++hist[uniform_below(3, r)];
  for (int h : hist) EXPECT_NEAR(h, 10000, 400);
}

TEST(Split, PatientLevelStratifiedAndSeeded) {
  Manifest m;
  add(m, "covid", "c", 100);
  add(m, "normal", "n", 50);
  add(m, "pneumonia", "p", 20);
  Manifest a = m, b = m, c = m;
  SplitOptions opt;
  opt.seed = 1;
  split_manifest(a, opt);
  split_manifest(b, opt);
  opt.seed = 2;
  split_manifest(c, opt);
  EXPECT_TRUE(find_patient_overlap(a).empty());
  EXPECT_EQ(split_of_patient(a), split_of_patient(b));
  EXPECT_NE(split_of_patient(a), split_of_patient(c));
  // Per class, patients follow 70/10/20.
  std::map<std::string, std::map<std::string, int>> per;
  for (const auto& [pid, split] : split_of_patient(a)) ++per[pid.substr(0, 1)][split];
  EXPECT_EQ(per["c"]["train"], 70);
  EXPECT_EQ(per["c"]["val"], 10);
  EXPECT_EQ(per["c"]["test"], 20);
  EXPECT_EQ(per["n"]["train"], 35);
  EXPECT_EQ(per["n"]["val"], 5);
  EXPECT_EQ(per["p"]["test"], 4);
  // Manifest order does not matter.
  Manifest rev = m;
  std::reverse(rev.entries.begin(), rev.entries.end());
  opt.seed = 1;
  split_manifest(rev, opt);
  EXPECT_EQ(split_of_patient(rev), split_of_patient(a));
}

TEST(Split, KeepsExistingSplitsUnlessResplit) {
  Manifest m;
  add(m, "covid", "c", 30);
  m.entries[0].split = "test";  // patient c0 fixed to test
  for (auto& e : m.entries)
    if (e.patient_id == "c2") e.split = "val";
  m.entries[3].split = "";  // c2 has three images; one unsplit joins val
  ASSERT_EQ(m.entries[3].patient_id, "c2");
  Manifest kept = m;
  SplitResult r = split_manifest(kept, {});
  EXPECT_EQ(r.patients_kept, 2u);
  EXPECT_EQ(r.patients_assigned, 28u);
  EXPECT_EQ(split_of_patient(kept)["c0"], "test");
  for (const auto& e : kept.entries)
    if (e.patient_id == "c2") EXPECT_EQ(e.split, "val");
  SplitOptions re;
  re.resplit = true;
  Manifest again = m;
  r = split_manifest(again, re);
  EXPECT_EQ(r.patients_assigned, 30u);
  // A patient already in two splits is refused (without --resplit).
  Manifest bad = m;
  bad.entries[1].patient_id = "c0";
  bad.entries[1].split = "train";
  EXPECT_THROW(split_manifest(bad, {}), Error);
  EXPECT_NO_THROW(split_manifest(bad, re));
}

TEST(Split, OverlapCheckFindsLeaks) {
  Manifest m;
  m.entries.push_back({"/a1", "covid", "A", "train", "", ""});
  m.entries.push_back({"/a2", "covid", "A", "test", "", ""});
  m.entries.push_back({"/b1", "covid", "B", "train", "", ""});
  m.entries.push_back({"/x", "covid", "", "val", "", ""});  // no id: cannot leak
  auto v = find_patient_overlap(m);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].patient_id, "A");
  EXPECT_EQ(v[0].splits, (std::vector<std::string>{"test", "train"}));
  try {
    check_no_patient_overlap(m);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'A'"), std::string::npos);
  }
  const DatasetStats s = compute_stats(m);
  EXPECT_EQ(s.overlap.size(), 1u);
  EXPECT_NE(format_stats_table(s).find("FAILED"), std::string::npos);
  EXPECT_EQ(stats_to_json(s)["patient_overlap"]["ok"], false);
}

TEST(Split, KermanySplitHasNoPatientInTwoSplitsAndIsSeeded) {
  COVSCREEN_REQUIRE_DATASET(root, "chest_xray_pneumonia");
  IndexOptions io;
  io.layout = "kermany";
  const Manifest m = index_dataset(root, io);
  SplitOptions opt;
  opt.resplit = true;  // the folders are all "train"
  opt.seed = 7;
  Manifest a = m, b = m, c = m;
  split_manifest(a, opt);
  split_manifest(b, opt);
  opt.seed = 8;
  split_manifest(c, opt);
  EXPECT_TRUE(find_patient_overlap(a).empty());
  ASSERT_EQ(a.entries.size(), b.entries.size());
  for (size_t i = 0; i < a.entries.size(); ++i) EXPECT_EQ(a.entries[i].split, b.entries[i].split);
  size_t differ = 0;
  for (size_t i = 0; i < a.entries.size(); ++i) differ += a.entries[i].split != c.entries[i].split;
  EXPECT_GT(differ, 50u);
  // Patients per class per split: 253 NORMAL / 237 PNEUMONIA patients (SOURCES.md) at 70/10/20.
  const DatasetStats s = compute_stats(a);
  EXPECT_EQ(s.by_class.at("normal").patients, 253u);
  EXPECT_EQ(s.by_class.at("pneumonia").patients, 237u);
  const auto want_n = split_counts(253, {70, 10, 20}), want_p = split_counts(237, {70, 10, 20});
  EXPECT_EQ(s.cells.at("normal").at("train").patients, want_n[0]);
  EXPECT_EQ(s.cells.at("normal").at("val").patients, want_n[1]);
  EXPECT_EQ(s.cells.at("normal").at("test").patients, want_n[2]);
  EXPECT_EQ(s.cells.at("pneumonia").at("test").patients, want_p[2]);
  EXPECT_NE(format_stats_table(s).find("OK"), std::string::npos);
}
