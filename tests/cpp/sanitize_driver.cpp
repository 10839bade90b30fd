// Sanitizer driver for the header-only core (no Python): every grid kernel of
// every built-in activation over ordinary and extreme inputs (0, subnormal,
// 1e300, NaN), run serially and then concurrently from several std::threads on
// shared activations (the moment-table caches are built lazily under a lock).
// Built by tests/cpp/CMakeLists.txt with ASan+UBSan or TSan; run through
// scripts/sanitize.sh. Exit status 0: no sanitizer report and the concurrent
// results equal the serial ones bitwise, as do results computed in blocks cut
// short by deadlines, kernel layers whose table segments' builds were cut short, and
// pairs from remainder tables built by several threads at once.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

#include "sigprop/grid.hpp"

using namespace sigprop;
using grid::idx_t;

namespace {

// A user-defined activation as python/sigprop/theory/custom.py registers one: a smooth hard
// tanh, (3x - x^3) / 2 on [-1, 1] and +-1 beyond (C^1, no kink), as Chebyshev pieces of
// phi, phi' and phi'' on [-2^20, -1], [-1, 1], [1, 2^20] (constant beyond: the affine
// tails). Returns its registry id.
double register_custom() {
  const double L = 1048576.0;
  std::vector<std::vector<double>> coefs[3];
  coefs[0] = {{-1.0}, {0.0, 1.125, 0.0, -0.125}, {1.0}};  // (3x - x^3) / 2 in T_k(x)
  coefs[1] = {{0.0}, {0.75, 0.0, -0.75}, {0.0}};           // 3 (1 - x^2) / 2
  coefs[2] = {{0.0}, {0.0, -3.0}, {0.0}};                  // -3 x
  CustomActivation::Flags flags;
  flags.odd = true;
  flags.dphi_one_signed = true;
  return double(CustomRegistry::instance().add(std::make_unique<const CustomActivation>(
      std::vector<double>{-L, -1.0, 1.0, L}, coefs, std::vector<double>{}, flags)));
}

// Every built-in kind at p0 = 1e-8, 1 and 2.6 (every kind accepts p0 > 0); the built-ins
// without a parameter, which never read p0, at p0 = 1 alone (the other two ran the same
// work again under separate caches: a third of the driver's time under ASan). The custom
// kind: a registered activation (register_custom), an id never registered and one out
// of range (NaN everywhere: 35 s of the driver under ASan until quad::integrate stopped
// at an integrand's NaN).
std::vector<Activation> activations() {
  std::vector<Activation> out;
  for (int k = 0; k < n_kinds; ++k) {
    const Kind kind = static_cast<Kind>(k);
    if (kind == Kind::custom) {
      const double id = register_custom();
      for (double p : {id, id + 1.0, 1e-8}) out.push_back(Activation{kind, p, 0.0});
      continue;
    }
    if (k < n_builtin_kinds && builtins[k].n_params == 0) {
      out.push_back(Activation{kind, 1.0, 0.0});
      continue;
    }
    for (double p : {1e-8, 1.0, 2.6}) out.push_back(Activation{kind, p, 0.0});
  }
  return out;
}

const std::vector<double> kQ = {0.0, 5e-324, 1e-310, 1e-100, 1e-16, 1e-3, 0.5, 1.0,
                                3.0, 100.0, 1e8, 1e20};
const std::vector<double> kC = {-1.0, 0.0, 0.3, 1.0};
const std::vector<double> kS = {0.0, 1e-8, 1.0, 3.0};

std::vector<std::uint64_t> raw_bits(const std::vector<double>& x) {
  std::vector<std::uint64_t> bits(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) std::memcpy(&bits[i], &x[i], 8);
  return bits;
}

// All kernels of one activation; returns a checksum vector of the raw bits.
std::vector<std::uint64_t> run_all(const Activation& a) {
  std::vector<double> out;
  const idx_t nq = idx_t(kQ.size());
  std::vector<double> m1(nq), m2(nq), m3(nq), m4(nq), m5(nq);
  grid::moments(a, kQ.data(), nq, m1.data(), m2.data(), m3.data(), m4.data(), m5.data(), 1);
  out.insert(out.end(), m2.begin(), m2.end());
  std::vector<double> q1, q2, c, sw, sb;
  for (double x : kQ)
    for (double y : {0.0, 1e-16, 1.0})
      for (double r : kC) {
        if (x > 1e4) continue;  // keep the driver fast under sanitizers
        q1.push_back(x);
        q2.push_back(y);
        c.push_back(r);
      }
  q1.push_back(1.0);
  q2.push_back(1.0);
  c.push_back(std::numeric_limits<double>::quiet_NaN());
  const idx_t nb = idx_t(q1.size());
  std::vector<double> b0(nb), b1(nb);
  grid::bivariate(a, 0, q1.data(), q2.data(), c.data(), nb, b0.data(), 1);
  grid::bivariate(a, 1, q1.data(), q2.data(), c.data(), nb, b1.data(), 1);
  out.insert(out.end(), b0.begin(), b0.end());
  out.insert(out.end(), b1.begin(), b1.end());
  // The same cells in blocks cut short by deadlines (as the Python bindings run
  // them): each call returns its leading cells done; the rest start the next call.
  std::vector<double> blocked(nb);
  for (idx_t begin = 0, calls = 0; begin < nb; ++calls) {
    const Deadline stop(calls % 2 ? 0.0 : 1e-4);
    const idx_t done = grid::bivariate(a, 1, q1.data() + begin, q2.data() + begin,
                                       c.data() + begin, nb - begin, blocked.data() + begin, 1,
                                       false, nullptr, &stop);
    if (done < 1 || done > nb - begin) {
      std::printf("sanitize_driver: a blocked call did %td of %td cells\n", done, nb - begin);
      std::abort();
    }
    begin += done;
  }
  if (std::memcmp(blocked.data(), b1.data(), sizeof(double) * std::size_t(nb)) != 0) {
    std::printf("sanitize_driver: blocked and unblocked results differ\n");
    std::abort();
  }
  for (double x : kS)
    for (double y : kS) {
      sw.push_back(x);
      sb.push_back(y);
    }
  const idx_t nf = idx_t(sw.size());
  std::vector<double> fq(nf), chi(nf), sl(nf), cs(nf), chic(nf), xq(nf), xc(nf), bq(nf);
  std::vector<std::int32_t> st(nf), it(nf);
  const grid::FixedPointArrays o{fq.data(), st.data(), it.data(), chi.data(), sl.data(),
                                 cs.data(), chic.data(), xq.data(), xc.data(), bq.data()};
  grid::fixed_points(a, sw.data(), sb.data(), nullptr, nf, true, o, 1);
  out.insert(out.end(), fq.begin(), fq.end());
  out.insert(out.end(), cs.begin(), cs.end());
  const idx_t ne = idx_t(kS.size());
  std::vector<double> esw(ne * eoc_max_branches), eq(esw.size()), es(esw.size());
  std::vector<std::int32_t> ek(esw.size()), en(ne);
  grid::eoc(a, kS.data(), ne, esw.data(), eq.data(), es.data(), ek.data(), en.data(), 1);
  out.insert(out.end(), esw.begin(), esw.end());
  const double K[9] = {1.0, 0.3, 0.0, 0.3, 2.0, 1e-9, 0.0, 1e-9, 1e-9};
  double Ko[9];
  grid::kernel_layer(a, K, 3, 1.5 * 1.5, 0.01, Ko, 1);
  out.insert(out.end(), Ko, Ko + 9);
  // 19 inputs: two full groups of eight rows, whose pairs past the group's own columns
  // go eight at a time (kernel_series_column), and a short group
  constexpr idx_t mk = 19;
  std::vector<double> K19(mk * mk), K19o(mk * mk);
  for (idx_t i = 0; i < mk; ++i)
    for (idx_t j = 0; j < mk; ++j) {
      const double si = 0.3 + 0.1 * double(i), sj = 0.3 + 0.1 * double(j);
      K19[i * mk + j] = si * sj * (i == j ? 1.0 : 0.9 * std::cos(0.37 * double(i - j)));
    }
  grid::kernel_layer(a, K19.data(), mk, 1.5 * 1.5, 0.01, K19o.data(), 1);
  out.insert(out.end(), K19o.begin(), K19o.end());
  // 10 inputs deep in the ordered phase: variances 9.4-9.6 (one near-diagonal table
  // segment), c next to 1: the anchored tails off the diagonal (offdiagonal_series,
  // difference_tail) and, for softsign and linear_region_tanh, near_diagonal_pair
  constexpr idx_t mo = 10;
  std::vector<double> Kord(mo * mo), Kordo(mo * mo);
  for (idx_t i = 0; i < mo; ++i)
    for (idx_t j = 0; j < mo; ++j) {
      const double si = std::sqrt(9.4 + 0.02 * double(i)), sj = std::sqrt(9.4 + 0.02 * double(j));
      Kord[i * mo + j] = si * sj * (i == j ? 1.0 : 1.0 - 1e-4 * (1.0 + 0.3 * double(i + j)));
    }
  grid::kernel_layer(a, Kord.data(), mo, 1.0, 9.0, Kordo.data(), 1);
  out.insert(out.end(), Kordo.begin(), Kordo.end());
  // 24 inputs further out (sigma_b = 12): variances 150-150.015, past the saturating
  // kinds' near-diagonal table, 1 - c in [1e-4, 3e-3]: the layer table's build (276
  // pairs, ~250 nodes) and its pairs (layer_table.hpp); not for the custom kind, whose
  // layer table these 276 pairs do not repay (fewer than its nodes: a node costs what a
  // pair does) and whose pairs there take the trapezoid rule, which declines (this phi''
  // jumps at +-1, no kink declared: 3-6 ms), then the principal-axes quadrature, ~15 ms
  // each (10 s of the driver without sanitizers)
  if (a.kind == Kind::custom) return raw_bits(out);
  constexpr idx_t mt = 24;
  std::vector<double> Kt(mt * mt), Kto(mt * mt);
  for (idx_t i = 0; i < mt; ++i)
    for (idx_t j = 0; j < mt; ++j) {
      const double si = std::sqrt(150.0 + 6e-4 * double(i));
      const double sj = std::sqrt(150.0 + 6e-4 * double(j));
      Kt[i * mt + j] = si * sj * (i == j ? 1.0 : 1.0 - 1e-4 * (1.0 + 0.6 * double(i + j)));
    }
  grid::kernel_layer(a, Kt.data(), mt, 1.0, 144.0, Kto.data(), 1);
  out.insert(out.end(), Kto.begin(), Kto.end());
  return raw_bits(out);
}

// A kernel layer in blocks of tiles as the bindings run it (expansions, table, tiles), each
// block cut short by a 30 ms deadline, with n_threads OpenMP threads (1 under TSan).
std::vector<double> blocked_layer(const Activation& a, const std::vector<double>& K, idx_t m,
                                  double sw2, double sb2, int n_threads) {
  grid::KernelInputs in;
  std::vector<double> out(K.size());
  grid::kernel_expansions(a, K.data(), m, in, 0, m, n_threads);
  const idx_t units = grid::kernel_table_plan(a, K.data(), m, in, n_threads);
  if (units > 0) {
    grid::kernel_table_build(in, 0, units, n_threads);
    in.table.finish();
  }
  const grid::KernelTiles tiles(m, grid::kernel_tile_width(a, K.data(), m));
  for (idx_t b = 0; b < tiles.size();) {
    const Deadline stop(0.03);
    const idx_t done = grid::kernel_layer_tiles(a, K.data(), m, sw2, sb2, in, out.data(), tiles, b,
                                                tiles.size(), n_threads, &stop);
    if (done < 0 || done > tiles.size() - b) std::abort();
    b += done;
  }
  return out;
}

// The near-diagonal table's segments built while kernel tiles run in blocks from several
// std::threads, every build cut short after each of its nodes (BuildLimits 0: the tiles that
// need a segment are done again block after block while it goes on, and threads take the
// build over from each other): softsign's and linear_region_tanh's pairs deep in the
// ordered phase (near_diagonal_pair), cold tables, against the same layer computed warm
// in one call. Returns the mismatches.
int cut_short_builds(int n_threads) {
  constexpr idx_t m = 24;
  std::vector<double> K(m * m);
  for (idx_t i = 0; i < m; ++i)
    for (idx_t j = 0; j < m; ++j) {
      const double si = std::sqrt(9.4 + 0.02 * double(i)), sj = std::sqrt(9.4 + 0.02 * double(j));
      K[i * m + j] = si * sj * (i == j ? 1.0 : 1.0 - 1e-4 * (1.0 + 0.3 * double(i + j)));
    }
  auto& limits = detail::build_limits();
  const double hold = limits.hold_s.exchange(0.0), min = limits.min_s.exchange(0.0);
  int bad = 0;
  for (const Activation a :
       {Activation{Kind::softsign, 1.0, 0.0}, Activation{Kind::linear_region_tanh, 1.0, 0.0}}) {
    detail::NearDiagonalTableCache::instance().clear_all();
    std::vector<std::vector<double>> cut(static_cast<size_t>(n_threads));
    std::vector<std::thread> pool;
    for (int t = 0; t < n_threads; ++t)
      pool.emplace_back([&, t] { cut[size_t(t)] = blocked_layer(a, K, m, 1.0, 9.0, 1); });
    for (auto& th : pool) th.join();
    std::vector<double> warm(K.size());
    grid::kernel_layer(a, K.data(), m, 1.0, 9.0, warm.data(), 1);
    for (const auto& c : cut)
      if (std::memcmp(c.data(), warm.data(), sizeof(double) * warm.size()) != 0) ++bad;
  }
  limits.hold_s.store(hold);
  limits.min_s.store(min);
  return bad;
}

// The remainder tables whose nodes the engine evaluates (remainder_table.hpp), built afresh
// by one thread and then by several at once (each segment by whichever thread first needs
// it, the others waiting; its nodes through the dispatch with the tables off): single
// pairs of elu's tables next to c = 1 and c = -1 and softsign's, two segments each, the
// same numbers. Returns the mismatches.
int remainder_table_builds(int n_threads) {
  const Activation acts[2] = {Activation{Kind::elu, 1.0, 0.0},
                              Activation{Kind::softsign, 0.0, 0.0}};
  const double pairs[4][3] = {{30.0, 31.0, 1.0 - 2e-6},
                              {31.0, 30.5, 1.0 - 7e-6},
                              {300.0, 310.0, 1.0 - 3e-4},
                              {320.0, 300.0, -1.0 + 5e-4}};
  auto run = [&](int first) {
    std::vector<double> v;
    for (int k = 0; k < 2; ++k)
      for (int d = 0; d < 2; ++d)
        for (int i = 0; i < 4; ++i) {
          const double* p = pairs[(i + first) % 4];
          v.push_back(bivariate(acts[(k + first) % 2], d, p[0], p[1], p[2]));
        }
    // (in the serial order, whichever order they ran in)
    std::vector<double> out(v.size());
    for (int k = 0, n = 0; k < 2; ++k)
      for (int d = 0; d < 2; ++d)
        for (int i = 0; i < 4; ++i, ++n)
          out[((k + first) % 2) * 8 + d * 4 + (i + first) % 4] = v[n];
    return out;
  };
  detail::RemainderTableCache::instance().clear_all();
  const std::vector<double> serial = run(0);
  detail::RemainderTableCache::instance().clear_all();
  std::vector<std::vector<double>> got(static_cast<size_t>(n_threads));
  std::vector<std::thread> pool;
  for (int t = 0; t < n_threads; ++t) pool.emplace_back([&, t] { got[size_t(t)] = run(t); });
  for (auto& th : pool) th.join();
  int bad = 0;
  for (const auto& g : got)
    if (std::memcmp(g.data(), serial.data(), sizeof(double) * serial.size()) != 0) ++bad;
  return bad;
}

}  // namespace

