// A process-wide table of a conditional form's inner expectation, S(m; w) = E[f(m + w T)]
// (T standard normal, f = phi^(d), or the part of it a skeleton's closed form leaves), as
// a function of the centre 0 <= m <= M(w) and of the spread w, for the forms that
// integrate S(a u) against phi^(d)(u) over u (softsign_pair.hpp, saturating_pair.hpp).
// Such a form used to table S afresh for every pair (65 values or more of a panel or
// Laguerre quadrature at 1-4 us each: 0.1-0.7 ms, half of a whole-domain softsign call's
// time); from this table a pair's S is one interpolation in w (~0.5-3 us).
//
// Layout. log10 w in [log10_lo, log10_hi] in segments of a quarter decade, each built on
// first use (LazySegments: the same numbers at any thread count). At the deg_w + 1
// Chebyshev-Lobatto points of a segment in log10 w, S(.; w) is interpolated on each part
// of [0, M(w)] at the deg_m + 1 Lobatto points (the same interpolant as
// cheb::LobattoTable's): [0, N(w)], where S varies on the scale w, in equal parts of at
// most part_widths w, and [N(w), M(w)], where it varies on a scale of its own (the
// saturating kinds' remainders' tails), in equal parts of at most far_length; each of
// the parts' Chebyshev coefficients, a smooth function of log10 w, is in turn
// interpolated across the segment. A pair's S(.; w) is then the Chebyshev series whose
// coefficients are those interpolants at w (at()).
//
// Certification, per segment, against the inner rule's own result (`inner` writes two
// components: the result and the same from a cheaper rule):
//  * at every node, the two components within rule_rtol of top(w) = max(|S(0; w)|,
//    |S(span w; w)|) (the sup of |S| for a monotone S: softsign's S and S' are);
//  * at every node, the last eight coefficients in x below tail_rtol of top(w);
//  * at the midpoints between the nodes in log10 w, at 9 centres m (0, span w and 7
//    between the Lobatto points), the interpolant within check_rtol of top(w) of the
//    inner rule's result.
// A segment that fails any check is replaced by its two halves (an eighth of a decade
// each), built and checked alike on first use; where a half fails too, at() returns
// false there and the caller tables S for the pair as before. (No built-in's table
// needs the halves now: every segment of every table passes whole, the saturating
// kinds' at 3-8e-15 of top(w), linear_region_tanh's at a = 0.05-12 included.) Where it
// holds, at() states the error bound bound_factor (3) times the largest error seen at
// the checks (at least min_err), times top(w). softsign's tables (both orders) pass
// every segment, at 1-6e-15 of top(w) at the checks; at 20 000 random (m, w) the error
// is at most half the bound.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "chebyshev.hpp"
#include "table_cache.hpp"

namespace sigprop {
namespace detail {

class SmoothingTable {
 public:
  static constexpr int deg_m = 64, deg_w = 16;
  static constexpr int per_decade = 4;
  static constexpr int max_parts = 16;
  static constexpr double rule_rtol = 2e-14, tail_rtol = 4e-15, check_rtol = 1e-14;
  // A segment's error bound: bound_factor times the largest error at its checks (at
  // least min_err, the rounding of the series' sums), relative to top(w).
  static constexpr double bound_factor = 3.0, min_err = 1e-15;

  // inner(m, w, out): out[0] the result, out[1] a cheaper rule's, out[2] the part of
  // the expectation that is not tabled (a skeleton's closed form, added by the caller;
  // 0 where S is the whole), which sets the scale |out[0] + out[2]| of the checks.
  using Inner = std::function<void(double, double, double*)>;
  // range(w): the reach M(w) of the centres tabled, m in [0, M(w)]; near(w) <= M(w):
  // where S varies on the scale w (beyond, on a scale of its own, independent of w).
  using Range = std::function<double(double)>;
  // A caller's layout of [0, M(w)] on a segment where the default one (above) would
  // leave a feature of S sliding across its parts: up to max_regions regions, region r
  // from a0 + b0 w to the next one's start (the last to range(w)), each in n equal parts.
  // A centre's place in its part is taken from m - a0, exact next to a0 (a feature of
  // width w at m = a0 = A: m itself, m - (A + b0 w), would round to ~1e-16 / w of a
  // part, S then off by ~1e-16 S'(m), 5e-15 of its size at w = 0.015).
  // layout(wa, wb, regions) writes the regions of the segment [wa, wb] and returns their
  // number, 0 where the default layout serves.
  struct Region {
    double a0 = 0.0, b0 = 0.0;
    int n = 0;
  };
  static constexpr int max_regions = 4;
  using Layout = std::function<int(double, double, Region*)>;

