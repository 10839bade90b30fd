// E[f(u) f(v)] (f = phi or phi') of tanh, sigmoid, softplus, shifted_softplus and silu
// next to c = 1 at large variances, read from process-wide tables of the remainder over
// the skeleton's closed form.
//
// Where. Single pairs (not a batch's) at q = sqrt(q1 q2) from 10 (tanh; sigmoid from 40,
// through tanh at q / 4; softplus, shifted_softplus and silu from 10^1.55) to 1e4, the
// variances within e^0.1 (10.5 %) of each other, 1 - c in [1e-7, 0.1] and D = q (1 - c)
// >= 0.02. Past D ~ 0.05 the covariance Taylor series (covariance_taylor.hpp) cannot
// reach, and below 1 - c ~ 0.045 neither can the Mehler series: such pairs took the
// Fourier forms (sign_tail_pair.hpp, linear_tail_pair.hpp), 8-13 us each (tanh' ~3.5),
// ~7 % of random pairs next to the diagonal and half of their time.
//
// What is tabled. With mu = log(q2 / q1) / 2 (q1 <= q2) and e = 1 - c,
//   G(log10 q, log10 e, mu^2) = E[f(u) f(v)] - K(q1, q2, c),
// K the skeleton's kernel in closed form: tanh's (2 / pi) asin(c) (sign's), tanh''s 0,
// softplus's and silu's relu's (Cho and Saul, 2009), shifted_softplus's relu's less ln 2
// (E relu(u) + E relu(v)) - ln^2 2, silu''s the step's (ClosedKernel::relu). G is smooth
// in all three, and E is even in mu (q1 and q2 swapped). sigmoid reads tanh's tables at
// q / 4 (sigmoid_pair_from_tanh), and so do softplus's and shifted_softplus's phi',
// which is sigmoid's phi.
//
// Layout. Segments of half a decade in q and a decade in e, mu^2 in [0, 0.05^2] whole,
// each a tensor Chebyshev interpolant of degrees (12, 16, 4) in (log10 q, log10 e, mu^2)
// (sech^2's (14, 20, 4): RemainderTables), built on first use (LazySegments: the same
// numbers whichever thread builds it) from the Fourier forms at its 13 x 17 x 5 Lobatto
// nodes, 25-40 ms a segment on one thread; random pairs over the whole domain build
// ~25 segments a kind and order (+0.3 s on the first call of `benchmarks/
// two_point_report.py`'s 2048 pairs next to the diagonal: 1.3 s for tanh, 1.0 s before).
// A pair is then the skeleton's closed form plus 1105 multiply-adds against its
// segment's coefficients, ~0.3 us in all. (The degrees from fits of the five kinds:
// (12, 12, 3) on whole decades left 1.4e-13 - 7e-13 of G between the nodes, (10, 14,
// 3) on these segments last coefficients up to 2e-13 of the scale at q ~ 10.)
//
// Certification, per segment: every node served by its form (whose results are within
// 2.1e-15 of the scale of nested quadrature: sign_tail_pair.hpp, linear_tail_pair.hpp);
// the last coefficient in each direction within tail_rtol of the smallest Cauchy-Schwarz
// scale sqrt(E f(u)^2 E f(v)^2) at the segment's corners; and the interpolant within
// check_rtol of the scale of the form at 18 points between the nodes. The segment's
// bound is bound_factor times the largest error at those checks (at least min_err), plus
// the form's 2.1e-15; a pair is served where that is within the caller's tolerance. A
// segment that fails is not used (the forms after it in the dispatch serve, as before):
// of those built by random pairs, none of phi's or silu''s, and sech^2's from q =
// 10^2.5 below 1 - c = 1e-4 (RemainderTables).
//
// Accuracy. Against the nested quadrature at 150 random pairs of the domain a kind and
// order: within 4.5e-15 of the scale (phi), 2.9e-15 (the phi' of softplus,
// shifted_softplus and silu), 8.9e-15 (tanh' and sigmoid'); against the 30-digit
// references of tests/data/reference_2d*.json where it serves (44 points), within 2e-15
// (tests/test_two_point.py, test_remainder_table_*).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "activation.hpp"
#include "chebyshev.hpp"
#include "expectation.hpp"
#include "linear_tail_pair.hpp"
#include "moment_table.hpp"
#include "sign_tail_pair.hpp"
#include "special.hpp"
#include "table_cache.hpp"

