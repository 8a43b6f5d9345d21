#include "covscreen/metrics/proportion.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "covscreen/core/error.h"

namespace covscreen::metrics {

Interval wilson_interval(long k, long n, double z) {
  if (n <= 0) throw Error("Wilson interval is undefined: no trials (n = " + std::to_string(n) + ")");
  if (k < 0 || k > n)
    throw Error("Wilson interval: successes " + std::to_string(k) + " not in [0, " + std::to_string(n) + "]");
  const double nn = static_cast<double>(n);
  const double p = static_cast<double>(k) / nn;
  const double z2 = z * z;
  const double denom = 1.0 + z2 / nn;
  const double centre = (p + z2 / (2 * nn)) / denom;
  const double half = z / denom * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
  // Exact bounds at the extremes (rounding would otherwise give 1e-17 instead of 0).
  Interval ci{std::max(0.0, centre - half), std::min(1.0, centre + half)};
  if (k == 0) ci.lo = 0;
  if (k == n) ci.hi = 1;
  return ci;
}

Proportion make_proportion(long k, long n, double z) {
  Proportion p;
  p.k = k;
  p.n = n;
  if (n > 0) {
    p.value = static_cast<double>(k) / static_cast<double>(n);
    p.ci = wilson_interval(k, n, z);
  }
  return p;
}

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

}  // namespace covscreen::metrics
