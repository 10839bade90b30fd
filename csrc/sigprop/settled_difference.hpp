// The pairs of a kernel layer next to c = 1 whose variances are close but not
// equal: an ordered-phase kernel while its variances settle (sigma_b ~ 3, inputs of
// unequal norms: layers 3-5 of a depth-10 tanh kernel, every pair at 1 - c in
// [1e-5, 0.05] and variances 1e-2-1e-6 apart), where the Mehler series reaches no
// order, the settled-pair midpoint (two_point.hpp, settled_pair) is too wide, and
// near_diagonal_pair's anchored tail and the skeleton forms took 5 us-1 ms a pair.
//
// With x_m, y_m the normalised Hermite coefficients of phi(s1 z), phi(s2 z)
// (s_i = sqrt(q_i)) and h(z) = phi(s1 z) - phi(s2 z), h_m = x_m - y_m,
//   E[phi(u) phi(v)] = sum_m x_m y_m c^m = (D(q1, c) + D(q2, c) - D_h(c)) / 2,
// D(q, c) the diagonal value from the near-diagonal table (near_diagonal_table.hpp)
// and D_h(c) = sum_m h_m^2 (1 - e)^m, e = 1 - c. For 0 <= e <= 1 the binomial
// partial sums bracket (1 - e)^m: 1 - m e <= (1 - e)^m <= 1 - m e + m (m - 1) e^2 / 2,
// and sum_m h_m^2 = E[h(Z)^2] = M0, sum_m m h_m^2 = E[h'(Z)^2] = M1,
// sum_m m (m - 1) h_m^2 = E[h''(Z)^2] = M2, so that
//   M0 - e M1 <= D_h(c) <= M0 - e M1 + e^2 M2 / 2,
// every term a sum of squares: no cancellation against the scale. The midpoint is
// taken; its half-width e^2 M2 / 4 is small where the variances are close (M_k is
// of order (s1 - s2)^2) and c is near 1. Where phi' jumps (selu, elu with alpha !=
// 1) h'' has a point mass at 0 and M2 is infinite: only M0 - e M1 <= D_h(c) <= M0.
// Further from c = 1, h's stored Hermite orders are summed and their tail pinned by
// the same three moments (difference_tail), whichever bound is smaller.
//
// M_k = sum_n w_n (s1^k phi^(k)(s1 z_n) - s2^k phi^(k)(s2 z_n))^2 on one rule for
// the whole layer, 16-point Gauss-Legendre panels on [-8.5, 8.5] (the Gaussian
// weight beyond is 2e-17; [0, 8.5] with doubled weights for odd phi), split at 0 (the
// kink of softsign's phi'; linear_region_tanh's kinks +-a / s move with the variance:
// the panel holding all of the layer's is left to each pair, kink_panel_moments). Next
// to 0 a panel is width_x / s_max wide in z, where
// phi's nearest singularity is at least 0.78 width_x away in x (tanh: poles at
// +-i pi / 2, width 2; sigmoid, softplus, silu: +-i pi, width 4; softsign's
// x / (1 + x) on x > 0: -1, width 1; elu and selu, entire on each side of their kink
// at 0: width 4), so that every panel's Bernstein ellipse reaches
// rho >= 3.4 and 16 nodes hold M_k to ~1e-15 of itself; further out the panels
// widen with the distance from 0 (difference_rule). Each input keeps its values
// sqrt(w_n) s^k phi^(k)(s z_n) (k = 0, 1, 2): a pair is then three sums of squared
// differences (~0.1-0.3 us for 100-300 nodes), against 5-15 us
// (near_diagonal_pair) and 0.1-1 ms (skeleton).
//
// Accuracy: the half-width above plus the rounding (each value within a few ulps,
// so each difference within 4 eps of the values' size) must be below 1e-13 of the
// Cauchy-Schwarz scale, or 1e-12 where neither bound reaches that (the class of
// near_diagonal_pair's pinned tails and of the table's own values, ~4e-13 of E[phi^2]
// below q = 10, ~1.3e-12 below 31.6). Measured: sampled pairs of ordered-phase kernels
// (sigma_b 2-12, every kind served) within 3e-13 of the scale of nested quadrature,
// 1e-12 for the first-order bracket (tests/test_two_point.py,
// test_nngp_kernel_while_the_variances_settle).
#pragma once

