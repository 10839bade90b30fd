// A kernel layer's pairs next to c = 1 at variances past the near-diagonal table
// (near_diagonal_table.hpp): an ordered-phase kernel at sigma_b >~ 6, where tanh,
// sigmoid, softsign and linear_region_tanh settle at q* > 10^1.5 (the top of their
// table) and silu, softplus and shifted_softplus past 10^2.5 (or 10^1.5 in layers of
// fewer than 256 inputs). There the Mehler series reaches no order from c ~ 0.97 on,
// the settled-difference form (settled_difference.hpp) has no diagonal to read, and
// each pair took the dispatch's quadrature, 0.1-0.5 ms: 100 inputs at sigma_b = 12,
// depth 10, took 8.4 s for linear_region_tanh, 800 inputs 357 s. elu and selu too,
// at any q >= 1 (the ordered phase from sigma_b ~ 1 on), whose layers' pairs there
// took their closed forms, 2-5 us each, while the variances settle slowly (selu at
// sigma_b = 12: 1000 inputs, depth 10, 15.6 s).
//
// In such a layer every input's variance lies in a narrow range [q_a, q_b] (13 % wide
// after the first layer of inputs of unequal norms, 1e-4 after the second, then one
// value to the last bit; up to a factor e^1.99 is served) and the pairs concerned have
// c in [1 - s_top^2, 1], s_top <= 1/2. One
// interpolant serves them all: with s = sqrt(1 - c),
//   E[phi(u) phi(v)] = F(log q1, log q2, s),
// a tensor Chebyshev interpolant of degree dq in each log q over [log q_a, log q_b]
// and deg_s in s on nseg segments of [0, s_top], built for the layer from the
// dispatch's values at its Lobatto nodes (F is symmetric in q1, q2: half of them are
// computed). F is smooth in s: for smooth phi, E is analytic in c = 1 - s^2; the
// kinks' non-analytic terms are powers of 1 - c with half-integer exponents, odd
// powers of s. In s its features have width ~1 / sqrt(q) next to 0 (the complex
// singularities of phi(sqrt(q) z) at distance ~1 / sqrt(q)) and widen with s: the
// first segment is width_x / sqrt(q_b) wide, each next one twice the last (plan()).
// In log q its Chebyshev coefficients fall as (L / 38)^n
// over a range of width L (measured: tanh, softsign, sigmoid, softplus and
// linear_region_tanh at q ~ 150, L = 0.12 and 1.6e-4), so dq is the least degree with
// (L / 20)^dq <= 1e-15.
//
// Checks before use: the last coefficient in each direction within tail_rtol of the
// scale, and the interpolant within check_rtol of the scale of the dispatch at six
// points between the nodes and one in each segment; a table that fails is not used
// (the pairs take the dispatch as before). Measured against the dispatch at random
// points of such boxes (q ~ 150 to 1e6, s_top up to 0.5): 4e-15-8.5e-14 of the
// scale; sampled pairs of
// ordered-phase kernels against nested quadrature, 3e-15-1.1e-13
// (tests/test_two_point.py, test_nngp_kernel_past_the_near_diagonal_table).
//
// Cost: a node is one dispatch at c >= 1 - s_top^2, 40-110 us (softplus, silu, tanh and
// sigmoid 10-50 us from their Fourier forms, linear_tail_pair.hpp and sign_tail_pair.hpp,
// where the linear tails' took ~350 us before; elu and selu a few us below q = 1e3, ~115
// us at 1e6); the nodes are built in parallel
// (units of one q pair and one segment, 9-33 dispatches, about half of them where
// the segment's interpolant of half the degree, on the even nodes, suffices:
// build()), only where the layer's pairs in the range are at least as many as the
// nodes. A pair is then (dq + 1)(deg_s + 1) multiply-adds against its row's
// coefficients, the interpolant summed over the row input's basis in log q once a row
// and segment (pair(): (dq + 1)^2 (deg_s + 1) a pair before, 0.1-3 us), taken before
// the inputs' expansions are completed for the series of every order (grid.hpp).
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "activation.hpp"
#include "chebyshev.hpp"
#include "moment_table.hpp"
#include "near_diagonal_table.hpp"
#include "settled_difference.hpp"
#include "special.hpp"
#include "two_point.hpp"

