// Hermite (Mehler) expansion of an activation: the engine of the two-point side
// (bivariate expectations, c-map, chi_c, c*, NNGP kernels), on the coefficients
// tabulated in hermite_table.hpp.
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
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "activation.hpp"
#include "analytic_tail.hpp"
#include "expectation.hpp"
#include "hermite_table.hpp"
#include "moment_table.hpp"
#include "special.hpp"

namespace sigprop {

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
  // Orders are evaluated from the table 16 at a time, the prefix bound's step: a pair
  // at a fresh variance with |c| well below 1 needs one or two such blocks (32 at a
  // time cost the whole domain's median pair 0.59 against 0.42-0.49 us).
  static constexpr int block = 16;
  double q = special::nan;
  double phi_sq = special::nan, dphi_sq = special::nan;
  int n = 0;      // orders of phi stored (0..n-1); phi' has n - 1
  int done = 0;   // orders evaluated so far (from the table, in blocks)
  bool full0 = false;  // every order evaluated and U0, R0, T1, T2 set (complete0)
  bool full = false;   // and U1, R1 and every prefix mass of phi' (complete)
  double small0 = 0.0, small1 = 0.0;
  double R0 = 0.0, R1 = 0.0;
  // The derivative anchors of the diagonal series (see diagonal_tail): with
  // W1 = sum_{j<n} j a_j^2 and W2 = sum_{j<n} j (j - 1) a_j^2 over the stored orders,
  //   T1 = q E[phi'^2] - W1 = sum_{j>=n} j a_j^2,
  //   T2 = q^2 E[phi''^2] - W2 = sum_{j>=n} j (j - 1) a_j^2 (inf where phi' jumps),
  // floored at zero; set by complete0().
  double d2phi_sq = special::nan;
  double T1 = special::nan, T2 = special::nan;
  Activation act{Kind::linear, 0.0, 0.0};
  HermiteTable::Point point;  // point.n == 0: the rule computed every order
  // Keeps the table that `point` reads alive (caches may drop it: clear_cache, LRU).
  std::shared_ptr<const HermiteTable> table;
  // P0[m] = E[phi^2] - sum_{j <= m} a_j^2 (prefix form, floored at the rounding
  // level of the moments), P1 the same for phi' (set at each block's last entry only:
  // mass1 reads any); U0, U1 the suffix form.
  std::vector<double> a, P0, P1, U0, U1;
  // The square roots of P0 and P1 at the last order of each block of 16
  // (B0[b] = sqrt(P0[16 b + 15])), the values the prefix bound reads, side by side:
  // a kernel's pair reads them for an expansion that is rarely in cache.
  double B0[N / 16 + 1], B1[N / 16 + 1];
  // (prefix1: the sums of phi''s blocks of 16 entries before each block)
  double S1b[N / 16 + 2];

  bool ok() const { return n > 1; }

  // From the table or, where its segment is marked and allow_rule is set, by the
  // rule (~1 ms). False (and n = 0) when neither applies.
  bool set(const Activation& act_, double q_, bool allow_rule) {
    q = q_;
    act = act_;
    n = done = 0;
    pdone_[0] = pdone_[1] = 0;
    closed_ = false;
    full0 = full = false;
    if (!(q > 0.0) || !std::isfinite(q)) return false;
    // log10(q) once for the moment table's lookup and the Hermite table's (~20 ns a
    // fresh expansion, two a random pair), where the moments come from the table (else
    // locate takes its own, if it is reached)
    const double lg =
        uses_moment_table(act_.kind) ? std::log10(q) : std::numeric_limits<double>::quiet_NaN();
    const Moments m = moments(act_, q, false, lg, false);  // (phi_sq and dphi_sq alone)
    phi_sq = m.phi_sq;
    dphi_sq = m.dphi_sq;
    if (!std::isfinite(phi_sq) || !std::isfinite(dphi_sq)) return false;
    if (int(a.size()) < N + 1) {
      for (auto* v : {&a, &P0, &P1, &U0, &U1}) v->resize(N + 1);
    }
    // Piecewise linear kinds: every order in closed form (~4 ns an order), evaluated
    // in blocks as from the table; no table. Over the table's range of q only, as the
    // other kinds (beyond it the products of coefficients leave the double range).
    if (q >= HermiteTable::q_lo() && q < HermiteTable::q_hi() && kinks_.init(act_, q, phi_sq)) {
      table.reset();
      point = HermiteTable::Point();
      closed_ = true;
      n = N + 1;
      small0 = small1 = 0.0;
      return true;
    }
    // (assigned only where it changes: a kernel layer's inputs, reused from layer to
    // layer, hold the same table, and each copy of the pointer counts its references
    // up and down, atomic operations on one cache line that every thread's inputs
    // share)
    const std::shared_ptr<const HermiteTable>& shared =
        detail::HermiteTableCache::fetch_shared(act_);
    if (table != shared) table = shared;
    point = table->locate(q, lg);
    if (point.n > 0) {
      n = std::max(point.n, 2);
      small0 = point.small0;
      small1 = point.small1 / std::sqrt(q);
      if (point.n < 2) a[1] = 0.0;
      return true;
    }
    if (!allow_rule ||
        !detail::hermite_coefficients_rule(act_, q, N, detail::hermite_rule_width(N), phi_sq,
                                           a.data()))
      return false;
    n = N + 1;
    small0 = small1 = 0.0;
    done = n;
    prefix<0>(n);
    prefix<1>(n);
    return true;
  }

  // Evaluate (if needed) the orders below m, in blocks, and the prefix masses of phi
  // and phi' that far; returns the number available.
  int ensure(int m) {
    m = std::min(m, n);
    if (m <= pdone_[0] && m <= pdone_[1]) return done;  // (pdone_ <= done)
    if (m > done) evaluate(m);
    prefix<0>(done);
    prefix<1>(done);
    return done;
  }
  // The same with the prefix masses of phi (d = 0) or phi' (d = 1) alone, those the
  // prefix bound of one series reads (a random pair's fresh expansions serve one d:
  // each mass a chain of additions an order, ~1 ns)
  int ensure_for(int m, int d) {
    m = std::min(m, n);
    if (m <= pdone_[d]) return done;  // (pdone_ <= done)
    if (m > done) evaluate(m);
    if (d == 0)
      prefix<0>(done);
    else
      prefix<1>(done);
    return done;
  }

  // ensure_for(m, 0) of four expansions (a kernel layer's inputs), the same numbers:
  // their orders (where all four are piecewise linear, fresh and of one shape, the
  // closed-form orders side by side: KinkSeries::fill_many; else one by one), then
  // their prefix masses of phi side by side where all four start afresh in one mode
  // (prefix0_4), ensure_for finishing each.
  static void ensure_phi4(HermiteAt* const* hs, int m) {
    bool together = true, fresh = true;
    for (int b = 0; b < 4; ++b) {
      const HermiteAt& h = *hs[b];
      together = together && h.ok() && h.closed_ && h.done == 0 && h.pdone_[0] == 0 &&
                 h.n == hs[0]->n && h.kinks_.next == 0;
      fresh = fresh && h.ok() && h.pdone_[0] == 0 && h.odd_orders() == hs[0]->odd_orders();
    }
    if (together) {
      const int to = std::min(hs[0]->n, std::max(m, block));  // (evaluate's, from 0)
      detail::KinkSeries* ks[4];
      double* an[4];
      for (int b = 0; b < 4; ++b) {
        ks[b] = &hs[b]->kinks_;
        an[b] = hs[b]->a.data();
      }
      detail::KinkSeries::fill_many<4>(ks, an, to, detail::HermiteFactors::shared());
      for (int b = 0; b < 4; ++b) hs[b]->done = to;
    } else if (fresh) {
      for (int b = 0; b < 4; ++b) {  // (ensure_for's evaluation)
        HermiteAt& h = *hs[b];
        const int mb = std::min(m, h.n);
        if (mb > h.done) h.evaluate(mb);
      }
    }
    if (fresh) prefix0_4(hs);
    for (int b = 0; b < 4; ++b)
      if (hs[b]->ok()) hs[b]->ensure_for(m, 0);
  }

  // Every order, and what the series of phi (d = 0) reads beyond the prefix masses: the
  // suffix sums U0 of the second bound (see hermite_bivariate), R0, and the diagonal
  // anchors T1, T2 (diagonal_tail). A kernel's pairs read nothing else: phi''s prefix
  // masses and suffix sums (complete()) were a fifth of the time of softplus's deep
  // layers, whose pairs at c ~ 0.99-0.9996 complete every input's expansion.
  void complete0() {
    if (full0 || !ok()) return;
    const bool odd = odd_orders();
    // ensure_for(n, 0): every order, and the prefix masses of phi. Where those go on
    // past the records' orders (a non-odd kind), their chain of additions runs in the
    // suffix sums' loop below, from the other end (the same operations on each chain:
    // the same numbers; the chains overlap, where one pass after the other waited on
    // each one's latency: softplus's deep kernel layers, which complete every input)
    if (n > done) evaluate(n);
    const bool fuse = !odd && pdone_[0] < done && done == n;
    if (!fuse) prefix<0>(done);
    // (before the sums: across the call they would live on the stack)
    d2phi_sq = moments(act, q, true).d2phi_sq;
    // three independent sums from the top in one pass (each in the same order as a
    // pass of its own: the same numbers, but their chains of additions overlap)
    // (an odd activation's even orders are exact zeros, which leave each sum as it is:
    // its chains run over the odd orders alone, half as long; the same numbers)
    double s0 = 0.0, w1 = 0.0, w2 = 0.0;
    int j = n - 1;
    if (fuse) {
      // (prefix<0>'s loop, orders from..n-1, beside the suffix sums' first n - from)
      const int from = pdone_[0];
      const double whole = phi_sq, f = 4e-15 * whole;
      const double* __restrict ap = a.data();
      double* __restrict P = P0.data();
      double* __restrict U = U0.data();
      double sp = from == 0 ? 0.0 : s0_;
      int k = from;
      // (j as a double dj, exact: no conversion an order)
      for (double dj = double(j); k < n; ++k, --j, dj -= 1.0) {
        sp += ap[k] * ap[k];
        P[k] = floor_at(whole - sp, f);
        U[j] = s0;
        const double t = ap[j] * ap[j];
        s0 += t;
        if (j >= 1) {
          w1 += dj * t;
          w2 += dj * (dj - 1.0) * t;
        }
      }
      s0_ = sp;
      for (int kb = from | 15; kb < n; kb += 16) B0[kb >> 4] = std::sqrt(P[kb]);
      pdone_[0] = n;
    }
    for (double dj = double(j); j >= 0; --j, dj -= 1.0) {
      U0[j] = s0;
      if (odd && (j & 1) == 0) continue;
      const double t = a[j] * a[j];
      s0 += t;
      if (j >= 1) {
        w1 += dj * t;
        w2 += dj * (dj - 1.0) * t;
      }
    }
    R0 = std::fmax(phi_sq - s0, 4e-15 * phi_sq);
    T1 = std::fmax(q * dphi_sq - w1, 0.0);
    T2 = std::isfinite(d2phi_sq) ? std::fmax(q * q * d2phi_sq - w2, 0.0) : special::inf;
    full0 = true;
  }
  // complete0(), and phi''s prefix masses and suffix sums U1, R1 (d = 1).
  void complete() {
    if (full || !ok()) return;
    complete0();
    ensure_for(n, 1);
    double s1 = 0.0;
    for (int j = n - 2; j >= 0; --j) {
      U1[j] = s1;
      s1 += double(j + 1) * a[j + 1] * a[j + 1] / q;
    }
    R1 = std::fmax(dphi_sq - s1, 4e-15 * dphi_sq);
    full = true;
  }

