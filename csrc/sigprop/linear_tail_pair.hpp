// E[f(u) f(v)] (f = phi or phi') of softplus, shifted_softplus and silu at large
// variances next to c = 1, in closed form plus two small quadratures (20-50 us a pair
// where the forms of saturating_pair.hpp take 0.2-6 ms: the nodes of a layer table,
// layer_table.hpp, of an exploding kernel, sigma_w = 2.5, sigma_b = 8, where the
// variances reach 1e7). phi, where q (1 - c^2) is large enough (~1e3 and up), by an
// asymptotic form from r's moments first (linear_tail_asymptotic, below: ~0.1 us).
//
// Method. phi = relu + r with r(y) = phi(|y|) - |y| even and decaying as e^{-|y|}
// (softplus: log(1 + e^{-|y|}), silu: -|y| / (1 + e^{|y|})), so that
//   E[phi(u) phi(v)] = E[relu(u) relu(v)] + E[r(u) relu(v)] + E[relu(u) r(v)] + E[r(u) r(v)]
// for (u, v) centred normal, variances q1 = s1^2, q2 = s2^2, correlation c in [1/2, 1);
// phi' = step + r' likewise (r' odd), each part below with its derivative:
//  * E[relu relu] = s1 s2 (sqrt(1 - c^2) + (pi - acos c) c) / (2 pi) (Cho and Saul, 2009);
//    E[step step] = 1/4 + asin(c) / (2 pi);
//  * E[r(u) relu(v)] = int_0^inf r(x) p1(x) E|N(kappa x, omega^2)| dx (r even folded,
//    v given u = x normal with mean kappa x = c s2 x / s1 and spread omega = s2
//    sqrt(1 - c^2)), with E|N(m, omega^2)| = m + omega e(m / omega), e(t) = 2 (npdf(t) -
//    t Phi(-t)) (E[r'(u) step(v)]: r' odd, E[sign N] = 1 - 2 Phi(-x / W) in its place):
//    Gauss-Legendre panels of 20 nodes on [0, 44] (|r| < 2e-17 beyond),
//    at most 6 long (r is analytic within pi of the real line: the rule's error below
//    2.49^-40 of the integrand's size) and cut at W {1, 2.5, 4.5, 7, 9.5}, W = s1
//    sqrt(1 - c^2) / c the scale of e(kappa x / omega) (a Gaussian's: panels at most 2.5 W
//    long where it is not negligible);
//  * E[r(u) r(v)] = (2 pi)^-2 int int rh(k) rh(l) exp(-(k, l) Sigma (k, l)^T / 2) dk dl, rh
//    the Fourier transform of r in closed form (softplus: 1 / k^2 - pi / (k sinh(pi k)),
//    silu: 1 / k^2 - pi^2 cosh(pi k) / sinh^2(pi k)), whose tail 1 / k^2 (r's kink at 0,
//    slope -1/2 to 1/2) is taken out first: with the Gaussian smoothing of the kink,
//    g(y) = (E|y + Z| - |y|) / 2 (its transform gh(k) = (1 - e^{-k^2/2}) / k^2),
//      E[r r] = E[g(u) g(v)] + (2 pi)^-2 int int (rh rh - gh gh) ...,
//    the first in closed form (E|X||Y| = (2 / pi) (sqrt(det) + cov (pi / 2 - theta)) for
//    variances a, b and covariance cov, theta = atan2(sqrt(det), cov), at the four
//    variances q and q + 1), the second decaying as e^{-pi min(|k|, |l|)} (phi': r'^ =
//    i k rh, g' = (erf(y / sqrt 2) - sign y) / 2, E[sign X sign Y] = (2 / pi) asin(rho)
//    for E|X||Y|). In the covariance's principal axes (k, l) = rho e1 + tau e2
//    (eigenvalues l1 >= l2): rho on Gauss-Hermite's 8 nodes (the weight's width
//    1 / sqrt(l1) within 1/14 of the integrand's poles at |Im k| = 1; 16 nodes to 1/8),
//    tau on the trapezoidal rule (analytic within 1 / max|e2| of the real line), its
//    step h from that strip and the weight's width (the error e^-41 of the integral,
//    e^-46 for phi': fourier_gaussian_integral), the estimate checked against the rule
//    of step 2h; its length from the integrand's decay, whatever c (no more nodes as
//    c -> 1).
// Where a variance is below 20 or the covariance's larger eigenvalue below 64 (the rho
// rule), the variances are further apart than 25x (the tau rule's length grows as
// sqrt(q2 / q1)) or c < 1/2, the form declines (false) and saturating_pair serves.
//
// Accuracy. Each part to ~1e-15 of the scale sqrt(E f(u)^2 E f(v)^2); E[r r] itself, ~1 /
// s of it, to ~1e-13 of its size. Against nested quadrature at 180 random points a
// derivative order (q1 from 100 to 1e6, q2 / q1 up to e^1.68, 1 - c from 1e-9 to 1/2):
// within 7e-16 of the scale (phi), 4.7e-16 (phi'); at 900 from q1 = 20 to 250, 8.8e-16
// where it serves (92 % of them); against the 30-digit references of
// tests/data/reference_2d_linear_tail.json within 2.3e-16 (tests/test_two_point.py,
// tests/test_reference_extreme.py: held to 1e-14).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "activation.hpp"
#include "expectation.hpp"
#include "gauss_hermite.hpp"
#include "gauss_legendre.hpp"
#include "special.hpp"