namespace sigprop {
namespace detail {

// The kinds a layer table serves: those of the near-diagonal table's kernel pairs, and a
// user's phi. hard_tanh's settled layers (its pairs' orthant and Price forms next to c =
// 1, 0.2-0.3 us each), one thread: 100 inputs at sigma_w = 1, sigma_b = 0.5, depth 30,
// 0.034 -> 0.019 s; 300 inputs at sigma_w = 2.5, sigma_b = 8, depth 10, 0.12 -> 0.07 s.
inline bool uses_layer_table(Kind k) {
  switch (k) {
    case Kind::tanh:
    case Kind::sigmoid:
    case Kind::softsign:
    case Kind::linear_region_tanh:
    case Kind::silu:
    case Kind::softplus:
    case Kind::shifted_softplus:
    case Kind::elu:
    case Kind::selu:
    case Kind::hard_tanh:
    case Kind::custom: return true;
    default: return false;
  }
}

// How many j in [0, n) have x[j] >= s y[j] (NaN: not counted), in a loop without
// branches, vectorised in the AVX2 clone (inside plan()'s OpenMP region the same loop
// stayed scalar, one comparison and a carry a pair)
SIGPROP_VECTOR_CLONES inline std::ptrdiff_t count_at_or_above(const double* x, const double* y,
                                                              double s, std::ptrdiff_t n) {
  std::ptrdiff_t count = 0;
  for (std::ptrdiff_t j = 0; j < n; ++j) count += x[j] >= s * y[j];
  return count;
}

class LayerTable {
 public:
  static constexpr int deg_s_max = 32;
  static constexpr int dq_max = 15;
  static constexpr double s_cap = 0.5;    // c >= 0.75
  // hard_tanh: c >= 0.91 (past it, at q ~ 0.7, its tables missed their checks: measured
  // for 1 - c up to 0.15-0.7, passed up to 0.11), where its pairs are at least
  // hard_tanh_gate times the nodes (a node, the dispatch's forms, ~2.5 us; a kernel's pair
  // there, its batch forms, 0.17-0.28 us)
  static constexpr double s_cap_hard_tanh = 0.3, hard_tanh_gate = 10.0;
  // elu and selu: inputs from q = closed_floor on; a box from below q = 4 is built where
  // its pairs at c >= elu_near are at least small_gate times its nodes (plan())
  static constexpr double closed_floor = 1e-2, small_gate = 2.0, elu_near = 0.95;
  static constexpr double width_x = 1.6;  // sqrt(q_b) x the first segment's width
  static constexpr double tail_rtol = 1e-13, check_rtol = 1e-12, half_rtol = 1e-14;
  static constexpr std::ptrdiff_t max_nodes = 40000;
  // The most memory for a layer's rows' coefficients made once (pair(); 14 MB for 1000
  // inputs over 8 segments at dq = 8, degree 24)
  static constexpr size_t store_max_bytes = size_t(32) << 20;
  // The widest range of log q served, dq <= dq_max: 20 e^(-34.6 / 15) = 1.994. (At
  // 1.5, a limit before, the layers of shifted_softplus at sigma_w = 2.5, sigma_b = 8,
  // whose variances spread over e^1.54 layer after layer, took 20-33 s each for 1000
  // inputs, 1-2 s with the table; at 1.68 (dq <= 14) linear_region_tanh's first layer
  // there, q 64-369 on inputs of unequal norms, e^1.75, took 17 s, 5-6 s with it.)
  static constexpr double span_max = 1.99;