  // S over w in [10^log10_lo, 10^log10_hi) and m in [0, range(w)]: [0, near(w)] cut into
  // equal parts of at most `part_widths` w each, and (where near(w) < range(w) across
  // the segment) [near(w), range(w)] into equal parts of at most `far_length` (at most
  // max_parts in all); `monotone`: S is the whole expectation and monotone in m there,
  // so that top(w) is the larger of |S| at the ends; else top(w) is the largest
  // |out[0] + out[2]| at the segment's nodes.
  SmoothingTable(Inner inner, Range near, Range range, double log10_lo, double log10_hi,
                 double part_widths, double far_length, bool monotone, Layout layout = nullptr)
      : inner_(std::move(inner)),
        near_(std::move(near)),
        range_(std::move(range)),
        lo_(log10_lo),
        n_seg_(static_cast<int>(std::ceil((log10_hi - log10_lo) * per_decade))),
        part_widths_(part_widths),
        far_length_(far_length),
        monotone_(monotone),
        layout_(std::move(layout)),
        segments_(n_seg_),
        halves_(2 * n_seg_) {}

  // S(.; w) on [0, M(w)] as Chebyshev series in each part: n1 parts of length len1 on
  // [0, N], n2 of length len2 on [N, M]; or, in a caller's layout (nr > 0), rn[r] parts
  // of length rl[r] from ra[r] + rb[r] (the region's a0 and b0 w), the first of them
  // part rg[r].
  struct At {
    int n1 = 0, n2 = 0;
    double len1 = 0.0, len2 = 0.0, N = 0.0, M = 0.0;
    int nr = 0;
    double ra[max_regions] = {}, rb[max_regions] = {}, rl[max_regions] = {};
    int rn[max_regions] = {}, rg[max_regions] = {};
    double top = 0.0;    // see the constructor
    double bound = 0.0;  // |error| <= bound on [0, M(w)] (bound_factor times the checks')
    double c[max_parts][deg_m + 1];
    // The part of the centre m (its coefficients) and m's place t in it, in [-1, 1].
    const double* locate(double m, double& t) const {
      if (nr > 0) {
        int r = 0;
        while (r + 1 < nr && m - ra[r + 1] >= rb[r + 1]) ++r;
        const double x = ((m - ra[r]) - rb[r]) / rl[r];
        const int g = std::min(rn[r] - 1, std::max(0, static_cast<int>(x)));
        t = 2.0 * (x - g) - 1.0;
        return c[rg[r] + g];
      }
      const bool near = m < N || n2 == 0;
      const double r = near ? m / len1 : (m - N) / len2;
      const int g = std::min((near ? n1 : n2) - 1, std::max(0, static_cast<int>(r)));
      t = 2.0 * (r - g) - 1.0;
      return c[near ? g : n1 + g];
    }
    double eval(double m) const {
      double t;
      const double* cg = locate(m, t);
      return cheb::clenshaw(cg, deg_m, t);
    }
    // S at n <= 16 centres m[i] <= M into out[i]: the same numbers as eval, their
    // Clenshaw recurrences interleaved (each alone is bound by its latency)
    void eval_many(const double* m, int n, double* out) const {
      const double* cp[16];
      double t[16], t2[16], b1[16] = {}, b2[16] = {};
      for (int i = 0; i < n; ++i) {
        cp[i] = locate(m[i], t[i]);
        t2[i] = 2.0 * t[i];
      }
      for (int k = deg_m; k >= 1; --k)
        for (int i = 0; i < n; ++i) {
          const double b0 = t2[i] * b1[i] + (cp[i][k] - b2[i]);
          b2[i] = b1[i];
          b1[i] = b0;
        }
      for (int i = 0; i < n; ++i) out[i] = t[i] * b1[i] + (cp[i][0] - b2[i]);
    }
    // S at n <= 16 centres m[i] >= 0 into out[i]: from the table (eval_many) where
    // m[i] <= M, else beyond(m[i])
    template <class F>
    void eval_or(const double* m, int n, double* out, F&& beyond) const {
      double mt[16], st[16];
      int at[16], nt = 0;
      for (int i = 0; i < n; ++i) {
        if (m[i] <= M) {
          at[nt] = i;
          mt[nt++] = m[i];
        } else {
          out[i] = beyond(m[i]);
        }
      }
      eval_many(mt, nt, st);
      for (int j = 0; j < nt; ++j) out[at[j]] = st[j];
    }
    // the centre of part g at x in [0, 1]
    double centre(int g, double x) const {
      if (nr > 0) {
        int r = 0;
        while (r + 1 < nr && g >= rg[r + 1]) ++r;
        return ra[r] + (rb[r] + (g - rg[r] + x) * rl[r]);
      }
      return g < n1 ? (g + x) * len1 : N + (g - n1 + x) * len2;
    }
  };

