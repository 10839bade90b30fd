// A process-wide table of a conditional form's inner expectation, S(m; w) = E[f(m + w T)]
// (T standard normal, f = phi^(d)), as a function of the centre 0 <= m <= span w and of
// the spread w, for the forms that integrate S(a u) against phi^(d)(u) over u
// (softsign_pair.hpp). Such a form used to table S afresh for every pair (65 values of
// a panel quadrature at 1-4 us each: 100-200 us, half of a whole-domain softsign call's
// time); from this table a pair's S is one interpolation in w (~0.5 us).
//
// Layout. log10 w in [log10_lo, log10_hi] in segments of a quarter decade, each built on
// first use (LazySegments: the same numbers at any thread count). At the deg_w + 1
// Chebyshev-Lobatto points of a segment in log10 w, S(.; w) is interpolated on [0, span
// w] at the deg_m + 1 Lobatto points in m (in x = m / (span w), the same interpolant as
// cheb::LobattoTable's); each of its deg_m + 1 Chebyshev coefficients, a smooth function
// of log10 w, is in turn interpolated across the segment. A pair's S(.; w) is then the
// Chebyshev series in x whose coefficients are those interpolants at w (at()).
//
// Certification, per segment, against the inner rule's own result (`inner` writes two
// components: the result and the same from a cheaper rule):
//  * at every node, the two components within rule_rtol of top(w) = max(|S(0; w)|,
//    |S(span w; w)|) (the sup of |S| for a monotone S: softsign's S and S' are);
//  * at every node, the last eight coefficients in x below tail_rtol of top(w);
//  * at the midpoints between the nodes in log10 w, at 9 centres m (0, span w and 7
//    between the Lobatto points), the interpolant within check_rtol of top(w) of the
//    inner rule's result.
// A segment that fails any check is marked: at() returns false there and the caller
// tables S for the pair as before. Where it holds, at() states the error bound
// bound_factor (3) times the largest error seen at the checks (at least min_err),
// times top(w). softsign's tables (both orders) pass every segment, at 1-6e-15 of
// top(w) at the checks; at 20 000 random (m, w) the error is at most half the bound.
#pragma once

#include <cmath>
#include <memory>

#include "chebyshev.hpp"
#include "table_cache.hpp"

namespace sigprop {
namespace detail {

class SmoothingTable {
 public:
  static constexpr int deg_m = 64, deg_w = 16;
  static constexpr double log10_lo = -2.0, log10_hi = 4.0;
  static constexpr int per_decade = 4;
  static constexpr int n_seg = int((log10_hi - log10_lo) * per_decade);
  static constexpr double span = 12.0;
  static constexpr double rule_rtol = 2e-14, tail_rtol = 4e-15, check_rtol = 1e-14;
  // A segment's error bound: bound_factor times the largest error at its checks (at
  // least min_err, the rounding of the series' sums), relative to top(w).
  static constexpr double bound_factor = 3.0, min_err = 1e-15;

  // inner(d, m, w, out): out[0] the result, out[1] a cheaper rule's.
  using Inner = void (*)(int, double, double, double*);

  SmoothingTable(Inner inner, int d) : inner_(inner), d_(d), segments_(n_seg) {}

  // S(.; w) on [0, span w] as a Chebyshev series in t = 2 m / (span w) - 1.
  struct At {
    double c[deg_m + 1];
    double len = 0.0;    // span w
    double top = 0.0;    // max(|S(0)|, |S(span w)|)
    double bound = 0.0;  // |error| <= bound on [0, span w] (bound_factor times the checks')
    double eval(double m) const { return cheb::clenshaw(c, deg_m, 2.0 * (m / len) - 1.0); }
  };

  // S(.; w) into out; false outside [10^log10_lo, 10^log10_hi) or in a marked segment.
  bool at(double w, At& out) const {
    if (!(w > 0.0) || !std::isfinite(w)) return false;
    const double l = (std::log10(w) - log10_lo) * per_decade;
    if (!(l >= 0.0 && l < n_seg)) return false;
    const int s = static_cast<int>(l);
    const Segment& seg = segments_.get(s, [this](int k, Segment& g) { build(k, g); });
    if (!seg.ok || !interpolate(seg, 2.0 * (l - s) - 1.0, w, out)) return false;
    out.bound = seg.err * bound_factor * out.top;
    return true;
  }

  // The segment holding w, built if need be; whether it passed its checks (tests).
  bool certified(double w) const {
    At a;
    return at(w, a);
  }