  // What the series of f = phi (d = 0) or phi' (d = 1) reads: complete0() or complete()
  void complete_for(int d) {
    if (d == 0)
      complete0();
    else
      complete();
  }
  bool full_for(int d) const { return d == 0 ? full0 : full; }

  // Bound on sum_{m > k, m <= N - d} f_m^2 of the stored and unstored orders up to
  // n_max (f = phi for d = 0, phi' for d = 1); needs complete_for(d).
  double mass_above(int d, int k) const {
    const int stored = n - d;  // orders 0..stored-1 are in U
    const double u = k < stored ? (d == 0 ? U0[k] : U1[k]) : 0.0;
    const double sm = d == 0 ? small0 : small1;
    const int unstored = (N - d) - std::max(k, stored - 1);
    return u + (unstored > 0 ? unstored * sm * sm : 0.0);
  }
  // An odd activation's table gives its even orders as exact zeros, which leave the
  // sums as they are (s + 0 = s): there the chains of additions run over the odd
  // orders alone (the prefix masses: an even order's entries those of the odd order
  // before it, the same numbers, half the chain; mehler_sum).
  bool odd_orders() const { return !closed_ && point.n > 0 && point.odd; }
  // The relative mass of f = phi (d = 0) or phi' (d = 1) beyond n_max predicted from the
  // table before any order is evaluated (HermiteTable::Point::tail, the least at the
  // segment's nodes); 0 without a table.
  double predicted_tail(int d) const { return point.n > 0 ? point.tail[d] : 0.0; }

 private:
  double s0_ = 0.0;  // (prefix0: the sum of the squares so far)
  // The orders below which the prefix masses are set: of phi, every order; of phi',
  // through the last whole block of 16 (prefix1), or n once every order is
  int pdone_[2] = {0, 0};
  // ensure() past the orders done
  detail::KinkSeries kinks_;
  bool closed_ = false;  // the coefficients come from kinks_
  void evaluate(int m) {
    const int to = std::min(n, std::max(m, done + block));
    if (closed_)
      kinks_.fill(to, a.data(), detail::HermiteFactors::shared());
    else
      point.eval(done, std::min(to, point.n), a.data());
    done = to;
  }
  // max(v, floor) as std::fmax (the floor where v is NaN), inline: the library call
  // cost more than the rest of the loop
  static double floor_at(double v, double f) { return v > f ? v : f; }
  // prefix<0> of four fresh expansions (pdone_[0] == 0, of one mode) over the blocks of
  // 16 orders that all four have evaluated: each the same operations as prefix<0>, the
  // four chains of additions side by side (one alone waits on its additions' latency);
  // prefix<0> goes on from there.
  static void prefix0_4(HermiteAt* const* hs) {
    int t = hs[0]->done;
    for (int b = 1; b < 4; ++b) t = std::min(t, hs[b]->done);
    t &= ~15;
    if (t < 16) return;
    HermiteAt &h0 = *hs[0], &h1 = *hs[1], &h2 = *hs[2], &h3 = *hs[3];
    const double* __restrict a0 = h0.a.data();
    const double* __restrict a1 = h1.a.data();
    const double* __restrict a2 = h2.a.data();
    const double* __restrict a3 = h3.a.data();
    double* __restrict p0 = h0.P0.data();
    double* __restrict p1 = h1.P0.data();
    double* __restrict p2 = h2.P0.data();
    double* __restrict p3 = h3.P0.data();
    const double w0 = h0.phi_sq, w1 = h1.phi_sq, w2 = h2.phi_sq, w3 = h3.phi_sq;
    const double f0 = 4e-15 * w0, f1 = 4e-15 * w1, f2 = 4e-15 * w2, f3 = 4e-15 * w3;
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    int j = 0;
    if (h0.odd_orders()) {
      s0 += a0[0] * a0[0];
      s1 += a1[0] * a1[0];
      s2 += a2[0] * a2[0];
      s3 += a3[0] * a3[0];
      p0[0] = floor_at(w0 - s0, f0);
      p1[0] = floor_at(w1 - s1, f1);
      p2[0] = floor_at(w2 - s2, f2);
      p3[0] = floor_at(w3 - s3, f3);
      for (j = 1; j + 1 < t; j += 2) {  // odd j, then the even j + 1
        s0 += a0[j] * a0[j];
        s1 += a1[j] * a1[j];
        s2 += a2[j] * a2[j];
        s3 += a3[j] * a3[j];
        p0[j] = p0[j + 1] = floor_at(w0 - s0, f0);
        p1[j] = p1[j + 1] = floor_at(w1 - s1, f1);
        p2[j] = p2[j + 1] = floor_at(w2 - s2, f2);
        p3[j] = p3[j + 1] = floor_at(w3 - s3, f3);
      }
    }
    for (; j < t; ++j) {
      s0 += a0[j] * a0[j];
      s1 += a1[j] * a1[j];
      s2 += a2[j] * a2[j];
      s3 += a3[j] * a3[j];
      p0[j] = floor_at(w0 - s0, f0);
      p1[j] = floor_at(w1 - s1, f1);
      p2[j] = floor_at(w2 - s2, f2);
      p3[j] = floor_at(w3 - s3, f3);
    }
    const double sums[4] = {s0, s1, s2, s3};
    for (int b = 0; b < 4; ++b) {
      HermiteAt& h = *hs[b];
      h.s0_ = sums[b];
      for (int k = 15; k < t; k += 16) h.B0[k >> 4] = std::sqrt(h.P0[k]);
      h.pdone_[0] = t;
    }
  }
  // The prefix masses of phi (d = 0: P0, B0; prefix0) or phi' (d = 1: P1, B1; prefix1)
  // of the orders pdone_[d]..to-1 (phi': its whole blocks among them)
  template <int d>
  void prefix(int to) {
    if constexpr (d == 1)
      prefix1(to);
    else
      prefix0(to);
  }
  // P0[j] and B0 of the orders pdone_[0]..to-1, a chain of additions of their squares
  void prefix0(int to) {
    const int from = pdone_[0];
    if (from >= to) return;
    if (from == 0) s0_ = 0.0;
    double* P = P0.data();
    const double whole = phi_sq, f = 4e-15 * whole;
    double s = s0_;
    int j = from;
    if (odd_orders()) {
      if ((j & 1) == 0 && j < to) {
        s += a[j] * a[j];
        P[j] = floor_at(whole - s, f);
        ++j;
      }
      for (; j + 1 < to; j += 2) {  // odd j, then the even j + 1
        s += a[j] * a[j];
        P[j] = P[j + 1] = floor_at(whole - s, f);
      }
    }
    for (; j < to; ++j) {
      s += a[j] * a[j];
      P[j] = floor_at(whole - s, f);
    }
    s0_ = s;
    for (int k = from | 15; k < to; k += 16) B0[k >> 4] = std::sqrt(P[k]);
    pdone_[0] = to;
  }
  // The prefix masses of phi' a block of 16 at a time: with t_i = (i + 1) a_(i+1)^2
  // (b_i^2 q) and S1b[k] the sum of the blocks before block k, a block's sum in four
  // chains (((t_0 + t_4) + t_8) + t_12, the same from t_1, t_2, t_3, added pairwise)
  // and P1 at its last entry, dphi_sq - S1b[k + 1] / q (floored), with B1; an entry
  // inside a block (the prefix bound's short last block: mass1) from S1b[k] and the
  // block's entries up to it in order. A block is summed once every order in it is
  // evaluated, so that each mass is the same sum whatever the calls that reached it
  // (a pair's bounds do not depend on the pairs before it). One chain of additions an
  // order had held up a fresh expansion's masses (random pairs' E[phi' phi'], selu:
  // 17 % of the time, 4 cycles an order).
  void prefix1(int to) {
    const int from = pdone_[1];
    if (from >= to) return;
    const double whole = dphi_sq, f = 4e-15 * whole;
    const double* __restrict ap = a.data();
    const int last = n - 1;                           // entries 0..last-1 (orders 1..n-1)
    const int avail = to - 1 < last ? to - 1 : last;  // entries evaluated
    int i = from > 0 ? from - 1 : 0;                  // (a block's first entry)
    double s = i > 0 ? S1b[i >> 4] : 0.0;
    for (; i + 16 <= avail; i += 16) {
      S1b[i >> 4] = s;
#if defined(__GNUC__)
      // (the four chains in two two-lane vectors, the orders as exact doubles: the same
      // operations as below)
      typedef double v2 __attribute__((vector_size(16)));
      typedef double v2u __attribute__((vector_size(16), aligned(8), may_alias));
      const double o0 = double(i + 1);
      v2 n01 = {o0, o0 + 1.0}, n23 = {o0 + 2.0, o0 + 3.0}, acc01 = {}, acc23 = {};
      for (int k = 0; k < 16; k += 4) {
        const v2 a01 = *reinterpret_cast<const v2u*>(ap + i + k + 1);
        const v2 a23 = *reinterpret_cast<const v2u*>(ap + i + k + 3);
        acc01 += n01 * a01 * a01;
        acc23 += n23 * a23 * a23;
        n01 += 4.0;
        n23 += 4.0;
      }
      s += (acc01[0] + acc01[1]) + (acc23[0] + acc23[1]);
#else
      double acc[4] = {0.0, 0.0, 0.0, 0.0};
      for (int k = 0; k < 16; k += 4)
        for (int r = 0; r < 4; ++r) {
          const int o = i + k + r + 1;
          acc[r] += double(o) * ap[o] * ap[o];
        }
      s += (acc[0] + acc[1]) + (acc[2] + acc[3]);
#endif
      P1[i + 15] = floor_at(whole - s / q, f);
      B1[(i + 15) >> 4] = std::sqrt(P1[i + 15]);
    }
    S1b[i >> 4] = s;
    pdone_[1] = to >= n ? n : i + 1;
  }