namespace sigprop {
namespace detail {

// G's Chebyshev sum at one point: acc[i][j] = sum_k Tm[k] C[k][i][j] over the segment's
// (dq + 1) x (de + 1) plane (a loop over it that vectorises), then the sums over j and
// over i, each in a fixed order (the same numbers in any thread).
template <int Dq, int De, int Dm>
SIGPROP_VECTOR_CLONES inline double remainder_table_sum(const double* C, const double* Tq,
                                                        const double* Te, const double* Tm) {
  constexpr int P = (Dq + 1) * (De + 1);
  double acc[P];
  for (int p = 0; p < P; ++p) acc[p] = Tm[0] * C[p];
  for (int k = 1; k <= Dm; ++k) {
    const double t = Tm[k];
    const double* Ck = C + k * P;
    for (int p = 0; p < P; ++p) acc[p] += t * Ck[p];
  }
  double row[Dq + 1];
  for (int i = 0; i <= Dq; ++i) {
    const double* a = acc + i * (De + 1);
    double s = 0.0;
    for (int j = 0; j <= De; ++j) s += Te[j] * a[j];
    row[i] = s;
  }
  double v = 0.0;
  for (int i = 0; i <= Dq; ++i) v += Tq[i] * row[i];
  return v;
}

// The tables' domain (see above), whatever their degrees
struct RemainderDomain {
  static constexpr double seg_q = 0.5;  // decades of q a segment
  static constexpr double log10_e_lo = -7.0, log10_e_hi = -1.0;  // a decade a segment
  static constexpr int n_e = int(log10_e_hi - log10_e_lo);
  static constexpr double mu_max = 0.05, mu2_max = mu_max * mu_max;
  static constexpr double d_min = 0.02;  // D = sqrt(q1 q2) (1 - c) served from here on
  // The range of log10 q: tanh [1, 4]; the linear tails [1.55, 4.05], whose Fourier form
  // needs both variances from 20 and q1 + q2 from 64 (linear_tail_pair.hpp)
  static double log10_q_bottom(Kind k) { return k == Kind::tanh ? 1.0 : 1.55; }
  static int n_q(Kind k) { return k == Kind::tanh ? 6 : 5; }
  static double log10_q_top(Kind k) { return log10_q_bottom(k) + n_q(k) * seg_q; }
};

// The table of one kind (tanh, softplus, shifted_softplus or silu) and order d, of
// degrees (Dq, De, Dm) in (log10 q, log10 e, mu^2).
template <int Dq, int De, int Dm>
class RemainderTable : public RemainderDomain {
 public:
  static constexpr int dq = Dq, de = De, dm = Dm;
  static constexpr int n_coef = (dq + 1) * (de + 1) * (dm + 1);
  static_assert(dq <= de && dm <= de, "build()'s buffers hold de + 1 values");
  static constexpr double tail_rtol = 1e-14, check_rtol = 2e-14;
  static constexpr double bound_factor = 3.0, min_err = 1e-15, form_err = 2.1e-15;
  // Each node's form asked for this much of the scale (its result does not depend on
  // the ask; the form declines where its own estimate exceeds it)
  static constexpr double node_rtol = 5e-14;

  RemainderTable(Kind kind, int d)
      : act_{kind, 0.0, 0.0}, d_(d), n_q_(n_q(kind)), segments_(n_q_ * n_e) {}

  // The skeleton's kernel K(q1, q2, c) (see above), c in [1/2, 1), sc = sqrt((1 - c)(1 +
  // c)): at the nodes as at a pair, the same function.
  double skeleton(double s1, double s2, double c, double sc) const {
    switch (act_.kind) {
      case Kind::tanh: return d_ == 0 ? (2.0 / special::pi) * std::atan2(c, sc) : 0.0;
      case Kind::shifted_softplus: {
        using special::ln2;
        return ClosedKernel::relu(0.0, 0, s1, s2, c, sc) +
               ln2 * (ln2 - (s1 + s2) * special::inv_sqrt_2pi);
      }
      default: return ClosedKernel::relu(0.0, d_, s1, s2, c, sc);  // softplus, silu
    }
  }

