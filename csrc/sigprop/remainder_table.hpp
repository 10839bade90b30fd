// E[f(u) f(v)] (f = phi or phi') next to c = 1 (and c = -1) from process-wide tables of
// the remainder over a skeleton's closed form: tanh, sigmoid, softplus, shifted_softplus
// and silu at large variances, their nodes from the Fourier forms; elu, selu, softsign and
// linear_region_tanh from q = 0.1 / 1e-3 / 1, their nodes from the engine itself.
//
// Where. Single pairs (not a batch's), the variances within e^0.1 (10.5 %) of each other.
// The Fourier kinds: q = sqrt(q1 q2) from 10 (tanh; sigmoid from 40, through tanh at q /
// 4; softplus, shifted_softplus and silu from 10^1.55) to 1e4, 1 - c in [1e-7, 0.1] and D
// = q (1 - c) >= 0.02. Past D ~ 0.05 the covariance Taylor series (covariance_taylor.hpp)
// cannot reach, and below 1 - c ~ 0.045 neither can the Mehler series: such pairs took
// the Fourier forms (sign_tail_pair.hpp, linear_tail_pair.hpp), 8-13 us each (tanh' ~3.5),
// ~7 % of random pairs next to the diagonal and half of their time. The engine kinds: q
// from 0.1 (elu, selu), 1e-3 (softsign) or 1 (linear_region_tanh) to 1e4, 1 - |c| in
// [1e-13, 0.1] (linear_region_tanh's to 1e-3, its phi''s variances within e^0.01), elu and
// selu on both sides of c = 0 (the odd kinds' c < 0 comes from c > 0 in the dispatch).
// There every form the engine has took 3-10 us a pair (elu, selu: orthant forms, Taylor
// series on one side) or 10-45 us (softsign's conditional form, linear_region_tanh's
// localised remainder): ~85-97 % of their time on random pairs next to the diagonal.
//
// What is tabled. With mu = log(q2 / q1) / 2 (q1 <= q2) and e = 1 - c (1 + c next to c =
// -1),
//   G(log10 q, log10 e, mu^2) = E[f(u) f(v)] - K(q1, q2, c),
// K the skeleton's kernel in closed form (RemainderSkeleton): tanh's (2 / pi) asin(c)
// (sign's), tanh''s 0, softplus's and silu's relu's (Cho and Saul, 2009),
// shifted_softplus's relu's less ln 2 (E relu(u) + E relu(v)) - ln^2 2, silu''s the
// step's; elu's and selu's relu's (the step's for phi') times lambda^2; softsign's and
// linear_region_tanh's phi, sign's times the saturation level squared, from q = 1 and 10
// (at smaller q the skeleton, of size 1, would cancel against a result of size q), their
// phi' none. G is smooth in all three: the kinks' half-integer powers of e are entire
// functions of log e; E is even in mu (q1 and q2 swapped). sigmoid reads tanh's tables at
// q / 4 (sigmoid_pair_from_tanh), and so do softplus's and shifted_softplus's phi', which
// is sigmoid's phi.
//
// Layout. Tensor Chebyshev interpolants in (log10 q, log10 e, mu^2), mu^2 in [0, 0.05^2]
// whole (linear_region_tanh's phi' [0, 0.005^2]): the Fourier kinds' on segments of half a decade
// in q and a decade in e, degrees (12, 16, 4) (sech^2's (14, 20, 4): RemainderTables); the engine
// kinds' on a decade of q (half a decade for linear_region_tanh) and two of e, degrees (16, 20, 4),
// fewer nodes per decade where each costs more. Each segment is built on first use (LazySegments:
// the same numbers whichever thread builds it) from its Lobatto nodes: 25-40 ms a segment of the
// Fourier kinds on one thread, 10-25 ms of elu's and selu's, 30-60 ms of softsign's and
// linear_region_tanh's. Random pairs over the domain build ~25 segments a Fourier kind and order,
// all of an engine kind's 30-60 (the first call of `benchmarks/ two_point_report.py`'s 2048 pairs
// next to the diagonal, one thread: tanh 1.0 -> 1.3 s; elu 1.6 -> 2.5 s, softsign 0.9 -> 2.1 s,
// linear_region_tanh 1.4 -> 4.2 s (phi) and 5.1 s (phi')). A pair is then the skeleton's closed
// form plus one Chebyshev sum against its segment's coefficients (1105 or 1785 multiply-adds),
// 0.3-0.5 us in all. In log10 e each node sits at the e its c rounded to (1 - c differs from 10^x
// by up to half an ulp of 1, 1e-4 of e at e = 1e-12, where G's slope is that of e^(1/2)): the
// coefficients in e are the DCT's, refined against the residuals there. (The degrees from fits:
// scripts/ remainder_table_fit.py.)
//
// Certification, per segment: every node served by its source; the last coefficient in
// each direction within tail_rtol of the smallest Cauchy-Schwarz scale sqrt(E f(u)^2 E
// f(v)^2) at the segment's corners; and the interpolant within check_rtol of the scale of
// the source at 18 points between the nodes. The segment's bound is 3 times the largest
// error at those checks (at least 1e-15), plus the source's own error (node_err); a pair
// is served where that is within the caller's tolerance (the dispatch asks 1e-13 of the
// Fourier kinds, 1e-12, the engine's class, of the others). The Fourier forms are within
// 2.1e-15 of the scale of nested quadrature (sign_tail_pair.hpp, linear_tail_pair.hpp):
// tail_rtol 1e-14, check_rtol 2e-14. The engine asks 1e-13 of the scale of each of its
// forms: tail_rtol 1e-13, check_rtol 2e-13 (a check compares two values each within
// 1e-13), node_err 1e-13, bounds of 1.0-4e-13. A segment that fails is not used (the forms
// after it in the dispatch serve, as before): of those built by random pairs, none of the
// Fourier kinds' phi or silu''s, and sech^2's from q = 10^2.5 below 1 - c = 1e-4
// (RemainderTables); linear_region_tanh's phi''s from q = 100 with 1 - c past 1e-5. Not
// tabled: linear_region_tanh past 1 - c = 1e-3 (its last coefficients in e there, 1e-13 -
// 1e-12 of the scale), its phi' with the variances apart past e^0.01 (at e^0.1 its last
// coefficients in mu^2 stay at ~1e-12 of the scale from q = 1 to 1e4, at degree 4: its
// kinks at +-a, seen by the two variances apart), and below q = 1, where G turns on as
// exp(-a^2 / 2q) (super-exponential in log q: last coefficients 4e-11 of the scale on half
// a decade at q ~ 0.01).
//
// Accuracy. The Fourier kinds, against the nested quadrature at 150 random pairs of the
// domain a kind and order: within 4.5e-15 of the scale (phi), 2.9e-15 (the phi' of
// softplus, shifted_softplus and silu), 8.9e-15 (tanh' and sigmoid'); against the
// 30-digit references of tests/data/reference_2d*.json where they serve (44 points),
// within 2e-15. The engine kinds against those references where they serve (140 points:
// elu at alpha = 1 and 0.5, selu, softsign, linear_region_tanh at a = 1 and 0.4): within
// 6.3e-14 of the scale (softsign's phi; 1.1e-14 elu, 6.3e-15 selu, 4.8e-14
// linear_region_tanh); against the engine without the tables (their nodes' source) at 200
// random pairs a kind and order, within 7.6e-14 (tests/test_two_point.py,
// test_engine_remainder_tables_*).
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

