// E[f(u) f(v)] of tanh, sigmoid, softplus, shifted_softplus and silu (f = phi or phi')
// next to c = 1 with variances close together, as a Taylor series in the covariance from
// c = 1: single pairs there (bivariate_expectation next to the diagonal), where the
// Mehler series needs its anchored tails (tanh at q ~ 1-10: ~6 us a pair) and, from q ~
// 10 on, the anchored tails or the Fourier forms (sign_tail_pair.hpp,
// linear_tail_pair.hpp) took 10-50 us; here 1-1.5 us (the nodes' factors in vector
// loops, covariance_taylor_factors; 1.5-2.5 us with libm's exp).
//
// Method. For (u, v) centred normal with variances q1 = s1^2 <= q2 = s2^2 and
// covariance rho = c s1 s2, Price's theorem gives dF/drho = E[f'(u) f'(v)] for
// F(rho) = E[f(u) f(v)], and so on for every order. At c = 1, v = lam u (lam = s2 /
// s1), and the derivatives are one-dimensional integrals:
//   F^(k)(s1 s2) = M_k = E[f^(k)(U) f^(k)(lam U)],  U ~ N(0, q1),
// so that, with D = s1 s2 (1 - c),
//   F(c s1 s2) = sum_{k < K} (-D)^k / k! M_k + R_K,
//   |R_K| <= D^K / K! sup_rho |F^(K)(rho)| <= D^K / K! sqrt(A_K(q1) A_K(q2)),
// A_K(q) = E[f^(K)(sqrt(q) Z)^2] (Cauchy-Schwarz at every covariance: the marginals do
// not change with rho). For tanh, f^(K) = tanh^(K + d), and A_K(q) <= I_(K + d) /
// (s sqrt(2 pi)) (the normal density is at most 1 / (s sqrt(2 pi))) with I_k = int
// tanh^(k)(x)^2 dx = int_{-1}^{1} Q_k(t)^2 (1 - t^2) dt, where tanh^(k)(x) = sech^2(x)
// Q_k(tanh x), Q_1 = 1, Q_(k+1) = -2 t Q_k + (1 - t^2) Q_k' (integer coefficients,
// exact in double to k = 14). So the order K is chosen before any integral: the least
// K with D^K / K! I_(K + d) / sqrt(2 pi s1 s2) <= atol / 10. (tanh is analytic within
// pi / 2 of the real line: I_k grows as (k!)^2 (2 / pi)^(2k) and the series in D is
// asymptotic, not convergent; K <= 14, asked 1e-13 of the scale, reaches D ~ 0.042 at
// q = 1, 0.053 at q = 100 and 0.063 at q = 1e4: 1 - c up to ~0.05 / q.)
//
// The M_k: tanh^(k) tanh^(k)(lam .) is even, M_k = 2 int_0^inf f^(k)(x) f^(k)(lam x)
// w(x) dx with w the density of U; M_0 = 1 - 2 int_0^inf g w, g = 1 - tanh(x) tanh(lam
// x) = 2 (e1 + e2) / ((1 + e1)(1 + e2)) (e1 = e^{-2x}, e2 = e^{-2 lam x}: no
// cancellation), which decays as e^{-2x}; the orders k >= 1 as e^{-2 (1 + lam) x}.
// Gauss-Legendre 16 on the pieces of [0, 19] between {0, 1.5, 3, 4.5, 6, 8, 10.5, 14,
// 19} (cut past 9 s1, where the density is below 3e-18 of its peak): tanh(lam x) is
// analytic within pi / (2 lam) >= 1.42 of the real line (lam <= 1.1), so that on a piece
// of half width h the rule's error falls as rho^-32, rho = d / h + sqrt((d / h)^2 + 1):
// 4e-20 on the first pieces, and past x = 8 well below the e^{-16} of the integrand's
// size. The rest of [0, inf) holds less than 4 e^{-38} of the scale.
//
// sigmoid(x) = (1 + tanh(x / 2)) / 2: E[s(u) s(v)] = 1/4 + E_tanh(q1 / 4, q2 / 4, c) / 4,
// E[s'(u) s'(v)] = E'_tanh(q1 / 4, q2 / 4, c) / 16; softplus, shifted_softplus and silu
// through tanh(x / 2) likewise (covariance_taylor_series), their linear parts in closed
// form.
//
// Served: tanh's variances from q1 = 1, the others' from 4 (q / 4 from 1), q2 <= 1.21
// q1, 1/2 <= c < 1, where the order above exists; false otherwise.
//
// Accuracy. Asked for 1e-13 of the scale (the dispatch's ask): within 8.9e-15 of it at
// the 85 points of tests/data/reference_2d*.json (30-digit mpmath) where it serves, the
// five kinds, phi and phi' (the dispatch's earlier forms within 9.7e-14 at tanh's and
// sigmoid's). At random pairs next to the diagonal it and those forms differ by up to
// 1.07e-13 of the scale; at five such pairs checked against 30-digit nested mpmath
// quadrature it was within 9.4e-15 and they within 9.6e-14.
#pragma once

