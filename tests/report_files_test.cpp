// Report writing: ROC / confusion SVGs and the metrics.json, report.md, report.html files.
// Set COVSCREEN_REPORT_DEMO_DIR=/some/dir to also keep a demo report there (for looking at it).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/report/report.h"
#include "covscreen/report/svg.h"
#include "test_util.h"

namespace cm = covscreen::metrics;
namespace cr = covscreen::report;

namespace {

// Minimal XML well-formedness check: every start tag is closed in order, no stray '<' or '&'.
bool well_formed(const std::string& x, std::string* why) {
  std::vector<std::string> stack;
  size_t i = 0;
  while ((i = x.find('<', i)) != std::string::npos) {
    const size_t end = x.find('>', i);
    if (end == std::string::npos) return *why = "unterminated tag", false;
    const std::string tag = x.substr(i + 1, end - i - 1);
    if (tag.empty()) return *why = "empty tag", false;
    if (tag[0] == '!' || tag[0] == '?') {
    } else if (tag[0] == '/') {
      if (stack.empty() || stack.back() != tag.substr(1)) return *why = "mismatched </" + tag.substr(1) + ">", false;
      stack.pop_back();
    } else if (tag.back() != '/') {
      stack.push_back(tag.substr(0, tag.find_first_of(" \n\t")));
    }
    i = end + 1;
  }
  if (!stack.empty()) return *why = "unclosed <" + stack.back() + ">", false;
  std::smatch m;
  if (std::regex_search(x, m, std::regex("&(?!(amp|lt|gt|quot|#39);)")))
    return *why = "unescaped & at " + std::to_string(m.position(0)), false;
  return true;
}

std::string html_body_svgs(const std::string& html) {  // the inline <svg>...</svg> parts
  std::string out;
  size_t i = 0;
  while ((i = html.find("<svg", i)) != std::string::npos) {
    const size_t e = html.find("</svg>", i);
    out += html.substr(i, e + 6 - i);
    i = e;
  }
  return out;
}

cm::Evaluation demo_evaluation(unsigned seed, double separation) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0, 1);
  cm::EvalInput in;
  in.classes = {"covid", "pneumonia", "normal"};
  in.num_classes = 3;
  for (int p = 0; p < 60; ++p) {
    const int label = p % 3;
    for (int s = 0; s < 5; ++s) {
      for (int k = 0; k < 3; ++k)
        in.probs.push_back(
            static_cast<float>(1 / (1 + std::exp(-(noise(rng) + (k == label ? separation : -separation))))));
      in.labels.push_back(label);
      in.patient_ids.push_back("patient-" + std::to_string(p));
    }
  }
  cm::EvaluateOptions opt;
  opt.threshold = cm::fixed_threshold(0.5);
  return cm::evaluate_predictions(in, opt);
}

cr::ReportInput demo_input() {
  cr::ReportInput in;
  in.title = "Evaluation of <demo> models";
  in.data_description = "Synthetic data: 60 patients x 5 slices, 3 classes (seeded), test split.";
  in.models.push_back({"deep-ct-net", "models/deep_ct_net.ckpt", "DenseNet-121 + FPA", demo_evaluation(1, 1.2)});
  in.models.push_back({"densenet-121", "models/densenet.ckpt", "baseline", demo_evaluation(2, 0.6)});
  in.models.push_back({"chance & co", "models/random.ckpt", "no skill", demo_evaluation(3, 0.0)});
  in.created = "2024-01-01T00:00:00Z";
  in.command = "covscreen evaluate --model a --model b data/";
  return in;
}

}  // namespace

TEST(ReportSvg, RocPlotHasOneLinePerSeriesAndLegend) {
  cr::RocSeries a{"model <A>", {0, 0, 0.5, 1}, {0, 0.5, 1, 1}, 0.875, cm::Interval{0.7, 0.95}};
  cr::RocSeries b{"model B", {}, {}, std::nullopt, std::nullopt};
  const std::string svg = cr::roc_svg({a, b}, "ROC & more");
  std::string why;
  EXPECT_TRUE(well_formed(svg, &why)) << why;
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  size_t lines = 0;
  for (size_t i = 0; (i = svg.find("<polyline", i)) != std::string::npos; ++i) ++lines;
  EXPECT_EQ(lines, 1u);  // b has no curve
  EXPECT_NE(svg.find("model &lt;A&gt;   AUC 0.875 (0.700–0.950)"), std::string::npos);
  EXPECT_NE(svg.find("model B   AUC undefined"), std::string::npos);
  EXPECT_NE(svg.find("ROC &amp; more"), std::string::npos);
  EXPECT_NE(svg.find(">0.2<"), std::string::npos);  // tick labels
  EXPECT_NE(svg.find(">1.0<"), std::string::npos);
}