  // The weight of a table's error bound in an outer integral int f(u) p(u) S(a u) du
  // (u ~ N(0, s1^2)) that reads S from the table only where |a u| <= M (At::M), r = M / a:
  // with |dS| <= bound there,
  //     |int f(u) p(u) dS(a u) du| <= bound E[|f(u)|; |u| <= r],
  // and with P = P(|u| <= r) = erf(r / (s1 sqrt 2)), |f| <= sup_f and norm1 >= sqrt(E
  // f(u)^2), by Cauchy-Schwarz
  //     E[|f(u)|; |u| <= r] <= min(norm1, norm1 sqrt(P), sup_f P)
  // (sup_f = inf where f is unbounded). Next to the diagonal at large variances (r / s1
  // ~ 12 sqrt(1 - c^2) / c for softsign) P is small, where norm1 alone charged the whole
  // line with the table's error and sent the pair to its own table (0.35-0.6 ms).
  static double error_weight(double norm1, double sup_f, double r, double s1) {
    const double x = r / (s1 * 1.4142135623730951);
    // (P rounded up: erf to an ulp or two; 1 where r / s1 is not a number)
    const double P = x >= 0.0 ? std::fmin(1.0, std::erf(x) * (1.0 + 1e-12)) : 1.0;
    return std::fmin(norm1, std::fmin(norm1 * std::sqrt(P), sup_f * P));
  }

  // S(.; w) into out; false outside the table's range of w or in a marked segment.
  bool at(double w, At& out) const {
    if (!(w > 0.0) || !std::isfinite(w)) return false;
    const double l = (std::log10(w) - lo_) * per_decade;
    if (!(l >= 0.0 && l < n_seg_)) return false;
    const int s = static_cast<int>(l);
    const Segment* seg = &segments_.get(s, [this](int k, Segment& g) { build(k, per_decade, g); });
    double t = 2.0 * (l - s) - 1.0;
    if (!seg->ok) {
      // a segment that failed its checks: its halves, each built and checked alike on
      // first use (linear_region_tanh' at w in [0.1, 0.18] needed them before its inner
      // sums were taken directly on the panels and the transforms about the mean)
      const double lh = 2.0 * l;
      const int h = std::min(2 * n_seg_ - 1, static_cast<int>(lh));
      seg = &halves_.get(h, [this](int k, Segment& g) { build(k, 2 * per_decade, g); });
      t = 2.0 * (lh - h) - 1.0;
    }
    if (!seg->ok || !interpolate(*seg, t, w, out)) return false;
    out.bound = seg->err * bound_factor * out.top;
    return true;
  }

 private:
  struct Segment {
    bool ok = false;
    int parts = 0, n1 = 0, n2 = 0;
    int nr = 0;  // a caller's layout (Layout): its regions
    Region reg[max_regions];
    double err = 0.0;       // the largest error at the checks, relative to top(w)
    double top = 0.0;       // the largest scale at the nodes (not monotone)
    std::vector<double> d;  // [(g * (deg_m + 1) + k) * (deg_w + 1) + j]: coefficient k of
                            // part g in x, its coefficient j in log10 w
  };

  // 10^(lo + (s + (1 + t) / 2) / pd), segment s of pd a decade
  double w_at(int s, double t, int pd) const {
    return std::pow(10.0, lo_ + (s + 0.5 * (1.0 + t)) / pd);
  }

