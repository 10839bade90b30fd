// A priori bounds on the Hermite tails of the built-ins that are analytic in a strip
// about the real axis (tanh, sigmoid, softplus, shifted_softplus, silu): the
// truncation bound of the Mehler series at a small variance, where the tabled
// coefficients' own remainders are known only to the rounding of the one-point
// moments (hermite_series.hpp: floored at 4e-15 E[f^2]) and so cannot certify a
// series next to |c| = 1 however fast the coefficients fall.
//
// With f_n = E[f(sqrt(q) Z) h_n(Z)] (h_n the orthonormal Hermite polynomials) and
// g(z) = f(sqrt(q) z), g^(k)(z) = q^(k/2) f^(k)(sqrt(q) z), Parseval for g^(k) gives
//     sum_{n>=k} n! / (n - k)! f_n^2 = q^k E[f^(k)(sqrt(q) Z)^2],
// and n! / (n - k)! >= k! there, so that
//     sum_{n>=k} f_n^2 <= q^k E[f^(k)(sqrt(q) Z)^2] / k!.                       (1)
// Cauchy's estimate on the circle |z - x| = r bounds the derivative: for phi
// analytic on |Im z| <= r, with |phi^(j)(z) - C| <= M (A |z| + B) there for some
// constant C (the constants below; A > 0 for silu, which grows like x), and
// |z| <= |x| + r on the circle,
//     |phi^(k)(x)| <= (k - j)! M (A |x| + B') / r^(k - j),   k > j, B' = A r + B,
// and E[(A |X| + B')^2] <= (A sqrt(q) + B')^2 for X ~ N(0, q) (E|X| <= sqrt(q)).
// For f = phi' (d = 1) the k-th derivative of f is phi^(k+1).
//
// The constants: tanh is analytic but at z = i pi (m + 1/2); on |Im z| <= 1,
// |tanh(x + i y)|^2 = (sinh^2 x + sin^2 y) / (sinh^2 x + cos^2 y) <= max(1, tan^2 1)
// (at x = 0, |y| = 1): M = tan 1 = 1.5574..., r = 1. sigmoid - 1/2 = tanh(x / 2) / 2:
// M = tan(1) / 2, r = 2. softplus' = sigmoid (j = 1: derivatives of order >= 2 only):
// M = tan(1) / 2, r = 2. silu = x sigmoid(x): |silu(z)| <= |z| (1/2 + tan(1) / 2) on
// |Im z| <= 2, and |z| <= |x| + r on the circle: A = 1, B = 0, M = 1.2788, r = 2.
// Each M is rounded up.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>

#include "activation.hpp"
#include "gauss_hermite.hpp"

