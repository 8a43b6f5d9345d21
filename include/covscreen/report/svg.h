#pragma once
// Self-contained SVG figures for reports: ROC curves (several models overlaid, as the paper's
// Fig. 5) and a confusion-matrix heat map. Plain SVG 1.1 text, no scripts, no external fonts or
// files; colours from the Okabe-Ito palette (colour-blind safe).
#include <optional>
#include <string>
#include <vector>

#include "covscreen/metrics/evaluate.h"

namespace covscreen::report {

struct RocSeries {
  std::string name;                         // legend text, e.g. the model name
  std::vector<double> fpr, tpr;             // ROC points in [0, 1]; empty = no curve (undefined)
  std::optional<double> auc;                // shown in the legend
  std::optional<metrics::Interval> auc_ci;  // shown as "(lo–hi)" after the AUC
};

// A series from one level of an evaluation (its COVID-vs-rest ROC curve, AUC and DeLong CI).
RocSeries roc_series(const std::string& name, const metrics::LevelMetrics& level);

// 560 x 540 px: axes 0..1 with ticks every 0.2 and a grid every 0.1, the chance diagonal, one
// line per series and a legend "name  AUC 0.886 (0.853–0.915)". Collinear points are dropped.
std::string roc_svg(const std::vector<RocSeries>& series, const std::string& title);

// Heat map of a K x K matrix (rows = true class, columns = predicted), each cell showing its
// count and its share of the row; shade = that share. class_names: K labels.
// Throws covscreen::Error when the matrix is not K x K with K = class_names.size() >= 1.
std::string confusion_svg(const std::vector<std::vector<long>>& matrix, const std::vector<std::string>& class_names,
                          const std::string& title);

// A grouped bar chart of counts (the data set card's age and sex pictures, the paper's Fig. 1):
// one group per category, one bar per series, each bar labelled with its count, a legend when
// there are two or more series. Throws covscreen::Error when a series has not one value per
// category. Deterministic text (same input, same bytes).
struct BarSeries {
  std::string name;
  std::vector<double> values;  // one per category, >= 0
};
std::string bar_chart_svg(const std::vector<std::string>& categories, const std::vector<BarSeries>& series,
                          const std::string& title, const std::string& x_label, const std::string& y_label);

}  // namespace covscreen::report