#include <atomic>
#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "activation.hpp"
#include "gauss_legendre.hpp"
#include "hermite_series.hpp"
#include "near_diagonal_table.hpp"
#include "special.hpp"
#include "two_point.hpp"

namespace sigprop {
namespace detail {

// Panel width in x = s z of the rule (about the distance of phi's nearest
// singularity off the real line, see above); 0 for the kinds not served (kinks
// away from 0, or no near-diagonal table).
inline double difference_width_x(Kind k) {
  switch (k) {
    case Kind::tanh:
    case Kind::linear_region_tanh: return 2.0;
    case Kind::sigmoid:
    case Kind::softplus:
    case Kind::shifted_softplus:
    case Kind::silu: return 4.0;
    case Kind::elu:  // (entire on each side of its kink at 0)
    case Kind::selu: return 4.0;
    case Kind::softsign: return 1.0;
    default: return 0.0;
  }
}

// The rule for a layer whose served standard deviations lie in [s_lo, s_hi]: nodes z
// and square roots of the weights (the Gaussian density included), and, for
// linear_region_tanh (its phi''' jumps at +-a), the panel [kl, kr] = [a / s_hi,
// a / s_lo] that holds every input's kink a / s and that the stored nodes leave out:
// a pair integrates it itself, split at its own two kinks (kink_panel_moments).
struct DifferenceRule {
  std::vector<double> z, sw;
  bool odd = false;
  double kl = 0.0, kr = 0.0;  // kl < kr: the kink panel (z >= 0; mirrored for z < 0)
  int size() const { return int(z.size()); }
};

inline DifferenceRule difference_rule(const Activation& a, double s_lo, double s_hi) {
  DifferenceRule r;
  const double wx = difference_width_x(a.kind);
  if (!(wx > 0.0) || !(s_hi > 0.0) || !(s_lo > 0.0) || !std::isfinite(s_hi)) return r;
  constexpr double Z = 8.5;
  r.odd = odd_builtin(a);
  // Panels from 0 out (the kink panel, where there is one, left out): width
  // w0 = width_x / s_hi (at most 1) next to 0 and next to the kink panel, then growing
  // with the distance d from there (0.5 d, at most 1), where the singularities (on
  // the imaginary axis of z for the analytic kinds, at (a +- i pi / 2) / s for
  // linear_region_tanh; softsign's at x = -1 from the half-line x >= 0) are at least
  // d away: every panel's ellipse ratio stays >= 1.57.
  const double w0 = std::fmin(1.0, wx / s_hi);
  std::vector<std::pair<double, double>> panels;
  auto cover = [&](double lo, double hi) {
    for (double z0 = lo; z0 < hi;) {
      double w = std::fmin(1.0, std::fmax(w0, 0.5 * (z0 - lo)));
      if (z0 + 1.5 * w > hi) w = hi - z0;  // (no sliver at the end)
      panels.push_back({z0, z0 + w});
      z0 += w;
    }
  };
  if (a.kind == Kind::linear_region_tanh && a.p0 / s_hi < Z) {
    r.kl = a.p0 / s_hi;
    r.kr = std::fmin(Z, a.p0 / s_lo);
    panels.push_back({0.0, r.kl});  // (phi(x) = x on [0, a]: h linear, one panel)
    cover(r.kr, Z);
  } else {
    cover(0.0, Z);
  }
  for (int side = r.odd ? 1 : -1; side <= 1; side += 2)
    for (const auto& [lo, hi] : panels) {
      const double mid = 0.5 * (lo + hi), h = hi - lo;
      if (!(h > 0.0)) continue;
      for (int i = 0; i < 8; ++i)
        for (int sg = -1; sg <= 1; sg += 2) {
          const double z = side * (mid + sg * 0.5 * h * quad::xgl16[i]);
          const double w = 0.5 * h * quad::wgl16[i] * special::npdf(z) * (r.odd ? 2.0 : 1.0);
          r.z.push_back(z);
          r.sw.push_back(std::sqrt(w));
        }
    }
  return r;
}

// A pair's share of M_k on the kink panel [kl, kr] of its rule (linear_region_tanh;
// odd, so z >= 0 with doubled weights), split at the pair's kinks a / s1, a / s2:
// 16-point Gauss-Legendre on each piece, or 4-point on a piece narrower than 1e-3 d,
// d = pi / (2 s_max) the distance in z of tanh(s z - a)'s poles from the real line
// (the pieces of a settling layer, whose variances are 1e-7-1e-3 apart: a panel
// ~1e-7-1e-3 wide). There the integrand is analytic in the ellipse of foci the
// piece's ends and semi-minor axis d / 2, where it stays bounded by a few times its
// values (Im(s z) <= pi / 4), and that ellipse's rho >= 2 d / h >= 2000, so that
// 4 points miss by ~rho^-8 <= 4e-27 of that bound (checked in long double against 16
// points at s 0.3-5.6, widths 1e-5-0.99 of 1e-3 d: within 1.3e-16 of the piece's M_k
// where the widths are 0.5-0.99 of the bound, the rounding of the differences
// elsewhere). A deep kernel at sigma_w = 1, sigma_b = 0.5 (100 inputs, depth 30, one
// thread): 27.1 -> 23.5 ms, its layers' entries bitwise the same. Added to M.
inline void kink_panel_moments(const Activation& a, const DifferenceRule& r, double s1, double s2,
                               double* M) {
  if (!(r.kr > r.kl)) return;
  const double b[4] = {r.kl, std::fmin(r.kr, std::fmax(r.kl, a.p0 / std::fmax(s1, s2))),
                       std::fmin(r.kr, std::fmax(r.kl, a.p0 / std::fmin(s1, s2))), r.kr};
  const double narrow = 1e-3 * (0.5 * special::pi) / std::fmax(s1, s2);
  for (int p = 0; p < 3; ++p) {
    const double mid = 0.5 * (b[p] + b[p + 1]), h = b[p + 1] - b[p];
    if (!(h > 0.0)) continue;
    // (the rule's positive nodes and weights, and their number)
    const bool few = h <= narrow;
    const double* xs = few ? quad::xgl4 : quad::xgl16;
    const double* ws = few ? quad::wgl4 : quad::wgl16;
    const int half = few ? 2 : 8;
    for (int i = 0; i < half; ++i)
      for (int sg = -1; sg <= 1; sg += 2) {
        const double z = mid + sg * 0.5 * h * xs[i];
        const double w = h * ws[i] * special::npdf(z);  // (0.5 h, doubled)
        const Derivs g1 = derivs(a, s1 * z), g2 = derivs(a, s2 * z);
        const double t0 = g1.f - g2.f, t1 = s1 * g1.d - s2 * g2.d,
                     t2 = s1 * s1 * g1.d2 - s2 * s2 * g2.d2;
        M[0] += w * t0 * t0;
        M[1] += w * t1 * t1;
        M[2] += w * t2 * t2;
      }
  }
}

// One input's values sqrt(w_n) s^k phi^(k)(s z_n), k = 0, 1, 2 (3 n doubles, k
// major), and their squared norms S[k]; false where one is not finite.
inline bool difference_values(const Activation& a, const DifferenceRule& r, double s, double* V,
                              double* S) {
  const int n = r.size();
  S[0] = S[1] = S[2] = 0.0;
  for (int m = 0; m < n; ++m) {
    const Derivs g = derivs(a, s * r.z[m]);
    const double w = r.sw[m];
    V[m] = w * g.f;
    V[n + m] = w * s * g.d;
    V[2 * n + m] = w * s * s * g.d2;
    for (int k = 0; k < 3; ++k) S[k] += V[k * n + m] * V[k * n + m];
  }
  return std::isfinite(S[0]) && std::isfinite(S[1]) && std::isfinite(S[2]);
}

// sum_m (x_m - y_m)^2, m < n, on the four residue classes of m mod 4 (the lanes of two
// 2-vectors where the compiler has vector extensions, the same operations lane by lane
// as the scalar form), joined pairwise, then the last n mod 4 terms: four chains of
// additions where one, bound by its latency, was 60 % of an ordered-phase silu
// kernel's time (1000 inputs, sigma_b = 5, one thread).
inline double squared_distance(const double* x, const double* y, int n) {
  const int n4 = n - n % 4;
  double r[4];
#if defined(__GNUC__)
  typedef double v2 __attribute__((vector_size(16)));
  v2 lo = {0.0, 0.0}, hi = lo;
  for (int m = 0; m < n4; m += 4) {
    v2 xl, yl, xh, yh;
    __builtin_memcpy(&xl, x + m, sizeof xl);
    __builtin_memcpy(&yl, y + m, sizeof yl);
    __builtin_memcpy(&xh, x + m + 2, sizeof xh);
    __builtin_memcpy(&yh, y + m + 2, sizeof yh);
    const v2 tl = xl - yl, th = xh - yh;
    lo += tl * tl;
    hi += th * th;
  }
  r[0] = lo[0];
  r[1] = lo[1];
  r[2] = hi[0];
  r[3] = hi[1];
#else
  r[0] = r[1] = r[2] = r[3] = 0.0;
  for (int m = 0; m < n4; m += 4)
    for (int l = 0; l < 4; ++l) {
      const double t = x[m + l] - y[m + l];
      r[l] += t * t;
    }
#endif
  double acc = (r[0] + r[1]) + (r[2] + r[3]);
  for (int m = n4; m < n; ++m) {
    const double t = x[m] - y[m];
    acc += t * t;
  }
  return acc;
}

// M_k (k = 0, 1, 2) of a pair from the two inputs' values (Vi, Si; Vj, Sj), and a
// bound on each one's error: each value within ~2 ulps, so that |M_k error| <=
// 2 sqrt(M_k) 4 eps sqrt(S_i + S_j), plus the sum's own rounding, n eps M_k, and the
// rule's, ~1e-15 M_k (1e-14 allowed).
// M1 first: false (the others not computed) where it exceeds m1_max.
inline bool difference_moments(const double* Vi, const double* Si, const double* Vj,
                               const double* Sj, int n, double* M, double* err,
                               double m1_max = special::inf) {
  const double eps = std::numeric_limits<double>::epsilon();
  // (M1 >= (|V1_i| - |V1_j|)^2, the reverse triangle inequality: the inputs' norms
  // alone rule most such pairs out, without the sum)
  if (m1_max < special::inf) {
    const double a = std::sqrt(Si[1]), b = std::sqrt(Sj[1]);
    const double gap = std::fabs(a - b) - 1e-14 * (a + b);
    if (gap > 0.0 && gap * gap > m1_max) return false;
  }
  for (const int k : {1, 0, 2}) {
    const double* x = Vi + size_t(k) * n;
    const double* y = Vj + size_t(k) * n;
    M[k] = squared_distance(x, y, n);
    const double acc = M[k];
    err[k] = 8.0 * eps * std::sqrt(acc * (Si[k] + Sj[k])) + ((n + 10) * eps + 1e-14) * acc;
    if (k == 1 && !(acc <= m1_max)) return false;
  }
  return true;
}

// E[phi(u) phi(v)] from the diagonal values d1 = D(q1, c), d2 = D(q2, c) and the
// pair's M_k (difference_moments) at e = 1 - c in [0, 1], with its error bound (D_h's
// half-width and rounding, halved; the table's error aside): v and bound. Where phi'
// jumps (selu, elu with alpha != 1: h'' has a point mass at 0, M2 is infinite) only
// the first-order bracket M0 - e M1 <= D_h(c) <= M0 holds (second_order false).
inline void difference_pair(const double* M, const double* err, double d1, double d2, double e,
                            bool second_order, double& v, double& bound) {
  double Dh, half;
  if (second_order) {
    half = 0.25 * e * e * M[2] + 0.5 * e * e * err[2];
    Dh = M[0] - e * M[1] + 0.25 * e * e * M[2];
  } else {
    half = 0.5 * e * M[1];
    Dh = M[0] - half;
  }
  v = 0.5 * (d1 + d2 - Dh);
  bound = 0.5 * (half + err[0] + e * err[1]);
  if (!std::isfinite(v)) bound = special::inf;
}

// A kernel layer's inputs for difference_pair: the rule, built for the served
// inputs' range of variances (those inside the near-diagonal table), and each served
// input's values and table slice, filled the first time a pair needs them (by one
// thread while others wait, as grid.hpp completes expansions): the same numbers
// whichever thread fills them.
class DifferenceInputs {
 public:
  // For the layer K (m x m): the rule, and every input's entry marked unfilled (the
  // buffers of the previous layer kept for reuse).
  // The rule itself (4-7 us) is built the first time a pair asks for it (enabled()):
  // most layers have no pair that does.
  void reset(const Activation& a, const double* K, std::ptrdiff_t m) {
    a_ = a;
    K_ = K;
    m_ = m;
    n_ = 0;
    on_ = false;
    rule_state_->store(2, std::memory_order_relaxed);
    second_order_ = !dphi_has_jump(a);
    // (hard_tanh, without a rule: its entries' slices alone, for the settled pairs)
    slices_only_ = !(difference_width_x(a.kind) > 0.0);
    if (!kernel_uses_near_diagonal_table(a.kind)) return;
    double s_lo = special::inf, s_hi = 0.0;
    for (std::ptrdiff_t i = 0; i < m; ++i) {
      const double q = K[i * m + i];
      if (!served(q)) continue;
      s_lo = std::fmin(s_lo, std::sqrt(q));
      s_hi = std::fmax(s_hi, std::sqrt(q));
    }
    if (!(s_hi > 0.0)) return;
    s_lo_ = s_lo;
    s_hi_ = s_hi;
    if (entries_.size() != size_t(m)) {
      state_.reset(new std::atomic<int>[size_t(m)]);
      entries_.resize(size_t(m));
    }
    for (std::ptrdiff_t i = 0; i < m; ++i) state_[i].store(0, std::memory_order_relaxed);
    on_ = true;
    if (!slices_only_) rule_state_->store(0, std::memory_order_relaxed);
  }