  // Plans the table of the layer K (m x m; the difference form's inputs `diff`
  // reset for it): the inputs past the near-diagonal table (in the box), the box, s_top
  // and the degrees. Returns the number of build units (0: no table this layer).
  std::ptrdiff_t plan(const Activation& a, const double* K, std::ptrdiff_t m,
                      const DifferenceInputs& diff, int n_threads = 1) {
    ready_ = false;
    units_ = 0;
    a_ = a;
    if (!uses_layer_table(a.kind) || m < 2) return 0;
    in_.assign(size_t(m), 0);
    // (elu and selu: in the near-diagonal table's range too, where only part of their
    // pairs take the difference form and a node costs their closed forms, a few us;
    // from q = 4 on, and from closed_floor (0.01) on where the pairs at c >= elu_near
    // (0.95) are at least small_gate times the nodes (the gate below). Below q = 4 their
    // pairs next to c = 1 take the exponential's Taylor series, elu_small_variance,
    // 0.5-2.6 us: 1000 generic inputs took 0.074 s with the table from q = 1 under the
    // gate of the other kinds, 0.050 s without; but a deep ordered-phase kernel settles
    // there, every pair at 1 - c ~ 1e-5-1e-2 (elu at sigma_w = 1, sigma_b = 0.5: q* =
    // 0.75, 13 ms a layer of 100 inputs, the whole depth-30 kernel 0.26 s, 180x relu's;
    // 0.032 s with the table; at sigma_b = 1, 0.71 s and 0.048 s). Past q = 1e3 a node
    // costs about two of their pairs (the gate below): sigma_w = 2.5, sigma_b = 8, q ~
    // 1e2-1e7, depth 10, 300 inputs took 6.2 s with the table past 1e3 and 6.1 s without;
    // 1000 inputs 5.7 s with it, 86 s without)
    const bool closed = piecewise::has_closed_form(a.kind);
    // (elu and selu: below q = 4 the gate counts their pairs at c >= elu_near alone, see
    // below; hard_tanh's pairs at c >= 0.91 take its orthant and Price forms, ~0.2-0.3 us,
    // at any variance)
    const bool elu_kind = a.kind == Kind::elu || a.kind == Kind::selu;
    // (the pairs the gates below call near: c >= 0.99, for elu and selu c >= elu_near)
    const double c_near = elu_kind ? elu_near : 0.99;
    // (a user's phi, the custom kind, has no near-diagonal table: from q = 1 on; its pairs
    // next to c = 1 take ~0.1 ms at q ~ 10 and, from q ~ 14 on where the series fails,
    // the trapezoid rule (0.2-3 ms, trapezoid_pair.hpp) or, kinked, the nested
    // quadratures (4-7 ms, 10-25 ms before their panels' nodes were evaluated at once,
    // near_diagonal.hpp's integrate_pair); the gate below weighs them)
    const double floor = closed                   ? closed_floor
                         : a.kind == Kind::custom ? 1.0
                                                  : NearDiagonalTable::q_hi(),
                 top = 1e300;  // (finite)
    // The box: a range up to e^span_max wide of the inputs past the near-diagonal table (1),
    // which the difference form does not serve, and of the served ones (2) in it (from
    // served_floor up). Their pairs with the first take the dispatch, up to 1 ms each,
    // and many of theirs with each other too, where their variances are too far apart
    // for the difference form:
    //  * a layer of silu, softplus or shifted_softplus whose variances straddle the
    //    top of their table, 10^2.5 (sigma_w = 1.5, sigma_b = 8: 1000 inputs, 855
    //    served, 145 past it), took 36-44 s without the served inputs in the box, 1.1 s
    //    with them (the kernel of its 855 served inputs alone, silu: 7 s);
    //  * softsign and linear_region_tanh, whose pairs next to c = 1 take 0.15-0.6 ms
    //    outside the difference form, served below 10^1.5 as well: the first layer of
    //    1000 inputs of unequal norms at sigma_b = 5 (q 25-74, 974 below 10^1.5) took
    //    7.9 s and 7.3 s, all but 0.03 s on the pairs of the served inputs; 0.6 s and
    //    1.0 s with them (not tanh and sigmoid, whose pairs there are cheaper:
    //    sigmoid's first two layers took 0.76 s without the table, 1.05 s with it).
    // Where the inputs span more than e^span_max, the range holding the most of them (and
    // one of the first at least: softsign at sigma_b = 5, q 25-121, 31 of the first
    // above 31.6 and 969 served below, 12 s without the table, 0.5 s with it on q
    // 25-112); elu and selu (closed): their inputs from q = 4 on, none where they span
    // more.
    const double served_floor =
        a.kind == Kind::softsign || a.kind == Kind::linear_region_tanh ? 1.0 : floor;
    // No table where the inputs that could be in the box (q from the lower floor on)
    // have fewer pairs at or above the line of the pass below (c_lo - 1e-12, with the
    // same square roots) than the gate after it could accept: every table has at least
    // 9 nodes (deg_s >= 8, one segment, one q pair), and the gate asks for at least as
    // many pairs (the linear tails past q = 1e4: 100 near + 18 others >= 41 nodes, at
    // least 4; elu and selu below q = 4: small_gate times as many at c >= elu_near, counted
    // on that line). Counted first, without the logs and the sort (a selu layer of 100
    // inputs at q ~ 5, where 2-25 pairs reach c = 0.75: 6 us a layer, ~5 % of its
    // kernel, ~1 us with this count).
    const bool linear_tail =
        a.kind == Kind::silu || a.kind == Kind::softplus || a.kind == Kind::shifted_softplus;
    // s_top below: the largest s of the box's pairs with c >= 1 - s_cap^2 (and below 1)
    const double cap = a.kind == Kind::hard_tanh ? s_cap_hard_tanh : s_cap;
    const double c_lo = 1.0 - cap * cap;
    {
      const double q_min = std::fmin(floor, served_floor);
      // whether at least `least` pairs of the inputs of q in [q_from, top) reach the line
      // at c_line
      auto reach = [&](double c_line, double q_from, std::ptrdiff_t least) {
        line_.resize(size_t(m));
        for (std::ptrdiff_t i = 0; i < m; ++i) {
          const double q = K[i * m + i];
          line_[size_t(i)] = q >= q_from && q < top ? std::sqrt(q) : special::inf;
        }
        const double* line = line_.data();
        std::ptrdiff_t count = 0;
        for (std::ptrdiff_t i = 0; i < m && count < least; ++i)
          if (line[i] < special::inf)
            count +=
                count_at_or_above(K + i * m + i + 1, line + i + 1, c_line * line[i], m - i - 1);
        return count >= least;
      };
      const double c_line = c_lo - 1e-12;
      // (elu and selu: a box from below q = 4 asks for small_gate times the nodes at c >=
      // elu_near, one wholly above it for the nodes at c >= 0.75, the gate's two cases)
      const bool possible =
          elu_kind ? reach(c_near - 1e-12, q_min, std::ptrdiff_t(std::ceil(small_gate * 9))) ||
                         reach(c_line, std::fmax(q_min, 4.0), 9)
                   : reach(c_line, q_min, linear_tail ? 4 : 9);
      if (!possible) return 0;
    }
    // Each input's class (1 or 2, 0 neither), in order of log q
    struct Candidate {
      double lq;
      std::ptrdiff_t i;
      char cls;
      bool operator<(const Candidate& o) const { return lq < o.lq || (lq == o.lq && i < o.i); }
    };
    std::vector<Candidate> cand;
    double pa = special::inf, pb = -special::inf;  // the first's range
    double ca = special::inf, cb = -special::inf;  // every candidate's
    for (std::ptrdiff_t i = 0; i < m; ++i) {
      const double q = K[i * m + i];
      if (!(q >= std::fmin(floor, served_floor) && q < top)) continue;
      const bool past = q >= floor && (closed || !diff.served(q));
      if (!past && !(q >= served_floor)) continue;
      const double lq = std::log(q);
      cand.push_back({lq, i, char(past ? 1 : 2)});
      ca = std::fmin(ca, lq);
      cb = std::fmax(cb, lq);
      if (past) {
        pa = std::fmin(pa, lq);
        pb = std::fmax(pb, lq);
      }
    }
    // (no table where the first span more than e^span_max: layers whose variances spread
    // widely, sigma_w = 2.5 at sigma_b = 3, where their pairs are far from c = 1 and
    // cheap: shifted_softplus, 300 inputs, 2.7 s without a table, 7.6 s with a table
    // for their densest range)
    // (softsign and linear_region_tanh: where no input is past the near-diagonal table,
    // the served inputs alone, where they spread over more than 1 % and their pairs at
    // c >= 0.99 are at least 10x the nodes (the gate below): the first layer at sigma_w
    // = 0.5, sigma_b = 3, q 9-21, took 7.7 s for 1000 inputs of softsign, its 5.5e4
    // pairs at c >= 0.99 at ~0.16 ms each (linear_region_tanh ~0.5 ms), 0.3 s with the
    // table; linear_region_tanh's second layer there, q 9.62-9.75, 4.7e5 such pairs, 1.07
    // s without it, 0.14 s with it. Where the variances are closer those pairs are
    // cheaper (linear_region_tanh's second layer at sigma_w = 1, sigma_b = 3, 300 inputs,
    // q 11.5-12.3, 2.7e3 such pairs: 0.03 s without the table, 0.11 s with it).)
    const bool served_only = served_floor < floor && !(pa <= pb) && cb - ca > 0.01;
    if (!served_only && !(pb - pa <= span_max)) return 0;
    std::sort(cand.begin(), cand.end());
    // the window [b_lo, b_hi] of cand: it holds every input of log q in [la, lb] (ties
    // at either end included: a window grows over them, and drops none before them)
    std::ptrdiff_t best = 0, b_lo = 0, b_hi = -1, past_in = 0;
    const std::ptrdiff_t nc = std::ptrdiff_t(cand.size());
    for (std::ptrdiff_t lo = 0, hi = 0; hi < nc; ++hi) {
      past_in += cand[size_t(hi)].cls == 1;
      while (cand[size_t(hi)].lq - cand[size_t(lo)].lq > span_max)
        past_in -= cand[size_t(lo++)].cls == 1;
      if ((past_in > 0 || served_only) && hi - lo + 1 > best) {
        best = hi - lo + 1;
        b_lo = lo;
        b_hi = hi;
      }
    }
    if (best == 0) return 0;
    if (closed && best < nc) return 0;
    const double la = cand[size_t(b_lo)].lq, lb = cand[size_t(b_hi)].lq;
    double sa = special::inf, sb = -special::inf;  // the served inputs' range
    for (std::ptrdiff_t k = b_lo; k <= b_hi; ++k) {
      const Candidate& e = cand[size_t(k)];
      in_[size_t(e.i)] = e.cls;
      if (e.cls == 2) {
        sa = std::fmin(sa, e.lq);
        sb = std::fmax(sb, e.lq);
      }
    }
    // The table is built only where the pairs with an input of the first kind (and
    // for softsign and linear_region_tanh those of the served inputs with each other
    // at c >= 0.99, where these are more than 1 % apart, not yet settled: their
    // pairs there take 0.15-0.6 ms, at c <= 0.95 ~20 us) are at least as many as its
    // nodes. The layer of silu before the straddling one, 2 of its 1000 inputs past
    // 10^2.5, took 0.64 s without the table, 1.2 s with it; the first layer of
    // linear_region_tanh at sigma_b = 3 (1000 inputs, q 9-58; 1.5e3 served pairs at c
    // >= 0.99, 1.2e4 at 0.98) 0.92 s without, 0.87 s with it, and the next layer 0.4 s
    // more (the near-diagonal table's segments, which the dispatch's pairs had built).
    const bool served_pairs = served_floor < floor && sb - sa > 0.01;
    // `pairs` counts the box's pairs at c >= c_lo (and below 1)
    double e_top = 0.0, e_bot = special::inf;
    std::ptrdiff_t pairs = 0, near = 0;  // near: of those, at c >= c_near
    // (a pass over the box's pairs, ~5 ns each, in parallel: a count, a max and a min,
    // the same whatever the threads; serial, it was ~15 % of linear_region_tanh's kernel
    // of 1000 inputs at sigma_w = 1.3, sigma_b = 0.2, whose layers plan no table)
    // A pair whose K_ij lies below (c_lo - 1e-12) sqrt(q_i) sqrt(q_j) has c < c_lo
    // however the quotient rounds: it is passed over without its division and square
    // root (most of a layer's pairs, ~1 ns each; the same counts and bounds: 13 % of a
    // selu layer of 1000 inputs at q ~ 6, c <= 0.5, where no table is planned).
    // A row with no such pair at all is passed over after a count of its pairs at or
    // above that line (count_at_or_above; an input outside the box at +inf there, whose
    // pairs only an infinite K_ij reaches).
    const char* in = in_.data();
    root_.resize(size_t(m));
    line_.resize(size_t(m));
    for (std::ptrdiff_t i = 0; i < m; ++i) {
      root_[size_t(i)] = in[i] ? std::sqrt(K[i * m + i]) : 0.0;
      line_[size_t(i)] = in[i] ? root_[size_t(i)] : special::inf;
    }
    const double* root = root_.data();
    const double* line = line_.data();
#pragma omp parallel for num_threads(n_threads < 1 ? 1 : n_threads) schedule(dynamic, 16) \
    reduction(+ : pairs, near) reduction(max : e_top) reduction(min : e_bot)
    for (std::ptrdiff_t i = 0; i < m; ++i) {
      if (!in[i]) continue;
      const double qi = K[i * m + i], below = (c_lo - 1e-12) * root[i];
      const double* Ki = K + i * m;
      if (count_at_or_above(Ki + i + 1, line + i + 1, below, m - i - 1) == 0) continue;
      for (std::ptrdiff_t j = i + 1; j < m; ++j) {
        if (!in[j] || K[i * m + j] < below * root[j]) continue;
        const double c = K[i * m + j] / std::sqrt(qi * K[j * m + j]);
        if (c >= c_lo && c < 1.0) {
          const bool counted = in[i] == 1 || in[j] == 1 || (served_pairs && c >= 0.99);
          pairs += counted;
          near += counted && c >= c_near;
          e_top = e_top > 1.0 - c ? e_top : 1.0 - c;
          e_bot = e_bot < 1.0 - c ? e_bot : 1.0 - c;
        } else if (c >= 1.0 && qi != K[j * m + j]) {
          e_bot = 0.0;  // (served at s = 0)
        }
      }
    }
    if (!(e_top > 0.0)) return 0;
    la_ = la;
    lb_ = lb;
    s_top_ = std::fmin(cap, std::sqrt(e_top));
    const double L = lb - la;
    dq_ = L > 0.0 ? int(std::ceil(34.6 / -std::log(L / 20.0))) : 0;
    if (dq_ > dq_max) return 0;
    // The segments in s: the first width_x / sqrt(q_b) wide, each next one twice the
    // last. F's features in s have width ~1 / sqrt(q) next to s = 0 and widen with s
    // (its singularities in complex s lie within ~1 / sqrt(q) of 0), so that [s, 2 s]
    // holds them as [0, s] does (measured at q = 150, 1e4 and 1e6: tanh, softplus,
    // silu, elu and linear_region_tanh within 8.5e-14 of the scale of the dispatch at
    // random points, their last coefficients in s ~4e-15 of it).
    const double w0 = std::fmin(s_top_, width_x * std::exp(-0.5 * lb));
    seg_.assign(1, 0.0);
    for (double b = w0; seg_.size() <= 64; b *= 2.0) {
      seg_.push_back(std::fmin(b, s_top_));
      if (!(b < s_top_)) break;
    }
    if (!(seg_.back() >= s_top_)) return 0;  // (q past ~1e38: more than 64 segments)
    // the degree in s, from r = sqrt(q_b) x the first segment's width (measured at
    // q = 150: tanh, softsign, softplus and linear_region_tanh within 1e-13 of the scale)
    const double r = std::exp(0.5 * lb) * seg_[1];
    // Without the segments below every pair's s (the table's domain starts at the
    // first segment holding sqrt(e_bot)): where the variances explode (sigma_w = 2.5)
    // the pairs stay at 1 - c >= 1e-4-1e-3 while the first segment, 1.6 / sqrt(q_b),
    // shrinks as the variances grow: at q ~ 1e7, 5 of its 11 segments held no pair.
    const double s_bot = std::sqrt(e_bot);
    size_t g0 = 0;
    while (g0 + 2 < seg_.size() && seg_[g0 + 1] <= s_bot) ++g0;
    seg_.erase(seg_.begin(), seg_.begin() + std::ptrdiff_t(g0));
    nseg_ = int(seg_.size()) - 1;
    deg_s_ = r <= 0.05 ? 8 : r <= 0.2 ? 12 : r <= 0.5 ? 16 : r <= 1.0 ? 24 : deg_s_max;
    const std::ptrdiff_t nq = dq_ + 1, qpairs = nq * (nq + 1) / 2;
    const std::ptrdiff_t nodes = qpairs * nseg_ * (deg_s_ + 1);
    // The pairs against the nodes, in the time they take. For silu, softplus and
    // shifted_softplus past q = 1e4 a pair next to c = 1 (c >= 0.99) takes ~400 us
    // and one further out ~70 us, a node ~300 us, about half the nodes (build()): the
    // table where 100 near + 18 other >= 41 nodes (sigma_w = 2.5, 300 inputs: at
    // sigma_b = 20, 23-27 k of 45 k pairs near, 6 s a layer without the table; at
    // sigma_b = 8, 1.3-1.7 k near, 2-3 s a layer without it and 2.5-5 s with it). elu
    // and selu past q = 1e3: a node ~115 us, a pair's closed forms ~70 us at q ~ 1e6,
    // the table where the pairs are at least twice the nodes; below q = 4, where the
    // pairs at c < 0.95 mostly take the series' first orders and those above ~2 us
    // each (elu_small_variance, or the series with its tail by quadrature,
    // difference_tail; a node as much), where those above are at least small_gate times
    // the nodes (measured, elu and selu, 100-1000 inputs: the generic kernels at
    // sigma_w = 1.3, sigma_b = 0.2 plan none, as before; a deep ordered-phase kernel's
    // settling layers plan one). Those at c in [0.95, 0.99) were not counted: elu at
    // sigma_w = 1, sigma_b = 0.5 (q* = 0.75), 100 inputs, depth 30, spent 16 ms of its
    // 34 in two layers of them without a table (1 - c ~ 0.003-0.07), 2.4 ms with one
    // (one thread); the depth-30 sweep (benchmarks/kernel_sweep.py, 100 inputs,
    // sigma_w 0.8-1, sigma_b 0.1-1) took 17-37x relu's time, now 12-30x. Elsewhere
    // where the pairs are at least as many as the nodes (at q ~ 1e2-1e3 a pair of silu
    // or softplus takes ~1 ms).
    // A user's phi (the custom kind): a pair next to c = 1 past the near-diagonal range
    // takes the trapezoid rule (0.2-3 ms) or, for a kinked phi, the principal-axes
    // quadrature (15-25 ms), as a node there does, while one at c <~ 0.97 takes the
    // series, ~10 us: the table where the pairs at c >= 0.99 alone are at least as many
    // as the nodes (measured with the quadrature, before the trapezoid rule: 100 inputs
    // of tanh from sigprop.activation at sigma_w = 1, sigma_b = 12, depth 3, 189 s
    // without the table, 23 s with it; the built-in tanh, 0.07 s). Not pairs at c >=
    // 0.97, where the series fails at q ~ 100: a callable SiLU's pairs there at q ~ 14
    // take ~10 us while the nodes next to c = 1 do not, so that such a layer of 0.01 s
    // could cost seconds of nodes (reasoned, not measured). Where no table is planned
    // the pairs take the same forms one at a time (tanh at sigma_w = 2.5, sigma_b = 3,
    // c ~ 0.98-0.99 at one variance: 26 s a layer of 100 inputs with the quadrature,
    // 0.7 s the whole kernel of depth 10 with the trapezoid rule).
    // (The linear tails' costs were measured before their Fourier form, which made both
    // a node and a pair next to c = 1 ~10x cheaper, 20-50 us: the gate is kept as it
    // was; the 1000-input sweep, benchmarks/kernel_sweep.py, is <= 3.9 s for them.)
    bool worth;
    if (a.kind == Kind::custom)
      worth = near >= nodes;
    else if (linear_tail && lb > std::log(1e4))
      worth = 100 * near + 18 * (pairs - near) >= 41 * nodes;
    else if (served_only)
      worth = near >= 10 * nodes;
    else if (a.kind == Kind::hard_tanh)
      worth = pairs >= hard_tanh_gate * nodes;
    else
      worth = elu_kind && la < std::log(4.0)
                  ? near >= small_gate * nodes
                  : pairs >= (closed && lb > std::log(1e3) ? 2 : 1) * nodes;
    if (nodes > max_nodes || !worth) return 0;
    // units: (q pair, segment), q pairs (ja <= jb) in order
    unit_a_.clear();
    unit_b_.clear();
    for (int ja = 0; ja <= dq_; ++ja)
      for (int jb = ja; jb <= dq_; ++jb) {
        unit_a_.push_back(ja);
        unit_b_.push_back(jb);
      }
    y_.assign(size_t(nq * nq * nseg_ * (deg_s_ + 1)), special::nan);
    half_.assign(size_t(nq * nq * nseg_), 0);
    scale_ = moments(a, std::exp(la), false).phi_sq;
    failed_.store(false, std::memory_order_relaxed);
    // each input's coordinate in log q, and the plan's number (pair()'s row cache)
    tq_.assign(size_t(m), 0.0);
    for (std::ptrdiff_t i = 0; i < m; ++i)
      if (in_[size_t(i)]) tq_[size_t(i)] = t_of(K[i * m + i]);
    static std::atomic<std::uint64_t> plans{0};
    gen_ = ++plans;
    units_ = qpairs * nseg_;
    return units_;
  }

