// OpenMP drivers over flat arrays of independent cells. Every cell is computed
// by the same sequential code whatever the thread count or the chunking, so
// results are bitwise identical for any n_threads. Without OpenMP the loops
// run serially.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "activation.hpp"
#include "canonical.hpp"
#include "deadline.hpp"
#include "eoc.hpp"
#include "expectation.hpp"
#include "fixed_point.hpp"
#include "hermite_series.hpp"
#include "hermite_table.hpp"
#include "layer_table.hpp"
#include "maps.hpp"
#include "moment_table.hpp"
#include "settled_difference.hpp"
#include "special.hpp"
#include "two_point.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace sigprop {
namespace grid {

using idx_t = std::ptrdiff_t;
using sigprop::Deadline;

// Runs f(i) for i in [0, n) and returns the number of leading cells done: n, or
// fewer once *stop has passed (at least 1 if n > 0). The Python bindings run every
// long kernel as a sequence of such calls of ~30 ms each and check for signals in
// between, so Ctrl-C is answered within about one cell's time however uneven the
// cells' costs (a block sized from the previous block's speed could meet a row of
// ms-scale cells next to the EOC and run for seconds). Cells are handed out in
// increasing order, in chunks of up to 64: enough cells per chunk that cheap cells
// (closed forms, ~1 us) do not contend for the counter or share output cache lines
// between threads, and at least ~16 chunks per thread so that expensive cells
// (quadrature, ms) still balance on small arrays. A thread that stops inside its
// chunk records where; the cells it skipped, and any finished cells after the first
// skipped one, are computed again by the next call, with the same result.
// A caller may ask for chunks of at least min_chunk cells (consecutive cells that share
// data: a kernel layer's tiles of one group of rows).
// f(i) may return a bool (restartable, below): false where cell i was cut short inside a
// long table build, whose progress is kept; the cell is then not done, and neither are
// the later ones (the count may be 0: the next call goes on with the build).
template <class F>
inline bool run_cell(F& f, idx_t i) {
  if constexpr (std::is_same_v<decltype(f(i)), bool>) {
    return f(i);
  } else {
    f(i);
    return true;
  }
}

template <class F>
inline idx_t parallel_for(idx_t n, int n_threads, F&& f, const Deadline* stop, idx_t min_chunk) {
  if (n <= 0) return 0;
#ifdef _OPENMP
  if (n_threads > 1 && n > 1) {
    idx_t chunk = n / (idx_t(n_threads) * 16);
    chunk = chunk < min_chunk ? min_chunk : (chunk > 64 ? 64 : chunk);
    std::atomic<idx_t> next{0}, first_undone{n};
#pragma omp parallel num_threads(n_threads)
    {
      for (;;) {
        const idx_t s = next.fetch_add(chunk, std::memory_order_relaxed);
        if (s >= n) break;
        const idx_t e = s + chunk < n ? s + chunk : n;
        idx_t i = s;
        bool stopped = false;
        while (i < e) {
          if (!run_cell(f, i)) {
            stopped = true;
            break;
          }
          ++i;
          if (stop && stop->passed()) {
            stopped = true;
            break;
          }
        }
        if (stopped) {
          idx_t cur = first_undone.load(std::memory_order_relaxed);
          while (i < cur && !first_undone.compare_exchange_weak(cur, i)) {
          }
          break;
        }
      }
    }
    return first_undone.load();
  }
#else
  (void)n_threads;
  (void)min_chunk;
#endif
  for (idx_t i = 0; i < n;) {
    if (!run_cell(f, i)) return i;
    ++i;
    if (stop && i < n && stop->passed()) return i;
  }
  return n;
}

// body() as a cell that a long table build may cut short (table_cache.hpp,
// BuildDeferred), with *stop, the block's deadline, as the thread's block: false where it
// was cut short. Such a cell is done again from its start by the next block, with the
// same result, so it must rewrite all of its outputs and count nothing before it ends.
template <class Body>
inline bool restartable(const Deadline* stop, Body&& body) {
  const detail::BlockScope scope(stop);
  try {
    body();
  } catch (const detail::BuildDeferred&) {
    return false;
  }
  return true;
}

template <class F>
inline idx_t parallel_for(idx_t n, int n_threads, F&& f, const Deadline* stop = nullptr) {
  return parallel_for(n, n_threads, std::forward<F>(f), stop, 1);
}

// One-dimensional Gaussian moments at each q[i].
inline idx_t moments(const Activation& a, const double* q, idx_t n, double* mean,
                     double* phi_sq, double* dphi_sq, double* d2phi_sq, double* dV,
                     int n_threads, const Deadline* stop = nullptr) {
  return parallel_for(n, n_threads, [&](idx_t i) {
    const Moments m = sigprop::moments(a, q[i]);
    mean[i] = m.mean;
    phi_sq[i] = m.phi_sq;
    dphi_sq[i] = m.dphi_sq;
    d2phi_sq[i] = m.d2phi_sq;
    dV[i] = m.dV;
  }, stop);
}

// E[phi^(d)(u) phi^(d)(v)] at each (q1[i], q2[i], c[i]); with direct, by the
// closed forms or the nested quadrature alone (the reference the engine is tested
// against).
// flags[i] (if given) is 1 where a quadrature ended short of its tolerance.
inline idx_t bivariate(const Activation& a, int d, const double* q1, const double* q2,
                       const double* c, idx_t n, double* out, int n_threads,
                       bool direct = false, std::int8_t* flags = nullptr,
                       const Deadline* stop = nullptr) {
  return parallel_for(n, n_threads, [&](idx_t i) {
    bool ok = true;
    out[i] = direct ? sigprop::bivariate_direct(a, d, q1[i], q2[i], c[i], &ok)
                    : sigprop::bivariate(a, d, q1[i], q2[i], c[i], &ok);
    if (flags) flags[i] = ok ? 0 : 1;
  }, stop);
}

// q-map, its slope and chi1 at each (q, sigma_w, sigma_b).
inline idx_t qmap(const Activation& a, const double* q, const double* sw, const double* sb,
                  idx_t n, double* v, double* slope, double* chi1, int n_threads,
                  const Deadline* stop = nullptr) {
  return parallel_for(n, n_threads, [&](idx_t i) {
    const Moments m = sigprop::moments(a, q[i]);
    const double sw2 = sw[i] * sw[i];
    // sigma_w = 0: the layer ignores phi entirely (no 0 * inf = NaN where E[phi^2] overflows)
    v[i] = sb[i] * sb[i] + (sw2 == 0.0 ? 0.0 : sw2 * m.phi_sq);
    slope[i] = sw2 * m.dV;
    chi1[i] = sw2 * m.dphi_sq;
  }, stop);
}

// Covariance map and its c-derivative at each (q1, q2, c, sigma_w, sigma_b):
// q_ab = sb2 + sw2 E[phi(u) phi(v)], dq_ab/dc = sw2 sqrt(q1 q2) E[phi'(u) phi'(v)].
inline idx_t covmap(const Activation& a, const double* q1, const double* q2, const double* c,
                    const double* sw, const double* sb, idx_t n, double* qab, double* dqab,
                    int n_threads, const Deadline* stop = nullptr) {
  return parallel_for(n, n_threads, [&](idx_t i) {
    const double sw2 = sw[i] * sw[i];
    qab[i] = sb[i] * sb[i] + sw2 * sigprop::bivariate(a, 0, q1[i], q2[i], c[i]);
    if (dqab)
      dqab[i] = sw2 * std::sqrt(q1[i] * q2[i]) * sigprop::bivariate(a, 1, q1[i], q2[i], c[i]);
  }, stop);
}

// Two inputs' variances and correlation through layers (the public propagate, and the
// dropout's maps with sw_q = sw_c / sqrt(rho)): Q, QB and C are (depth + 1) x n,
// row-major, row 0 given; cell (l, i), l < depth, writes row l + 1 of input i from row l:
//   Q' = sb^2 + sw_q^2 E[phi(sqrt(Q) Z)^2] (qmap's v), QB' likewise,
//   C' = (sb^2 + sw_c^2 E[phi(u) phi(v)]) / sqrt(Q' QB') (covmap's q_ab), clipped to
//   [-1, 1] (NaN kept), 1 where the root is not > 0,
// the operations of qmap and covmap above and of the Python loop over their results
// that they replace (the same numbers): one core call where a layer took three, ~13 us
// each, around ~1 us of work. Cells k in [begin, end), layer k / n and input k % n, in
// that order, each layer's inputs in parallel; returns the cells done, a prefix (all
// unless *stop passed, at least one). Pairs whose quadrature ended short of its
// tolerance are counted in *short_count (if given).
inline idx_t propagate_cells(const Activation& a, double sw_q, double sw_c, double sb, idx_t n,
                             double* Q, double* QB, double* C, idx_t begin, idx_t end,
                             int n_threads, const Deadline* stop = nullptr,
                             std::atomic<long long>* short_count = nullptr) {
  const double sb2 = sb * sb, swq2 = sw_q * sw_q, swc2 = sw_c * sw_c;
  auto cell = [&](idx_t l, idx_t i) {
    const idx_t k = l * n + i, k1 = k + n;
    bool ok = true;
    const double qab = sb2 + swc2 * sigprop::bivariate(a, 0, Q[k], QB[k], C[k], &ok);
    if (!ok && short_count) short_count->fetch_add(1, std::memory_order_relaxed);
    // (one lookup where the inputs share a variance: the same numbers)
    const Moments ma = sigprop::moments(a, Q[k]);
    const Moments mb = QB[k] == Q[k] ? ma : sigprop::moments(a, QB[k]);
    const double v = sb2 + (swq2 == 0.0 ? 0.0 : swq2 * ma.phi_sq);
    const double vb = sb2 + (swq2 == 0.0 ? 0.0 : swq2 * mb.phi_sq);
    const double den = std::sqrt(v * vb);
    double c = den > 0.0 ? qab / den : 1.0;
    if (c < -1.0)
      c = -1.0;
    else if (c > 1.0)
      c = 1.0;
    Q[k1] = v;
    QB[k1] = vb;
    C[k1] = c;
  };
  idx_t k = begin;
  while (k < end) {
    const idx_t l = k / n, i0 = k % n, i1 = std::min(n, i0 + (end - k));
    const idx_t done = parallel_for(i1 - i0, n_threads, [&](idx_t t) { cell(l, i0 + t); }, stop);
    k += done;
    if (done < i1 - i0 || (stop && stop->passed())) break;
  }
  return k - begin;
}

// Fixed point and derived quantities at each (sigma_w, sigma_b[, q0]).
struct FixedPointArrays {
  double* q;
  std::int32_t* status;
  std::int32_t* iterations;
  double* chi1;
  double* slope;
  double* c_star;
  double* chi_c;
  double* xi_q;
  double* xi_c;
  double* beta_q;
};

inline idx_t fixed_points(const Activation& a, const double* sw, const double* sb,
                          const double* q0, idx_t n, bool with_correlation,
                          const FixedPointArrays& o, int n_threads,
                          const Deadline* stop = nullptr, double keep_prob = 1.0) {
  return parallel_for(
      n, n_threads,
      [&](idx_t i) {
        // (c* next to the EOC reads the near-diagonal table: its segments' builds, 0.1-0.6 s,
        // may cut the cell short)
        return restartable(stop, [&] {
          const double start = q0 ? q0[i] : -1.0;
          const FixedPointInfo r =
              analyse(a, sw[i] * sw[i], sb[i] * sb[i], start, with_correlation, keep_prob);
          o.q[i] = r.q;
          o.status[i] = static_cast<std::int32_t>(r.status);
          o.iterations[i] = r.iterations;
          o.chi1[i] = r.chi1;
          o.slope[i] = r.slope;
          o.c_star[i] = r.c_star;
          o.chi_c[i] = r.chi_c;
          o.xi_q[i] = r.xi_q;
          o.xi_c[i] = r.xi_c;
          o.beta_q[i] = r.beta_q;
        });
      },
      stop);
}

// EOC points at each sigma_b against a prebuilt table (see eoc_table); outputs
// are (n, eoc_max_branches), padded with NaN and kind -1 beyond n_branches[i].
inline idx_t eoc_cells(const Activation& a, const EocTable& table, const double* sb, idx_t n,
                       double* sigma_w, double* q, double* slope, std::int32_t* kind,
                       std::int32_t* n_branches, int n_threads,
                       const Deadline* stop = nullptr) {
  return parallel_for(n, n_threads, [&](idx_t i) {
    EocPoint pts[eoc_max_branches];
    const int nb = eoc_roots(a, table, sb[i], pts);
    n_branches[i] = nb;
    for (int b = 0; b < eoc_max_branches; ++b) {
      const idx_t k = i * eoc_max_branches + b;
      if (b < nb) {
        sigma_w[k] = pts[b].sigma_w;
        q[k] = pts[b].q;
        slope[k] = pts[b].slope;
        kind[k] = static_cast<std::int32_t>(pts[b].kind);
      } else {
        sigma_w[k] = q[k] = slope[k] = special::nan;
        kind[k] = -1;
      }
    }
  }, stop);
}

// Entries [begin, end) of the EOC root-bracketing table of activation a.
inline idx_t eoc_table(const Activation& a, EocTable& table, idx_t begin, idx_t end,
                       int n_threads, const Deadline* stop = nullptr) {
  return parallel_for(
      end - begin, n_threads, [&](idx_t i) { eoc_table_entry(a, table, int(begin + i)); }, stop);
}

// EOC points at each sigma_b; outputs are (n, eoc_max_branches), padded with
// NaN and kind -1 beyond n_branches[i]. The activation's table from the cache, or
// built here on n_threads and cached (detail::EocTableCache).
inline void eoc(const Activation& a, const double* sb, idx_t n, double* sigma_w, double* q,
                double* slope, std::int32_t* kind, std::int32_t* n_branches, int n_threads) {
  static_assert(EocTable::n > 0, "empty EOC table");
  const auto table = detail::EocTableCache::instance().get_or_build(
      a, [&](EocTable& t) { eoc_table(a, t, 0, EocTable::n, n_threads); });
  eoc_cells(a, *table, sb, n, sigma_w, q, slope, kind, n_branches, n_threads);
}

// The first layer of the NNGP kernel, K_ij = sb2 + sw2 (x_i . x_j) / d, rows
// [begin, end) and their mirror images, from XT = X^T (d x m, row-major): for each
// row i, the products x_ik x_jk are added over k = 0..d-1 in that order for all
// j >= i at once (a loop over contiguous j that vectorises, with an AVX2 clone), so
// that K is exactly symmetric and the same bitwise for any thread count, block and
// machine (a BLAS product depends on the library, its threads and the CPU; and
// OpenBLAS's threads, left spinning after it, took a core from the first kernel
// layers: 20 ms of a 40 ms relu kernel of 1000 inputs).
SIGPROP_VECTOR_CLONES inline void input_kernel_row(const double* XT, idx_t m, idx_t d, idx_t i,
                                                   double sw2, double sb2, double* acc,
                                                   double* Ki) {
  const idx_t len = m - i;
  for (idx_t t = 0; t < len; ++t) acc[t] = 0.0;
  for (idx_t k = 0; k < d; ++k) {
    const double xik = XT[k * m + i];
    const double* xk = XT + k * m + i;
    for (idx_t t = 0; t < len; ++t) acc[t] += xik * xk[t];
  }
  const double dd = double(d);
  for (idx_t t = 0; t < len; ++t) Ki[i + t] = sb2 + sw2 * acc[t] / dd;
}

inline idx_t input_kernel_rows(const double* XT, idx_t m, idx_t d, double sw2, double sb2,
                               double* K, idx_t begin, idx_t end, int n_threads,
                               const Deadline* stop = nullptr) {
  constexpr idx_t rows = 8;
  const idx_t n_groups = (end - begin + rows - 1) / rows;
  const idx_t done = parallel_for(n_groups, n_threads, [&](idx_t g) {
    const idx_t i0 = begin + g * rows, i1 = std::min(end, i0 + rows);
    std::vector<double> acc(static_cast<size_t>(m - i0));
    for (idx_t i = i0; i < i1; ++i) input_kernel_row(XT, m, d, i, sw2, sb2, acc.data(), K + i * m);
    for (idx_t j = i0 + 1; j < m; ++j)
      for (idx_t i = i0; i < i1 && i < j; ++i) K[j * m + i] = K[i * m + j];
  }, stop);
  return std::min(end - begin, done * rows);
}

// One layer of the NNGP kernel of a batch: K (m x m, symmetric, row-major)
// to K' = sb2 + sw2 E[phi(u_a) phi(u_b)] with (u_a, u_b) ~ N(0, K). The Hermite
// expansion of each input (at its variance K_aa) is built once
// (kernel_expansions), so that a pair costs one truncated series (a few dozen to a
// few hundred multiply-adds) unless its truncation bound fails (|c| next to 1),
// where the pair falls back to the quadrature. Both steps work on ranges of rows
// [begin, end), so that a caller can run a layer in blocks. The expansions are
// evaluated to the orders that the pairs taken eight at a time read (64 or 128 terms,
// detail::lane_blocks, of one order or for an odd activation two, series_stride);
// kernel_layer_tiles extends an input's record from 64 terms to 128 the first time a
// pair of it needs them (detail::extendable_records), and completes its expansion the
// first time a pair of it needs more (most inputs of a smooth kernel never do: the other
// 450 orders were 40 % of a tanh layer's time).
//
// A layer's inputs: each one's expansion, and its record for the pairs taken eight
// at a time (detail::kernel_series_record; records side by side), written together
// by kernel_expansions.
//
// Inputs of one variance (to the last bit) share one expansion, record and
// ThresholdInput, functions of the variance alone: src[i] is the first input of input
// i's variance, whose H and rec entries serve it (input i's own are stale where src[i]
// != i). A batch of inputs of one norm (on a sphere) expands once a layer, as does a
// deep ordered-phase kernel once its variances have settled (shifted_relu's last
// layers at sigma_w = 1.3, sigma_b = 0.2: 100 expansions of ~1 us a layer, more than
// the layer's pairs).
struct KernelInputs {
  std::vector<HermiteAt> H;
  std::vector<double> rec;
  std::vector<idx_t> src;  // set by each layer's kernel_expansions
  detail::DifferenceInputs diff;  // reset by each layer's kernel_expansions
  detail::LayerTable table;       // planned by kernel_table_plan, after them
  // shifted_relu and soft_threshold (tau > 0): each input's values for the pairs next
  // to c = 1 (detail::threshold_near_one_kernel), from its expansion's moments
  std::vector<detail::ThresholdInput> thr;
};

// The kinds whose kernel pairs next to c = 1 take threshold_near_one_kernel
inline bool kernel_threshold_inputs(const Activation& a) {
  return (a.kind == Kind::shifted_relu || a.kind == Kind::soft_threshold) && a.p0 > 0.0;
}

// src[i] = the first input of [0, m) whose variance K_ii has input i's bits (i where
// none has): open addressing on the bits, ~10 ns an input.
inline void same_variance_sources(const double* K, idx_t m, std::vector<idx_t>& src) {
  src.resize(size_t(m));
  int shift = 64 - 4;
  while ((size_t(1) << (64 - shift)) < 2 * size_t(m)) --shift;
  const size_t mask = (size_t(1) << (64 - shift)) - 1;
  std::vector<idx_t> slot(mask + 1, -1);
  auto bits = [&](idx_t i) {
    std::uint64_t b;
    std::memcpy(&b, K + i * m + i, sizeof b);
    return b;
  };
  for (idx_t i = 0; i < m; ++i) {
    const std::uint64_t b = bits(i);
    for (size_t h = size_t((b * 0x9E3779B97F4A7C15ull) >> shift);; h = (h + 1) & mask) {
      const idx_t s = slot[h];
      if (s < 0) {
        slot[h] = src[size_t(i)] = i;
        break;
      }
      if (bits(s) == b) {
        src[size_t(i)] = s;
        break;
      }
    }
  }
}

inline idx_t kernel_expansions(const Activation& act, const double* K, idx_t m,
                               KernelInputs& in, idx_t begin, idx_t end, int n_threads,
                               const Deadline* stop = nullptr) {
  const Activation a = canonical(act);
  // (closed forms valid everywhere need no expansions)
  if (!uses_hermite_table(a.kind) || detail::has_kernel_closed_form(a.kind)) return end - begin;
  // (a layer's first block: the difference form's inputs start afresh; the pool's
  // buffers alternate between layers, so the pointer alone does not tell them apart)
  if (begin == 0) {
    in.diff.reset(a, K, m);
    same_variance_sources(K, m, in.src);
  }
  std::vector<HermiteAt>& H = in.H;
  if (H.size() != size_t(m)) H.resize(size_t(m));
  if (in.rec.size() != size_t(m) * detail::kRec) in.rec.resize(size_t(m) * detail::kRec);
  double* rec = in.rec.data();
  // Where a segment of the table is marked (no stored coefficients), the rule (~1 ms)
  // pays for itself over a row of quadratures, but not for the kinds with closed forms
  // (piecewise_closed_forms.hpp), which rarely reach the series.
  const bool rule = !piecewise::has_closed_form(a.kind);
  const int nb = detail::lane_blocks(a), S = detail::series_stride(a);
  const bool ext = detail::extendable_records(a);
  const bool thr = kernel_threshold_inputs(a);
  if (thr && in.thr.size() != size_t(m)) in.thr.resize(size_t(m));
  // Four inputs a unit: the piecewise linear kinds' orders, a recurrence an input, are
  // evaluated side by side (HermiteAt::ensure_phi4); the prefix masses of phi alone,
  // which the records' bounds read (those of phi', which a kernel's pairs never read,
  // were 10 % of a layer of 100 inputs of elu, and which complete0() leaves too).
  // (the inputs that expand: the first of each variance, src)
  const idx_t* src = in.src.data();
  std::vector<idx_t> own;
  own.reserve(size_t(end - begin));
  for (idx_t i = begin; i < end; ++i)
    if (src[i] == i) own.push_back(i);
  const idx_t count = end - begin, n_own = idx_t(own.size()), units = (n_own + 3) / 4;
  const idx_t done = parallel_for(
      units, n_threads,
      [&](idx_t u) {
        const idx_t k0 = 4 * u, k1 = std::min(n_own, k0 + 4);
        HermiteAt* hs[4] = {};
        for (idx_t k = k0; k < k1; ++k) {
          const idx_t i = own[size_t(k)];
          hs[k - k0] = &H[i];
          H[i].set(a, K[i * m + i], rule);  // (false, and !ok(), where it has no expansion)
        }
        if (k1 - k0 == 4) {
          HermiteAt::ensure_phi4(hs, 16 * nb * S);
        } else {
          for (idx_t k = k0; k < k1; ++k)
            if (hs[k - k0]->ok()) hs[k - k0]->ensure_for(16 * nb * S, 0);
        }
        for (idx_t k = k0; k < k1; ++k) {
          const idx_t i = own[size_t(k)];
          const double q = K[i * m + i];
          detail::kernel_series_record(H[i], q, detail::kernel_record_blocks(ext, H[i], nb, S), S,
                                       rec + size_t(i) * detail::kRec);
          if (thr)
            in.thr[size_t(i)] =
                detail::ThresholdInput::at(a, q, detail::batch_moments(a, q, &H[i]));
        }
      },
      stop);
  // The inputs done: those before the first own input not done, whose sources (src[i]
  // <= i) are all done; the others read their source's expansion and record through
  // src, and take a copy of its ThresholdInput.
  const idx_t r = 4 * done >= n_own ? count : own[size_t(4 * done)] - begin;
  if (thr)
    for (idx_t i = begin; i < begin + r; ++i)
      if (src[i] != i) in.thr[size_t(i)] = in.thr[size_t(src[i])];
  return r;
}

// The layer table (layer_table.hpp) of a kernel layer whose expansions are made
// (kernel_expansions: the difference form's inputs reset): its plan (its pass over the
// box's pairs on n_threads), returning the number of build units (0: none this layer);
// units [begin, end) built in parallel (returns the units done: all unless *stop
// passed, at least one); then finish()
// (the coefficients and checks, ~1-5 ms) before the layer's tiles read it.
// (The kinds a layer table serves all take expansions: for the others plan() only
// marks the table unused, without reading the difference form's inputs.)
inline idx_t kernel_table_plan(const Activation& act, const double* K, idx_t m, KernelInputs& in,
                               int n_threads = 1) {
  return in.table.plan(canonical(act), K, m, in.diff, n_threads);
}

inline idx_t kernel_table_build(KernelInputs& in, idx_t begin, idx_t end, int n_threads,
                                const Deadline* stop = nullptr) {
  return parallel_for(end - begin, n_threads, [&](idx_t u) { in.table.build(begin + u); }, stop);
}

// The whole step at once, without a deadline (kernel_layer, and the tests' diagnostic):
// the number of units planned, and whether the table passed its checks.
inline std::pair<idx_t, bool> kernel_table(const Activation& act, const double* K, idx_t m,
                                           KernelInputs& in, int n_threads) {
  const idx_t units = kernel_table_plan(act, K, m, in, n_threads);
  if (units > 0) kernel_table_build(in, 0, units, n_threads);
  return {units, units > 0 && in.table.finish()};
}

// Rows [i0, i1) of a kernel layer, pairs j > i, for a kind K whose kernel has a
// closed form valid everywhere (ClosedKernel, expectation.hpp), every variance
// positive and finite with products q_i q_j normal: the numbers of
// bivariate_dispatch bitwise (the same functions on the same arguments: q1 <= q2, c
// = K_ij / sqrt(q_i q_j) clamped to [-1, 1], NaN for a NaN c), in a loop over j with
// the kind fixed, which the compiler vectorises where the kernel is plain
// arithmetic (sin; the others call acos or atan2). s_i = sqrt(q_i), e_i =
// exp_arith(-q_i / 2).
template <Kind K>
SIGPROP_ALWAYS_INLINE void closed_kernel_rows(double p0, const double* Kin, idx_t m, const double* q,
                               const double* s, const double* e, double sw2, double sb2,
                               double* Kout, idx_t i0, idx_t i1) {
  for (idx_t i = i0; i < i1; ++i) {
    const double qi = q[i], si = s[i], ei = e[i];
    const double* Ki = Kin + i * m;
    double* Oi = Kout + i * m;
    for (idx_t j = i + 1; j < m; ++j) {
      const double qj = q[j], sj = s[j], ej = e[j];
      const double c = Ki[j] / std::sqrt(qi * qj);
      const bool swap = qi > qj;
      const double q1 = swap ? qj : qi, q2 = swap ? qi : qj;
      const double s1 = swap ? sj : si, s2 = swap ? si : sj;
      const double cc = c < -1.0 ? -1.0 : (c > 1.0 ? 1.0 : c);  // (fmin / fmax, NaN aside)
      double v;
      if constexpr (K == Kind::sin) {
        const double x = cc * (s1 * s2);
        v = sigprop::detail::ClosedKernel::sin(0, q1, q2, x, (swap ? ej : ei) * (swap ? ei : ej));
      } else if constexpr (K == Kind::linear) {
        v = cc * (s1 * s2);
      } else {
        const double sc = std::sqrt((1.0 - cc) * (1.0 + cc));
        if constexpr (K == Kind::relu)
          v = sigprop::detail::ClosedKernel::relu(0.0, 0, s1, s2, cc, sc);
        else if constexpr (K == Kind::leaky_relu)
          v = sigprop::detail::ClosedKernel::relu(p0, 0, s1, s2, cc, sc);
        else if constexpr (K == Kind::erf)
          v = sigprop::detail::ClosedKernel::erf(0, q1, q2, s1, s2, cc, sc);
        else
          v = sigprop::detail::ClosedKernel::gelu(0, q1, q2, s1, s2, cc, sc);
      }
      Oi[j] = sb2 + sw2 * (c == c ? v : special::nan);
    }
  }
}

// The rows of each kind, with an AVX2 clone (special.hpp): every closed form is plain
// arithmetic (exp_arith, atan2_arith, sqrt, division).
template <Kind K>
SIGPROP_VECTOR_CLONES inline void closed_kernel_rows_of(double p0, const double* Kin, idx_t m,
                                                        const double* q, const double* s,
                                                        const double* e, double sw2,
                                                        double sb2, double* Kout, idx_t i0,
                                                        idx_t i1) {
  closed_kernel_rows<K>(p0, Kin, m, q, s, e, sw2, sb2, Kout, i0, i1);
}

// Rows [begin, end) of a kernel layer for the kinds with a closed form valid
// everywhere, in groups of 8 rows (each one tile of kernel_layer_tiles, whose
// tiling then spans every column: kernel_tile_width): -1 (nothing done) where a
// variance is outside (1e-150, 1e150) (the pairs then take the general path, which
// handles 0, inf and underflowing products), else the rows done.
inline idx_t closed_kernel_layer_rows(const Activation& a, const double* K, idx_t m, double sw2,
                                      double sb2, double* Kout, idx_t begin, idx_t end,
                                      int n_threads, const Deadline* stop) {
  std::vector<double> q(static_cast<size_t>(m)), s(q.size()), e(q.size());
  for (idx_t i = 0; i < m; ++i) {
    q[i] = K[i * m + i];
    if (!(q[i] > 1e-150 && q[i] < 1e150)) return -1;
    s[i] = std::sqrt(q[i]);
    e[i] = special::exp_arith(-0.5 * q[i]);
  }
  constexpr idx_t rows = 8;
  const idx_t n_groups = (end - begin + rows - 1) / rows;
  const idx_t done = parallel_for(n_groups, n_threads, [&](idx_t g) {
    const idx_t i0 = begin + g * rows, i1 = std::min(end, i0 + rows);
    switch (a.kind) {
      case Kind::linear:
        closed_kernel_rows_of<Kind::linear>(a.p0, K, m, q.data(), s.data(), e.data(), sw2, sb2,
                                         Kout, i0, i1);
        break;
      case Kind::relu:
        closed_kernel_rows_of<Kind::relu>(a.p0, K, m, q.data(), s.data(), e.data(), sw2, sb2,
                                       Kout, i0, i1);
        break;
      case Kind::leaky_relu:
        closed_kernel_rows_of<Kind::leaky_relu>(a.p0, K, m, q.data(), s.data(), e.data(), sw2,
                                             sb2, Kout, i0, i1);
        break;
      case Kind::erf:
        closed_kernel_rows_of<Kind::erf>(a.p0, K, m, q.data(), s.data(), e.data(), sw2, sb2, Kout,
                                      i0, i1);
        break;
      case Kind::sin:
        closed_kernel_rows_of<Kind::sin>(a.p0, K, m, q.data(), s.data(), e.data(), sw2, sb2, Kout,
                                         i0, i1);
        break;
      default:
        closed_kernel_rows_of<Kind::gelu>(a.p0, K, m, q.data(), s.data(), e.data(), sw2, sb2,
                                       Kout, i0, i1);
        break;
    }
    // the diagonal, and the lower triangle by symmetry (8 adjacent entries a row)
    for (idx_t i = i0; i < i1; ++i) Kout[i * m + i] = sb2 + sw2 * sigprop::moments(a, q[i]).phi_sq;
    for (idx_t j = i0 + 1; j < m; ++j)
      for (idx_t i = i0; i < i1 && i < j; ++i) Kout[j * m + i] = Kout[i * m + j];
  }, stop);
  return std::min(end - begin, done * rows);
}

// The units of a kernel layer's work (kernel_layer_tiles): tiles of the upper
// triangle, each up to `rows` = 8 rows by up to `width` columns, numbered group by
// group (group g: rows [8 g, 8 g + 8) and columns [8 g, m), cut into consecutive
// column blocks). A block of a layer stops only between tiles, so a tile's time
// bounds how long Ctrl-C waits: 16 columns (128 pairs) keep it under ~0.2 s where
// every pair takes quadrature at 1-2 ms (first ordered-phase layers of softsign);
// a group of 8 rows by every column had taken seconds there. The closed forms
// (~20 ns a pair) keep one tile per group (width m).
struct KernelTiles {
  static constexpr idx_t rows = 8;
  idx_t m = 0, width = 1;
  std::vector<idx_t> first;  // first[g]: group g's first tile; first.back(): the count
  KernelTiles(idx_t m_, idx_t width_) : m(m_), width(width_ < 1 ? 1 : width_) {
    const idx_t groups = m > 0 ? (m + rows - 1) / rows : 0;
    first.resize(size_t(groups) + 1);
    idx_t t = 0;
    for (idx_t g = 0; g < groups; ++g) {
      first[size_t(g)] = t;
      t += (m - g * rows + width - 1) / width;
    }
    first[size_t(groups)] = t;
  }
  idx_t size() const { return first.back(); }
  // Tile t: its group's first row i0 and its columns [j0, j1).
  void locate(idx_t t, idx_t& i0, idx_t& j0, idx_t& j1) const {
    const idx_t g = idx_t(std::upper_bound(first.begin(), first.end(), t) - first.begin()) - 1;
    i0 = g * rows;
    j0 = i0 + (t - first[size_t(g)]) * width;
    j1 = std::min(m, j0 + width);
  }
  // The rows complete once tiles [0, t) are (for a progress count in rows).
  idx_t rows_done(idx_t t) const {
    const idx_t g =
        idx_t(std::upper_bound(first.begin() + 1, first.end(), t) - (first.begin() + 1));
    return std::min(m, g * rows);
  }
};

inline constexpr idx_t kernel_tile_columns = 16;
// A thread takes at least four consecutive tiles (mostly of one group of rows): tiles
// handed out one at a time alternated between the threads within each group, both
// threads then interleaving the group's records and writing its rows side by side
// (cache lines shared at each tile's edge). 100 inputs, 2 threads against 1: a tanh
// layer's tiles 1.25x -> 1.5x as fast, softplus 1.2-1.4x -> 1.7x, softsign 1.2x ->
// 1.5-1.6x. Larger layers' chunks were that long already (n / (16 threads) tiles).
// Ctrl-C is checked after each tile as before.
inline constexpr idx_t kernel_tile_chunk = 4;

// The tile width of a layer of K (m x m): m (one tile per group) where the closed
// forms valid everywhere take every pair, kernel_tile_columns otherwise.
inline idx_t kernel_tile_width(const Activation& act, const double* K, idx_t m) {
  const Activation a = canonical(act);
  if (!detail::has_kernel_closed_form(a.kind)) return kernel_tile_columns;
  for (idx_t i = 0; i < m; ++i) {
    const double q = K[i * m + i];
    if (!(q > 1e-150 && q < 1e150)) return kernel_tile_columns;
  }
  return m;
}

// Tiles [begin, end) of a layer (the pairs j >= i in them, and their mirror images),
// `in` from kernel_expansions; returns the tiles done (all of them unless *stop
// passed; at least one unless the first was cut short inside a table build, see
// restartable). Pairs whose quadrature ended short of its tolerance are counted in
// *short_count (if given): their entries are the best estimates, or NaN far from
// converged.
inline idx_t kernel_layer_tiles(const Activation& act, const double* K, idx_t m, double sw2,
                                double sb2, KernelInputs& in, double* Kout,
                                const KernelTiles& tiles, idx_t begin, idx_t end,
                                int n_threads, const Deadline* stop = nullptr,
                                std::atomic<long long>* short_count = nullptr) {
  const Activation a = canonical(act);
  constexpr idx_t rows = KernelTiles::rows;
  // (the calling thread's tile's pairs short of their tolerance)
  static thread_local long long tile_short = 0;
  if (detail::has_kernel_closed_form(a.kind) && tiles.width >= m) {
    // one tile per group: tile t is rows [8 t, 8 t + 8)
    const idx_t done = closed_kernel_layer_rows(a, K, m, sw2, sb2, Kout, begin * rows,
                                                std::min(m, end * rows), n_threads, stop);
    if (done >= 0) return (done + rows - 1) / rows;
  }
  const bool series = uses_hermite_table(a.kind) && !detail::has_kernel_closed_form(a.kind) &&
                      in.H.size() == size_t(m) && in.src.size() == size_t(m) &&
                      in.rec.size() == size_t(m) * detail::kRec;
  // Input i's expansion and record: those of the first input of its variance
  // (KernelInputs::src)
  const idx_t* src = series ? in.src.data() : nullptr;
  HermiteAt* const Hs = in.H.data();
  auto H = [&](idx_t i) -> HermiteAt& { return Hs[src[i]]; };
  // (as kernel_expansions evaluated them; records of 4 blocks extended to 8 where a
  // pair needs them, ext: detail::extendable_records)
  const int nb = detail::lane_blocks(a), S = detail::series_stride(a);
  const bool ext = series && detail::extendable_records(a);
  const bool linear_region = detail::linear_region_tails(a.kind) > 0;
  // (and linear_floor, whose kernel next to c = 1 is shifted_relu's at -x plus closed forms)
  const bool floor_kind = a.kind == Kind::linear_floor && a.p0 > 0.0;
  const Activation floor_r{Kind::shifted_relu, a.p0, 0.0};
  const bool thresholds =
      ((a.kind == Kind::shifted_relu || a.kind == Kind::soft_threshold) && a.p0 > 0.0) ||
      floor_kind;
  // One task per tile, column by column across its group's rows: each input's
  // expansion (4 kB of coefficients and more) is read once a tile instead of once a
  // row. Every pair is computed by the same code in any order, so the results do not
  // depend on it, nor on the tiling.
  // Each input's expansion completed the first time a pair taken one at a time needs
  // it, by one thread while the others that need it wait (a few us): 0 not complete,
  // 1 being completed (or extended), 2 complete (read-only from then on), 3 its record
  // extended to 8 blocks, not complete (ext). The pairs taken eight at a time read only
  // the records below, whose orders complete0() does not change. (The pairs' series are
  // of phi alone: complete0(), without phi''s masses and sums.) A complete input's
  // record is extended too (ext). (An expansion's state is its source input's, src[i].)
  std::unique_ptr<std::atomic<int>[]> state;
  if (series) {
    state.reset(new std::atomic<int>[size_t(m)]);
    for (idx_t i = 0; i < m; ++i) {
      const HermiteAt& h = Hs[i];
      const bool built8 = detail::kernel_record_blocks(ext, h, nb, S) == detail::kMaxFastBlocks;
      const int st = src[i] != i || h.full0 || !h.ok() ? 2 : (ext && built8 ? 3 : 0);
      state[i].store(st, std::memory_order_relaxed);
    }
  }
  double* const recs_w = in.rec.data();
  // Moves input i's state from one of `from` (a bit each) to `to`, doing work() in
  // between; returns at once where its state is already one of `done` (bits), waits
  // while another thread works on it.
  auto advance = [&](idx_t i, unsigned from, unsigned done, int to, auto&& work) {
    std::atomic<int>& st = state[src[i]];
    for (;;) {
      int s = st.load(std::memory_order_acquire);
      if ((done >> s) & 1u) return;
      if ((from >> s) & 1u) {
        if (st.compare_exchange_strong(s, 1, std::memory_order_acq_rel)) {
          work(s);
          st.store(to, std::memory_order_release);
          return;
        }
        continue;
      }
      while (st.load(std::memory_order_acquire) == 1) {
      }
    }
  };
  auto complete = [&](idx_t i) {
    advance(i, (1u << 0) | (1u << 3), 1u << 2, 2, [&](int was) {
      H(i).complete0();
      if (ext && was == 0)
        detail::kernel_series_record_extend(H(i), S, recs_w + size_t(src[i]) * detail::kRec);
    });
  };
  // Input i's record extended to 8 blocks (ext), its expansion evaluated that far
  auto extend = [&](idx_t i) {
    advance(i, 1u << 0, (1u << 2) | (1u << 3), 3, [&](int) {
      H(i).ensure_for(16 * detail::kMaxFastBlocks * S, 0);
      detail::kernel_series_record_extend(H(i), S, recs_w + size_t(src[i]) * detail::kRec);
    });
  };
  // Pairs next to c = 1 whose variances have nearly settled, where the series has
  // failed: the difference form (settled_difference.hpp; its inputs reset by
  // kernel_expansions), each input's values made on its first such pair.
  detail::DifferenceInputs& diff = in.diff;
  auto difference_form = [&](idx_t i, idx_t j, double c, double& e) {
    return detail::settled_difference_pair(diff, H(i), H(j), i, j, c, e);
  };
  const double* recs = in.rec.data();  // (the inputs' records: kernel_expansions)
  // shifted_relu and soft_threshold: each input's values for the pairs next to c = 1
  // (kernel_expansions)
  const bool thr_inputs = thresholds && !floor_kind && series && in.thr.size() == size_t(m);
  const detail::ThresholdInput* thr = thr_inputs ? in.thr.data() : nullptr;
  // The entry (i, j) and its mirror image from E[phi(u) phi(v)]
  auto store = [&](idx_t i, idx_t j, double e) {
    const double v = sb2 + sw2 * e;
    Kout[i * m + j] = v;
    Kout[j * m + i] = v;
  };
  // A pair's correlation, and whether the thresholds' forms next to c = 1 apply
  struct PairAt {
    double qi, qj, c;
    bool near_one;
  };
  auto set_pair_at = [&](idx_t i, idx_t j, PairAt& p) {
    p.qi = K[i * m + i];
    p.qj = K[j * m + j];
    const double den = std::sqrt(p.qi * p.qj);
    p.c = den > 0.0 ? K[i * m + j] / den : 0.0;
    p.near_one = thresholds && p.qi > 0.0 && p.qj > 0.0 && std::isfinite(p.qi) &&
                 std::isfinite(p.qj) && !(p.c >= 1.0 && p.qi == p.qj);
    if (p.near_one && thr) {  // (threshold_near_one_domain's test, from the inputs' K)
      const double e = 1.0 - (p.c < 1.0 ? p.c : 1.0), Kij = thr[i].K + thr[j].K;
      p.near_one = p.c >= 0.75 && e * (0.25 * Kij * Kij) <= 4.0;
    } else if (p.near_one) {
      p.near_one = detail::threshold_near_one_domain(
          floor_kind ? floor_r : a, 0, std::fmin(p.qi, p.qj), std::fmax(p.qi, p.qj), p.c);
    }
  };
  auto pair_at = [&](idx_t i, idx_t j) {
    PairAt p;
    set_pair_at(i, j, p);
    return p;
  };
  // shifted_relu and soft_threshold: a pair at c >= 0.99 (tested without a division)
  // takes threshold_near_one_kernel before the series, one below after the series'
  // first blocks (those of the lanes, kernel_series_columns) and before its longer
  // orders. Both orders of forms hold whether the pair is taken in a lane or one at
  // a time, so that its value does not depend on the order of the inputs (before, a
  // pair next to c = 1 that a lane certified took the series in a full group and the
  // Price forms one at a time; linear_floor's form, below, comes after the first
  // blocks either way).
  auto kernel_first = [&](idx_t i, idx_t j) {
    return !(K[i * m + j] < 0.99 * thr[i].s * thr[j].s);
  };
  auto near_one_form = [&](idx_t i, idx_t j, const PairAt& p, double& e) {
    const bool lo_i = p.qi <= p.qj;
    return detail::threshold_near_one_kernel(a, thr[lo_i ? i : j], thr[lo_i ? j : i], p.c, e);
  };
  // A column's pairs for threshold_near_one_kernels (forms_first and thr_left, below):
  // each pair's inputs as near_one_form takes them (the smaller variance first), its c,
  // lane and PairAt; run() sets v and ok.
  struct NearOneColumn {
    const detail::ThresholdInput* lo[KernelTiles::rows];
    const detail::ThresholdInput* hi[KernelTiles::rows];
    double c[KernelTiles::rows], v[KernelTiles::rows];
    bool ok[KernelTiles::rows];
    idx_t lane[KernelTiles::rows];
    const PairAt* p[KernelTiles::rows];  // (the caller's, kept until run() and after)
    int n = 0;
    void add(const detail::ThresholdInput* thr, idx_t l, idx_t i, idx_t j, const PairAt& pij) {
      const bool lo_i = pij.qi <= pij.qj;
      lo[n] = &thr[lo_i ? i : j];
      hi[n] = &thr[lo_i ? j : i];
      c[n] = pij.c;
      p[n] = &pij;
      lane[n++] = l;
    }
    void run(const Activation& act) {
      if (n > 0) detail::threshold_near_one_kernels(act, lo, hi, c, n, v, ok);
    }
  };
  // c rounded to 1 at one variance (a deep ordered-phase kernel once its variances
  // have settled to the last bit: shifted_relu's last layers at sigma_w = 1.3,
  // sigma_b = 0.2, 13 -> 30 ms a layer when c first rounds to 1): the one-point
  // moment from the expansion, as bivariate_dispatch returns it, without completing
  // the expansions first (not for the kinds whose linear-region form the dispatch
  // tries before it); false elsewhere.
  auto one_variance = [&](idx_t i, idx_t j, const PairAt& p) {
    const double qi = p.qi;
    if (series && p.c >= 1.0 && qi == p.qj && qi > 0.0 && std::isfinite(qi) && !linear_region) {
      store(i, j, thr ? thr[i].p : detail::batch_moments(a, qi, &H(i)).phi_sq);
      return true;
    }
    return false;
  };
  // The forms a pair (i < j) takes before the series; false where none serves it.
  auto before_series = [&](idx_t i, idx_t j, const PairAt& p) {
    double e;
    if (one_variance(i, j, p)) return true;
    // shifted_relu and soft_threshold next to c = 1, at c >= 0.99 (kernel_first):
    // threshold_near_one_kernel, 17-70 ns from the inputs' values (a deep kernel's
    // pairs while and once the variances settle, which the series' first orders rarely
    // certify)
    if (p.near_one && thr && kernel_first(i, j) && near_one_form(i, j, p, e)) {
      store(i, j, e);
      return true;
    }
    return false;
  };
  // The rest of a pair (i < j) that before_series did not serve (tested: a lane has
  // tested the series' first blocks, and failed)
  // (near_one_tried: threshold_near_one_kernel has declined the pair already)
  auto after_series = [&](idx_t i, idx_t j, const PairAt& p, bool tested,
                          bool near_one_tried = false) {
    const double qi = p.qi, qj = p.qj, c = p.c;
    // (the smaller variance first, as the forms below take them)
    const bool lo_i = qi <= qj;
    const double q1 = lo_i ? qi : qj, q2 = lo_i ? qj : qi;
    bool ok = true;
    double e;
    // The series' first blocks, as a lane takes them, from the records (the expansions
    // not completed): a pair taken one at a time gets the value a lane of a full group
    // would have given it (where a lane has failed, the same test fails again), so that
    // the forms below come after these blocks either way and an entry does not depend
    // on the order of the inputs (before, a pair the layer table serves took the
    // lane's series in a full group and the table one at a time: ordered-phase kernels
    // of elu, selu, tanh, softsign and silu differed from the permuted ones in their
    // last bits)
    if (series && !tested) {
      const double* ri = recs + size_t(src[i]) * detail::kRec;
      const double* rj = recs + size_t(src[j]) * detail::kRec;
      if (detail::kernel_series_record_pair(ri, rj, K[i * m + j], nb, S, detail::series_rtol, e) >=
          0) {
        store(i, j, e);
        return;
      }
      // (then 8 blocks, as the lanes' second pass takes them: ext_lanes)
      if (ext) {
        extend(i);
        extend(j);
        if (detail::kernel_series_record_pair(ri, rj, K[i * m + j], 8, S, detail::series_rtol, e) >=
            0) {
          store(i, j, e);
          return;
        }
      }
    }
    // (shifted_relu and soft_threshold below c = 0.99: then threshold_near_one_kernel)
    if (thr && !near_one_tried && !kernel_first(i, j) && p.near_one && near_one_form(i, j, p, e)) {
      store(i, j, e);
      return;
    }
    // A pair the layer table serves: from it, before the inputs' expansions are
    // completed for the series of every order (at q ~ 1e3-1e5 a complete expansion
    // costs ~1-3 ms).
    if (in.table.pair(i, j, qi, qj, c, e)) {
      store(i, j, e);
      return;
    }
    // shifted_relu and soft_threshold next to c = 1 (and linear_floor, through
    // shifted_relu's): their Price forms
    // (threshold_pair_near_one, ~50-200 ns), which the dispatch tries first, from the
    // expansions' moments, before the expansions are completed (~2-3 us an input)
    // and without the series' longer orders (which rarely certify a kinked phi
    // there): the same numbers as the dispatch's. (Every pair of a kernel's later
    // layers at sigma_w = 1.3, sigma_b = 0.2, where the variances settle at
    // sigma_b^2.)
    // (c = 1 at one variance aside: the dispatch returns the one-point moment there)
    // (Not where threshold_near_one_kernel has declined the pair (thr): it declines
    // where the terms cancel, as these forms do, which the dispatch tries anyway: on
    // 3.4 million pairs of such kernels' layers each form served the same pairs.)
    if (p.near_one && series && !thr) {
      bool done;
      if (floor_kind) {  // (linear_floor: x plus shifted_relu's phi at -x)
        done = detail::linear_floor_near_one(a, 0, q1, q2, c, e);
      } else {
        const Moments m1 = detail::batch_moments(a, q1, &H(lo_i ? i : j));
        const Moments m2 = detail::batch_moments(a, q2, &H(lo_i ? j : i));
        done = m1.phi_sq != 0.0 && detail::threshold_near_one_value(a, 0, q1, q2, c, m1, m2, e);
      }
      if (done) {
        store(i, j, e);
        return;
      }
    }
    // phi at large variances (the linear tails from q = 1e3, elu and selu from 1e5):
    // their asymptotic forms (two_point.hpp, large_variance_form, ~0.1 us), as
    // bivariate_dispatch tries them before the series, here before the expansions are
    // completed for the series' longer orders (a kernel whose variances grow, softplus at
    // sigma_w = 2, sigma_b = 0.2: from q ~ 1e3 its pairs at 1 - c ~ 0.01-0.1 had taken
    // mehler_sum to order ~430 on completed expansions, ~0.3 us, 1-2 ms a layer of 100
    // inputs; elu there the closed forms' tail quadrature, up to 0.5 s a layer).
    if (series && detail::large_variance_domain(a, q1, q2, c)) {
      const Moments m1 = detail::batch_moments(a, q1, &H(lo_i ? i : j));
      const Moments m2 = detail::batch_moments(a, q2, &H(lo_i ? j : i));
      if (detail::large_variance_form(a, q1, q2, c, m1, m2, e)) {
        store(i, j, e);
        return;
      }
    }
    if (series) {
      complete(i);
      complete(j);
    }
    // With the expansions, a pair with |c| < 1 goes to the series before anything
    // else in bivariate_dispatch (the forms it tries before the series, tried above
    // where a kernel's pairs reach them): the prefix bound's order is found here directly,
    // without the dispatch's per-pair tests of the kind, and the series summed by
    // mehler_sum, as the dispatch sums it; where the prefix bound
    // certifies no order, the dispatch (whose series tries it again, with the same
    // outcome, before the other bounds) goes on as for any pair; not for the
    // thresholds' other forms next to c = 1 (above), which go to the dispatch's forms
    // (shifted_relu and soft_threshold: their longer series, then the dispatch).
    const int k = series && (thr || !p.near_one)
                      ? detail::kernel_series_order(H(i), H(j), c, detail::series_rtol, nb)
                      : -1;
    if (k >= 0)
      e = detail::mehler_sum(H(i), H(j), 0, c, k);
    else if (!(series && difference_form(i, j, c, e)))
      e = detail::bivariate_dispatch(a, 0, qi, qj, c, series ? &H(i) : nullptr,
                                     series ? &H(j) : nullptr, &ok);
    if (!ok) ++tile_short;
    store(i, j, e);
  };
  auto pair = [&](idx_t i, idx_t j, bool tested = false) {
    if (i == j) {
      // (E[phi^2] as the input's expansion holds it, batch_moments' value, which a
      // settled pair at c = 1 takes too: one table lookup an input fewer a layer, 5 %
      // of a layer of 100 inputs)
      const double q = K[i * m + i];
      const bool held = series && H(i).ok() && H(i).q == q;
      store(i, j, held ? H(i).phi_sq : sigprop::moments(a, q).phi_sq);
      return;
    }
    const PairAt p = pair_at(i, j);
    if (!before_series(i, j, p)) after_series(i, j, p, tested);
  };
  // A full group's tile takes its pairs eight at a time (kernel_series_columns) from
  // the rows' records, interleaved lane by lane; a short last group's pairs, and the
  // lanes it leaves, take `pair`. A thread's consecutive tiles are mostly of one
  // group: the interleaved records are kept per thread for the next tile of the same
  // group in this call (`call` tells calls apart).
  static std::atomic<unsigned long long> calls{0};
  const unsigned long long call = ++calls;
  // (the interleaved rows 64-byte aligned, whatever the layout of the thread's storage:
  // the lanes read them as 4-vectors, which a start 16 bytes into a cache line would
  // split every other one across two lines)
  struct GroupRecords {
    unsigned long long call = 0;
    idx_t i0 = -1;
    bool extended = false;  // (the rows' blocks 4..7 loaded: ext_lanes)
    alignas(64) double G[8 * detail::kHead];
    alignas(64) double T[8 * 16 * detail::kMaxFastBlocks];
  };
  auto series_tile = [&](idx_t i0, idx_t j0, idx_t j1) {
    constexpr int R = detail::kRec;
    static thread_local GroupRecords gr;
    double* G = gr.G;
    double* T = gr.T;
    if (gr.call != call || gr.i0 != i0) {
      // (where records are extended, not the head's fields of blocks 4..7, which
      // another thread may be writing: zeros until ext_lanes loads them)
      for (idx_t l = 0; l < rows; ++l) {
        const double* r = recs + size_t(src[i0 + l]) * R;
        for (int f = 0; f < detail::kHead; ++f) {
          const bool later = ext && ((f >= 2 + 4 && f < 2 + 8) || f == detail::record_usable(8));
          G[8 * f + l] = later ? 0.0 : r[f];
        }
        for (int n = 0; n < 16 * nb; ++n) T[8 * n + l] = r[detail::kHead + n];
      }
      gr.call = call;
      gr.i0 = i0;
      gr.extended = false;
    }
    // The lanes' second pass where records are extended (ext): the pairs of NC columns
    // js[c] that 4 blocks left (ks[c][l] = -1, lanes l < nl[c]) from 8 blocks, the rows'
    // and columns' records extended first (the same numbers as 8 blocks from the start:
    // a lane certified within 4 blocks gets the same order and sum either way). Out of
    // line: most columns never need it.
    // (Called where the lanes report a pair at k = -1 (kernel_series_columns), not for
    // k = -2, a pair at |c| >= 1, which a deep kernel's lanes leave once c rounds to 1
    // at one variance: extending every input for those made sigmoid's layers 20-30 at
    // sigma_w = 1.3, 100 inputs, 46 % slower; and nothing where those pairs are lanes
    // past nl, as in a group's own columns.)
    // The lanes of 8 blocks for NC columns js[c] (the rows extended: gr.extended), their
    // records extended first. Once a group's rows are extended, its later columns in this
    // call take these directly (the same numbers; a deep softsign layer, whose columns
    // nearly all need them, paid for both passes: +30 %).
    auto lanes8 = [&, i0](const idx_t* js, double* const* os, double* const* ks,
                          int nc) SIGPROP_OUT_OF_LINE {
      const double* ys[2];
      const double* kcs[2];
      for (int c = 0; c < nc; ++c) {
        extend(js[c]);
        ys[c] = recs + size_t(src[js[c]]) * R;
        kcs[c] = K + i0 * m + js[c];
      }
      const double rt = detail::series_rtol;
      if (nc == 2)
        S == 1 ? detail::kernel_series_columns<8, 1, 2>(G, T, ys, kcs, m, rt, os, ks)
               : detail::kernel_series_columns<8, 2, 2>(G, T, ys, kcs, m, rt, os, ks);
      else
        S == 1 ? detail::kernel_series_columns<8, 1, 1>(G, T, ys, kcs, m, rt, os, ks)
               : detail::kernel_series_columns<8, 2, 1>(G, T, ys, kcs, m, rt, os, ks);
    };
    auto ext_lanes = [&, i0](const idx_t* js, const idx_t* nl, double* const* os, double* const* ks,
                             int nc) SIGPROP_OUT_OF_LINE {
      bool any = false;
      for (int c = 0; c < nc; ++c)
        for (idx_t l = 0; l < nl[c]; ++l) any = any || ks[c][l] == -1.0;
      if (!any) return;
      if (!gr.extended) {
        for (idx_t l = 0; l < rows; ++l) {
          extend(i0 + l);
          const double* r = recs + size_t(src[i0 + l]) * R;
          for (int f = 2 + 4; f < detail::kHead; ++f) G[8 * f + l] = r[f];
          for (int n = 64; n < 128; ++n) T[8 * n + l] = r[detail::kHead + n];
        }
        gr.extended = true;
      }
      double s8[2][rows], k8[2][rows];
      double* o8[2] = {s8[0], s8[1]};
      double* q8[2] = {k8[0], k8[1]};
      lanes8(js, o8, q8, nc);
      for (int c = 0; c < nc; ++c)
        for (idx_t l = 0; l < nl[c]; ++l)
          if (ks[c][l] == -1.0) {
            ks[c][l] = k8[c][l];
            os[c][l] = s8[c][l];
          }
    };
    // (the group's own columns too, j < i0 + 8: there the lanes of rows i < j count,
    // and the diagonal is the one-point moment; taken one at a time, those pairs
    // would complete every input's expansion)
    // (the output, its size and sigma's as locals: through the closure's references
    // every store to the output reloaded them, a few % of a layer)
    double* const out = Kout;
    const idx_t mm = m;
    const double b2 = sb2, w2 = sw2;
    // (kernel_first's test of a column's eight pairs: 0.99 sqrt(q_i) of the rows)
    double rs[rows] = {};
    if (thr)
      for (idx_t l = 0; l < rows; ++l) rs[l] = 0.99 * thr[i0 + l].s;
    // A column's state between its steps: the forms before the lanes (shifted_relu and
    // soft_threshold at c >= 0.99), the lanes, and the pairs the lanes leave.
    struct Column {
      idx_t j, lanes;
      bool first, lane;  // (lane: the lanes are to run)
      PairAt at[rows];
      bool left[rows];
      double s8[rows], k8[rows];
    };
    // (before_lanes' columns with a pair at c >= 0.99, out of line: inlined, it made
    // every column's tile code slower)
    // (i0 by value, and the output through store(): a local of the tile that an
    // out-of-line lambda takes by reference lives in memory for the whole tile, which
    // made every kind's tiles 4-6 % slower)
    auto forms_first = [&, i0](Column& col) SIGPROP_OUT_OF_LINE {
      const idx_t j = col.j, lanes = col.lanes;
      PairAt* at = col.at;
      bool* left = col.left;
      bool any = false;
      // (before_series' forms: the pairs for threshold_near_one_kernel side by side,
      // threshold_near_one_kernels, each with the numbers it gets alone)
      NearOneColumn b;
      for (idx_t l = 0; l < lanes; ++l) {
        const idx_t i = i0 + l;
        const double kij = K[i * m + j], qi = K[i * m + i];
        // (c >= 1 at one variance, before_series' first case, without pair_at: for
        // q_i = q_j = q, sqrt(q * q) is q exactly (q^2 normal), so that c >= 1 where
        // K_ij >= q; a deep kernel's settled layers, every pair)
        if (qi == K[j * m + j] && kij >= qi && qi >= 1e-150 && qi <= 1e150) {
          store(i, j, thr[i].p);
          left[l] = false;
          continue;
        }
        if (!kernel_first(i, j)) {
          at[l].qi = -1.0;
          left[l] = any = true;
          continue;
        }
        // (set in place and kept there, not copied: a PairAt copied whole right after its
        // fields were stored, 16-byte loads of 8- and 1-byte stores, which no store
        // forwards, took a quarter of the tile's time in a deep kernel's layers)
        PairAt& p = at[l];
        set_pair_at(i, j, p);
        if (one_variance(i, j, p)) {
          left[l] = false;
          continue;
        }
        if (p.near_one) {  // (thr, kernel_first: near_one_form's pair)
          b.add(thr, l, i, j, p);
          continue;
        }
        left[l] = any = true;
      }
      b.run(a);
      for (int t = 0; t < b.n; ++t) {
        const idx_t l = b.lane[t];
        if (b.ok[t]) store(i0 + l, j, b.v[t]);
        left[l] = !b.ok[t];
        any = any || left[l];
      }
      if (!any) {
        col.lane = false;
        if (j < i0 + rows) pair(j, j);
      }
    };
    auto before_lanes = [&](Column& col) {
      const idx_t j = col.j, lanes = col.lanes;
      // (shifted_relu and soft_threshold: at c >= 0.99 the forms before the series
      // first, pair by pair, the lanes only where one of their pairs is left: a deep
      // kernel's pairs next to c = 1, which the series' first orders rarely certify;
      // below, where the lanes mostly certify, the lanes first, as for other kinds)
      // (below c = 0.99, kernel_first: the lane first, then every form, pair())
      bool first = false;
      if (thr) {
        const double sj = thr[j].s;
        const double* kc = K + i0 * m + j;
        for (idx_t l = 0; l < lanes; ++l) first = first || !(kc[l * m] < rs[l] * sj);
      }
      col.first = first;
      col.lane = true;
      if (first) forms_first(col);
    };
    // The lanes of NC columns js[c] at once (kernel_series_columns: their setups side by
    // side), into os[c], ks[c]
    auto lanes_of = [&](const idx_t* js, double* const* os, double* const* ks, auto nc) {
      constexpr int NC = decltype(nc)::value;
      const double* ys[NC];
      const double* kcs[NC];
      for (int c = 0; c < NC; ++c) {
        ys[c] = recs + size_t(src[js[c]]) * R;
        kcs[c] = K + i0 * m + js[c];
      }
      const double rt = detail::series_rtol;
      if (nb == 4 && S == 1)
        return detail::kernel_series_columns<4, 1, NC>(G, T, ys, kcs, m, rt, os, ks);
      else if (nb == 4)
        return detail::kernel_series_columns<4, 2, NC>(G, T, ys, kcs, m, rt, os, ks);
      else if (S == 1)
        return detail::kernel_series_columns<8, 1, NC>(G, T, ys, kcs, m, rt, os, ks);
      else
        return detail::kernel_series_columns<8, 2, NC>(G, T, ys, kcs, m, rt, os, ks);
    };
    // The lanes' pairs of a column without the forms before them: each certified one
    // stored, the others taken one at a time
    // (inlined: out of line, as GCC chose once after_lanes could call thr_left, every
    // kind's tiles took 7 % more instructions)
    auto lanes_done = [&](idx_t j, idx_t nl, const double* s8, const double* k8) SIGPROP_INLINED {
      for (idx_t l = 0; l < nl; ++l) {
        const idx_t i = i0 + l;
        if (k8[l] < 0) {
          pair(i, j, true);
        } else {
          const double v = b2 + w2 * s8[l];
          out[i * mm + j] = v;
          out[j * mm + i] = v;
        }
      }
      // A pair at c = 1 at one variance (K_ij >= q_i = q_j, the inputs of one source:
      // a repeated input) is before_series' first case, which a lane may have certified
      // at c = K_ij / (sqrt(q_i) sqrt(q_j)) one ulp below 1: the pair again as taken one
      // at a time, before_series first, so that its value does not depend on the order
      // of the inputs (before, it took the series in a lane and the one-point moment
      // one at a time: up to 5e-14 apart). (Only a column of a shared variance, src[j]
      // != j, can hold one.)
      if (src[j] != j)
        for (idx_t l = 0; l < nl; ++l) {
          const idx_t i = i0 + l;
          if (k8[l] >= 0 && src[i] == src[j] && K[i * m + j] >= K[i * m + i]) pair(i, j);
        }
    };
    // (shifted_relu and soft_threshold: the pairs below c = 0.99 that a column's lanes
    // left (a forms-first column's too), as `pair` takes them, their near-one forms side
    // by side
    // (threshold_near_one_kernels: the numbers each gets alone; a deep kernel's layers
    // while the variances settle, thousands of pairs at c ~ 0.8-0.99); the others as
    // lanes_done takes them. Out of line: inlined, it made every column's tile code 5-9 %
    // slower.)
    auto thr_left = [&, i0](const Column& col) SIGPROP_OUT_OF_LINE {
      const idx_t j = col.j;
      NearOneColumn b;
      // each lane: 0 served, 1 its lane certified it, 2 the rest of pair(i, j, true)
      int todo[rows];
      PairAt ps[rows];
      for (idx_t l = 0; l < col.lanes; ++l) {
        const idx_t i = i0 + l;
        todo[l] = 0;
        if (col.first && !col.left[l]) continue;  // (served before the lanes)
        if (col.k8[l] >= 0) {
          todo[l] = 1;
          continue;
        }
        if (col.first && col.at[l].qi >= 0.0) {  // (past the forms before the lanes)
          after_series(i, j, col.at[l], true);
          continue;
        }
        PairAt& p = ps[l];  // (in place, kept for b: see forms_first)
        set_pair_at(i, j, p);
        if (before_series(i, j, p)) continue;
        if (p.near_one && !kernel_first(i, j)) {
          b.add(thr, l, i, j, p);
          continue;
        }
        todo[l] = 2;
      }
      b.run(a);
      for (int t = 0; t < b.n; ++t) {
        const idx_t i = i0 + b.lane[t];
        if (b.ok[t])
          store(i, j, b.v[t]);
        else
          after_series(i, j, *b.p[t], true, true);
      }
      for (idx_t l = 0; l < col.lanes; ++l) {
        const idx_t i = i0 + l;
        if (todo[l] == 1) {
          store(i, j, col.s8[l]);
        } else if (todo[l] == 2) {
          after_series(i, j, pair_at(i, j), true);
        }
      }
      // (lanes_done's second pass: a repeated input's pair at c = 1)
      if (!col.first && src[j] != j)
        for (idx_t l = 0; l < col.lanes; ++l) {
          const idx_t i = i0 + l;
          if (col.k8[l] >= 0 && src[i] == src[j] && K[i * m + j] >= K[i * m + i]) pair(i, j);
        }
    };
    // (thr_left beside lanes_done, not folded into it: with the column as an argument
    // of lanes_done, the plain columns' tiles ran 4-8 % slower)
    auto after_lanes = [&](const Column& col) {
      const idx_t j = col.j;
      if (!col.first) {
        bool failed = false;
        if (thr)
          for (idx_t l = 0; l < col.lanes; ++l) failed = failed || col.k8[l] < 0;
        if (failed)
          thr_left(col);
        else
          lanes_done(j, col.lanes, col.s8, col.k8);
      } else {
        thr_left(col);  // (a forms-first column: thr)
      }
      if (j < i0 + rows) pair(j, j);
    };
    // Columns two at a time past the group's own (every lane a pair j > i): each
    // column's steps as one alone, the two columns' lanes in one call; every pair is
    // computed by the same code whatever its neighbours, so the entries do not change.
    // (Without the thresholds' forms before the lanes, straight from the records.)
    Column cols[2];
    for (idx_t j = j0; j < j1;) {
      const bool two = j >= i0 + rows && j + 1 < j1;
      if (two && !thr) {
        // (lanes_of's dispatch written out: through the lambda, 5 % slower tiles)
        double s2[2][rows], k2[2][rows];
        const double* ys[2] = {recs + size_t(src[j]) * R, recs + size_t(src[j + 1]) * R};
        const double* kcs[2] = {K + i0 * m + j, K + i0 * m + j + 1};
        double* os[2] = {s2[0], s2[1]};
        double* ks[2] = {k2[0], k2[1]};
        const double rt = detail::series_rtol;
        bool failed;
        if (ext && gr.extended) {
          const idx_t js[2] = {j, j + 1};
          lanes8(js, os, ks, 2);
          failed = false;
        } else if (nb == 4 && S == 1)
          failed = detail::kernel_series_columns<4, 1, 2>(G, T, ys, kcs, m, rt, os, ks);
        else if (nb == 4)
          failed = detail::kernel_series_columns<4, 2, 2>(G, T, ys, kcs, m, rt, os, ks);
        else if (S == 1)
          failed = detail::kernel_series_columns<8, 1, 2>(G, T, ys, kcs, m, rt, os, ks);
        else
          failed = detail::kernel_series_columns<8, 2, 2>(G, T, ys, kcs, m, rt, os, ks);
        if (ext && failed) {
          const idx_t js[2] = {j, j + 1}, nl[2] = {rows, rows};
          ext_lanes(js, nl, os, ks, 2);
        }
        lanes_done(j, rows, s2[0], k2[0]);
        lanes_done(j + 1, rows, s2[1], k2[1]);
        j += 2;
        continue;
      }
      const int nc = two ? 2 : 1;
      for (int c = 0; c < nc; ++c) {
        cols[c].j = j + c;
        cols[c].lanes = std::min(rows, j + c - i0);
        before_lanes(cols[c]);
      }
      if (two && cols[0].lane && cols[1].lane) {
        const idx_t js[2] = {cols[0].j, cols[1].j};
        double* os[2] = {cols[0].s8, cols[1].s8};
        double* ks[2] = {cols[0].k8, cols[1].k8};
        if (ext && gr.extended) {
          lanes8(js, os, ks, 2);
        } else if (lanes_of(js, os, ks, std::integral_constant<int, 2>{}) && ext) {
          const idx_t nl[2] = {cols[0].lanes, cols[1].lanes};
          ext_lanes(js, nl, os, ks, 2);
        }
      } else {
        for (int c = 0; c < nc; ++c)
          if (cols[c].lane) {
            double* os[1] = {cols[c].s8};
            double* ks[1] = {cols[c].k8};
            if (ext && gr.extended)
              lanes8(&cols[c].j, os, ks, 1);
            else if (lanes_of(&cols[c].j, os, ks, std::integral_constant<int, 1>{}) && ext)
              ext_lanes(&cols[c].j, &cols[c].lanes, os, ks, 1);
          }
      }
      for (int c = 0; c < nc; ++c)
        if (cols[c].lane) after_lanes(cols[c]);
      j += nc;
    }
  };
  // A tile may be cut short where a pair builds a segment of the near-diagonal table
  // (0.1-1 s, restartable): its short pairs are counted once it is done.
  return parallel_for(
      end - begin, n_threads,
      [&](idx_t t) {
        tile_short = 0;
        const bool done = restartable(stop, [&] {
          idx_t i0, j0, j1;
          tiles.locate(begin + t, i0, j0, j1);
          const idx_t i1 = std::min(m, i0 + rows);
          if (series && i1 - i0 == rows) {
            series_tile(i0, j0, j1);
          } else {
            for (idx_t j = j0; j < j1; ++j)
              for (idx_t i = i0; i < i1 && i <= j; ++i) pair(i, j);
          }
        });
        if (done && tile_short > 0 && short_count)
          short_count->fetch_add(tile_short, std::memory_order_relaxed);
        return done;
      },
      stop, kernel_tile_chunk);
}

// The KernelInputs of a layer of m inputs on the calling thread: its last layer's, kept
// up to 2048 inputs (44 MB), else `local`. Allocated afresh, the expansions' pages are
// faulted in again on every layer (glibc returns large freed blocks to the system): a
// third of a tanh kernel's time through the binding; through kernel_layer, 100 inputs,
// depth 10, one thread, 5.2 ms for tanh and 2.8 ms for soft_threshold, 1.05 and 2.1 ms
// kept.
inline KernelInputs& thread_kernel_inputs(idx_t m, KernelInputs& local) {
  static thread_local KernelInputs pool;
  return m <= 2048 ? pool : local;
}

inline void kernel_layer(const Activation& a, const double* K, idx_t m, double sw2, double sb2,
                         double* Kout, int n_threads) {
  KernelInputs local;
  KernelInputs& in = thread_kernel_inputs(m, local);
  kernel_expansions(a, K, m, in, 0, m, n_threads);
  kernel_table(a, K, m, in, n_threads);
  const KernelTiles tiles(m, kernel_tile_width(a, K, m));
  kernel_layer_tiles(a, K, m, sw2, sb2, in, Kout, tiles, 0, tiles.size(), n_threads);
}

}  // namespace grid
}  // namespace sigprop