 public:
  // P1[i], the prefix mass of phi' at entry i (order i + 1), set by prefix1 at a block's
  // last entry, else from the block's first (needs the orders up to i + 1 evaluated
  // and prefix<1> to them: ensure_for(i + 2, 1))
  double mass1(int i) const {
    if ((i & 15) == 15) return P1[i];
    const int i0 = i & ~15;
    double w = 0.0;
    for (int k = i0; k <= i; ++k) w += double(k + 1) * a[k + 1] * a[k + 1];
    return floor_at(dphi_sq - (S1b[i >> 4] + w) / q, 4e-15 * dphi_sq);
  }
};

namespace detail {

// The order k after which the prefix bound on the remainder (see hermite_bivariate)
// is below tol, tried block by block (at the last order of each block of 16); -1
// when there is none.
inline int prefix_truncation(HermiteAt& x, HermiteAt& y, int d, double ac, int len,
                             double tol) {
  // |c|^(m1): one multiplication by |c|^16 a block (a chain of 16 would cost more than
  // the series it bounds), |c|^(len mod 16) at a short last block
  const double a2 = ac * ac, a4 = a2 * a2, a8 = a4 * a4, a16 = a8 * a8;
  double cp = 1.0;
  int m0 = 0;
  // Complete expansions (a kernel's pairs) with four full blocks: those blocks'
  // tests side by side, without a branch each (which block ends a pair's series
  // varies from pair to pair: a mispredicted branch a block cost more than the
  // test). The same products and comparisons as the loop below, so the same k.
  if (x.full_for(d) && y.full_for(d) && len >= 64) {
    const double* bx = d == 0 ? x.B0 : x.B1;
    const double* by = d == 0 ? y.B0 : y.B1;
    const double c1 = a16, c2 = c1 * a16, c3 = c2 * a16, c4 = c3 * a16;
    const bool t0 = (bx[0] * by[0]) * c1 <= tol, t1 = (bx[1] * by[1]) * c2 <= tol,
               t2 = (bx[2] * by[2]) * c3 <= tol, t3 = (bx[3] * by[3]) * c4 <= tol;
    const int first = t0 ? 0 : t1 ? 1 : t2 ? 2 : t3 ? 3 : 4;
    if (first < 4) return 16 * first + 15;
    cp = c4;
    m0 = 64;
  }
  // A lower bound on sqrt(P_m(x) P_m(y)) at every order m: the mass beyond n_max,
  // predicted from the table (HermiteTable::Point::tail, the least at a segment's nodes:
  // at most 1.1 times the mass found once every order is evaluated; halved here). A
  // block whose test cannot pass with it is not tested: its orders are evaluated with
  // the next block's, and the masses summed through both at once, where a fresh pair's
  // blocks were each evaluated, summed and tested in turn (random pairs over the whole
  // domain, one thread, harness best of 6: E[phi' phi'] of selu +8-13 %, elu +8 %,
  // softsign +13-15 %; values and kernels bitwise unchanged). The same k wherever the
  // bound holds; where it did not, a later block and more orders, within the tolerance
  // all the same.
  const double lower = 0.5 * std::sqrt(x.predicted_tail(d) * y.predicted_tail(d)) *
                       (d == 0 ? std::sqrt(x.phi_sq) * std::sqrt(y.phi_sq)
                               : std::sqrt(x.dphi_sq) * std::sqrt(y.dphi_sq));
  for (; m0 < len; m0 += 16) {
    const int m1 = std::min(len, m0 + 16);  // orders m0..m1-1 of f
    if (m1 - m0 == 16 && lower * (cp * a16) > tol) {
      cp *= a16;
      continue;
    }
    x.ensure_for(m1 + d, d);
    y.ensure_for(m1 + d, d);
    double r;  // sqrt(P_{m1-1}(x) P_{m1-1}(y))
    if (m1 - m0 == 16) {
      cp *= a16;
      r = d == 0 ? x.B0[m0 >> 4] * y.B0[m0 >> 4] : x.B1[m0 >> 4] * y.B1[m0 >> 4];
    } else {
      for (int m = m0; m < m1; ++m) cp *= ac;
      // (the square roots' product: the masses' product underflows to 0 for an input
      // deep in a threshold's tail, E[phi^2] ~ 1e-285, which certified any order)
      r = d == 0 ? std::sqrt(x.P0[m1 - 1]) * std::sqrt(y.P0[m1 - 1])
                 : std::sqrt(x.mass1(m1 - 1)) * std::sqrt(y.mass1(m1 - 1));
    }
    if (r * cp <= tol) return m1 - 1;
  }
  return -1;
}

// The same for the suffix bound, after every order of x and y is evaluated.
inline int suffix_truncation(HermiteAt& x, HermiteAt& y, int d, double ac, int len,
                             double tol) {
  x.complete_for(d);
  y.complete_for(d);
  // (square roots multiplied, not the masses: see prefix_truncation)
  const double far =
      (d == 0 ? std::sqrt(x.R0) * std::sqrt(y.R0) : std::sqrt(x.R1) * std::sqrt(y.R1)) *
      std::pow(ac, HermiteAt::N + 1 - d);
  if (!(far <= 0.5 * tol)) return -1;
  double cp = 1.0;
  for (int m = 0; m < len; ++m) {
    cp *= ac;
    if ((m & 15) == 15 || m + 1 == len) {
      if (std::sqrt(x.mass_above(d, m)) * std::sqrt(y.mass_above(d, m)) * cp + far <= tol) return m;
    }
  }
  return -1;
}

// The Mehler series certified by the a priori bound of analytic_tail.hpp on the
// smaller variance's tail (tanh, sigmoid, softplus, shifted_softplus, silu): the
// order k with
//     |c|^k sqrt(T(k) E[g^2]) <= tol,   T(k) >= sum_{n>=k} f_n^2,
// f, g = phi^(d) at the smaller and the larger variance (g's tail bounded by its
// whole E[g^2]), and the orders below k summed. This serves the pairs next to
// |c| = 1 at a small variance (q <~ 1e-2 r^2), where the tabled coefficients'
// remainders, known only to the rounding of the one-point moments, never fall below
// 4e-15 E[f^2] and the bounds of hermite_bivariate fail for any |c|^(n_max) not far
// below 1e-6. At such a variance the coefficients come from the 60-node
// Gauss-Hermite rule (analytic_coefficients) rather than the table: the table holds
// a_n to ~1e-16 of sqrt(E[phi^2]), and phi''s b_n = sqrt(n + 1) a_(n+1) / sqrt(q)
// would carry that times 1 / sqrt(q) (softplus' at q = 1e-8: 5e-12 of the scale).
// The larger variance's orders come from the table where its variance is above that.
// False where the bound needs more than analytic_max_order orders or the kind has
// no strip.
inline bool analytic_series(HermiteAt& x, HermiteAt& y, int d, double c, double tol,
                            double& out) {
  const AnalyticStrip s = analytic_strip(x.act.kind);
  if (!(s.r > 0.0)) return false;
  HermiteAt& f = x.q <= y.q ? x : y;
  HermiteAt& g = x.q <= y.q ? y : x;
  const double q_quad = analytic_quadrature_q * s.r * s.r;
  if (!(f.q <= q_quad)) return false;
  double tail = 0.0;
  const int k = analytic_truncation(s, d, f.q, std::fabs(c), d == 0 ? g.phi_sq : g.dphi_sq, tol,
                                    2, analytic_max_order, &tail);
  if (k < 0) return false;
  double fc[analytic_max_order], gc[analytic_max_order];
  analytic_coefficients(f.act, d, f.q, k, fc);
  if (g.q <= q_quad) {
    analytic_coefficients(g.act, d, g.q, k, gc);
  } else {
    if (g.ensure(k + d) < k + d) return false;
    const double rq = 1.0 / std::sqrt(g.q);
    for (int n = 0; n < k; ++n)
      gc[n] = d == 0 ? g.a[n] : std::sqrt(double(n + 1)) * g.a[n + 1] * rq;
  }
  double v = 0.0;  // Horner from the top
  for (int n = k - 1; n >= 0; --n) v = v * c + fc[n] * gc[n];
  out = v;
  return std::isfinite(v);
}

// |c|^(N + 1 - d), N = n_max = 512, by nine squarings (within ~10 ulps of std::pow,
// which cost a c-map's pair 3-5 % and a deep softplus kernel layer's 5 %), for the
// tests below that no truncation is worth trying
inline double pow_past_n_max(double ac, int d) {
  static_assert(HermiteAt::N == 512, "|c|^N by nine squarings");
  double p = ac;
  for (int i = 0; i < 9; ++i) p *= p;
  return d == 0 ? p * ac : p;
}

// Where both expansions are complete and the mass beyond n_max alone keeps both
// truncation bounds above tol (P_k >= R for every k), neither is worth trying: next
// to |c| = 1 for slowly decaying coefficients, where a kernel's pairs would run
// through every block for nothing. (|c|^(n_max + 1 - d) only where it can matter,
// |c| > 0.9: below, it is under 0.9^512 < 4e-24.)
inline bool series_hopeless(const HermiteAt& x, const HermiteAt& y, int d, double ac,
                            double tol) {
  // (square roots multiplied: the masses' product underflows, see prefix_truncation)
  const double far =
      !(x.full_for(d) && y.full_for(d))
          ? 0.0
          : (d == 0 ? std::sqrt(x.R0) * std::sqrt(y.R0) : std::sqrt(x.R1) * std::sqrt(y.R1));
  return far > 0.0 && (ac > 0.9 || far * 4e-24 > tol) && far * pow_past_n_max(ac, d) > tol;
}

// The same test before the orders are evaluated (a random pair's fresh expansions):
// the relative mass beyond n_max of each expansion taken as the least at its table
// segment's nodes (HermiteTable::Point::tail), from which the remainder R found after
// every order is evaluated differs by rounding and by the variation across an eighth
// of a decade of q; with a factor 2 of margin. It reads the table only, never what
// was evaluated (which depends on the calls before, and for an expansion shared by
// threads on their order). (A pair it calls hopeless needlessly takes the forms after
// the series: slower, as accurate. At 8096 random pairs a kind and order, half next to
// |c| = 1, every pair it called hopeless was.)
inline bool series_predicted_hopeless(const HermiteAt& x, const HermiteAt& y, int d, double ac,
                                      double rtol) {
  if (!(ac > 0.9)) return false;
  auto rel = [d](const HermiteAt& h) {  // (floored as R0 and R1; 0 without a table)
    return h.point.n > 0 ? std::fmax(h.predicted_tail(d), 4e-15) : 0.0;
  };
  const double t = std::sqrt(rel(x) * rel(y));
  if (!(t > 2.0 * rtol)) return false;  // (the tails' masses are at most 1)
  return t * pow_past_n_max(ac, d) > 2.0 * rtol;
}

// The Mehler series of f = phi (d = 0) or phi' (d = 1) up to order k: Horner's rule
// in c^4 on the four residue classes of the order (the lanes of two 2-vectors where
// the compiler has vector extensions: the same operations, lane by lane, as the
// scalar form), joined by Horner in c. A single chain is bound by the latency of its
// multiply-add (~8 cycles a term): it took 3-4x as long at 200 terms. For two
// expansions of an odd activation (HermiteAt::odd_orders: its even orders exact
// zeros), whose terms of one parity p alone are nonzero (p = 1 for phi, 0 for phi',
// the orders of phi' being those of phi less one), over those orders alone: n = p +
// 2 i, c^p sum_i t_i z^i in z = c^2, the same chains in z^4 joined in z, half the
// terms (a deep softsign kernel's pairs at c ~ 0.9: 150-250 orders); odd (phi) or
// even (phi') in c bit for bit either way.
// Orders n = p + S i, i = 0..(k - p) / S (S = 1, p = 0: every order):
template <int S>
inline double mehler_chains(const HermiteAt& x, const HermiteAt& y, int d, double c, int k,
                            int p) {
  if (k < p) return 0.0;
  const double* xa = x.a.data() + d;
  const double* ya = y.a.data() + d;
  const double z = S == 1 ? c : c * c, z2 = z * z, z4 = z2 * z2;
  // order n carries the weight w(n) = 1 (phi) or n + 1 (phi'); w(n) u v = (w(n) u) v,
  // exact when w = 1
  auto w = [d](int n) { return d == 0 ? 1.0 : double(n + 1); };
  auto t = [&](int i) {
    const int n = p + S * i;
    return w(n) * xa[n] * ya[n];
  };
  const int top = (k - p) / S;   // the last i
  const int m = 4 * (top >> 2);  // i = m .. top first, the missing ones as zeros
  double s0 = t(m);
  double s1 = m + 1 <= top ? t(m + 1) : 0.0;
  double s2 = m + 2 <= top ? t(m + 2) : 0.0;
  double s3 = m + 3 <= top ? t(m + 3) : 0.0;
#if defined(__GNUC__)
  typedef double v2 __attribute__((vector_size(16)));  // GCC, Clang: two lanes
  v2 lo = {s0, s1}, hi = {s2, s3};
  const v2 zv = {z4, z4};
  for (int i = m - 4; i >= 0; i -= 4) {
    const int n = p + S * i;
    const v2 u0 = {xa[n], xa[n + S]}, w0 = {ya[n], ya[n + S]};
    const v2 u1 = {xa[n + 2 * S], xa[n + 3 * S]}, w1 = {ya[n + 2 * S], ya[n + 3 * S]};
    const v2 wl = {w(n), w(n + S)}, wh = {w(n + 2 * S), w(n + 3 * S)};
    lo = lo * zv + wl * u0 * w0;
    hi = hi * zv + wh * u1 * w1;
  }
  s0 = lo[0];
  s1 = lo[1];
  s2 = hi[0];
  s3 = hi[1];
#else
  for (int i = m - 4; i >= 0; i -= 4) {
    s0 = s0 * z4 + t(i);
    s1 = s1 * z4 + t(i + 1);
    s2 = s2 * z4 + t(i + 2);
    s3 = s3 * z4 + t(i + 3);
  }
#endif
  double v = s0 + z * (s1 + z * (s2 + z * s3));
  if (p == 1) v *= c;
  if (d == 1) v /= std::sqrt(x.q) * std::sqrt(y.q);  // (q1 q2 underflows at q ~ 1e-300)
  return v;
}

inline double mehler_sum(const HermiteAt& x, const HermiteAt& y, int d, double c, int k) {
  if (k < 0) return 0.0;
  if (x.odd_orders() && y.odd_orders())
    return mehler_chains<2>(x, y, d, c, k, d == 0 ? 1 : 0);
  return mehler_chains<1>(x, y, d, c, k, 0);
}

// The interval that three anchors pin the tail t(c) = sum_{m>=s} w_m c^m of nonnegative
// weights w_m to, 0 < c < 1, e = 1 - c (shared by diagonal_series and
// offdiagonal_series): with T0 = sum_{m>=s} w_m, T1 = sum_{m>=s} m w_m and
// T2 = sum_{m>=s} m (m - 1) w_m (inf: the first-order bound only),
//   J0 = T0,  J1 = T1 - s T0,  J2 = T2 - 2 s T1 + s (s + 1) T0,
//   c^s max(0, J0 - e J1) <= t(c) <= c^s min(J0, J0 - e J1 + e^2 J2 / 2);
// mid is the interval's midpoint, half its half-width plus what the rounding of the
// anchors (d0, d1, d2 on T0, T1, T2) moves it.
struct AnchoredTail {
  double mid, half;
};
// The tail's moments about order s, J0, J1, J2 (above), from the anchors T0, T1, T2.
struct TailMoments {
  double J0, J1, J2;
};
inline TailMoments tail_moments(double sd, double T0, double T1, double T2) {
  return {T0, std::fmax(0.0, T1 - sd * T0),
          std::isfinite(T2) ? std::fmax(0.0, T2 - 2.0 * sd * T1 + sd * (sd + 1.0) * T0)
                            : special::inf};
}
inline AnchoredTail anchored_tail(double c, double sd, double T0, double T1, double T2,
                                  double d0, double d1, double d2) {
  const double e = 1.0 - c;
  const auto [J0, J1, J2] = tail_moments(sd, T0, T1, T2);
  const double cs = std::pow(c, sd);
  const double lo = cs * std::fmax(0.0, J0 - e * J1);
  double hi = cs * J0;
  if (std::isfinite(J2)) hi = std::fmin(hi, cs * (J0 - e * J1 + 0.5 * e * e * J2));
  if (hi < lo) hi = lo;  // rounding of the anchors
  double slack = d0 + cs * e * (sd * d0 + d1);
  if (std::isfinite(J2)) slack += cs * 0.5 * e * e * (sd * (sd + 1.0) * d0 + 2.0 * sd * d1 + d2);
  return {0.5 * (lo + hi), 0.5 * (hi - lo) + slack};
}

// The same tail, sharper: the bounds over every distribution of the weights with
// those three moments (c^j = e^(-lambda j) is completely monotone in j): Jensen's
// J0 c^mu below (mu = J1 / J0), and above the distribution with its mass at j = 0
// and j = b (b = (J2 + J1) / J1, the second moment over the first), whose tail is
// J0 - P (1 - c^b), P = J1^2 / (J1 + J2) (checked against 3e5 random distributions,
// none outside). Each is evaluated at the ends of the anchors' rounding intervals
// that widen it (the lower bound grows with J0 and falls with J1; the upper grows
// with J0 and J2, both ends of J1 tried), and intersected with anchored_tail's.
// Two to three times narrower where the tail spreads over many orders (tanh at
// q ~ 10 next to c = 1). offdiagonal_series only: the diagonal series keeps its
// numbers.
inline AnchoredTail anchored_tail_sharp(double c, double sd, double T0, double T1, double T2,
                                        double d0, double d1, double d2) {
  const AnchoredTail t = anchored_tail(c, sd, T0, T1, T2, d0, d1, d2);
  if (!std::isfinite(T2)) return t;
  double lo = t.mid - t.half, hi = t.mid + t.half;
  const double cs = std::pow(c, sd), lc = std::log(c);
  const auto [J0, J1, J2] = tail_moments(sd, T0, T1, T2);
  const double e0 = d0, e1 = d1 + sd * d0, e2 = d2 + 2.0 * sd * d1 + sd * (sd + 1.0) * d0;
  const double a0 = J0 - e0;
  if (a0 > 0.0) lo = std::fmax(lo, cs * a0 * std::exp(lc * (J1 + e1) / a0));
  auto upper = [&](double j0, double j1, double j2) {
    if (!(j1 > 0.0)) return cs * j0;
    const double b = (j2 + j1) / j1, P = std::fmin(j0, j1 * j1 / (j1 + j2));
    return cs * (j0 - P * (1.0 - std::exp(lc * b)));
  };
  const double j0 = J0 + e0, j2 = J2 + e2;
  const double up = std::fmax(upper(j0, std::fmax(0.0, J1 - e1), j2),
                              std::fmax(upper(j0, J1, j2), upper(j0, J1 + e1, j2)));
  hi = std::fmin(hi, up);
  if (hi < lo) hi = lo;
  return {0.5 * (lo + hi), 0.5 * (hi - lo)};
}

// The diagonal series (x = y: one variance q) next to c = 1, where the weights
// w_m = f_m^2 are >= 0 and the truncation bounds above fail for slowly decaying
// coefficients. Every stored order m < s is summed; the tail
//   t(c) = sum_{m>=s} w_m c^m = c^s sum_{j>=0} w_{s+j} c^j
// is pinned by three anchors known from the one-point moments,
//   J0 = sum w_{s+j},  J1 = sum j w_{s+j},  J2 = sum j (j - 1) w_{s+j},
// obtained from the tails T0 = E[f^2] - sum_{m<s} w_m, T1 = f'(1) - sum_{m<s} m w_m,
// T2 = f''(1) - sum_{m<s} m (m - 1) w_m (Price's theorem: f'(1) = q E[f'^2],
// f''(1) = q^2 E[f''^2]) as J1 = T1 - s T0, J2 = T2 - 2 s T1 + s (s + 1) T0, and
// 1 - j e <= c^j <= 1 - j e + j (j - 1) e^2 / 2 (e = 1 - c):
//   c^s max(0, J0 - e J1) <= t(c) <= c^s min(J0, J0 - e J1 + e^2 J2 / 2).
// The midpoint is returned when half the width of that interval, plus what the
// rounding of the anchors (E[f^2], f'(1), f''(1) to ~1e-14) moves it, is below tol.
// For f = phi' the anchors are E[phi'^2] and f'(1) = q E[phi''^2]; with no third
// anchor (the third derivative's moment) only the first-order bound applies. The
// bound is sharp for analytic phi (tanh next to the Edge of Chaos: ~1e-15 of the
// scale for phi, ~1e-12 for phi'); for kinked phi the coefficients decay
// algebraically and it rarely applies.
inline bool diagonal_series(HermiteAt& x, int d, double c, double tol, double& out) {
  if (!(c > 0.0 && c < 1.0)) return false;
  x.complete_for(d);
  const int s = x.n - d;  // orders 0..s-1 stored
  if (s < 2) return false;
  const double f_sq = d == 0 ? x.phi_sq : x.dphi_sq;
  const double A1 = d == 0 ? x.q * x.dphi_sq : x.q * x.d2phi_sq;  // f'(1)
  const double A2 = d == 0 ? x.q * x.q * x.d2phi_sq : special::inf;
  const double T0 = d == 0 ? x.R0 : x.R1;
  const double T1 = d == 0 ? x.T1 : x.T2 / x.q;
  if (!std::isfinite(T1)) return false;
  // Rounding: T0 to 4e-15 E[f^2] (its floor), f'(1) and f''(1) to ~1e-14.
  const AnchoredTail t = anchored_tail(c, double(s), T0, T1, d == 0 ? x.T2 : special::inf,
                                       4e-15 * f_sq, 1e-14 * A1, 1e-14 * A2);
  if (!(t.half <= tol)) return false;
  out = mehler_sum(x, x, d, c, s - 1) + t.mid;
  return true;
}

// The tail beyond the n stored orders of sum_m h_m^2 |c|^m, h_m = x_m - p_m y_m
// with p_m = s sg^m (sg = sgn(c)): the coefficients of h(z) = phi(sqrt(q1) z) -
// s phi(sg sqrt(q2) z), pinned by anchored_tail_sharp from E[h^2], E[h'^2], E[h''^2]
// (one quadrature in z of three squares, each to an absolute 1e-15 of its natural
// scale, the sum of the two factors' moments: h is small where u and s v nearly
// agree, and its relative accuracy is neither reachable, the difference's rounding,
// nor needed) less the stored orders' sums; also sets *prefix = sum_{m<n} h_m^2 |c|^m
// (if given). False where phi' jumps (E[h''^2] infinite) or the quadrature falls
// short. Both expansions complete, of length n. light: the mesh is the Gaussian
// one and phi's kinks at both scales, without the activation mesh's grading (for
// variances below ~30, where phi changes on scales of 0.2 and more, and each kink
// is a breakpoint: 360 evaluations instead of 1350 for linear_region_tanh, whose
// four graded kinks made the mesh 91 points; the integrals' error estimates, 1e-19
// to 1e-14 of their scales instead of 1e-22 to 1e-17, still pin the tail far
// within a kernel's tolerance).
inline bool difference_tail(const HermiteAt& x, const HermiteAt& y, double ac, double s,
                            double sg, AnchoredTail& th, double* prefix = nullptr,
                            bool light = false, const double* given = nullptr,
                            const double* given_err = nullptr) {
  using namespace special;
  const int n = x.n;
  const double sd = double(n);
  const double* xa = x.a.data();
  const double* ya = y.a.data();
  // sum_{m<n} h_m^2, m h_m^2, m (m - 1) h_m^2 and P = sum_{m<n} h_m^2 |c|^m on the four
  // residue classes of m mod 4 (the lanes of two 2-vectors where the compiler has vector
  // extensions, as in mehler_sum: the same operations lane by lane as the scalar form),
  // each P by Horner's rule in |c|^4 from the top, joined by Horner in |c|: four
  // independent chains (one chain of 512 multiply-adds, bound by its latency, was half
  // of an ordered-phase tanh layer's time: 1000 inputs, sigma_b = 3, layer 2, 634 ->
  // 287 ms). The orders from m0 = 4 floor((n - 1) / 4) down; those past n - 1 are zeros.
  const double a2 = ac * ac, a4 = a2 * a2, sgs = s * sg;  // p_m = s sg^m
  const int top = 4 * ((n - 1) / 4);
  auto h_at = [&](int m) { return m < n ? xa[m] - ((m & 1) ? sgs : s) * ya[m] : 0.0; };
  double H0r[4], H1r[4], H2r[4], Pr[4];
#if defined(__GNUC__)
  typedef double v2 __attribute__((vector_size(16)));
  v2 h0l = {0.0, 0.0}, h0h = h0l, h1l = h0l, h1h = h0l, h2l = h0l, h2h = h0l, pl = h0l, ph = h0l;
  v2 ml = {double(top), double(top + 1)}, mh = {double(top + 2), double(top + 3)};
  const v2 four = {4.0, 4.0}, one = {1.0, 1.0}, c4 = {a4, a4}, sl = {s, sgs};
  {  // the top block: orders past n - 1 as zeros
    const v2 hl = {h_at(top), h_at(top + 1)}, hh = {h_at(top + 2), h_at(top + 3)};
    const v2 ql = hl * hl, qh = hh * hh;
    h0l = ql;
    h0h = qh;
    h1l = ml * ql;
    h1h = mh * qh;
    h2l = ml * (ml - one) * ql;
    h2h = mh * (mh - one) * qh;
    pl = ql;
    ph = qh;
  }
  for (int m0 = top - 4; m0 >= 0; m0 -= 4) {
    ml -= four;
    mh -= four;
    v2 xl, yl, xh, yh;
    __builtin_memcpy(&xl, xa + m0, sizeof xl);
    __builtin_memcpy(&yl, ya + m0, sizeof yl);
    __builtin_memcpy(&xh, xa + m0 + 2, sizeof xh);
    __builtin_memcpy(&yh, ya + m0 + 2, sizeof yh);
    const v2 hl = xl - sl * yl, hh = xh - sl * yh;
    const v2 ql = hl * hl, qh = hh * hh;
    h0l += ql;
    h0h += qh;
    h1l += ml * ql;
    h1h += mh * qh;
    h2l += ml * (ml - one) * ql;
    h2h += mh * (mh - one) * qh;
    pl = pl * c4 + ql;
    ph = ph * c4 + qh;
  }
  for (int r = 0; r < 2; ++r) {
    H0r[r] = h0l[r];
    H0r[r + 2] = h0h[r];
    H1r[r] = h1l[r];
    H1r[r + 2] = h1h[r];
    H2r[r] = h2l[r];
    H2r[r + 2] = h2h[r];
    Pr[r] = pl[r];
    Pr[r + 2] = ph[r];
  }
#else
  for (int r = 0; r < 4; ++r) {
    const double h = h_at(top + r), q2 = h * h, dm = double(top + r);
    H0r[r] = q2;
    H1r[r] = dm * q2;
    H2r[r] = dm * (dm - 1.0) * q2;
    Pr[r] = q2;
  }
  for (int m0 = top - 4; m0 >= 0; m0 -= 4)
    for (int r = 0; r < 4; ++r) {
      const int m = m0 + r;
      const double h = xa[m] - ((m & 1) ? sgs : s) * ya[m], q2 = h * h, dm = double(m);
      H0r[r] += q2;
      H1r[r] += dm * q2;
      H2r[r] += dm * (dm - 1.0) * q2;
      Pr[r] = Pr[r] * a4 + q2;
    }
#endif
  const double H0 = (H0r[0] + H0r[1]) + (H0r[2] + H0r[3]);
  const double H1 = (H1r[0] + H1r[1]) + (H1r[2] + H1r[3]);
  const double H2 = (H2r[0] + H2r[1]) + (H2r[2] + H2r[3]);
  const double P = ((Pr[3] * ac + Pr[2]) * ac + Pr[1]) * ac + Pr[0];
  if (prefix) *prefix = P;
  const Activation& a = x.act;
  const double s1 = std::sqrt(x.q), s2 = sg * std::sqrt(y.q);
  const double S[3] = {x.phi_sq + y.phi_sq, x.q * x.dphi_sq + y.q * y.dphi_sq,
                       x.q * x.q * x.d2phi_sq + y.q * y.q * y.d2phi_sq};
  if (!(S[0] > 0.0 && S[1] > 0.0 && S[2] > 0.0 && std::isfinite(S[2]))) return false;
  // Rounding: each integral to its error estimate; the stored orders' sums by the
  // coefficients' errors (~1e-15 sqrt(E phi^2) each), weighted by m and m (m - 1).
  auto pin = [&](const double* E, const double* err) {
    const double coef = 4e-15 * std::sqrt(E[0] * S[0]);
    th = anchored_tail_sharp(ac, sd, std::fmax(E[0] - H0, 0.0), std::fmax(E[1] - H1, 0.0),
                             std::fmax(E[2] - H2, 0.0), err[0] + coef, err[1] + sd * coef,
                             err[2] + sd * sd * coef);
    return true;
  };
  // The three integrals given (a kernel layer's, on its rule: settled_difference.hpp)
  if (given) return pin(given, given_err);
  quad::Mesh mesh;
  quad::add_gauss_mesh(mesh);
  if (light) {
    double ks[max_kinks];
    const int nk = kinks(a, ks);
    for (int i = 0; i < nk; ++i)
      for (const double sc : {s1, s2})
        if (mesh.inside(ks[i] / sc)) mesh.add(ks[i] / sc);
  } else {
    add_activation_mesh(a, 0.0, s1, mesh);
    add_activation_mesh(a, 0.0, s2, mesh);
  }
  mesh.finish();
  auto f = [&](double z, double* r) {
    const double w = npdf(z);
    const Derivs g1 = derivs(a, s1 * z), g2 = derivs(a, s2 * z);
    const double h0 = g1.f - s * g2.f, h1 = s1 * g1.d - s * s2 * g2.d,
                 h2 = x.q * g1.d2 - s * y.q * g2.d2;
    r[0] = h0 * h0 * w / S[0];
    r[1] = h1 * h1 * w / S[1];
    r[2] = h2 * h2 * w / S[2];
  };
  double E[3], err[3];
  if (!quad::integrate<3>(f, mesh, rtol_1d, 1e-15, E, err)) return false;
  for (int k = 0; k < 3; ++k) {
    E[k] *= S[k];
    err[k] *= S[k];
  }
  return pin(E, err);
}

// Off the diagonal (q1 != q2, or c < 0), 0 < |c| < 1, f = phi, where the truncation
// bounds fail (next to |c| = 1 at moderate q: a deep kernel's pairs in the ordered
// phase). With e_m = sgn(c)^m y_m (the expansion of phi(sgn(c) sqrt(q2) z)), a sign
// s = +-1 and h_m = x_m - s e_m (the expansion of h(z) = phi(sqrt(q1) z) -
// s phi(sgn(c) sqrt(q2) z)),
//   x_m y_m c^m = x_m e_m |c|^m,   x_m e_m = s (x_m^2 + e_m^2) / 2 - s h_m^2 / 2,
// so the tail beyond the n stored orders is s (t_x + t_y - t_h) / 2, three tails of
// nonnegative weights, each pinned by its anchors (anchored_tail_sharp): t_x and t_y by the
// one-point moments, as on the diagonal; t_h by E[h^2], E[h'^2] and E[h''^2]
// (difference_tail). s is the sign of the stored orders' sum at c = 1, which makes h the
// small difference of the two (u and s v nearly equal). Needs phi' continuous (a
// finite E[phi''^2]) and both expansions complete, of the same length; sharp for
// analytic phi at moderate q (tanh: q up to ~10), like the diagonal's.
inline bool offdiagonal_series(HermiteAt& x, HermiteAt& y, double c, double tol, double& out) {
  const double ac = std::fabs(c);
  if (!(ac > 0.0 && ac < 1.0) || !x.ok() || !y.ok()) return false;
  x.complete0();
  y.complete0();
  const int n = x.n;
  if (y.n != n || n < 2 || !std::isfinite(x.T2) || !std::isfinite(y.T2)) return false;
  const double sd = double(n);
  auto own = [&](const HermiteAt& z) {
    return anchored_tail_sharp(ac, sd, z.R0, z.T1, z.T2, 4e-15 * z.phi_sq,
                               1e-14 * z.q * z.dphi_sq, 1e-14 * z.q * z.q * z.d2phi_sq);
  };
  const AnchoredTail tx = own(x), ty = own(y);
  if (!(0.5 * (tx.half + ty.half) <= tol)) return false;  // before the quadrature
  const double* xa = x.a.data();
  const double* ya = y.a.data();
  const double sg = c < 0.0 ? -1.0 : 1.0;
  double at_one = 0.0;  // sum_{m<n} x_m e_m
  {
    double p = 1.0;
    for (int m = 0; m < n; ++m, p *= sg) at_one += xa[m] * (p * ya[m]);
  }
  const double s = at_one < 0.0 ? -1.0 : 1.0;
  // On the diagonal (c > 0: diagonal_series failed, the sharper bounds may not) h = 0.
  if (x.q == y.q && c > 0.0 && s > 0.0) {
    out = mehler_sum(x, y, 0, c, n - 1) + 0.5 * (tx.mid + ty.mid);
    return true;
  }
  // h's anchors on the light mesh first (the Gaussian's and the kinks at both scales:
  // ~360 evaluations where the activation's graded mesh took ~1350 for
  // linear_region_tanh; near-diagonal pairs, phi, one thread: linear_region_tanh 3.7e4
  // -> 6.2e4 a second, tanh and silu +20-40 %, the same values there); where their error
  // estimates leave the pin too wide, on the full mesh.
  AnchoredTail th;
  const double pinned = 0.5 * (tx.half + ty.half);
  if (!(difference_tail(x, y, ac, s, sg, th, nullptr, true) && pinned + 0.5 * th.half <= tol)) {
    if (!difference_tail(x, y, ac, s, sg, th)) return false;
    if (!(pinned + 0.5 * th.half <= tol)) return false;
  }
  out = mehler_sum(x, y, 0, c, n - 1) + 0.5 * s * (tx.mid + ty.mid - th.mid);
  return true;
}

}  // namespace detail

