// E[phi(u) phi(v)] of ELU and SELU at small variances, by the exponential's Taylor
// series on x < 0 and the orthant moments of the bivariate normal.
//
// phi(x) = lam x on x >= 0 and lam alpha (e^x - 1) on x < 0 (ELU: lam = 1, alpha its
// parameter; SELU: its constants). Next to |c| = 1 at variances below ~1 the Mehler
// series fails (phi'' jumps at 0: coefficients decaying algebraically), the closed form
// (bivariate normal CDFs with shifted arguments) cancels (e^x - 1 ~ x: terms of order
// one for a result of order q), and the nested quadrature took 50-100 us. With
//     e^x - 1 = sum_{k=1}^K x^k / k! + R_K(x),  |R_K(x)| <= |x|^(K+1) / (K+1)!  (x < 0),
// phi = lam (P + alpha sum_k N_k / k!) + lam alpha R_K 1(x < 0), P(x) = x 1(x >= 0) and
// N_k(x) = x^k 1(x < 0), homogeneous, so that with u = s1 X, v = s2 Y (X, Y standard
// normal with correlation c) and I_jk(r) = E[X^j Y^k 1(X > 0) 1(Y > 0)] at correlation r,
//     E[P(u) P(v)]     = s1 s2 I_11(c),
//     E[P(u) N_k(v)]   = s1 s2^k (-1)^k I_1k(-c)              (Y -> -Y),
//     E[N_j(u) N_k(v)] = s1^j s2^k (-1)^(j+k) I_jk(c)         ((X, Y) -> (-X, -Y)).
// The orthant moments follow from Stein's identity for the pair, E[X g(X, Y)] =
// E[g_x] + r E[g_y], with g = X^(j-1) Y^k 1(X > 0) 1(Y > 0): the indicator's derivatives
// leave the density at X = 0 (or Y = 0) times the half moments m_k = E[W^k 1(W > 0)]
// of the conditional normal (variance 1 - r^2):
//     I_jk = (j - 1) I_(j-2)k + r k I_(j-1)(k-1) + [j = 1] p0 (1 - r^2)^(k/2) m_k
//            + [k = 0] r p0 (1 - r^2)^((j-1)/2) m_(j-1),
// p0 = 1 / sqrt(2 pi), I_00 = 1/4 + asin(r) / (2 pi), I_jk = I_kj (the arc-cosine kernels
// of Cho and Saul 2009 for j = k = 0, 1). Every term of the upward recursion is of the
// size of I_jk or smaller for r >= 0; at r < 0 its values lose relative accuracy where
// the orthant is all but empty, but not absolute (what the sum below needs).
//
// Truncation: with phi_K the truncated activation and e = phi - phi_K,
//     |E[phi(u) phi(v)] - E[phi_K(u) phi_K(v)]| <= |e|_u |phi|_v + (|phi|_u + |e|_u) |e|_v,
// |f|_u = sqrt(E f(u)^2), |e|_u^2 <= (lam alpha)^2 E[|u|^(2K+2) 1(u < 0)] / ((K+1)!)^2
// = (lam alpha)^2 q1^(K+1) (2K+1)!! / (2 ((K+1)!)^2). K is the least order that puts this
// below a tenth of the tolerance (at most k_max). The sum's terms, s^(j+k) sqrt(j! k!) /
// (j! k!) in size, alternate in sign and fall fast for s <~ 1: the rounding is ~1e-16 of
// s1 s2 lam^2 (sigprop's own construction).
#pragma once

#include <cmath>

#include "special.hpp"

