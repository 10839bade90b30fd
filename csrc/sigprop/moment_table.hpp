// Interpolants of the one-dimensional Gaussian moments of the activations that
// have no closed form, so that the maps, fixed points and EOC cost a few
// multiply-adds per evaluation instead of an adaptive quadrature.
//
// For a given activation each moment (E[phi], E[phi^2], E[phi'^2], E[phi''^2],
// V'(q)/sigma_w^2) is a smooth (real-analytic) function of x = log10 q for q > 0:
// the Gaussian smooths every kink of phi. It is interpolated by a Chebyshev
// polynomial of degree 16 on each of 8 segments per decade of q in
// [1e-12, 1e14] (the nearest singularity of the moments in the complex x-plane is
// ~0.7 away, a segment's half-width 0.0625, so the interpolation error is far below
// the rounding error of the quadrature it reproduces).
//
// Segments are built lazily on first use (std::call_once, so OpenMP threads can
// share a table) from the quadrature (moments_direct) at the 17 Chebyshev-Lobatto
// points, and each is checked against the quadrature at two further points
// inside it: where the interpolant misses by more than check_rtol of the
// segment's largest value (for E[phi], of sqrt(E[phi^2])), it is retried on the
// logarithm of the moment (for moments like E[phi''^2] ~ exp(-a^2/2q) that vary
// over many orders of magnitude in a segment; then relative to the value). Where
// that fails too, or a moment is not finite at every node, the
// segment is marked and its moments are computed by quadrature instead. A
// segment's contents do not depend on when or by which thread it was built, so
// results stay bitwise identical for any thread count.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>

#include "activation.hpp"
#include "canonical.hpp"
#include "chebyshev.hpp"
#include "expectation.hpp"
#include "special.hpp"
#include "table_cache.hpp"

namespace sigprop {

// Whether moments() of this (canonical) kind goes through an interpolation table.
inline bool uses_moment_table(Kind k) {
  switch (k) {
    case Kind::elu:
    case Kind::selu:
    case Kind::gelu:
    case Kind::silu:
    case Kind::softplus:
    case Kind::shifted_softplus:
    case Kind::tanh:
    case Kind::sigmoid:
    case Kind::softsign:
    case Kind::linear_region_tanh:
    case Kind::custom: return true;
    default: return false;
  }
}

class MomentTable {
 public:
  static constexpr double log10_lo = -12.0, log10_hi = 14.0;
  static constexpr int per_decade = 8;
  static constexpr int n_seg = int((log10_hi - log10_lo) * per_decade);
  static constexpr int deg = 16;
  static constexpr int n_fields = 5;  // mean, phi_sq, dphi_sq, d2phi_sq, dV
  // Relative (to the segment's largest |value|) accuracy a segment must show
  // at its check points to be used.
  static constexpr double check_rtol = 2e-14;

  explicit MomentTable(const Activation& a) : act_(a), segments_(n_seg) {}