TEST(ReportSvg, CollinearPointsAreDropped) {
  std::vector<double> x, y;
  for (int i = 0; i <= 100; ++i) {
    x.push_back(0);
    y.push_back(i / 100.0);
  }
  x.push_back(1);
  y.push_back(1);
  const std::string svg = cr::roc_svg({{"perfect", x, y, 1.0, std::nullopt}}, "t");
  const size_t p = svg.find("points=\"");
  const std::string pts = svg.substr(p + 8, svg.find('"', p + 8) - p - 8);
  EXPECT_EQ(std::count(pts.begin(), pts.end(), ','), 3);  // (0,0) (0,1) (1,1)
}

TEST(ReportSvg, ConfusionHeatmap) {
  const std::string svg = cr::confusion_svg({{50, 3}, {7, 40}}, {"covid", "non-covid"}, "CM");
  std::string why;
  EXPECT_TRUE(well_formed(svg, &why)) << why;
  for (const char* s : {">50<", ">3<", ">7<", ">40<", "94.3%", "Predicted class", "True class"})
    EXPECT_NE(svg.find(s), std::string::npos) << s;
  EXPECT_THROW(cr::confusion_svg({{1, 2}}, {"a", "b"}, "x"), covscreen::Error);
  EXPECT_THROW(cr::confusion_svg({}, {}, "x"), covscreen::Error);
}

TEST(ReportFiles, WritesAllFiles) {
  covscreen::test::TempDir tmp;
  const std::string dir = tmp.file("out/nested");
  const cr::ReportInput in = demo_input();
  const cr::ReportFiles files = cr::write_report(dir, in);
  for (const char* f : {"metrics.json", "report.md", "report.html", "roc.svg", "roc_patient.svg", "confusion.svg",
                        "confusion_2.svg", "confusion_3.svg"})
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + f)) << f;
  EXPECT_EQ(files.paths.size(), 8u);

  const nlohmann::json j = nlohmann::json::parse(covscreen::read_file(dir + "/metrics.json"));
  for (const char* f : {"n", "auc", "auc_ci", "accuracy", "precision", "recall", "specificity", "f1", "threshold",
                        "confusion", "per_class", "patient_level", "model", "models", "notice"})
    EXPECT_TRUE(j.contains(f)) << f;
  EXPECT_EQ(j["n"], 300);
  EXPECT_EQ(j["patient_level"]["n"], 60);
  EXPECT_EQ(j["models"].size(), 3u);
  EXPECT_EQ(j["model"]["name"], "deep-ct-net");
  EXPECT_DOUBLE_EQ(j["auc"].get<double>(), *in.models[0].evaluation.slice.auc);

  const std::string md = covscreen::read_file(dir + "/report.md");
  EXPECT_NE(md.find(cr::kResearchNotice), std::string::npos);
  EXPECT_NE(md.find("![ROC curves, slice level](roc.svg)"), std::string::npos);
  EXPECT_NE(md.find("| deep-ct-net |"), std::string::npos);
  EXPECT_NE(md.find("Patient-level results"), std::string::npos);

  const std::string html = covscreen::read_file(dir + "/report.html");
  EXPECT_NE(html.find("class=\"notice\""), std::string::npos);
  EXPECT_NE(html.find("Research use only"), std::string::npos);
  EXPECT_NE(html.find("Evaluation of &lt;demo&gt; models"), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);  // self-contained
  std::string why;
  EXPECT_TRUE(well_formed(html_body_svgs(html), &why)) << why;
  EXPECT_TRUE(well_formed(covscreen::read_file(dir + "/roc.svg"), &why)) << why;

  if (const char* keep = std::getenv("COVSCREEN_REPORT_DEMO_DIR")) cr::write_report(keep, in);
}

TEST(ReportFiles, ErrorsNameTheProblem) {
  covscreen::test::TempDir tmp;
  EXPECT_THROW(cr::write_report(tmp.file("x"), cr::ReportInput{}), covscreen::UsageError);
  covscreen::write_file_atomic(tmp.file("file"), "x");
  EXPECT_THROW(cr::write_report(tmp.file("file") + "/sub", demo_input()), covscreen::FileError);
}
