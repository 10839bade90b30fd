// Fixed points of the variance map V(q) = sb2 + sw2 E[phi(sqrt(q) Z)^2] and of
// the correlation map, with the derived quantities of mean-field theory.
//
// The default fixed point is the limit of q^l when the iteration starts from
// q^1 -> 0+: the minimal fixed point of V (Hayou, Doucet & Rousseau 2018, "On the
// Selection of Initialization and Activation Function for Deep Neural Networks",
// arXiv:1805.08266, the remark after Definition 1), except that q = 0 is
// skipped when it is a repelling fixed point (sigma_b = 0, phi(0) = 0,
// V'(0) > 1), where every input with q^1 > 0 moves away from it. Optionally the
// limit from a given q0 > 0 is found instead (the nearest fixed point in the
// direction the iteration moves).
//
// Method: from the current point p (h(p) = V(p) - p has a known sign), try
// the Newton step and the plain iteration step; a step that keeps the sign of h
// moves p, a step that flips it gives a bracket that Brent's method finishes.
// No root can be skipped by the iteration step while V is increasing; Newton
// steps that cross a root are caught by the sign test. Status:
//   converged     q is a fixed point (its stability is in the slope V'(q))
//   diverging     q^l -> infinity (no fixed point in the direction of motion)
//   marginal      every q is fixed (relu-like phi at sigma_w^2 E[phi'^2] = 1, sigma_b = 0)
//   not_converged the iteration budget ran out; q is NaN
//   c_not_converged (analyse only) q* converged but c* was not found: c*, chi_c, xi_c NaN
#pragma once

#include <cmath>
#include <limits>

#include "activation.hpp"
#include "canonical.hpp"
#include "hermite_series.hpp"
#include "hermite_table.hpp"
#include "maps.hpp"
#include "moment_table.hpp"
#include "near_diagonal_table.hpp"
#include "piecewise_closed_forms.hpp"
#include "root_finding.hpp"
#include "special.hpp"
#include "two_point.hpp"