namespace sigprop {
namespace detail {

enum class LinearTail { softplus, silu };

// The Fourier transform of r, int r(y) e^{-i k y} dy (real, even), at x = pi |k|:
//   softplus: pi^2 (sinh x - x) / (x^2 sinh x), silu: pi^2 (sinh^2 x - x^2 cosh x) /
//   (x^2 sinh^2 x),
// below x = 1 (1.5: tail_r_hat_small) from their Taylor series (no cancellation), above in
// e^{-x} (no overflow).
template <LinearTail k>
inline constexpr double tail_r_hat_small = k == LinearTail::softplus ? 1.0 : 1.5;

// The form above x = tail_r_hat_small, in plain arithmetic (special::exp_arith: no call,
// no branch, so that fourier_integrand's loop vectorises); e = e^{-x}.
template <LinearTail k>
SIGPROP_ALWAYS_INLINE double tail_r_hat_large(double x, double e) {
  constexpr double pi2 = special::pi * special::pi;
  const double d = (1.0 - e) * (1.0 + e);
  if constexpr (k == LinearTail::softplus)
    return pi2 * (1.0 / (x * x) - 2.0 * e / (x * d));
  else
    return pi2 * (1.0 / (x * x) - 2.0 * e * (1.0 + e * e) / (d * d));
}

// The series' coefficients: 1 / (2n + 1)! and 1 / (2n + 3)! (n < 16), and silu's
// numerator's 2^{2m - 1} / (2m)! - 1 / (2m - 2)! at m = n + 2 (n < 16).
struct TailSeries {
  double inv_fact1[16], inv_fact3[16], silu_num[16];
};
constexpr TailSeries tail_series() {
  TailSeries t{};
  double f = 1.0;  // (2n + 1)!
  for (int n = 0; n < 16; ++n) {
    if (n > 0) f *= (2.0 * n) * (2.0 * n + 1.0);
    t.inv_fact1[n] = 1.0 / f;
    t.inv_fact3[n] = 1.0 / (f * (2.0 * n + 2.0) * (2.0 * n + 3.0));
  }
  double f2m = 24.0, f2m2 = 2.0, pw = 8.0;  // m = 2: 4!, 2!, 2^3
  for (int m = 2; m < 18; ++m) {
    t.silu_num[m - 2] = pw / f2m - 1.0 / f2m2;
    pw *= 4.0;
    f2m *= (2.0 * m + 1.0) * (2.0 * m + 2.0);
    f2m2 *= (2.0 * m - 1.0) * (2.0 * m);
  }
  return t;
}

// Both forms (the series below tail_r_hat_small).
template <LinearTail k>
inline double tail_r_hat(double x) {
  constexpr double pi2 = special::pi * special::pi;
  if (x >= tail_r_hat_small<k>) return tail_r_hat_large<k>(x, special::exp_arith(-x));
  const double x2 = x * x;
  // (each series by Horner's rule in x^2 on coefficients fixed at compile time
  // (TailSeries): no division but the last, where a division an order each had made
  // these points most of fourier_integrand's time at large variances, whose Gaussian
  // factor keeps every node at small k)
  constexpr TailSeries c = tail_series();
  auto horner = [x2](const double* a, int n) {
    double v = a[n - 1];
    for (int i = n - 2; i >= 0; --i) v = v * x2 + a[i];
    return v;
  };
  if constexpr (k == LinearTail::softplus) {
    // (sinh x - x) / x^3 = sum_{n >= 0} x^{2n} / (2n + 3)!, sinh x / x = sum_{n >= 0}
    // x^{2n} / (2n + 1)!
    return pi2 * horner(c.inv_fact3, 12) / horner(c.inv_fact1, 12);
  } else {
    // (sinh^2 x - x^2 cosh x) / x^4 = sum_{m >= 2} x^{2m - 4} (2^{2m - 1} / (2m)! -
    // 1 / (2m - 2)!), over (sinh x / x)^2
    const double s = horner(c.inv_fact1, 14);
    return pi2 * horner(c.silu_num, 16) / (s * s);
  }
}

// The transform of the kink's smoothing g(y) = (E|y + Z| - |y|) / 2: (1 - e^{-k^2 / 2}) / k^2.
SIGPROP_ALWAYS_INLINE double tail_kink_hat(double k) {
  const double k2 = k * k;
  const double v = -special::expm1_arith(-0.5 * k2) / k2;
  return k2 > 0.0 ? v : 0.5;
}

// The integrands D(k, l) of fourier_gaussian_integral (here and in sign_tail_pair.hpp),
// by kind and derivative order:
//   softplus, silu: rh(pi |k|) rh(pi |l|) - gh(k) gh(l), times -k l for phi';
//   tanh (sign_tail_pair.hpp): -(rho(k) rho(l) - rho_j(k) rho_j(l)), rho(k) = 2 / k -
//     pi / sinh(pi k / 2) = sign(k) (x / pi) rh_softplus(x), x = pi |k| / 2, and rho_j(k)
//     = (2 / k)(1 - e^{-k^2 / 2}); tanh': F(k) F(l), F(k) = 2 x / sinh x = 4 x e^{-x} /
//     ((1 - e^{-x})(1 + e^{-x})), 1 - e^{-x} by expm1 (1 - e^{-2x} in one had lost
//     ~1e-13 of it next to x = 1e-3).
// fourier_series_k: |k| below which rh's series serves (0 for tanh', whose F has none);
// fourier_integrand takes those points again with `series`.
enum class FourierIntegrand { softplus, softplus_d1, silu, silu_d1, tanh, tanh_d1 };

template <FourierIntegrand F>
inline constexpr LinearTail fourier_tail =
    F == FourierIntegrand::silu || F == FourierIntegrand::silu_d1 ? LinearTail::silu
                                                                  : LinearTail::softplus;
template <FourierIntegrand F>
inline constexpr double fourier_series_k =
    F == FourierIntegrand::tanh_d1 ? 0.0
    : F == FourierIntegrand::tanh  ? 2.0 * tail_r_hat_small<LinearTail::softplus> / special::pi
                                   : tail_r_hat_small<fourier_tail<F>> / special::pi;

// rh(x) by the large-x form alone (series = false) or by both (tail_r_hat)
template <LinearTail k, bool series>
SIGPROP_ALWAYS_INLINE double tail_r_hat_by(double x) {
  if constexpr (series)
    return tail_r_hat<k>(x);
  else
    return tail_r_hat_large<k>(x, special::exp_arith(-x));
}

// tanh's rho(z) and rho_j(z), and tanh''s F(z) (see above)
template <bool series>
SIGPROP_ALWAYS_INLINE double tanh_rho(double z) {
  const double x = 0.5 * special::pi * std::fabs(z);
  const double v = x / special::pi * tail_r_hat_by<LinearTail::softplus, series>(x);
  return z < 0.0 ? -v : v;
}
SIGPROP_ALWAYS_INLINE double tanh_rho_jump(double z) {
  const double v = -2.0 * special::expm1_arith(-0.5 * z * z) / z;
  return z != 0.0 ? v : 0.0;
}
SIGPROP_ALWAYS_INLINE double tanh_prime_hat(double z) {
  const double x = 0.5 * special::pi * std::fabs(z);
  const double e = special::exp_arith(-x), m = -special::expm1_arith(-x, e);
  const double v = 4.0 * x * e / (m * (1.0 + e));
  return x > 0.0 ? v : 2.0;
}

// (free functions throughout, always inlined: a lambda here stayed a call, and its loop
// scalar)
template <FourierIntegrand F, bool series>
SIGPROP_ALWAYS_INLINE double fourier_integrand_at(double k, double l) {
  using special::pi;
  if constexpr (F == FourierIntegrand::tanh_d1) {
    return tanh_prime_hat(k) * tanh_prime_hat(l);
  } else if constexpr (F == FourierIntegrand::tanh) {
    return -(tanh_rho<series>(k) * tanh_rho<series>(l) - tanh_rho_jump(k) * tanh_rho_jump(l));
  } else {
    constexpr LinearTail tail = fourier_tail<F>;
    const double v = tail_r_hat_by<tail, series>(pi * std::fabs(k)) *
                         tail_r_hat_by<tail, series>(pi * std::fabs(l)) -
                     tail_kink_hat(k) * tail_kink_hat(l);
    if constexpr (F == FourierIntegrand::softplus_d1 || F == FourierIntegrand::silu_d1)
      return -k * l * v;  // (r'^(k) = i k rh(k))
    else
      return v;
  }
}

// out[i] = D(k[i], l[i]), i < n: every point by the forms without series in a loop
// without calls or branches, vectorised (with an AVX2 clone), then the points where a
// series serves (|k| or |l| below fourier_series_k: few of them) again with it. Each
// point's value is a function of the point alone.
template <FourierIntegrand F>
SIGPROP_VECTOR_CLONES inline void fourier_integrand(const double* k, const double* l, double* out,
                                                    int n) {
  for (int i = 0; i < n; ++i) out[i] = fourier_integrand_at<F, false>(k[i], l[i]);
  constexpr double ks = fourier_series_k<F>;
  if constexpr (ks > 0.0) {
    for (int i = 0; i < n; ++i)
      if (std::fabs(k[i]) < ks || std::fabs(l[i]) < ks)
        out[i] = fourier_integrand_at<F, true>(k[i], l[i]);
  }
}

// E|X||Y| for centred normal X, Y of variances a, b, covariance cov >= 0 and
// det = a b - cov^2 (given: computed without cancellation by the caller).
inline double abs_product_moment(double det, double cov) {
  const double sd = std::sqrt(std::fmax(det, 0.0));
  return 2.0 / special::pi * (sd + cov * (0.5 * special::pi - std::atan2(sd, cov)));
}

// E[sign X sign Y] = (2 / pi) asin(cov / sqrt(a b)) likewise (cov >= 0): 1 - (2 / pi)
// atan2(sqrt(det), cov), without asin's cancellation next to 1.
inline double sign_product_moment(double det, double cov) {
  return 1.0 - 2.0 / special::pi * std::atan2(std::sqrt(std::fmax(det, 0.0)), cov);
}

// (2 pi)^-2 int int D(k, l) exp(-(k, l) Sigma (k, l)^T / 2) dk dl for the covariance
// Sigma of variances q1, q2 and correlation c (see above), into out: D analytic within
// `pole` of the real line in k and l, decaying as e^{-decay min(|k|, |l|)}; the trapezoidal
// rule's error held to e^-target of the integral. False where the rules cannot serve
// (l1 below (8 / pole)^2: the rho rule; more than 4000 tau nodes) or the rule of step 2h
// disagrees with its estimate, or the estimate exceeds atol / 2. D is the integrand F's
// (fourier_integrand), taken at the points of eight tau nodes at once, up to 240 (one
// point at a time, through exp's and expm1's calls, tanh''s form had taken 23 us a pair
// where these loops took 9.5, softplus's 50 against 36, next to the diagonal at q from
// 20 to 1e4).
template <FourierIntegrand F>
inline bool fourier_gaussian_integral(double q1, double q2, double c, double pole, double decay,
                                      double target, double atol, double& out) {
  using special::pi;
  const double s1 = std::sqrt(q1), s2 = std::sqrt(q2), cov = c * s1 * s2;
  const double det = q1 * q2 * ((1.0 - c) * (1.0 + c));
  // the principal axes: l1 >= l2, e1 = (cov, l1 - q1) normalised, e2 perpendicular
  const double half = 0.5 * (q1 + q2), rad = std::hypot(0.5 * (q1 - q2), cov);
  const double l1 = half + rad, l2 = det / l1;
  double e1x = cov, e1y = l1 - q1;
  const double n1 = std::hypot(e1x, e1y);
  e1x /= n1;
  e1y /= n1;
  const double e2x = -e1y, e2y = e1x;
  const double big = std::fmax(std::fabs(e2x), std::fabs(e2y));
  const double small = std::fmin(std::fabs(e2x), std::fabs(e2y));
  // the rho rule: 8 nodes where the weight's width 1 / sqrt(l1) is within 1/14 of the
  // poles' distance, else (to 1/8) 16 (where 8 nodes left errors of 6e-14 of the scale);
  // for tanh' (whose form serves its pairs at q ~ 2-8 in 10-30 us, where
  // saturating_pair took 0.1 ms) 30 nodes to 1/4: the 30- and 60-point rules' results
  // agree within 6.7e-16 of the scale at 300 pairs next to the diagonal (q from 1.2 to
  // 3.2, 1 - c from 1e-12 to 0.2), down to 1/3.2 (below 1/2 the 40- and 60-point rules
  // differ by 4.6e-13)
  const double a2 = l1 * pole * pole;
  constexpr bool longer = F == FourierIntegrand::tanh_d1;
  if (!(a2 >= (longer ? 16.0 : 64.0)) || !(small > 0.0)) return false;
  const int ng = a2 >= 196.0 ? 4 : a2 >= 64.0 ? 8 : 15;
  const double* gx = ng == 4 ? quad::herm8_x : ng == 8 ? quad::herm16_x : quad::herm30_x;
  const double* gw = ng == 4 ? quad::herm8_w : ng == 8 ? quad::herm16_w : quad::herm30_w;
  // tau's step h: the trapezoidal rule's error is ~B(h) of the integral, B(h) =
  // min over 0 < eta <= eta_max of e^{l2 eta^2 / 2 - 2 pi eta / h} (the contour at Im tau
  // = eta, where the weight has grown by e^{l2 eta^2 / 2}; D's poles at |Im k| = pole lie
  // pole / big from the real line, eta_max 0.8 of that): the largest h with B(h) <=
  // e^-target
  const double eta_max = 0.8 * pole / big;
  auto log_B = [&](double hh) {
    const double eta = l2 > 0.0 ? std::fmin(eta_max, 2.0 * pi / (l2 * hh)) : eta_max;
    return 0.5 * l2 * eta * eta - 2.0 * pi * eta / hh;
  };
  const double hg = pi * std::sqrt(2.0 / target);
  double h = 2.0 * pi * eta_max / (target + 0.5 * l2 * eta_max * eta_max);
  if (l2 > 0.0 && 2.0 * pi / (l2 * (hg / std::sqrt(l2))) <= eta_max) h = hg / std::sqrt(l2);
  // its length: the weight down to e^-40, or the integrand to e^-(target - 1)
  double T = (target - 1.0) / (decay * small);
  const double sr = 1.0 / std::sqrt(l1);
  if constexpr (F == FourierIntegrand::tanh_d1) {
    // tanh': D = F(k) F(l) decays in |k| + |l|, not only in min(|k|, |l|): F(z) = 2 x /
    // sinh x <= 4 (1 + x) e^{-x} (x = decay |z|), so that |D| <= 16 (1 + X / 2)^2 e^{-X},
    // X = x_k + x_l >= decay (tau |e2|_1 - r |e1|_1), is below e^-(target - 1) of D(0, 0)
    // = 4 once X - 2 ln(1 + X / 2) >= target - 1 + ln 4 (X by fixed-point iteration,
    // increasing to its root from below). Next to the diagonal (e2 ~ (-1, 1) / sqrt 2)
    // 0.6 of the length above; where the variances are far apart (small -> 0) the
    // length stays bounded.
    double X = target;
    for (int it = 0; it < 6; ++it) X = target - 1.0 + std::log(4.0) + 2.0 * std::log1p(0.5 * X);
    const double rmax = sr * gx[ng - 1];
    const double Ts = (X / decay + rmax * (std::fabs(e1x) + std::fabs(e1y))) / (big + small);
    T = std::fmin(T, Ts);
  }
  if (l2 > 0.0) T = std::fmin(T, std::sqrt(80.0 / l2));
  const int n = static_cast<int>(std::ceil(T / h));
  if (!(n <= 4000)) return false;
  // G(tau) = sum_i w_i (D(r_i e1 + tau e2) + D(-r_i e1 + tau e2)), r_i = x_i / sqrt(l1),
  // at the nodes tau = j h, j = 0..n, eight at a time: their points first, then D at all
  // of them (fourier_integrand), then each node's sum
  constexpr int chunk = 8;
  double pk[chunk * 30], pl[chunk * 30], pv[chunk * 30];
  double rx[15], ry[15];
  for (int i = 0; i < ng; ++i) {
    rx[i] = sr * gx[i] * e1x;
    ry[i] = sr * gx[i] * e1y;
  }
  double g0 = 0.0, even = 0.0, odd = 0.0, mag = 0.0;  // the nodes j h with j even (j > 0), odd
  for (int j0 = 0; j0 <= n; j0 += chunk) {
    const int j1 = std::min(n + 1, j0 + chunk);
    int p = 0;
    for (int j = j0; j < j1; ++j) {
      const double t = j * h, tx = t * e2x, ty = t * e2y;
      for (int i = 0; i < ng; ++i, p += 2) {
        pk[p] = rx[i] + tx;
        pl[p] = ry[i] + ty;
        pk[p + 1] = -rx[i] + tx;
        pl[p + 1] = -ry[i] + ty;
      }
    }
    fourier_integrand<F>(pk, pl, pv, p);
    p = 0;
    for (int j = j0; j < j1; ++j) {
      double g = 0.0;
      for (int i = 0; i < ng; ++i, p += 2) g += gw[i] * (pv[p] + pv[p + 1]);
      if (j == 0) {
        g0 = g;
        continue;
      }
      const double t = j * h, v = g * std::exp(-0.5 * l2 * t * t);
      (j % 2 ? odd : even) += v;
      mag += std::fabs(v);
    }
  }
  const double f = std::sqrt(2.0 * pi / l1) / (4.0 * pi * pi);
  const double ih = f * h * (g0 + 2.0 * (even + odd)), i2h = f * 2.0 * h * (g0 + 2.0 * even);
  // The rule of step 2h (the even nodes) checks that estimate: it must agree within
  // 1e5 B(2h) of the integral of |integrand| (the bound's factor: the integrand's size
  // on the contour, up to 100x for silu's double poles 0.2 / big away), and then the
  // error of step h is taken as 1e5 B(h) (~1e-13) of it.
  const double dd = std::fabs(ih - i2h), size = f * h * (std::fabs(g0) + 2.0 * mag);
  if (!(dd <= 1e5 * std::exp(log_B(2.0 * h)) * size + 0.5 * atol)) return false;
  if (!(1e5 * std::exp(log_B(h)) * size <= 0.5 * atol)) return false;
  out = ih;
  return std::isfinite(out);
}

// E[r(u) r(v)] (see above), into out; false where fourier_gaussian_integral declines.
inline bool tail_remainder_pair(LinearTail kind, int d, double q1, double q2, double c, double atol,
                                double& out) {
  using special::pi;
  // (d = 1: e^-46, its E[r' r'] ~1 / s of a scale ~1/2, where E[r r] is ~1 / s of q / 2;
  // and k l times the decay)
  const double target = d == 1 ? 46.0 : 41.4;
  using FI = FourierIntegrand;
  double ih;
  const bool ok =
      kind == LinearTail::silu
          ? (d == 1 ? fourier_gaussian_integral<FI::silu_d1>(q1, q2, c, 1.0, pi, target, atol, ih)
                    : fourier_gaussian_integral<FI::silu>(q1, q2, c, 1.0, pi, target, atol, ih))
          : (d == 1
                 ? fourier_gaussian_integral<FI::softplus_d1>(q1, q2, c, 1.0, pi, target, atol, ih)
                 : fourier_gaussian_integral<FI::softplus>(q1, q2, c, 1.0, pi, target, atol, ih));
  if (!ok) return false;
  const double cov = c * std::sqrt(q1) * std::sqrt(q2);
  const double det = q1 * q2 * ((1.0 - c) * (1.0 + c));
  auto J = [&](double dt) {
    return d == 1 ? sign_product_moment(dt, cov) : abs_product_moment(dt, cov);
  };
  const double gg = 0.25 * (J(det + q1 + q2 + 1.0) - J(det + q2) - J(det + q1) + J(det));
  out = ih + gg;
  return std::isfinite(out);
}

// The nodes x and weights w of 20-node Gauss-Legendre panels at most L long on [0, X],
// cut at W_i {1, 2.5, 4.5, 7, 9.5} (i = 0, 1) where below X: the cross terms' rule (here
// and in sign_tail_pair.hpp). At most kTailNodes (X / L <= 22 / 3: at most 18 panels,
// the 11 pieces between the cuts each adding at most one); returns their number.
inline constexpr int kTailNodes = 360;
inline int tail_panel_nodes(double X, double L, const double* W, double* xs, double* ws) {
  double cuts[12];
  int nc = 0;
  cuts[nc++] = 0.0;
  for (int i = 0; i < 2; ++i)
    for (double b : {1.0, 2.5, 4.5, 7.0, 9.5})
      if (b * W[i] < X) cuts[nc++] = b * W[i];
  cuts[nc++] = X;
  // (insertion sort: a dozen values)
  for (int i = 1; i < nc; ++i)
    for (int j = i; j > 0 && cuts[j] < cuts[j - 1]; --j) std::swap(cuts[j], cuts[j - 1]);
  int n = 0;
  for (int p = 0; p + 1 < nc; ++p) {
    const double a = cuts[p], b = cuts[p + 1];
    if (!(b > a)) continue;
    const int ns = static_cast<int>(std::ceil((b - a) / L));
    const double hw = 0.5 * (b - a) / ns;
    for (int s = 0; s < ns; ++s) {
      const double mid = a + (2 * s + 1) * hw;
      for (int j = 0; j < 10; ++j)
        for (double sg : {-1.0, 1.0}) {
          if (n >= kTailNodes) return n;  // (not reached: see above)
          xs[n] = mid + sg * hw * quad::xgl20[j];
          ws[n++] = hw * quad::wgl20[j];
        }
    }
  }
  return n;
}

// e(t) = E|t + Z| - t = 2 (npdf(t) - t Phi(-t)) below t = 9.5, 0 above, in plain
// arithmetic (a free function: a lambda in a loop stayed a call)
SIGPROP_ALWAYS_INLINE double relu_gap_arith(double t) {
  const double v = 2.0 * (special::inv_sqrt_2pi * special::exp_neg_sq_arith(t, 0.5) -
                          t * (0.5 * special::erfc_arith(t * special::inv_sqrt2)));
  return t < 9.5 ? v : 0.0;
}

// The cross terms' factor of the other input at the nodes x < 9.5 W (the panels' first m;
// beyond, its limit, set by the caller): the step's 1 - 2 Phi(-x / W) (D = 1) or relu's
// e(x / W) (D = 0) into g, vectorised (special::erfc_arith: no call, no branch). Each
// node's value the same operations whatever its neighbours, and whatever m.
template <int D>
SIGPROP_VECTOR_CLONES inline void cross_gap(double W, const double* __restrict xs, int m,
                                            double* __restrict g) {
  for (int k = 0; k < m; ++k) {
    const double x = xs[k];
    double v;
    if constexpr (D == 1)
      v = 1.0 - special::erfc_arith(x / W * special::inv_sqrt2);
    else
      v = relu_gap_arith(x / W);
    g[k] = x < 9.5 * W ? v : g[k];
  }
}

// Both inputs' factors g[i] at the n panel nodes (the cross terms of the linear tails and
// of tanh, sign_tail_pair.hpp): the limit (1, or e = 0) everywhere, then cross_gap over
// the nodes up to the last one below 9.5 W_i (the panels, cut at 9.5 W_i by
// tail_panel_nodes, put those first).
template <int D>
inline void cross_gaps(const double* W, const double* xs, int n, double (*g)[kTailNodes]) {
  for (int i = 0; i < 2; ++i) {
    std::fill(g[i], g[i] + n, D == 1 ? 1.0 : 0.0);
    int m = n;
    while (m > 0 && !(xs[m - 1] < 9.5 * W[i])) --m;
    cross_gap<D>(W[i], xs, m, g[i]);
  }
}

// The cross terms' integrands at n nodes (tail_cross_pairs): w r f, w r pm_0 and w r pm_1
// into t, t0 and t1, from the other input's factors g0, g1 (cross_gaps), in plain
// arithmetic (special::exp_arith, log1p_arith, exp_neg_sq_arith: no call, no branch),
// vectorised with an AVX2 clone (the arrays __restrict: their 15 alias checks exceeded
// GCC's 10, and the loop stayed scalar); each node's terms the same operations whatever
// its neighbours. (The libm calls, five exponentials, two erfc and a log1p a node, had
// been half of a Fourier-form pair's time.)
struct CrossTerms {
  double si[2], kap[2], om[2], W[2];
};
template <LinearTail K, int D>
SIGPROP_VECTOR_CLONES inline void tail_cross_terms(
    const CrossTerms& ct, const double* __restrict xs, const double* __restrict ws,
    const double* __restrict g0, const double* __restrict g1, int n, double* __restrict t,
    double* __restrict t0, double* __restrict t1) {
  using special::inv_sqrt_2pi;
  const double si0 = ct.si[0], si1 = ct.si[1];
  const double kap0 = ct.kap[0], kap1 = ct.kap[1], om0 = ct.om[0], om1 = ct.om[1];
  for (int k = 0; k < n; ++k) {
    const double x = xs[k], w = ws[k];
    // r(x) = phi(x) - relu(x) (d = 0) or r'(x) = phi'(x) - 1 (d = 1) at x >= 0
    const double e = special::exp_arith(-x), sm = e / (1.0 + e);
    double r;
    if constexpr (D == 1)
      r = K == LinearTail::softplus ? -sm : sm * (x / (1.0 + e) - 1.0);
    else
      r = K == LinearTail::softplus ? special::log1p_arith(e) : -x * sm;
    const double pm0 = inv_sqrt_2pi * special::exp_neg_sq_arith(x / si0, 0.5) / si0;
    const double pm1 = inv_sqrt_2pi * special::exp_neg_sq_arith(x / si1, 0.5) / si1;
    // relu: E|N(m, omega^2)| = m + omega e(m / omega); step (d = 1, r' odd):
    // P(N > 0) - P(N < 0) = 1 - 2 Phi(-x / W)
    double f;
    if constexpr (D == 1)
      f = pm0 * g0[k] + pm1 * g1[k];
    else
      f = pm0 * (kap0 * x + om0 * g0[k]) + pm1 * (kap1 * x + om1 * g1[k]);
    t[k] = w * r * f;
    t0[k] = w * r * pm0;
    t1[k] = w * r * pm1;
  }
}

// E[r(u) relu(v)] + E[relu(u) r(v)] (see above), and with `means` int_0^inf r p1 and
// int_0^inf r p2 (shifted_softplus: E r(u) = 2 int_0^inf r p1).
inline double tail_cross_pairs(LinearTail kind, int d, double s1, double s2, double c,
                               double* means) {
  const double sc = std::sqrt((1.0 - c) * (1.0 + c));
  // term i: r on the input of spread si, relu on the other (spread so)
  const double so[2] = {s2, s1};
  CrossTerms ct{{s1, s2}, {}, {}, {}};
  for (int i = 0; i < 2; ++i) {
    ct.kap[i] = c * so[i] / ct.si[i];
    ct.om[i] = so[i] * sc;
    ct.W[i] = ct.si[i] * sc / c;
  }
  double xs[kTailNodes], ws[kTailNodes], g[2][kTailNodes];
  double t[kTailNodes], t0[kTailNodes], t1[kTailNodes];
  const int n = tail_panel_nodes(44.0, 6.0, ct.W, xs, ws);
  // the other input's factor: its limit (1, or e(t) = 0) beyond x = 9.5 W
  d == 1 ? cross_gaps<1>(ct.W, xs, n, g) : cross_gaps<0>(ct.W, xs, n, g);
  if (kind == LinearTail::softplus)
    d == 1 ? tail_cross_terms<LinearTail::softplus, 1>(ct, xs, ws, g[0], g[1], n, t, t0, t1)
           : tail_cross_terms<LinearTail::softplus, 0>(ct, xs, ws, g[0], g[1], n, t, t0, t1);
  else
    d == 1 ? tail_cross_terms<LinearTail::silu, 1>(ct, xs, ws, g[0], g[1], n, t, t0, t1)
           : tail_cross_terms<LinearTail::silu, 0>(ct, xs, ws, g[0], g[1], n, t, t0, t1);
  double sum = 0.0, m0 = 0.0, m1 = 0.0;
  for (int k = 0; k < n; ++k) {
    sum += t[k];
    m0 += t0[k];
    m1 += t1[k];
  }
  if (means) {
    means[0] = m0;
    means[1] = m1;
  }
  return sum;
}

// The remainder's even moments R_2j = int r(y) y^2j dy, j = 0..6 (r = phi - relu,
// even): softplus 2 (2j)! eta(2j + 2), silu -2 (2j + 1)! eta(2j + 2), eta the Dirichlet
// eta function (int_0^inf x^(s-1) log(1 + e^-x) dx = Gamma(s) eta(s + 1), int_0^inf
// x^(s-1) / (e^x + 1) dx = Gamma(s) eta(s)); checked against 30-digit quadrature
// (tests/test_two_point.py). r has one sign (softplus >= 0, silu <= 0): |R_2j| are the
// moments of |r|.
inline constexpr double tail_moments_softplus[7] = {
    1.6449340668482264365, 3.7881313179889836703, 47.306452382276884997, 1434.5755226678129749,
    80562.545892724619053, 7255841.3757000652059, 957944924.99679367714};
inline constexpr double tail_moments_silu[7] = {
    -1.6449340668482264365, -11.364393953966951011, -236.53226191138442498, -10042.028658674690824,
    -725062.91303452157148, -79814255.132700717265, -12453284024.958317803};

// E[phi(u) phi(v)] of softplus, shifted_softplus and silu at large variances, where
// r = phi - relu (width ~1) is narrow against both inputs' spreads and the conditional
// one: u = s1 X, v = s2 Y (correlation c in [1/2, 1), e1 = 1 - c^2), phi = relu + r,
//   E[phi(u) phi(v)] = E[relu relu] + E[relu(u) r(v)] + E[r(u) relu(v)] + E[r(u) r(v)],
// the first in closed form (ClosedKernel::relu), the others from the moments R_2j by
// Taylor's theorem to second order with explicit remainders (each bound holds for all
// y, so that the moments of |r| bound the integrals):
//  * E[relu(u) r(v)] = sigma int r(y) f2(y) psi(a y) dy (u given v = y is normal with
//    mean c s1 y / s2 and spread sigma = s1 sqrt(e1), E[relu] = sigma psi(mean /
//    sigma), psi(t) = t Phi(t) + npdf(t); a = c / (s2 sqrt(e1)); f2 the density of v):
//    psi(t) - t / 2 is even, its derivatives of even order 2k >= 2 are npdf's of order
//    2k - 2, and |npdf^(4)| <= 3 npdf(0), so that psi(t) - t / 2 = npdf(0) (1 + t^2 / 2 -
//    t^4 / 24 + rho1), |rho1| <= t^6 / 240; f2(y) = f2(0) e^-x, x = h y^2, h = 1 / (2 q2),
//    e^-x = 1 - x + x^2 / 2 + rho2, |rho2| <= x^3 / 6; the odd term t / 2 integrates to
//    0 against the even r f2. So it is K (R0 + b1 R2 + b2 R4), K = s1 sqrt(e1) / (2 pi
//    s2), b1 = a^2 / 2 - h, b2 = h^2 / 2 - h a^2 / 2 - a^4 / 24, within K sum_j e_j
//    |R_2j|, j = 3..6, from the product's other terms (below); E[r(u) relu(v)]
//    likewise, the inputs swapped;
//  * E[r(u) r(v)] = p00 int int r(x) r(y) e^(-Q / 2), p00 = 1 / (2 pi s1 s2 sqrt(e1)),
//    Q = (x^2 / q1 - 2 c x y / (s1 s2) + y^2 / q2) / e1 <= 2 (x^2 / q1 + y^2 / q2) / e1:
//    e^(-Q / 2) = 1 - Q / 2 + Q^2 / 8 + rho, |rho| <= Q^3 / 48, the odd terms of Q and
//    Q^2 integrating to 0: p00 (R0^2 - R0 R2 (1 / q1 + 1 / q2) / (2 e1) + (R4 R0 / q1^2 +
//    (4 c^2 + 2) R2^2 / (q1 q2) + R0 R4 / q2^2) / (8 e1^2)) within p00 (|R6 R0| / q1^3
//    + 3 |R4 R2| / (q1^2 q2) + 3 |R2 R4| / (q1 q2^2) + |R0 R6| / q2^3) / (6 e1^3);
//  * shifted_softplus: phi - ln 2, E[softplus(u)] = s1 / sqrt(2 pi) + f1(0) (R0 - R2 /
//    (2 q1) + R4 / (8 q1^2)) within f1(0) R6 / (48 q1^3) (r >= 0).
// The neglected terms' relative size is (q e1)^-3: at 1 - c = 0.03 the bound meets
// 1e-13 of the scale from q ~ 1e4 (a kernel whose variances grow, softplus at sigma_w
// = 2, from its 12th layer on: ~0.1 us a pair where the Fourier form takes ~10 us).
// Rounding: 16 eps of the terms' magnitudes. False where the bound exceeds atol (out
// untouched).
inline bool linear_tail_asymptotic(Kind kind, double q1, double q2, double c, double atol,
                                   double& out) {
  if (kind != Kind::softplus && kind != Kind::shifted_softplus && kind != Kind::silu) return false;
  if (!(c >= 0.5 && c < 1.0) || !(std::fmin(q1, q2) > 0.0) || !std::isfinite(std::fmax(q1, q2)))
    return false;
  const double* R = kind == Kind::silu ? tail_moments_silu : tail_moments_softplus;
  double M[7];  // (|R_2j|)
  for (int k = 0; k < 7; ++k) M[k] = std::fabs(R[k]);
  const double eps = std::numeric_limits<double>::epsilon();
  const double s1 = std::sqrt(q1), s2 = std::sqrt(q2);
  const double e1 = (1.0 - c) * (1.0 + c), sc = std::sqrt(e1);
  const double A = ClosedKernel::relu(0.0, 0, s1, s2, c, sc);
  constexpr double inv_2pi = 1.0 / (2.0 * special::pi);
  double err = 0.0;
  // E[relu(u_i) r(u_j)] (i != j, q = q_j): K = s_i sqrt(e1) / (2 pi s_j), a^2 = c^2 /
  // (q_j e1), h = 1 / (2 q_j). The product (1 - x + x^2 / 2 + rho2)(1 + t^2 / 2 - t^4 /
  // 24 + rho1) less its terms through y^4 is bounded termwise (t = a y, x = h y^2):
  //   y^6:  h a^4 / 24 + h^2 a^2 / 4 + h^3 / 6 + a^6 / 240,
  //   y^8:  h^2 a^4 / 48 + h^3 a^2 / 12 + h a^6 / 240,
  //   y^10: h^3 a^4 / 144 + h^2 a^6 / 480,
  //   y^12: h^3 a^6 / 1440.
  auto cross = [&](double si, double sj, double qj) {
    const double K = si * sc * inv_2pi / sj, a2 = c * c / (qj * e1), h = 0.5 / qj;
    const double a4 = a2 * a2, a6 = a4 * a2, h2 = h * h, h3 = h2 * h;
    const double b1 = 0.5 * a2 - h, b2 = 0.5 * h2 - 0.5 * h * a2 - a4 / 24.0;
    const double e6 = h * a4 / 24.0 + h2 * a2 / 4.0 + h3 / 6.0 + a6 / 240.0;
    const double e8 = h2 * a4 / 48.0 + h3 * a2 / 12.0 + h * a6 / 240.0;
    const double e10 = h3 * a4 / 144.0 + h2 * a6 / 480.0, e12 = h3 * a6 / 1440.0;
    err += K * (e6 * M[3] + e8 * M[4] + e10 * M[5] + e12 * M[6]);
    return K * (R[0] + b1 * R[1] + b2 * R[2]);
  };
  const double B1 = cross(s1, s2, q2), B2 = cross(s2, s1, q1);
  const double p00 = inv_2pi / (s1 * s2 * sc);
  const double C = p00 * (R[0] * R[0] - 0.5 * R[0] * R[1] * (1.0 / q1 + 1.0 / q2) / e1 +
                          (R[2] * R[0] / (q1 * q1) + (4.0 * c * c + 2.0) * R[1] * R[1] / (q1 * q2) +
                           R[0] * R[2] / (q2 * q2)) /
                              (8.0 * e1 * e1));
  err += p00 *
         (M[3] * M[0] / (q1 * q1 * q1) + 3.0 * M[2] * M[1] / (q1 * q1 * q2) +
          3.0 * M[1] * M[2] / (q1 * q2 * q2) + M[0] * M[3] / (q2 * q2 * q2)) /
         (6.0 * e1 * e1 * e1);
  double v = A + B1 + B2 + C;
  err += 16.0 * eps * (std::fabs(A) + std::fabs(B1) + std::fabs(B2) + std::fabs(C));
  if (kind == Kind::shifted_softplus) {
    using special::inv_sqrt_2pi;
    using special::ln2;
    auto mean = [&](double si, double qi) {
      return si * inv_sqrt_2pi +
             (inv_sqrt_2pi / si) * (R[0] - R[1] / (2.0 * qi) + R[2] / (8.0 * qi * qi));
    };
    const double F1 = mean(s1, q1), F2 = mean(s2, q2);
    v += ln2 * (ln2 - F1 - F2);
    err +=
        ln2 * inv_sqrt_2pi * (1.0 / (s1 * q1 * q1 * q1) + 1.0 / (s2 * q2 * q2 * q2)) * M[3] / 48.0 +
        16.0 * eps * ln2 * (std::fabs(F1) + std::fabs(F2));
  }
  if (!(err <= atol) || !std::isfinite(v)) return false;
  out = v;
  return true;
}

// E[phi(u) phi(v)] of softplus, shifted_softplus or silu (see above) for 1/2 <= c < 1
// and variances of 20 or more, to absolute tolerance atol (phi: by the asymptotic form
// above where it holds, unless `asymptotic` is false); false elsewhere or where the
// remainder's rule cannot certify it (out untouched).
inline bool linear_tail_pair(Kind kind, int d, double q1, double q2, double c, double atol,
                             double& out, bool asymptotic = true) {
  if ((d != 0 && d != 1) || !(c >= 0.5 && c < 1.0) || !(std::fmin(q1, q2) >= 20.0) ||
      !std::isfinite(std::fmax(q1, q2)) || std::fmax(q1, q2) > 25.0 * std::fmin(q1, q2) ||
      !(atol > 0.0))
    return false;
  if (kind != Kind::softplus && kind != Kind::shifted_softplus && kind != Kind::silu) return false;
  // (phi at large variances: the asymptotic form above, where its bound is within a
  // tenth of atol: the class of the Fourier form below, which the tests hold to 1e-14
  // of the scale against 30-digit references; at atol, silu's pair at q = 2e6, c =
  // 0.99995 was 1.8e-14 off)
  if (d == 0 && asymptotic && linear_tail_asymptotic(kind, q1, q2, c, 0.1 * atol, out)) return true;
  const LinearTail k = kind == Kind::silu ? LinearTail::silu : LinearTail::softplus;
  const double s1 = std::sqrt(q1), s2 = std::sqrt(q2);
  const double sc = std::sqrt((1.0 - c) * (1.0 + c));
  // the skeleton's kernel: relu's, or (d = 1) the step's, P(u > 0, v > 0) = 1/4 +
  // asin(c) / (2 pi) (the relu kind's closed form, expectation.hpp)
  const double skel = ClosedKernel::relu(0.0, d, s1, s2, c, sc);
  double rr;
  if (!tail_remainder_pair(k, d, q1, q2, c, 0.1 * atol, rr)) return false;
  double means[2];
  double v = skel + tail_cross_pairs(k, d, s1, s2, c, means) + rr;
  if (kind == Kind::shifted_softplus && d == 0) {
    // E[(f(u) - ln 2)(f(v) - ln 2)], E f(u) = s1 / sqrt(2 pi) + 2 int_0^inf r p1
    using special::ln2;
    const double f1 = s1 * special::inv_sqrt_2pi + 2.0 * means[0];
    const double f2 = s2 * special::inv_sqrt_2pi + 2.0 * means[1];
    v += ln2 * (ln2 - f1 - f2);
  }
  out = v;
  return std::isfinite(out);
}

}  // namespace detail
}  // namespace sigprop