  // The parts' layout at w into out (n1, n2 or the regions from the segment); false where
  // a part is empty or M is not finite.
  bool layout(const Segment& seg, double w, At& out) const {
    const int n1 = seg.n1, n2 = seg.n2;
    out.n1 = n1;
    out.n2 = n2;
    out.M = range_(w);
    out.nr = seg.nr;
    if (seg.nr > 0) {
      int first = 0;
      for (int r = 0; r < seg.nr; ++r) {
        out.ra[r] = seg.reg[r].a0;
        out.rb[r] = seg.reg[r].b0 * w;
        out.rn[r] = seg.reg[r].n;
        out.rg[r] = first;
        first += seg.reg[r].n;
      }
      bool ok = std::isfinite(out.M);
      for (int r = 0; r < seg.nr; ++r) {
        // (the region's length: to the next one's start, the last to M)
        const double len = r + 1 < seg.nr
                               ? (out.ra[r + 1] - out.ra[r]) + (out.rb[r + 1] - out.rb[r])
                               : (out.M - out.ra[r]) - out.rb[r];
        out.rl[r] = len / out.rn[r];
        ok = ok && out.rl[r] > 0.0;
      }
      return ok;
    }
    out.N = n2 > 0 ? near_(w) : out.M;
    out.len1 = out.N / n1;
    out.len2 = n2 > 0 ? (out.M - out.N) / n2 : 0.0;
    return std::isfinite(out.M) && out.len1 > 0.0 && (n2 == 0 || out.len2 > 0.0);
  }

  // The segment's S(.; w) at t = 2 (l - s) - 1 in [-1, 1] into out.
  bool interpolate(const Segment& seg, double t, double w, At& out) const {
    double T[deg_w + 1];
    cheb::basis(deg_w, t, T);
    const bool laid = layout(seg, w, out);
    const double* dk = seg.d.data();
    for (int g = 0; g < seg.parts; ++g)
      for (int k = 0; k <= deg_m; ++k, dk += deg_w + 1) {
        double v = 0.0;
        for (int j = 0; j <= deg_w; ++j) v += dk[j] * T[j];
        out.c[g][k] = v;
      }
    double top = seg.top;
    if (monotone_) {  // the series at m = 0 (t = -1) and at m = M (t = 1)
      double s0 = 0.0, s1 = 0.0;
      for (int k = 0; k <= deg_m; ++k) {
        s0 += k % 2 ? -out.c[0][k] : out.c[0][k];
        s1 += out.c[seg.parts - 1][k];
      }
      top = std::fmax(std::fabs(s0), std::fabs(s1));
    }
    out.top = top;
    return laid && std::isfinite(top);
  }

  // cheb::lobatto_coefficients of `count` functions (y[j * count + i], j the node), each
  // less its mean at the nodes, which is then added to its coefficient 0 (where it is
  // exactly that coefficient): the cosines' rounding, ~1e-16 each, weighs then on the
  // values' spread, not on their size (S ~ 1 varying by 1e-2 on a part next to the
  // kink: the Lobatto transform off by ~5e-15 of it, which set the tables' bound).
  static void lobatto_about_mean(int deg, int count, const double* y, double* c,
                                 const double* cosines) {
    std::vector<double> mean(count, 0.0), dev(std::size_t(deg + 1) * count);
    for (int j = 0; j <= deg; ++j)
      for (int i = 0; i < count; ++i) mean[i] += y[std::size_t(j) * count + i];
    for (int i = 0; i < count; ++i) mean[i] /= deg + 1;
    for (int j = 0; j <= deg; ++j)
      for (int i = 0; i < count; ++i)
        dev[std::size_t(j) * count + i] = y[std::size_t(j) * count + i] - mean[i];
    cheb::lobatto_coefficients(deg, count, dev.data(), count, c, count, cosines);
    for (int i = 0; i < count; ++i) c[i] += mean[i];
  }

  // S's coefficients in x on each part at w (c[g * (deg_m + 1) + k]) and the largest
  // |S| at the nodes; false where the rules disagree or the last coefficients are not
  // small.
  bool coefficients(double w, const Segment& seg, double* c, double& top) const {
    const double* cs = cheb::lobatto_cosines<deg_m>();
    const int parts = seg.parts;
    At a;
    if (!layout(seg, w, a)) return false;
    std::vector<double> y(parts * (deg_m + 1)), alt(parts * (deg_m + 1));
    top = 0.0;
    for (int g = 0; g < parts; ++g)
      for (int j = 0; j <= deg_m; ++j) {
        double v[3];
        inner_(a.centre(g, 0.5 * (1.0 + cs[j])), w, v);
        y[g * (deg_m + 1) + j] = v[0];
        alt[g * (deg_m + 1) + j] = v[1];
        top = std::fmax(top, std::fabs(v[0] + v[2]));
      }
    if (!(top > 0.0) || !std::isfinite(top)) return false;
    for (std::size_t i = 0; i < y.size(); ++i)
      if (!(std::fabs(y[i] - alt[i]) <= rule_rtol * top)) return false;
    for (int g = 0; g < parts; ++g) {
      double* cg = c + g * (deg_m + 1);
      lobatto_about_mean(deg_m, 1, y.data() + g * (deg_m + 1), cg, cs);
      for (int k = deg_m - 7; k <= deg_m; ++k)
        if (!(std::fabs(cg[k]) <= tail_rtol * top)) return false;
    }
    return true;
  }