  // Build unit u: the values at one q pair's nodes on one segment (9-33 dispatches).
  // Of degree 16 or more, first at the even nodes, those of half the degree (nested
  // Lobatto points): where that interpolant's last two coefficients are within
  // half_rtol of the box's scale, the row keeps it (half_) and the odd nodes are not
  // computed. Measured on the coefficients in s at q ~ 500-5000: silu and softplus
  // reach their rounding floor, ~2e-15 of the values, by degree 12-16 on every
  // segment; tanh at q ~ 150 needs 24-32 on the first (its 16th coefficient 5e-11).
  void build(std::ptrdiff_t u) {
    const std::ptrdiff_t p = u / nseg_;
    const int g = int(u % nseg_), ja = unit_a_[size_t(p)], jb = unit_b_[size_t(p)];
    const double q1 = q_node(ja), q2 = q_node(jb);
    auto value = [&](int l) {
      const double s = s_node(g, l);
      bool ok = true;
      const double v = bivariate_dispatch(a_, 0, q1, q2, 1.0 - s * s, nullptr, nullptr, &ok);
      if (!ok || !std::isfinite(v)) failed_.store(true, std::memory_order_relaxed);
      y_[index(ja, jb, g, l)] = v;
      y_[index(jb, ja, g, l)] = v;
    };
    const int h = deg_s_ / 2;
    if (deg_s_ >= 16) {
      for (int l = 0; l <= deg_s_; l += 2) value(l);
      double ch[deg_s_max / 2 + 1];
      cheb::lobatto_coefficients(h, 1, y_.data() + index(ja, jb, g, 0), 2, ch, 1);
      const double tol = half_rtol * scale_;
      if (std::fabs(ch[h]) <= tol && std::fabs(ch[h - 1]) <= tol) {
        half_[row(ja, jb, g)] = half_[row(jb, ja, g)] = 1;
        return;
      }
      for (int l = 1; l < deg_s_; l += 2) value(l);
    } else {
      for (int l = 0; l <= deg_s_; ++l) value(l);
    }
  }