// The domain of one table: segments of seg_q decades of q from 10^log10_q_lo (n_q of
// them) by seg_e decades of e from 10^log10_e_lo (n_e), D = q e >= d_min; e = 1 - c, or
// 1 + c next to c = -1 (negative)
struct RemainderLayout {
  double log10_q_lo, seg_q;
  int n_q;
  double log10_e_lo, seg_e;
  int n_e;
  double d_min;
  bool negative;
  double log10_q_hi() const { return log10_q_lo + n_q * seg_q; }
};

// Where a table's nodes come from: tanh's Fourier form (sign_tail_pair.hpp), the linear
// tails' (linear_tail_pair.hpp), or the engine itself with the tables off (NodeSource,
// bivariate_dispatch: every form it has, each within 1e-13 of the scale)
enum class RemainderSource { tanh_fourier, linear_tail, engine };
// The skeleton's kernel: none, sign's (2 / pi) asin(c), relu's or the step's (d = 1)
// (Cho and Saul, 2009), or shifted_softplus's (relu's less ln 2 (E relu(u) + E relu(v)) -
// ln^2 2), times factor, on the segments from the skeleton_iq-th in q on
enum class RemainderSkeleton { none, sign, relu, shifted_softplus };
struct RemainderSpec {
  RemainderLayout layout;
  RemainderSource source;
  RemainderSkeleton skeleton;
  double factor;
  int skeleton_iq;
  // the last coefficients and the checks between the nodes, relative to the scale, and
  // the error of the nodes' values (added to each segment's bound)
  double tail_rtol, check_rtol, node_err;
  double mu_max;  // the largest mu = log(q2 / q1) / 2 served
};