  // Whether the layer's pairs can take the difference form: the rule, built by one
  // thread while others that ask wait (2: built or none to build).
  bool enabled() {
    if (slices_only_) return on_;
    std::atomic<int>& st = *rule_state_;
    if (st.load(std::memory_order_acquire) != 2)
      once_per_slot(st, [&] {
        rule_ = difference_rule(a_, s_lo_, s_hi_);
        n_ = rule_.size();
      });
    return n_ > 0;
  }
  // Whether the layer's input of variance q reads the near-diagonal table.
  bool served(double q) const { return near_diagonal_serves(a_.kind, q, extended()); }
  int size() const { return n_; }
  // Whether M2 = E[h''(Z)^2] is finite (phi' continuous): the second-order bracket
  // and the pinned tail of h's orders apply.
  bool second_order() const { return second_order_; }
  // Whether the entries hold the slices alone, without a rule (hard_tanh): the settled
  // pairs' midpoint only (settled_difference_pair), their two lookups an input rather
  // than a pair (where the dispatch's settled_pair built both slices again each pair),
  // outside the domain of its Price form from c = 1 (hard_tanh_near_one_domain), which
  // serves a deep kernel's settled pairs without the table (its segments ~0.9 s cold:
  // a 50-input kernel at sigma_b = 3 took 0.9 s where it had taken 5 ms).
  bool slices_only() const { return slices_only_; }