  // After every unit: the coefficients and the checks; true where the table serves.
  bool finish() {
    ready_ = false;
    if (units_ == 0 || failed_.load(std::memory_order_relaxed)) return false;
    const int nq = dq_ + 1, ns = deg_s_ + 1;
    const size_t rows = size_t(nq) * nq * nseg_;
    // along s (every row), then along q1 (stride nq nseg ns), then along q2
    std::vector<double> t(y_.size());
    for (size_t r = 0; r < rows; ++r) {
      if (half_[r]) {  // (its coefficients past half the degree: 0)
        const int h = deg_s_ / 2;
        cheb::lobatto_coefficients(h, 1, y_.data() + r * ns, 2, t.data() + r * ns, 1);
        for (int l = h + 1; l <= deg_s_; ++l) t[r * ns + size_t(l)] = 0.0;
      } else {
        cheb::lobatto_coefficients(deg_s_, 1, y_.data() + r * ns, 1, t.data() + r * ns, 1);
      }
    }
    c_.assign(y_.size(), 0.0);
    if (dq_ == 0) {
      c_ = t;
    } else {
      const size_t inner = size_t(nq) * nseg_ * ns, in2 = size_t(nseg_) * ns;
      cheb::lobatto_coefficients(dq_, int(inner), t.data(), inner, c_.data(), inner);
      for (int j = 0; j < nq; ++j)
        cheb::lobatto_coefficients(dq_, int(in2), c_.data() + j * inner, in2, t.data() + j * inner,
                                   in2);
      c_ = t;
    }
    // the tails, against the smallest scale of the box
    const double scale = scale_;  // (plan())
    if (!(scale > 0.0 && std::isfinite(scale))) return false;
    for (int ja = 0; ja < nq; ++ja)
      for (int jb = 0; jb < nq; ++jb)
        for (int g = 0; g < nseg_; ++g) {
          const double* r = c_.data() + index(ja, jb, g, 0);
          if (!(std::fabs(r[deg_s_]) <= tail_rtol * scale)) return false;
          if ((ja == dq_ || jb == dq_) && dq_ > 0)
            for (int l = 0; l <= deg_s_; ++l)
              if (!(std::fabs(r[l]) <= tail_rtol * scale)) return false;
        }
    // points between the nodes: six at fractions of [seg_[0], s_top], and one in each
    // segment
    static constexpr double tq[3][2] = {{-0.37, 0.61}, {0.83, -0.91}, {0.29, 0.29}};
    auto check = [&](const double* tt, double s) {
      const double q1 = q_at(dq_ > 0 ? tt[0] : 0.0), q2 = q_at(dq_ > 0 ? tt[1] : 0.0);
      const double c = 1.0 - s * s;
      bool ok = true;
      const double direct = bivariate_dispatch(a_, 0, q1, q2, c, nullptr, nullptr, &ok);
      const double sc = std::sqrt(moments(a_, q1, false).phi_sq * moments(a_, q2, false).phi_sq);
      return ok && std::fabs(eval(t_of(q1), t_of(q2), s) - direct) <= check_rtol * sc;
    };
    for (const auto& tt : tq)
      for (double f : {0.47, 0.89})
        if (!check(tt, seg_[0] + f * (s_top_ - seg_[0]))) return false;
    for (int g = 0; g < nseg_; ++g)
      if (!check(tq[g % 3], seg_[size_t(g)] + 0.37 * (seg_[size_t(g) + 1] - seg_[size_t(g)])))
        return false;
    // the store of the rows' coefficients, where it fits (pair())
    rank_.assign(in_.size(), -1);
    size_t n_box = 0;
    for (size_t i = 0; i < in_.size(); ++i)
      if (in_[i]) rank_[i] = std::int32_t(n_box++);
    const size_t n_rows = n_box * size_t(nseg_), block = size_t(nq) * size_t(ns);
    stored_ = n_rows * block * sizeof(double) <= store_max_bytes;
    if (stored_) {
      if (rows_.size() < n_rows * block) rows_.resize(n_rows * block);
      if (n_row_state_ < n_rows) {
        row_state_.reset(new std::atomic<unsigned char>[n_rows]);
        n_row_state_ = n_rows;
      }
      for (size_t k = 0; k < n_rows; ++k) row_state_[k].store(0, std::memory_order_relaxed);
    }
    ready_ = true;
    return true;
  }

