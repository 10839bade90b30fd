// Hermite (Mehler) expansion of an activation, tabulated in log q: the engine of
// the two-point side (bivariate expectations, c-map, chi_c, c*, NNGP kernels).
//
// With h_n = He_n / sqrt(n!) the orthonormal probabilists' Hermite polynomials and
//     a_n(q) = E[phi(sqrt(q) Z) h_n(Z)],            Z ~ N(0, 1),
// Mehler's formula gives, for u = sqrt(q1) Z1, v = sqrt(q2)(c Z1 + sqrt(1 - c^2) Z2),
//     E[phi(u) phi(v)]   = sum_n a_n(q1) a_n(q2) c^n,
// and, since sqrt(q) E[phi'(sqrt(q) Z) h_n(Z)] = sqrt(n + 1) a_{n+1}(q) (Stein),
//     E[phi'(u) phi'(v)] = sum_n b_n(q1) b_n(q2) c^n,   b_n = sqrt(n + 1) a_{n+1} / sqrt(q).
// (O'Donnell 2014, "Analysis of Boolean Functions", ch. 11; Daniely et al. 2016,
// "Toward deeper understanding of neural networks", for dual activations.)
//
// Truncation after order n is bounded rigorously by Cauchy-Schwarz and Parseval:
//     |sum_{m>n} x_m y_m c^m| <= sqrt(T_n(x) T_n(y)) |c|^(n+1),
//     T_n(x) = E[f(sqrt(q1) Z)^2] - sum_{m<=n} x_m^2 >= 0,
// with E[f^2] (f = phi or phi') from the one-point moments. A series evaluation
// that cannot reach its tolerance reports failure and the caller falls back to
// the nested quadrature (bivariate_direct), which is exact but slow: the series
// fails only next to |c| = 1 for activations whose coefficients decay slowly
// (kinks, or large q).
//
// The coefficients a_n(q), n <= n_max, are smooth (real-analytic) functions of
// log q. Like the one-point moment tables (moment_table.hpp), each is
// interpolated by a Chebyshev polynomial of degree 16 on segments of an eighth
// of a decade of q in [1e-12, 1e14], built lazily (std::call_once) from a fixed
// Gauss-Kronrod rule at the 17 Chebyshev-Lobatto points and checked at two
// further points against the rule: a segment whose interpolant misses any
// coefficient by more than check_rtol sqrt(E[phi^2]) is marked, and there the
// coefficients come from the rule itself (exact, ~1 ms) where an expansion serves
// many evaluations (a kernel layer's inputs, a cell's c*), while single
// evaluations go to the quadrature. Segment contents do not
// depend on when or by which thread they were built, so results are bitwise
// identical for any thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "chebyshev.hpp"
#include "moment_table.hpp"

