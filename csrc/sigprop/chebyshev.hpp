// Chebyshev series: the evaluation that the interpolation tables (moment_table.hpp,
// hermite_table.hpp, custom_activation.hpp) share, and the coefficients of an
// interpolant from its values at the Chebyshev-Lobatto points.
#pragma once

#include <cmath>
#include <cstddef>

#include "special.hpp"

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

// T_0(t)..T_deg(t) into T (deg >= 1).
inline void basis(int deg, double t, double* T) {
  T[0] = 1.0;
  T[1] = t;
  for (int k = 2; k <= deg; ++k) T[k] = 2.0 * t * T[k - 1] - T[k - 2];
}

// Chebyshev coefficients from the values at the Lobatto points (DCT-I), for
// `count` series at once: y[j * y_stride + i] is series i at t_j = cos(pi j / deg),
// j = 0..deg; the coefficient of T_k goes to c[k * c_stride + i], k = 0..deg.
inline void lobatto_coefficients(int deg, int count, const double* y, std::size_t y_stride,
                                 double* c, std::size_t c_stride) {
  for (int k = 0; k <= deg; ++k) {
    double* ck = c + std::size_t(k) * c_stride;
    for (int i = 0; i < count; ++i) ck[i] = 0.0;
    const double sk = (2.0 / deg) * ((k == 0 || k == deg) ? 0.5 : 1.0);
    for (int j = 0; j <= deg; ++j) {
      const double w = ((j == 0 || j == deg) ? 0.5 : 1.0) *
                       std::cos(special::pi * double(j * k) / deg);
      const double* yj = y + std::size_t(j) * y_stride;
      for (int i = 0; i < count; ++i) ck[i] += sk * w * yj[i];
    }
  }
}

}  // namespace cheb
}  // namespace sigprop
