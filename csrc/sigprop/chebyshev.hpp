// Chebyshev series: the evaluation that the interpolation tables (moment_table.hpp,
// custom_activation.hpp) share.
#pragma once

namespace sigprop {
namespace cheb {

// sum_{k=0}^{n} c[k] T_k(t) by Clenshaw's recurrence, t in [-1, 1].
inline double clenshaw(const double* c, int n, double t) {
  double b1 = 0.0, b2 = 0.0;
  const double t2 = 2.0 * t;
  for (int k = n; k >= 1; --k) {
    const double b0 = t2 * b1 + (c[k] - b2);
    b2 = b1;
    b1 = b0;
  }
  return t * b1 + (c[0] - b2);
}

}  // namespace cheb
}  // namespace sigprop