namespace sigprop {

namespace detail {

// a_n = E[phi(sqrt(q) Z) h_n(Z)] (d = 0) for n = 0..n_max from Gauss-Kronrod 15 on
// the kink-aware mesh refined to pieces no wider than `width` (which must resolve
// the wavelength ~ pi / sqrt(2 n_max) of h_{n_max}). Returns false where the
// result misses Parseval's inequality sum a_n^2 <= E[phi^2] beyond rounding.
inline bool hermite_coefficients_rule(const Activation& a, double q, int n_max, double width,
                                      double phi_sq, double* an) {
  using namespace special;
  for (int n = 0; n <= n_max; ++n) an[n] = 0.0;
  if (!(q > 0.0) || !std::isfinite(q)) return false;
  const double s = std::sqrt(q);
  quad::Mesh mesh;
  // |h_n(z)| e^{-z^2/4} is bounded by ~1 for every n, so the integrand
  // phi h_n e^{-z^2/2} at |z| = 10 (the one-point range) can still be ~1e-11:
  // integrate to |z| = 16 (e^{-64}).
  mesh.lo = std::fmin(mesh.lo, -16.0);
  mesh.hi = std::fmax(mesh.hi, 16.0);
  quad::add_gauss_mesh(mesh);
  add_activation_mesh(a, 0.0, s, mesh);
  mesh.finish();
  // h_{n+1}(z) = z h_n(z) / sqrt(n+1) - sqrt(n / (n+1)) h_{n-1}(z), run for the 15
  // nodes of a piece side by side (independent recurrences: the loop over nodes
  // vectorises, the one over n is a dependency chain).
  std::vector<double> inv(n_max + 1), ratio(n_max + 1);
  for (int n = 0; n < n_max; ++n) {
    inv[n] = 1.0 / std::sqrt(double(n + 1));
    ratio[n] = std::sqrt(double(n) / double(n + 1));
  }
  for (int i = 0; i + 1 < mesh.n; ++i) {
    const int parts = std::max(1, int(std::ceil((mesh.x[i + 1] - mesh.x[i]) / width)));
    const double step = (mesh.x[i + 1] - mesh.x[i]) / parts;
    for (int p = 0; p < parts; ++p) {
      const double lo = mesh.x[i] + p * step, hi = p + 1 == parts ? mesh.x[i + 1] : lo + step;
      const double c = 0.5 * (lo + hi), h = 0.5 * (hi - lo);
      // 16 lanes (the 16th has weight 0) so that the node loop vectorises.
      double z[16], w[16], hm1[16], h0[16], t[16];
      bool any = false;
      for (int j = 0; j < 15; ++j) {
        const int k = j < 7 ? j : 14 - j;  // xgk[k], mirrored for j > 7
        z[j] = j < 7 ? c - h * quad::xgk[k] : (j == 7 ? c : c + h * quad::xgk[k]);
        w[j] = quad::wgk[j <= 7 ? j : 14 - j] * h * npdf(z[j]) * phi(a, s * z[j]);
        any = any || w[j] != 0.0;
      }
      if (!any) continue;
      z[15] = c;
      w[15] = 0.0;
      for (int j = 0; j < 16; ++j) {
        hm1[j] = 0.0;
        h0[j] = 1.0;
      }
      auto lane_sum = [&t]() {
        // fixed pairwise order: deterministic and independent of vectorisation
        double u[8];
        for (int j = 0; j < 8; ++j) u[j] = t[j] + t[j + 8];
        return ((u[0] + u[4]) + (u[2] + u[6])) + ((u[1] + u[5]) + (u[3] + u[7]));
      };
      for (int j = 0; j < 16; ++j) t[j] = w[j];
      an[0] += lane_sum();
      for (int n = 0; n < n_max; ++n) {
        const double iv = inv[n], r = ratio[n];
        for (int j = 0; j < 16; ++j) {
          const double hp1 = z[j] * h0[j] * iv - r * hm1[j];
          hm1[j] = h0[j];
          h0[j] = hp1;
          t[j] = w[j] * hp1;
        }
        an[n + 1] += lane_sum();
      }
    }
  }
  double sum = 0.0;
  for (int n = 0; n <= n_max; ++n) sum += an[n] * an[n];
  return std::isfinite(sum) && sum <= phi_sq * (1.0 + 1e-13) + 1e-300;
}

// Piece width that resolves h_n up to n = n_max: about 0.45 of its shortest
// wavelength 2 pi / sqrt(2 n_max) (Gauss-Kronrod 15 is then exact to rounding).
inline double hermite_rule_width(int n_max) {
  return std::fmin(0.125, 2.0 / std::sqrt(2.0 * n_max));
}

}  // namespace detail

// Whether bivariate expectations of this (canonical) kind go through the
// Hermite table (every kind without a closed-form bivariate expectation).
inline bool uses_hermite_table(Kind k) {
  switch (k) {
    case Kind::linear:
    case Kind::relu:
    case Kind::leaky_relu:
    case Kind::erf:
    case Kind::sin: return false;
    default: return true;
  }
}

class HermiteTable {
 public:
  static constexpr double log10_lo = -12.0, log10_hi = 14.0;
  static constexpr int per_decade = 8;
  static constexpr int n_seg = int((log10_hi - log10_lo) * per_decade);
  static constexpr int deg = 16;
  static constexpr int n_max = 512;  // highest order tabulated
  // Accuracy a segment must show at its check points, relative to sqrt(E[phi^2]).
  static constexpr double check_rtol = 1e-13;

  explicit HermiteTable(const Activation& a) : act_(a), slots_(new Slot[n_seg]) {}