#include <algorithm>
#include <cmath>
#include <utility>

#include "activation.hpp"
#include "gauss_legendre.hpp"
#include "special.hpp"

namespace sigprop {
namespace detail {

// Q_k(t) (tanh^(k) = sech^2 Q_k(tanh); q its coefficients, TanhDerivatives) at n points,
// by Horner's rule in t^2 over the coefficients of Q_k's parity (degree k - 1, the parity
// of k - 1), lane by lane
SIGPROP_VECTOR_CLONES inline void tanh_polynomial(const double* __restrict q, int k,
                                                  const double* __restrict t, int n,
                                                  double* __restrict out) {
  const int p = (k - 1) % 2;
  for (int i = 0; i < n; ++i) {
    const double t2 = t[i] * t[i];
    double s = 0.0;
    for (int j = k - 1; j >= p; j -= 2) s = s * t2 + q[j];
    out[i] = p == 1 ? s * t[i] : s;
  }
}

// The polynomials Q_k (tanh^(k) = sech^2 Q_k(tanh), k = 1..kmax) and the integrals I_k.
struct TanhDerivatives {
  static constexpr int kmax = 14;
  // q[k][j]: the coefficient of t^j in Q_k (degree k - 1, the parity of k - 1)
  double q[kmax + 1][kmax + 1] = {};
  // I_k = int tanh^(k)(x)^2 dx, each rounded up
  double I[kmax + 1] = {};

  TanhDerivatives() {
    q[1][0] = 1.0;
    for (int k = 1; k < kmax; ++k)
      for (int j = 0; j < k; ++j) {
        // -2 t Q_k + (1 - t^2) Q_k': t^j -> -2 t^(j+1) + j t^(j-1) - j t^(j+1)
        q[k + 1][j + 1] += -2.0 * q[k][j] - j * q[k][j];
        if (j > 0) q[k + 1][j - 1] += j * q[k][j];
      }
    // I_k = int_{-1}^{1} Q_k(t)^2 (1 - t^2) dt: a polynomial of degree 2k <= 28,
    // Gauss-Legendre 16 exact (degree 31), up to rounding (a relative margin of 1e-10
    // covers the largest terms' cancellation, ~1e-12 at k = 14)
    for (int k = 1; k <= kmax; ++k) {
      double f[8], s = 0.0;
      tanh_polynomial(q[k], k, quad::xgl16, 8, f);
      for (int i = 0; i < 8; ++i) {
        const double t = quad::xgl16[i];
        s += quad::wgl16[i] * 2.0 * f[i] * f[i] * (1.0 - t * t);  // (even in t)
      }
      I[k] = s * (1.0 + 1e-10);
    }
  }

  static const TanhDerivatives& get() {
    static const TanhDerivatives d;
    return d;
  }
};

// The rule of the M_k: Gauss-Legendre 16 on each piece of [0, 19] (see above), with
// tanh's factors at its nodes (e^{-2y}, sech^2 y, Q_k(tanh y), log1p(e^{-2y})), which do
// not depend on the pair; and the constants J_k of silu's bound (below).
struct TanhTaylorNodes {
  static constexpr int kmax = TanhDerivatives::kmax;
  static constexpr int n_pieces = 8, per_piece = 16, n = n_pieces * per_piece;
  static constexpr double cuts[n_pieces + 1] = {0.0, 1.5, 3.0, 4.5, 6.0, 8.0, 10.5, 14.0, 19.0};
  // the pieces whose orders k >= 1 are summed: past y = 10.5 sech^2(y) sech^2(lam y) <=
  // 16 e^{-42}
  static constexpr int n_pieces_k = 6;
  double y[n], y2[n], wt[n], e1[n], th[n], sech2[n], l1p[n];
  double q1[kmax + 1][n];  // Q_k(tanh y)
  // silu: J_k = int silu^(k)(x)^2 dx (k = 2..kmax), rounded up
  double silu_J[kmax + 1] = {};

