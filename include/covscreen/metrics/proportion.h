#pragma once
// Proportions with 95% Wilson score intervals (Wilson 1927; Newcombe 1998, method 3).
//
//   centre = (p + z^2/(2n)) / (1 + z^2/n)
//   half   = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/(4n^2))        p = k/n, z = 1.959964
//
// Unlike the plain normal interval it stays inside [0, 1] and is sensible at k = 0 or k = n.
namespace covscreen::metrics {

// Two-sided 95% standard normal quantile, Phi^-1(0.975).
inline constexpr double kZ95 = 1.959963984540054;

struct Interval {
  double lo = 0;
  double hi = 0;
};

// A proportion k/n with its interval. `n == 0` means undefined (e.g. precision with no positive
// predictions); `value` and `ci` are then 0 and must not be shown (defined() is false).
struct Proportion {
  long k = 0;
  long n = 0;
  double value = 0;
  Interval ci;
  bool defined() const { return n > 0; }
};

// Wilson score interval of k successes in n trials. Throws covscreen::Error when n <= 0,
// k < 0 or k > n.
Interval wilson_interval(long k, long n, double z = kZ95);

// k/n with its Wilson interval; an undefined Proportion (defined() false) when n == 0.
Proportion make_proportion(long k, long n, double z = kZ95);

// Standard normal CDF.
double normal_cdf(double x);

}  // namespace covscreen::metrics
