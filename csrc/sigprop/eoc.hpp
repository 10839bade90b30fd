// The Edge of Chaos: for a given sigma_b, the sigma_w at which the fixed point
// q* of the variance map has chi1 = sigma_w^2 E[phi'(sqrt(q*) Z)^2] = 1.
//
// Eliminating sigma_w^2 = 1 / E[phi'^2] from the fixed-point equation gives one
// equation in q (Hayou, Doucet & Rousseau 2019, "On the Impact of the Activation
// Function on Deep Neural Networks Training", ICML, Algorithm 1):
//     g(q) := q - E[phi(sqrt(q) Z)^2] / E[phi'(sqrt(q) Z)^2] = sigma_b^2 .
// g does not depend on sigma_b, so it is tabulated once per activation on a
// log grid of q in [1e-12, 1e12] (12 points per decade) and kept (EocTableCache:
// a later call at one sigma_b finds its roots alone, ~3 us where the table's 289
// moments took ~45 us, a custom activation's ~200 us); every sign change of
// g - sigma_b^2 on the grid is a branch, refined by Brent's method to machine
// precision in q. Branches closer together than one grid cell are not
// resolved, roots outside the grid are reported as none.
// Special points:
//   * relu-like (positively homogeneous) phi: g = 0 identically, the EOC is the
//     single point sigma_b = 0, sigma_w = 1/sqrt(E[phi'^2]) with q arbitrary
//     (reported as NaN); no EOC for sigma_b > 0.
//   * sigma_b = 0 with phi(0) = 0, phi'(0) != 0: the limit point q* = 0,
//     sigma_w = 1/|phi'(0)| of the EOC curve as sigma_b -> 0.
#pragma once

#include <cmath>
#include <limits>
#include <memory>

#include "activation.hpp"
#include "canonical.hpp"
#include "expectation.hpp"
#include "moment_table.hpp"
#include "root_finding.hpp"
#include "special.hpp"
#include "table_cache.hpp"

namespace sigprop {

enum class EocKind : int { curve = 0, limit = 1, point = 2 };

struct EocPoint {
  double sigma_w = special::nan;
  double q = special::nan;
  double slope = special::nan;  // V'(q*) at this sigma_w: < 1 stable, > 1 unstable
  EocKind kind = EocKind::curve;
};

inline constexpr int eoc_max_branches = 4;

struct EocTable {
  static constexpr double log10_lo = -12.0, log10_hi = 12.0;
  static constexpr int per_decade = 12;
  static constexpr int n = int((log10_hi - log10_lo) * per_decade) + 1;
  double q[n];
  double g[n];  // NaN where E[phi'^2] = 0
};

namespace detail {
// The EOC tables of the activations used so far (at most 64 kept, the least
// recently used dropped first). A table's entries depend on the activation alone,
// whichever thread built them: the same roots for any thread count.
using EocTableCache = TableCache<EocTable, 64>;
}  // namespace detail

inline double eoc_g(const Activation& a, double q) {
  const Moments m = moments(a, q, false);
  return m.dphi_sq > 0.0 ? q - m.phi_sq / m.dphi_sq : special::nan;
}

inline void eoc_table_entry(const Activation& a, EocTable& t, int i) {
  t.q[i] = std::pow(10.0, EocTable::log10_lo + double(i) / EocTable::per_decade);
  t.g[i] = eoc_g(a, t.q[i]);
}

inline EocPoint eoc_point_at(const Activation& a, double q, EocKind kind) {
  EocPoint p;
  const Moments m = moments(a, q, false);
  const double sw2 = 1.0 / m.dphi_sq;
  p.sigma_w = std::sqrt(sw2);
  p.q = q;
  p.slope = sw2 * m.dV;
  p.kind = kind;
  return p;
}

// All EOC points at sigma_b (ascending in q). Returns the number found.
inline int eoc_roots(const Activation& act, const EocTable& t, double sigma_b, EocPoint* out) {
  const Activation a = canonical(act);
  const double target = sigma_b * sigma_b;
  int n = 0;
  if (is_homogeneous(a)) {
    if (sigma_b != 0.0) return 0;
    const Moments m = moments(a, 1.0);
    out[0].sigma_w = 1.0 / std::sqrt(m.dphi_sq);
    out[0].q = special::nan;
    out[0].slope = m.dV / m.dphi_sq;
    out[0].kind = EocKind::point;
    return 1;
  }
  if (sigma_b == 0.0) {
    const Moments m0 = moments(a, 0.0);
    if (m0.phi_sq == 0.0 && m0.dphi_sq > 0.0) out[n++] = eoc_point_at(a, 0.0, EocKind::limit);
  }
  auto f = [&](double q) { return eoc_g(a, q) - target; };
  // Sign of g - sigma_b^2 at grid point i, 0 where it is within rounding noise
  // of zero (g is a difference of two numbers of size q).
  auto sign_at = [&](int i) {
    const double d = t.g[i] - target;
    const double noise = 64.0 * std::numeric_limits<double>::epsilon() * t.q[i];
    if (!std::isfinite(d)) return 0;
    return d > noise ? 1 : (d < -noise ? -1 : 0);
  };
  int last = -1, last_sign = 0;
  for (int i = 0; i < EocTable::n && n < eoc_max_branches; ++i) {
    const int s = sign_at(i);
    if (s == 0) continue;
    if (last_sign != 0 && s != last_sign) {
      const double lo = t.q[last], hi = t.q[i];
      const double q = detail::brent(f, lo, hi, t.g[last] - target, t.g[i] - target, 1e-15, 0.0);
      out[n++] = eoc_point_at(a, q, EocKind::curve);
    }
    last = i;
    last_sign = s;
  }
  return n;
}

}  // namespace sigprop