  TanhTaylorNodes() {
    const TanhDerivatives& T = TanhDerivatives::get();
    for (int p = 0; p < n_pieces; ++p) {
      const double mid = 0.5 * (cuts[p] + cuts[p + 1]), h = 0.5 * (cuts[p + 1] - cuts[p]);
      for (int i = 0; i < per_piece; ++i) {
        const int j = p * per_piece + i, r = i < 8 ? i : i - 8;
        y[j] = mid + h * (i < 8 ? quad::xgl16[r] : -quad::xgl16[r]);
        y2[j] = y[j] * y[j];
        wt[j] = h * quad::wgl16[r];
        e1[j] = special::exp_arith(-2.0 * y[j]);
        const double p1 = 1.0 + e1[j];
        th[j] = (1.0 - e1[j]) / p1;
        sech2[j] = 4.0 * e1[j] / (p1 * p1);
        l1p[j] = special::log1p_arith(e1[j]);
      }
    }
    for (int k = 1; k <= kmax; ++k) tanh_polynomial(T.q[k], k, th, n, q1[k]);
    // silu^(k)(2y) = 2^-k (y T_k(y) + k T_(k-1)(y)) (T_k = tanh^(k)), of one parity:
    // J_k = 2 x 2^-2k x 2 int_0^inf (y T_k + k T_(k-1))^2 dy, on the rule above (the
    // integrand below e^{-34} of its peak past y = 19), with a relative margin of 1e-6
    for (int k = 2; k <= kmax; ++k) {
      double s = 0.0;
      for (int j = 0; j < n; ++j) {
        const double f = y[j] * sech2[j] * q1[k][j] + k * sech2[j] * q1[k - 1][j];
        s += wt[j] * f * f;
      }
      silu_J[k] = 4.0 * std::ldexp(s, -2 * k) * (1.0 + 1e-6);
    }
  }

