// CSV reader/writer and the manifest file.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/data/csv.h"
#include "covscreen/data/manifest.h"
#include "test_util.h"

using namespace covscreen;
namespace fs = std::filesystem;

namespace {
std::vector<std::vector<std::string>> fields(const std::string& text) {
  std::vector<std::vector<std::string>> out;
  for (auto& r : parse_csv(text, "t.csv")) out.push_back(r.fields);
  return out;
}
}  // namespace

TEST(Csv, ParsesQuotesCommasAndEmbeddedNewlines) {
  using V = std::vector<std::vector<std::string>>;
  EXPECT_EQ(fields("a,b,c\n1,2,3\n"), (V{{"a", "b", "c"}, {"1", "2", "3"}}));
  EXPECT_EQ(fields("a,\"b,c\",\"d\"\"e\"\r\n"), (V{{"a", "b,c", "d\"e"}}));
  EXPECT_EQ(fields("\"line1\nline2\",x\ny,z"), (V{{"line1\nline2", "x"}, {"y", "z"}}));
  EXPECT_EQ(fields("a,,\n,\n"), (V{{"a", "", ""}, {"", ""}}));
  EXPECT_EQ(fields("\xEF\xBB\xBFh1,h2\n\n\nv1,v2"), (V{{"h1", "h2"}, {"v1", "v2"}}));
  EXPECT_EQ(fields("\"\"\n"), (V{{""}}));
  // Line numbers count embedded newlines.
  auto recs = parse_csv("h\n\"a\nb\"\nc\n", "t.csv");
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[2].line, 4u);
}

TEST(Csv, WriterRoundTripsAnyField) {
  std::mt19937 rng(7);
  const std::string alphabet = "ab ,\"\n\r\t%()x";
  std::vector<std::vector<std::string>> rows;
  std::string text;
  for (int r = 0; r < 200; ++r) {
    std::vector<std::string> row;
    for (int c = 0; c < 4; ++c) {
      std::string f;
      const int len = static_cast<int>(rng() % 8);
      for (int k = 0; k < len; ++k) f.push_back(alphabet[rng() % alphabet.size()]);
      row.push_back(f);
    }
    row[0] = "k" + row[0];  // never an all-empty record (a blank line)
    rows.push_back(row);
    text += csv_record(row);
  }
  EXPECT_EQ(fields(text), rows);
  EXPECT_EQ(csv_escape("plain"), "plain");
  EXPECT_EQ(csv_escape("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_escape("say \"hi\""), "\"say \"\"hi\"\"\"");
}

TEST(Csv, RejectsUnterminatedQuoteAndOverlongRecords) {
  try {
    parse_csv("a,b\n1,\"open\n2,3\n", "bad.csv");
    FAIL() << "accepted";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
  const std::string big = "h\n" + std::string(2000, 'x') + "\n";
  EXPECT_NO_THROW(parse_csv(big, "big.csv"));
  try {
    parse_csv(big, "big.csv", 1000);
    FAIL() << "accepted";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("1000"), std::string::npos) << e.what();
  }
  // The default limit (1 MiB) holds for a quoted field too.
  EXPECT_THROW(parse_csv("\"" + std::string(kMaxCsvRecordBytes + 10, 'y') + "\"\n", "q.csv"), FileError);
}

TEST(Manifest, RoundTripsAndResolvesRelativePaths) {
  test::TempDir dir;
  fs::create_directories(dir.path() / "sub");
  Manifest m;
  m.entries.push_back({(dir.path() / "sub" / "a (1).png").string(), "covid", "p, 1", "train", "src", "COVID-19, ARDS"});
  m.entries.push_back({"/elsewhere/b.jpg", "normal", "p\"2", "", "src", "No Finding"});
  m.entries.push_back({(dir.path() / "sub" / "line\nbreak.png").string(), "", "", "test", "", ""});
  write_manifest(dir.file("m.csv"), m);
  const std::string text = read_file(dir.file("m.csv"));
  EXPECT_EQ(text.substr(0, text.find('\n')), kManifestColumns);
  EXPECT_NE(text.find("sub/a (1).png"), std::string::npos);               // written relative
  EXPECT_EQ(text.find(dir.path().string() + "/sub"), std::string::npos);  // not absolute
  Manifest r = read_manifest(dir.file("m.csv"));
  ASSERT_EQ(r.entries.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.entries[i].path, m.entries[i].path);
    EXPECT_EQ(r.entries[i].label, m.entries[i].label);
    EXPECT_EQ(r.entries[i].patient_id, m.entries[i].patient_id);
    EXPECT_EQ(r.entries[i].split, m.entries[i].split);
    EXPECT_EQ(r.entries[i].source, m.entries[i].source);
  }
  EXPECT_EQ(r.entries[0].original_label, "COVID-19, ARDS");
}

TEST(Manifest, NormalizesLabelsAndSplitsAndRejectsBadRows) {
  test::TempDir dir;
  write_file_atomic(dir.file("m.csv"), "label,path,split\nCT_COVID,x.png,Validation\nNORMAL,y.png,TRAIN\n");
  Manifest r = read_manifest(dir.file("m.csv"));
  ASSERT_EQ(r.entries.size(), 2u);
  EXPECT_EQ(r.entries[0].label, "covid");
  EXPECT_EQ(r.entries[0].original_label, "CT_COVID");
  EXPECT_EQ(r.entries[0].split, "val");
  EXPECT_EQ(r.entries[1].split, "train");
  EXPECT_EQ(r.entries[0].path, (dir.path() / "x.png").string());

  write_file_atomic(dir.file("bad1.csv"), "file,class\na.png,covid\n");
  EXPECT_THROW(read_manifest(dir.file("bad1.csv")), FileError);
  write_file_atomic(dir.file("bad2.csv"), "path,label,split\na.png,covid,holdout\n");
  try {
    read_manifest(dir.file("bad2.csv"));
    FAIL() << "accepted";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
  write_file_atomic(dir.file("bad3.csv"), "path,label\n,covid\n");
  EXPECT_THROW(read_manifest(dir.file("bad3.csv")), FileError);
  EXPECT_THROW(read_manifest(dir.file("missing.csv")), FileError);
}
