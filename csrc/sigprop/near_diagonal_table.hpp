// The two-point expectations on the diagonal next to c = 1, tabulated, for the
// activations whose Mehler series converges too slowly there: softsign
// (phi'' jumps at 0) and linear_region_tanh (phi''' jumps at +-a). Their Hermite
// coefficients decay algebraically (a_m^2 ~ m^(-7/2), m^(-9/2)), so at q ~ 5 the
// series' rigorous bound fails from c ~ 0.97 on, and each evaluation there is a
// nested quadrature (diagonal_difference: 0.4 ms, 3 ms) -- the correlation fixed
// point c* of a cell next to the Edge of Chaos took 9 of them. hard_tanh's
// closed forms cancel there (its c* cells took 0.1-0.5 ms), and it has a table too.
//
// Two callers read the table: the correlation fixed point (fixed_point.hpp,
// CorrelationMap: c*, chi_c in scans), and the pairs of a kernel layer next to c = 1
// that the series cannot certify (two_point.hpp, near_diagonal_pair), for these kinds
// and, in kernels only, the smooth kinds of kernel_uses_near_diagonal_table. A
// segment costs 0.1-1.1 s to build, which a scan's cells next to the EOC repay (40-70
// of them at 3-22 ms each) and a deep kernel's pairs in the ordered phase (thousands
// a layer at ~3 ms each), but not the few diagonal evaluations of one bivariate()
// call, nor a sweep over an activation parameter (Murray et al.'s half-width search
// iterates the c-map for each new a: 3x slower when it read tables). bivariate()
// keeps to the series and the quadrature.
//
// With s = sqrt(1 - c) and f = phi (d = 0) or phi' (d = 1),
//   E[f(u) f(v)] = E[f^2] - s^k H_d(q, s) / 2,   H_d = E[(f(u) - f(v))^2] / s^k,
// (u, v of variance q and correlation c), k = 2 for continuous f, where
// H_d(q, 0) = 2 q E[f'^2] (Price), and k = 1 for f = phi' with jumps (hard_tanh;
// see node()). H_d is smooth in s (the kinks' non-analytic terms are powers of
// 1 - c = s^2 with half-integer exponents) and in log q: a Chebyshev interpolant of degree
// 32 in s on [0, s_max] and 12 in log10 q on half-decade segments holds
// E[f(u) f(v)] to ~4e-13 of E[f^2] for q < 10 and ~1.3e-12 for q < 31.6 (measured
// at the check points against diagonal_gaps; for tanh at q ~ 80 it would be 2e-10
// and 4e-9, so the table stops at 10^1.5). softplus, shifted_softplus, silu, elu and
// selu, whose E[f^2] grows as q / 2, stay within 2e-13 of it up to 10^2.5, where their
// table stops (log10_top). Segments are built on first use (thread-safe, the same
// values whichever thread builds them), from diagonal_gaps at the 13 x 32
// Chebyshev-Lobatto nodes with s > 0 (0.1-0.2 s a segment for softsign, 0.3-0.6 s for
// linear_region_tanh, 0.8-0.9 s for softplus past q = 30, one thread), node by node:
// a long call's block stops a build part-way and the next goes on with it
// (table_cache.hpp, ResumableSegments), so that Ctrl-C is not held for the whole
// build. Each segment is checked at 6 points between the nodes
// against diagonal_gaps; a segment that misses check_rtol is not used (the callers
// fall back to the quadrature). hard_tanh's phi' (a jump at each kink, so that
// pairs of kinks add terms in exp(-a^2 / (q s^2))) holds 2e-12 of E[phi'^2] for
// q in [0.3, 3] and up to ~2.3e-12 elsewhere below 10; its segment [10, 31.6) misses
// (4e-10) and is not used.
#pragma once

#include <cmath>
#include <vector>

#include "activation.hpp"
#include "chebyshev.hpp"
#include "moment_table.hpp"
#include "near_diagonal.hpp"
#include "special.hpp"
#include "table_cache.hpp"

