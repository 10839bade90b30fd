// Two-point expectations of softsign, phi(x) = x / (1 + |x|), next to c = 1 at large
// variances, where the Mehler series cannot reach (its orders stop at 512; at q ~ 1e3
// and c ~ 0.95-0.999 it would need thousands) and the principal-axes quadrature
// (near_diagonal.hpp) costs 2-8 ms a pair.
//
// Method: the conditional form in logarithmic coordinates. For (u, v) centred normal
// with standard deviations s1 <= s2 and correlation c > 0, v given u is normal with mean
// m = a u (a = c s2 / s1) and spread w = s2 sqrt(1 - c^2). phi is odd and phi' even,
// so (npdf1(u) = npdf(u / s1) / s1)
//   E[phi(u) phi(v)]   = 2 int_0^inf phi(u) npdf1(u) S(a u) du,   S(m) = E[phi(m + w T)],
//   E[phi'(u) phi'(v)] = 2 int_0^inf phi'(u) npdf1(u) S'(a u) du, S'(m) = E[phi'(m + w T)].
// With r = phi - sign (odd, r(y) = -1 / (1 + y) on y > 0) and m >= 0,
//   S(m) = erf(m / (sqrt(2) w)) - int_0^inf (g(y - m) - g(y + m)) dy / (1 + y),
//   S'(m) = int_0^inf (g(y - m) + g(y + m)) dy / (1 + y)^2,   g(x) = npdf(x / w) / w.
// The 1 / (1 + y) factors make these integrals slow for a plain rule (an algebraic
// tail, a pole at y = -1 next to the range when w is wide); in sigma = log((1 + y) /
// (1 + ya)) on a panel [ya, yb], dy / (1 + y) = d sigma and the integrand is the
// density alone, an entire function of sigma. The panels: [max(0, m - 9 w), m + 9 w]
// cut at m and m +- 4.5 w, each cut again into pieces of length <= 1 in sigma, on
// Gauss-Legendre rules of 20 and 16 nodes (against 30-digit mpmath at 300 random (m, w),
// w in [1e-4, 160], m in [1e-3, 1e3] and within 10 w of 0: the 16-node sums within
// 2e-15 of 1 / (1 + m) (4.5e-15 of 1 / (1 + m)^2 for phi'), the 14-node ones 3e-13).
// Where m >= 12 w the density lies on y > 0 beyond 12 of its widths, and so does the
// pole of 1 / (1 + y) and its square: there the whole Gaussian on a 30-node
// Gauss-Hermite rule (within 4e-16 relative at 12-300 widths, w from 1e-3 to 100).
// On 0 <= m <= 12 w, S and S' are read from a process-wide table over w in [1e-2, 1e4]
// (smoothing_table.hpp: ~0.5 us a pair, built in ~0.1 s on first use) where its error
// bound allows; else, where the outer integral takes most of its nodes there
// (sqrt(1 - c^2) / c >= 1/24), tabled for the pair as Chebyshev interpolants of degree
// 64 (cheb::LobattoTable: 65 values of the panels' sums, 100-200 us, instead of the
// 150-400 at 1-4 us each that the outer integral asks for). Where the spread is narrow
// (w <= ~0.02), S and S' on 0 <= m <= 12 w come from softsign's power series about its
// kink instead, each piece's smoothing a truncated normal moment
// (softsign_series_smoothing: ~50 ns a node, with a bound on the remainder; next to the
// diagonal, 1 - c below ~1e-5 at q ~ 10, 0.25-0.4 ms -> 15-30 us a pair). The outer
// integral is adaptive Gauss-Kronrod in t = log(1 + u) (where phi(u) du = u dt and phi'(u) du =
// dt / (1 + u) = e^-t dt are entire: no kink, phi's scale 1 gone, the scales s1 and
// w / a compressed to logarithms), on a mesh with breakpoints on those two. (Breakpoints
// on phi's scale as well, u = 0.5 to 25, cost 15-27 nodes a pair for nothing.)
//
// Accuracy. The inner rules are carried as two components, 20 and 16 nodes a panel;
// the result (20) is accepted where the 16-node one is within a twentieth of the
// tolerance of it. Elsewhere false, and the caller's quadrature serves. (From the
// process-wide table, whose segments hold the two rules within 2e-14 of the table's
// scale at every node, one component: accepted where the table's bound, carried through
// the outer integral, is below half the tolerance. Against the pair's own table, at
// 8096 random pairs a derivative order, half of them next to |c| = 1: within 1.8e-15
// of the scale.) Against the principal-axes quadrature held to 1e-15 of the scale, at
// 700 random pairs (q1, q2 log-uniform in [1e-3, 1e4], 1 - c log-uniform in [1e-12,
// 0.5], on and off the diagonal; before the process-wide table): all accepted, within
// 2.8e-15 of the scale; against the conditional nested quadrature
// (scripts/saturating_accuracy.py) within its ~1e-13; the 30-digit references of
// tests/data/reference_2d_large_q.json hold it to 1e-13.
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>