  // Segment s of pd a decade (per_decade, or twice that for a failed segment's halves).
  void build(int s, int pd, Segment& g) const {
    g.ok = false;
    const double wa = w_at(s, -1.0, pd), wb = w_at(s, 1.0, pd);
    // A caller's layout where it gives one
    g.nr = layout_ ? layout_(wa, wb, g.reg) : 0;
    if (g.nr > max_regions) return;
    if (g.nr > 0) {
      g.parts = 0;
      for (int r = 0; r < g.nr; ++r) {
        if (!(g.reg[r].n >= 1)) return;
        g.parts += g.reg[r].n;
      }
      g.n1 = g.parts;
      g.n2 = 0;
    } else {
      // The default: the far region where it is there across the segment (near(w) <
      // range(w) at both ends); the parts' lengths at its smallest w, the longest where
      // near(w) / w and range(w) - near(w) fall with w (the callers' reaches: affine in w).
      const bool split = near_(wa) < range_(wa) && near_(wb) < range_(wb);
      const double nw = (split ? near_(wa) : range_(wa)) / (part_widths_ * wa);
      const double fw = split ? (range_(wa) - near_(wa)) / far_length_ : 0.0;
      if (!(nw > 0.0) || !(nw <= max_parts) || !(fw <= max_parts)) return;
      g.n1 = std::max(1, static_cast<int>(std::ceil(nw)));
      g.n2 = split ? std::max(1, static_cast<int>(std::ceil(fw))) : 0;
      g.parts = g.n1 + g.n2;
    }
    if (g.parts > max_parts) return;
    const int nk = g.parts * (deg_m + 1);
    const double* cw = cheb::lobatto_cosines<deg_w>();
    // coefficient k (all parts) at the node j in log10 w: cx[j * nk + k]
    std::vector<double> cx((deg_w + 1) * nk), flat((deg_w + 1) * nk);
    std::vector<double> tops(deg_w + 1);
    for (int j = 0; j <= deg_w; ++j) {
      if (!coefficients(w_at(s, cw[j], pd), g, cx.data() + j * nk, tops[j])) return;
      g.top = std::fmax(g.top, tops[j]);
    }
    // [j * nk + k]: coefficient j in log10 w of k
    lobatto_about_mean(deg_w, nk, cx.data(), flat.data(), cw);
    g.d.assign(std::size_t(nk) * (deg_w + 1), 0.0);
    for (int k = 0; k < nk; ++k)
      for (int j = 0; j <= deg_w; ++j) g.d[std::size_t(k) * (deg_w + 1) + j] = flat[j * nk + k];
    // the checks between the nodes: t midway between Lobatto points, on each part
    // centres between those in x, relative to the largest |S| at the nodes on either side
    static constexpr double xs[9] = {0.0,    0.0137, 0.0891, 0.2213, 0.3902,
                                     0.5911, 0.7777, 0.9514, 1.0};
    for (int j = 0; j < deg_w; ++j) {
      const double t = std::cos(special::pi * (j + 0.5) / deg_w);
      const double w = w_at(s, t, pd);
      const double top = std::fmax(tops[j], tops[j + 1]);
      At a;
      if (!interpolate(g, t, w, a)) return;
      for (int p = 0; p < g.parts; ++p)
        for (double x : xs) {
          double v[3];
          const double m = a.centre(p, x);
          inner_(m, w, v);
          const double e = std::fabs(a.eval(m) - v[0]);
          if (!(e <= check_rtol * top)) return;
          g.err = std::fmax(g.err, std::fmax(e / top, min_err));
        }
    }
    g.ok = true;
  }

  Inner inner_;
  Range near_, range_;
  double lo_;
  int n_seg_;
  double part_widths_, far_length_;
  bool monotone_;
  Layout layout_;
  LazySegments<Segment> segments_;
  LazySegments<Segment> halves_;  // of the segments that failed, on first use
};

}  // namespace detail
}  // namespace sigprop
