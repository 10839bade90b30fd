// E[phi(u) phi(v)] and E[phi'(u) phi'(v)] of ELU and SELU at small variances, by the
// exponential's Taylor series on x < 0 and the orthant moments of the bivariate normal.
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
// phi' = lam (S + alpha sum_{k>=0} N_k / k!) + lam alpha R'_K 1(x < 0) likewise, with
// S(x) = 1(x >= 0), N_0 = 1(x < 0) and R'_K the remainder of e^x's series through
// x^K (the same bound): E[S(u) S(v)] = I_00(c), E[S(u) N_k(v)] = s2^k (-1)^k I_0k(-c),
// E[N_j(u) N_k(v)] = s1^j s2^k (-1)^(j+k) I_jk(c), j, k >= 0.
//
// Truncation: with phi_K the truncated activation and e = phi - phi_K (phi' and its
// truncation alike),
//     |E[phi(u) phi(v)] - E[phi_K(u) phi_K(v)]| <= |e|_u |phi|_v + (|phi|_u + |e|_u) |e|_v,
// |f|_u = sqrt(E f(u)^2), |e|_u^2 <= (lam alpha)^2 E[|u|^(2K+2) 1(u < 0)] / ((K+1)!)^2
// = (lam alpha)^2 q1^(K+1) (2K+1)!! / (2 ((K+1)!)^2). K is the least order that puts this
// below a tenth of the tolerance (at most k_max). The sum's terms, s^(j+k) sqrt(j! k!) /
// (j! k!) in size, alternate in sign and fall fast for s <~ 1: the rounding is ~1e-16 of
// s1 s2 lam^2 (sigprop's own construction); of phi', whose terms are of order one and
// its result too, ~1e-16 of lam^2 (1 + alpha)^2.
#pragma once

#include <cmath>

#include "gauss_legendre.hpp"
#include "quadrature.hpp"
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

// I_jk(c) and I_jk(-c) for j, k <= K (K <= elu_series_k_max), in tables of this
// thread of leading dimension elu_series_ld (valid until its next call).
inline constexpr int elu_series_ld = elu_series_k_max + 2;
inline void elu_orthant_tables(double c, int K, const double*& Ip, const double*& Im) {
  constexpr int ld = elu_series_ld;
  static thread_local double P[ld * ld], M[ld * ld];
  orthant_moments(c, K, ld, P);
  orthant_moments(-c, K, ld, M);
  Ip = P;
  Im = M;
}

// E[f(u) f(v)] for f = phi (d = 0) or phi' (d = 1), phi = lam x (x >= 0), lam alpha (e^x
// - 1) (x < 0), u = sqrt(q1) X, v = sqrt(q2) Y, corr(X, Y) = c, to absolute tolerance
// atol; norm1, norm2 = sqrt(E f(u)^2), sqrt(E f(v)^2) (the truncation bound's factors).
// False where no order up to elu_series_k_max meets the tolerance.
inline bool elu_small_variance(int d, double lam, double alpha, double q1, double q2, double c,
                               double atol, double norm1, double norm2, double& out) {
  if (!(d == 0 || d == 1) || !(q1 > 0.0 && q2 > 0.0) || !(std::fabs(c) <= 1.0) || !(atol > 0.0))
    return false;
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
  constexpr int ld = elu_series_ld;
  const double *Ip, *Im;
  elu_orthant_tables(c, K, Ip, Im);
  const double s1 = std::sqrt(q1), s2 = std::sqrt(q2);
  // s^k (-1)^k / k!, k = 0..K
  double w1[ld], w2[ld];
  w1[0] = w2[0] = 1.0;
  for (int k = 1; k <= K; ++k) {
    w1[k] = -w1[k - 1] * s1 / double(k);
    w2[k] = -w2[k - 1] * s2 / double(k);
  }
  // p: the positive piece's moment index and the negative piece's first order, 1 for phi
  // (x 1(x >= 0); e^x - 1 from k = 1), 0 for phi' (the step; e^x from k = 0)
  const int p = d == 0 ? 1 : 0;
  double B = 0.0, C = 0.0, D = 0.0;
  for (int k = K; k >= p; --k) {
    B += w2[k] * Im[p * ld + k];
    C += w1[k] * Im[k * ld + p];
  }
  for (int j = K; j >= p; --j) {
    double row = 0.0;
    for (int k = K; k >= p; --k) row += w2[k] * Ip[j * ld + k];
    D += w1[j] * row;
  }
  const double v = d == 0 ? s1 * s2 * Ip[1 * ld + 1] + alpha * (s1 * B + s2 * C) + alpha * alpha * D
                          : Ip[0] + alpha * (B + C) + alpha * alpha * D;
  out = lam * lam * v;
  return std::isfinite(out);
}