namespace sigprop {

// Kinds served by the table (see above); the others' series reach c* (analytic
// phi) or have closed forms.
inline bool uses_near_diagonal_table(Kind k) {
  return k == Kind::softsign || k == Kind::linear_region_tanh || k == Kind::hard_tanh;
}

// Kernel layers read the table for more kinds (two_point.hpp, near_diagonal_pair): the
// smooth ones whose Mehler tail the anchors cannot pin next to c = 1 at moderate q
// (tanh at q ~ 10 for 2e-3 <= 1 - c <= 5e-3; sigmoid, silu, softplus at q ~ 30),
// where a deep kernel in the ordered phase has thousands of pairs a layer: their
// segments are built on a kernel's first such pair (the correlation fixed point of
// these kinds keeps to the series, which reaches its c*); and elu and selu, whose
// pairs there took their closed forms' tail quadrature (settled_difference.hpp).
inline bool kernel_uses_near_diagonal_table(Kind k) {
  return uses_near_diagonal_table(k) || k == Kind::tanh || k == Kind::sigmoid ||
         k == Kind::silu || k == Kind::softplus || k == Kind::shifted_softplus ||
         k == Kind::elu || k == Kind::selu;
}

class NearDiagonalTable {
 public:
  static constexpr double log10_lo = -1.5, log10_hi = 1.5, seg_decades = 0.5;
  // softplus, shifted_softplus and silu (x / 2 plus an even function that decays), elu
  // and selu (linear for x > 0) keep their accuracy relative to E[f^2] (which grows as
  // q / 2) much further, 1.4e-13 (2e-13 for elu) at the check points up to q = 316:
  // their table reaches 10^2.5 (the ordered phase at sigma_b ~ 5-12, q* ~ 50-300).
  static constexpr double log10_hi_linear_tail = 2.5;
  static constexpr int n_seg_max = int((log10_hi_linear_tail - log10_lo) / seg_decades + 0.5);
  static double log10_top(Kind k) {
    return k == Kind::softplus || k == Kind::shifted_softplus || k == Kind::silu ||
                   k == Kind::elu || k == Kind::selu
               ? log10_hi_linear_tail
               : log10_hi;
  }
  static constexpr int deg_q = 12, deg_s = 32;
  static constexpr double s_max = 0.25;  // c >= 1 - s_max^2 = 0.9375
  // Accuracy required at the check points, relative to E[f^2] (the Cauchy-Schwarz
  // scale of E[f(u) f(v)] on the diagonal), for f = phi and f = phi'.
  static constexpr double check_rtol[2] = {2e-12, 1e-11};
  // The quadrature's own tolerance at the nodes, relative to G (estimate;
  // its actual error is ~1e-16 relative, see diagonal_gaps).
  static constexpr double node_rtol = 1e-8;

  static double c_min() { return 1.0 - s_max * s_max; }
  static double q_lo() { return std::pow(10.0, log10_lo); }
  static double q_hi() { return std::pow(10.0, log10_hi); }
  // The top of the kind's table (q_hi(), or further: log10_top)
  static double q_hi(Kind k) { return std::pow(10.0, log10_top(k)); }

  explicit NearDiagonalTable(const Activation& a)
      : act_(a),
        n_seg_(int((log10_top(a.kind) - log10_lo) / seg_decades + 0.5)),
        segments_(n_seg_max) {
    // The jumps of phi' at the kinks (hard_tanh: +1 at -a, -1 at a): where there are
    // any, G_1 is of size s, not s^2, and H_1 = G_1 / s.
    n_kinks_ = kinks(a, kink_);
    for (int i = 0; i < n_kinks_; ++i) {
      jump_[i] = dphi(a, kink_[i]) - dphi(a, std::nextafter(kink_[i], -special::inf));
      if (jump_[i] != 0.0) power_[1] = 1;
    }
  }

  // The table at one variance: H_d's Chebyshev coefficients in s, and E[f^2].
  struct Slice {
    bool ok = false;
    double f_sq[2] = {special::nan, special::nan};
    int power[2] = {2, 2};  // G_d = s^power[d] H_d
    double h[2][deg_s + 1];
    // E[f_d(u) f_d(v)] for c in [c_min(), 1].
    double eval(int d, double c) const {
      const double e = 1.0 - c;  // exact for c >= 0.5 (Sterbenz)
      const double s = std::sqrt(e);
      const double t = 2.0 * s / s_max - 1.0;
      return f_sq[d] - 0.5 * (power[d] == 2 ? e : s) * cheb::clenshaw(h[d], deg_s, t);
    }
    // eval(d, c) of this slice and of y (vx, vy), their series summed side by side
    // (cheb::clenshaw_many): the same numbers.
    void eval2(const Slice& y, int d, double c, double& vx, double& vy) const {
      const double e = 1.0 - c;
      const double s = std::sqrt(e);
      const double t = 2.0 * s / s_max - 1.0;
      const double* hs[2] = {h[d], y.h[d]};
      double g[2];
      cheb::clenshaw_many<2>(hs, deg_s, t, g);
      const double gx = g[0], gy = g[1];
      vx = f_sq[d] - 0.5 * (power[d] == 2 ? e : s) * gx;
      vy = y.f_sq[d] - 0.5 * (y.power[d] == 2 ? e : s) * gy;
    }
  };

