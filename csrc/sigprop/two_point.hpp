// Two-point Gaussian expectations E[phi^(d)(u) phi^(d)(v)], the one entry point
// that the maps, fixed points, scans and NNGP kernels use:
//   1. closed forms (linear, relu, leaky_relu, erf, sin, gelu everywhere; hard_tanh,
//      shifted_relu, soft_threshold, linear_floor, elu, selu where their error
//      estimate allows, and for the thresholds far out Price's theorem over the
//      orthant density, piecewise_closed_forms.hpp), and c = +-1 or a zero variance,
//      where the expectation is one-dimensional (expectation.hpp);
//   2. the Mehler series (hermite_series.hpp) of the tabulated Hermite coefficients
//      (hermite_table.hpp) wherever its rigorous truncation bound is below
//      series_rtol of the Cauchy-Schwarz scale sqrt(E f(u)^2 E f(v)^2);
//   3. where the bound fails (next to |c| = 1 for slowly decaying coefficients:
//      kinks of phi', large q): on the diagonal q1 = q2 with c >= 1/2, for kinds
//      without a closed-form Gaussian smoothing, the difference form
//      E[f^2] - E[(f(u) - f(v))^2] / 2 (near_diagonal.hpp), off it with |c| >= 1/2
//      the nested quadrature in the covariance's principal axes (same file), else
//      the conditional nested quadrature (bivariate_direct).
#pragma once

#include <cmath>
#include <utility>

#include "activation.hpp"
#include "canonical.hpp"
#include "expectation.hpp"
#include "hermite_series.hpp"
#include "hermite_table.hpp"
#include "near_diagonal.hpp"
#include "near_diagonal_table.hpp"
#include "special.hpp"

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
inline bool settled_pair(const Activation& a, const HermiteAt& x, const HermiteAt& y,
                         double c, double tol, double& v) {
  if (!(c >= NearDiagonalTable::c_min() && c < 1.0)) return false;
  const double L = lipschitz_bound(a.kind);
  const double s1q = std::sqrt(x.q), s2q = std::sqrt(y.q);
  // (each square root within half an ulp: the difference within 2 ulps of the larger)
  const double ds =
      std::fabs(s1q - s2q) + 4.0 * std::numeric_limits<double>::epsilon() * std::fmax(s1q, s2q);
  const double B = x.q == y.q ? 0.0 : L * L * ds * ds;
  if (!(L > 0.0) || !(0.25 * B <= tol)) return false;
  double d1, d2;
  if (!table_diagonals(a, x.q, y.q, c, d1, d2)) return false;
  v = x.q == y.q ? d1 : 0.5 * (d1 + d2) - 0.25 * B;
  return true;
}

// near_diagonal_pair: variances further apart, D_h(c) from its stored orders plus the
// tail pinned by h's anchors (difference_tail, ~20 us), which certifies where q1 and
// q2 are close: the ordered phase's layers while the variances settle.
inline bool near_diagonal_pair(const Activation& a, const HermiteAt& x, const HermiteAt& y,
                               double c, double tol, double& v) {
  if (!(c >= NearDiagonalTable::c_min() && c < 1.0) || !x.full || !y.full || x.n != y.n)
    return false;
  double d1, d2;
  if (!table_diagonals(a, x.q, y.q, c, d1, d2)) return false;
  if (x.q == y.q) {
    v = d1;
    return true;
  }
  AnchoredTail th;
  double P;
  if (!difference_tail(x, y, c, 1.0, 1.0, th, &P) || !(0.5 * th.half <= tol)) return false;
  v = 0.5 * (d1 + d2 - (P + th.mid));
  return true;
}
}  // namespace detail