  static double q_lo() { return 1e-12; }
  static double q_hi() { return 1e14; }

  // Where q falls in the table: its segment and the Chebyshev basis there.
  struct Point {
    int n = 0;  // orders available (0..n-1); 0 outside the table or in a marked segment
    double small0 = 0.0;  // |a_m| <= small0 for n <= m <= n_max (orders not stored)
    double small1 = 0.0;  // sqrt(m) |a_m| <= small1 there
    const double* c = nullptr;  // the segment's coefficients, c[k * n + j]
    double T[deg + 1];
    // Orders j0..j1-1 (j1 <= n) into out[j0..j1-1].
    void eval(int j0, int j1, double* out) const {
      for (int j = j0; j < j1; ++j) out[j] = 0.0;
      for (int k = 0; k <= deg; ++k) {
        const double* ck = c + size_t(k) * n;
        const double tk = T[k];
        for (int j = j0; j < j1; ++j) out[j] += tk * ck[j];
      }
    }
  };

  Point locate(double q) const {
    Point p;
    if (!(q >= q_lo() && q < q_hi())) return p;
    const double u = (std::log10(q) - log10_lo) * per_decade;
    int s = int(u);
    if (s < 0) s = 0;
    if (s >= n_seg) s = n_seg - 1;
    const Segment& g = segment(s);
    if (!g.usable) return p;
    p.n = g.n;
    p.small0 = g.small0;
    p.small1 = g.small1;
    p.c = g.c.data();
    basis(2.0 * (u - s) - 1.0, p.T);
    return p;
  }

  // a_0..a_{n-1} at q into out (n <= n_max + 1); returns the number of
  // coefficients written: up to the segment's last significant order (beyond it
  // every a_m is below 1e-16 sqrt(E[phi^2])), 0 when q is outside the table or
  // the segment is marked.
  int coefficients(double q, int n, double* out) const {
    const Point p = locate(q);
    const int m = std::min(n, p.n);
    if (m > 0) p.eval(0, m, out);
    return m;
  }

  const Activation& activation() const { return act_; }

 private:
  struct Segment {
    bool usable = false;
    int n = 0;              // number of coefficients kept (orders 0..n-1)
    double small0 = 0.0;    // bound on |a_m| for n <= m <= n_max anywhere in the segment
    double small1 = 0.0;    // bound on sqrt(m) |a_m| there
    std::vector<double> c;  // Chebyshev coefficients, c[k * n + j] for order j
  };
  struct Slot {
    std::once_flag once;
    std::unique_ptr<Segment> seg;
  };

  static void basis(double t, double* T) {
    T[0] = 1.0;
    T[1] = t;
    for (int k = 2; k <= deg; ++k) T[k] = 2.0 * t * T[k - 1] - T[k - 2];
  }

  static double q_at(int s, double t) {
    return std::pow(10.0, log10_lo + (s + 0.5 * (t + 1.0)) / per_decade);
  }

  const Segment& segment(int s) const {
    Slot& slot = slots_[s];
    std::call_once(slot.once, [&] {
      std::unique_ptr<Segment> seg(new Segment);
      build(s, *seg);
      slot.seg = std::move(seg);
    });
    return *slot.seg;
  }

  bool rule(double q, double* an) const {
    const double phi_sq = moments(act_, q, false).phi_sq;
    return detail::hermite_coefficients_rule(act_, q, n_max, detail::hermite_rule_width(n_max),
                                             phi_sq, an) &&
           std::isfinite(phi_sq);
  }

