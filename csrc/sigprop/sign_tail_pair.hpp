// E[f(u) f(v)] (f = phi or phi') of tanh and sigmoid at large variances next to c = 1,
// as linear_tail_pair.hpp does for the linear tails: closed forms plus one Gauss-Legendre
// sum and one Fourier-space integral (10-35 us a pair where saturating_pair.hpp's tensor
// and conditional forms take 30-700 us, and its narrow and conditional forms both
// decline in a band of conditional spreads, w ~ 0.9-1, where the principal-axes
// quadrature took 5 ms: tanh', q 15 / 17, c 0.972).
//
// Method. tanh = sign + r, r(y) = tanh(y) - sign(y) odd, |r| <= 2 e^{-2|y|}; for (u, v)
// centred normal, variances q1 = s1^2, q2 = s2^2, correlation c in [1/2, 1):
//   E[tanh u tanh v] = (2 / pi) asin(c) + E[r(u) sign(v)] + E[sign(u) r(v)] + E[r(u) r(v)],
//  * E[r(u) sign(v)] = 2 int_0^inf r(x) p1(x) (1 - 2 Phi(-x / W)) dx (v given u = x is
//    normal with mean c s2 x / s1, so that E[sign v | u = x] = erf(x / (W sqrt 2)), W =
//    s1 sqrt(1 - c^2) / c): Gauss-Legendre panels of 20 nodes on [0, 22] (|r| < 2e-19
//    beyond), at most 3 long (r analytic within pi / 2 of the real line) and cut at W
//    {1, 2.5, 4.5, 7, 9.5};
//  * E[r(u) r(v)] in Fourier space: r's transform i rho(k), rho(k) = 2 / k - pi /
//    sinh(pi k / 2) (odd), whose tail 2 / k (r's jump at 0) is taken out as the jump's
//    Gaussian smoothing j(y) = erf(y / sqrt 2) - sign(y) (transform i (2 / k)(1 -
//    e^{-k^2 / 2})): E[r r] = E[j(u) j(v)] - (2 pi)^-2 int int (rho rho - rho_j rho_j)
//    ..., the first four E[sign X sign Y] = (2 / pi) asin(rho_XY) in closed form (at the
//    variances q and q + 1), the second on linear_tail_pair.hpp's rules
//    (fourier_gaussian_integral: poles at |Im k| = 2, decay e^{-pi |k| / 2}).
//  * tanh' = sech^2, whose transform pi k / sinh(pi k / 2) decays exponentially:
//    E[sech^2 u sech^2 v] = (2 pi)^-2 int int F(k) F(l) ... on the same rules, nothing
//    taken out.
// sigmoid(x) = (1 + tanh(x / 2)) / 2: E[s(u) s(v)] = 1/4 + E_tanh(q1 / 4, q2 / 4, c) / 4,
// E[s'(u) s'(v)] = E'_tanh(q1 / 4, q2 / 4, c) / 16.
// Where the covariance's larger eigenvalue is below 16 (the rho rule, 16 Gauss-Hermite
// nodes below 49; for sigmoid, of q / 4: q1 + q2 below ~64; for tanh' below 4, 30 nodes
// below 16), the variances are further apart than 25x or c < 1/2, the form declines
// (false).
//
// Accuracy. Against nested quadrature at 600 random points a kind and derivative order
// (q1 from 10^0.9 to 1e4, q2 / q1 up to e^1.68, 1 - c from 1e-9 to 1/2): within 2.1e-15
// of the scale; against the 30-digit references of tanh and sigmoid where it serves (64
// points of tests/data/reference_2d_large_q.json, reference_2d_extreme.json and
// reference_2d_off_diagonal.json) within 6.7e-16 (tests/test_two_point.py,
// tests/test_reference_extreme.py: held to 1e-14).
#pragma once

#include <cmath>
#include <utility>

#include "activation.hpp"
#include "gauss_legendre.hpp"
#include "linear_tail_pair.hpp"
#include "special.hpp"