// E[f(u) f(v)] (f = phi for d = 0, phi' for d = 1) by the truncated Mehler series
// of x at q1 and y at q2, when the truncation bound is below rtol
// sqrt(E f(u)^2 E f(v)^2); false otherwise.
//
// The remainder after order k is bounded by Cauchy-Schwarz in two parts: the
// orders up to n_max, whose squared masses are known (mass_above), and those
// beyond, whose masses are below R:
//   |sum_{m>k} x_m y_m c^m| <= sqrt(M_k(x) M_k(y)) |c|^(k+1) + sqrt(R(x) R(y)) |c|^(n_max+1).
//
// The bounds on the remainder after order k, tried in turn:
//  1. prefix form, from the orders evaluated so far (cheap: |c| well below 1 needs
//     a few dozen): |sum_{m>k} x_m y_m c^m| <= sqrt(P_k(x) P_k(y)) |c|^(k+1), with
//     P_k = E[f^2] - sum_{m<=k} f_m^2, known only to the rounding of E[f^2];
//  1b. for the analytic built-ins with one variance small (q <~ 1e-2 r^2), the a
//     priori bound on that variance's tail from the activation's strip of
//     analyticity (analytic_series, analytic_tail.hpp);
//  2. suffix form, after every order is evaluated: the orders up to n_max, whose
//     squared masses are summed from the top (no cancellation, mass_above), and
//     those beyond, whose masses are below R:
//     sqrt(M_k(x) M_k(y)) |c|^(k+1) + sqrt(R(x) R(y)) |c|^(n_max+1);
//  3. on the diagonal (q1 = q2) for 0 < c < 1, every stored order and the tail
//     pinned by the derivative anchors (diagonal_series);
//  4. elsewhere, for f = phi, every stored order and the tail split into three
//     tails of nonnegative weights, each pinned by its anchors (offdiagonal_series).
// With predict (a random pair's fresh expansions, evaluated only as far as needed),
// where series_predicted_hopeless finds the mass beyond n_max alone above the
// tolerance, 1 and 2 are skipped (they cannot certify) and so is 4 where 1 - |c| >
// 1e-4 (every order evaluated, ~5 us, to certify at most 6 of the 1800-3700 pairs
// predicted hopeless, of 8096 random pairs a kind, half next to |c| = 1).
// A complete expansion (complete_for(d)) is never modified here, so that threads can
// share it (a kernel's, complete0()).
inline bool hermite_bivariate(HermiteAt& x, HermiteAt& y, int d, double c, double rtol, double& out,
                              bool predict = false) {
  if (!x.ok() || !y.ok()) return false;
  const double ac = std::fabs(c);
  if (!(ac < 1.0)) return false;
  const int len = std::min(x.n, y.n) - d;  // orders stored in both: 0..len-1
  const double scale = d == 0 ? std::sqrt(x.phi_sq * y.phi_sq) : std::sqrt(x.dphi_sq * y.dphi_sq);
  const double tol = rtol * scale;
  // phi''s coefficients b_n = sqrt(n + 1) a_(n+1) / sqrt(q) from the table carry its
  // rounding (~1e-16 sqrt(E[phi^2])) times 1 / sqrt(q): relative to sqrt(E[phi'^2]),
  // 1e-16 sqrt(E[phi^2] / (q E[phi'^2])), above 1e-13 for q below ~1e-6
  // E[phi^2] / E[phi'^2] (sigmoid', softplus': 8e-11 at q = 1e-11). There, for the
  // analytic kinds, the series on the quadrature's coefficients goes first (and, where
  // it declines, is not tried again after the prefix bound).
  const HermiteAt& small = x.q <= y.q ? x : y;
  const bool analytic_first = d == 1 && small.q < 1e-6 * small.phi_sq / small.dphi_sq;
  if (analytic_first && detail::analytic_series(x, y, d, c, tol, out)) return true;
  const bool exact_hopeless = detail::series_hopeless(x, y, d, ac, tol);
  // (predicted from the table alone, never from exact_hopeless, which depends on what
  // was evaluated before: the path below must not)
  const bool predicted = predict && detail::series_predicted_hopeless(x, y, d, ac, rtol);
  const bool hopeless = exact_hopeless || predicted;
  // 1. Prefix bound, block by block; 1b. a priori bound; 2. suffix bound; 3., 4. anchors.
  int k = hopeless ? -1 : detail::prefix_truncation(x, y, d, ac, len, tol);
  if (k < 0 && !analytic_first && detail::analytic_series(x, y, d, c, tol, out)) return true;
  if (k < 0 && !hopeless) k = detail::suffix_truncation(x, y, d, ac, len, tol);
  if (k < 0 && (&x == &y || x.q == y.q) && c > 0.0)
    return detail::diagonal_series(x, d, c, tol, out) ||
           (d == 0 && detail::offdiagonal_series(x, y, c, tol, out));
  // (a fresh pair predicted hopeless with 1 - |c| > 1e-4: not the anchors, which
  // evaluate every order, ~5 us, and there seldom certify)
  if (k < 0 && d == 0 && !(predicted && 1.0 - ac > 1e-4))
    return detail::offdiagonal_series(x, y, c, tol, out);
  if (k < 0) return false;
  out = detail::mehler_sum(x, y, d, c, k);
  return true;
}