  struct Entry {
    bool ok = false;
    NearDiagonalTable::Slice slice;
    std::vector<double> V;
    double S[3] = {0.0, 0.0, 0.0};
  };

  // The pair's M_k and their error bounds (difference_moments; the kink panel's
  // share, where the rule has one, integrated for the pair: kink_panel_moments).
  bool moments(const Entry& x, const Entry& y, double s1, double s2, double* M, double* err,
               double m1_max = special::inf) const {
    if (!difference_moments(x.V.data(), x.S, y.V.data(), y.S, n_, M, err, m1_max)) return false;
    if (!(rule_.kr > rule_.kl)) return true;
    double Mk[3] = {0.0, 0.0, 0.0};
    kink_panel_moments(a_, rule_, s1, s2, Mk);
    for (int k = 0; k < 3; ++k) {
      M[k] += Mk[k];
      err[k] += 1e-14 * Mk[k];
    }
    return true;
  }

  // Input i's entry (nullptr where it is not served), filled on first use.
  const Entry* get(std::ptrdiff_t i) {
    if (!enabled()) return nullptr;
    // (a fill may build a table segment, 0.1-1 s, and be cut short there: the entry is
    // then unfilled again, for whichever thread asks next)
    if (state_[i].load(std::memory_order_acquire) != 2) once_per_slot(state_[i], [&] { fill(i); });
    const Entry& e = entries_[size_t(i)];
    return e.ok ? &e : nullptr;
  }