  void build(int s, Segment& g) const {
    const int N = n_max + 1;
    std::vector<double> y(size_t(deg + 1) * N);
    double qn[deg + 1];
    double norm = 0.0, norm1 = 0.0;
    for (int j = 0; j <= deg; ++j) {
      qn[j] = q_at(s, std::cos(special::pi * j / deg));
      if (!rule(qn[j], &y[size_t(j) * N])) return;
      const Moments m = moments(act_, qn[j], false);
      norm = std::fmax(norm, m.phi_sq);
      norm1 = std::fmax(norm1, m.dphi_sq);
    }
    norm = std::sqrt(norm);
    norm1 = std::sqrt(norm1);
    // Keep orders up to the last one above the rounding level of the rule anywhere
    // in the segment, for phi and for phi' (whose coefficients are
    // b_{m-1} = sqrt(m) a_m / sqrt(q), relatively larger at small q). The orders
    // dropped are bounded by small0 (phi) and small1 (phi', times sqrt(q) below).
    auto negligible = [&](int n, double a, double q) {
      return std::fabs(a) <= 1e-16 * norm &&
             (n == 0 || std::fabs(a) * std::sqrt(double(n) / q) <= 1e-16 * norm1);
    };
    int keep = 2;
    for (int j = 0; j <= deg; ++j)
      for (int n = 0; n < N; ++n)
        if (!negligible(n, y[size_t(j) * N + n], qn[j])) keep = std::max(keep, n + 1);
    double small0 = 0.0, small1 = 0.0;  // small1 bounds sqrt(m) |a_m| (times 1/sqrt(q))
    for (int j = 0; j <= deg; ++j)
      for (int n = keep; n < N; ++n) {
        const double v = std::fabs(y[size_t(j) * N + n]);
        small0 = std::fmax(small0, v);
        small1 = std::fmax(small1, v * std::sqrt(double(n)));
      }
    // Margin for the values between the nodes (checked at two points below).
    small0 *= 4.0;
    small1 *= 4.0;
    // Chebyshev coefficients of orders 0..keep-1 from the values at the Lobatto points.
    std::vector<double> c(size_t(deg + 1) * keep);
    cheb::lobatto_coefficients(deg, keep, y.data(), size_t(N), c.data(), size_t(keep));
    g.n = keep;
    g.small0 = small0;
    g.small1 = small1;
    g.c = std::move(c);
    // Check points between the nodes, against the rule there.
    static constexpr double tc[2] = {-0.37, 0.61};
    std::vector<double> direct(N), interp(N);
    for (double t : tc) {
      const double q = q_at(s, t);
      if (!rule(q, direct.data())) return;
      Point p;
      p.n = keep;
      p.c = g.c.data();
      basis(t, p.T);
      p.eval(0, keep, interp.data());
      for (int n = 0; n < N; ++n) {
        if (n < keep ? !(std::fabs(interp[n] - direct[n]) <= check_rtol * norm)
                     : !(std::fabs(direct[n]) <= small0 &&
                         std::fabs(direct[n]) * std::sqrt(double(n)) <= small1))
          return;
      }
    }
    g.usable = true;
  }

  Activation act_;
  std::unique_ptr<Slot[]> slots_;
};

namespace detail {

// The Hermite table of an activation: at most 128 are kept (a segment holds
// ~70 kB), least recently used dropped first, see TableCache in moment_table.hpp.
using HermiteTableCache = TableCache<HermiteTable, 128>;

inline const HermiteTable* hermite_table(const Activation& a) {
  return HermiteTableCache::fetch(a);
}

}  // namespace detail

// The Hermite expansion of phi at one variance q, ready for series evaluation:
// the coefficients a_0..a_{n-1} (orders n..n_max are below `small`, those beyond
// n_max unknown), E[phi^2], E[phi'^2], and what bounds the remainder of a
// truncated series (see hermite_bivariate):
//   U0[m] = sum_{m < j < n} a_j^2 (the stored orders above m, summed from the top:
//           no cancellation), U1[m] the same for b_j = sqrt(j + 1) a_{j+1} / sqrt(q);
//   R0 = E[phi^2] - sum_{j < n} a_j^2 >= the mass beyond n_max (known to rounding
//        only, so floored at 4e-15 E[phi^2]), R1 the same for phi'.
struct HermiteAt {
  static constexpr int N = HermiteTable::n_max;
  static constexpr int block = 32;
  double q = special::nan;
  double phi_sq = special::nan, dphi_sq = special::nan;
  int n = 0;      // orders of phi stored (0..n-1); phi' has n - 1
  int done = 0;   // orders evaluated so far (from the table, in blocks)
  bool full = false;  // every order evaluated and U0, U1, R0, R1 set
  double small0 = 0.0, small1 = 0.0;
  double R0 = 0.0, R1 = 0.0;
  HermiteTable::Point point;  // point.n == 0: the rule computed every order
  // Keeps the table that `point` reads alive (caches may drop it: clear_cache, LRU).
  std::shared_ptr<const HermiteTable> table;
  // P0[m] = E[phi^2] - sum_{j <= m} a_j^2 (prefix form, floored at the rounding
  // level of the moments), P1 the same for phi'; U0, U1 the suffix form.
  std::vector<double> a, P0, P1, U0, U1;