// A kernel layer's pairs (f = phi). Most end their series within 64 orders (a deep
// tanh kernel: 16 or 32 on average; 128 for the kinked kinds, fast_blocks); those
// are taken eight at a time, rows of a group side by side (kernel_series_columns),
// each lane summing its own terms from its own order k, which a pair taken alone
// (kernel_series_record_pair) repeats bitwise: an entry does not depend on which
// pairs share its group, so a kernel is the same at any thread count and block
// split, and the kernel of permuted inputs is the permuted kernel. Pair by pair
// (mehler_sum after hermite_bivariate's tests), the series' varying length cost a
// mispredicted loop exit every pair and each input's expansion was read field by
// field from a 1.5 kB struct: tanh, 1000 inputs, one thread, 47 -> 22 ns a pair.
namespace detail {

// The pairs taken eight at a time (kernel_series_columns) are those whose series ends
// within the first nb blocks of 16 terms: nb = 4 for an activation smooth
// everywhere, whose coefficients decay geometrically (a deep tanh kernel's pairs
// need 16 or 32 orders), nb = 8 for one with a kink in phi, phi' or phi'' (elu,
// softsign, the piecewise linear kinds), whose coefficients decay algebraically (a
// deep elu kernel's pairs: 32 to 127). 8 everywhere cost tanh 15 %; 4 everywhere
// sent elu's longer pairs, and with them every input's complete expansion, the long
// way. A term is an order (S = 1), or for an odd activation an odd order (S = 2:
// its even orders vanish), so that the lanes reach order 16 S nb - 1 (series_stride):
// 127 for tanh, 255 for softsign (whose deep layers at sigma_w = 1.3, sigma_b = 0.2,
// c up to 0.99, need 150-250 orders: 1000 inputs, one thread, 47 -> 17 ms a layer).
// Not for the odd kinds with kinks off 0 (hard_tanh, soft_threshold,
// linear_region_tanh): 4 blocks of odd orders, 127 as before. Their pairs past that
// order are few, but enough to run a column's eight lanes to the longest of them:
// 8 blocks took 9.6-12.5 ms a layer of 1000 inputs against 6.1-7.4 with 4, and
// their inputs' records twice the orders.
// Where the records can be extended (extendable_records, below: the smooth kinds,
// softsign and selu), a layer's records start at 4 blocks (lane_blocks) and an input's
// is extended to 8 where a pair needs them; elsewhere they hold fast_blocks' from the
// start.
// An input's record (kernel_series_record): a head of kHead doubles, then the terms.
inline constexpr int kMaxFastBlocks = 8;
inline constexpr int kHead = 16;
inline constexpr int kRec = kHead + 16 * kMaxFastBlocks;

inline int fast_blocks(const Activation& a) {
  double xs[max_kinks];
  const int n = kinks(a, xs);
  if (n == 0 || (odd_builtin(a) && xs[n - 1] > 0.0)) return 4;
  return 8;
}

// The orders a lane's term steps over: 2 for an odd built-in (the odd orders alone,
// term i of order 2 i + 1: twice the reach for the same work; a deep softsign
// kernel's pairs at c ~ 0.95 need 150-250 orders), else 1.
inline int series_stride(const Activation& a) { return odd_builtin(a) ? 2 : 1; }

// The first of the nb blocks whose bound (bx[b] by[b]) |c|^(16 S (b + 1)) is within
// tol (bx, by: the prefix bounds at the blocks' last orders, B0 or a record's head):
// its last term 16 b + 15, else -1. The test of kernel_series_columns's lanes (the
// same products and comparisons).
inline int series_block_order(const double* bx, const double* by, double ac, double tol, int nb,
                              int S = 1) {
  const double a2 = ac * ac, a4 = a2 * a2, a8 = a4 * a4, a16 = a8 * a8;
  const double step = S == 1 ? a16 : a16 * a16;
  double cp = 1.0;
  for (int b = 0; b < nb; ++b) {
    cp *= step;
    if ((bx[b] * by[b]) * cp <= tol) return 16 * b + 15;
  }
  return -1;
}

// The truncation order of the series of x and y at c by the prefix bound (d = 0),
// -1 where it certifies none (the caller then goes on to bivariate_dispatch, whose
// hermite_bivariate tries the same bound again and then the others): the first nb
// blocks of 16 orders, then hermite_bivariate's hopeless test and the prefix bound
// block by block. Both expansions complete (a kernel's pair that its lanes did not
// certify).
inline int kernel_series_order(HermiteAt& x, HermiteAt& y, double c, double rtol, int nb) {
  if (!x.ok() || !y.ok() || !x.full0 || !y.full0) return -1;
  const double ac = std::fabs(c);
  if (!(ac < 1.0)) return -1;
  const int len = std::min(x.n, y.n);
  const double tol = rtol * std::sqrt(x.phi_sq * y.phi_sq);
  if (len >= 16 * nb) {
    const int k = series_block_order(x.B0, y.B0, ac, tol, nb);
    if (k >= 0) return k;
  }
  return series_hopeless(x, y, 0, ac, tol) ? -1 : prefix_truncation(x, y, 0, ac, len, tol);
}

// sum_{i <= top} xt_i yt_i z^i (times c for S = 2), z = c^S, as a lane of
// kernel_series_columns sums it: Horner's rule in z^4 on the four residue classes of
// i from the top (top + 1 a multiple of 4), each chain starting at +0, joined by
// Horner in z, s0 + z (s1 + z (s2 + z s3)) (mehler_chains' order of operations).
inline double series_sum_lanes(const double* xt, const double* yt, double c, int top, int S) {
  const double z = S == 1 ? c : c * c, z2 = z * z, z4 = z2 * z2;
  double s[4] = {0.0, 0.0, 0.0, 0.0};
  for (int i = top; i >= 0; --i) s[i & 3] = s[i & 3] * z4 + xt[i] * yt[i];
  const double v = s[0] + z * (s[1] + z * (s[2] + z * s[3]));
  return S == 1 ? v : v * c;
}

// A kernel layer's inputs in a compact form for the pairs whose series ends within
// the first nb blocks (term i < 16 nb): a record of kRec doubles an input, the head
// {sqrt(q), sqrt(E[phi^2]), bounds[0..7], usable(4), usable(8), 0...} and the terms
// 0..16 nb - 1 (term i the coefficient of order S i + S - 1; those after, never read,
// are left as they are);
// bounds[b] = B0 at block b's last order 16 S (b + 1) - 1 (usable(w) = 1: an expansion
// with at least 16 S w orders, evaluated that far, whose blocks b < w are set; else 0
// and zeros), at the head's field record_usable(w). A record of 4 blocks
// (lane_blocks 4) can be extended to 8 later (kernel_series_record_extend: blocks 4..7
// and usable(8), fields that the lanes of 4 blocks never read). Records of
// consecutive inputs lie side by side: a kernel's column walk streams through them
// instead of chasing each expansion's fields and vectors. (An expansion evaluated to
// 16 S nb orders and a complete one give the same record.) The square roots are
// taken once an input: a pair's c = K_ij / (sqrt(q_i) sqrt(q_j)) and tolerance
// rtol sqrt(E[phi(u)^2]) sqrt(E[phi(v)^2]) then cost a division and two products
// (their square roots were a third of a column's tests).
inline constexpr int record_usable(int nb) {
  return nb > 4 ? 3 + kMaxFastBlocks : 2 + kMaxFastBlocks;
}
static_assert(record_usable(kMaxFastBlocks) < kHead, "a record's head holds its fields");

// Blocks [b0, nb) of h's record r (the head's bounds, usable(nb) and, for b0 = 0,
// usable(4) where nb = 8, and the terms) from an expansion evaluated that far.
inline void kernel_series_record_blocks(const HermiteAt& h, int b0, int nb, int S, double* r) {
  auto usable = [&](int w) { return h.ok() && h.n >= 16 * w * S && h.done >= 16 * w * S; };
  const bool use = usable(nb);
  for (int b = b0; b < nb; ++b) r[2 + b] = use ? h.B0[S * (b + 1) - 1] : 0.0;
  for (int i = 16 * b0; i < 16 * nb; ++i) r[kHead + i] = use ? h.a[S * i + S - 1] : 0.0;
  if (b0 == 0 && nb > 4) r[record_usable(4)] = usable(4) ? 1.0 : 0.0;
  r[record_usable(nb)] = use ? 1.0 : 0.0;
}

inline void kernel_series_record(const HermiteAt& h, double q, int nb, int S, double* r) {
  r[0] = std::sqrt(q);
  r[1] = std::sqrt(h.phi_sq);
  for (int f = 2; f < kHead; ++f) r[f] = 0.0;
  kernel_series_record_blocks(h, 0, nb, S, r);
}

// The blocks a layer's record of h is built with (kernel_expansions): nb, or, where
// records are extended (ext) and h is already evaluated that far, all 8 (such an input
// counts as extended from the start: kernel_layer_tiles' state 3).
inline int kernel_record_blocks(bool ext, const HermiteAt& h, int nb, int S) {
  return ext && h.done >= 16 * kMaxFastBlocks * S ? kMaxFastBlocks : nb;
}

// A record of 4 blocks extended to 8 (h evaluated to 128 S orders, or as far as it
// goes): blocks 4..7 and usable(8) alone, so that a thread reading the first four
// blocks meanwhile reads nothing written here.
inline void kernel_series_record_extend(const HermiteAt& h, int S, double* r) {
  kernel_series_record_blocks(h, 4, kMaxFastBlocks, S, r);
}

// Kinds whose kernel records start at 4 blocks and are extended to 8 where a pair needs
// them (grid.hpp, kernel_layer_tiles): the smooth ones (tanh, sigmoid, softplus,
// shifted_softplus, silu), and softsign and selu (below). A deep ordered-phase kernel's pairs come
// so close to c = 1 that the series ends where the coefficients fall below the tolerance, past 4
// blocks for softplus at q ~ 3-4 (67 orders): every pair of such a layer had taken the long way
// (complete expansions, mehler_sum after the prefix bound), 0.5 ms a layer of 100 inputs where 8
// blocks take 0.12; while 8 blocks from the start cost the layers whose pairs end within 4 (most
// layers of most kernels) 30-50 %.
inline bool extendable_records(const Activation& a) {
  double xs[max_kinks];
  const int n = kinks(a, xs);
  if (fast_blocks(a) == 4) return n == 0;
  // Of the kinds with 8 blocks, softsign and selu: measured on one thread, 100 inputs,
  // sigma_w = 1.3, sigma_b = 0.2, layers 2-30, against 8 blocks from the start: softsign's
  // layers 2-8 25-30 % faster (their expansions evaluated to 64 odd orders where 128 had
  // been), 9-10 4-5 % slower, the deep ones unchanged; selu's 2-5 3-7 % slower, 9-30
  // 5-20 % faster; elu's (alpha = 1) 3-7 % slower throughout: not elu. Not the
  // thresholds, whose columns take their own forms around the lanes.
  return a.kind == Kind::softsign || a.kind == Kind::selu;
}

// The blocks of a kernel layer's records as its expansions are first evaluated: 4 where
// they can be extended, else fast_blocks.
inline int lane_blocks(const Activation& a) { return extendable_records(a) ? 4 : fast_blocks(a); }

// One pair as a lane of kernel_series_columns takes it, from the two inputs' records
// (X, Y) and K_ij: where the first nb blocks certify a term (the same operations:
// c = K_ij / (sqrt(q_i) sqrt(q_j)), tol, the products), returns its order k and sets
// out to the series summed as the lane sums it (series_sum_lanes: bitwise); else -1.
// Reads the records only, which completing an expansion does not change: a kernel's
// pair taken one at a time gets the value a lane would have given it, without
// completing the expansions, before the forms that come after the lanes (grid.hpp,
// kernel_layer_tiles).
inline int kernel_series_record_pair(const double* X, const double* Y, double kij, int nb, int S,
                                     double rtol, double& out) {
  const double den = X[0] * Y[0];
  const double c = den > 0.0 ? kij / den : 0.0, ac = std::fabs(c);
  const int u = record_usable(nb);
  if (!(X[u] * Y[u] != 0.0) || !(ac < 1.0)) return -1;
  const int t = series_block_order(X + 2, Y + 2, ac, rtol * (X[1] * Y[1]), nb, S);
  if (t < 0) return -1;
  out = series_sum_lanes(X + kHead, Y + kHead, c, t, S);
  return S * t + S - 1;
}

// Eight pairs (rows l = 0..7 of a group, one column y) at once: the rows' record
// heads are G[8 f + l] for field f = 0..15 and their terms T[8 i + l]; y's record
// Y; Kij[l stride] the rows' covariances with y. Where the first NB blocks certify a
// term t (as kernel_series_record_pair: c = K_ij / (sqrt(q_i) sqrt(q_j)), tol, the
// products of series_block_order), k[l] = its order S t + S - 1 and out[l] =
// series_sum_lanes of the pair (bitwise: each chain from term t, starting at +0, the
// lane's terms above its t masked to +0, and +0 z^4 + u = u); elsewhere k[l] = -1
// where the blocks' bounds fail, -2 where the lane cannot serve at all (|c| >= 1, or
// a record without NB blocks) (the caller takes the pair the long way: a longer
// series, or the dispatch; out[l] is then meaningless). Returns whether any lane is
// at -1 (of the eight, whether the caller reads them all or not).
// NC such columns y_c at once (records Y[c], covariances Kij[c], outputs out[c],
// k[c]), each lane the same operations as alone, the same numbers: first every
// column's setup (the division for c, the powers of |c| and the block tests, a chain
// of ~100 cycles each), side by side, then each column's sums. A column of a kernel
// layer's lanes sums 17-50 terms on average, so that its setup's latency was most of
// its time: two columns at once took 8-15 % less of a layer's tiles on one thread
// (selu, softsign, tanh, hard_tanh, 100 inputs; three or four at once no more), 3-8 %
// of the whole kernel of the series kinds; on two threads that share a core, where the
// other thread's work fills those latencies, no change.
template <int NB, int S, int NC>
SIGPROP_VECTOR_CLONES inline bool kernel_series_columns(const double* G, const double* T,
                                                        const double* const* Y,
                                                        const double* const* Kij,
                                                        std::ptrdiff_t stride, double rtol,
                                                        double* const* out, double* const* k) {
  // The block tests hold from the first that holds on (the bounds do not increase
  // with the block, nor do the powers of |c| <= 1), so the first block that ends the
  // series is NB less the number n that hold: t = 16 (NB - n) + 15.
  constexpr int nb = NB;
#if defined(__GNUC__)
  // Four-lane vectors (two AVX registers for the eight lanes, or two pairs of SSE2
  // registers in the baseline), the sums in four chains a vector (the residue
  // classes of the term mod 4), eight in all: they keep the multiplies and adds busy
  // where two chains of four two-lane vectors waited on their latency (and, with
  // terms of one parity for the odd kinds, a column of softsign or tanh sums half the
  // orders). K_ij of four rows go straight into a vector: assembled through memory,
  // vectors stalled store forwarding.
  // (Rows' fields and terms read as four-lane vectors of an unaligned type, scalars
  // broadcast by the vector extension's mixed operations: no helper returns a 32-byte
  // vector, which GCC flags in the baseline clone as an ABI change.)
  typedef double v4 __attribute__((vector_size(32)));
  typedef double v4u __attribute__((vector_size(32), aligned(8), may_alias));
  typedef long long v4i __attribute__((vector_size(32)));
  const v4u* Gv = reinterpret_cast<const v4u*>(G);  // field f, lanes 4 g..4 g + 3: Gv[2 f + g]
  const v4u* Tv = reinterpret_cast<const v4u*>(T);  // term n: Tv[2 n + g]
  const v4 zero = {}, one = zero + 1.0, none = zero - 1.0, none2 = zero - 2.0;
  constexpr long long abs_bits = 0x7fffffffffffffffLL;
  const v4i absmask = {abs_bits, abs_bits, abs_bits, abs_bits};
  v4 t4[NC][2], c4[NC][2];
  v4i failed = {};
  for (int ci = 0; ci < NC; ++ci) {
    const double* y = Y[ci];
    const double* bj = y + 2;
    for (int g = 0; g < 2; ++g) {
      const int o = 4 * g;
      const v4 den = Gv[g] * y[0];
      const v4i pos = den > zero;
      const double* kc = Kij[ci];
      const v4 kij = {kc[o * stride], kc[(o + 1) * stride], kc[(o + 2) * stride],
                      kc[(o + 3) * stride]};
      const v4 c = pos ? kij / (pos ? den : one) : zero;
      const v4 ac = (v4)((v4i)c & absmask);
      const v4 tol = rtol * (Gv[2 + g] * y[1]);
      const v4 a2 = ac * ac, a4 = a2 * a2, a8 = a4 * a4, a16 = a8 * a8;
      const v4 step = S == 1 ? a16 : a16 * a16;
      v4 cp = one, n_hold = zero;
      for (int b = 0; b < nb; ++b) {
        cp = cp * step;
        n_hold += ((Gv[2 * (2 + b) + g] * bj[b]) * cp <= tol) ? one : zero;
      }
      constexpr int u = record_usable(NB);
      const v4i able = (Gv[2 * u + g] * y[u] != zero) & (ac < one);
      const v4i fast = able & (n_hold > zero);
      t4[ci][g] = fast ? (16.0 * nb + 15.0) - 16.0 * n_hold : (able ? none : none2);
      failed |= able & ~fast;
      c4[ci][g] = fast ? c : zero;
    }
  }
  for (int ci = 0; ci < NC; ++ci) {
    const double* ya = Y[ci] + kHead;
    // The blocks to sum: up to the lanes' highest t; those up to the least t of the
    // certified lanes without masks (the other lanes' sums are not read)
    double tmax = -1.0, tmin = 16.0 * nb;
    for (int g = 0; g < 2; ++g)
      for (int i = 0; i < 4; ++i) {
        const double t = t4[ci][g][i];
        tmax = t > tmax ? t : tmax;
        tmin = t >= 0.0 && t < tmin ? t : tmin;
      }
    v4 z[2], zz[2], s[2][4];
    for (int g = 0; g < 2; ++g) {
      z[g] = S == 1 ? c4[ci][g] : c4[ci][g] * c4[ci][g];
      const v4 z2 = z[g] * z[g];
      zz[g] = z2 * z2;
      for (int r = 0; r < 4; ++r) s[g][r] = zero;
    }
    const int bmin = (int(tmin) + 1) / 16 - 1;  // (every certified lane takes blocks <= bmin)
    for (int b = (int(tmax) + 1) / 16 - 1; b >= 0; --b) {
      const double top = 16 * b + 15;
      v4i mask[2];
      for (int g = 0; g < 2; ++g) mask[g] = b > bmin ? (v4i)(t4[ci][g] >= top) : ~v4i{};
      for (int i = 16 * b + 12; i >= 16 * b; i -= 4)
        for (int r = 3; r >= 0; --r) {
          const double y = ya[i + r];
          for (int g = 0; g < 2; ++g)
            s[g][r] = s[g][r] * zz[g] + (v4)((v4i)(Tv[2 * (i + r) + g] * y) & mask[g]);
        }
    }
    // (k as doubles: a vector store read back as scalars forwards)
    for (int g = 0; g < 2; ++g) {
      v4 r = s[g][0] + z[g] * (s[g][1] + z[g] * (s[g][2] + z[g] * s[g][3]));
      if (S == 2) r = r * c4[ci][g];
      const v4 t = t4[ci][g];
      const v4 kk = S == 1 ? t : (t >= zero ? 2.0 * t + 1.0 : t);
      __builtin_memcpy(out[ci] + 4 * g, &r, sizeof r);
      __builtin_memcpy(k[ci] + 4 * g, &kk, sizeof kk);
    }
  }
  return (failed[0] | failed[1] | failed[2] | failed[3]) != 0;
#else
  bool failed = false;
  for (int ci = 0; ci < NC; ++ci) {
    const double* y = Y[ci];
    const double* bj = y + 2;
    const double* ya = y + kHead;
    for (int l = 0; l < 8; ++l) {
      const double den = G[l] * y[0];
      const double c = den > 0.0 ? Kij[ci][l * stride] / den : 0.0;
      const double ac = std::fabs(c);
      const double tol = rtol * (G[8 + l] * y[1]);
      const double a2 = ac * ac, a4 = a2 * a2, a8 = a4 * a4, a16 = a8 * a8;
      const double step = S == 1 ? a16 : a16 * a16;
      double cp = 1.0;
      int n_hold = 0;
      for (int b = 0; b < nb; ++b) {
        cp *= step;
        n_hold += int((G[8 * (2 + b) + l] * bj[b]) * cp <= tol);
      }
      constexpr int u = record_usable(NB);
      const bool able = G[8 * u + l] * y[u] != 0.0 && ac < 1.0, fast = able && n_hold > 0;
      failed = failed || (able && !fast);
      const int t = fast ? 16 * nb + 15 - 16 * n_hold : -1;
      k[ci][l] = fast ? S * t + S - 1 : (able ? -1 : -2);
      double xt[16 * NB];
      for (int i = 0; i <= t; ++i) xt[i] = T[8 * i + l];
      out[ci][l] = fast ? series_sum_lanes(xt, ya, c, t, S) : 0.0;
    }
  }
  return failed;
#endif
}

}  // namespace detail

}  // namespace sigprop
