// E[f(u) f(v)] (f = phi or phi') of a user's smooth activation (the custom kind without
// kinks) next to |c| = 1, on uniform grids: the pairs that otherwise take the nested
// quadrature in the principal axes or the difference form (near_diagonal.hpp), 10-25 ms
// each at q ~ 10-1e3 (4-7 ms since their panels' nodes are evaluated at once), where the Mehler series cannot reach and no skeleton of the
// activation is known (the built-ins' forms: saturating_pair.hpp, sign_tail_pair.hpp,
// linear_tail_pair.hpp).
//
// Method (c > 0; for c < 0 the same with v's factor f(-x), v = -v' and v' at correlation
// -c). Given u = s1 z, v is normal with mean m = b z (b = c s2) and spread
// w = s2 sqrt(1 - c^2), so that with S(m) = E[f(m + w T)],
//   E[f(u) f(v)] = int f(r m) S(m) npdf(m / b) dm / b,   r = s1 / b,
// and both integrals are taken by the trapezoid rule on the grid m_i = i h (|m| <= 9.5 b,
// where the density has fallen below 1e-19 of its peak): for an integrand analytic in
// a strip about the real line and decaying, the rule's error falls as exp(-2 pi d / h)
// (Trefethen & Weideman, "The exponentially convergent trapezoidal rule", SIAM Review
// 56, 2014, section 5). S on the same grid, where the spread is at least two steps
// (w >= 2 h), is the discrete convolution of the samples f(m_j) with the Gaussian's
// (its trapezoid rule; its error exp(-2 pi^2 w^2 / h^2) <= 1e-34); below, a Gauss-Hermite
// rule of 16-60 nodes in T (f(m + w t) is analytic in t within d / w of the real line).
// The pair is taken at h and h / 2 (and on to h / 16), with more Gauss-Hermite nodes at
// each step, and accepted where two successive sums agree within half the tolerance:
// for a rule converging geometrically the second is then far closer (and for one
// converging as h^2, within a third of their difference). The activation's strip d is
// not known in advance (tanh: pi / 2; a user's phi, whose Chebyshev pieces join smoothly
// to rounding): the halving finds the step it needs. Where the sums do not agree by
// h / 16, or the grids would exceed their budget (large w or q: ~4e6 multiply-adds, a
// few ms), false: the caller's quadrature serves.
//
// Cost: ~2 (2 K + 1) evaluations of f, K = 9.5 b / h, and the convolution's
// (2 K + 1)(2 L + 1) multiply-adds, L = 9.5 w / h, a step; at q ~ 40, 1 - c ~ 0.02
// (w ~ 1.3): ~0.1-0.5 ms against 15-20 ms of the nested quadrature.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "activation.hpp"
#include "gauss_hermite.hpp"
#include "special.hpp"