#include "activation.hpp"
#include "chebyshev.hpp"
#include "gauss_hermite.hpp"
#include "gauss_legendre.hpp"
#include "quadrature.hpp"
#include "smoothing_table.hpp"
#include "special.hpp"
#include "table_cache.hpp"

namespace sigprop {

namespace detail {

// The images' integral on y > 0 for the density's centre m >= 0 and spread w (see
// above): d = 0: int_0^inf (g(y - m) - g(y + m)) dy / (1 + y); d = 1: int_0^inf (g(y -
// m) + g(y + m)) dy / (1 + y)^2; on the 20- and 16-node panels into out[0], out[1].
inline void softsign_images(int d, double m, double w, double* out) {
  using namespace special;
  const double iw = 1.0 / w;
  if (m >= 12.0 * w) {  // the whole Gaussian, far from 0 and from the pole at -1
    auto k = [d](double v) {  // 1 / v, or its square, at v = 1 + y
      const double p = 1.0 / v;
      return d == 0 ? p : p * p;
    };
    out[0] = out[1] = quad::hermite_mean(k, 1.0 + m, w, quad::herm30_x, quad::herm30_w, 15);
    return;
  }
  const double k2 = 2.0 * iw * iw, lo = std::fmax(0.0, m - 9.0 * w), hi = m + 9.0 * w;
  double yb[5];
  const int nb = quad::density_cuts(lo, hi, m, w, yb);
  double s20 = 0.0, s16 = 0.0;
  for (int p = 0; p + 1 < nb; ++p) {
    const double ya = yb[p], L = std::log1p((yb[p + 1] - ya) / (1.0 + ya));
    const int ns = std::max(1, static_cast<int>(std::ceil(L)));
    // z = (y - m) / w = off + sc expm1(sigma), y = ya + (1 + ya) expm1(sigma): the
    // offset exact where ya is a cut near m (no rounding of y near m to lose)
    const double off = (ya - m) * iw, sc = (1.0 + ya) * iw, h = 0.5 * L / ns;
    // expm1 at the nodes c +- h x_i of the ns pieces, without cancellation:
    // expm1(c + x) = expm1(c) + e^c expm1(x), the expm1(+-h x_i) shared by the pieces
    double p20[10], n20[10], p16[8], n16[8];
    for (int i = 0; i < 10; ++i) {
      p20[i] = std::expm1(h * quad::xgl20[i]);
      n20[i] = -p20[i] / (1.0 + p20[i]);
    }
    for (int i = 0; i < 8; ++i) {
      p16[i] = std::expm1(h * quad::xgl16[i]);
      n16[i] = -p16[i] / (1.0 + p16[i]);
    }
    auto node = [&](double e) {  // e = expm1(sigma)
      const double y = ya + (1.0 + ya) * e, b = k2 * y * m;
      const double img = b > 40.0 ? 1.0 : d == 0 ? -std::expm1(-b) : 1.0 + std::exp(-b);
      const double f = npdf(off + sc * e) * img;
      return d == 0 ? f : f / ((1.0 + ya) * (1.0 + e));
    };
    double t20 = 0.0, t16 = 0.0;
    for (int q = 0; q < ns; ++q) {
      const double ec = std::expm1((2 * q + 1) * h), gc = 1.0 + ec;
      for (int i = 0; i < 10; ++i)
        t20 += quad::wgl20[i] * (node(ec + gc * n20[i]) + node(ec + gc * p20[i]));
      for (int i = 0; i < 8; ++i)
        t16 += quad::wgl16[i] * (node(ec + gc * n16[i]) + node(ec + gc * p16[i]));
    }
    s20 += h * t20;
    s16 += h * t16;
  }
  out[0] = s20 * iw;
  out[1] = s16 * iw;
}

// S(m) = E[phi(m + w T)] (d = 0: sign's erf less the images) or S'(m) = E[phi'(m + w T)]
// (d = 1), m >= 0, from each inner rule: out[0] from the 20-node panels, out[1] from the
// 16-node ones.
inline void softsign_smoothing(int d, double m, double w, double* out) {
  softsign_images(d, m, w, out);
  if (d == 0) {
    const double e = std::erf(m * (1.0 / (std::sqrt(2.0) * w)));
    out[0] = e - out[0];
    out[1] = e - out[1];
  }
}

// S (d = 0) or S' (d = 1) at the centre 0 <= m and spread w > 0 from softsign's power
// series about 0 (small_variance.hpp), where the Gaussian stays well inside its radius
// 1: phi(x) = sum_{k<K} (-1)^k x |x|^k + R (|R| <= |x|^(K+1)), phi'(x) = sum_{k<K} (k + 1)
// (-|x|)^k + R (|R| <= (K + 1) |x|^K), each piece's smoothing a truncated normal moment
// T_j(mu) = E[X^j 1(X > 0)], X ~ N(mu, w^2) (T_0 = Phi(mu / w), T_1 = mu T_0 + w
// npdf(mu / w), T_j = mu T_(j-1) + (j - 1) w^2 T_(j-2)):
//   S = sum_{k<K} (-1)^k (T_(k+1)(m) - T_(k+1)(-m)),  S' = sum_{k<K} (k + 1) (-1)^k
//   (T_k(m) + T_k(-m)) (= E|X|^k).
// The remainder's expectation, by Minkowski (||X||_j <= m + w ||T||_j, ||T||_j <=
// sqrt(j + 1)): E|X|^j <= x^j with x = m + w sqrt(98) for every j <= 97. K is the least
// order that puts the bound below eps (absolute); false beyond 96 orders (x past ~0.7).
// A few dozen multiply-adds and one erfc, where the panels of softsign_images take ~2-3
// us: the outer integral's nodes next to the smoothed kink (m <= 12 w) at a narrow
// conditional spread (w <~ 0.02: 1 - c below ~1e-5 at q ~ 10), 60-120 of them a pair,
// each on the panels before.
inline bool softsign_series_smoothing(int d, double m, double w, double eps, double& out) {
  using namespace special;
  constexpr int k_max = 96;
  const double x = m + w * std::sqrt(double(k_max + 2));
  if (!(x < 1.0)) return false;
  int K = 0;
  double xk = d == 0 ? x : 1.0;  // x^j, j = k + 1 (phi) or k (phi'), the remainder's power
  for (int k = 1; k <= k_max; ++k) {
    xk *= x;
    if ((d == 0 ? 1.0 : k + 1.0) * xk <= eps) {
      K = k;
      break;
    }
  }
  if (K == 0) return false;
  const double r = m / w, far = 0.5 * std::erfc(r * (1.0 / std::sqrt(2.0))), e = w * npdf(r);
  const double ww = w * w;
  // T_j(m) (p) and T_j(-m) (n), j = 0, 1
  double p0 = 1.0 - far, n0 = far, p1 = m * p0 + e, n1 = -m * n0 + e;
  // phi: pieces j = k + 1 = 1..K, sign (-1)^(j-1), T_j(m) - T_j(-m); phi': pieces j = k =
  // 0..K-1, weight (j + 1) (-1)^j, T_j(m) + T_j(-m)
  double sum = d == 0 ? p1 - n1 : p0 + n0 - 2.0 * (p1 + n1);
  const int top = d == 0 ? K : K - 1;
  for (int j = 2; j <= top; ++j) {
    const double p2 = m * p1 + double(j - 1) * ww * p0, n2 = -m * n1 + double(j - 1) * ww * n0;
    const double sgn = j % 2 == 0 ? -1.0 : 1.0;  // (-1)^(j-1)
    sum += d == 0 ? sgn * (p2 - n2) : -sgn * double(j + 1) * (p2 + n2);
    p0 = p1;
    p1 = p2;
    n0 = n1;
    n1 = n2;
  }
  out = sum;
  return std::isfinite(out);
}

// S and S' over spreads w in [1e-2, 1e4], tabled once per process (smoothing_table.hpp;
// m in [0, 12 w], one part: S is monotone in m there, S increasing from 0, S'
// decreasing). In a TableCache (keyed on softsign) so that clear_tables frees them.
struct SoftsignTables {
  std::unique_ptr<SmoothingTable> table[2];
  explicit SoftsignTables(const Activation&) {
    for (int d = 0; d < 2; ++d)
      table[d].reset(new SmoothingTable(
          [d](double m, double w, double* out) {
            softsign_smoothing(d, m, w, out);
            out[2] = 0.0;
          },
          [](double w) { return 12.0 * w; }, [](double w) { return 12.0 * w; }, -2.0, 4.0, 12.0,
          0.0, true));
  }
};
using SoftsignTableCache = TableCache<SoftsignTables, 1>;

inline const SmoothingTable& softsign_table(int d) {
  return *SoftsignTableCache::fetch(Activation{Kind::softsign, 0.0, 0.0})->table[d];
}

// E[f(u) f(v)] of softsign (f = phi, d = 0; phi', d = 1) by the form above, for
// standard deviations s1 <= s2 and 1/2 <= c < 1, to absolute tolerance atol; false where
// it cannot certify its result (out untouched). norm1 >= sqrt(E f(u)^2) (0: unknown),
// which bounds the share of the process-wide table's error: where that is below
// atol / 2 (the outer quadrature's below atol / 4), S is read from the table
// (softsign_table); else it is tabled for the pair.
inline bool softsign_conditional(int d, double s1, double s2, double c, double atol, double& out,
                                 double norm1 = 0.0) {
  using namespace special;
  const double a = c * s2 / s1, w = s2 * std::sqrt((1.0 - c) * (1.0 + c));
  if (!(w > 0.0) || !std::isfinite(a) || !std::isfinite(w)) return false;
  quad::Mesh mesh;
  mesh.lo = 0.0;
  mesh.hi = std::log1p(9.0 * s1);
  for (double b : {0.5, 1.0, 2.0, 3.5, 5.5}) mesh.add(std::log1p(b * s1));  // u's
  for (double b : {0.5, 2.0, 6.0, 12.0}) mesh.add(std::log1p(b * w / a));   // S's
  mesh.finish();
  const double span = 12.0 * w;
  // From the process-wide table, where its error bound, carried through the outer
  // integral (|int f(u) p(u) dS| <= E[|f(u)|; |a u| <= M] sup |dS|, with |f| <= 1:
  // SmoothingTable::error_weight), is below atol / 2: the two components then agree
  // beyond span (one Gauss-Hermite rule there) and inside it, so that one is integrated.
  SmoothingTable::At g;
  if (norm1 > 0.0 && softsign_table(d).at(w, g) &&
      SmoothingTable::error_weight(norm1, 1.0, g.M / a, s1) * g.bound <= 0.5 * atol) {
    // (a piece's 15 nodes at once: their Clenshaw sums side by side, quad::Batched)
    auto f = quad::batched([&](const double* t, double* y, int n) {
      double u[15], m[15], S[15];
      for (int i = 0; i < n; ++i) {
        u[i] = std::expm1(t[i]);
        m[i] = a * u[i];
      }
      g.eval_or(m, n, S, [&](double mb) {  // (beyond the table: one Gauss-Hermite rule)
        double Sd[2];
        softsign_smoothing(d, mb, w, Sd);
        return Sd[0];
      });
      for (int i = 0; i < n; ++i) {
        const double p = npdf(u[i] / s1) / s1;
        y[i] = (d == 0 ? p * u[i] : p / (1.0 + u[i])) * S[i];
      }
    });
    double v;
    if (!quad::integrate<1>(f, mesh, 1e-14, 0.125 * atol, &v)) return false;
    out = 2.0 * v;  // (the integrand is even: u >= 0, doubled)
    return std::isfinite(out);
  }
  // Tabled for the pair on 0 <= m <= 12 w where that interval holds a good share of the
  // outer nodes (12 w / a >= s1 / 2, i.e. sqrt(1 - c^2) / c >= 1/24; elsewhere the outer
  // integral asks for fewer than the table's 65 values). S is the density's smoothing of
  // softsign^(d), an entire function of m varying on the scale w: its coefficients on
  // [0, 12 w] fall below 1e-15 of its size by degree ~52 at every w (1e-2 to 300
  // tried); not used where the last eight are not below 4e-15 of the largest value.
  // Where the spread is narrow, the power series (softsign_series_smoothing) on m <= 12 w,
  // each node's value to eps (absolute; carried through the outer integral, |int f(u)
  // p(u) dS| <= eps E|f(u)| <= eps min(norm1, 1) since |f| <= 1): no table for the pair.
  // (The series' value serves as both components: its bound stands for the panels'
  // comparison.)
  const double eps = 0.01 * atol / (norm1 > 0.0 ? std::fmin(norm1, 1.0) : 1.0);
  const bool series = w * (12.0 + std::sqrt(98.0)) <= 0.5;
  cheb::LobattoTable<2, 1> inner;
  const bool tabled =
      !series && 24.0 * w >= a * s1 &&
      inner.build(span, 1, 4e-15, [&](double m, double* S) { softsign_smoothing(d, m, w, S); });
  auto f = [&](double t, double* r) {
    const double u = std::expm1(t), m = a * u, g = npdf(u / s1) / s1;
    const double gu = d == 0 ? g * u : g / (1.0 + u);
    double S[2];
    if (tabled && m <= span)
      inner.eval(m, S);
    else if (series && m < span && softsign_series_smoothing(d, m, w, eps, S[0]))
      S[1] = S[0];
    else
      softsign_smoothing(d, m, w, S);
    r[0] = gu * S[0];
    r[1] = gu * S[1];
  };
  return quad::integrate_checked(f, mesh, 0.125 * atol, atol, 2.0, out);
}

}  // namespace detail

}  // namespace sigprop