// The same with only the smaller variance small (q1 <= 1/4 in the dispatch, q2
// anything: next to |c| = 1 the closed forms cancel on the u side, and from q2 ~ 10 up
// the series of e^v needs more than k_max orders): the Taylor series on u < 0 alone,
// phi(v) exact as lam (P(v) - alpha 1(v < 0) + alpha e^v 1(v < 0)). With X^ = -X (corr
// -c with Y),
//   E[phi_K(u) phi(v)] / lam^2 = s1 s2 I_11(c) - alpha s1 I_10(-c) + alpha s1 J_P
//       + alpha sum_j w_j (s2 I_j1(-c) - alpha I_j0(c) + alpha J_j),
// w_j = (-s1)^j / j!, J_P = E[X 1(X > 0) e^(s2 Y) 1(Y < 0)] and
// J_j = E[X^^j 1(X^ > 0) e^(s2 Y) 1(Y < 0)], one-dimensional integrals of positive
// integrands, s = sqrt(1 - c^2):
//   conditioned on Y = -D (X = -c D + s W; the density phi(D) e^(-s2 D)),
//     J_j = s^j int_0^inf npdf(D) e^(-s2 D) I_j(-c D / s) dD,
//     J_P = s int_0^inf npdf(D) e^(-s2 D) I_1(c D / s) dD,
//   I_j(t) = E[(Z - t)_+^j] by its recursion I_j = (j - 1) I_(j-2) - t I_(j-1), of
//   non-negative terms for t <= 0 (c >= 0 for J_j; J_P at c < 0 likewise, and at
//   c >= 0 from upper_tail, which keeps relative accuracy for t > 0);
//   for c < 0 J_j conditioned on X = -s y instead (E[e^(s2 Y) 1(Y < 0) | X] in closed
//   form, the Mills ratio R; w = s2 s),
//     J_j = s^(j+1) / (2 pi) int_0^inf y^j e^(-y^2 / 2) R(w - c y) dy,
//   where I_j(-c D / s) would be a tail moment (its recursion unstable).
// Truncation as above, |E[phi phi] - E[phi_K phi]| <= |e|_u |phi|_v <= atol / 10; the
// integrals to a fiftieth of atol, by fixed Gauss-Legendre pieces checked against
// coarser ones (below) and, where those disagree, adaptive Gauss-Kronrod. ~5-15 us where
// the nested quadrature took 40-75 us (selu, q1 <= 0.03, |c| 0.97-0.9995).
inline bool elu_one_small_variance(double lam, double alpha, double q1, double q2, double c,
                                   double atol, double norm2, double& out) {
  using namespace special;
  if (!(q1 > 0.0 && q2 > 0.0) || !(std::fabs(c) < 1.0) || !(atol > 0.0) || !std::isfinite(q2))
    return false;
  const double la = std::fabs(lam * alpha);
  double t1 = la * la * q1 * 0.5;  // |e|_u^2 at K = 0, as in elu_small_variance
  int K = 0;
  for (;; ++K) {
    if (std::sqrt(t1) * norm2 <= 0.1 * atol) break;
    if (K + 1 > elu_series_k_max) return false;
    t1 *= q1 * double(2 * K + 3) / (double(K + 2) * double(K + 2));
  }
  if (K == 0) K = 1;
  constexpr int ld = elu_series_ld;
  const double *Ip, *Im;
  elu_orthant_tables(c, K, Ip, Im);
  const double s1 = std::sqrt(q1), s2 = std::sqrt(q2);
  const double s = std::sqrt((1.0 - c) * (1.0 + c)), w = s2 * s;
  double w1[ld];
  w1[0] = 1.0;
  for (int k = 1; k <= K; ++k) w1[k] = -w1[k - 1] * s1 / double(k);
  double closed = 0.0;
  for (int j = K; j >= 1; --j) closed += w1[j] * (s2 * Im[j * ld + 1] - alpha * Ip[j * ld]);
  closed = s1 * s2 * Ip[1 * ld + 1] - alpha * s1 * Im[1 * ld] + alpha * closed;
  // the integrals' coefficients: a_j = alpha w_j s^j (J_j's, conditioned on Y)
  double aj[ld];
  double sj = 1.0;
  for (int j = 1; j <= K; ++j) {
    sj *= s;
    aj[j] = alpha * w1[j] * sj;
  }
  const double qatol = 0.02 * atol / (lam * lam * std::fabs(alpha));
  const bool along_y = c >= 0.0;  // J_j conditioned on Y (else on X)
  // conditioned on Y = -D: J_P's integrand, and J_j's for c >= 0, without the weight
  // npdf(D) e^(-s2 D), from one upper_tail at u = |c| D / s: I_1(u) = p1 and
  // I_1(-u) = p1 + u (J_P's I_1(c D / s), c >= 0 or < 0), and the J_j recursion's
  // I_0(-u) = 1 - p0, I_1(-u) (its npdf(u) = p1 + u p0). Beyond u = 8.5, p0 < 1e-17 and
  // p1 < 2e-18 (I_1(0) = 0.4): taken as 0 there, without the call
  const double ac = std::fabs(c);
  auto body = [&](double D) {
    const double u = ac * D / s;
    double p0 = 0.0, p1 = 0.0;
    if (u < 8.5) {
      const Tail T = upper_tail(u);
      p0 = T.p0;
      p1 = T.p1;
    }
    double v = s1 * s * (c >= 0.0 ? p1 : p1 + u);
    if (along_y) {
      const double t = -u;  // <= 0
      double im2 = 1.0 - p0, im1 = p1 + u;
      double sum = aj[1] * im1;
      for (int j = 2; j <= K; ++j) {
        const double ij = double(j - 1) * im2 - t * im1;
        sum += aj[j] * ij;
        im2 = im1;
        im1 = ij;
      }
      v += sum;
    }
    return v;
  };
  auto fD = [&](double D, double* y) {
    y[0] = inv_sqrt_2pi * std::exp(-D * (0.5 * D + s2)) * body(D);
  };
  // Fixed rules first, each checked against a coarser one (accepted where the two agree
  // to an eighth of the integral's share of the tolerance; else the adaptive rule):
  // Gauss-Legendre, 20 nodes a piece against 16. The brackets' I_j(-+ c D / s) bend
  // at D = 0 over a width s / |c| (beyond t = |c| D / s = 8.5 they are polynomials in
  // D, or 0, to 3e-18 of their scale); the weight npdf(D) e^(-s2 D) falls over 1 / s2.
  // With x = s2 D, the pieces [x0, x0 + 3], [.., x0 + 10], [.., x0 + 20], [.., x0 + 42]
  // (e^(-x) below 6e-19 of e^(-x0) beyond), each narrow beside the Gaussian's scale in
  // D where s2 >= 1: from x0 = 0 where the bend is wide on the weight's scale
  // (beta = s2 s / |c| >= 2); else from x0 = 8.5 beta, the bend taken before, in
  // t = |c| D / s on [0, 3] and [3, 8.5] (the integrand npdf(s t / |c|) e^(-beta t) times
  // the bracket, smooth there). ~10 us a call where the adaptive rule took 25-40 us (selu,
  // q1 <= 0.03, q2 4-3000, |c| 0.97-0.996).
  auto checked = [&](const double* edges, int n_pieces, auto&& f, double factor) {
    const double I =
        factor * quad::legendre_pieces(edges, n_pieces, f, quad::xgl20, quad::wgl20, 10);
    const double I_lo =
        factor * quad::legendre_pieces(edges, n_pieces, f, quad::xgl16, quad::wgl16, 8);
    return std::isfinite(I) && std::fabs(I - I_lo) <= 0.125 * qatol ? I : special::nan;
  };
  double vD = special::nan;
  if (s2 >= 1.0) {
    const double sc = ac > 0.0 ? s / ac : special::inf, beta = s2 * sc;
    const double x0 = beta >= 2.0 ? 0.0 : 8.5 * beta;
    const double ex[5] = {x0, x0 + 3.0, x0 + 10.0, x0 + 20.0, x0 + 42.0};
    auto fx = [&](double x) {
      const double D = x / s2;
      return std::exp(-0.5 * D * D - x) * body(D);
    };
    vD = checked(ex, 4, fx, inv_sqrt_2pi / s2);
    if (beta < 2.0 && !std::isnan(vD)) {
      static constexpr double et[3] = {0.0, 3.0, 8.5};
      auto ft = [&](double t) {
        const double D = sc * t;
        return std::exp(-0.5 * D * D - beta * t) * body(D);
      };
      vD += checked(et, 2, ft, inv_sqrt_2pi * sc);
    }
  }
  if (std::isnan(vD)) {
    quad::Mesh mesh;
    mesh.lo = 0.0;
    mesh.hi = std::sqrt(s2 * s2 + 84.0) - s2;  // the weight below e^-42 of its value at 0
    const double d0 = std::fmin(1.0 / s2, s / std::fmax(std::fabs(c), 1e-3));
    for (double d = 0.125 * d0; d < mesh.hi; d *= 2.0) mesh.add(d);
    mesh.finish();
    if (!quad::integrate<1>(fD, mesh, 1e-14, qatol, &vD) || !std::isfinite(vD)) return false;
  }
  double vX = 0.0;
  if (!along_y) {
    // J_j = s^(j+1) / (2 pi) int y^j e^(-y^2 / 2) R(w - c y) dy, summed as
    // sum_j a_j s y^j / (2 pi) (Horner)
    auto fX = [&](double y, double* out_y) {
      double p = 0.0;
      for (int j = K; j >= 1; --j) p = (p + aj[j]) * y;
      out_y[0] = s * p * std::exp(-0.5 * y * y) * mills(w - c * y) / (2.0 * pi);
    };
    // (its integrand smooth on [0, 9.5], R's argument w + |c| y >= 0: the fixed rules
    // on [0, 2], [2, 4.5] and [4.5, 9.5] first, as above)
    static constexpr double ey[4] = {0.0, 2.0, 4.5, 9.5};
    auto fy = [&](double y) {
      double yy;
      fX(y, &yy);
      return yy;
    };
    vX = checked(ey, 3, fy, 1.0);
    if (std::isnan(vX)) {
      quad::Mesh my;
      my.lo = 0.0;
      my.hi = 9.5;
      for (double b : {0.5, 1.0, 2.0, 3.0, 4.5, 6.0}) my.add(b);
      my.finish();
      if (!quad::integrate<1>(fX, my, 1e-14, qatol, &vX) || !std::isfinite(vX)) return false;
    }
  }
  out = lam * lam * (closed + alpha * (vD + vX));
  return std::isfinite(out);
}

}  // namespace sigprop::detail