namespace sigprop {
namespace detail {

inline constexpr double trapezoid_reach = 9.5;
inline constexpr double trapezoid_budget = 4e6;  // multiply-adds (and evaluations x 20)

// One step h: the sum of E[f(u) f(v)] above (0 < c < 1; v's factor f(sv x), sv = -1 for a
// negative correlation), with a Gauss-Hermite rule of 16-60 nodes
// where w < 2 h (by w / h, at least 30 past the first level). False over the budget or
// where a value is not finite.
inline bool trapezoid_pair_step(const Activation& a, int d, double s1, double s2, double c,
                                double sv, double h, int level, std::vector<double>& y,
                                std::vector<double>& S, double& out) {
  using special::npdf;
  auto F = [&](double x) { return d == 0 ? phi(a, x) : dphi(a, x); };
  auto Fv = [&](double x) { return F(sv * x); };  // (v's factor: f(-x) for c < 0)
  const double b = c * s2, w = s2 * std::sqrt((1.0 - c) * (1.0 + c)), r = s1 / b;
  const double kd = std::ceil(trapezoid_reach * b / h);
  if (!(kd >= 1.0) || 2.0 * kd + 1.0 > trapezoid_budget / 20.0) return false;
  const long K = long(kd), n = 2 * K + 1;
  S.assign(size_t(n), 0.0);
  if (w >= 2.0 * h) {
    const double ld = std::ceil(trapezoid_reach * w / h);
    if (double(n) * (2.0 * ld + 1.0) > trapezoid_budget) return false;
    const long L = long(ld), ny = 2 * (K + L) + 1;
    // the Gaussian's weights npdf(k h / w) h / w, k = 0..L, and f on [-(K + L), K + L] h
    std::vector<double> G(size_t(L + 1));
    for (long k = 0; k <= L; ++k) G[size_t(k)] = npdf(double(k) * h / w) * (h / w);
    y.resize(size_t(ny));
    for (long j = 0; j < ny; ++j) y[size_t(j)] = Fv(double(j - (K + L)) * h);
    for (long i = 0; i < n; ++i) {
      const double* yc = y.data() + (i + L);  // f(m_i)
      double s = G[0] * yc[0];
      for (long k = 1; k <= L; ++k) s += G[size_t(k)] * (yc[k] + yc[-k]);
      S[size_t(i)] = s;
    }
  } else {
    const double* xs;
    const double* ws;
    int half;
    // (the rule by w / h: the steps that resolve f on the grid resolve it over the
    // rule's reach w x_max as well, so that its error is far below the grid's; and
    // more nodes at each level, so that two levels' sums differ where it is not)
    const double wh = w / h;
    const int rule = std::max(level > 0 ? 1 : 0, wh <= 0.5 ? 0 : wh <= 1.0 ? 1 : wh <= 1.5 ? 2 : 3);
    switch (rule) {
      case 0: xs = quad::herm16_x, ws = quad::herm16_w, half = 8; break;
      case 1: xs = quad::herm30_x, ws = quad::herm30_w, half = 15; break;
      case 2: xs = quad::herm40_x, ws = quad::herm40_w, half = 20; break;
      default: xs = quad::herm60_x, ws = quad::herm60_w, half = 30; break;
    }
    if (double(n) * (2.0 * half) > trapezoid_budget / 20.0) return false;
    for (long i = 0; i < n; ++i) {
      const double m = double(i - K) * h;
      double s = 0.0;
      for (int j = 0; j < half; ++j) s += ws[j] * (Fv(m + w * xs[j]) + Fv(m - w * xs[j]));
      S[size_t(i)] = s;
    }
  }
  double sum = 0.0;
  for (long i = 0; i < n; ++i) {
    const double m = double(i - K) * h;
    sum += F(r * m) * S[size_t(i)] * npdf(m / b);
  }
  out = sum * (h / b);
  return std::isfinite(out);
}

// E[f(u) f(v)] for u, v of variances q1, q2 > 0 and correlation 0 < |c| < 1, f = phi^(d) of
// a custom activation without kinks, within atol (absolute; see above). False where it
// declines (another kind, kinks, no agreement, over budget).
inline bool trapezoid_pair(const Activation& a, int d, double q1, double q2, double c, double atol,
                           double& v) {
  if (a.kind != Kind::custom || !(std::fabs(c) > 0.0 && std::fabs(c) < 1.0) || !(q1 > 0.0) ||
      !(q2 > 0.0) || !std::isfinite(q1) || !std::isfinite(q2) || !(atol > 0.0))
    return false;
  double xs[max_kinks];
  if (kinks(a, xs) != 0) return false;
  // (c < 0: v = -v' with v' at correlation |c|, so that E[f(u) f(v)] = E[f(u) g(v')],
  // g(x) = f(-x): the same sums with v's factor reflected)
  const double sv = c < 0.0 ? -1.0 : 1.0;
  c = std::fabs(c);
  const double s1 = std::sqrt(q1), s2 = std::sqrt(q2), b = c * s2;
  // the first step: a quarter of f's unit scale in u and in v (u = r m), and of the
  // density's spread b in m
  double h = std::fmin(0.25, 0.25 * b);
  h = std::fmin(h, 0.25 * b / s1);
  std::vector<double> y, S;
  double prev = 0.0;
  for (int level = 0; level < 5; ++level, h *= 0.5) {
    double t;
    if (!trapezoid_pair_step(a, d, s1, s2, c, sv, h, level, y, S, t)) return false;
    if (level > 0 && std::fabs(t - prev) <= 0.5 * atol) {
      v = t;
      return true;
    }
    prev = t;
  }
  return false;
}

}  // namespace detail
}  // namespace sigprop