  // E[f(u) f(v)] for q1 <= q2 into out, where the table serves the pair (see above) and
  // its segment's bound is within rtol of the scale; false elsewhere.
  bool eval(double q1, double q2, double c, double rtol, double& out) const {
    Place p;
    if (!locate(q1, q2, c, p)) return false;
    const Segment& g = segment(p.iq * n_e + p.ie);
    if (!g.usable || !(g.bound <= rtol)) return false;
    double Tq[dq + 1], Te[de + 1], Tm[dm + 1];
    cheb::basis(dq, local_q(p.iq, p.xq), Tq);
    cheb::basis(de, local_e(p.ie, p.xe), Te);
    cheb::basis(dm, local_m(p.mu * p.mu), Tm);
    const double e = 1.0 - c;
    out = skeleton(p.s1, p.s2, c, std::sqrt(e * (1.0 + c))) +
          remainder_table_sum<dq, de, dm>(g.C, Tq, Te, Tm);
    return std::isfinite(out);
  }

  // The bound of the segment that would serve (q1, q2, c), q1 <= q2 (built if need be),
  // relative to the scale; NaN where none would, inf where it failed its checks (a
  // diagnostic, for the tests)
  double bound_at(double q1, double q2, double c) const {
    Place p;
    if (!locate(q1, q2, c, p)) return std::numeric_limits<double>::quiet_NaN();
    const Segment& g = segment(p.iq * n_e + p.ie);
    return g.usable ? g.bound : std::numeric_limits<double>::infinity();
  }

 private:
  struct Segment {
    bool usable = false;
    double bound = std::numeric_limits<double>::infinity();
    double C[n_coef];  // C[(k * (dq + 1) + i) * (de + 1) + j]: T_k(mu^2) T_i(q) T_j(e)
  };

  // A pair's place in the table: its segment (iq, ie), log10 q, log10 e and mu
  struct Place {
    int iq, ie;
    double s1, s2, xq, xe, mu;
  };
  bool locate(double q1, double q2, double c, Place& p) const {
    const double e = 1.0 - c;  // (exact for c >= 1/2)
    if (!(q1 > 0.0) || !(q2 >= q1) || !(e >= 1e-7 && e <= 0.1)) return false;
    p.s1 = std::sqrt(q1);
    p.s2 = std::sqrt(q2);
    const double q = p.s1 * p.s2, bottom = log10_q_bottom(act_.kind);
    p.xq = std::log10(q);
    p.xe = std::log10(e);
    if (!(p.xq >= bottom && p.xq < log10_q_top(act_.kind)) || !(q * e >= d_min)) return false;
    p.mu = 0.5 * std::log1p((q2 - q1) / q1);
    if (!(p.mu <= mu_max)) return false;
    p.iq = std::min(n_q_ - 1, int((p.xq - bottom) / seg_q));
    p.ie = std::min(n_e - 1, int(p.xe - log10_e_lo));
    return true;
  }

  // Local coordinates in [-1, 1] of segment (iq, ie)
  double local_q(int iq, double xq) const {
    const double a = log10_q_bottom(act_.kind) + iq * seg_q;
    return std::max(-1.0, std::min(1.0, 2.0 * (xq - a) / seg_q - 1.0));
  }
  static double local_e(int ie, double xe) {
    const double a = log10_e_lo + ie;
    return std::max(-1.0, std::min(1.0, 2.0 * (xe - a) - 1.0));
  }
  static double local_m(double mu2) { return std::min(1.0, 2.0 * mu2 / mu2_max - 1.0); }

  // The pair at local coordinates (tq, te, tm) of segment (iq, ie): q1, q2, c
  void point(int iq, int ie, double tq, double te, double tm, double& q1, double& q2,
             double& c) const {
    const double xq = log10_q_bottom(act_.kind) + iq * seg_q + 0.5 * seg_q * (1.0 + tq);
    const double xe = log10_e_lo + ie + 0.5 * (1.0 + te);
    const double mu = std::sqrt(0.5 * mu2_max * (1.0 + tm));
    const double q = std::pow(10.0, xq);
    q1 = q * std::exp(-mu);
    q2 = q * std::exp(mu);
    c = 1.0 - std::pow(10.0, xe);
  }

  double scale(double q1, double q2) const {
    return pair_scale(d_, moments(act_, q1, false), moments(act_, q2, false));
  }