namespace sigprop {

enum class Status : int {
  converged = 0,
  diverging = 1,
  marginal = 2,
  not_converged = 3,
  c_not_converged = 4,  // q* converged, but the correlation fixed point c* was not found
};

struct FixedPoint {
  double q = special::nan;
  Status status = Status::not_converged;
  int iterations = 0;
};

namespace detail {

// q beyond this counts as q -> infinity: there V(q) - q of a linearly
// diverging map (e.g. elu at sigma_w^2 = 2) is no longer above the rounding
// noise of V, so a finite fixed point cannot be told from divergence.
inline constexpr double q_diverged = 1e12;
inline constexpr int max_fp_iter = 2000;

// The candidate step from p, where V(p) = v, h(p) = v - p = hp has the sign dir
// and V'(p) = slope, in the direction of motion: the plain iteration step, or a
// longer one where it is safe.
inline double candidate_step(const Activation& a, double sw2, double p, double v, double hp,
                             double slope, int dir) {
  double x = v;  // plain iteration
  if (slope < 1.0) {
    // Newton; upward at most 16 times the iteration step, so that a slope within
    // rounding of 1 (tanh at sigma_w = 1 - 1e-16, q = 0) cannot throw it to 1e12.
    const double xn = p + hp / (1.0 - slope);
    if ((xn - x) * dir > 0.0) x = dir > 0 ? std::fmin(xn, 16.0 * x) : xn;
    if (x > detail::q_diverged && v <= detail::q_diverged) x = v;
  } else if (dir > 0) {
    // V' >= 1 below the root: a geometric jump, kept only if V stays
    // steeper there (no room for a pair of roots in between).
    const double xj = 2.0 * p + hp;
    const Moments mj = moments(a, xj, false);
    if (sw2 * mj.dV >= slope && (xj - x) > 0.0) x = xj;
  }
  return x;
}

// A root of h in the bracket [lo, hi] (h(lo) = hlo and h(hi) = hhi of opposite
// signs), by Brent's method; its evaluations count as iterations.
template <class H>
inline void finish_in_bracket(H& h, double lo, double hi, double hlo, double hhi,
                              FixedPoint& out) {
  int ev = 0;
  out.q = detail::brent(h, lo, hi, hlo, hhi, 1e-15, 0.0, 200, &ev);
  out.iterations += ev;
  out.status = Status::converged;
}

// Slow upward progress (q growing sub-geometrically, e.g. a linear
// divergence): try x = 4p, sampling h at p 4^(k/4) so that a root in
// between is bracketed rather than jumped over (a root pair narrower
// than a factor 4^(1/4) between two samples is the only thing missed).
// The bracket starts at p, where the sign of h (hp > 0) is known (the candidate
// x is unchecked and may lie past the root). Returns true when out is the
// result; otherwise p moves to the last sample.
template <class H>
inline bool climb(H& h, double& p, double hp, FixedPoint& out) {
  double prev = p, hprev = hp;
  for (int k = 1; k <= 4; ++k) {
    const double xs = p * std::pow(4.0, 0.25 * k);
    if (xs <= prev) continue;
    const double hs = h(xs);
    ++out.iterations;
    if (std::isnan(hs)) {
      out.q = special::nan;
      out.status = Status::not_converged;
      return true;
    }
    if (hs <= 0.0) {
      if (hs == 0.0) {
        out.q = xs;
        out.status = Status::converged;
        return true;
      }
      finish_in_bracket(h, prev, xs, hprev, hs, out);
      return true;
    }
    prev = xs;
    hprev = hs;
  }
  p = prev;
  if (p > detail::q_diverged) {
    out.q = special::inf;
    out.status = Status::diverging;
    return true;
  }
  return false;
}

// V(q) = sb2 + lam q for a positively homogeneous phi: the fixed point in closed form.
inline FixedPoint homogeneous_fixed_point(const Activation& a, double sw2, double sb2,
                                          double q0) {
  FixedPoint out;
  const double lam = sw2 * moments(a, 1.0).phi_sq;  // V(q) = sb2 + lam q
  out.iterations = 0;
  // lam within 8 ulps of 1 counts as 1, so that sigma_w = sqrt(2) for relu
  // (whose square rounds to 2 + 4e-16) is the critical point it stands for.
  const bool critical = std::fabs(lam - 1.0) <= 8.0 * std::numeric_limits<double>::epsilon();
  if (critical && sb2 == 0.0) {
    out.q = q0 >= 0.0 ? q0 : special::nan;
    out.status = Status::marginal;
  } else if (critical) {
    out.q = special::inf;
    out.status = Status::diverging;
  } else if (lam < 1.0) {
    out.q = sb2 / (1.0 - lam);
    out.status = Status::converged;
  } else if (sb2 == 0.0 && q0 == 0.0) {
    out.q = 0.0;  // q^l = 0 forever, but the fixed point repels
    out.status = Status::converged;
  } else {
    out.q = special::inf;
    out.status = Status::diverging;
  }
  return out;
}

}  // namespace detail

// Move from p (with h(p) of sign dir, dir = +1 upward, -1 downward) to the
// nearest fixed point in that direction.
inline FixedPoint fixed_point_search(const Activation& a, double sw2, double sb2, double p,
                                     int dir) {
  FixedPoint out;
  auto h = [&](double q) { return qmap(a, q, sw2, sb2) - q; };
  auto result = [&](double q, Status status) {
    out.q = q;
    out.status = status;
    return out;
  };
  Moments next;  // moments at the new p, when the last step computed them
  bool have_next = false;
  for (int it = 0; it < detail::max_fp_iter; ++it) {
    out.iterations = it + 1;
    const Moments m = have_next ? next : moments(a, p, false);
    have_next = false;
    const double v = sb2 + sw2 * m.phi_sq, slope = sw2 * m.dV;
    const double hp = v - p;
    if (!std::isfinite(v)) return result(special::nan, Status::not_converged);
    if (hp == 0.0 || std::fabs(hp) <= 1e-15 * std::fabs(p)) return result(p, Status::converged);
    // Should not happen (the caller guarantees the sign); be honest.
    if ((hp > 0.0) != (dir > 0)) return result(special::nan, Status::not_converged);
    // Candidate steps in the direction of motion.
    double x = detail::candidate_step(a, sw2, p, v, hp, slope, dir);
    if (dir > 0 && it >= 20 && x < 2.0 * p && p > 0.0) {
      if (detail::climb(h, p, hp, out)) return out;
      continue;
    }
    if (dir < 0 && x < 0.0) x = 0.0;
    if (dir > 0 && x > detail::q_diverged) return result(special::inf, Status::diverging);
    const Moments mx = moments(a, x, false);
    const double hx = (sb2 + sw2 * mx.phi_sq) - x;
    if (hx == 0.0) return result(x, Status::converged);
    if ((hx > 0.0) == (dir > 0)) {
      if (std::fabs(x - p) <= 4e-16 * std::fabs(p)) return result(x, Status::converged);
      p = x;
      next = mx;
      have_next = true;
      continue;
    }
    // Bracketed: finish with Brent.
    const double lo = std::fmin(p, x), hi = std::fmax(p, x);
    const double flo = lo == p ? hp : hx, fhi = hi == p ? hp : hx;
    detail::finish_in_bracket(h, lo, hi, flo, fhi, out);
    return out;
  }
  return result(special::nan, Status::not_converged);
}

// The limiting variance q* for (sw2, sb2): from 0+ by default (q0 < 0), from q0 otherwise.
inline FixedPoint fixed_point(const Activation& act, double sw2, double sb2, double q0 = -1.0) {
  const Activation a = canonical(act);
  if (is_homogeneous(a)) return detail::homogeneous_fixed_point(a, sw2, sb2, q0);
  FixedPoint out;
  if (q0 < 0.0) {
    const Moments m0 = moments(a, 0.0);
    const double v0 = sb2 + sw2 * m0.phi_sq;
    if (v0 > 0.0) return fixed_point_search(a, sw2, sb2, 0.0, +1);
    // q = 0 is a fixed point.
    if (sw2 * m0.dV <= 1.0) {
      out.q = 0.0;
      out.status = Status::converged;
      return out;
    }
    // Repelling: start just above it, move towards the first positive root.
    q0 = 1e-8;
  }
  const double h0 = qmap(a, q0, sw2, sb2) - q0;
  if (h0 == 0.0) {
    out.q = q0;
    out.status = Status::converged;
    return out;
  }
  return fixed_point_search(a, sw2, sb2, q0, h0 > 0.0 ? +1 : -1);
}

namespace detail {

// Accuracy of chi_c = f'(c*) from the diagonal series, relative to sw2 E[phi'^2]
// where the series alone falls short next to c = 1 (see diagonal_series).
inline constexpr double slope_rtol = 1e-10;

// f(c) and f'(c) of the correlation map at common variance q: next to c = 1 from
// the near-diagonal table for the kinds that have one (near_diagonal_table.hpp;
// only here, not in bivariate()), else from the Mehler series of the Hermite table
// where its truncation bound allows, else by the bivariate quadrature (cmap,
// cmap_slope).
class CorrelationMap {
 public:
  CorrelationMap(const Activation& a, double q, double sw2, double sb2)
      : a_(a), q_(q), sw2_(sw2), sb2_(sb2), series_(uses_hermite_table(canonical(a).kind)) {
    // The rule (~1 ms, where the table's segment is marked) pays for itself over the
    // quadratures of a cell's c*, but not for the kinds with closed forms
    // (piecewise_closed_forms.hpp), whose evaluations cost microseconds.
    if (series_) hs_.set(canonical(a), q, !piecewise::has_closed_form(canonical(a).kind));
  }