// E[f(u) f(v)] by the engine (two_point.hpp: bivariate_dispatch), *ok false where it fell
// short: the nodes of the tables past the Fourier forms' kinds
using NodeSource = double (*)(const Activation&, int, double, double, double, bool*);

// Set while a table's nodes are evaluated by the engine: remainder_table_pair declines
// (no table is built from itself)
inline bool& remainder_tables_off() {
  static thread_local bool off = false;
  return off;
}
// The tables off for the calling thread for the guard's lifetime (restored on the way out,
// an exception's too)
class RemainderTablesOff {
 public:
  RemainderTablesOff() : was_(remainder_tables_off()) { remainder_tables_off() = true; }
  ~RemainderTablesOff() { remainder_tables_off() = was_; }
  RemainderTablesOff(const RemainderTablesOff&) = delete;
  RemainderTablesOff& operator=(const RemainderTablesOff&) = delete;

 private:
  bool was_;
};

// The table of one activation, order d and side of c = 1 (or -1), of degrees (Dq, De, Dm)
// in (log10 q, log10 e, mu^2), mu^2 in [0, mu_max^2] whole.
template <int Dq, int De, int Dm>
class RemainderTable {
 public:
  static constexpr int dq = Dq, de = De, dm = Dm;
  static constexpr int n_coef = (dq + 1) * (de + 1) * (dm + 1);
  static_assert(dq <= de && dm <= de, "build()'s buffers hold de + 1 values");
  static constexpr double bound_factor = 3.0, min_err = 1e-15;
  // Each node's Fourier form asked for this much of the scale (its result does not
  // depend on the ask; the form declines where its own estimate exceeds it)
  static constexpr double node_rtol = 5e-14;

  RemainderTable(const Activation& act, int d, const RemainderSpec& spec)
      : act_(act),
        d_(d),
        spec_(spec),
        e_hi_(std::pow(10.0, spec.layout.log10_e_lo + spec.layout.n_e * spec.layout.seg_e)),
        mu2_max_(spec.mu_max * spec.mu_max),
        segments_(spec.layout.n_q * spec.layout.n_e) {}

  // The skeleton's kernel K(q1, q2, c) on segment row iq (see above), sc = sqrt((1 - c)(1 +
  // c)): at the nodes as at a pair, the same function.
  double skeleton(int iq, double s1, double s2, double c, double sc) const {
    if (iq < spec_.skeleton_iq) return 0.0;
    switch (spec_.skeleton) {
      case RemainderSkeleton::none: return 0.0;
      case RemainderSkeleton::sign: return spec_.factor * (2.0 / special::pi) * std::atan2(c, sc);
      case RemainderSkeleton::shifted_softplus: {
        using special::ln2;
        return ClosedKernel::relu(0.0, 0, s1, s2, c, sc) +
               ln2 * (ln2 - (s1 + s2) * special::inv_sqrt_2pi);
      }
      default: return spec_.factor * ClosedKernel::relu(0.0, d_, s1, s2, c, sc);
    }
  }