  // The Fourier form's E[f(u) f(v)] less the skeleton's (false where the form declines)
  bool remainder(double q1, double q2, double c, double& g) const {
    const double atol = node_rtol * scale(q1, q2);
    double v;
    const bool ok = act_.kind == Kind::tanh
                        ? tanh_fourier_pair(d_, q1, q2, c, atol, v)
                        : linear_tail_pair(act_.kind, d_, q1, q2, c, atol, v, false);
    if (!ok) return false;
    const double s1 = std::sqrt(q1), s2 = std::sqrt(q2);
    g = v - skeleton(s1, s2, c, std::sqrt((1.0 - c) * (1.0 + c)));
    return std::isfinite(g);
  }

  void build(int s, Segment& g) const {
    const int iq = s / n_e, ie = s % n_e;
    constexpr int nq = dq + 1, ne = de + 1, nm = dm + 1;
    // The values at the Lobatto nodes t = cos(pi i / deg), V[(k nq + i) ne + j]
    double V[n_coef];
    for (int k = 0; k < nm; ++k)
      for (int i = 0; i < nq; ++i)
        for (int j = 0; j < ne; ++j) {
          double q1, q2, c;
          point(iq, ie, std::cos(special::pi * i / dq), std::cos(special::pi * j / de),
                std::cos(special::pi * k / dm), q1, q2, c);
          if (!remainder(q1, q2, c, V[(k * nq + i) * ne + j])) return;  // (not usable)
        }
    // The coefficients, one direction at a time (DCT-I along each axis): along(deg, block,
    // outer) transforms the series A[o (deg + 1) block + n block + b], n = 0..deg, for
    // each o < outer and b < block
    auto along = [&V](int deg, int block, int outer) {
      double y[de + 1], cf[de + 1];
      for (int o = 0; o < outer; ++o)
        for (int b = 0; b < block; ++b) {
          double* base = V + std::size_t(o) * (deg + 1) * block + b;
          for (int n = 0; n <= deg; ++n) y[n] = base[n * block];
          cheb::lobatto_coefficients(deg, 1, y, 1, cf, 1);
          for (int n = 0; n <= deg; ++n) base[n * block] = cf[n];
        }
    };
    along(de, 1, nm * nq);  // e: the innermost index
    along(dq, ne, nm);      // q
    along(dm, nq * ne, 1);  // mu^2: the outermost
    std::copy(V, V + n_coef, g.C);
    // Tails: the last coefficient in each direction, against the smallest scale of the
    // segment's corners
    double smin = std::numeric_limits<double>::infinity();
    for (int corner = 0; corner < 8; ++corner) {
      double q1, q2, c;
      point(iq, ie, corner & 1 ? 1.0 : -1.0, corner & 2 ? 1.0 : -1.0, corner & 4 ? 1.0 : -1.0, q1,
            q2, c);
      smin = std::fmin(smin, scale(q1, q2));
    }
    double tail = 0.0;
    for (int k = 0; k < nm; ++k)
      for (int i = 0; i < nq; ++i)
        for (int j = 0; j < ne; ++j)
          if (k == dm || i == dq || j == de)
            tail = std::fmax(tail, std::fabs(g.C[(k * nq + i) * ne + j]));
    if (!(tail <= tail_rtol * smin)) return;
    // Checks between the nodes: at the Chebyshev points of the first kind next to each
    // end and in the middle (q, e) and next to each end (mu^2)
    double worst = 0.0;
    const int iqs[3] = {0, dq / 2, dq - 1}, ies[3] = {0, de / 2, de - 1}, ims[2] = {0, dm - 1};
    for (int a : iqs)
      for (int b : ies)
        for (int k : ims) {
          const double tq = std::cos(special::pi * (a + 0.5) / dq);
          const double te = std::cos(special::pi * (b + 0.5) / de);
          const double tm = std::cos(special::pi * (k + 0.5) / dm);
          double q1, q2, c, exact;
          point(iq, ie, tq, te, tm, q1, q2, c);
          if (!remainder(q1, q2, c, exact)) return;
          double Tq[dq + 1], Te[de + 1], Tm[dm + 1];
          cheb::basis(dq, tq, Tq);
          cheb::basis(de, te, Te);
          cheb::basis(dm, tm, Tm);
          const double err =
              std::fabs(remainder_table_sum<dq, de, dm>(g.C, Tq, Te, Tm) - exact) / scale(q1, q2);
          if (!(err <= check_rtol)) return;
          worst = std::fmax(worst, err);
        }
    g.bound = bound_factor * std::fmax(worst, min_err) + form_err;
    g.usable = true;
  }

