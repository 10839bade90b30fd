// Root finding: Brent's method on a bracket (the fixed points of the variance map
// and the EOC branches finish their searches with it).
#pragma once

#include <cmath>
#include <limits>

namespace sigprop {
namespace detail {

// Brent's method on f over [a, b] with f(a) f(b) < 0. Stops when the bracket
// is below xtol_rel |x| + xtol_abs or f vanishes. Returns the best point.
template <class F>
inline double brent(F&& f, double a, double b, double fa, double fb, double xtol_rel,
                    double xtol_abs, int max_iter = 200, int* evals = nullptr) {
  double c = a, fc = fa, d = b - a, e = d;
  int n = 0;
  for (int it = 0; it < max_iter; ++it) {
    if ((fb > 0.0) == (fc > 0.0)) {
      c = a;
      fc = fa;
      d = e = b - a;
    }
    if (std::fabs(fc) < std::fabs(fb)) {
      a = b;
      b = c;
      c = a;
      fa = fb;
      fb = fc;
      fc = fa;
    }
    const double tol = 2.0 * std::numeric_limits<double>::epsilon() * std::fabs(b) +
                       0.5 * (xtol_rel * std::fabs(b) + xtol_abs);
    const double m = 0.5 * (c - b);
    if (std::fabs(m) <= tol || fb == 0.0) break;
    if (std::fabs(e) >= tol && std::fabs(fa) > std::fabs(fb)) {
      double p, q, r;
      const double s = fb / fa;
      if (a == c) {
        p = 2.0 * m * s;
        q = 1.0 - s;
      } else {
        q = fa / fc;
        r = fb / fc;
        p = s * (2.0 * m * q * (q - r) - (b - a) * (r - 1.0));
        q = (q - 1.0) * (r - 1.0) * (s - 1.0);
      }
      if (p > 0.0)
        q = -q;
      else
        p = -p;
      if (2.0 * p < std::fmin(3.0 * m * q - std::fabs(tol * q), std::fabs(e * q))) {
        e = d;
        d = p / q;
      } else {
        d = m;
        e = m;
      }
    } else {
      d = m;
      e = m;
    }
    a = b;
    fa = fb;
    b += std::fabs(d) > tol ? d : (m > 0.0 ? tol : -tol);
    fb = f(b);
    ++n;
  }
  if (evals) *evals += n;
  return b;
}

}  // namespace detail
}  // namespace sigprop