  // The number of inputs in the box of the last plan() (0 where it planned no table;
  // a diagnostic).
  std::ptrdiff_t box_inputs() const {
    if (units_ == 0) return 0;
    return std::ptrdiff_t(in_.size()) - std::count(in_.begin(), in_.end(), char(0));
  }

  // The pair (i, j) of the layer at correlation c: false where the table does not
  // serve it (no table, an input outside the box, c below 1 - s_top^2 or above the
  // table's domain, 1 - seg_[0]^2; q1 = q2 at c >= 1
  // as well, the one-point moment's, which the dispatch returns exactly).
  // (qi, qj: the layer's K_ii and K_jj, those plan() read.) Each pair is the
  // contraction of a row's coefficients (row_coefficients: the sum over the row input's
  // Chebyshev basis in log q) with the other input's basis and then in s: (dq + 1)
  // (deg_s + 1) multiply-adds a pair where the whole contraction took (dq + 1)^2
  // (deg_s + 1), 83 % of an ordered-phase elu layer's time (1000 inputs, sigma_b = 3:
  // 0.50 s, one thread). The row is the input of the smaller variance (either where
  // they are equal: the same numbers), so that a pair's value depends neither on the
  // order of the inputs (with row i, permuting a layer's inputs changed entries in their
  // last bit or two, up to 4.5e-16 relative: tanh, softplus, elu, 8-2066 of 10^4
  // entries) nor on the thread that takes it. A row's coefficients are made once a
  // layer, by the first pair that needs them (rows_), where they fit in
  // store_max_bytes; else per thread, for the last 32 rows (a kernel tile's 8 rows and
  // 16 columns).
  bool pair(std::ptrdiff_t i, std::ptrdiff_t j, double qi, double qj, double c, double& v) const {
    if (!ready_ || !in_[size_t(i)] || !in_[size_t(j)]) return false;
    if (!(c >= 1.0 - s_top_ * s_top_)) return false;
    if (c >= 1.0 && qi == qj) return false;
    const double s = c >= 1.0 ? 0.0 : std::fmin(std::sqrt(1.0 - c), s_top_);
    if (!(s >= seg_[0])) return false;
    const int g = segment_of(s);
    const size_t block = size_t(dq_ + 1) * size_t(deg_s_ + 1);
    struct RowCache {
      std::uint64_t gen = 0;
      std::ptrdiff_t row = -1;
      std::vector<double> D;  // per segment, (dq + 1) (deg_s + 1)
      std::vector<char> have;
    };
    const std::ptrdiff_t r = qj < qi ? j : i, o = qj < qi ? i : j;
    if (stored_) {
      const size_t k = size_t(rank_[size_t(r)]) * size_t(nseg_) + size_t(g);
      double* D = rows_.data() + k * block;
      if (row_state_[k].load(std::memory_order_acquire) != 2)
        once_per_slot(row_state_[k], [&] { row_coefficients(tq_[size_t(r)], g, D); });
      v = pair_value(D, tq_[size_t(o)], g, s);
      return true;
    }
    static thread_local RowCache cache[32];
    RowCache& rc = cache[r & 31];
    if (rc.gen != gen_ || rc.row != r) {
      rc.gen = gen_;
      rc.row = r;
      rc.D.resize(size_t(nseg_) * block);
      rc.have.assign(size_t(nseg_), 0);
    }
    double* D = rc.D.data() + size_t(g) * block;
    if (!rc.have[size_t(g)]) {
      row_coefficients(tq_[size_t(r)], g, D);
      rc.have[size_t(g)] = 1;
    }
    v = pair_value(D, tq_[size_t(o)], g, s);
    return true;
  }