  // f(c) and f'(c); returns false when the quadrature had to be used for f. Where
  // f' does not reach its tolerance from the series and df_exact is given, f' is
  // the midpoint of the diagonal series' bounds (~1e-11 for tanh, ~1e-4 for kinked
  // phi'': a Newton slope, not a result) and *df_exact is set false; slope() then
  // gives the exact value.
  bool operator()(double c, double& f, double& df, bool* df_exact = nullptr) {
    double e, de;
    if (df_exact) *df_exact = true;
    if (near(c)) {
      f = (sb2_ + sw2_ * near_.eval(0, c)) / q_;
      df = sw2_ * near_.eval(1, c);
      // hard_tanh's table slope (1e-11) steers Newton; chi_c comes from its closed
      // form (slope()).
      if (df_exact && closed_) *df_exact = false;
      return true;
    }
    const bool fast = series_ && hermite_bivariate(hs_, hs_, 0, c, series_rtol, e);
    f = fast ? (sb2_ + sw2_ * e) / q_ : cmap(a_, c, q_, sw2_, sb2_);
    if (fast && hermite_bivariate(hs_, hs_, 1, c, series_rtol, de)) {
      df = sw2_ * de;
    } else if (df_exact && series_ && diagonal_series(hs_, 1, c, special::inf, de)) {
      df = sw2_ * de;  // a Newton slope only: the midpoint of the diagonal bounds
      *df_exact = false;
    } else {
      df = cmap_slope(a_, c, q_, sw2_);
    }
    return fast;
  }

  // f'(c) = chi_c: the series where it reaches its tolerance; else, next to c = 1,
  // the diagonal series where its bounds are within slope_rtol of sw2 E[phi'^2]
  // (tanh next to the Edge of Chaos: ~1e-11); else the quadrature (milliseconds).
  // Kinds with closed forms (piecewise_closed_forms.hpp) skip the diagonal bounds:
  // the closed form is exact.
  double slope(double c) {
    double de;
    if (!closed_ && near(c)) return sw2_ * near_.eval(1, c);
    if (series_ && (hermite_bivariate(hs_, hs_, 1, c, series_rtol, de) ||
                    (!piecewise::has_closed_form(canonical(a_).kind) &&
                     diagonal_series(hs_, 1, c, slope_rtol * hs_.dphi_sq, de))))
      return sw2_ * de;
    return cmap_slope(a_, c, q_, sw2_);
  }