 private:
  struct Segment {
    bool ok = false;
    double err = 0.0;  // the largest error at the checks, relative to top(w)
    double d[deg_m + 1][deg_w + 1];  // coefficient k in x: its series in log10 w
  };

  // 10^(log10_lo + (s + (1 + t) / 2) / per_decade)
  static double w_at(int s, double t) {
    return std::pow(10.0, log10_lo + (s + 0.5 * (1.0 + t)) / per_decade);
  }

  // S's coefficients in x at w (c[k], k = 0..deg_m) and top(w); false where the
  // rules disagree or the last coefficients are not small.
  bool coefficients(double w, double* c, double& top) const {
    const double* cs = cheb::lobatto_cosines<deg_m>();
    double y[deg_m + 1], alt[deg_m + 1];
    for (int j = 0; j <= deg_m; ++j) {
      double v[2];
      inner_(d_, 0.5 * span * w * (1.0 + cs[j]), w, v);
      y[j] = v[0];
      alt[j] = v[1];
    }
    top = std::fmax(std::fabs(y[0]), std::fabs(y[deg_m]));
    if (!(top > 0.0) || !std::isfinite(top)) return false;
    for (int j = 0; j <= deg_m; ++j)
      if (!(std::fabs(y[j] - alt[j]) <= rule_rtol * top)) return false;
    cheb::lobatto_coefficients(deg_m, 1, y, 1, c, 1, cs);
    for (int k = deg_m - 7; k <= deg_m; ++k)
      if (!(std::fabs(c[k]) <= tail_rtol * top)) return false;
    return true;
  }

  // The segment's S(.; w) at t = 2 (l - s) - 1 in [-1, 1] into out.
  static bool interpolate(const Segment& seg, double t, double w, At& out) {
    double T[deg_w + 1];
    cheb::basis(deg_w, t, T);
    for (int k = 0; k <= deg_m; ++k) {
      const double* dk = seg.d[k];
      double v = 0.0;
      for (int j = 0; j <= deg_w; ++j) v += dk[j] * T[j];
      out.c[k] = v;
    }
    out.len = span * w;
    double s0 = 0.0, s1 = 0.0;  // the series at t = -1 (m = 0) and t = 1 (m = span w)
    for (int k = 0; k <= deg_m; ++k) {
      s1 += out.c[k];
      s0 += k % 2 ? -out.c[k] : out.c[k];
    }
    out.top = std::fmax(std::fabs(s0), std::fabs(s1));
    return std::isfinite(out.top);
  }

  void build(int s, Segment& g) const {
    g.ok = false;
    const double* cw = cheb::lobatto_cosines<deg_w>();
    // coefficient k at the node j in log10 w: cx[j][k]
    std::unique_ptr<double[]> cx(new double[(deg_w + 1) * (deg_m + 1)]);
    for (int j = 0; j <= deg_w; ++j) {
      double top;
      if (!coefficients(w_at(s, cw[j]), cx.get() + j * (deg_m + 1), top)) return;
    }
    double flat[(deg_w + 1) * (deg_m + 1)];  // [j][k]: coefficient j in log10 w of k
    cheb::lobatto_coefficients(deg_w, deg_m + 1, cx.get(), deg_m + 1, flat, deg_m + 1,
                               cheb::lobatto_cosines<deg_w>());
    for (int k = 0; k <= deg_m; ++k)
      for (int j = 0; j <= deg_w; ++j) g.d[k][j] = flat[j * (deg_m + 1) + k];
    g.ok = true;
    // the checks between the nodes: t midway between Lobatto points, centres between
    // those in x
    static constexpr double xs[9] = {0.0,    0.0137, 0.0891, 0.2213, 0.3902,
                                     0.5911, 0.7777, 0.9514, 1.0};
    for (int j = 0; j < deg_w; ++j) {
      const double t = std::cos(special::pi * (j + 0.5) / deg_w);
      const double w = w_at(s, t);
      At a;
      if (!interpolate(g, t, w, a)) {
        g.ok = false;
        return;
      }
      for (double x : xs) {
        double v[2];
        const double m = x * a.len;
        inner_(d_, m, w, v);
        const double e = std::fabs(a.eval(m) - v[0]);
        if (!(e <= check_rtol * a.top)) {
          g.ok = false;
          return;
        }
        g.err = std::fmax(g.err, std::fmax(e / a.top, min_err));
      }
    }
  }

  Inner inner_;
  int d_;
  LazySegments<Segment> segments_;
};

}  // namespace detail
}  // namespace sigprop