  // Moments at q, or false when q is outside the table or its segment is marked
  // (for E[phi''^2] alone when need_d2). Without need_d2, only phi_sq, dphi_sq and
  // dV are evaluated (mean and d2phi_sq are NaN); without need_dV either, phi_sq and
  // dphi_sq alone (the same values: each field's sum is its own).
  // (log10_q: log10(q) where the caller has it, NaN otherwise)
  bool lookup(double q, Moments& out, bool need_d2 = true,
              double log10_q = std::numeric_limits<double>::quiet_NaN(),
              bool need_dV = true) const {
    if (!(q >= q_lo() && q < q_hi())) return false;
    const double u = ((std::isnan(log10_q) ? std::log10(q) : log10_q) - log10_lo) * per_decade;
    int s = int(u);
    if (s < 0) s = 0;
    if (s >= n_seg) s = n_seg - 1;
    const Segment& g = segments_.get(s, [this](int i, Segment& seg) { build(i, seg); });
    if (!g.usable || (need_d2 && !g.d2_usable)) return false;
    const double t = 2.0 * (u - s) - 1.0;
    double v[n_fields];
    // The Chebyshev sums of phi_sq, dphi_sq and dV side by side, each split by parity
    // (cheb::clenshaw_parity_many: each alone is bound by its latency), and of the mean
    // and d2phi_sq where needed (the maps need neither)
    if (need_dV || need_d2) {
      const double* c3[3] = {g.c[1], g.c[2], g.c[4]};
      double r3[3];
      cheb::clenshaw_parity_many<3>(c3, deg, t, r3);
      v[1] = field_value(g, 1, r3[0]);
      v[2] = field_value(g, 2, r3[1]);
      v[4] = field_value(g, 4, r3[2]);
    } else {
      // (a fresh Hermite expansion's moments, HermiteAt::set: two a random pair, where
      // dV's sum and exponential were a third of the lookup)
      const double* c2[2] = {g.c[1], g.c[2]};
      double r2[2];
      cheb::clenshaw_parity_many<2>(c2, deg, t, r2);
      v[1] = field_value(g, 1, r2[0]);
      v[2] = field_value(g, 2, r2[1]);
      v[4] = special::nan;
    }
    v[0] = v[3] = special::nan;
    if (need_d2) {
      const double* c2[2] = {g.c[0], g.c[3]};
      double r2[2];
      cheb::clenshaw_parity_many<2>(c2, deg, t, r2);
      v[0] = field_value(g, 0, r2[0]);
      if (g.d2_usable) v[3] = field_value(g, 3, r2[1]);
    }
    out.mean = v[0];
    out.phi_sq = v[1];
    out.dphi_sq = v[2];
    out.d2phi_sq = v[3];
    out.dV = v[4];
    out.ok = true;
    return true;
  }

  static double q_lo() { return 1e-12; }
  static double q_hi() { return 1e14; }

 private:
  enum class Mode : unsigned char { value, constant, log };
  struct Segment {
    bool usable = false;     // mean, phi_sq, dphi_sq, dV
    bool d2_usable = false;  // d2phi_sq
    Mode mode[n_fields] = {};
    double c[n_fields][deg + 1] = {};
  };

  static void fields(const Moments& m, double* v) {
    v[0] = m.mean;
    v[1] = m.phi_sq;
    v[2] = m.dphi_sq;
    v[3] = m.d2phi_sq;
    v[4] = m.dV;
  }

  static double q_at(int s, double t) {
    return std::pow(10.0, log10_lo + (s + 0.5 * (t + 1.0)) / per_decade);
  }

  // A field's value from its Clenshaw sum r (unread for a constant field)
  static double field_value(const Segment& g, int f, double r) {
    switch (g.mode[f]) {
      case Mode::constant: return g.c[f][0];
      case Mode::log: return std::exp(r);
      default: return r;
    }
  }

  static double eval_field(const Segment& g, int f, double t) {
    return field_value(g, f, g.mode[f] == Mode::constant ? 0.0 : cheb::clenshaw(g.c[f], deg, t));
  }

  // Check points between the nodes (in t), where the quadrature tests the interpolant.
  static constexpr double check_t[2] = {-0.37, 0.61};

  // The quadrature at the 17 nodes of segment s, y[f][j], and at its check points,
  // yc[i][f]; false where it did not converge.
  bool sample(int s, double (&y)[n_fields][deg + 1], double (&yc)[2][n_fields]) const {
    for (int j = 0; j <= deg; ++j) {
      const Moments m = moments_direct(act_, q_at(s, std::cos(special::pi * j / deg)));
      if (!m.ok) return false;
      double v[n_fields];
      fields(m, v);
      for (int f = 0; f < n_fields; ++f) y[f][j] = v[f];
    }
    for (int i = 0; i < 2; ++i) {
      const Moments m = moments_direct(act_, q_at(s, check_t[i]));
      if (!m.ok) return false;
      fields(m, yc[i]);
    }
    return true;
  }