 private:
  // A layer of at least this many inputs reads the table's extended range (past
  // 10^1.5, and elu's and selu's table), whose segments cost 0.3-0.5 s each to build
  // (once per process; a 50-input kernel would wait 0.5 s for a few milliseconds):
  // 256 (2.9e5 pairs over a depth-10 kernel) for softplus, shifted_softplus and silu,
  // whose pairs there took 30 us; 512 for elu, whose closed forms took 2-5 us (300
  // inputs at sigma_b = 3, cold: 0.44 s without the table, 0.94 s with it; 1000 at
  // sigma_b = 5: 10.9 s and 3.6 s); 768 where only the first-order bracket applies
  // (selu, elu with alpha != 1: at sigma_b = 5, 600 inputs took 2.8 s without it and
  // 2.7 s with it cold, 1000 inputs 15.8 s and 9.7 s).
  bool extended() const {
    if (!second_order()) return m_ >= 768;
    return m_ >= (a_.kind == Kind::elu ? 512 : 256);
  }
  void fill(std::ptrdiff_t i) {
    Entry& e = entries_[size_t(i)];
    e.ok = false;
    const double q = K_[i * m_ + i];
    if (!served(q)) return;
    e.slice = near_diagonal_slice(a_, q, extended());
    if (!e.slice.ok) return;
    if (slices_only_) {
      e.ok = true;
      return;
    }
    e.V.resize(size_t(3) * n_);
    e.ok = difference_values(a_, rule_, std::sqrt(q), e.V.data(), e.S);
  }