namespace sigprop::detail {

inline constexpr int elu_series_k_max = 40;

// I[j * ld + k] = I_jk(r) for 0 <= j, k <= n (n < ld).
inline void orthant_moments(double r, int n, int ld, double* I) {
  const double p0 = 0.3989422804014326779399461;  // 1 / sqrt(2 pi)
  const double sq = std::sqrt((1.0 - r) * (1.0 + r));
  // half moments m_k = E[W^k 1(W > 0)] times sq^k
  double hm[elu_series_k_max + 3];
  hm[0] = 0.5;
  hm[1] = p0 * sq;
  for (int k = 2; k <= n; ++k) hm[k] = double(k - 1) * sq * sq * hm[k - 2];
  I[0] = 0.25 + std::asin(r) / (2.0 * special::pi);
  for (int j = 1; j <= n; ++j) {
    double v = r * p0 * hm[j - 1];  // [k = 0] term: r p0 sq^(j-1) m_(j-1)
    if (j == 1) v += p0 * hm[0];    // [j = 1] term
    if (j >= 2) v += double(j - 1) * I[(j - 2) * ld];
    I[j * ld] = v;
    I[j] = v;  // I_0j = I_j0
  }
  for (int j = 1; j <= n; ++j)
    for (int k = 1; k <= n; ++k) {
      double v = r * double(k) * I[(j - 1) * ld + (k - 1)];
      if (j == 1) v += p0 * hm[k];
      if (j >= 2) v += double(j - 1) * I[(j - 2) * ld + k];
      I[j * ld + k] = v;
    }
}

// E[phi(u) phi(v)] for phi = lam x (x >= 0), lam alpha (e^x - 1) (x < 0), u = sqrt(q1) X,
// v = sqrt(q2) Y, corr(X, Y) = c, to absolute tolerance atol; norm1, norm2 =
// sqrt(E phi(u)^2), sqrt(E phi(v)^2) (the truncation bound's factors). False where no
// order up to elu_series_k_max meets the tolerance.
inline bool elu_small_variance(double lam, double alpha, double q1, double q2, double c,
                               double atol, double norm1, double norm2, double& out) {
  if (!(q1 > 0.0 && q2 > 0.0) || !(std::fabs(c) <= 1.0) || !(atol > 0.0)) return false;
  const double la = std::fabs(lam * alpha);
  // |e|_u^2 <= la^2 q^(K+1) (2K+1)!! / (2 ((K+1)!)^2), by its ratio in K
  double t1 = la * la * q1 * 0.5, t2 = la * la * q2 * 0.5;  // K = 0
  int K = 0;
  for (;; ++K) {
    const double e1 = std::sqrt(t1), e2 = std::sqrt(t2);
    if (e1 * norm2 + (norm1 + e1) * e2 <= 0.1 * atol) break;
    if (K + 1 > elu_series_k_max) return false;
    const double f = double(2 * K + 3) / (double(K + 2) * double(K + 2));
    t1 *= q1 * f;
    t2 *= q2 * f;
  }
  if (K == 0) K = 1;
  constexpr int ld = elu_series_k_max + 2;
  static thread_local double Ip[ld * ld], Im[ld * ld];
  orthant_moments(c, K, ld, Ip);
  orthant_moments(-c, K, ld, Im);
  const double s1 = std::sqrt(q1), s2 = std::sqrt(q2);
  // s^k (-1)^k / k!, k = 0..K
  double w1[ld], w2[ld];
  w1[0] = w2[0] = 1.0;
  for (int k = 1; k <= K; ++k) {
    w1[k] = -w1[k - 1] * s1 / double(k);
    w2[k] = -w2[k - 1] * s2 / double(k);
  }
  double B = 0.0, C = 0.0, D = 0.0;
  for (int k = K; k >= 1; --k) {
    B += w2[k] * Im[1 * ld + k];
    C += w1[k] * Im[k * ld + 1];
  }
  for (int j = K; j >= 1; --j) {
    double row = 0.0;
    for (int k = K; k >= 1; --k) row += w2[k] * Ip[j * ld + k];
    D += w1[j] * row;
  }
  const double v = s1 * s2 * Ip[1 * ld + 1] + alpha * (s1 * B + s2 * C) + alpha * alpha * D;
  out = lam * lam * v;
  return std::isfinite(out);
}

}  // namespace sigprop::detail