 private:
  size_t row(int ja, int jb, int g) const {
    return (size_t(ja) * (dq_ + 1) + size_t(jb)) * nseg_ + size_t(g);
  }
  size_t index(int ja, int jb, int g, int l) const {
    return ((size_t(ja) * (dq_ + 1) + size_t(jb)) * nseg_ + size_t(g)) * (deg_s_ + 1) + size_t(l);
  }
  double q_node(int j) const {
    return dq_ == 0 ? std::exp(la_) : q_at(std::cos(special::pi * j / dq_));
  }
  double q_at(double t) const { return std::exp(0.5 * (la_ + lb_) + 0.5 * (lb_ - la_) * t); }
  double t_of(double q) const {
    if (dq_ == 0) return 0.0;
    const double t = (2.0 * std::log(q) - la_ - lb_) / (lb_ - la_);
    return std::fmin(1.0, std::fmax(-1.0, t));
  }
  double s_node(int g, int l) const {
    const double lo = seg_[size_t(g)], hi = seg_[size_t(g) + 1];
    return lo + 0.5 * (hi - lo) * (1.0 + std::cos(special::pi * l / deg_s_));
  }
  // The segment holding s in [0, s_top]
  int segment_of(double s) const {
    const int g = int(std::upper_bound(seg_.begin() + 1, seg_.end(), s) - (seg_.begin() + 1));
    return std::min(g, nseg_ - 1);
  }
  // D[jb (deg_s + 1) + l] = sum_ja T_ja(t1) c(ja, jb, g, l): a row's coefficients in
  // segment g.
  void row_coefficients(double t1, int g, double* D) const {
    const int ns = deg_s_ + 1;
    double T1[dq_max + 1];
    T1[0] = 1.0;
    if (dq_ > 0) cheb::basis(dq_, t1, T1);
    for (int k = 0; k < (dq_ + 1) * ns; ++k) D[k] = 0.0;
    for (int ja = 0; ja <= dq_; ++ja) {
      const double w = T1[ja];
      for (int jb = 0; jb <= dq_; ++jb) {
        const double* r = c_.data() + index(ja, jb, g, 0);
        double* d = D + jb * ns;
        for (int l = 0; l < ns; ++l) d[l] += w * r[l];
      }
    }
  }
  // The interpolant at (t2, s) from a row's coefficients D in the segment g of s.
  double pair_value(const double* D, double t2, int g, double s) const {
    const int ns = deg_s_ + 1;
    const double lo = seg_[size_t(g)], hi = seg_[size_t(g) + 1];
    const double ts = std::fmin(1.0, std::fmax(-1.0, 2.0 * (s - lo) / (hi - lo) - 1.0));
    double T2[dq_max + 1];
    T2[0] = 1.0;
    if (dq_ > 0) cheb::basis(dq_, t2, T2);
    double cs[deg_s_max + 1] = {};
    for (int jb = 0; jb <= dq_; ++jb) {
      const double w = T2[jb];
      const double* d = D + jb * ns;
      for (int l = 0; l < ns; ++l) cs[l] += w * d[l];
    }
    return cheb::clenshaw(cs, deg_s_, ts);
  }
  // The interpolant at (t1, t2, s) (finish()'s checks), as pair() evaluates it.
  double eval(double t1, double t2, double s) const {
    const int g = segment_of(s);
    double D[(dq_max + 1) * (deg_s_max + 1)];
    row_coefficients(t1, g, D);
    return pair_value(D, t2, g, s);
  }

