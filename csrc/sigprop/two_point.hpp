// Two-point Gaussian expectations E[phi^(d)(u) phi^(d)(v)], the one entry point
// that the maps, fixed points, scans and NNGP kernels use:
//   1. closed forms (linear, relu, leaky_relu, erf, sin, gelu everywhere; hard_tanh,
//      shifted_relu, soft_threshold, linear_floor, elu, selu where their error
//      estimate allows, and for the thresholds far out Price's theorem over the
//      orthant density, piecewise_closed_forms.hpp), and c = +-1 or a zero variance,
//      where the expectation is one-dimensional (expectation.hpp);
//   2. the Mehler series (hermite_series.hpp) of the tabulated Hermite coefficients
//      (hermite_table.hpp) wherever its rigorous truncation bound is below
//      series_rtol of the Cauchy-Schwarz scale sqrt(E f(u)^2 E f(v)^2), for the
//      analytic kinds at a small variance by an a priori bound (analytic_tail.hpp);
//   2b. where it fails with a variance small: elu and selu by the exponential's Taylor
//      series against orthant moments (elu_small_variance.hpp), linear_region_tanh by
//      Stein's lemma (linear_region_pair), softsign by its power series smoothed
//      given the other input (small_variance.hpp);
//   3. where the bound fails (next to |c| = 1 for slowly decaying coefficients:
//      kinks of phi', large q): for tanh, sigmoid, softplus, shifted_softplus, silu
//      and linear_region_tanh with c >= 1/2 the split into a skeleton (sign, relu)
//      and a localised remainder on Gauss-Laguerre rules (saturating_pair.hpp), for
//      softsign the conditional form in logarithmic coordinates (softsign_pair.hpp),
//      where they certify their result; else on the diagonal q1 = q2 with c >= 1/2,
//      for kinds without a closed-form Gaussian smoothing, the difference form
//      E[f^2] - E[(f(u) - f(v))^2] / 2 (near_diagonal.hpp), off it with |c| >= 1/2
//      the nested quadrature in the covariance's principal axes (same file), else
//      the conditional nested quadrature (bivariate_direct).
#pragma once

#include <cmath>
#include <type_traits>
#include <utility>

#include "activation.hpp"
#include "canonical.hpp"
#include "covariance_taylor.hpp"
#include "elu_large_variance.hpp"
#include "elu_small_variance.hpp"
#include "expectation.hpp"
#include "hermite_series.hpp"
#include "hermite_table.hpp"
#include "linear_tail_pair.hpp"
#include "near_diagonal.hpp"
#include "near_diagonal_table.hpp"
#include "remainder_table.hpp"
#include "saturating_pair.hpp"
#include "sign_tail_pair.hpp"
#include "small_variance.hpp"
#include "softsign_pair.hpp"
#include "special.hpp"
#include "trapezoid_pair.hpp"