namespace sigprop::detail {

struct AnalyticStrip {
  double r = 0.0;  // 0: no bound for this kind
  double M = 0.0, A = 0.0, B = 0.0;
  int j = 0;  // the bound holds for phi^(k), k > j
};

inline AnalyticStrip analytic_strip(Kind k) {
  constexpr double tan1 = 1.5574077246549023;
  switch (k) {
    case Kind::tanh: return {1.0, tan1 * (1.0 + 1e-12), 0.0, 1.0, 0};
    case Kind::sigmoid: return {2.0, 0.5 * tan1 * (1.0 + 1e-12), 0.0, 1.0, 0};
    case Kind::softplus:
    case Kind::shifted_softplus: return {2.0, 0.5 * tan1 * (1.0 + 1e-12), 0.0, 1.0, 1};
    case Kind::silu: return {2.0, (0.5 + 0.5 * tan1) * (1.0 + 1e-12), 1.0, 0.0, 0};
    default: return {};
  }
}

// The least k in [k_min, k_max] with
//     |c|^k sqrt(tail_k * other) <= tol,   tail_k >= sum_{n>=k} f_n^2
// (f = phi^(d) at variance q, the bound (1) above; `other` bounds the other factor's
// sum_{n>=k} g_n^2), with tail_k in *tail; -1 where none (the bound (1) falls while
// k + 1 - j' < r^2 / q and rises after, j' = j - d: it stops at its minimum).
inline int analytic_truncation(const AnalyticStrip& s, int d, double q, double ac, double other,
                               double tol, int k_min, int k_max, double* tail) {
  if (!(s.r > 0.0) || !(q > 0.0) || !(other >= 0.0) || k_min < 1) return -1;
  const int jd = s.j - d;  // f^(k) = phi^(k + d): Cauchy's estimate with k + d - j
  const double rho = q / (s.r * s.r);
  const double c0 = s.M * (s.A * std::sqrt(q) + s.A * s.r + s.B);
  // T(k) = q^k ((k - jd)!)^2 (c0 / r^(k - jd))^2 / k!, for k > jd; by its ratio
  // T(k + 1) / T(k) = rho (k + 1 - jd)^2 / (k + 1) from T(k0), k0 = max(k_min, jd + 1).
  const int k0 = std::max(k_min, jd + 1);
  if (k0 > k_max) return -1;
  double t = c0 * c0;  // times q^k0 ((k0 - jd)!)^2 / (r^(2 (k0 - jd)) k0!):
  for (int i = 1; i <= k0; ++i) t *= q / double(i);
  for (int i = 1; i <= k0 - jd; ++i) t *= double(i) / (s.r * s.r) * double(i);
  double cp = std::pow(ac, k0);
  for (int k = k0; k <= k_max; ++k) {
    if (cp * std::sqrt(t * other) <= tol) {
      *tail = t;
      return k;
    }
    const double ratio = rho * double(k + 1 - jd) * double(k + 1 - jd) / double(k + 1);
    if (!(ratio < 1.0)) return -1;
    t *= ratio;
    cp *= ac;
  }
  return -1;
}

// Where the smaller variance is at most this times r^2 the series' coefficients come
// from the quadrature below, up to analytic_max_order orders.
inline constexpr double analytic_quadrature_q = 0.05;
inline constexpr int analytic_max_order = 48;

// phi' at x_i and -x_i, i < m (x_i >= 0), for tanh, sigmoid, softplus, shifted_softplus
// and silu, in plain arithmetic (special::exp_arith, within an ulp: a loop that
// vectorises, where 2 m calls of exp took ~1 us of a pair at a small variance), with E =
// e^-x: sech^2 = 4 E^2 / (1 + E^2)^2, sigmoid' = E / (1 + E)^2, softplus' = sigmoid = 1
// / (1 + E) and E / (1 + E) at -x, silu' = sigmoid(x) (1 + x sigmoid(-x)); false for the
// other kinds.
SIGPROP_VECTOR_CLONES inline bool analytic_dphi_values(Kind kind, const double* x, int m,
                                                       double* fp, double* fm) {
  switch (kind) {
    case Kind::tanh:
      for (int i = 0; i < m; ++i) {
        const double e2 = special::exp_arith(-2.0 * x[i]), p = 1.0 + e2;
        fp[i] = fm[i] = 4.0 * e2 / (p * p);
      }
      return true;
    case Kind::sigmoid:
      for (int i = 0; i < m; ++i) {
        const double e = special::exp_arith(-x[i]), p = 1.0 + e;
        fp[i] = fm[i] = e / (p * p);
      }
      return true;
    case Kind::softplus:
    case Kind::shifted_softplus:
      for (int i = 0; i < m; ++i) {
        const double e = special::exp_arith(-x[i]), r = 1.0 / (1.0 + e);
        fp[i] = r;
        fm[i] = e * r;
      }
      return true;
    case Kind::silu:
      for (int i = 0; i < m; ++i) {
        const double e = special::exp_arith(-x[i]), r = 1.0 / (1.0 + e);
        // sigmoid(x) = r, sigmoid(-x) = e r
        fp[i] = r * (1.0 + x[i] * (e * r));
        fm[i] = (e * r) * (1.0 - x[i] * r);
      }
      return true;
    default: return false;
  }
}

// f_n = E[f(sqrt(q) Z) h_n(Z)], n < k <= analytic_max_order, f = phi^(d), by the
// 60-node Gauss-Hermite rule (exact for polynomials of degree 119): h_n(-z) =
// (-1)^n h_n(z), so that each node pair's even or odd part of f enters. For q <=
// 0.05 r^2, f(sqrt(q) z) is analytic on |Im z| < r / sqrt(q) >= 4.5 and the rule is
// within 2e-16 of 40-digit quadrature up to order 48 (tanh' at q = 0.05, sigmoid'
// and softplus' at q = 0.2; at four times that variance the error reaches 1e-12).
inline void analytic_coefficients(const Activation& a, int d, double q, int k, double* out) {
  constexpr int m = 30;  // node pairs
  // sqrt(n) and 1 / sqrt(n + 1) of the recurrence, once
  static const auto roots = [] {
    std::array<double, 2 * analytic_max_order> t{};
    for (int n = 0; n < analytic_max_order; ++n) {
      t[n] = std::sqrt(double(n));
      t[analytic_max_order + n] = 1.0 / std::sqrt(double(n + 1));
    }
    return t;
  }();
  const double s = std::sqrt(q);
  double ev[m], od[m], h0[m], h1[m], xs[m], fps[m], fms[m];
  for (int i = 0; i < m; ++i) xs[i] = s * quad::herm60_x[i];
  // (phi' of the five kinds with a strip in one loop; phi, and any other kind, point by
  // point)
  const bool vec = d == 1 && analytic_dphi_values(a.kind, xs, m, fps, fms);
  for (int i = 0; i < m; ++i) {
    const double z = quad::herm60_x[i], w = quad::herm60_w[i];
    const double fp = vec ? fps[i] : d == 0 ? phi(a, xs[i]) : dphi(a, xs[i]);
    const double fm = vec ? fms[i] : d == 0 ? phi(a, -xs[i]) : dphi(a, -xs[i]);
    ev[i] = w * (fp + fm);
    od[i] = w * (fp - fm);
    h0[i] = 1.0;
    h1[i] = z;
  }
  // h_0 = 1, h_1 = z, h_(n+1) = (z h_n - sqrt(n) h_(n-1)) / sqrt(n + 1): the nodes'
  // recurrences side by side, order by order
  for (int n = 0; n < k; ++n) {
    const double* e = n % 2 == 0 ? ev : od;
    const double* h = n == 0 ? h0 : h1;
    double v = 0.0;
    for (int i = 0; i < m; ++i) v += e[i] * h[i];
    out[n] = v;
    if (n >= 1 && n + 1 < k) {
      const double rn = roots[n], rinv = roots[analytic_max_order + n];
      for (int i = 0; i < m; ++i) {
        const double h2 = (quad::herm60_x[i] * h1[i] - rn * h0[i]) * rinv;
        h0[i] = h1[i];
        h1[i] = h2;
      }
    }
  }
}

}  // namespace sigprop::detail