namespace detail {
// The dispatch of bivariate() below on a canonical activation, with the Hermite
// expansions at q1 and q2 given (x, y: as kernel_expansions leaves them, for a
// batch) or, where null, taken from the per-thread cache.
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
  // u = v (c = 1, clamped from above, at one variance): the one-point moments, tabulated
  // (a deep kernel's pairs once every input has the same variance and c has rounded to 1).
  if (c >= 1.0 && q1 == q2 && q1 > 0.0 && std::isfinite(q1)) {
    // (from a batch's expansion, which holds the same moments: no table lookup a pair)
    if (x && x->q == q1 && std::isfinite(x->phi_sq) && std::isfinite(x->dphi_sq))
      return d == 0 ? x->phi_sq : x->dphi_sq;
    const Moments m = moments(a, q1, false);
    return d == 0 ? m.phi_sq : m.dphi_sq;
  }
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
  const bool pl_series = detail::piecewise_linear(a.kind) && std::fabs(c) <= 0.95 &&
                         !(d == 1 && kinks(a, kx) == 1);
  const bool series_first =
      a.kind == Kind::elu || a.kind == Kind::selu || pl_series || (x && y);
  const bool far_threshold =
      (a.kind == Kind::shifted_relu || a.kind == Kind::soft_threshold) && a.p0 * a.p0 >= 4.0 * q2;
  double v;
  auto closed_form = [&]() {
    return piecewise::bivariate(a, d, q1, q2, c, detail::piecewise_tol,
                                d == 0 && detail::one_signed(a, 0), v, false) ||
           piecewise::threshold_price(a, d, q1, q2, c, v);
  };
  const bool batch = x && y;
  if (closed && far_threshold && !batch && piecewise::threshold_price(a, d, q1, q2, c, v))
    return v;
  if (closed && !far_threshold && !series_first && closed_form()) return v;
  // A batch's pairs whose variances have all but settled, next to c = 1: the
  // near-diagonal table (settled_pair; for hard_tanh too, whose closed forms cost
  // 2-100 us there: orthant forms, Price's theorem on the diagonal).
  const bool nd_table = batch && d == 0 && kernel_uses_near_diagonal_table(a.kind);
  const double nd_tol = nd_table ? detail::series_rtol * std::sqrt(x->phi_sq * y->phi_sq) : 0.0;
  if (nd_table && detail::settled_pair(a, *x, *y, c, nd_tol, v)) return v;
  if (uses_hermite_table(a.kind) && std::fabs(c) < 1.0 && q1 > 0.0 && q2 > 0.0 &&
      std::isfinite(q1) && std::isfinite(q2)) {
    if (!x || !y) {
      thread_local detail::HermiteCache cache;
      x = cache.get(a, q1);
      y = q2 == q1 ? x : cache.get(a, q2, x);
    }
    if (hermite_bivariate(*x, *y, d, c, detail::series_rtol, v)) return v;
  }
  if (closed && far_threshold && batch && piecewise::threshold_price(a, d, q1, q2, c, v))
    return v;
  if (closed && !far_threshold && series_first && closed_form()) return v;
  // hard_tanh at large q1 q2, where its orthant form cancels: the same expectation
  // written as a sign kernel plus terms supported on |x| < a (hard_tanh_sign_form).
  // Used where q2 >= a^2 (t2 <= 1) and q1 >= a^2 / 100: below, the sign kernel's a^2
  // would cancel against a result of size sqrt(q1 q2) instead.
  if (closed && d == 0 && a.kind == Kind::hard_tanh && q2 >= a.p0 * a.p0 &&
      q1 >= 1e-2 * a.p0 * a.p0) {
    const double scale = std::sqrt(moments(a, q1, false).phi_sq * moments(a, q2, false).phi_sq);
    if (detail::hard_tanh_sign_form(a.p0, q1, q2, c, 0.1 * detail::piecewise_tol * scale, v))
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
      detail::near_diagonal_pair(a, *x, *y, c, nd_tol, v))
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
      q2 <= HermiteTable::q_hi() && std::fabs(c) >= detail::diagonal_c_min &&
      std::fabs(c) < 1.0) {
    if (q1 == q2 && c > 0.0) return diagonal_difference(a, d, q1, c, detail::diagonal_atol, ok);
    return principal_axes_quadrature(a, d, q1, q2, c, detail::principal_atol, ok);
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