  static const TanhTaylorNodes& get() {
    static const TanhTaylorNodes t;
    return t;
  }
};

// The pair's factors at the rule's first n nodes (y, y^2, weight, e^{-2y}):
// ww = weight e^{-y^2 / (2 qy)} (inv2q = 1 / (2 qy)), e2 = e^{-2 lam y}, gw = ww (1 -
// tanh(y) tanh(lam y)) = ww 2 (e1 + e2) / ((1 + e1)(1 + e2)), t2 = tanh(lam y), sc2 =
// sech^2(lam y); in plain arithmetic (special::exp_arith), the same operations lane by
// lane, so that the loop vectorises and gives the scalar results bitwise.
SIGPROP_VECTOR_CLONES inline void covariance_taylor_factors(
    const double* __restrict y, const double* __restrict y2, const double* __restrict wt,
    const double* __restrict e1, int n, double inv2q, double two_lam, double* __restrict ww,
    double* __restrict e2, double* __restrict gw, double* __restrict t2, double* __restrict sc2) {
  for (int i = 0; i < n; ++i) {
    const double w = wt[i] * special::exp_arith(-y2[i] * inv2q);
    const double e = special::exp_arith(-two_lam * y[i]);
    const double p1 = 1.0 + e1[i], p2 = 1.0 + e;
    ww[i] = w;
    e2[i] = e;
    gw[i] = w * (2.0 * (e1[i] + e) / (p1 * p2));
    t2[i] = (1.0 - e) / p2;
    sc2[i] = 4.0 * e / (p2 * p2);
  }
}

// softplus's terms at n nodes: r2 = ww log1p(e2) (E[r(lam Y)]'s), t1 = ww log1p(e1) and
// out = ww (y r(lam y) + lam y r(y) + r(y) r(lam y)), r(y) = log1p(e^{-2y}) (l1p at the
// nodes; log1p_arith, lane by lane)
SIGPROP_VECTOR_CLONES inline void covariance_taylor_softplus(
    const double* __restrict y, const double* __restrict l1p, const double* __restrict ww,
    const double* __restrict e2, int n, double lam, double* __restrict r2w, double* __restrict r1w,
    double* __restrict out) {
  for (int i = 0; i < n; ++i) {
    const double r1 = l1p[i], r2 = special::log1p_arith(e2[i]);
    out[i] = ww[i] * (y[i] * r2 + lam * y[i] * r1 + r1 * r2);
    r1w[i] = ww[i] * r1;
    r2w[i] = ww[i] * r2;
  }
}

// silu's M_1 terms at n nodes: ww (1 - h(y) h(lam y)), h = T_0 + y T_1, 1 - h(y) = 2 e1 / (1
// + e1) - y sech^2 y, from (u1 + u2) - u1 u2 (lane by lane)
SIGPROP_VECTOR_CLONES inline void covariance_taylor_silu1(
    const double* __restrict y, const double* __restrict e1, const double* __restrict sech2,
    const double* __restrict ww, const double* __restrict e2, const double* __restrict sc2, int n,
    double lam, double* __restrict out) {
  for (int i = 0; i < n; ++i) {
    const double u1 = 2.0 * e1[i] / (1.0 + e1[i]) - y[i] * sech2[i];
    const double u2 = 2.0 * e2[i] / (1.0 + e2[i]) - lam * y[i] * sc2[i];
    out[i] = ww[i] * ((u1 + u2) - u1 * u2);
  }
}

// The Taylor series in the covariance for tanh, softplus, shifted_softplus and silu (f =
// phi, d = 0; f = phi', d = 1; sigmoid and the softplus kinds' phi' through tanh, see
// covariance_taylor_pair), q1 <= q2, to absolute tolerance atol; false where it does
// not serve. In y = x (tanh) or x / 2 (the others: sigmoid(x) = (1 + tanh y) / 2),
// Y = U / 2 of variance qy = q1 / 4, with T_k = tanh^(k):
//   softplus^(k)(x) = 2^-k T_(k-1)(y) (k >= 2), softplus' = sigmoid, softplus(x) = 2
//     relu(y) + log1p(e^{-2|y|});
//   silu(x) = y (1 + T_0(y)), silu'(x) = (1 + T_0 + y T_1) / 2, silu^(k)(x) = 2^-k (y T_k +
//     k T_(k-1)) (k >= 2);
// each M_k an integral over y >= 0 of terms that decay as e^{-2y} (the linear parts in
// closed form: E[relu(Y)^2] = qy / 2, E[Y^2] = qy). The bound's integrals J_k = int
// f^(k)(x)^2 dx: tanh I_k, softplus 2^(1 - 2k) I_(k-1) (k >= 2), silu on the rule
// (TanhTaylorNodes); where f^(K) is not square-integrable (softplus' and silu' tend to 1),
// A_1 <= sup f'^2 (1 and 1.0998^2).
inline bool covariance_taylor_series(Kind kind, int d, double q1, double q2, double c, double atol,
                                     double& out) {
  using special::inv_sqrt_2pi;
  const bool tanh_kind = kind == Kind::tanh, silu = kind == Kind::silu;
  const bool softplus = kind == Kind::softplus || kind == Kind::shifted_softplus;
  if (!(tanh_kind || silu || (softplus && d == 0))) return false;
  const double qy = tanh_kind ? q1 : 0.25 * q1;
  if (!(qy >= 1.0 && q2 >= q1 && q2 <= 1.21 * q1 && c >= 0.5 && c < 1.0 && atol > 0.0) ||
      !std::isfinite(q2))
    return false;
  constexpr int kmax = TanhDerivatives::kmax;
  const TanhDerivatives& T = TanhDerivatives::get();
  const TanhTaylorNodes& N = TanhTaylorNodes::get();
  const double s1 = std::sqrt(q1), s2 = std::sqrt(q2), lam = s2 / s1, sy = std::sqrt(qy);
  const double D = s1 * s2 * (1.0 - c);  // (1 - c exact for c >= 1/2)
  // the order: the least K with D^K / K! sqrt(A_(K + d)(q1) A_(K + d)(q2)) <= atol / 10,
  // A_k(q) <= J_k / (s sqrt(2 pi))
  const double base = inv_sqrt_2pi / std::sqrt(s1 * s2);
  auto bound = [&](int k) {  // sqrt(A_k(q1) A_k(q2)) <= this
    if (tanh_kind) return T.I[k] * base;
    if (k == 1) return silu ? 1.0998 * 1.0998 : 1.0;
    return (silu ? N.silu_J[k] : std::ldexp(T.I[k - 1], 1 - 2 * k)) * base;
  };
  int K = 0;
  double dk = 1.0;  // D^k / k!
  for (int k = 1; k + d <= kmax; ++k) {
    dk *= D / k;
    if (dk * bound(k + d) <= 0.1 * atol) {
      K = k;
      break;
    }
  }
  if (K == 0) return false;
  // the pieces up to 9 sy (the density below 3e-18 of its peak beyond)
  int pieces = 0;
  while (pieces < TanhTaylorNodes::n_pieces && TanhTaylorNodes::cuts[pieces] < 9.0 * sy) ++pieces;
  const int n = pieces * TanhTaylorNodes::per_piece;
  const int nk = std::min(pieces, TanhTaylorNodes::n_pieces_k) * TanhTaylorNodes::per_piece;
  // the pair's factors at each node (covariance_taylor_factors)
  double ww[TanhTaylorNodes::n], e2[TanhTaylorNodes::n], gw[TanhTaylorNodes::n];
  double t2[TanhTaylorNodes::n], sc2[TanhTaylorNodes::n];
  covariance_taylor_factors(N.y, N.y2, N.wt, N.e1, n, 0.5 / qy, 2.0 * lam, ww, e2, gw, t2, sc2);
  const double norm = 2.0 * inv_sqrt_2pi / sy;  // int over y >= 0 -> E[.] of an even term
  // M[k]: E[f^(k)(U) f^(k)(lam U)] for k = 0..K - 1 + d
  const int top = K - 1 + d;
  double M[kmax + 1] = {};
  double tmp[TanhTaylorNodes::n];
  auto total = [&tmp](int m) {  // (in order: the same bits, vectorised or not)
    double v = 0.0;
    for (int i = 0; i < m; ++i) v += tmp[i];
    return v;
  };
  if ((tanh_kind && d == 0) || (softplus && top >= 1)) {  // (where M_0 or M_1 is read)
    double G = 0.0;  // E[1 - tanh(Y) tanh(lam Y)] / norm
    for (int i = 0; i < n; ++i) G += gw[i];
    const double m0 = 1.0 - norm * G;  // E[T_0(Y) T_0(lam Y)]
    if (tanh_kind)
      M[0] = m0;
    else
      M[1] = 0.25 + 0.25 * m0;  // E[sigmoid sigmoid]
  }
  if (softplus) {
    // E[sp(U) sp(lam U)] = 2 lam qy + 2 int_0^inf (y r(lam y) + lam y r(y) + r(y) r(lam y))
    // w, r(y) = log1p(e^{-2 y}); shifted_softplus less log 2 (E sp(U) + E sp(lam U)) - log^2 2
    double r2[TanhTaylorNodes::n], t1[TanhTaylorNodes::n];
    covariance_taylor_softplus(N.y, N.l1p, ww, e2, n, lam, r2, t1, tmp);
    M[0] = 2.0 * lam * qy + norm * total(n);
    if (kind == Kind::shifted_softplus) {
      double m1 = 0.0, m2 = 0.0;
      for (int i = 0; i < n; ++i) {
        m1 += t1[i];
        m2 += r2[i];
      }
      const double L = special::ln2;
      const double e_1 = 2.0 * sy * inv_sqrt_2pi + norm * m1;  // E[sp(U)]
      const double e_2 = 2.0 * lam * sy * inv_sqrt_2pi + norm * m2;
      M[0] = (M[0] - L * (e_1 + e_2)) + L * L;
    }
  }
  if (silu) {
    // M_0 = lam (2 qy - 2 int_0^inf y^2 g w), M_1 = (2 - 2 int_0^inf (1 - h h~) w) / 4 with
    // h = T_0 + y T_1, 1 - h = 2 e / (1 + e) - y sech^2 (e = e^{-2y})
    double A = 0.0;
    for (int i = 0; i < n; ++i) A += N.y2[i] * gw[i];
    M[0] = lam * (2.0 * qy - norm * A);
    if (top >= 1) {
      covariance_taylor_silu1(N.y, N.e1, N.sech2, ww, e2, sc2, n, lam, tmp);
      M[1] = 0.25 * (2.0 - norm * total(n));
    }
  }
  // the orders from tanh's derivatives: tanh k >= 1; softplus k >= 2 (T_(k-1)); silu k >= 2
  const int first = tanh_kind ? 1 : 2;
  if (top >= first) {
    double S[TanhTaylorNodes::n], qa[TanhTaylorNodes::n], qb[TanhTaylorNodes::n];
    for (int i = 0; i < nk; ++i) S[i] = N.sech2[i] * sc2[i] * ww[i];
    for (int k = first; k <= top; ++k) {
      if (tanh_kind || softplus) {
        const int j = tanh_kind ? k : k - 1;  // (softplus^(k) = 2^-k T_(k-1))
        tanh_polynomial(T.q[j], j, t2, nk, qa);
        for (int i = 0; i < nk; ++i) tmp[i] = (S[i] * N.q1[j][i]) * qa[i];
        M[k] = tanh_kind ? norm * total(nk) : std::ldexp(norm * total(nk), -2 * k);
      } else {
        // (y T_k + k T_(k-1))(y) (lam y T_k + k T_(k-1))(lam y) over sech^2 sech^2
        tanh_polynomial(T.q[k], k, t2, nk, qa);
        tanh_polynomial(T.q[k - 1], k - 1, t2, nk, qb);
        for (int i = 0; i < nk; ++i) {
          const double a1 = N.y[i] * N.q1[k][i] + k * N.q1[k - 1][i];
          const double a2 = lam * N.y[i] * qa[i] + k * qb[i];
          tmp[i] = (S[i] * a1) * a2;
        }
        M[k] = std::ldexp(norm * total(nk), -2 * k);
      }
    }
  }
  // sum_{k < K} (-D)^k / k! M_(k + d), the small terms first
  double coef[kmax + 1];
  coef[0] = 1.0;
  for (int k = 1; k < K; ++k) coef[k] = coef[k - 1] * (-D / k);
  double sum = 0.0;
  for (int k = K - 1; k >= 1; --k) sum += coef[k] * M[k + d];
  out = M[d] + sum;
  return std::isfinite(out);
}

// The kinds covariance_taylor_pair serves, and the least variance at which
// bivariate_dispatch tries it (where the Mehler series is slower: tanh from q = 1,
// sigmoid from 4, which the series' own domain starts at; softplus, shifted_softplus and
// silu from 10, below which their series takes ~1 us).
inline bool covariance_taylor_kind(Kind k) {
  return k == Kind::tanh || k == Kind::sigmoid || k == Kind::softplus ||
         k == Kind::shifted_softplus || k == Kind::silu;
}
inline double covariance_taylor_q_min(Kind k) {
  return k == Kind::tanh ? 1.0 : k == Kind::sigmoid ? 4.0 : 10.0;
}

// E[f(u) f(v)] (f = phi^(d)) of tanh, sigmoid, softplus, shifted_softplus or silu by the
// series above, the variances in either order; false for other kinds or where it does
// not serve. sigmoid through tanh's series at q / 4 (sigmoid_pair_from_tanh), and so the
// softplus kinds' phi', which is sigmoid.
inline bool covariance_taylor_pair(Kind kind, int d, double q1, double q2, double c, double atol,
                                   double& out) {
  if (q1 > q2) std::swap(q1, q2);
  if (!via_sigmoid(kind, d)) return covariance_taylor_series(kind, d, q1, q2, c, atol, out);
  auto tanh_series = [](int dt, double a, double b, double cc, double tol, double& v) {
    return covariance_taylor_series(Kind::tanh, dt, a, b, cc, tol, v);
  };
  return sigmoid_pair_from_tanh(sigmoid_order(kind, d), q1, q2, c, atol, out, tanh_series);
}

}  // namespace detail
}  // namespace sigprop