  // The slice at q; ok = false outside [q_lo, q_hi) or in a segment that failed
  // its checks.
  Slice slice(double q) const {
    if (!(q >= q_lo() && q < q_hi(act_.kind))) return {};
    const double u = (std::log10(q) - log10_lo) / seg_decades;
    int s = int(u);
    if (s < 0) s = 0;
    if (s >= n_seg_) s = n_seg_ - 1;
    const Segment& g = segment(s);
    if (!g.usable) return {};
    return fill(g, 2.0 * (u - s) - 1.0, q);
  }

  const Activation& activation() const { return act_; }

 private:
  struct Segment {
    bool usable = false;
    std::vector<double> c[2];  // c[d][kq * (deg_s + 1) + ks]
    // The build's progress (build): the nodes done, in order, and their values
    int next = 0;
    std::vector<double> y[2];
  };

  // The slice at q, at t in [-1, 1] of its segment g.
  Slice fill(const Segment& g, double t, double q) const {
    Slice out;
    const Moments m = moments(act_, q, false);
    out.f_sq[0] = m.phi_sq;
    out.f_sq[1] = m.dphi_sq;
    out.power[0] = power_[0];
    out.power[1] = power_[1];
    if (!std::isfinite(m.phi_sq) || !std::isfinite(m.dphi_sq)) return out;
    double T[deg_q + 1];
    cheb::basis(deg_q, t, T);
    for (int d = 0; d < 2; ++d)
      for (int k = 0; k <= deg_s; ++k) {
        double v = 0.0;
        for (int j = 0; j <= deg_q; ++j) v += T[j] * g.c[d][size_t(j) * (deg_s + 1) + k];
        out.h[d][k] = v;
      }
    out.ok = true;
    return out;
  }

  static double q_at(int s, double t) {
    return std::pow(10.0, log10_lo + (s + 0.5 * (t + 1.0)) * seg_decades);
  }
  static double s_at(int j) {  // Lobatto node j in s: s_at(0) = s_max, s_at(deg_s) = 0
    return 0.5 * s_max * (1.0 + std::cos(special::pi * j / deg_s));
  }

  const Segment& segment(int s) const {
    return segments_.get(
        s, [this](int i, Segment& seg, const detail::BuildBudget& b) { return build(i, seg, b); });
  }

  // H_0, H_1 at (q, s) into H; false where the quadrature failed or a moment is
  // not finite.
  // At s = 0: H = 2 q E[f'^2] for continuous f (Price); for f = phi' with jumps J_k
  // at x_k, P(x_k lies between u and v) ~ p(x_k) E|u - v| gives
  // H = sum_k J_k^2 N(x_k / sqrt(q)) 2 / sqrt(pi).
  bool node(double q, double s, double* H) const {
    if (s == 0.0) {
      const Moments m = moments(act_, q, true);
      H[0] = 2.0 * q * m.dphi_sq;
      if (power_[1] == 2) {
        H[1] = 2.0 * q * m.d2phi_sq;
      } else {
        H[1] = 0.0;
        for (int i = 0; i < n_kinks_; ++i)
          H[1] += jump_[i] * jump_[i] * special::npdf(kink_[i] / std::sqrt(q));
        H[1] *= 2.0 / std::sqrt(special::pi);
      }
      return std::isfinite(H[0]) && std::isfinite(H[1]);
    }
    double G[2];
    if (!diagonal_gaps(act_, q, 1.0 - s * s, node_rtol, G)) return false;
    for (int d = 0; d < 2; ++d) H[d] = G[d] / (power_[d] == 2 ? s * s : s);
    return true;
  }