  // E[f(u) f(v)] for q1 <= q2 into out, where the table serves the pair (see above) and
  // its segment's bound is within rtol of the scale; false elsewhere. (src: the engine,
  // for a segment built here from its nodes)
  bool eval(double q1, double q2, double c, double rtol, double& out, NodeSource src) const {
    Place p;
    if (!locate(q1, q2, c, p)) return false;
    const Segment& g = segment(p.iq * spec_.layout.n_e + p.ie, src);
    if (!g.usable || !(g.bound <= rtol)) return false;
    double Tq[dq + 1], Te[de + 1], Tm[dm + 1];
    cheb::basis(dq, local_q(p.iq, p.xq), Tq);
    cheb::basis(de, local_e(p.ie, p.xe), Te);
    cheb::basis(dm, local_m(p.mu * p.mu), Tm);
    out = skeleton(p.iq, p.s1, p.s2, c, std::sqrt((1.0 - c) * (1.0 + c))) +
          remainder_table_sum<dq, de, dm>(g.C, Tq, Te, Tm);
    return std::isfinite(out);
  }

  // The bound of the segment that would serve (q1, q2, c), q1 <= q2 (built if need be),
  // relative to the scale; NaN where none would, inf where it failed its checks (a
  // diagnostic, for the tests)
  double bound_at(double q1, double q2, double c, NodeSource src) const {
    Place p;
    if (!locate(q1, q2, c, p)) return std::numeric_limits<double>::quiet_NaN();
    const Segment& g = segment(p.iq * spec_.layout.n_e + p.ie, src);
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
  // e = 1 - c, or 1 + c (negative): exact for |c| >= 1/2
  double side_e(double c) const { return spec_.layout.negative ? 1.0 + c : 1.0 - c; }
  bool locate(double q1, double q2, double c, Place& p) const {
    const RemainderLayout& L = spec_.layout;
    const double e = side_e(c);
    if (!(q1 > 0.0) || !(q2 >= q1) || !(std::fabs(c) >= 0.5) || !(e > 0.0 && e <= e_hi_))
      return false;
    p.s1 = std::sqrt(q1);
    p.s2 = std::sqrt(q2);
    const double q = p.s1 * p.s2;
    p.xq = std::log10(q);
    p.xe = std::log10(e);
    if (!(p.xq >= L.log10_q_lo && p.xq < L.log10_q_hi()) || !(p.xe >= L.log10_e_lo) ||
        !(q * e >= L.d_min))
      return false;
    p.mu = 0.5 * std::log1p((q2 - q1) / q1);
    if (!(p.mu <= spec_.mu_max)) return false;
    p.iq = std::min(L.n_q - 1, int((p.xq - L.log10_q_lo) / L.seg_q));
    p.ie = std::min(L.n_e - 1, int((p.xe - L.log10_e_lo) / L.seg_e));
    return true;
  }

  // Local coordinates in [-1, 1] of segment (iq, ie)
  double local_q(int iq, double xq) const {
    const RemainderLayout& L = spec_.layout;
    const double a = L.log10_q_lo + iq * L.seg_q;
    return std::max(-1.0, std::min(1.0, 2.0 * (xq - a) / L.seg_q - 1.0));
  }
  double local_e(int ie, double xe) const {
    const RemainderLayout& L = spec_.layout;
    const double a = L.log10_e_lo + ie * L.seg_e;
    return std::max(-1.0, std::min(1.0, 2.0 * (xe - a) / L.seg_e - 1.0));
  }
  double local_m(double mu2) const { return std::min(1.0, 2.0 * mu2 / mu2_max_ - 1.0); }

  // The pair at local coordinates (tq, te, tm) of segment (iq, ie): q1, q2, c, and the
  // local coordinate in e of the c it rounded to (te_c, not clamped to [-1, 1]: 1 - c
  // differs from 10^xe by up to half an ulp of 1, 1e-4 of e at e = 1e-12, and G's slope
  // in log e is that of e^(1/2))
  void point(int iq, int ie, double tq, double te, double tm, double& q1, double& q2, double& c,
             double& te_c) const {
    const RemainderLayout& L = spec_.layout;
    const double xq = L.log10_q_lo + iq * L.seg_q + 0.5 * L.seg_q * (1.0 + tq);
    const double xe = L.log10_e_lo + ie * L.seg_e + 0.5 * L.seg_e * (1.0 + te);
    const double mu = std::sqrt(0.5 * mu2_max_ * (1.0 + tm));
    const double q = std::pow(10.0, xq);
    q1 = q * std::exp(-mu);
    q2 = q * std::exp(mu);
    const double e = std::pow(10.0, xe);
    c = L.negative ? e - 1.0 : 1.0 - e;
    te_c = 2.0 * (std::log10(side_e(c)) - (L.log10_e_lo + ie * L.seg_e)) / L.seg_e - 1.0;
  }

  double scale(double q1, double q2) const {
    return pair_scale(d_, moments(act_, q1, false), moments(act_, q2, false));
  }

  // The node source's E[f(u) f(v)] less the skeleton's (false where it declines)
  bool remainder(int iq, double q1, double q2, double c, NodeSource src, double& g) const {
    double v;
    bool ok = true;
    switch (spec_.source) {
      case RemainderSource::tanh_fourier:
        ok = tanh_fourier_pair(d_, q1, q2, c, node_rtol * scale(q1, q2), v);
        break;
      case RemainderSource::linear_tail:
        ok = linear_tail_pair(act_.kind, d_, q1, q2, c, node_rtol * scale(q1, q2), v, false);
        break;
      default: {
        if (!src) return false;
        const RemainderTablesOff off;
        v = src(act_, d_, q1, q2, c, &ok);
      }
    }
    if (!ok) return false;
    const double s1 = std::sqrt(q1), s2 = std::sqrt(q2);
    g = v - skeleton(iq, s1, s2, c, std::sqrt((1.0 - c) * (1.0 + c)));
    return std::isfinite(g);
  }

  void build(int s, Segment& g, NodeSource src) const {
    const int iq = s / spec_.layout.n_e, ie = s % spec_.layout.n_e;
    constexpr int nq = dq + 1, ne = de + 1, nm = dm + 1;
    // The values at the Lobatto nodes t = cos(pi i / deg), V[(k nq + i) ne + j], and the
    // local coordinates in e of the c they were evaluated at (te[j])
    double V[n_coef], te[de + 1];
    for (int k = 0; k < nm; ++k)
      for (int i = 0; i < nq; ++i)
        for (int j = 0; j < ne; ++j) {
          double q1, q2, c;
          point(iq, ie, std::cos(special::pi * i / dq), std::cos(special::pi * j / de),
                std::cos(special::pi * k / dm), q1, q2, c, te[j]);
          if (!remainder(iq, q1, q2, c, src, V[(k * nq + i) * ne + j])) return;  // (not usable)
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
    // e: the innermost index, at the coordinates te (within ~1e-4 of the Lobatto points):
    // the DCT-I of the values, then of the residuals at te, until they are below an ulp
    // of the values (3 rounds at e = 1e-12; none changes a coefficient where te is exact)
    for (int r = 0; r < nm * nq; ++r) {
      double* row = V + std::size_t(r) * ne;
      double y[de + 1], cf[de + 1], Te[de + 1], res[de + 1];
      std::copy(row, row + ne, y);
      cheb::lobatto_coefficients(de, 1, y, 1, cf, 1);
      for (int round = 0; round < 6; ++round) {
        double big = 0.0, top = 0.0;
        for (int j = 0; j < ne; ++j) {
          cheb::basis(de, te[j], Te);
          double v = 0.0;
          for (int n = 0; n <= de; ++n) v += Te[n] * cf[n];
          res[j] = y[j] - v;
          big = std::fmax(big, std::fabs(res[j]));
          top = std::fmax(top, std::fabs(y[j]));
        }
        if (!(big > 1e-17 * top)) break;
        double dc[de + 1];
        cheb::lobatto_coefficients(de, 1, res, 1, dc, 1);
        for (int n = 0; n <= de; ++n) cf[n] += dc[n];
      }
      std::copy(cf, cf + ne, row);
    }
    along(dq, ne, nm);      // q
    along(dm, nq * ne, 1);  // mu^2: the outermost
    std::copy(V, V + n_coef, g.C);
    // Tails: the last coefficient in each direction, against the smallest scale of the
    // segment's corners
    double smin = std::numeric_limits<double>::infinity();
    for (int corner = 0; corner < 8; ++corner) {
      double q1, q2, c, tc;
      point(iq, ie, corner & 1 ? 1.0 : -1.0, corner & 2 ? 1.0 : -1.0, corner & 4 ? 1.0 : -1.0, q1,
            q2, c, tc);
      smin = std::fmin(smin, scale(q1, q2));
    }
    double tail = 0.0;
    for (int k = 0; k < nm; ++k)
      for (int i = 0; i < nq; ++i)
        for (int j = 0; j < ne; ++j)
          if (k == dm || i == dq || j == de)
            tail = std::fmax(tail, std::fabs(g.C[(k * nq + i) * ne + j]));
    if (!(tail <= spec_.tail_rtol * smin)) return;
    // Checks between the nodes: at the Chebyshev points of the first kind next to each
    // end and in the middle (q, e) and next to each end (mu^2)
    double worst = 0.0;
    const int iqs[3] = {0, dq / 2, dq - 1}, ies[3] = {0, de / 2, de - 1}, ims[2] = {0, dm - 1};
    for (int a : iqs)
      for (int b : ies)
        for (int k : ims) {
          const double tq = std::cos(special::pi * (a + 0.5) / dq);
          const double tm = std::cos(special::pi * (k + 0.5) / dm);
          double q1, q2, c, tc, exact;
          point(iq, ie, tq, std::cos(special::pi * (b + 0.5) / de), tm, q1, q2, c, tc);
          if (!remainder(iq, q1, q2, c, src, exact)) return;
          double Tq[dq + 1], Te[de + 1], Tm[dm + 1];
          cheb::basis(dq, tq, Tq);
          cheb::basis(de, tc, Te);
          cheb::basis(dm, tm, Tm);
          const double err =
              std::fabs(remainder_table_sum<dq, de, dm>(g.C, Tq, Te, Tm) - exact) / scale(q1, q2);
          if (!(err <= spec_.check_rtol)) return;
          worst = std::fmax(worst, err);
        }
    g.bound = bound_factor * std::fmax(worst, min_err) + spec_.node_err;
    g.usable = true;
  }

  const Segment& segment(int s, NodeSource src) const {
    return segments_.get(s, [this, src](int t, Segment& g) { build(t, g, src); });
  }

  Activation act_;
  int d_;
  RemainderSpec spec_;
  double e_hi_;  // the largest e served
  double mu2_max_;  // the largest mu^2
  LazySegments<Segment> segments_;
};

// The specs. The Fourier forms' kinds (tanh, softplus, shifted_softplus, silu): half a
// decade of q from 10 (tanh) or 10^1.55 (the linear tails, whose Fourier form needs both
// variances from 20 and q1 + q2 from 64: linear_tail_pair.hpp) to 1e4 (4.05), a decade of
// e from 1e-7 to 0.1, D >= 0.02 (below it the covariance Taylor series serves in ~1 us);
// their nodes within 2.1e-15 of the scale of nested quadrature.
inline RemainderSpec fourier_remainder_spec(Kind k, int d) {
  const bool tanh = k == Kind::tanh;
  RemainderSpec s{};
  s.layout = {tanh ? 1.0 : 1.55, 0.5, tanh ? 6 : 5, -7.0, 1.0, 6, 0.02, false};
  s.source = tanh ? RemainderSource::tanh_fourier : RemainderSource::linear_tail;
  s.skeleton = tanh ? (d == 0 ? RemainderSkeleton::sign : RemainderSkeleton::none)
                    : (k == Kind::shifted_softplus ? RemainderSkeleton::shifted_softplus
                                                   : RemainderSkeleton::relu);
  s.factor = 1.0;
  s.skeleton_iq = 0;
  s.tail_rtol = 1e-14;
  s.check_rtol = 2e-14;
  s.node_err = 2.1e-15;
  s.mu_max = 0.05;
  return s;
}

// elu, selu, softsign and linear_region_tanh: their nodes by the engine. A decade of q a
// segment (elu and selu from 0.1, softsign from 1e-3; linear_region_tanh half a decade
// from 1), to 1e4; two decades of e from 1e-13 to 0.1 (linear_region_tanh to 1e-3), every
// D, mu to 0.05 (linear_region_tanh's phi' to 0.005); elu and selu on both sides of c = 0 (the odd
// kinds' c < 0 comes from c > 0: bivariate_dispatch). Skeletons: elu's and selu's relu's (the
// step's for phi') times lambda^2; softsign's and linear_region_tanh's phi, sign's times the
// saturation level squared (1, (a + 1)^2) from q = 1 (softsign) or 10 (below, the skeleton would
// cancel against a result of size q); their phi' none. The checks at the engine's class (see
// above).
inline bool engine_remainder_kind(Kind k) {
  return k == Kind::elu || k == Kind::selu || k == Kind::softsign || k == Kind::linear_region_tanh;
}
// log10 of the least q = sqrt(q1 q2) of an engine kind's tables
inline double engine_remainder_log10_q_lo(Kind k) {
  return k == Kind::elu || k == Kind::selu ? -1.0 : k == Kind::linear_region_tanh ? 0.0 : -3.0;
}
inline RemainderSpec engine_remainder_spec(const Activation& a, int d, bool negative) {
  RemainderSpec s{};
  const bool elu = a.kind == Kind::elu || a.kind == Kind::selu;
  const bool lrt = a.kind == Kind::linear_region_tanh;
  const double lo = engine_remainder_log10_q_lo(a.kind), seg_q = lrt ? 0.5 : 1.0;
  // (linear_region_tanh's e to 1e-3: past it its last coefficients in e are 1e-13 - 1e-12
  // of the scale)
  s.layout = {lo, seg_q, int((4.0 - lo) / seg_q), -13.0, 2.0, lrt ? 5 : 6, 0.0, negative};
  s.source = RemainderSource::engine;
  if (elu) {
    s.skeleton = RemainderSkeleton::relu;
    s.factor = a.kind == Kind::selu ? selu_lambda * selu_lambda : 1.0;
    s.skeleton_iq = 0;
  } else {
    s.skeleton = d == 0 ? RemainderSkeleton::sign : RemainderSkeleton::none;
    const double level = a.kind == Kind::softsign ? 1.0 : a.p0 + 1.0;
    s.factor = level * level;
    s.skeleton_iq = int(((a.kind == Kind::softsign ? 0.0 : 1.0) - lo) / seg_q);
  }
  s.tail_rtol = 1e-13;
  s.check_rtol = 2e-13;
  s.node_err = 1e-13;
  // (linear_region_tanh's phi' to mu = 0.005: at 0.05 its last coefficients in mu^2 stay
  // at ~1e-12 of the scale, its kinks at +-a seen by the two variances apart)
  s.mu_max = lrt && d == 1 ? 0.005 : 0.05;
  return s;
}

// The tables of one activation: the Fourier kinds' phi, silu's phi' and tanh's phi'
// (sech^2; softplus's and shifted_softplus's phi' is sigmoid's phi, tanh's table at q / 4);
// the engine kinds' phi and phi' (elu's and selu's on both sides of c = 0). sech^2's of
// degrees (14, 20, 4): at (12, 16, 4) its segments' last coefficients in log10 q stayed at
// ~3e-14 of the scale, and those from q = 10^2.5 with 1 - c below 1e-4 miss their checks
// at every degree we tried (with the variances apart, mu ~ 0.05: at q ~ 1e4, 4-5e-13 of
// the scale at degree 28 in log10(1 - c), or 16 on half a decade): their Fourier form
// serves those pairs (~3.5 us). The engine kinds' of degrees (16, 20, 4) on their larger
// segments (their nodes cost 3-45 us each: fewer of them). Built on first use, keyed on
// the activation (with its parameter).
struct RemainderTables {
  using Table = RemainderTable<12, 16, 4>;
  using Sech2Table = RemainderTable<14, 20, 4>;
  using EngineTable = RemainderTable<16, 20, 4>;
  std::unique_ptr<Table> table[2];
  std::unique_ptr<Sech2Table> sech2;
  std::unique_ptr<EngineTable> engine[2][2];  // [d][c < 0]
  explicit RemainderTables(const Activation& a) {
    if (engine_remainder_kind(a.kind)) {
      const bool both = a.kind == Kind::elu || a.kind == Kind::selu;
      for (int d = 0; d < 2; ++d)
        for (int neg = 0; neg < (both ? 2 : 1); ++neg)
          engine[d][neg].reset(new EngineTable(a, d, engine_remainder_spec(a, d, neg == 1)));
      return;
    }
    table[0].reset(new Table(a, 0, fourier_remainder_spec(a.kind, 0)));
    if (a.kind == Kind::silu) table[1].reset(new Table(a, 1, fourier_remainder_spec(a.kind, 1)));
    if (a.kind == Kind::tanh) sech2.reset(new Sech2Table(a, 1, fourier_remainder_spec(a.kind, 1)));
  }
  // E[f(u) f(v)], f = phi^(d), q1 <= q2, by the activation's table of order d and c's side
  // (see RemainderTable::eval); false where there is none
  bool eval(int d, double q1, double q2, double c, double rtol, double& out, NodeSource src) const {
    if (engine[d][c < 0.0]) return engine[d][c < 0.0]->eval(q1, q2, c, rtol, out, src);
    if (d == 1 && sech2) return sech2->eval(q1, q2, c, rtol, out, src);
    return table[d] && table[d]->eval(q1, q2, c, rtol, out, src);
  }
  double bound_at(int d, double q1, double q2, double c, NodeSource src) const {
    if (engine[d][c < 0.0]) return engine[d][c < 0.0]->bound_at(q1, q2, c, src);
    if (d == 1 && sech2) return sech2->bound_at(q1, q2, c, src);
    return table[d] ? table[d]->bound_at(q1, q2, c, src) : std::numeric_limits<double>::quiet_NaN();
  }
};
using RemainderTableCache = TableCache<RemainderTables, 8>;

inline bool remainder_table_kind(Kind k) {
  return k == Kind::tanh || k == Kind::sigmoid || k == Kind::softplus ||
         k == Kind::shifted_softplus || k == Kind::silu || engine_remainder_kind(k);
}

// E[f(u) f(v)] (f = phi^(d)) of a pair (either order of the variances) from the tables,
// where they serve it within rtol of its scale; false elsewhere (another kind, outside the
// tables' domain: see above, or while a table's nodes are evaluated). src: the engine, for
// the nodes of elu's, selu's, softsign's and linear_region_tanh's tables.
inline bool remainder_table_pair(const Activation& a, int d, double q1, double q2, double c,
                                 double rtol, double& out, NodeSource src) {
  if ((d != 0 && d != 1) || !remainder_table_kind(a.kind)) return false;
  if (q1 > q2) std::swap(q1, q2);
  if (engine_remainder_kind(a.kind)) {
    // (elu and selu on both sides, the odd kinds at c > 0; q1 from 0.95 of the domain's
    // least q, below e^-0.05 of it, the least q1 a table serves)
    const double ac = a.kind == Kind::elu || a.kind == Kind::selu ? std::fabs(c) : c;
    if (!(ac >= 0.9 && ac < 1.0) || !(q2 <= 1.106 * q1) || remainder_tables_off() ||
        !(q1 >= 0.95 * std::pow(10.0, engine_remainder_log10_q_lo(a.kind))))
      return false;
    return RemainderTableCache::fetch(a)->eval(d, q1, q2, c, rtol, out, src);
  }
  if (!(c >= 0.9 && c < 1.0)) return false;
  // sigmoid, and the phi' of softplus and shifted_softplus (sigmoid's phi): tanh's at q / 4
  const Kind kind = a.kind;
  const bool sigmoid = via_sigmoid(kind, d);
  // (bounds of the domain that need no logarithm, before the tables are fetched, wider
  // than locate()'s: q1 >= e^-0.05 10^bottom (9.5 for tanh, 33.8 for the linear tails),
  // q2 <= e^0.1 q1, (1 - c) q2 >= d_min; most pairs at c >= 0.9 are outside)
  const double f = sigmoid ? 0.25 : 1.0, e = 1.0 - c;
  const double bottom = kind == Kind::tanh || sigmoid ? 9.0 : 32.0;
  if (!(f * q1 >= bottom) || !(q2 <= 1.106 * q1) || !(f * q2 * e >= 0.02) || remainder_tables_off())
    return false;
  auto tables = [](Kind k) { return RemainderTableCache::fetch(Activation{k, 0.0, 0.0}); };
  if (sigmoid)
    return sigmoid_pair_from_tanh(sigmoid_order(kind, d), q1, q2, c, 1.0, out,
                                  [&](int dd, double a1, double a2, double cc, double, double& v) {
                                    return tables(Kind::tanh)->eval(dd, a1, a2, cc, rtol, v, src);
                                  });
  return tables(kind)->eval(d, q1, q2, c, rtol, out, src);
}

}  // namespace detail
}  // namespace sigprop