  // The interpolant of field f in g (constant, values or logarithm) from its node
  // values y[f]; false where it misses the check values yc[.][f].
  static bool fit_field(int f, const double (&y)[n_fields][deg + 1],
                        const double (&yc)[2][n_fields], Segment& g) {
    bool all_finite = true, all_same = true, all_positive = true;
    double scale = 0.0;
    for (int j = 0; j <= deg; ++j) {
      all_finite = all_finite && std::isfinite(y[f][j]);
      all_same = all_same && y[f][j] == y[f][0];
      all_positive = all_positive && y[f][j] > 0.0;
      scale = std::fmax(scale, std::fabs(y[f][j]));
      // |E phi| <= sqrt(E phi^2): E phi of odd phi is rounding noise around 0.
      if (f == 0) scale = std::fmax(scale, std::sqrt(std::fabs(y[1][j])));
    }
    if (all_same) {  // e.g. E[phi''^2] = inf for phi' with a jump, or 0
      g.mode[f] = Mode::constant;
      g.c[f][0] = y[f][0];
      return yc[0][f] == y[f][0] && yc[1][f] == y[f][0];
    }
    if (!all_finite) return false;
    auto passes = [&] {
      for (int i = 0; i < 2; ++i) {
        const double p = eval_field(g, f, check_t[i]), v = yc[i][f];
        const double tol = g.mode[f] == Mode::log ? check_rtol * std::fabs(v) : check_rtol * scale;
        if (!(std::fabs(p - v) <= tol)) return false;
      }
      return true;
    };
    g.mode[f] = Mode::value;
    cheb::lobatto_coefficients(deg, 1, y[f], 1, g.c[f], 1);
    if (passes()) return true;
    // Moments that vary over many orders of magnitude within a segment
    // (E[phi''^2] ~ exp(-a^2 / 2q) at small q): interpolate their logarithm.
    if (!all_positive) return false;
    double ly[deg + 1];
    for (int j = 0; j <= deg; ++j) ly[j] = std::log(y[f][j]);
    g.mode[f] = Mode::log;
    cheb::lobatto_coefficients(deg, 1, ly, 1, g.c[f], 1);
    return passes();
  }

  void build(int s, Segment& g) const {
    double y[n_fields][deg + 1];
    double yc[2][n_fields];
    if (!sample(s, y, yc)) return;
    bool d2_ok = false;
    for (int f = 0; f < n_fields; ++f) {
      const bool ok = fit_field(f, y, yc, g);
      // E[phi''^2] (needed only for beta_q) may fail alone: it can fall from 1e-290
      // to an underflowing 0 within one segment (linear_region_tanh at q ~ 1e-3).
      if (f == 3)
        d2_ok = ok;
      else if (!ok)
        return;
    }
    g.usable = true;
    g.d2_usable = d2_ok;
  }

  Activation act_;
  // Segments are allocated when first used: a table costs ~3 kB plus ~0.7 kB per
  // segment touched (a scan touches a few dozen), so that scans over many values of
  // an activation parameter (one table each) stay small.
  detail::LazySegments<Segment> segments_;
};

namespace detail {

using MomentTableCache = TableCache<MomentTable, 1024>;

inline const MomentTable* moment_table(const Activation& a) {
  return MomentTableCache::fetch(a);
}

}  // namespace detail

// Frees every moment table (the next use rebuilds them). Safe while kernels run
// in other threads: each thread's cache holds a shared_ptr to the table it
// uses, which keeps that table alive until the thread moves to another one.
inline void clear_moment_tables() { detail::MomentTableCache::instance().clear_all(); }

// Number of moment tables currently kept.
inline std::size_t n_moment_tables() { return detail::MomentTableCache::instance().size(); }

// Gaussian moments of phi at variance q >= 0: from the interpolation table where
// there is one (accurate to ~1e-14 relative, see the top of this file), else from
// the closed forms or the quadrature of moments_direct.
// With need_d2 = false, mean and d2phi_sq may be NaN (the maps, fixed-point
// searches and the EOC do not use them).
// (log10_q: log10(q) where the caller has it, for the table's lookup; the same moments)
// With need_dV = false as well (and need_d2 false), dV may be NaN too.
inline Moments moments(const Activation& act, double q, bool need_d2 = true,
                       double log10_q = std::numeric_limits<double>::quiet_NaN(),
                       bool need_dV = true) {
  const Activation a = canonical(act);
  // (a positively homogeneous custom activation has closed forms: no table)
  if (uses_moment_table(a.kind) && q > 0.0 && !(a.kind == Kind::custom && is_homogeneous(a))) {
    Moments m;
    if (detail::moment_table(a)->lookup(q, m, need_d2, log10_q, need_dV)) return m;
  }
  return moments_direct(a, q);
}

}  // namespace sigprop