  bool ok() const { return n > 1; }

  // From the table or, where its segment is marked and allow_rule is set, by the
  // rule (~1 ms). False (and n = 0) when neither applies.
  bool set(const Activation& act, double q_, bool allow_rule) {
    q = q_;
    n = done = 0;
    full = false;
    if (!(q > 0.0) || !std::isfinite(q)) return false;
    const Moments m = moments(act, q, false);
    phi_sq = m.phi_sq;
    dphi_sq = m.dphi_sq;
    if (!std::isfinite(phi_sq) || !std::isfinite(dphi_sq)) return false;
    if (int(a.size()) < N + 1) {
      for (auto* v : {&a, &P0, &P1, &U0, &U1}) v->resize(N + 1);
    }
    table = detail::HermiteTableCache::fetch_shared(act);
    point = table->locate(q);
    if (point.n > 0) {
      n = std::max(point.n, 2);
      small0 = point.small0;
      small1 = point.small1 / std::sqrt(q);
      if (point.n < 2) a[1] = 0.0;
      return true;
    }
    if (!allow_rule ||
        !detail::hermite_coefficients_rule(act, q, N, detail::hermite_rule_width(N), phi_sq,
                                           a.data()))
      return false;
    n = N + 1;
    small0 = small1 = 0.0;
    prefix(0, n);
    return true;
  }

  // Evaluate (if needed) the orders below m, in blocks; returns the number available.
  int ensure(int m) {
    m = std::min(m, n);
    if (m <= done) return done;
    const int to = std::min(n, std::max(m, done + block));
    point.eval(done, std::min(to, point.n), a.data());
    prefix(done, to);
    return done;
  }

  // Every order, and the suffix sums of the second bound (see hermite_bivariate).
  void complete() {
    if (full || !ok()) return;
    ensure(n);
    double s0 = 0.0, s1 = 0.0;
    for (int j = n - 1; j >= 0; --j) {
      U0[j] = s0;
      s0 += a[j] * a[j];
      if (j <= n - 2) {
        U1[j] = s1;
        s1 += double(j + 1) * a[j + 1] * a[j + 1] / q;
      }
    }
    R0 = std::fmax(phi_sq - s0, 4e-15 * phi_sq);
    R1 = std::fmax(dphi_sq - s1, 4e-15 * dphi_sq);
    full = true;
  }

  // Bound on sum_{m > k, m <= N - d} f_m^2 of the stored and unstored orders up to
  // n_max (f = phi for d = 0, phi' for d = 1); needs complete().
  double mass_above(int d, int k) const {
    const int stored = n - d;  // orders 0..stored-1 are in U
    const double u = k < stored ? (d == 0 ? U0[k] : U1[k]) : 0.0;
    const double sm = d == 0 ? small0 : small1;
    const int unstored = (N - d) - std::max(k, stored - 1);
    return u + (unstored > 0 ? unstored * sm * sm : 0.0);
  }