  // Segment s, node by node from g.next on (detail::ResumableSegments): true once it is
  // complete (usable or not), false where the budget was spent first (g.next nodes done).
  // A node is 1-3 ms of quadrature; 429 of them and the checks make a segment.
  bool build(int s, Segment& g, const detail::BuildBudget& budget) const {
    const int nq = deg_q + 1, ns = deg_s + 1;
    if (g.next == 0)
      for (auto& v : g.y) v.assign(size_t(nq) * ns, 0.0);
    while (g.next < nq * ns) {
      const int j = g.next / ns, i = g.next % ns;
      const double q = q_at(s, std::cos(special::pi * j / deg_q));
      double H[2];
      if (!node(q, s_at(i), H)) {
        g.next = nq * ns;  // (not usable)
        for (auto& v : g.y) std::vector<double>().swap(v);
        return true;
      }
      g.y[0][size_t(j) * ns + i] = H[0];
      g.y[1][size_t(j) * ns + i] = H[1];
      ++g.next;
      if (budget.spent()) return false;
    }
    for (int d = 0; d < 2; ++d) {
      // Along q (every s node at once), then along s for each order in q.
      std::vector<double> a(size_t(nq) * ns);
      cheb::lobatto_coefficients(deg_q, ns, g.y[d].data(), size_t(ns), a.data(), size_t(ns));
      g.c[d].assign(size_t(nq) * ns, 0.0);
      for (int k = 0; k <= deg_q; ++k)
        cheb::lobatto_coefficients(deg_s, 1, a.data() + size_t(k) * ns, 1,
                                   g.c[d].data() + size_t(k) * ns, 1);
    }
    for (auto& v : g.y) std::vector<double>().swap(v);
    g.usable = passes_checks(s, g);
    return true;
  }

  // At two variances between the q nodes and three s between the s nodes: the
  // interpolated E[f(u) f(v)] against diagonal_gaps, within check_rtol E[f^2].
  bool passes_checks(int s, const Segment& g) const {
    static constexpr double tq[2] = {-0.37, 0.61};
    static constexpr double ts[3] = {0.23, 0.57, 0.91};
    for (double t : tq) {
      const double q = q_at(s, t);
      const Slice sl = fill(g, t, q);
      if (!sl.ok) return false;
      for (double fs : ts) {
        const double sv = fs * s_max, c = 1.0 - sv * sv;
        double G[2];
        if (!diagonal_gaps(act_, q, c, node_rtol, G)) return false;
        for (int d = 0; d < 2; ++d) {
          const double direct = sl.f_sq[d] - 0.5 * G[d];
          if (!(std::fabs(sl.eval(d, c) - direct) <= check_rtol[d] * sl.f_sq[d])) return false;
        }
      }
    }
    return true;
  }

  Activation act_;
  int n_seg_;
  detail::ResumableSegments<Segment> segments_;
  int n_kinks_ = 0;
  double kink_[max_kinks], jump_[max_kinks];
  int power_[2] = {2, 2};
};

namespace detail {

// At most 64 kept (a segment holds 2 x 13 x 33 doubles), least recently used
// dropped first (TableCache, table_cache.hpp).
using NearDiagonalTableCache = TableCache<NearDiagonalTable, 64>;

// The table slice of a canonical activation at q; ok = false where there is none
// (another kind, q outside the table, a segment that failed its checks).
// Whether the table serves q (near_diagonal_serves; ok false as well in a segment that
// fails its checks). `extended`: also where the table reaches past the first kinds'
// range (q >= 10^1.5, log10_top; elu and selu), which only a large kernel layer's
// difference form reads:
// a segment costs 0.3-0.5 s to build, which a few thousand pairs do not repay
// (settled_difference.hpp, DifferenceInputs).
inline bool near_diagonal_serves(Kind k, double q, bool extended) {
  if (!kernel_uses_near_diagonal_table(k) || !(q >= NearDiagonalTable::q_lo())) return false;
  if (extended) return q < NearDiagonalTable::q_hi(k);
  return q < NearDiagonalTable::q_hi() && k != Kind::elu && k != Kind::selu;
}

inline NearDiagonalTable::Slice near_diagonal_slice(const Activation& a, double q,
                                                    bool extended = false) {
  if (!near_diagonal_serves(a.kind, q, extended)) return {};
  return NearDiagonalTableCache::fetch(a)->slice(q);
}

}  // namespace detail

}  // namespace sigprop