int main(int argc, char** argv) {
  const int n_threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const auto acts = activations();
  std::vector<std::vector<std::uint64_t>> serial(acts.size());
  for (std::size_t i = 0; i < acts.size(); ++i) serial[i] = run_all(acts[i]);
  // Concurrent: every thread runs every activation, in a different order, so the
  // lazily built caches are created and read by several threads at once.
  std::vector<int> bad(n_threads, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < n_threads; ++t)
    pool.emplace_back([&, t] {
      for (std::size_t j = 0; j < acts.size(); ++j) {
        const std::size_t i = (j * 7 + std::size_t(t) * 13) % acts.size();
        if (run_all(acts[i]) != serial[i]) ++bad[t];
      }
    });
  for (auto& th : pool) th.join();
  int total = 0;
  for (int b : bad) total += b;
  std::printf("sanitize_driver: %zu activations x %d threads, %d mismatches\n", acts.size(),
              n_threads, total);
  const int cut = cut_short_builds(n_threads);
  std::printf("sanitize_driver: table builds cut short, %d threads: %d mismatches\n", n_threads,
              cut);
  const int rt = remainder_table_builds(n_threads);
  std::printf("sanitize_driver: remainder tables built by %d threads at once: %d mismatches\n",
              n_threads, rt);
  return total == 0 && cut == 0 && rt == 0 ? 0 : 1;
}