  Activation a_;
  bool second_order_ = true;
  bool slices_only_ = false;
  bool on_ = false;  // (slices_only_: the layer has served inputs)
  const double* K_ = nullptr;
  std::ptrdiff_t m_ = 0;
  DifferenceRule rule_;
  int n_ = 0;
  double s_lo_ = 0.0, s_hi_ = 0.0;  // the served inputs' range of sqrt(q), for the rule
  std::unique_ptr<std::atomic<int>> rule_state_{new std::atomic<int>(2)};
  std::unique_ptr<std::atomic<int>[]> state_;
  std::vector<Entry> entries_;
};

// A kernel layer's pair (i, j) next to c = 1 (x, y: the inputs' complete expansions),
// where the series has failed: the settled-pair midpoint first, as bivariate_dispatch
// would take it (settled_bound: settled_pair's numbers from the same slices), then the
// brackets of D_h, then h's stored orders with their tail pinned by the same three
// moments (difference_tail, as near_diagonal_pair pins it, with its per-pair
// quadrature replaced by them), whichever bound is smaller. False where none is within
// near_diagonal_tail_rtol of the scale (the caller goes on to bivariate_dispatch).
inline bool settled_difference_pair(DifferenceInputs& diff, const HermiteAt& x, const HermiteAt& y,
                                    std::ptrdiff_t i, std::ptrdiff_t j, double c, double& v) {
  if (!(c >= NearDiagonalTable::c_min() && c < 1.0) || !diff.enabled()) return false;
  // (hard_tanh: not where the dispatch's Price form comes first)
  if (diff.slices_only() && hard_tanh_near_one_domain(x.act, std::fmin(x.q, y.q), c)) return false;
  const DifferenceInputs::Entry* ex = diff.get(i);
  if (!ex) return false;
  const DifferenceInputs::Entry* ey = diff.get(j);
  if (!ey) return false;
  const double scale = std::sqrt(ex->slice.f_sq[0] * ey->slice.f_sq[0]);
  double d1, d2;
  if (i == j)
    d1 = d2 = ex->slice.eval(0, c);
  else
    ex->slice.eval2(ey->slice, 0, c, d1, d2);
  const double qi = x.q, qj = y.q, si = std::sqrt(qi), sj = std::sqrt(qj);
  const double B = settled_bound(x.act.kind, qi, qj);
  if (0.25 * B <= series_rtol * scale) {
    v = qi == qj ? d1 : 0.5 * (d1 + d2) - 0.25 * B;
    return true;
  }
  if (diff.slices_only()) return false;
  const double tol = near_diagonal_tail_rtol * scale;
  double M[3], Merr[3], bound;
  // (where only the first-order bracket applies, M1 alone decides: e M1 / 4 <= tol)
  const bool second = diff.second_order();
  if (!diff.moments(*ex, *ey, si, sj, M, Merr, second ? special::inf : 4.0 * tol / (1.0 - c)))
    return false;
  difference_pair(M, Merr, d1, d2, 1.0 - c, second, v, bound);
  if (bound <= series_rtol * scale) return true;
  AnchoredTail th;
  double P;
  if (second && x.full0 && y.full0 && x.n == y.n &&
      difference_tail(x, y, c, 1.0, 1.0, th, &P, true, M, Merr) && 0.5 * th.half < bound) {
    v = 0.5 * (d1 + d2 - (P + th.mid));
    bound = 0.5 * th.half;
  }
  return bound <= tol;
}

}  // namespace detail
}  // namespace sigprop