 private:
  double s0_ = 0.0, s1_ = 0.0;
  void prefix(int from, int to) {
    if (from == 0) s0_ = s1_ = 0.0;
    const double f0 = 4e-15 * phi_sq, f1 = 4e-15 * dphi_sq;
    for (int j = from; j < to; ++j) {
      s0_ += a[j] * a[j];
      P0[j] = std::fmax(phi_sq - s0_, f0);
      if (j >= 1) {  // b_{j-1} = sqrt(j) a_j / sqrt(q)
        s1_ += double(j) * a[j] * a[j] / q;
        P1[j - 1] = std::fmax(dphi_sq - s1_, f1);
      }
    }
    done = to;
  }
};

// E[f(u) f(v)] (f = phi for d = 0, phi' for d = 1) by the truncated Mehler series
// of x at q1 and y at q2, when the truncation bound is below rtol
// sqrt(E f(u)^2 E f(v)^2); false otherwise.
//
// The remainder after order k is bounded by Cauchy-Schwarz in two parts: the
// orders up to n_max, whose squared masses are known (mass_above), and those
// beyond, whose masses are below R:
//   |sum_{m>k} x_m y_m c^m| <= sqrt(M_k(x) M_k(y)) |c|^(k+1) + sqrt(R(x) R(y)) |c|^(n_max+1).
//
// Two bounds on the remainder after order k, tried in turn:
//  1. prefix form, from the orders evaluated so far (cheap: |c| well below 1 needs
//     a few dozen): |sum_{m>k} x_m y_m c^m| <= sqrt(P_k(x) P_k(y)) |c|^(k+1), with
//     P_k = E[f^2] - sum_{m<=k} f_m^2, known only to the rounding of E[f^2];
//  2. suffix form, after every order is evaluated: the orders up to n_max, whose
//     squared masses are summed from the top (no cancellation, mass_above), and
//     those beyond, whose masses are below R:
//     sqrt(M_k(x) M_k(y)) |c|^(k+1) + sqrt(R(x) R(y)) |c|^(n_max+1).
// A complete expansion (complete()) is never modified here, so that threads can
// share it.
inline bool hermite_bivariate(HermiteAt& x, HermiteAt& y, int d, double c, double rtol,
                              double& out) {
  if (!x.ok() || !y.ok()) return false;
  const double ac = std::fabs(c);
  if (!(ac < 1.0)) return false;
  const int len = std::min(x.n, y.n) - d;  // orders stored in both: 0..len-1
  const double scale =
      d == 0 ? std::sqrt(x.phi_sq * y.phi_sq) : std::sqrt(x.dphi_sq * y.dphi_sq);
  const double tol = rtol * scale;
  int k = -1;
  // 1. Prefix bound, block by block.
  double cp = 1.0;  // |c|^(m1)
  for (int m0 = 0; m0 < len && k < 0; m0 += 16) {
    const int m1 = std::min(len, m0 + 16);  // orders m0..m1-1 of f
    x.ensure(m1 + d);
    y.ensure(m1 + d);
    for (int m = m0; m < m1; ++m) cp *= ac;
    const double* px = d == 0 ? x.P0.data() : x.P1.data();
    const double* py = d == 0 ? y.P0.data() : y.P1.data();
    if (std::sqrt(px[m1 - 1] * py[m1 - 1]) * cp <= tol) k = m1 - 1;
  }
  // 2. Suffix bound.
  if (k < 0) {
    x.complete();
    y.complete();
    const double far = std::sqrt((d == 0 ? x.R0 * y.R0 : x.R1 * y.R1)) *
                       std::pow(ac, HermiteAt::N + 1 - d);
    if (!(far <= 0.5 * tol)) return false;
    cp = 1.0;
    for (int m = 0; m < len; ++m) {
      cp *= ac;
      if ((m & 15) == 15 || m + 1 == len) {
        if (std::sqrt(x.mass_above(d, m) * y.mass_above(d, m)) * cp + far <= tol) {
          k = m;
          break;
        }
      }
    }
    if (k < 0) return false;
  }
  double s = 0.0;
  if (d == 0) {
    for (int m = k; m >= 0; --m) s = s * c + x.a[m] * y.a[m];
  } else {
    for (int m = k; m >= 0; --m) s = s * c + double(m + 1) * x.a[m + 1] * y.a[m + 1];
    s /= std::sqrt(x.q * y.q);
  }
  out = s;
  return true;
}

// Frees every cached table, one-point and two-point (the next use rebuilds
// them). Safe while kernels run in other threads: each thread's cache holds a
// shared_ptr to the table it uses, which keeps it alive until the thread moves on.
inline void clear_tables() {
  clear_moment_tables();
  detail::HermiteTableCache::instance().clear_all();
}

// Releases a custom activation: its tables, then the activation itself. Call
// only when no kernel can be using this id (from Python: when its last handle
// goes, with the GIL held; a kernel's caller holds the handle).
inline bool release_custom_activation(double id) {
  detail::MomentTableCache::instance().clear_custom(id);
  detail::HermiteTableCache::instance().clear_custom(id);
  return CustomRegistry::instance().release(std::uint32_t(id));
}

}  // namespace sigprop