  Activation a_{Kind::linear, 0.0, 0.0};
  std::ptrdiff_t units_ = 0;
  bool ready_ = false;
  std::vector<char> in_;
  std::vector<double> root_;  // sqrt(q) of the box's inputs (plan())
  std::vector<double> line_;  // root_, +inf outside the box (plan()'s pass)
  double la_ = 0.0, lb_ = 0.0, s_top_ = 0.0;
  int dq_ = 0, nseg_ = 1, deg_s_ = deg_s_max;
  std::vector<double> seg_;  // the segments' bounds in s, up to s_top
  std::vector<int> unit_a_, unit_b_;
  std::vector<double> y_, c_;
  std::vector<double> tq_;  // each input's t_of(q) (in the box)
  std::uint64_t gen_ = 0;   // the plan's number
  // The rows' coefficients per (rank in the box, segment), made by pair() (row_state_:
  // 0 not yet, 1 being made, 2 made), where stored_ (finish())
  mutable std::vector<double> rows_;
  mutable std::unique_ptr<std::atomic<unsigned char>[]> row_state_;
  size_t n_row_state_ = 0;
  std::vector<std::int32_t> rank_;
  bool stored_ = false;
  std::vector<char> half_;  // per row (ja, jb, g): of half the degree (build())
  double scale_ = 0.0;      // E[phi^2] at the box's smallest variance
  std::atomic<bool> failed_{false};
};

}  // namespace detail
}  // namespace sigprop