  const Segment& segment(int s) const {
    return segments_.get(s, [this](int t, Segment& g) { build(t, g); });
  }

  Activation act_;
  int d_, n_q_;
  LazySegments<Segment> segments_;
};

// The tables of one kind: phi's, silu's phi' and tanh's phi' (sech^2; softplus's and
// shifted_softplus's phi' is sigmoid's phi, tanh's table at q / 4). sech^2's of degrees
// (14, 20, 4): at (12, 16, 4) its segments' last coefficients in log10 q stayed at
// ~3e-14 of the scale, and those from q = 10^2.5 with 1 - c below 1e-4 miss their
// checks at every degree we tried (with the variances apart, mu ~ 0.05: at q ~ 1e4, 4-5e-13
// of the scale at degree 28 in log10(1 - c), or 16 on half a decade): their Fourier form
// serves those pairs (~3.5 us). Built on first use, keyed on the kind.
struct RemainderTables {
  using Table = RemainderTable<12, 16, 4>;
  using Sech2Table = RemainderTable<14, 20, 4>;
  std::unique_ptr<Table> table[2];
  std::unique_ptr<Sech2Table> sech2;
  explicit RemainderTables(const Activation& a) {
    table[0].reset(new Table(a.kind, 0));
    if (a.kind == Kind::silu) table[1].reset(new Table(a.kind, 1));
    if (a.kind == Kind::tanh) sech2.reset(new Sech2Table(a.kind, 1));
  }
  // E[f(u) f(v)], f = phi^(d), q1 <= q2, by the kind's table of order d (see
  // RemainderTable::eval); false where there is none
  bool eval(int d, double q1, double q2, double c, double rtol, double& out) const {
    if (d == 1 && sech2) return sech2->eval(q1, q2, c, rtol, out);
    return table[d] && table[d]->eval(q1, q2, c, rtol, out);
  }
  double bound_at(int d, double q1, double q2, double c) const {
    if (d == 1 && sech2) return sech2->bound_at(q1, q2, c);
    return table[d] ? table[d]->bound_at(q1, q2, c) : std::numeric_limits<double>::quiet_NaN();
  }
};
using RemainderTableCache = TableCache<RemainderTables, 8>;

inline bool remainder_table_kind(Kind k) {
  return k == Kind::tanh || k == Kind::sigmoid || k == Kind::softplus ||
         k == Kind::shifted_softplus || k == Kind::silu;
}

// E[f(u) f(v)] (f = phi^(d)) of a pair (either order of the variances) from the tables,
// where they serve it within rtol of its scale; false elsewhere (another kind, or outside
// the tables' domain: see above).
inline bool remainder_table_pair(Kind kind, int d, double q1, double q2, double c, double rtol,
                                 double& out) {
  if ((d != 0 && d != 1) || !remainder_table_kind(kind) || !(c >= 0.9 && c < 1.0)) return false;
  if (q1 > q2) std::swap(q1, q2);
  // sigmoid, and the phi' of softplus and shifted_softplus (sigmoid's phi): tanh's at q / 4
  const bool sigmoid = via_sigmoid(kind, d);
  // (bounds of the domain that need no logarithm, before the tables are fetched, wider
  // than locate()'s: q1 >= e^-0.05 10^bottom (9.5 for tanh, 33.8 for the linear tails),
  // q2 <= e^0.1 q1, (1 - c) q2 >= d_min; most pairs at c >= 0.9 are outside)
  const double f = sigmoid ? 0.25 : 1.0, e = 1.0 - c;
  const double bottom = kind == Kind::tanh || sigmoid ? 9.0 : 32.0;
  if (!(f * q1 >= bottom) || !(q2 <= 1.106 * q1) || !(f * q2 * e >= RemainderDomain::d_min))
    return false;
  auto tables = [](Kind k) { return RemainderTableCache::fetch(Activation{k, 0.0, 0.0}); };
  if (sigmoid)
    return sigmoid_pair_from_tanh(sigmoid_order(kind, d), q1, q2, c, 1.0, out,
                                  [&](int dd, double a1, double a2, double cc, double, double& v) {
                                    return tables(Kind::tanh)->eval(dd, a1, a2, cc, rtol, v);
                                  });
  return tables(kind)->eval(d, q1, q2, c, rtol, out);
}

}  // namespace detail
}  // namespace sigprop