namespace sigprop {
namespace detail {

// The cross terms' integrand w r f at n nodes (sign_tail_cross), from the other input's
// factors g0, g1 (cross_gaps, linear_tail_pair.hpp), in plain arithmetic as
// tail_cross_terms, vectorised.
SIGPROP_VECTOR_CLONES inline void sign_cross_terms(const double* si, const double* __restrict xs,
                                                   const double* __restrict ws,
                                                   const double* __restrict g0,
                                                   const double* __restrict g1, int n,
                                                   double* __restrict t) {
  using special::inv_sqrt_2pi;
  const double si0 = si[0], si1 = si[1];
  for (int k = 0; k < n; ++k) {
    const double x = xs[k];
    const double e = special::exp_arith(-2.0 * x), r = -2.0 * e / (1.0 + e);  // tanh(x) - 1
    const double p0 = inv_sqrt_2pi * special::exp_neg_sq_arith(x / si0, 0.5) / si0;
    const double p1 = inv_sqrt_2pi * special::exp_neg_sq_arith(x / si1, 0.5) / si1;
    t[k] = ws[k] * r * (p0 * g0[k] + p1 * g1[k]);
  }
}

// E[r(u) sign(v)] + E[sign(u) r(v)] of tanh (see above).
inline double sign_tail_cross(double s1, double s2, double c) {
  const double sc = std::sqrt((1.0 - c) * (1.0 + c));
  const double si[2] = {s1, s2};
  double W[2];
  for (int i = 0; i < 2; ++i) W[i] = si[i] * sc / c;
  double xs[kTailNodes], ws[kTailNodes], g[2][kTailNodes], t[kTailNodes];
  const int n = tail_panel_nodes(22.0, 3.0, W, xs, ws);
  // E[sign(v) | u = x] = 1 - 2 Phi(-x / W), 1 beyond x = 9.5 W
  cross_gaps<1>(W, xs, n, g);
  sign_cross_terms(si, xs, ws, g[0], g[1], n, t);
  double sum = 0.0;
  for (int k = 0; k < n; ++k) sum += t[k];
  return 2.0 * sum;
}

// E[f(u) f(v)] of tanh (f = tanh, d = 0; sech^2, d = 1) by the forms above, to absolute
// tolerance atol; false where they decline.
inline bool tanh_fourier_pair(int d, double q1, double q2, double c, double atol, double& out) {
  using special::pi;
  if (!(c >= 0.5 && c < 1.0) || !(std::fmin(q1, q2) > 0.0) || !std::isfinite(std::fmax(q1, q2)) ||
      std::fmax(q1, q2) > 25.0 * std::fmin(q1, q2) || !(atol > 0.0))
    return false;
  // (the integrands: fourier_integrand, linear_tail_pair.hpp)
  if (d == 1)
    return fourier_gaussian_integral<FourierIntegrand::tanh_d1>(q1, q2, c, 2.0, 0.5 * pi, 46.0,
                                                                atol, out);
  double ih;
  if (!fourier_gaussian_integral<FourierIntegrand::tanh>(q1, q2, c, 2.0, 0.5 * pi, 41.4, 0.5 * atol,
                                                         ih))
    return false;
  const double s1 = std::sqrt(q1), s2 = std::sqrt(q2), cov = c * s1 * s2;
  const double det = q1 * q2 * ((1.0 - c) * (1.0 + c));
  auto S = [&](double dt) { return sign_product_moment(dt, cov); };
  const double jj = S(det + q1 + q2 + 1.0) - S(det + q2) - S(det + q1) + S(det);
  out = S(det) + sign_tail_cross(s1, s2, c) + ih + jj;
  return std::isfinite(out);
}

// E[f(u) f(v)] of tanh or sigmoid (f = phi^(d)) by tanh_fourier_pair, to absolute
// tolerance atol; false for other kinds or where it declines.
inline bool sign_tail_pair(Kind kind, int d, double q1, double q2, double c, double atol,
                           double& out) {
  if (d != 0 && d != 1) return false;
  if (kind == Kind::tanh) return tanh_fourier_pair(d, q1, q2, c, atol, out);
  if (kind != Kind::sigmoid) return false;
  return sigmoid_pair_from_tanh(d, q1, q2, c, atol, out, tanh_fourier_pair);
}

}  // namespace detail
}  // namespace sigprop