 private:
  // Next to c = 1, for the kinds of near_diagonal_table.hpp: the table's slice at
  // q, fetched on first need (cells in the ordered phase never need it).
  bool near(double c) {
    if (!(c >= NearDiagonalTable::c_min() && c <= 1.0) || near_state_ < 0) return false;
    if (near_state_ == 0) {
      const Activation ca = canonical(a_);
      near_state_ = -1;
      if (uses_near_diagonal_table(ca.kind)) {
        near_ = detail::near_diagonal_slice(ca, q_);
        if (near_.ok) near_state_ = 1;
      }
    }
    return near_state_ > 0;
  }

  const Activation& a_;
  double q_, sw2_, sb2_;
  bool series_;
  // The calling thread's expansion, reused from cell to cell: set() resets it, and
  // its buffers (5 x 513 doubles) are not allocated and zeroed again every cell.
  static HermiteAt& pooled() {
    thread_local HermiteAt h;
    return h;
  }
  HermiteAt& hs_ = pooled();
  int near_state_ = 0;  // 0: not fetched; 1: near_ holds the slice; -1: none
  bool closed_ = piecewise::has_closed_form(canonical(a_).kind);
  NearDiagonalTable::Slice near_;
};

// The start next to c = 1 that correlation_fixed_point jumps to from c (see
// there): the root g of the quadratic model, or one Newton step from g where g
// lies right of c*; c itself where the model does not apply.
inline double quadratic_model_step(const Activation& a, CorrelationMap& fmap, double c, double q,
                                   double sw2, double chi1_value) {
  const double f2 = sw2 * q * moments(a, q).d2phi_sq;
  const double g = 1.0 - 2.0 * (chi1_value - 1.0) / f2;
  if (std::isfinite(f2) && f2 > 0.0 && g > c && g < 1.0) {
    double fg, dfg;
    bool exact;
    fmap(g, fg, dfg, &exact);  // the slope only steers the step
    const double hg = fg - g;
    if (dfg < 1.0) return hg > 0.0 ? g : g + hg / (1.0 - dfg);
  }
  return c;
}

}  // namespace detail

// The stable fixed point c* of the correlation map at common variance q > 0,
// and chi_c = f'(c*). In the ordered phase (chi1 <= 1) c* = 1 and chi_c = chi1.
// In the chaotic phase f is convex on [0, 1] with f(1) = 1 and f'(1) > 1, so
// Newton's method from c = 0 increases monotonically to the unique c* in [0, 1).
struct CorrelationFixedPoint {
  double c = special::nan;
  double chi_c = special::nan;
  bool ok = false;
};

//
// With dropout (keep probability rho < 1, masks independent across inputs:
// Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017, "Deep information
// propagation", section 5) q is the fixed point of sb2 + (sw2 / rho) E[phi^2],
// while the off-diagonal map keeps sw2, so f(1) = 1 - (1/rho - 1) sw2 E[phi^2] / q
// < 1: c = 1 is no longer fixed and the unique root of the convex f(c) - c on
// [0, 1) is found by the same monotone Newton iteration, in either phase.
inline CorrelationFixedPoint correlation_fixed_point(const Activation& a, double q, double sw2,
                                                     double sb2, double chi1_value,
                                                     bool dropout = false) {
  CorrelationFixedPoint out;
  if (!(q > 0.0) || !std::isfinite(q)) return out;
  if (chi1_value <= 1.0 && !dropout) {
    out.c = 1.0;
    out.chi_c = chi1_value;
    out.ok = true;
    return out;
  }
  detail::CorrelationMap fmap(a, q, sw2, sb2);
  bool jumped = false;
  double c = 0.0;
  int back = 0;
  for (int it = 0; it < 200; ++it) {
    double f, df;
    bool df_exact;
    const bool fast = fmap(c, f, df, &df_exact);
    const double hc = f - c;
    if (df >= 1.0 || (hc <= 0.0 && (df_exact || hc >= -1e-14))) {
      // At (or numerically past) the root.
      out.c = c;
      out.chi_c = df_exact ? df : fmap.slope(c);
      out.ok = hc <= 1e-14 && out.chi_c < 1.0;
      return out;
    }
    if (hc < 0.0) {
      // Past the root: an approximate slope overshot. Step back (from the right,
      // Newton on the convex f lands on the left of c*, up to the slope's error).
      const double cb = c + hc / (1.0 - df);
      if (!(cb < c) || ++back > 16) {
        out.c = c;
        out.chi_c = fmap.slope(c);
        out.ok = false;
        return out;
      }
      c = cb;
      continue;
    }
    if (!fast && !jumped && !dropout) {
      // The root lies next to c = 1, where each evaluation is a quadrature: jump
      // to the root of the quadratic model f(1 - e) = 1 - chi1 e + f''(1) e^2 / 2,
      // f''(1) = sw2 q E[phi''^2] (Price), when phi'' is square integrable. On
      // the left of c* Newton goes on from there; on its right one Newton step
      // lands on the left (f is convex), so the iteration stays monotone.
      jumped = true;
      const double cg = detail::quadratic_model_step(a, fmap, c, q, sw2, chi1_value);
      if (cg > c) {
        c = cg;
        continue;
      }
    }
    const double cn = c + hc / (1.0 - df);
    if (!(cn > c) || cn >= 1.0 || cn - c <= 1e-16) {
      out.c = std::fmin(cn, c + hc);
      out.chi_c = fmap.slope(out.c);
      out.ok = out.chi_c < 1.0;
      return out;
    }
    c = cn;
  }
  return out;
}

// Everything mean-field theory says about one (activation, sigma_w, sigma_b).
struct FixedPointInfo {
  double q = special::nan;     // q*
  Status status = Status::not_converged;
  int iterations = 0;
  double chi1 = special::nan;  // sw2 E[phi'(sqrt(q*) Z)^2]
  double slope = special::nan; // V'(q*) (alpha)
  double c_star = special::nan;
  double chi_c = special::nan;
  double xi_q = special::nan;  // -1/ln V'(q*) where V'(q*) < 1
  double xi_c = special::nan;  // -1/ln chi_c where chi_c < 1
  double beta_q = special::nan;  // 2 / f''(1) = 2 / (sw2 q* E[phi''^2])
};

inline double depth_scale(double rate) {
  if (!(rate >= 0.0)) return special::nan;
  if (rate < 1.0) return -1.0 / std::log(rate);
  if (rate == 1.0) return special::inf;
  return special::nan;
}

// keep_prob < 1: dropout on the post-activations with that keep probability (see
// correlation_fixed_point): q*, chi1 = (sw2 / rho) E[phi'^2] (the growth of the
// squared gradient) and the slope are those of sw2 / rho; c*, chi_c of the
// off-diagonal map with sw2.
inline FixedPointInfo analyse(const Activation& act, double sw2, double sb2, double q0 = -1.0,
                              bool with_correlation = true, double keep_prob = 1.0) {
  const Activation a = canonical(act);
  FixedPointInfo r;
  const bool dropout = keep_prob < 1.0;
  const double sw2_off = sw2;
  if (dropout) sw2 /= keep_prob;
  const FixedPoint fp = fixed_point(a, sw2, sb2, q0);
  r.q = fp.q;
  r.status = fp.status;
  r.iterations = fp.iterations;
  if (fp.status == Status::marginal && is_homogeneous(a) && !dropout) {
    // Every q is fixed; chi1 and the slope do not depend on q.
    const Moments m = moments(a, 1.0);
    r.chi1 = sw2 * m.dphi_sq;
    r.slope = sw2 * m.dV;
    r.xi_q = special::inf;
    r.c_star = 1.0;
    r.chi_c = r.chi1;
    r.xi_c = special::inf;  // chi_c = 1 up to the rounding of sigma_w^2
    r.beta_q = dphi_has_jump(a) ? 0.0 : special::inf;
    return r;
  }
  if (fp.status != Status::converged) return r;
  const Moments m = moments(a, fp.q);
  r.chi1 = sw2 * m.dphi_sq;
  r.slope = sw2 * m.dV;
  r.xi_q = depth_scale(r.slope);
  r.beta_q = 2.0 / (sw2 * fp.q * m.d2phi_sq);
  if (with_correlation) {
    const CorrelationFixedPoint cf =
        correlation_fixed_point(a, fp.q, sw2_off, sb2, r.chi1, dropout);
    if (cf.ok) {
      r.c_star = cf.c;
      r.chi_c = cf.chi_c;
      r.xi_c = depth_scale(r.chi_c);
    } else if (fp.q > 0.0) {
      r.status = Status::c_not_converged;  // at q* = 0 the correlation is undefined
    }
  }
  return r;
}

}  // namespace sigprop