namespace sigprop {

namespace detail {
// Truncation tolerance of the series, relative to the Cauchy-Schwarz scale. With
// coefficients accurate to ~1e-15 sqrt(E phi^2) the series' rounding is of the
// same order, so results are accurate to ~1e-12 of that scale.
inline constexpr double series_rtol = 1e-13;
// Where the difference form (near_diagonal.hpp) takes over from the nested
// quadrature on the diagonal, and its tolerance relative to E[f^2].
inline constexpr double diagonal_c_min = 0.5;
inline constexpr double diagonal_atol = 2e-14;
inline constexpr double principal_atol = 1e-13;
// The half width of the difference's tail that near_diagonal_pair accepts, relative
// to the scale: the near-diagonal table it reads holds its diagonal values to
// ~4e-13 of E[phi^2] below q = 10 and 2e-12 at most (its check), so that a tail
// pinned to 1e-12 keeps the pair within ~3e-12, the table's class, where 1e-13 sent
// 60 % of the pairs of an ordered-phase softsign layer (variances 1e-3 apart,
// 1 - c ~ 5e-3, half widths 1-15 x 1e-13) to 1.3 ms of quadrature each.
inline constexpr double near_diagonal_tail_rtol = 1e-12;

// Per-thread cache of the expansions at the last 16 variances seen (round robin),
// so that evaluations at a few recurring variances (a c-map, a row of a kernel, a
// grid of (q, c) in any order) build each expansion once. A cached expansion holds
// the same numbers as a fresh one: results do not depend on what was cached.
struct HermiteCache {
  static constexpr int n_slots = 16;
  Activation act{Kind::linear, 0.0, 0.0};
  HermiteAt slot[n_slots];
  int next = 0;
  // The expansion at q; a new one never replaces `keep`.
  HermiteAt* get(const Activation& a, double q, const HermiteAt* keep = nullptr) {
    if (a.kind != act.kind || a.p0 != act.p0 || a.p1 != act.p1) {
      act = a;
      for (HermiteAt& h : slot) {
        h.q = special::nan;
        h.n = 0;
      }
    }
    for (HermiteAt& h : slot)
      if (h.q == q) return &h;
    if (&slot[next] == keep) next = (next + 1) % n_slots;
    HermiteAt& h = slot[next];
    next = (next + 1) % n_slots;
    h.set(a, q, false);  // a marked segment: the quadrature is cheaper than the rule
    return &h;
  }
};
}  // namespace detail

namespace detail {
// sup |phi'| of the kinds settled_pair serves (an upper bound; silu's is 1.0998), 0
// for any other kind.
inline double lipschitz_bound(Kind k) {
  switch (k) {
    case Kind::tanh:
    case Kind::softsign:
    case Kind::linear_region_tanh:
    case Kind::hard_tanh:
    case Kind::softplus:
    case Kind::shifted_softplus: return 1.0;
    case Kind::sigmoid: return 0.25;
    case Kind::silu: return 1.1;
    default: return 0.0;
  }
}

// D(q1, c) and D(q2, c) from the near-diagonal table (phi); false outside it.
inline bool table_diagonals(const Activation& a, double q1, double q2, double c, double& d1,
                            double& d2) {
  const NearDiagonalTable::Slice s1 = near_diagonal_slice(a, q1);
  if (!s1.ok) return false;
  d1 = d2 = s1.eval(0, c);
  if (q2 == q1) return true;
  const NearDiagonalTable::Slice s2 = near_diagonal_slice(a, q2);
  if (!s2.ok) return false;
  d2 = s2.eval(0, c);
  return true;
}

// A batch's pairs (f = phi) next to c = 1, c >= NearDiagonalTable::c_min(), for the
// kinds a kernel reads the near-diagonal table for, without a closed form
// (kernel_uses_near_diagonal_table: softsign and linear_region_tanh, whose
// coefficients decay algebraically, and the smooth kinds where the series' anchors
// cannot pin its tail). With h_m = x_m - y_m, the expansion of
// h(z) = phi(sqrt(q1) z) - phi(sqrt(q2) z),
//   E[phi(u) phi(v)] = sum_m x_m y_m c^m = (D(q1, c) + D(q2, c) - D_h(c)) / 2,
// D(q, c) = sum_m x_m^2 c^m the diagonal value, read from the table (within
// ~4e-13 of E[phi^2] below q = 10, ~1.3e-12 below 31.6: near_diagonal_table.hpp).
// Only for a batch (a kernel layer), whose many such pairs repay a table segment's
// build (0.1-1.1 s, once per process), as the correlation fixed point's do.
//
// settled_pair (for hard_tanh as well, whose table the correlation fixed point
// builds): variances that have all but settled (a deep ordered-phase kernel,
// layer after layer, where every pair is next to c = 1): q1 = q2 (D_h = 0), or
// 0 <= D_h(c) <= D_h(1) = E[h(Z)^2] <= L^2 (sqrt(q1) - sqrt(q2))^2, L = sup |phi'|
// (mean value theorem: |h(z)| <= L |sqrt(q1) - sqrt(q2)| |z|), so that the midpoint
// of [0, that bound] holds where a quarter of it is below tol. Two table lookups
// (~1 us), tried before the series: those pairs' series reach no order, and the
// anchored tails (diagonal_series, offdiagonal_series) cost ~20 us a pair.
// B of settled_pair: 0 for one variance, else L^2 (sqrt(q1) - sqrt(q2))^2, inf where
// L is not known (lipschitz_bound 0).
inline double settled_bound(Kind k, double q1, double q2) {
  if (q1 == q2) return 0.0;
  const double L = lipschitz_bound(k);
  if (!(L > 0.0)) return special::inf;
  const double s1q = std::sqrt(q1), s2q = std::sqrt(q2);
  // (each square root within half an ulp: the difference within 2 ulps of the larger)
  const double ds =
      std::fabs(s1q - s2q) + 4.0 * std::numeric_limits<double>::epsilon() * std::fmax(s1q, s2q);
  return L * L * ds * ds;
}

inline bool settled_pair(const Activation& a, const HermiteAt& x, const HermiteAt& y, double c,
                         double tol, double& v) {
  if (!(c >= NearDiagonalTable::c_min() && c < 1.0)) return false;
  const double B = settled_bound(a.kind, x.q, y.q);
  if (!(0.25 * B <= tol)) return false;
  double d1, d2;
  if (!table_diagonals(a, x.q, y.q, c, d1, d2)) return false;
  v = x.q == y.q ? d1 : 0.5 * (d1 + d2) - 0.25 * B;
  return true;
}

// Where bivariate_dispatch takes hard_tanh's Price form from c = 1 before the other
// forms (q1 the smaller variance; see there): c >= 0.75 from q1 = 4 a^2, c >= 0.95 from
// a^2 / 4. A kernel's settled pairs there take it too, not the near-diagonal table
// (settled_difference_pair), whose segments cost ~0.9 s to build on first use.
inline bool hard_tanh_near_one_domain(const Activation& a, double q1, double c) {
  const double a2 = a.p0 * a.p0;
  return a.kind == Kind::hard_tanh && a.p0 > 0.0 &&
         ((c >= 0.75 && q1 >= 4.0 * a2) || (c >= 0.95 && q1 >= 0.25 * a2));
}

// The crossings of soft_threshold's (and hard_tanh's) two thresholds at t in [-1, -c]
// (threshold_cross_near_one, below): far = s1 s2 w P(-c) and its error far_err, w = 2,
// with P(-c) = int_{-1}^{-c} (-c - t) phi2(K, k; t) dt by its boundary-layer sum, b' =
// (K + k)^2 / (4 e), kappa' = ((K - k) / 2)^2, or beyond b' = 50 (or where exp(-Qm)
// underflows) its bound's midpoint: 0 <= P(-c) <= (2 / (3 pi)) e^1.5 exp(-Qm), Qm the
// least exponent over t in [-1, -c]. e15 = e^1.5, ss = s1 s2.
inline void threshold_far_crossing(double K, double k, double e, double e15, double ss, double w,
                                   double& far, double& far_err) {
  using special::pi;
  const double dK = K - k;
  const double Qm = (dK * dK + 4.0 * K * k - 2.0 * K * k * e) / (2.0 * e * (2.0 - e));
  const double bf = 0.25 * (K + k) * (K + k) / e, kf = 0.25 * dK * dK;
  double S, S_err;
  if (bf <= 50.0 && Qm <= 746.0 && piecewise::boundary_layer_sum(bf, kf, e, true, S, S_err)) {
    const double F0f = std::exp(-0.5 * kf) / (pi * std::sqrt(2.0));
    far = ss * w * e15 * F0f * S;
    far_err = ss * w * e15 * F0f * S_err;
  } else {
    far = far_err = ss * (2.0 / (3.0 * pi)) * e15 * special::exp_or_zero(-Qm);
  }
}

// E[phi(u) phi(v)] of shifted_relu and soft_threshold for q1 != q2 next to c = 1,
// where the variances are too far apart for the settled-pair bound (a deep kernel's
// layers while they settle). With s_i = sqrt(q_i), thresholds k_i = tau / s_i,
// K = the larger (at the smaller variance), k = the smaller, e = 1 - c, Price's
// theorem from c = 1 as in piecewise::threshold_near_one:
//   P(c) = E[(X - K)_+ (Y - k)_+] = P(1) - e Q(K) + R,
//   P(1) = E[(X - K)_+ (X - k)_+] = M2(K) + (K - k) M1(K),
//   R = int_c^1 (t - c) phi2(K, k, t) dt
//     = e^1.5 int_0^1 (1 - y^2) exp(-b / y^2) F(e y^2) dy   (t = 1 - e y^2),
// b = (K - k)^2 / (4 e), F(w) = exp(-kappa / (2 - w)) / (pi sqrt(2 - w)),
// kappa = ((K + k) / 2)^2 (the orthant density's exponent split exactly into the
// boundary layer exp(-b / y^2) and a smooth part). M2(K) = E[(X - K)_+^2] and
// Q(K) = P(X > K) from the moments at the smaller variance, M1(K) = E[(X - K)_+]
// = npdf(K) - K Q(K). F's Taylor series in w (exp of the geometric series of
// 1 / (2 - w), times the binomial series of (2 - w)^-1/2) against the moments m_j =
// int_0^1 y^2j exp(-b / y^2) dy (piecewise::boundary_layer_sum: 1-3 orders at 1 - c ~
// 1e-9, ~25 at e kappa = 4). For e <= 1/4 and e kappa <= 4 (the terms fall as
// (e kappa / 4)^n / n! and (e / 2)^n), b <= 50
// (beyond, R <= (2 / 3) e^1.5 exp(-b) sup F: its midpoint). phi's expectation is
// s1 s2 P(c) (shifted_relu), 2 s1 s2 (P(c) - P(-c)) (soft_threshold, P(-c) the
// crossings over t in [-1, -c]: the same sum with K + k for K - k, or where that b
// exceeds 50 its bound (2 / (3 pi)) e^1.5 exp(-Qm), Qm = ((K + k)^2 - 2 K k e) /
// (2 e (2 - e)) the least exponent over t in [-1, -c]: its midpoint). p_lo, dp_lo:
// E[phi^2], E[phi'^2] at min(q1, q2). Sets v and its error bound err (the
// truncation: twice the last order; the far term's; the rounding of the terms,
// M1's cancellation and the moments' recurrence included; not that of the one-point
// moments, ~1e-14 of the scale at most). hard_tanh (phi' = 1{|x| < a}): by Price's
// theorem from c = 1, E[phi' phi'](t) = P(|Z| < k) less the crossings of k and K (R,
// and its far twin with -k, as soft_threshold's), so that E(c) = E(1) - s1 s2
// e P(|Z| < k) + 2 s1 s2 (R - R_far) with E(1) = E[phi(s_lo Z) phi(s_hi Z)] in closed
// form.
inline bool threshold_cross_near_one(const Activation& a, double q1, double q2, double c,
                                     double p_lo, double dp_lo, double& v, double& err) {
  using namespace special;
  if (!(c >= 0.75 && c <= 1.0) || !(q1 > 0.0) || !(q2 > 0.0) || !std::isfinite(q1) ||
      !std::isfinite(q2))
    return false;
  const bool hard = a.kind == Kind::hard_tanh;
  const bool soft = a.kind == Kind::soft_threshold || hard;  // (both crossings' far term)
  const double w = soft ? 2.0 : 1.0, eps = std::numeric_limits<double>::epsilon();
  const double e = 1.0 - c, e15 = e * std::sqrt(e);
  const double s_lo = std::sqrt(std::fmin(q1, q2)), s_hi = std::sqrt(std::fmax(q1, q2));
  const double K = a.p0 / s_lo, k = a.p0 / s_hi, ss = s_lo * s_hi;
  const double kappa = 0.25 * (K + k) * (K + k), dK = K - k;
  if (!(e * kappa <= 4.0) || !std::isfinite(kappa)) return false;
  const double b = dK * dK / (4.0 * e);
  const double F0 = std::exp(-0.5 * kappa) / (pi * std::sqrt(2.0));  // F(0)
  double R, R_err;
  if (b > 50.0) {
    // F(w) <= exp(-kappa / 2) / (pi sqrt(2 - e)) on [0, e]; int (1 - y^2) exp(-b / y^2)
    // <= (2 / 3) exp(-b)
    R_err = R = e15 * (1.0 / 3.0) * std::exp(-b) * F0 * std::sqrt(2.0 / (2.0 - e));
  } else {
    double S, S_err;
    if (!piecewise::boundary_layer_sum(b, kappa, e, true, S, S_err)) return false;
    R = e15 * F0 * S;
    R_err = e15 * F0 * S_err;
  }
  // The crossings at t in [-1, -c] (soft_threshold, hard_tanh): P(-c) = int_{-1}^{-c}
  // (-c - t) phi2(K, k; t) dt, the same sum with b' = (K + k)^2 / (4 e) and kappa' =
  // ((K - k) / 2)^2 (the exponent at t = -1 + e y^2 splits into -b' / y^2 - kappa' / (2 -
  // e y^2)); beyond b' = 50, or where exp(-Qm) underflows, bounded: 0 <= P(-c) <= (2 /
  // (3 pi)) e^1.5 exp(-Qm), Qm its least exponent over t in [-1, -c] (the midpoint).
  // (At q ~ 70 for hard_tanh, k^2 / e ~ 10 at 1 - c ~ 1e-3: the bound's half, ~1e-8 of
  // the scale, sent the settling layers of a kernel to hard_tanh_sign_form, 8 us a
  // pair: 1000 inputs, sigma_w = 2.5, sigma_b = 8, depth 10, 15 s.)
  double far = 0.0, far_err = 0.0;  // ss w P(-c) and its error
  if (soft) threshold_far_crossing(K, k, e, e15, ss, w, far, far_err);
  if (hard) {
    // hard_tanh: E(c) = E(1) - s1 s2 e P(|Z| < k) + 2 s1 s2 (R - R_far), E(1) =
    // E[phi(s_lo Z) phi(s_hi Z)] = s_lo s_hi E[Z^2; |Z| < k] + 2 a s_lo (npdf(k) - npdf(K))
    // + 2 a^2 Q(K) (see above); E[Z^2; |Z| < k] by its series below k = 1/2, where the
    // closed form (2 Phi(k) - 1) - 2 k npdf(k) cancels
    const double nk = npdf(k);
    const double pk = std::erf(k * inv_sqrt2);  // P(|Z| < k), E[phi'^2] at s_hi
    double z2 = 0.0;
    if (k < 0.5) {
      // 2 npdf(0) sum_n (-1/2)^n k^(2n+3) / (n! (2n + 3))
      double t = k * k * k, sum = 0.0;
      for (int n = 0; n < 30; ++n) {
        const double term = t / (2.0 * n + 3.0);
        sum += term;
        if (std::fabs(term) <= 1e-17 * std::fabs(sum)) break;
        t *= -0.5 * k * k / (n + 1.0);
      }
      z2 = 2.0 * inv_sqrt_2pi * sum;
    } else {
      z2 = pk - 2.0 * k * nk;
    }
    // npdf(k) - npdf(K) without its cancellation, as npdf(k) (1 - exp(-(K - k) (K + k) /
    // 2)) with K - k = a (s_hi - s_lo) / (s_lo s_hi) from q_hi - q_lo (exact where the
    // variances are within 2x): the difference of the two densities, ~0.8 each, had
    // carried their rounding times 2 a s_lo into the error bound, 8 eps 2 a s_lo
    // (nk + nK), above the tolerance past q ~ 1000 (near-diagonal pairs then took
    // hard_tanh_sign_form, 10-60 us); now ~16 eps of t2 itself, which is small there
    // (~0.4 a^3 (q_hi / q_lo - 1) / s_lo)
    const double qd = std::fmax(q1, q2) - std::fmin(q1, q2);
    const double dn = -nk * std::expm1(-0.5 * (a.p0 * (qd / (s_hi + s_lo)) / ss) * (K + k));
    const double a2 = a.p0 * a.p0, QK = 0.5 * std::erfc(K * inv_sqrt2);
    const double t1 = ss * z2, t2 = 2.0 * a.p0 * s_lo * dn, t3 = 2.0 * a2 * QK;
    v = t1 + t2 + t3 - ss * e * pk + 2.0 * ss * R - far;
    err = 2.0 * ss * R_err + far_err + 8.0 * eps * (t1 + 2.0 * std::fabs(t2) + t3 + ss * e * pk) +
          (k < 0.5 ? 0.0 : 8.0 * eps * ss * (pk + 2.0 * k * nk));
    return std::isfinite(v) && std::isfinite(err);
  }
  const double Q = dp_lo / w, M2 = p_lo / (w * s_lo * s_lo);
  // (cancels ~K^2 fold; its rounding, a few ulps of npdf(K) + K Q, is in err)
  const double M1 = npdf(K) - K * Q;
  v = ss * w * (M2 + dK * M1 - e * Q + R) - far;
  err = ss * w * (R_err + 8.0 * eps * (M2 + dK * (npdf(K) + K * Q) + e * Q)) + far_err;
  return std::isfinite(v) && std::isfinite(err);
}

// shifted_relu, soft_threshold and hard_tanh next to c = 1 (1 - c <= 1/4, threshold
// within 2 / sqrt(1 - c) standard deviations): each variance's diagonal by
// piecewise::threshold_near_one (~5-50 ns, against 3-7 us for threshold_price and
// 30-100 us for diagonal_price), and, for q1 != q2, the settled-pair identity of
// settled_pair: with h(z) = f(sqrt(q1) z) - f(sqrt(q2) z) (f = phi or phi'),
//   E[f(u) f(v)] = (D(q1, c) + D(q2, c) - D_h(c)) / 2,  0 <= D_h(c) <= E[h(Z)^2] <= B,
// where, with k = tau / sqrt(max(q1, q2)) the nearer threshold,
//   phi: |h(z)| <= |sqrt(q1) - sqrt(q2)| |z| on |z| > k (one tail for shifted_relu,
//        both for soft_threshold), 0 elsewhere: B = (sqrt(q1) - sqrt(q2))^2 (k npdf(k)
//        + Q(k)) per tail, Q(k) from E[phi'^2] at max(q1, q2);
//   phi': h is the indicator of k <= |z| < k' (a tail's strip): B = |E[phi'^2] at q1
//        - E[phi'^2] at q2|, plus its rounding;
//   hard_tanh's phi: |h(z)| <= |sqrt(q1) - sqrt(q2)| |z|: B = (sqrt(q1) - sqrt(q2))^2;
//        its phi' as the thresholds' (the strips between a / sqrt(q2) and a / sqrt(q1)).
// B / 4 is the error of the midpoint. The pairs of a deep kernel whose variances have
// settled below the threshold (every pair at 1 - c ~ 1e-12 and variances within
// ~1e-8 of each other: 1.7 of shifted_relu's 2.2 s for 1000 inputs, depth 10), and
// c-maps and scans next to c = 1. p1, dp1, p2, dp2: E[phi^2] and E[phi'^2] at q1 and
// q2; tol the error aimed at (B above half of it declines at once). Sets v and its
// error bound err; false where the forms do not apply.
inline bool threshold_pair_near_one(const Activation& a, int d, double q1, double q2, double c,
                                    double p1, double dp1, double p2, double dp2, double tol,
                                    double& v, double& err) {
  if (!(c >= 0.75 && c <= 1.0) || !(tol > 0.0)) return false;
  const double eps = std::numeric_limits<double>::epsilon();
  double B = 0.0;
  if (q1 != q2) {
    const bool soft = a.kind == Kind::soft_threshold;
    const double dp_hi = q1 > q2 ? dp1 : dp2;  // at the larger variance
    if (d == 0) {
      const double s1 = std::sqrt(q1), s2 = std::sqrt(q2);
      const double ds = std::fabs(s1 - s2) + 4.0 * eps * std::fmax(s1, s2);
      const double k = a.p0 / std::fmax(s1, s2);
      // per tail: k npdf(k) + Q(k), Q(k) = dp_hi (shifted_relu) or dp_hi / 2 (both tails);
      // hard_tanh: E[Z^2] = 1 (phi 1-Lipschitz)
      B = ds * ds *
          (a.kind == Kind::hard_tanh ? 1.0 : (soft ? 2.0 : 1.0) * k * special::npdf(k) + dp_hi);
    } else {
      B = std::fabs(dp1 - dp2) + 4.0 * eps * std::fmax(dp1, dp2);
    }
    if (!(0.25 * B <= 0.5 * tol))
      return d == 0 &&
             threshold_cross_near_one(a, q1, q2, c, q1 < q2 ? p1 : p2, q1 < q2 ? dp1 : dp2, v, err);
  }
  const double budget = 0.25 * tol;
  double v1, e1;
  if (!piecewise::threshold_near_one(a, d, q1, c, p1, dp1, budget, v1, e1)) return false;
  if (q1 == q2) {
    v = v1;
    err = e1;
    return true;
  }
  double v2, e2;
  if (!piecewise::threshold_near_one(a, d, q2, c, p2, dp2, budget, v2, e2)) return false;
  v = 0.5 * (v1 + v2) - 0.25 * B;
  err = 0.5 * (e1 + e2) + 0.25 * B;
  return true;
}

// Where threshold_pair_near_one can serve shifted_relu and soft_threshold (tau > 0,
// q1 <= q2 positive): c >= 0.75 and e kappa <= 4 (e = 1 - c; phi: kappa = ((K + k) /
// 2)^2 with K = tau / sqrt(q1) >= k = tau / sqrt(q2), its cross form's condition,
// which threshold_near_one's e K^2 <= 4 implies; phi': e K^2 <= 4). There
// bivariate_dispatch tries it before the series, and a kernel layer's pairs that the
// first 128 orders of the series did not certify go to it directly (grid.hpp).
inline bool threshold_near_one_domain(const Activation& a, int d, double q1, double q2, double c) {
  if (!(c >= 0.75)) return false;
  const double e = 1.0 - std::fmin(c, 1.0), K = a.p0 / std::sqrt(q1);
  const double k = a.p0 / std::sqrt(q2), kappa = 0.25 * (K + k) * (K + k);
  return d == 0 ? e * kappa <= 4.0 : e * (a.p0 * a.p0 / q1) <= 4.0;
}

// Next to c = 1 (threshold_near_one_domain): threshold_pair_near_one (c = 1 clamped:
// the one-point cross moment) from the moments m1, m2 at q1 <= q2, accepted within
// piecewise_tol of the Cauchy-Schwarz scale and of the result as well (shifted_relu's
// can be far below the scale); false where it declines.
inline bool threshold_near_one_value(const Activation& a, int d, double q1, double q2, double c,
                                     const Moments& m1, const Moments& m2, double& v) {
  const double p1 = m1.phi_sq, dp1 = m1.dphi_sq, p2 = m2.phi_sq, dp2 = m2.dphi_sq;
  const double scale = d == 0 ? std::sqrt(p1) * std::sqrt(p2) : std::sqrt(dp1) * std::sqrt(dp2);
  double err;
  return threshold_pair_near_one(a, d, q1, q2, std::fmin(c, 1.0), p1, dp1, p2, dp2,
                                 piecewise_tol * scale, v, err) &&
         err <= piecewise_tol * std::fmin(scale, std::fabs(v));
}

// One input of a kernel layer of shifted_relu or soft_threshold (threshold tau > 0),
// for threshold_near_one_kernel: s = sqrt(q), K = tau / s, E[phi^2] (p) as
// batch_moments gives it, sqrt(p), an upper bound on exp(-K^2 / 2), and the
// cross form's terms at this input's threshold (w = 2 for soft_threshold's two tails,
// else 1): Q = Q(K) = E[phi'^2] / w, M2 = E[(X - K)_+^2] = p / (w q), M1 = E[(X - K)_+]
// = npdf(K) - K Q, and npdf(K) + K Q (M1's rounding).
struct ThresholdInput {
  double s = 0.0, K = 0.0, p = 0.0, sp = 0.0, G = 0.0;
  double Q = 0.0, M2 = 0.0, M1 = 0.0, M1_abs = 0.0;
  static ThresholdInput at(const Activation& a, double q, const Moments& m) {
    ThresholdInput t;
    const double w = a.kind == Kind::soft_threshold ? 2.0 : 1.0;
    t.s = std::sqrt(q);
    t.K = a.p0 / t.s;
    t.p = m.phi_sq;
    t.sp = std::sqrt(m.phi_sq);
    const double nK = special::npdf(t.K);
    t.G = 1.0000001 * std::sqrt(2.0 * special::pi) * nK;  // (>= exp(-K^2 / 2))
    t.Q = m.dphi_sq / w;
    t.M2 = t.p / (w * t.s * t.s);
    t.M1 = nK - t.K * t.Q;
    t.M1_abs = nK + t.K * t.Q;
    return t;
  }
};

// E[phi(u) phi(v)] of shifted_relu and soft_threshold next to c = 1 (1 - c <= 1/4 and
// e kappa <= 4, c = 1 clamped), a kernel layer's pair, from per-input values (lo: the
// smaller variance, K >= k): threshold_cross_near_one's form,
//   P(c) = M2(K) + (K - k) M1(K) - e Q(K) + R,
// without the exponentials of the inputs (npdf(K), E[phi^2], E[phi'^2]: ThresholdInput)
// and with exp(-b) and F(0) in one: R = e^1.5 exp(-b - kappa / 2) S' / (pi sqrt 2),
// S' = boundary_layer_sum(b, kappa, e) / exp(-b), its orders only to 1e-3 of the
// tolerance. Where R's bound is far below the tolerance, its midpoint, without the sum:
//   0 <= R <= (2 / 3) e^1.5 exp(-kappa / 2) / (pi sqrt(2 - e)), exp(-kappa / 2) <=
//     exp(-k^2 / 2) (kappa = ((K + k) / 2)^2 >= k^2: the larger variance's G), or
//     with exp(-b - kappa / 2) in its place (exp(-b / y^2) <= exp(-b)), 1 / sqrt(2 - e)
//     <= (1 + e / 2) / sqrt(2);
// a deep kernel's pairs once the variances are close, 1 - c ~ 1e-12: R / P ~ e^1.5 k^3.
// soft_threshold's crossings at t in [-1, -c] as there, 0 from kappa / e = 745 on
// (their least exponent Qm >= kappa / e: (K + k)^2 - 2 K k e >= (K + k)^2 (1 - e / 2)).
// One form for every pair, settled or not, where threshold_pair_near_one chooses
// between the settled-pair identity and the cross form. Accepted within piecewise_tol
// of the Cauchy-Schwarz scale (the error bound: R's, the crossings' and 8 ulps of the
// terms added, M1's cancellation included), the accuracy of every kernel entry;
// threshold_near_one_value holds these forms to the result as well, which sent the
// pairs where P(c) is far below the scale (variances a factor 10 apart at c ~ 0.9,
// the terms cancelling) to the dispatch, ~0.3 us each.
//
// In three steps, each a function of its own below, so that a column's pairs taken
// eight at a time (threshold_near_one_kernels: grid.hpp, the pairs at c >= 0.99) and a
// pair taken alone (threshold_near_one_kernel) get the same numbers: the tests and R's
// first bound, pair by pair (NearOneTerms::at); for the pairs past that bound, the
// second bound and the boundary-layer sum, one pair in scalar code or the pairs side
// by side in loops over them (vector arithmetic in the AVX2 clone), both through the
// same inline functions on the same values (near_one_setup,
// piecewise::BoundaryLayerSum); then the result (NearOneTerms::finish). The sum's m_0 = 1 -
// sqrt(pi) t erfcx(t), t = sqrt(b), with erfcx in plain arithmetic
// (special::erfcx_arith, within 8.8 ulps) for t < 6.75; its rounding bound 24 eps (1 +
// 2 b) amp sum |terms| where piecewise::boundary_layer_sum has 16 (m_0's cancellation,
// ~2 b fold, of erfcx's few ulps more). Past t = 6.75 (b in [45.6, 50]) the form
// declines where the sum is needed, which no pair we could construct reaches: there R's
// second bound, e^1.5 exp(-b - kappa / 2) <~ 1e-20 e^1.5 exp(-kappa / 2), is far below
// the tolerance, 1e-13 of sqrt(E[phi^2] E[phi^2]) ~ exp(-kappa / 2) / K^3 (such a pair
// would go on to the other forms). Measured on the pairs of shifted_relu's kernel layers at
// sigma_w = 1.3, sigma_b = 0.2 (100 inputs), one thread, against the scalar form before:
// where the sum is needed (layers 4-5, 1 - c ~ 1e-5 to 0.25), 65-120 ns a pair alone (as
// before), 35-75 ns eight at a time; where R's first bound holds (layers 6-7), 10-25 ns
// either way.

// A pair's values of the first step, and its result from R and R's error bound.
struct NearOneTerms {
  double w, e, kappa, K, k, dK, ss, tol, round, e15, g;
  double M2, M1, Q;
  // 0: the form declines; 1: R's first bound holds (the result from it); 2: past it
  int at(const ThresholdInput& lo, const ThresholdInput& hi, double c, bool soft) {
    w = soft ? 2.0 : 1.0;
    const double eps = std::numeric_limits<double>::epsilon();
    e = 1.0 - (c < 1.0 ? c : 1.0);  // (c = 1 clamped; not std::fmin, a call)
    K = lo.K;
    k = hi.K;
    kappa = 0.25 * (K + k) * (K + k);
    if (!(e >= 0.0 && e <= 0.25) || !(e * kappa <= 4.0) || !(lo.p > 0.0)) return 0;
    dK = K - k;
    ss = lo.s * hi.s;
    tol = piecewise_tol * lo.sp * hi.sp;
    M2 = lo.M2;
    M1 = lo.M1;
    Q = lo.Q;
    // the terms' rounding (M1's cancellation included): declined at once where it
    // alone exceeds the tolerance
    round = ss * w * 8.0 * eps * (M2 + dK * lo.M1_abs + e * Q);
    if (!(round <= tol)) return 0;
    e15 = e * std::sqrt(e);
    // (1 / sqrt(2 - e) <= (1 + e / 2) / sqrt(2) for e <= 1/4: (1 - x)^(-1/2) <= 1 + x)
    g = (1.0 / (3.0 * special::pi * std::sqrt(2.0))) * e15 * (1.0 + 0.5 * e);
    // (e = 0: g = 0, R = 0)
    return ss * w * (g * hi.G) <= 0.25 * tol ? 1 : 2;
  }
  // The result from R and its error bound, soft_threshold's crossings at t in [-1, -c]
  // added; false where it misses the tolerance.
  bool finish(bool soft, double R, double R_err, double& v) const {
    double far = 0.0, far_err = 0.0;  // ss w P(-c) and its error
    if (soft && e > 0.0 && kappa / e < 745.0)
      threshold_far_crossing(K, k, e, e15, ss, w, far, far_err);
    v = ss * w * (M2 + dK * M1 - e * Q + R) - far;
    return std::isfinite(v) && ss * w * R_err + round + far_err <= tol;
  }
};

// Past R's first bound (e > 0): R's second bound g x, x = exp(-b - kappa / 2), which
// holds where b > 50 or it is within the tolerance (returns 1.0, else 0.0), and the
// sum's setup: f (R = f S), its absolute tolerance (S to 1e-3 of the tolerance over ss
// w f only: at 1 - c ~ 1e-5, 2-3 orders where the sum's own criterion took 5-6), t =
// sqrt(b) and m_0 (for t < 6.75, erfcx_arith's range; clamped beyond, unused).
SIGPROP_ALWAYS_INLINE double near_one_setup(double e, double kappa, double dK, double ss, double w,
                                            double tol, double e15, double g, double& b, double& x,
                                            double& f, double& atol, double& t, double& m0) {
  using special::pi;
  constexpr double inv_pi_sqrt2 = 1.0 / (pi * 1.41421356237309504880168872420969808);
  b = dK * dK / (4.0 * e);
  x = special::exp_arith(-b - 0.5 * kappa);
  f = e15 * x * inv_pi_sqrt2;
  atol = 1e-3 * tol / (ss * w * f);
  t = std::sqrt(b);
  m0 = 1.0 - std::sqrt(pi) * t * special::erfcx_arith(t < 6.75 ? t : 6.75);
  return b > 50.0 ? 1.0 : (ss * w * (g * x) <= 0.25 * tol ? 1.0 : 0.0);
}

// R and its error bound from a finished sum; false where it did not converge
// (piecewise::BoundaryLayerSum: scaled, second, with atol)
SIGPROP_ALWAYS_INLINE bool near_one_sum_R(const piecewise::BoundaryLayerSum& s, double b, double f,
                                          double& R, double& R_err) {
  const double eps = std::numeric_limits<double>::epsilon();
  const double S_err = 2.0 * s.last + 24.0 * eps * (1.0 + 2.0 * b) * s.amp * s.abs_sum;
  R = f * s.sum;
  R_err = f * S_err;
  return s.small >= 2.0 && std::isfinite(s.sum) && std::isfinite(S_err);
}

// One pair past R's first bound (NearOneTerms::at returned 2), in scalar code.
inline bool threshold_near_one_rest(const NearOneTerms& p, bool soft, double& v) {
  double b, x, f, atol, t, m0;
  if (near_one_setup(p.e, p.kappa, p.dK, p.ss, p.w, p.tol, p.e15, p.g, b, x, f, atol, t, m0) !=
      0.0) {
    const double R2 = p.g * x;
    return p.finish(soft, R2, R2, v);
  }
  if (!(t < 6.75)) return false;  // (past erfcx_arith's range: see above)
  const double b2 = 2.0 * b, xk = 0.5 * p.kappa, h = 0.5 * p.e, hh = (0.5 * p.e) * (0.5 * p.e);
  piecewise::BoundaryLayerSum s;
  s.first(1.0, b2, m0, true, atol);
  for (int n = 1; n <= piecewise::BoundaryLayerSum::orders && s.small < 2.0; ++n) {
    piecewise::BoundaryLayerSum o;
    o.step(s, n, 1.0, xk, h, hh, b2, true, atol);
    s = o;
  }
  double R, R_err;
  return near_one_sum_R(s, b, f, R, R_err) && p.finish(soft, R, R_err, v);
}

// Up to W pairs past R's first bound side by side: their sums' orders taken until
// every pair has met its own criterion, a pair's state frozen from then on (the same
// numbers as threshold_near_one_rest's). R[l] and R_err[l]: R's second bound where it
// holds (need[l] = 0), else f S and its error bound; ok[l] (0 or 1): whether the sum
// converged. W = 8, or 4 for up to four pairs (one AVX2 vector a field: a kernel
// column's pairs past the first bound are often 2-4, for which eight lanes did twice
// the work).
template <int Width>
struct NearOneLanes {
  static constexpr int W = Width;
  // (NearOneTerms' fields that the setup reads, each an array over the pairs)
  double w, e[W], kappa[W], dK[W], ss[W], tol[W], e15[W], g[W];
  double b[W], f[W], atol[W], t[W], need[W], R[W], R_err[W], ok[W];
  void set(int l, const NearOneTerms& p) {
    e[l] = p.e;
    kappa[l] = p.kappa;
    dK[l] = p.dK;
    ss[l] = p.ss;
    tol[l] = p.tol;
    e15[l] = p.e15;
    g[l] = p.g;
  }
};
template <int Width>
SIGPROP_VECTOR_CLONES inline void near_one_lanes(NearOneLanes<Width>& L) {
  constexpr int W = Width;
  double m0[W], x[W], b2[W], xk[W], h[W], hh[W];
  bool any = false;
  for (int l = 0; l < W; ++l) {
    L.need[l] = 1.0 - near_one_setup(L.e[l], L.kappa[l], L.dK[l], L.ss[l], L.w, L.tol[l], L.e15[l],
                                     L.g[l], L.b[l], x[l], L.f[l], L.atol[l], L.t[l], m0[l]);
    const double R2 = L.g[l] * x[l];
    L.R[l] = L.R_err[l] = R2;
    L.ok[l] = 1.0;
    b2[l] = 2.0 * L.b[l];
    xk[l] = 0.5 * L.kappa[l];
    h[l] = 0.5 * L.e[l];
    hh[l] = (0.5 * L.e[l]) * (0.5 * L.e[l]);
  }
  for (int l = 0; l < W; ++l) any = any || L.need[l] != 0.0;
  if (!any) return;
  // (the sums' state field by field, each an array over the pairs: as an array of
  // BoundaryLayerSum, the loops stayed scalar; two copies, each order reading one and
  // writing the other whole: a pair's fields kept by a selection into the other copy
  // where `live` is false, where a selection in place became masked stores
  // (vmaskmovpd), microcoded on AMD's cores: 12 of them an order, ~45 % of the lanes'
  // time)
  using piecewise::BoundaryLayerSum;
  struct States {
    double P[W], Pp[W], m0[W], m1[W], g[W], amp[W], sum[W], abs_sum[W], last[W], small[W];
    BoundaryLayerSum get(int l) const {
      return {P[l], Pp[l], m0[l], m1[l], g[l], amp[l], sum[l], abs_sum[l], last[l], small[l]};
    }
    // (o where live, else s's: a selection a field, no branch)
    void put(int l, const BoundaryLayerSum& o, const States& s, bool live) {
      P[l] = live ? o.P : s.P[l];
      Pp[l] = live ? o.Pp : s.Pp[l];
      m0[l] = live ? o.m0 : s.m0[l];
      m1[l] = live ? o.m1 : s.m1[l];
      g[l] = live ? o.g : s.g[l];
      amp[l] = live ? o.amp : s.amp[l];
      sum[l] = live ? o.sum : s.sum[l];
      abs_sum[l] = live ? o.abs_sum : s.abs_sum[l];
      last[l] = live ? o.last : s.last[l];
      small[l] = live ? o.small : s.small[l];
    }
  } two[2];
  int cur = 0;
  for (int l = 0; l < W; ++l) {
    BoundaryLayerSum o;
    o.first(1.0, b2[l], m0[l], true, L.atol[l]);
    o.small = L.need[l] != 0.0 ? o.small : 2.0;  // (a pair without a sum: done)
    two[0].put(l, o, two[0], true);
  }
  for (int n = 1; n <= BoundaryLayerSum::orders; ++n) {
    const States& s = two[cur];
    bool on = false;
    for (int l = 0; l < W; ++l) on = on || s.small[l] < 2.0;
    if (!on) break;
    States& next = two[cur ^ 1];
    for (int l = 0; l < W; ++l) {
      BoundaryLayerSum o;
      o.step(s.get(l), n, 1.0, xk[l], h[l], hh[l], b2[l], true, L.atol[l]);
      next.put(l, o, s, s.small[l] < 2.0);  // (not yet converged: this order counts)
    }
    cur ^= 1;
  }
  const States& st = two[cur];
  for (int l = 0; l < W; ++l) {
    const BoundaryLayerSum cur = st.get(l);
    double R, R_err;
    const bool conv = near_one_sum_R(cur, L.b[l], L.f[l], R, R_err);
    const bool need = L.need[l] != 0.0;
    L.R[l] = need ? R : L.R[l];
    L.R_err[l] = need ? R_err : L.R_err[l];
    L.ok[l] = need ? (conv && L.t[l] < 6.75 ? 1.0 : 0.0) : 1.0;
  }
}

// threshold_near_one_kernel of n <= 8 pairs (lo[l], hi[l], c[l]): v[l] and ok[l] (false
// where the form declines), the pairs past R's first bound side by side
// (near_one_lanes) where there are two or more; the numbers each pair gets alone.
SIGPROP_NOINLINE void threshold_near_one_kernels(const Activation& a,
                                                 const ThresholdInput* const* lo,
                                                 const ThresholdInput* const* hi, const double* c,
                                                 int n, double* v, bool* ok) {
  const bool soft = a.kind == Kind::soft_threshold;
  constexpr int W = NearOneLanes<8>::W;
  NearOneTerms p[W];
  int rest[W], n_rest = 0;
  for (int l = 0; l < n; ++l) {
    NearOneTerms& q = p[n_rest];
    const int s = q.at(*lo[l], *hi[l], c[l], soft);
    if (s == 2) {
      rest[n_rest++] = l;
    } else {
      ok[l] = s == 1 && q.finish(soft, q.g * hi[l]->G, q.g * hi[l]->G, v[l]);
    }
  }
  if (n_rest == 1) {
    ok[rest[0]] = threshold_near_one_rest(p[0], soft, v[rest[0]]);
  } else if (n_rest > 1) {
    auto run = [&](auto& L) {
      constexpr int LW = std::remove_reference_t<decltype(L)>::W;
      L.w = p[0].w;
      for (int r = 0; r < LW; ++r) L.set(r, p[r < n_rest ? r : 0]);  // (a copy)
      near_one_lanes(L);
      for (int r = 0; r < n_rest; ++r) {
        const int l = rest[r];
        ok[l] = L.ok[r] != 0.0 && p[r].finish(soft, L.R[r], L.R_err[r], v[l]);
      }
    };
    if (n_rest <= 4) {
      NearOneLanes<4> L;
      run(L);
    } else {
      NearOneLanes<8> L;
      run(L);
    }
  }
}

// One pair: threshold_near_one_kernels of one. False where the form declines.
inline bool threshold_near_one_kernel(const Activation& a, const ThresholdInput& lo,
                                      const ThresholdInput& hi, double c, double& v) {
  const ThresholdInput *pl = &lo, *ph = &hi;
  bool ok;
  threshold_near_one_kernels(a, &pl, &ph, &c, 1, &v, &ok);
  return ok;
}

// linear_floor (phi(x) = max(x, -a) = x + r(-x), r(y) = (y - a)_+ shifted_relu's phi with
// tau = a > 0) next to c = 1, q1 <= q2: by Stein's lemma E[u r(-v)] = Cov(u, v) E[-1{-v >
// a}] = -c s1 s2 Q(a / s2), and (-u, -v) has the law of (u, v), so that
//   E[phi(u) phi(v)] = c s1 s2 (1 - Q(a / s1) - Q(a / s2)) + E[r(u) r(v)],
//   E[phi'(u) phi'(v)] = 1 - Q(a / s1) - Q(a / s2) + P(u > a, v > a),
// the last terms shifted_relu's kernels from its Price forms (threshold_near_one_value,
// within 1e-13 of its scale, itself at most twice linear_floor's: E[r(-x)^2] <= E[x^2] <=
// 2 E[phi(x)^2]), every term >= 0 for c >= 0 (Q < 1/2): no cancellation. ~0.1-0.2 us a
// pair where the orthant forms took ~0.6 us (a deep ordered-phase kernel's pairs). False
// outside threshold_near_one_domain or where the forms decline.
inline bool linear_floor_near_one(const Activation& a, int d, double q1, double q2, double c,
                                  double& v) {
  if (a.kind != Kind::linear_floor || !(a.p0 > 0.0) || !(q1 > 0.0) || !(q2 >= q1) ||
      !std::isfinite(q2))
    return false;
  const Activation r{Kind::shifted_relu, a.p0, 0.0};
  if (!threshold_near_one_domain(r, d, q1, q2, c)) return false;
  const Moments m1 = moments(r, q1, false), m2 = q2 == q1 ? m1 : moments(r, q2, false);
  double t;
  if (!threshold_near_one_value(r, d, q1, q2, c, m1, m2, t)) return false;
  const double lin = 1.0 - m1.dphi_sq - m2.dphi_sq;  // (E[r'^2] = Q(a / s))
  v = d == 0 ? std::fmin(c, 1.0) * std::sqrt(q1) * std::sqrt(q2) * lin + t : lin + t;
  return std::isfinite(v);
}

// near_diagonal_pair: variances further apart, D_h(c) from its stored orders plus the
// tail pinned by h's anchors (difference_tail on its light mesh, 5-15 us), which
// certifies where q1 and q2 are close: the ordered phase's layers while the
// variances settle.
inline bool near_diagonal_pair(const Activation& a, const HermiteAt& x, const HermiteAt& y,
                               double c, double tol, double& v) {
  if (!(c >= NearDiagonalTable::c_min() && c < 1.0) || !x.full0 || !y.full0 || x.n != y.n)
    return false;
  double d1, d2;
  if (!table_diagonals(a, x.q, y.q, c, d1, d2)) return false;
  if (x.q == y.q) {
    v = d1;
    return true;
  }
  AnchoredTail th;
  double P;
  if (!difference_tail(x, y, c, 1.0, 1.0, th, &P, true) || !(0.5 * th.half <= tol)) return false;
  v = 0.5 * (d1 + d2 - (P + th.mid));
  return true;
}
}  // namespace detail

namespace detail {
// hard_tanh and linear_floor where the input of the smaller variance q1 stays in the
// region where phi(x) = x ((-a, a), (-a, inf)), up to a probability ~Q(k), k = a /
// sqrt(q1) >= 10.6: there E[phi(u) phi(v)] = E[u phi(v)] + E[(phi(u) - u) phi(v)], and
// by Stein's lemma E[u phi(v)] = Cov(u, v) E[phi'(v)] = c sqrt(q1 q2) P(v in the
// region), while |E[(phi(u) - u) phi(v)]| <= sqrt(E[(phi(u) - u)^2] E[phi(v)^2]) with
// E[(phi(u) - u)^2] = n q1 E[(Z - k)_+^2] <= n q1 2 npdf(k) / k^3 (n tails), below
// (tol / 2)^2 q1 E[phi(v)^2] <= (tol / 2)^2 (scale)^2 / (1 - 2 n Q(k)) once
// n 2 npdf(k) / k^3 <= tol^2 / 8; phi': E[phi'(v)] less E[(1 - phi'(u)) phi'(v)], in
// [0, n Q(k)]. Two error functions in place of the orthant forms (~1 us; 64 % of the
// points of the whole domain of q1, q2 in [1e-6, 1e4] have min(q1, q2) < 0.0123, where
// the shortcut holds for a = 1). False otherwise.
//
// linear_region_tanh (phi(x) = x on [-a, a] as hard_tanh's, |phi(x) - x| <= (|x| - a)_+
// beyond, since 0 <= tanh(t) <= t, and 0 < phi' <= 1 there: the same bounds) takes the
// same shortcut with E[phi'(v)] and E[phi'(v)^2] given (dmean, dsq: phi' = sech^2(|x| -
// a) beyond a has no closed-form smoothing; the caller reads E[phi'(v)] from the Hermite
// expansion at q2, b_0 = a_1 / sqrt(q2)).
// The number of tails of linear_region_pair's kinds' linear region (0: not one of them).
inline int linear_region_tails(Kind k) {
  return k == Kind::hard_tanh || k == Kind::linear_region_tanh ? 2
         : k == Kind::linear_floor                             ? 1
                                                               : 0;
}

inline bool linear_region_pair(const Activation& a, int d, double q1, double q2, double c,
                               double tol, double& v, double dmean = special::nan,
                               double dsq = special::nan) {
  using namespace special;
  const bool lrt = a.kind == Kind::linear_region_tanh;
  const int tails = linear_region_tails(a.kind);
  if (tails == 0 || !(a.p0 > 0.0) || !(q1 > 0.0) || !(q2 >= q1) || !std::isfinite(q2) ||
      !(std::fabs(c) <= 1.0))
    return false;
  const double k = a.p0 / std::sqrt(q1);
  if (!(k >= 10.6)) return false;
  const double tail = tails * 2.0 * npdf(k) / (k * k * k);
  if (!(tail <= 0.125 * tol * tol)) return false;
  // E[phi'(v)] and E[phi'(v)^2]: P(v in the region), |v| < a (hard_tanh), v > -a
  // (linear_floor); given for linear_region_tanh
  double in, in_sq;
  if (lrt) {
    if (!(dmean > 0.0) || !(dsq > 0.0)) return false;
    in = dmean;
    in_sq = dsq;
  } else {
    const double t = a.p0 / std::sqrt(q2);
    in = in_sq = tails == 2 ? std::erf(t * inv_sqrt2) : ncdf(t);
  }
  if (d == 0) {
    v = c * std::sqrt(q1) * std::sqrt(q2) * in;
  } else {
    // the midpoint of [in - n Q(k), in], its half width within tol of the scale
    // sqrt(E[phi'(u)^2] E[phi'(v)^2]) >= sqrt((1 - n Q(k)) E[phi'(v)^2])
    const double half = 0.5 * tails * nsf(k);
    if (!(half <= 0.5 * tol * std::sqrt(in_sq))) return false;
    v = in - half;
  }
  return std::isfinite(v);
}
}  // namespace detail

namespace detail {
// The dispatch of bivariate() below on a canonical activation, with the Hermite
// expansions at q1 and q2 given (x, y: as kernel_expansions leaves them, for a
// batch) or, where null, taken from the per-thread cache.
// E[phi^2] and E[phi'^2] at q (phi_sq, dphi_sq; the other fields unset): from the
// expansion h where it is at q (a batch's, which holds the same numbers: no table
// lookup a pair), else the one-point moments.
inline Moments batch_moments(const Activation& a, double q, const HermiteAt* h) {
  if (!(h && h->q == q)) return moments(a, q, false);
  Moments m;
  m.phi_sq = h->phi_sq;
  m.dphi_sq = h->dphi_sq;
  return m;
}

// phi at large variances (q1 <= q2): where an asymptotic form can serve, and the form.
//  * The linear tails (softplus, shifted_softplus, silu; q1 >= 1e3, c in [1/2, 1)):
//    linear_tail_asymptotic (linear_tail_pair.hpp, ~0.1 us), where the series would
//    try its anchored tails first (offdiagonal_series: ~10 us of quadrature a pair at
//    q ~ 1e6, and then declining): a kernel whose variances grow (softplus at sigma_w =
//    2, 100 inputs, depth 30: its layers at q ~ 1e6-1e8 24 -> 1.7 ms, 18 -> 0.9 ms; silu
//    25 -> 1.1 ms).
//  * elu and selu (q1 >= 1e5, |c| < 1): elu_large_variance (elu_large_variance.hpp,
//    ~0.1 us), where the closed forms' orthants lie in the far tails and take the tail
//    quadrature (elu at sigma_w = 2, sigma_b = 0.5, 100 inputs: its layers at q ~ 1e9-1e10
//    13-530 ms, 0.7 ms with the form).
// Each to a tenth of the tolerance the skeleton and closed forms after them are held to
// (principal_atol of the Cauchy-Schwarz scale, diagonal_atol at q1 = q2), from the
// moments m1, m2 at q1, q2. bivariate_dispatch tries them before the series, and a kernel
// layer's pairs that their lanes leave before the expansions are completed for the
// series' longer orders (grid.hpp, kernel_layer_tiles).
inline bool large_variance_domain(const Activation& a, double q1, double q2, double c) {
  if (!std::isfinite(q2)) return false;
  if (a.kind == Kind::softplus || a.kind == Kind::shifted_softplus || a.kind == Kind::silu)
    return c >= 0.5 && c < 1.0 && q1 >= 1e3;
  if (a.kind == Kind::elu || a.kind == Kind::selu) return std::fabs(c) < 1.0 && q1 >= 1e5;
  return false;
}
// The kind's form to absolute tolerance atol, wherever it is asked (the tests' diagnostic
// too: _core.large_variance_asymptotic); false for the other kinds.
inline bool large_variance_asymptotic(const Activation& a, double q1, double q2, double c,
                                      double atol, double& v) {
  if (a.kind == Kind::elu || a.kind == Kind::selu) {
    const EluConstants e = elu_constants(a);
    return detail::elu_large_variance(e.lam, e.alpha, q1, q2, c, atol, v);
  }
  return detail::linear_tail_asymptotic(a.kind, q1, q2, c, atol, v);
}
inline bool large_variance_form(const Activation& a, double q1, double q2, double c,
                                const Moments& m1, const Moments& m2, double& v) {
  const double atol = (q1 == q2 ? detail::diagonal_atol : detail::principal_atol) *
                      std::sqrt(m1.phi_sq) * std::sqrt(m2.phi_sq);
  return large_variance_asymptotic(a, q1, q2, c, 0.1 * atol, v);
}

inline double bivariate_dispatch(const Activation& a, int d, double q1, double q2, double c,
                                 HermiteAt* x, HermiteAt* y, bool* ok);

// softsign with both variances up to 1e-2 from c = 0.95, where the dispatch takes its power
// series on both sides first (softsign_small_variances)
inline bool softsign_series_first(const Activation& a, double q1, double q2, double c) {
  return a.kind == Kind::softsign && c >= 0.95 && c <= 1.0 && q1 > 0.0 && q2 <= 1e-2;
}

// A remainder table's node (remainder_table.hpp: elu's, selu's, softsign's and
// linear_region_tanh's tables), by the dispatch below with the tables off
inline double remainder_node(const Activation& a, int d, double q1, double q2, double c, bool* ok) {
  return bivariate_dispatch(a, d, q1, q2, c, nullptr, nullptr, ok);
}

inline double bivariate_dispatch(const Activation& a, int d, double q1, double q2, double c,
                                 HermiteAt* x, HermiteAt* y, bool* ok) {
  if (std::isnan(c) || std::isnan(q1) || std::isnan(q2)) return special::nan;
  if (q1 > q2) {  // symmetric in (q1, q2), bitwise
    std::swap(q1, q2);
    std::swap(x, y);
  }
  // Closed forms valid everywhere (relu family, erf, sin, gelu): first, without the
  // checks below.
  if (detail::has_kernel_closed_form(a.kind) && q1 > 0.0 && std::isfinite(q2)) {
    const double cc = std::fmin(1.0, std::fmax(-1.0, c));
    const double s1 = std::sqrt(q1), s2 = std::sqrt(q2), sc = std::sqrt((1.0 - cc) * (1.0 + cc));
    double v;
    if (detail::bivariate_closed_form(a, d, q1, q2, cc, s1, s2, sc, v)) return v;
  }
  {
    double v;
    if (detail::linear_region_pair(a, d, q1, q2, c, detail::piecewise_tol, v)) return v;
  }
  // c < 0 from |c| where phi = o + e, o odd, e even, has o linear or e constant: for
  // Gaussian (u, v), E[o(u) e(v)] = 0 and (u, v) -> (u, -v) flips the sign of E[o o], so
  // that E(-c) = E(c) - 2 E[o(u) o(v)](c) = 2 E[e(u) e(v)] - E(c):
  //   odd kinds (tanh, softsign, hard_tanh, soft_threshold, linear_region_tanh):
  //     phi: E(-c) = -E(c), phi' (even): E(-c) = E(c);
  //   sigmoid (1/2 + odd): phi: 1/2 - E(c), phi' (even): E(c);
  //   silu, softplus, shifted_softplus (x / 2 + even): phi: E(c) - c sqrt(q1 q2) / 2,
  //     phi' (1/2 + odd): 1/2 - E(c).
  // Exact identities, so that a c-map is exactly symmetric; and next to c = -1 the
  // forms of c = 1 serve (the series' anchors and the near-diagonal forms are built
  // for c -> 1: at c = -0.999, q = 100, 1-10 ms a point before).
  if (c < 0.0) {
    int sym = 0;  // 1: odd, 2: sigmoid, 3: x / 2 + even
    if (odd_builtin(a))
      sym = 1;
    else if (a.kind == Kind::sigmoid)
      sym = 2;
    else if (a.kind == Kind::silu || a.kind == Kind::softplus || a.kind == Kind::shifted_softplus)
      sym = 3;
    if (sym > 0) {
      const double ac = -c;
      const double v = bivariate_dispatch(a, d, q1, q2, ac, x, y, ok);
      if (sym == 1) return d == 0 ? -v : v;
      if (sym == 2) return d == 0 ? 0.5 - v : v;
      return d == 0 ? v - 0.5 * std::fmin(ac, 1.0) * std::sqrt(q1) * std::sqrt(q2) : 0.5 - v;
    }
  }
  // u = v (c = 1, clamped from above, at one variance): the one-point moments, tabulated
  // (a deep kernel's pairs once every input has the same variance and c has rounded to 1).
  // (from a batch's expansion, which holds the same moments: no table lookup a pair)
  if (c >= 1.0 && q1 == q2 && q1 > 0.0 && std::isfinite(q1)) {
    const Moments m = batch_moments(a, q1, x);
    return d == 0 ? m.phi_sq : m.dphi_sq;
  }
  // elu, selu, softsign and linear_region_tanh with fresh expansions (a single pair, not a
  // batch's) next to |c| = 1 (0.9 <= |c| < 1; softsign's and linear_region_tanh's c < 0
  // came from the symmetry above), the variances within e^0.1, q = sqrt(q1 q2) from 0.1
  // (elu, selu), 1e-3 (softsign) or 1 (linear_region_tanh) to 1e4: the remainder over the
  // skeleton's closed form from process-wide tables (remainder_table.hpp), their nodes by
  // this dispatch with the tables off, 0.3-0.5 us where the forms below took 3-10 us (elu,
  // selu) and 10-45 us (softsign, linear_region_tanh). Asked for the engine's class, 1e-12
  // of the scale (the tables' bounds: 1e-13 of their nodes plus 3x the worst check, 1-4e-13).
  // (softsign with both variances up to 1e-2 from c = 0.95: its power series first, below,
  // ~1-2.5 us and within 1e-16 of the scale where it serves)
  const bool engine_table =
      !(x && y) && engine_remainder_kind(a.kind) && !softsign_series_first(a, q1, q2, c);
  double v0;
  if (engine_table && detail::remainder_table_pair(a, d, q1, q2, c, detail::near_diagonal_tail_rtol,
                                                   v0, &remainder_node))
    return v0;
  // Piecewise linear / exponential kinds: closed forms (piecewise_closed_forms.hpp)
  // where their error estimate is below piecewise_tol of the Cauchy-Schwarz scale
  // (for shifted_relu's phi, of the result as well: its value can be 1e-70 of the
  // scale). The fast path only: where it needs the tail quadrature of
  // bivariate_normal.hpp (elu / selu at large q) the series comes first, and
  // bivariate_direct tries the closed form again with it before its quadrature.
  // For elu and selu the cached series is faster at fixed q (the c-map) and exact
  // where its bound holds: it goes first there; so it does for every kind where the
  // expansions are given (a batch: built once per input, a few dozen multiply-adds a
  // pair). Thresholds (shifted_relu, soft_threshold) two standard deviations out or
  // more: the orthant forms nearly always defer there (their terms cancel) while
  // Price's theorem over the orthant density (threshold_price) keeps full relative
  // accuracy: it goes first (after the series in a batch, whose entries need only
  // the accuracy of the scale, as every other kind's); nearer, it backs up the
  // orthant forms.
  const bool closed = piecewise::has_closed_form(a.kind) && std::fabs(c) < 1.0;
  // The piecewise linear kinds too, where |c| <= 0.95 (further out their series
  // rarely meets its bound and a fresh expansion would be wasted): their coefficients
  // are in closed form (hermite_table.hpp, KinkSeries), built lazily, and the series
  // beats the orthant forms (several bivariate normal CDFs) 5-10x on a c-map's
  // cached expansions. Not phi' with a single kink (shifted_relu, linear_floor): a
  // step, one orthant probability, cheaper than a fresh expansion.
  double kx[max_kinks];
  const bool pl_series =
      detail::piecewise_linear(a.kind) && std::fabs(c) <= 0.95 && !(d == 1 && kinks(a, kx) == 1);
  const bool elu_kind = a.kind == Kind::elu || a.kind == Kind::selu;
  const bool series_first = elu_kind || pl_series || (x && y);
  const bool far_threshold =
      (a.kind == Kind::shifted_relu || a.kind == Kind::soft_threshold) && a.p0 * a.p0 >= 4.0 * q2;
  double v;
  // elu's and selu's closed form: its orthants carried from its fast path into its pass
  // with the tail quadrature below (phi') or in bivariate_direct (phi)
  // (piecewise::OrthantMemo: the same numbers, Genz's rules once; whole domain, one
  // thread, those two passes took 11-42 us at |c| > 0.95 and large q, 3-6 us of it the
  // fast path's rules)
  piecewise::OrthantMemo memo;
  piecewise::OrthantMemo* const carried = elu_kind ? &memo : nullptr;
  auto closed_form = [&]() {
    return piecewise::bivariate(a, d, q1, q2, c, detail::piecewise_tol,
                                d == 0 && detail::one_signed(a, 0), v, false, carried) ||
           piecewise::threshold_price(a, d, q1, q2, c, v);
  };
  const bool batch = x && y;
  // Thresholds, before any other form; the moments from the batch's expansions or the
  // one-point path (~270 ns for these kinds), taken only where a form below reads them
  // or the underflow test below can hold: E[f^2] at q1 is at least its share on
  // k1 <= z <= k1 + 1, q1 npdf(k1 + 1) / 3 for phi, npdf(k1 + 1) for phi'
  // (k1 = tau / sqrt(q1)), which above 1e-290 excludes the underflow.
  const bool thresholds = (a.kind == Kind::shifted_relu || a.kind == Kind::soft_threshold) &&
                          a.p0 > 0.0 && q1 > 0.0 && std::isfinite(q2);
  const bool may_underflow =
      thresholds &&
      !((d == 0 ? q1 / 3.0 : 1.0) * special::npdf(a.p0 / std::sqrt(q1) + 1.0) > 1e-290);
  // threshold_pair_near_one can serve only where e kappa <= 4 (e = 1 - c; phi: kappa =
  // ((K + k) / 2)^2 with K = tau / sqrt(q1) >= k = tau / sqrt(q2), its cross form's
  // condition, which threshold_near_one's e K^2 <= 4 implies; phi': e K^2 <= 4): tested
  // here, before the moments (~0.3 us, and every random pair of a c >= 0.75 used to
  // take them for a form that then declined: 10 % of soft_threshold's time over the
  // whole domain). The same results: the form is tried wherever it could serve.
  const bool near_one = thresholds && threshold_near_one_domain(a, d, q1, q2, c);
  if (thresholds && ((batch && x->q == q1 && y->q == q2) || near_one || may_underflow)) {
    const Moments m1 = batch_moments(a, q1, x);
    const double p1 = m1.phi_sq, dp1 = m1.dphi_sq;
    // The smaller variance's threshold so far out (tau / sqrt(q1) >~ 38) that its
    // E[f^2] underflows to 0: by Cauchy-Schwarz |E[f(u) f(v)]| <= sqrt(E f(u)^2 E f(v)^2)
    // = 0 in double precision (48 % of the points of q1, q2 log-uniform in [1e-6, 1e4],
    // ~1 us each before).
    if ((d == 0 ? p1 : dp1) == 0.0) return 0.0;
    if (near_one &&
        threshold_near_one_value(a, d, q1, q2, c, m1, q2 == q1 ? m1 : batch_moments(a, q2, y), v))
      return v;
  }
  // linear_floor next to c = 1: x plus shifted_relu's phi at -x, its kernel by the
  // thresholds' forms (linear_floor_near_one)
  if (a.kind == Kind::linear_floor && c >= 0.75 && linear_floor_near_one(a, d, q1, q2, c, v))
    return v;
  // hard_tanh next to c = 1 (1 - c <= 1/4) at variances past 4 a^2 (thresholds within
  // half a standard deviation): Price's theorem from c = 1, each variance's diagonal
  // by threshold_near_one (~5-50 ns) and, for variances further apart than the
  // settled-pair bound allows, the cross form (threshold_cross_near_one), where the
  // closed forms cancel and diagonal_price took 30-100 us (an ordered-phase kernel at
  // sigma_b = 3-5 settles at q* ~ 10-26, every pair next to c = 1); within tol of the
  // scale (measured: 6e-14 of nested quadrature, where the closed forms, which keep
  // the smaller variances, reach 1e-14). From a^2 / 4 on past c = 0.95 too (thresholds
  // within 2 standard deviations; below 0.95 the series on a c-map's cached expansions
  // serves first, 8-14 % faster there): a kernel at sigma_w = 1, sigma_b = 0.5 settles
  // at q* ~ 0.69, its pairs at 1 - c ~ 1e-2 taking ~1 us of quadrature each (its layer
  // 10 of 100 inputs 4.2 -> 1.9 ms).
  if (hard_tanh_near_one_domain(a, q1, c) && std::isfinite(q2)) {
    const double cc = std::fmin(c, 1.0);
    const Moments m1 = batch_moments(a, q1, x), m2 = q2 == q1 ? m1 : batch_moments(a, q2, y);
    const double p1 = m1.phi_sq, dp1 = m1.dphi_sq, p2 = m2.phi_sq, dp2 = m2.dphi_sq;
    const double scale = d == 0 ? std::sqrt(p1) * std::sqrt(p2) : std::sqrt(dp1) * std::sqrt(dp2);
    double err;
    if (detail::threshold_pair_near_one(a, d, q1, q2, cc, p1, dp1, p2, dp2,
                                        detail::piecewise_tol * scale, v, err) &&
        err <= detail::piecewise_tol * scale)
      return v;
  }
  if (closed && far_threshold && !batch && piecewise::threshold_price(a, d, q1, q2, c, v)) return v;
  // hard_tanh's phi' next to c = 1 at variances past a^2 with the conditional width well
  // inside the window (sqrt(1 - c^2) <= a / (12 sqrt(q1)), 1 - c below ~3.5e-3:
  // near-diagonal pairs, where the orthant form cancels and took ~1.5 us to decline):
  // the window probability from its complement's sliver (hard_tanh_window_form) first,
  // 2-3.5 us in all where the two took 8-18 us. (Not at smaller variances, where the
  // window holds most of the density and the closed form serves in a fraction of that.)
  if (closed && d == 1 && a.kind == Kind::hard_tanh && q1 >= a.p0 * a.p0 &&
      detail::hard_tanh_window_sliver(a.p0, q1, q2, c)) {
    const Moments m1 = moments(a, q1, false), m2 = moments(a, q2, false);
    const double atol = 0.1 * detail::piecewise_tol * std::sqrt(m1.dphi_sq * m2.dphi_sq);
    if (detail::hard_tanh_window_form(a.p0, q1, q2, c, atol, v)) return v;
  }
  if (closed && !far_threshold && !series_first && closed_form()) return v;
  // A batch's pairs whose variances have all but settled, next to c = 1: the
  // near-diagonal table (settled_pair; for hard_tanh too, whose closed forms cost
  // 2-100 us there: orthant forms, Price's theorem on the diagonal).
  const bool nd_table = batch && d == 0 && kernel_uses_near_diagonal_table(a.kind);
  const double nd_scale = nd_table ? std::sqrt(x->phi_sq * y->phi_sq) : 0.0;
  if (nd_table && detail::settled_pair(a, *x, *y, c, detail::series_rtol * nd_scale, v)) return v;
  // elu's and selu's series forms (elu_small_variance.hpp): the exponential's Taylor
  // series on both sides (phi or phi'), or on the smaller variance's alone (one_side,
  // phi), to series_rtol of the scale from the moments at q1 and q2
  auto elu_series = [&](bool one_side) {
    const EluConstants e = elu_constants(a);
    const Moments m1 = batch_moments(a, q1, x), m2 = batch_moments(a, q2, y);
    const double n1 = std::sqrt(d == 0 ? m1.phi_sq : m1.dphi_sq);
    const double n2 = std::sqrt(d == 0 ? m2.phi_sq : m2.dphi_sq);
    const double atol = detail::series_rtol * n1 * n2;
    return one_side ? detail::elu_one_small_variance(e.lam, e.alpha, q1, q2, c, atol, n2, v)
                    : detail::elu_small_variance(d, e.lam, e.alpha, q1, q2, c, atol, n1, n2, v);
  };
  // ELU and SELU at two variances within elu_small_variance's reach (q2 <= 4) with fresh
  // expansions (a random pair) past |c| = 0.8, where the Mehler series is long (phi'
  // jumps at 0 for selu and elu with alpha != 1: phi's a_n^2 ~ n^(-5/2), some 300 orders
  // by |c| = 0.9; phi''s coefficients decay slower still): the series form first,
  // ~0.8-0.9 us a pair where the Mehler series took 1.2-3.8 us at |c| 0.8-0.95 and the
  // closed forms 2.5-2.9 us beyond. Only elu's phi at alpha = 1 (phi' continuous, a
  // shorter series) waits for |c| = 0.9. The Mehler series serves where the series form
  // declines (~1 pair in 10, next to q2 = 4; the closed forms after it take 15-30 us).
  const bool elu_first = elu_kind && !x && q1 != q2 && q1 > 0.0 && q2 <= 4.0 &&
                         std::fabs(c) <= 1.0 &&
                         std::fabs(c) > (d == 0 && a.kind == Kind::elu && a.p0 == 1.0 ? 0.9 : 0.8);
  if (elu_first && elu_series(false)) return v;
  // elu and selu at two variances with fresh expansions (random pairs, not a scan's
  // q1 = q2 nor a batch's), past |c| = 0.97 (phi) or 0.95 (phi'): not the series,
  // which there seldom certifies once every order is evaluated (~10-20 us), but the
  // forms below (whole domain, one thread: +10-18 %).
  const bool skip_series = elu_kind && !x && q1 != q2 && std::fabs(c) > (d == 0 ? 0.97 : 0.95);
  // softsign with both variances up to 1e-2 from c = 0.95 (c < 0 came from the symmetry
  // above): its power series on both sides against the orthant moments
  // (softsign_small_variances, small_variance.hpp), ~1-2.5 us where the Mehler series is
  // long (phi'' jumps at 0: 2-3 us at c = 0.95, 15-25 us from c = 0.99 with the forms
  // after it) and more accurate there (1e-16 against 1e-13 of the scale, next to the
  // diagonal at q ~ 3e-7). Where it declines (the series needs more than its 40 orders,
  // q2 past ~6e-3: a Gaussian input reaches beyond the radius 1), softsign's remainder
  // table (remainder_table.hpp, q from 1e-3) or the forms below serve.
  if (softsign_series_first(a, q1, q2, c)) {
    const Moments m1 = batch_moments(a, q1, x), m2 = batch_moments(a, q2, y);
    const double n1 = std::sqrt(d == 0 ? m1.phi_sq : m1.dphi_sq);
    const double n2 = std::sqrt(d == 0 ? m2.phi_sq : m2.dphi_sq);
    if (detail::softsign_small_variances(d, q1, q2, c, detail::series_rtol * n1 * n2, n1, n2, v))
      return v;
    // (where it declines, q2 past ~6e-3: the remainder table, as above)
    if (!(x && y) && detail::remainder_table_pair(a, d, q1, q2, c, detail::near_diagonal_tail_rtol,
                                                  v, &remainder_node))
      return v;
  }
  // phi at large variances: the linear tails' and elu's asymptotic forms first
  // (large_variance_form)
  const bool large_tried = d == 0 && detail::large_variance_domain(a, q1, q2, c);
  if (large_tried) {
    const Moments m1 = batch_moments(a, q1, x), m2 = batch_moments(a, q2, y);
    if (detail::large_variance_form(a, q1, q2, c, m1, m2, v)) return v;
  }
  // tanh, sigmoid, softplus, shifted_softplus and silu with fresh expansions (a single
  // pair, not a batch's) next to c = 1 at large variances (q = sqrt(q1 q2) from 10 for
  // tanh, 40 for sigmoid, 10^1.55 for the others, to 1e4; 1 - c in [1e-7, 0.1] and q (1 -
  // c) >= 0.02, the variances within e^0.1): the remainder over the skeleton's closed
  // form from process-wide tables (remainder_table.hpp), ~0.3 us where the Fourier forms
  // below took 8-13 us (tanh' ~3.5) and the Taylor series below ~1-1.5 us.
  // (remainder_table_pair tests the kind, c and the variances first, without a logarithm)
  if (!batch && detail::remainder_table_pair(a, d, q1, q2, c, detail::series_rtol, v, nullptr))
    return v;
  // tanh, sigmoid, softplus, shifted_softplus and silu with fresh expansions (a single
  // pair, not a batch's) next to c = 1, the variances within 10 % in scale, from q = 1
  // (tanh), 4 (sigmoid) or 10 (the others, whose series is ~1 us below): the Taylor
  // series in the covariance from c = 1 (covariance_taylor.hpp), 1-1.5 us where the
  // Mehler series' anchored tails took ~6 us (tanh at q ~ 1-10) and they or the Fourier
  // forms 10-50 us (q ~ 10-1e4); it declines before any integral where 1 - c is past
  // ~0.05 / q.
  if (!batch && covariance_taylor_kind(a.kind) && c >= 0.5 && c < 1.0 &&
      q1 >= covariance_taylor_q_min(a.kind) && q2 <= 1.21 * q1 && std::isfinite(q2)) {
    const Moments m1 = moments(a, q1, false), m2 = q2 == q1 ? m1 : moments(a, q2, false);
    const double scale = detail::pair_scale(d, m1, m2);
    if (detail::covariance_taylor_pair(a.kind, d, q1, q2, c, detail::series_rtol * scale, v))
      return v;
  }
  if (!skip_series && uses_hermite_table(a.kind) && std::fabs(c) < 1.0 && q1 > 0.0 && q2 > 0.0 &&
      std::isfinite(q1) && std::isfinite(q2)) {
    if (!x || !y) {
      thread_local detail::HermiteCache cache;
      x = cache.get(a, q1);
      y = q2 == q1 ? x : cache.get(a, q2, x);
    }
    // (a random pair, not a batch's: the remainder beyond n_max predicted from the
    // table before any order is evaluated, series_predicted_hopeless; whole domain, one
    // thread, phi', softsign +15 %, tanh +14 %, linear_region_tanh +20 %)
    if (hermite_bivariate(*x, *y, d, c, detail::series_rtol, v, !batch)) return v;
    // linear_region_tanh with the smaller variance's input inside [-a, a]: Stein's
    // lemma (linear_region_pair), E[phi'(v)] = b_0 = a_1 / sqrt(q2) from the expansion
    // (~1 us where the forms below took 0.4-0.8 ms: 0.0002 / 29, c -0.997)
    if (a.kind == Kind::linear_region_tanh && y->ok() && y->ensure(2) >= 2 &&
        detail::linear_region_pair(a, d, q1, q2, c, detail::piecewise_tol, v,
                                   y->a[1] / std::sqrt(q2), y->dphi_sq))
      return v;
    // softsign with the smaller variance below ~3e-3: conditioned on the other input,
    // the power series' pieces smoothed in closed form (softsign_small_variance, 5-10 us
    // against 0.1-0.3 ms of the forms below)
    if (a.kind == Kind::softsign && q1 <= 3e-3) {
      const double n1 = std::sqrt(d == 0 ? x->phi_sq : x->dphi_sq);
      const double n2 = std::sqrt(d == 0 ? y->phi_sq : y->dphi_sq);
      if (detail::softsign_small_variance(d, std::sqrt(q1), std::sqrt(q2), c,
                                          detail::series_rtol * n1 * n2, n2, v))
        return v;
    }
  }
  // ELU and SELU at variances up to ~3 where the series has failed (next to |c| = 1):
  // the exponential's Taylor series against the orthant moments (elu_small_variance.hpp),
  // phi and phi', ~0.5-1 us where the closed forms cancel (phi) and the nested quadrature
  // took 50-100 us.
  if (elu_kind && !elu_first && q1 > 0.0 && q2 <= 4.0 && std::fabs(c) <= 1.0 && elu_series(false))
    return v;
  if (closed && far_threshold && batch && piecewise::threshold_price(a, d, q1, q2, c, v)) return v;
  if (closed && !far_threshold && series_first && closed_form()) return v;
  // ELU and SELU with the smaller variance below 1/4 where the forms above failed (next
  // to |c| = 1, the larger variance past elu_small_variance's 4, or the closed form's
  // estimate short of its tolerance): the Taylor series on the small side alone
  // (elu_one_small_variance), ~5-15 us where the nested quadrature took 40-75 us.
  if (d == 0 && elu_kind && q1 <= 0.25 && std::isfinite(q2) && std::fabs(c) < 1.0 &&
      elu_series(true))
    return v;
  // ELU and SELU: the closed forms with the tail quadrature of bivariate_normal.hpp
  // (orthants deep in the tails, at large q), to the accuracy of the forms above
  // (relative to the Cauchy-Schwarz scale), before the nested quadrature:
  // bivariate_direct tries them again asking relative accuracy of the one-signed phi',
  // which next to |c| = 1 at large q they rarely meet (~60 us of quadrature there, ~16
  // us here).
  if (closed && d == 1 && elu_kind &&
      piecewise::bivariate(a, d, q1, q2, c, detail::piecewise_tol, false, v, true, carried))
    return v;
  // hard_tanh at large q1 q2, where its orthant form cancels: phi as a sign kernel plus
  // terms supported on |x| < a (hard_tanh_sign_form), used where q2 >= a^2 (t2 <= 1) and
  // q1 >= a^2 / 100 (below, the sign kernel's a^2 would cancel against a result of size
  // sqrt(q1 q2) instead); phi', the window probability as one integral of positive terms
  // (hard_tanh_window_form)
  if (closed && a.kind == Kind::hard_tanh &&
      (d == 1 || (q2 >= a.p0 * a.p0 && q1 >= 1e-2 * a.p0 * a.p0))) {
    const Moments m1 = moments(a, q1, false), m2 = moments(a, q2, false);
    const double scale =
        d == 0 ? std::sqrt(m1.phi_sq * m2.phi_sq) : std::sqrt(m1.dphi_sq * m2.dphi_sq);
    const double atol = 0.1 * detail::piecewise_tol * scale;
    if (d == 0 ? detail::hard_tanh_sign_form(a.p0, q1, q2, c, atol, v)
               : detail::hard_tanh_window_form(a.p0, q1, q2, c, atol, v))
      return v;
  }
  // phi's closed form cancels next to c = 1 on the diagonal: Price's theorem over
  // that of phi' (piecewise_closed_forms.hpp, diagonal_price).
  if (closed && d == 0 && q1 == q2 && c >= detail::diagonal_c_min &&
      piecewise::diagonal_price(a, q1, c, moments(a, q1, false).phi_sq, detail::piecewise_tol, v))
    return v;
  // A batch's pairs next to c = 1 that the series could not certify: the
  // near-diagonal table and the difference's series (near_diagonal_pair).
  if (nd_table && !piecewise::has_closed_form(a.kind) &&
      detail::near_diagonal_pair(a, *x, *y, c, detail::near_diagonal_tail_rtol * nd_scale, v))
    return v;
  // elu and selu from q = 1e3 next to |c| = 1, where every form above declined: their
  // closed forms' rounding estimate grows with the exponents' rounding (eps q / 2 of the
  // tilted orthants) past 1e-13 of the scale (selu from q ~ 5e3, elu from ~1e4), but not
  // past 1e-12, the engine's class (near_diagonal_tail_rtol): the closed form at that
  // tolerance, its orthants from the passes above (the memo), the fast path first (phi at
  // q 5e3-1e4: 3.5 us, 15 us with the tail quadrature), where the nested quadrature below
  // took ~100 us.
  if (closed && elu_kind && q1 >= 1e3 &&
      (piecewise::bivariate(a, d, q1, q2, c, detail::near_diagonal_tail_rtol,
                            d == 0 && detail::one_signed(a, 0), v, false, carried) ||
       piecewise::bivariate(a, d, q1, q2, c, detail::near_diagonal_tail_rtol,
                            d == 0 && detail::one_signed(a, 0), v, true, carried)))
    return v;
  // Time bound: past the tables (q > 1e14) the nested quadrature of an activation
  // without a closed-form Gaussian smoothing exhausts its piece budget (tens of
  // seconds for a NaN): report that at once.
  if (uses_hermite_table(a.kind) && !detail::has_closed_shifted_mean(a.kind) &&
      std::fmax(q1, q2) > HermiteTable::q_hi() && std::fabs(c) < 1.0 && std::fmin(q1, q2) > 0.0) {
    if (ok) *ok = false;
    return special::nan;
  }
  // On the diagonal next to c = 1, for kinds whose nested quadrature has no
  // closed-form inner expectation: the difference form (near_diagonal.hpp), 2-3x
  // faster there (with a closed-form inner expectation the nested quadrature is
  // 5-10x faster than it).
  // Off the diagonal next to |c| = 1, likewise: the principal-axes quadrature.
  if (uses_hermite_table(a.kind) && !detail::has_closed_shifted_mean(a.kind) && q1 > 0.0 &&
      q2 <= HermiteTable::q_hi() && std::fabs(c) >= detail::diagonal_c_min && std::fabs(c) < 1.0) {
    // tanh, sigmoid, softplus, shifted_softplus, silu, linear_region_tanh: sign or relu
    // plus a localised remainder (saturating_pair.hpp); softsign: the conditional form in
    // logarithmic coordinates (softsign_pair.hpp). 0.1-1 ms where they certify their
    // result, against 1-15 ms of the quadratures below (c > 0 here: c < 0 came from the
    // symmetry above).
    const bool skeleton = a.kind == Kind::tanh || a.kind == Kind::sigmoid ||
                          a.kind == Kind::softplus || a.kind == Kind::shifted_softplus ||
                          a.kind == Kind::silu || a.kind == Kind::linear_region_tanh;
    // A user's smooth phi (no kinks, either sign of c): the trapezoid rule on uniform
    // grids (trapezoid_pair.hpp), 0.2-3 ms (up to ~8 ms at narrow spreads, 1 - |c| <~
    // 1e-4) where the quadratures below take 4-7 ms (1-2 ms on the diagonal)
    const bool custom = a.kind == Kind::custom;
    if (((skeleton || a.kind == Kind::softsign) && c > 0.0) || custom) {
      const Moments m1 = moments(a, q1, false), m2 = q2 == q1 ? m1 : moments(a, q2, false);
      const double scale = detail::pair_scale(d, m1, m2);
      const double atol = (q1 == q2 ? detail::diagonal_atol : detail::principal_atol) * scale;
      double v;
      if (custom) {
        if (detail::trapezoid_pair(a, d, q1, q2, c, atol, v)) return v;
      } else {
        const double s1 = std::sqrt(std::fmin(q1, q2)), s2 = std::sqrt(std::fmax(q1, q2));
        // (softplus, shifted_softplus and silu from q = 20: relu's or the step's closed
        // form plus the remainder's in Fourier space, linear_tail_pair.hpp, 20-50 us
        // against 0.2-6 ms)
        // (not its asymptotic form again where the one above declined it: the same
        // bound on the same moments)
        if (linear_tail_pair(a.kind, d, q1, q2, c, atol, v, !large_tried)) return v;
        // (tanh and sigmoid likewise, sign's closed form plus the remainder's:
        // sign_tail_pair.hpp, 10-35 us)
        if (sign_tail_pair(a.kind, d, q1, q2, c, atol, v)) return v;
        const Moments& ms = q1 <= q2 ? m1 : m2;  // (the smaller variance's, s1's)
        const double norm1 = std::sqrt(d == 0 ? ms.phi_sq : ms.dphi_sq);
        if (skeleton ? saturating_pair(a, d, q1, q2, c, atol, v)
                     : softsign_conditional(d, s1, s2, c, atol, v, norm1))
          return v;
      }
    }
    if (q1 == q2 && c > 0.0) return diagonal_difference(a, d, q1, c, detail::diagonal_atol, ok);
    return principal_axes_quadrature(a, d, q1, q2, c, detail::principal_atol, ok);
  }
  // The conditional nested quadrature, its tolerances scaled by the tabled moments
  if (uses_moment_table(a.kind) && q1 > 0.0 && q2 > 0.0 && std::isfinite(q1) && std::isfinite(q2)) {
    const Moments m1 = moments(a, q1, false), m2 = q2 == q1 ? m1 : moments(a, q2, false);
    const double norms[2] = {std::sqrt(d == 0 ? m1.phi_sq : m1.dphi_sq),
                             std::sqrt(d == 0 ? m2.phi_sq : m2.dphi_sq)};
    // (the memo where bivariate_direct asks the closed form for the accuracy the fast
    // path above asked for: relative to the result or not alike)
    const bool same_ask = detail::one_signed(a, d) == (d == 0 && detail::one_signed(a, 0));
    if (std::isfinite(norms[0]) && std::isfinite(norms[1]))
      return bivariate_direct(a, d, q1, q2, c, ok, norms, same_ask ? carried : nullptr);
  }
  return bivariate_direct(a, d, q1, q2, c, ok);
}
}  // namespace detail

// E[phi^(d)(u) phi^(d)(v)], u = sqrt(q1) Z1, v = sqrt(q2)(c Z1 + sqrt(1-c^2) Z2),
// q1, q2 >= 0, c in [-1, 1] (clamped), d = 0 or 1. Accurate to ~1e-12 of
// sqrt(E f(u)^2 E f(v)^2) (f = phi^(d)) wherever the series applies, and to the
// quadrature's tolerance (atol_2d) elsewhere; *ok (if given) is set false where
// the quadrature ended short of it.
inline double bivariate(const Activation& act, int d, double q1, double q2, double c,
                        bool* ok = nullptr) {
  return detail::bivariate_dispatch(canonical(act), d, q1, q2, c, nullptr, nullptr, ok);
}

}  // namespace sigprop
