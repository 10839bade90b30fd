// Two-point expectations of tanh, sigmoid, softplus, shifted_softplus, silu and
// linear_region_tanh next to c = 1 at large variances, where the Mehler series cannot
// reach (its orders stop at 512, and tanh(sqrt(q) z) has coefficients that decay as
// m^-3/4 up to m ~ q) and the nested quadrature in the principal axes
// (near_diagonal.hpp) costs 3-15 ms a pair.
//
// Method. Each activation is a skeleton with a closed-form Gaussian smoothing plus a
// remainder r that decays exponentially: tanh = sign + r, r(x) = -sign(x) 2 / (1 +
// e^{2|x|}) (odd, |r| <= 2 e^{-2|x|}); softplus and silu = relu + r (r even, ~ e^{-|x|}
// and ~ |x| e^{-|x|}), their phi' = step + r' (r' odd); sigmoid(x) = (1 + tanh(x / 2)) / 2,
// so that E[s(u) s(v)] = 1/4 + E_tanh(q1 / 4, q2 / 4, c) / 4 and, with sigmoid' =
// sech^2(x / 2) / 4, E[s'(u) s'(v)] = E'_tanh(q1 / 4, q2 / 4, c) / 16;
// linear_region_tanh = (A + 1) sign + r, r linear on [0, A] (its share in closed form)
// and tanh(y - A) - 1 beyond (the conditional form with A > 0). For (u, v)
// centred normal with variances q1 <= q2 and correlation c > 0:
//  * conditional form (saturating_conditional, every kind, phi and phi'): v given u is
//    normal with mean a u (a = c s2 / s1) and spread w = s2 sqrt(1 - c^2), so that
//    E[phi(u) phi(v)] = int phi(x) npdf(x / s1) / s1 (K(a x) + R(a x)) dx, K the
//    skeleton's smoothing (erf, m Phi(m / w) + w npdf(m / w), Phi(m / w)) and
//    R(m) = E[r(m + w T)] = int_0^inf r(y) (npdf((y - m) / w) -+ npdf((y + m) / w)) / w dy
//    (r odd / even) on a Gauss-Laguerre rule in t = 2y (tanh) or y, over r's decay;
//    the outer integral adaptive Gauss-Kronrod. tanh' = sech^2 = (1 + r)' on y > 0, by
//    parts: int_0^inf sech^2(y) G(y) dy = G(0) - int_0^inf r(y) G'(y) dy (the rule on r's
//    simple poles, not sech^2's double ones: 10-100x faster convergence).
//  * tensor form (saturating_tensor, tanh's phi, both variances 1/4 or more):
//      E[tanh u tanh v] = (2/pi) asin(c) + E[r(u) sign v] + E[sign u r(v)] + E[r(u) r(v)],
//    the middle terms one-dimensional (E[sign v | u] = erf(c u / sqrt(2 q1 (1 - c^2))),
//    adaptive Gauss-Kronrod on [0, 20], |r| < 1e-17 beyond), and by oddness
//      E[r(u) r(v)] = 2 int int_{u, v > 0} r(u) r(v) (p(u, v) - p(u, -v)) du dv,
//    with t = 2u, s = 2v, r(u) du = -e^{-t} / (1 + e^{-t}) dt, a tensor Gauss-Laguerre
//    rule in (t, s), the density's difference p0 exp(-A) (-expm1(-2 c u v / (s1 s2
//    (1 - c^2)))), A = ((u / s1 - v / s2)^2 + 2 (1 - c) u v / (s1 s2)) / (2 (1 - c^2))
//    >= 0 (without cancellation), p0 = 1 / (2 pi s1 s2 sqrt(1 - c^2)). Cheaper (25-100
//    us against 200-700 us): tried first where it applies.
//  * narrow form (saturating_narrow, w <= 1 for tanh, 2 for softplus and silu, where
//    the conditional form's rule cannot resolve the density: c -> 1 at moderate q2;
//    tried first where both apply): the conditional form without the split, S(m) =
//    E[phi^(d)(m + w T)] of the whole activation on Gauss-Hermite rules (phi^(d)(m +
//    w t) is analytic in t within pi / (2 w) of the real line, pi / w for softplus and
//    silu); linear_region_tanh's (lrt_narrow) split at its kinks +-A: Gauss-Hermite on
//    a branch where the density lies beyond them, else the linear share in closed form
//    and the branches' on Gauss-Legendre panels. At narrow spreads cheaper pieces of the
//    same: the Gauss-Hermite rules of 16 and 8 nodes (w at a tenth of the narrow spread
//    or less), linear_region_tanh's branch shares next to its kinks from tanh's Taylor
//    series (lrt_series_share, w <~ 0.02) and beyond them from the heat series (w <~
//    1e-3), each with a bound on its remainder.
// The conditional form's inner sums R(m; w) are read from a process-wide table
// (SaturatingTables: smoothing_table.hpp, quarter decades of w in [1/10, 1e4], from
// 1e-3 for linear_region_tanh, built on first use in 0.15-0.3 s a kind and order;
// below w = 2 for tanh and linear_region_tanh, 6 for softplus and silu, the inner sums
// on Gauss-Legendre panels, where the Laguerre rules cannot resolve the density;
// linear_region_tanh's parts aligned on its kink below w = A / 13, lrt_table_layout)
// where its error bound, carried through the outer integral (over the centres that
// read it), is below atol / 2: one component, no
// table for the pair, tried before the other forms (10-40 us a pair where the per-pair
// tables and the narrow forms took 0.1-0.7 ms; whole-domain linear_region_tanh 0.56 ->
// 1.07 M and 0.34 -> 0.93 M pairs a second, phi and phi'). Elsewhere (w below the
// table, or the bound too large), where w is wide, the inner sums are tabled for the
// pair as Chebyshev interpolants in |m| (cheb::LobattoTable), certified by their last
// coefficients.
//
// Accuracy. Nothing is extrapolated: the convergence in the nodes is not geometric (tanh,
// q 0.75 / 6.0, c 0.9: tensor steps 32 -> 48 -> 64 of 2.6e-8 and 5.8e-12, the 64-node
// sum still 7.6e-13 off). The tensor sum is taken at 32 and 24 nodes a variable, then at
// 64 and 48, and accepted where a pair agrees to a fifth of the tolerance (where its
// narrow axis sqrt(l2), l2 the covariance's smaller eigenvalue, is not far below 1); the
// one-dimensional terms are held to a twentieth of it each. The conditional form carries
// the rules of 64, 48 and 32 nodes as three components and is accepted where the 48-node
// result is within a twentieth of the tolerance of the 64-node one (whose error was up
// to 10x that step) and the steps fall; it needs w >= 1/2. The narrow form's 40-node
// result is accepted where the 30-node one is within a twentieth of the tolerance (for
// tanh then the 60-node one against the 40-node one); lrt_narrow's 20-node panels and
// 40-node rule where its 16-node panels and 30-node rule agree likewise. Elsewhere
// false, and the caller's quadrature serves. Against the principal-axes quadrature held
// to 1e-15 of the scale, at 1500 random points a kind (q1, q2 log-uniform in [1e-3,
// 1e4], 1 - c log-uniform in [1e-5, 0.5]), phi and phi': 96-100 % accepted, within
// 2.8e-15 of the scale (0.1-0.4 ms a point on average against 2-4 ms; lrt_narrow at 450
// pairs of spread below 1: within 8.1e-16); against the conditional nested quadrature
// (~1e-13) within its tolerance
// (scripts/saturating_accuracy.py); against the 30-digit references of
// tests/data/reference_2d_large_q.json within 1e-13 (the test's bound).
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "activation.hpp"
#include "chebyshev.hpp"
#include "expectation.hpp"
#include "gauss_hermite.hpp"
#include "gauss_laguerre.hpp"
#include "gauss_legendre.hpp"
#include "moment_table.hpp"
#include "quadrature.hpp"
#include "smoothing_table.hpp"
#include "special.hpp"
#include "table_cache.hpp"

namespace sigprop {

namespace detail {

// The tensor Gauss-Laguerre sum E[r(u) r(v)] of tanh (see above) with the N-point rule
// (X, W).
template <int N>
inline double saturating_tensor(double s1, double s2, double c, const double* X, const double* W) {
  using namespace special;
  const double omc = 1.0 - c, opc = 1.0 + c, omc2 = omc * opc;
  const double p0 = 1.0 / (2.0 * pi * s1 * s2 * std::sqrt(omc2));
  const double den = 1.0 / (2.0 * omc2), cross = 2.0 * c / (s1 * s2 * omc2);
  double x1[N], x2[N], g[N];
  for (int i = 0; i < N; ++i) {
    const double u = 0.5 * X[i], e = std::exp(-X[i]);
    x1[i] = u / s1;
    x2[i] = u / s2;
    g[i] = -W[i] / (1.0 + e);
  }
  double sum = 0.0;
  for (int i = 0; i < N; ++i) {
    const double ui = 0.5 * X[i];
    double row = 0.0;
    for (int j = 0; j < N; ++j) {
      const double dx = x1[i] - x2[j], uv = ui * 0.5 * X[j];
      const double A = (dx * dx + 2.0 * omc * x1[i] * x2[j]) * den;
      const double b = cross * uv;  // A(u, -v) - A(u, v)
      row += g[j] * (std::exp(-A) * -std::expm1(-b));
    }
    sum += g[i] * row;
  }
  return 2.0 * p0 * sum;
}

// The kinds saturating_conditional serves: tanh (phi = sign + r, r odd, decaying as
// e^{-2|y|}), softplus and silu (phi = relu + r, r even; phi' = step + r', r' odd, as
// e^{-|y|}), and softplus shifted by -log 2 (its phi': softplus's).
enum class Saturating { tanh, softplus, silu, shifted_softplus };

// phi^(d)(x) of tanh (with A > 0 linear_region_tanh: x on [-A, A], sign(x) (A +
// tanh(|x| - A)) outside), softplus (less `shift`: shifted_softplus) or silu, without
// overflow.
inline double saturating_phi(Saturating k, int d, double x, double shift, double A = 0.0) {
  if (k == Saturating::tanh) {
    const double ax = std::fabs(x);
    if (A > 0.0 && ax <= A) return d == 0 ? x : 1.0;
    const double e = std::exp(-2.0 * (ax - A));
    const double v = d == 0 ? A + (1.0 - e) / (1.0 + e) : 4.0 * e / ((1.0 + e) * (1.0 + e));
    return d == 0 && x < 0.0 ? -v : v;
  }
  const double e = special::exp_neg_abs(x), sm = x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
  if (k != Saturating::silu) return d == 0 ? std::fmax(x, 0.0) + std::log1p(e) - shift : sm;
  return d == 0 ? x * sm : sm * (1.0 + x * (1.0 - sm));
}

// The outer mesh of the conditional and narrow forms, in x = u: over |x| <= 9 s1 (tanh's
// phi' over |x| <= 20 at most; tanh's on x >= 0 only, its integrand even), with
// breakpoints on the scales of phi (1), of u's density (s1) and of the inner
// expectation as a function of x (`inner`); the quadrature refines from there.
inline void saturating_outer_mesh(bool th, int d, double s1, double inner, quad::Mesh& mesh,
                                  double kink = 0.0) {
  const double reach = th && d == 1 ? std::fmin(20.0 + kink, 9.0 * s1) : 9.0 * s1;
  mesh.lo = th ? 0.0 : -reach;
  mesh.hi = reach;
  for (double sg : {1.0, -1.0}) {
    for (double b : {0.5, 1.5, 4.0, 10.0, 25.0}) mesh.add(sg * (kink + b));
    for (double b : {0.5, 1.0, 2.0, 3.5, 5.5}) mesh.add(sg * b * s1);
    for (double b : {0.5, 2.0, 6.0}) mesh.add(sg * b * inner);
    if (kink > 0.0 && mesh.inside(sg * kink)) mesh.add(sg * kink);
  }
  mesh.add(0.0);
  mesh.finish();
}

// linear_region_tanh's breakpoints at its inner expectation's feature, a x = A, of width
// w / a in x: at (A + k w) / a, k = 0, +-3, +-9, +-12, inside the mesh, which is finished
// again.
inline void add_kink_breakpoints(double A, double w, double a, quad::Mesh& mesh) {
  for (double k : {0.0, 3.0, 9.0, 12.0})
    for (double sg : {1.0, -1.0}) {
      const double x = (A + sg * k * w) / a;
      if (mesh.inside(x)) mesh.add(x);
    }
  mesh.finish();
}

// The narrow form's largest conditional spread: the rules' reach into the strip of
// analyticity, pi / (2 w) for tanh, pi / w for softplus and silu.
inline double narrow_spread(Saturating k) { return k == Saturating::tanh ? 1.0 : 2.0; }

// Two Gauss-Hermite rules (half their nodes and weights, quad::hermite_mean's form) whose
// results the narrow forms compare.
struct HermitePair {
  const double *x0, *w0;
  int n0;
  const double *x1, *w1;
  int n1;
};
inline constexpr HermitePair herm_16_8{quad::herm16_x, quad::herm16_w, 8,
                                       quad::herm8_x,  quad::herm8_w,  4};
inline constexpr HermitePair herm_40_30{quad::herm40_x, quad::herm40_w, 20,
                                        quad::herm30_x, quad::herm30_w, 15};
inline constexpr HermitePair herm_60_40{quad::herm60_x, quad::herm60_w, 30,
                                        quad::herm40_x, quad::herm40_w, 20};

// The conditional form for a narrow conditional spread (w <= 1 for tanh, 2 for softplus
// and silu: c -> 1 at moderate q2), where the remainder's rule cannot resolve the
// density: the inner expectation of the whole activation, S(m) = E[phi^(d)(m + w T)],
// on Gauss-Hermite rules (phi^(d)(m + w t) is analytic in t within a strip of half width
// tau = pi / (2 w) >= pi / 2 of the real line: tanh's poles at +-i pi / 2, those of
// softplus and silu at +-i pi, so that their w may be twice tanh's; the rules' error
// falls as exp(-2 tau sqrt(2 n))). The outer integral adaptive as in
// saturating_conditional; the result of 40 nodes accepted where that of 30 is within a
// twentieth of atol of it, else for tanh that of 60 where that of 40 is (tanh', q 55.4
// / 34.6, c 0.9925, w 0.91: 40 and 30 apart by 3.7e-14, 8e-15 the tolerance). False
// otherwise.
inline bool saturating_narrow(Saturating k, int d, double s1, double s2, double c, double atol,
                              double& out) {
  using namespace special;
  const double omc2 = (1.0 - c) * (1.0 + c);
  const double a = c * s2 / s1, w = s2 * std::sqrt(omc2);
  const bool th = k == Saturating::tanh;
  if (!(w > 0.0 && w <= narrow_spread(k)) || !std::isfinite(a)) return false;
  const double shift = k == Saturating::shifted_softplus && d == 0 ? std::log(2.0) : 0.0;
  if (k == Saturating::shifted_softplus) k = Saturating::softplus;
  auto phi_at = [&](double y) { return saturating_phi(k, d, y, shift); };
  auto inner = [&](double m, const double* X, const double* W, int n) {
    return quad::hermite_mean(phi_at, m, w, X, W, n);
  };
  quad::Mesh mesh;
  saturating_outer_mesh(th, d, s1, 1.0 / a, mesh);  // S(a x): phi's scale, 1 / a
  const double f2 = th ? 2.0 : 1.0;
  // The rule pairs in turn: at a tenth of the narrow spread or less (the strip 10 widths
  // wide or more, where the rules' error falls as exp(-2 tau sqrt(2 n)) <= e^-125 at 8
  // nodes) 16 and 8 nodes first, 24 evaluations of phi a node where those of 40 and 30
  // took 70; then 40 and 30, then (tanh, whose strip is half as wide) 60 and 40
  const HermitePair* pairs[3] = {&herm_16_8, &herm_40_30, &herm_60_40};
  for (int p = w <= 0.1 * narrow_spread(k) ? 0 : 1; p < (th ? 3 : 2); ++p) {
    const HermitePair& R = *pairs[p];
    auto f = [&](double x, double* r) {
      const double px = phi_at(x) * npdf(x / s1) / s1, m = a * x;
      r[0] = px * inner(m, R.x0, R.w0, R.n0);
      r[1] = px * inner(m, R.x1, R.w1, R.n1);
    };
    if (quad::integrate_checked(f, mesh, (th ? 0.125 : 0.25) * atol, atol, f2, out)) return true;
  }
  return false;
}

// tanh's Taylor coefficients t_n (tanh y = sum_n t_n y^n, n <= 121) from tanh' = 1 - tanh^2:
// (n + 1) t_(n+1) = [n = 0] - sum_(i+j=n) t_i t_j.
struct TanhTaylor {
  static constexpr int n_max = 121;
  double t[n_max + 1];
  TanhTaylor() {
    for (double& v : t) v = 0.0;
    t[1] = 1.0;
    for (int n = 1; n < n_max; ++n) {
      double s = 0.0;
      for (int i = 0; i <= n; ++i) s += t[i] * t[n - i];
      t[n + 1] = -s / double(n + 1);
    }
  }
  static const TanhTaylor& get() {
    static const TanhTaylor tt;
    return tt;
  }
};

// linear_region_tanh's branch share E[b(A + Y) 1(Y > 0)], Y ~ N(mu, w^2) (mu = m - A; b(A +
// y) = A + tanh(y) for d = 0, sech^2(y) for d = 1), from tanh's Taylor series about the
// kink, each piece's smoothing a truncated normal moment T_j(mu) = E[Y^j 1(Y > 0)] (T_0 =
// Phi(mu / w), T_1 = mu T_0 + w npdf(mu / w), T_j = mu T_(j-1) + (j - 1) w^2 T_(j-2)), to
// absolute tolerance eps; false where it cannot certify that (the Gaussian reaching too
// far from the kink). The remainder after order N: tanh and sech^2 are analytic on |z| <
// pi / 2, bounded there on |z| = R = 1.4 by M = tan(1.4) < 6 and 1 / cos(1.4)^2 < 35
// (their largest values on the circle, at +-i R), so that |t_n| <= M / R^n (Cauchy) and,
// for real y, |R_N(y)| <= max(3.5 M, 1 + M (N + 1)) |y|^(N+1) (on |y| <= 1: M (|y| /
// R)^(N+1) / (1 - 1 / R) <= 3.5 M |y|^(N+1); beyond, |R_N| <= 1 + sum_(n<=N) M (|y| / R)^n
// <= (1 + M (N + 1)) |y|^(N+1)); and E|Y|^(N+1) <= x^(N+1), x = |mu| + w sqrt(98) for
// N + 1 <= 97 (Minkowski, ||T||_j <= sqrt(j + 1)). A few dozen multiply-adds and one
// erfc, where the 20- and 16-node panels of lrt_narrow's share took ~2-3 us: its nodes
// next to the kink at a narrow spread (w below ~0.02: 1 - c below ~1e-5 at q ~ 10),
// 60-120 a pair.
inline bool lrt_series_share(int d, double mu, double w, double A, double eps, double& out) {
  using namespace special;
  constexpr int n_max = 96;
  const double x = std::fabs(mu) + w * std::sqrt(double(n_max + 2));
  if (!(x < 0.5)) return false;
  const double M = d == 0 ? 6.0 : 35.0;
  int N = -1;
  double xn = x;  // x^(n+1)
  for (int n = 0; n <= n_max; ++n, xn *= x)
    if (std::fmax(3.5 * M, 1.0 + M * (n + 1)) * xn <= eps) {
      N = n;
      break;
    }
  if (N < 0) return false;
  const double* t = TanhTaylor::get().t;
  const double r = mu / w, ww = w * w;
  double t0 = 0.5 * std::erfc(-r * (1.0 / std::sqrt(2.0))), t1 = mu * t0 + w * npdf(r);
  // d = 0: A T_0 + sum_(n odd) t_n T_n; d = 1: sum_(n even) (n + 1) t_(n+1) T_n
  double sum = d == 0 ? A * t0 + t[1] * t1 : t[1] * t0;
  for (int j = 2; j <= N; ++j) {
    const double t2 = mu * t1 + double(j - 1) * ww * t0;
    sum += d == 0 ? t[j] * t2 : double(j + 1) * t[j + 1] * t2;
    t0 = t1;
    t1 = t2;
  }
  out = sum;
  return std::isfinite(out);
}

// linear_region_tanh's branch smoothed beyond its kink, E[b(A + t + w T)] (b(A + y) = A +
// tanh(y) for d = 0, sech^2(y) for d = 1; t >= 12 w, the mass across the kink below
// e^-72), by its heat series b + w^2 b'' / 2 + w^4 b'''' / 8 + R, with tau = tanh(t),
// s = sech^2(t): tanh'' = -2 tau s, tanh'''' = 8 s tau (2 - 3 tau^2), sech^2'' = s (6
// tau^2 - 2), sech^2'''' = 8 s (2 - 15 tau^2 + 15 tau^4); |R| <= E[M (w |T| / r)^6] = 15 M
// (w / r)^6 (Taylor's remainder, b^(6) bounded by Cauchy on circles of radius r = 1.4
// about the real line, where |tanh| <= M = 6 and |sech^2| <= 35, as in lrt_series_share).
// False where that bound exceeds eps (w past ~1e-3). One exponential, where the
// Gauss-Hermite rules of lrt_narrow took 24 or 70 evaluations of the branch.
inline bool lrt_heat_smoothing(int d, double A, double t, double w, double eps, double& out) {
  const double r2 = (w / 1.4) * (w / 1.4);
  if (!(15.0 * (d == 0 ? 6.0 : 35.0) * r2 * r2 * r2 <= eps)) return false;
  const double e = std::exp(-2.0 * t), tau = (1.0 - e) / (1.0 + e);
  const double s = 4.0 * e / ((1.0 + e) * (1.0 + e)), t2 = tau * tau, w2 = w * w;
  if (d == 0)
    out = A + tau + w2 * (-tau * s + w2 * s * tau * (2.0 - 3.0 * t2));
  else
    out = s * (1.0 + w2 * ((3.0 * t2 - 1.0) + w2 * (2.0 - 15.0 * t2 + 15.0 * t2 * t2)));
  return std::isfinite(out);
}

// linear_region_tanh's narrow form (w < 1/2 and up to 1 where the conditional form
// cannot certify): the conditional form on the whole activation, as saturating_narrow,
// but split at the kinks +-A (its third derivative jumps there). With the density of
// v given u centred at m >= 0 and of spread w, S(m) = E[phi^(d)(m + w T)] is
//  * where [m - 12 w, m + 12 w] lies beyond A: the branch b(y) = A + tanh(y - A)
//    (sech^2(y - A)), analytic within pi / 2 of the real line, on the Gauss-Hermite rules
//    of 40 and 30 nodes (all within 11.5 widths of m);
//  * where it lies within [-A, A]: m (1);
//  * elsewhere the linear share in closed form (normal_between) plus the branches'
//    shares int_{max(A, mu - 9 w)}^{mu + 9 w} b(y) npdf((y - mu) / w) / w dy at mu = m and
//    (mirrored) mu = -m, on Gauss-Legendre panels of 20 and 16 nodes cut at mu and
//    mu +- 4.5 w (each at most 2.25 w <= 1.125 long: the poles at A +- i pi / 2 give a
//    Bernstein ratio of 3.1 or more).
// The outer integral adaptive on x >= 0 (the integrand is even), breakpoints at the
// kink, at the scales of phi, of u's density and where the window meets the kinks
// ((A +- k w) / a). Accepted where the two rules' results agree to a twentieth of atol.
inline bool lrt_narrow(int d, double A, double s1, double s2, double c, double atol, double& out) {
  using namespace special;
  const double a = c * s2 / s1, w = s2 * std::sqrt((1.0 - c) * (1.0 + c));
  if (!(w > 0.0 && w <= 1.0) || !std::isfinite(a) || !(A > 0.0)) return false;
  const double iw = 1.0 / w;
  auto branch = [&](double y) {  // b(y), y >= A (continued below A)
    const double t = y - A;
    if (d == 0) return A + std::tanh(t);
    const double e = std::exp(-2.0 * std::fabs(t));
    return 4.0 * e / ((1.0 + e) * (1.0 + e));
  };
  // int_{max(A, mu - 9 w)}^{mu + 9 w} b(y) npdf((y - mu) / w) / w dy: 20 and 16 nodes
  auto share = [&](double mu, double* r) {
    r[0] = r[1] = 0.0;
    const double lo = std::fmax(A, mu - 9.0 * w), hi = mu + 9.0 * w;
    if (!(hi > lo)) return;
    double yb[5];
    const int nb = quad::density_cuts(lo, hi, mu, w, yb);
    for (int p = 0; p + 1 < nb; ++p) {
      const double h = 0.5 * (yb[p + 1] - yb[p]), cm = yb[p] + h;
      auto f = [&](double y) { return branch(y) * npdf((y - mu) * iw); };
      double t20 = 0.0, t16 = 0.0;
      for (int i = 0; i < 10; ++i)
        t20 += quad::wgl20[i] * (f(cm - h * quad::xgl20[i]) + f(cm + h * quad::xgl20[i]));
      for (int i = 0; i < 8; ++i)
        t16 += quad::wgl16[i] * (f(cm - h * quad::xgl16[i]) + f(cm + h * quad::xgl16[i]));
      r[0] += h * t20 * iw;
      r[1] += h * t16 * iw;
    }
  };
  // Where the spread is narrow, the branches' shares next to the kink from tanh's series
  // (lrt_series_share), to eps each (absolute; carried through the outer integral:
  // |phi| <= A + 1, |phi'| <= 1), as both components (its bound stands for the panels'
  // comparison)
  const double eps = 0.005 * atol / (d == 0 ? A + 1.0 : 1.0);
  auto branch_share = [&](double mu, double* r) {
    if (!(mu + 9.0 * w > A)) {  // (as share: no mass past the kink)
      r[0] = r[1] = 0.0;
      return;
    }
    if (lrt_series_share(d, mu - A, w, A, eps, r[0])) {
      r[1] = r[0];
      return;
    }
    share(mu, r);
  };
  // Beyond the window: at the narrowest spreads the heat series (lrt_heat_smoothing); else
  // the Gauss-Hermite rules of 16 and 8 nodes where w <= 1/10, 15 or more widths from the
  // poles (within rounding of the 40-node one there, 24 evaluations of the branch a node
  // instead of 70), of 40 and 30 beyond
  const HermitePair& R = w <= 0.1 ? herm_16_8 : herm_40_30;
  auto inner = [&](double m, double* S) {
    const double am = std::fabs(m), sg = d == 0 && m < 0.0 ? -1.0 : 1.0;
    if (am - 12.0 * w >= A) {
      if (lrt_heat_smoothing(d, A, am - A, w, eps, S[0])) {
        S[0] *= sg;
        S[1] = S[0];
        return;
      }
      S[0] = sg * quad::hermite_mean(branch, am, w, R.x0, R.w0, R.n0);
      S[1] = sg * quad::hermite_mean(branch, am, w, R.x1, R.w1, R.n1);
      return;
    }
    if (am + 12.0 * w <= A) {
      S[0] = S[1] = d == 0 ? m : 1.0;
      return;
    }
    const NormalPiece P = normal_between((-A - am) * iw, 2.0 * A * iw);
    const double lin = d == 0 ? am * P.p0 + w * P.p1 : P.p0;
    double r[2], l[2];
    branch_share(am, r);
    branch_share(-am, l);
    const double f = d == 0 ? -1.0 : 1.0;  // phi odd, phi' even
    S[0] = sg * (lin + r[0] + f * l[0]);
    S[1] = sg * (lin + r[1] + f * l[1]);
  };
  quad::Mesh mesh;
  saturating_outer_mesh(true, d, s1, w / a, mesh, A);
  add_kink_breakpoints(A, w, a, mesh);
  auto f = [&](double x, double* r) {
    const double px = saturating_phi(Saturating::tanh, d, x, 0.0, A) * npdf(x / s1) / s1;
    double S[2];
    inner(a * x, S);
    r[0] = px * S[0];
    r[1] = px * S[1];
  };
  return quad::integrate_checked(f, mesh, 0.125 * atol, atol, 2.0, out);
}

// The conditional form's rules for the remainder (see saturating_conditional): for kind
// k (shifted_softplus read as softplus: the same remainder), order d and
// linear_region_tanh's A (0 for tanh), the nodes y and weights g of the Gauss-Laguerre
// rules of 64, 48 and 32 nodes (r(y) dy = e^-t h(t) dt on y > A, y = A + t / beta), and
// the inner sum R(m) at spread w on each (inner).
struct SaturatingRules {
  static constexpr int N0 = 64, N1 = 48, N2 = 32;
  Saturating k;
  int d;
  double A;
  bool th, odd, parts;
  double y0[N0], g0[N0], y1[N1], g1[N1], y2[N2], g2[N2];

  // a table's rules: distinct for every one built in the process (next_serial); 0 for
  // a pair's own
  std::uint64_t serial = 0;

  SaturatingRules(Saturating kind, int order, double a)
      : k(kind == Saturating::shifted_softplus ? Saturating::softplus : kind), d(order), A(a) {
    th = k == Saturating::tanh;
    // the remainder's parity (odd: the two images of the density subtract), its decay
    // rate beta (y = t / beta) and h(t): r(y) dy = e^-t h(t) dt on y > 0
    odd = th || d == 1;
    // tanh' (d = 1) by parts, sech^2 = tanh' and tanh = 1 + r on y > 0: with
    // G(y) = npdf((y - m) / w) / w + npdf((y + m) / w) / w,
    //   int_0^inf sech^2(y) G(y) dy = G(0) - int_0^inf r(y) G'(y) dy,
    // the rule then on r as for phi (sech^2's double poles at +-i pi/2 slowed it 10x)
    parts = th && d == 1;
    auto nodes = [&](const double* X, const double* W, int n, double* y, double* g) {
      for (int i = 0; i < n; ++i) {
        y[i] = X[i] / beta();  // (y - A: see inner_on)
        g[i] = W[i] * h(X[i]);
      }
    };
    nodes(quad::lag64_x, quad::lag64_w, N0, y0, g0);
    nodes(quad::lag48_x, quad::lag48_w, N1, y1, g1);
    nodes(quad::lag32_x, quad::lag32_w, N2, y2, g2);
  }

  static std::uint64_t next_serial() {
    static std::atomic<std::uint64_t> n{0};
    return ++n;
  }

  // The remainder's decay rate (y = A + t / beta) and h(t): r(y) dy = e^-t h(t) dt.
  double beta() const { return th ? 2.0 : 1.0; }
  double h(double t) const {
    const double e = std::exp(-t), sm = 1.0 / (1.0 + e);  // sm = sigmoid(t)
    if (th || (d == 1 && k == Saturating::softplus)) return -sm;  // tanh: both d
    if (k == Saturating::softplus) return std::log1p(e) / e;      // log(1 + e^-y)
    if (d == 0) return -t * sm;                                    // silu: -y sigmoid(-y)
    return (t * sm - 1.0) * sm;  // silu': sigmoid(-y) (y sigmoid(y) - 1)
  }

  // E[skeleton(m + w T)]: (A + 1) sign (tanh and linear_region_tanh's phi; their phi' by
  // parts has none), relu, step
  double skeleton(double m, double w) const {
    using special::ncdf;
    using special::npdf;
    const double iw = 1.0 / w;
    if (th) return d == 0 ? (A + 1.0) * std::erf(m * iw * (1.0 / std::sqrt(2.0))) : 0.0;
    const double t = m * iw;
    return d == 0 ? m * ncdf(t) + w * npdf(t) : ncdf(t);
  }

  // Where the density's centre m is 9 w beyond the remainder's reach (|r| < 1e-17
  // there: y = 20 for tanh, 40 for softplus and silu), R(m) < 1e-17 of its scale: 0.
  double far(double w) const { return A + (th ? 20.0 : 40.0) + 9.0 * w; }

  // R(m) at spread w on rule r (0: 64 nodes, 1: 48, 2: 32). (In |m|, the image y + |m|
  // a factor e^-b of the nearer one, b >= 0: no overflow; an odd remainder's R is odd
  // in m.) With A > 0, linear_region_tanh's share of [0, A] in closed form (head).
  double inner(double m, double w, int r) const {
    return inner_on(m, w,
                    r == 0   ? y0
                    : r == 1 ? y1
                             : y2,
                    r == 0   ? g0
                    : r == 1 ? g1
                             : g2,
                    r == 0   ? N0
                    : r == 1 ? N1
                             : N2);
  }

  // R(m) at a narrow spread (w below ~2, where the Laguerre rules cannot resolve the
  // density: 64 and 48 nodes 3e-8 apart for softplus at w = 1), for the process-wide
  // table: int_0^T e^-t h(t) (...) dt (T = 40, where e^-t h(t) < 5e-18) over the
  // density's reach |y - |m|| <= 13 w, on Gauss-Legendre panels no longer than min(2 w,
  // 1) in y (twice the density's width, and r's poles at pi / 2 or more from the real
  // line: the rules' error there far below rounding), of 20 nodes (out[0]) and of 16
  // (out[1]). The panels and their weights at a spread w (Panels) serve every centre m.
  // The spreads below which the table's inner sums are taken on panels: where the 64-
  // and 48-node Laguerre rules stay apart by more than ~1e-14 of the scale (tanh: 3e-14
  // at w = 1; softplus and silu, whose remainders decay as e^-y: 2e-10 at 1.3).
  double panel_reach() const { return th ? 2.0 : 6.0; }
  // linear_region_tanh's phi' on the panels: sech^2(y - A) itself against the density's
  // two images (h(t) = 2 sigmoid(t)^2: sech^2(y - A) dy = e^-t 2 sigmoid(t)^2 dt), all
  // terms positive, not by parts: there the boundary term G(A) and the integral of r G',
  // each of size 1 / w, cancel to a result of size 1 (rounding at ~1e-16 / w of it: 2e-14
  // at w = 1/100, beyond the table's checks). The Laguerre rules, which need the parts
  // (sech^2's double poles), only serve w >= panel_reach.
  bool direct_panels() const { return parts && A > 0.0; }
  struct Panels {
    double w = -1.0, hp = 0.0;  // the spread; half a panel's length in t
    int np = 0;                 // panels on [0, T]
    std::vector<double> y20, g20, y16, g16;  // 20 (16) nodes a panel, panel by panel
  };
  void panels(double w, Panels& P) const {
    const double b = beta(), T = 40.0;
    P.w = w;
    P.np = static_cast<int>(std::ceil(T / (b * std::fmin(2.0 * w, 1.0))));
    P.hp = 0.5 * T / P.np;
    auto add = [&](const double* x, const double* wt, int half, std::vector<double>& y,
                   std::vector<double>& g) {
      y.clear();
      g.clear();
      for (int p = 0; p < P.np; ++p) {
        const double c = (2 * p + 1) * P.hp;
        for (int i = 0; i < half; ++i)
          for (double sg : {-1.0, 1.0}) {
            const double t = c + sg * P.hp * x[i];
            y.push_back(t / b);
            const double e = std::exp(-t), sm = 1.0 / (1.0 + e);
            g.push_back(P.hp * wt[i] * e * (direct_panels() ? 2.0 * sm * sm : h(t)));
          }
      }
    };
    add(quad::xgl20, quad::wgl20, 10, P.y20, P.g20);
    add(quad::xgl16, quad::wgl16, 8, P.y16, P.g16);
  }
  void inner_panels(double m, double w, const Panels& P, double* out) const {
    const double am = std::fabs(m), b = beta();
    const double t_lo = b * (am - 13.0 * w - A), t_hi = b * (am + 13.0 * w - A);
    const int p0 = std::max(0, static_cast<int>(std::floor(t_lo / (2.0 * P.hp))));
    const int p1 = std::min(P.np, static_cast<int>(std::ceil(t_hi / (2.0 * P.hp))));
    const int n = std::max(0, p1 - p0);
    const bool direct = direct_panels();
    out[0] = inner_on(m, w, P.y20.data() + 20 * p0, P.g20.data() + 20 * p0, 20 * n, direct);
    out[1] = inner_on(m, w, P.y16.data() + 16 * p0, P.g16.data() + 16 * p0, 16 * n, direct);
  }

  // linear_region_tanh's R(m) beyond its window, |m| - A >= 13 w (the density's mass below
  // A under e^-84, and the image's), at w <= 1/2, for the process-wide table: tanh's
  // branch less 1 (phi; sech^2 for phi') on the Gauss-Hermite rules of 40 (out[0]) and 30
  // nodes (out[1]) in the offset y - A = (|m| - A) + w t, analytic within pi / (2 w) >=
  // pi of the real line (the rules' error below e^-50). On the panels a node's offset
  // and the centre, each ~|m| - A, cancel to w t there: R off by ~1e-16 (|m| - A) / w
  // (2.5e-15 of its size at w = 0.006, 0.6 past the kink), which set the table's bound.
  void inner_beyond(double m, double w, double* out) const {
    const double x0 = std::fabs(m) - A;
    auto f = [&](double t) {  // (t > 0: the rules' nodes reach 11.5 w)
      const double e = std::exp(-2.0 * t);
      return d == 0 ? -2.0 * e / (1.0 + e) : 4.0 * e / ((1.0 + e) * (1.0 + e));
    };
    const HermitePair& R = herm_40_30;
    const double sg = d == 0 && m < 0.0 ? -1.0 : 1.0;  // (phi's R odd, phi''s even)
    out[0] = sg * quad::hermite_mean(f, x0, w, R.x0, R.w0, R.n0);
    out[1] = sg * quad::hermite_mean(f, x0, w, R.x1, R.w1, R.n1);
  }

  // R(m) at spread w from nodes and weights g (e^-t h(t) dt's rule, g folding h in), the
  // nodes given as their offsets y - A from the remainder's start (so that a node's
  // distance to the centre, y - |m| = (y - A) + (A - |m|), keeps its digits next to the
  // kink, where A and |m| are each 1 / w of the density's widths; with A = 0 the same
  // numbers as from y); direct: linear_region_tanh's phi' on the panels (direct_panels).
  double inner_on(double m, double w, const double* y, const double* g, int n,
                  bool direct = false) const {
    using special::npdf;
    const double iw = 1.0 / w, k2 = 2.0 * iw * iw;
    // linear_region_tanh's share of [0, A]: int_0^A (y - b) npdf((y - mu) / w) / w dy
    // (the upper limit (A - mu) / w from the difference: see normal_between)
    auto lin = [&](double mu, double b) {
      const NormalPiece P = normal_between(-mu * iw, A * iw, (A - mu) * iw);
      return (mu - b) * P.p0 + w * P.p1;
    };
    const double am = std::fabs(m), dA = A - am;
    double head = 0.0;
    if (A > 0.0)
      head = d == 0 ? lin(am, A + 1.0) - lin(-am, A + 1.0)
                    : normal_between(-am * iw, A * iw, dA * iw).p0 +
                          normal_between(am * iw, A * iw, (A + am) * iw).p0;
    if (am > far(w)) return odd && !parts && m < 0.0 ? -head : head;
    double sum = 0.0;
    for (int j = 0; j < n; ++j) {
      const double yj = A + y[j];
      const double z = (y[j] + dA) * iw, b = k2 * yj * am;  // b: (y + m)^2 - (y - m)^2 over 2 w^2
      // (past b = 40 the image's factor rounds to 1 either way: without the call, whose
      // underflow path was a quarter of a table's build)
      const double f = direct     ? (b > 40.0 ? 1.0 : 1.0 + std::exp(-b))
                       : parts    ? ((y[j] + dA) + (yj + am) * special::exp_or_zero(-b)) * (iw * iw)
                       : b > 40.0 ? 1.0
                       : odd      ? -std::expm1(-b)
                                  : 1.0 + std::exp(-b);
      sum += g[j] * (npdf(z) * f);
    }
    if (direct) return head + sum * iw;
    if (parts) {  // G(A) - int r G' (tanh: m >= 0 here)
      if (A > 0.0) return head + (npdf((A - am) * iw) + npdf((A + am) * iw)) * iw + sum * iw;
      return (2.0 * npdf(m * iw) + sum) * iw;
    }
    if (A > 0.0) {
      const double v = head + sum * iw;
      return m < 0.0 ? -v : v;
    }
    return (odd && m < 0.0 ? -sum : sum) * iw;
  }
};

// The inner sums R(m; w) on the 64-node Laguerre rule (the 48-node one its check), below
// panel_reach on the 20-node panels (the 16-node ones its check), tabled once per process
// for each order (SmoothingTable: quarter decades of w in [1/10, 1e4], from 1e-3 for
// linear_region_tanh, m in [0, far(w)]: parts of at most 12 w on [0, A + 13 w], where
// the density meets the remainder's start, and beyond, where R is the smoothing of r's
// analytic tail, parts of at most 4 for tanh (r's poles at pi / 2 from the real line),
// 8 for softplus and silu (pi): seven parts at w = 1/10), for the activation whose
// remainder they smooth: tanh (tanh's and sigmoid's pairs), linear_region_tanh at its A,
// softplus (softplus' and shifted_softplus') and silu (linear_region_tanh below w = A /
// 13: lrt_table_layout; beyond its window at w <= 1/2, inner_beyond). The scale of a
// table's checks is the whole inner expectation, skeleton included.
//
// The lowest spread a table covers, log10: 1/10, and for linear_region_tanh 1e-3 (its
// narrow form, across the jumps of the third derivative at +-A, took 0.06-0.6 ms a pair
// there; every segment passes its checks, at 3-8e-15 of its scale, in the layout of
// lrt_table_layout, with phi' on the panels directly (direct_panels) and the nodes as
// offsets from A; below 1e-3 the narrow form's series serve, ~25-40 us).
inline double saturating_table_log10_lo(double A) { return A > 0.0 ? -3.0 : -1.0; }

// linear_region_tanh's table layout where the spread is narrow against its kink (w <
// A / 13 somewhere on the segment): R(m; w) varies on the scale w next to m = A (tanh's
// branch starts there: the third derivative of phi, the second of phi', jump) and, for
// phi, next to m = 0 (the remainder of the sign skeleton), and on a scale of its own
// elsewhere. The default layout's parts, [0, A + 13 w] in equal parts, leave the
// feature at A sliding across them as w moves along a segment (phi''s segments below w
// ~ 0.075 failed their checks, halves included). Here the parts next to each feature
// scale with w about it, so that the feature keeps its place in them:
//  * phi (where A > 26 w across the segment): [0, 13 w] in parts of at most 12 w,
//    [13 w, A - 13 w] in parts of at most 4 (far_length), [A - 13 w, A + 13 w] in parts
//    of at most 12 w, and beyond to far(w) in parts of at most 4;
//  * phi' (where A > 13 w at the segment's lower end): [0, A - 13 w] and [A - 13 w, A + 13
//    w] alike where A > 13 w across the segment; else one region [A - (A / wa) w, A + 13
//    w] about the kink (its start 0 at the segment's lower end wa, below 0 above it: R
//    is even in m, tabled on m < 0 alike); then beyond to far(w).
// Elsewhere (0) the default layout.
inline SmoothingTable::Layout lrt_table_layout(double A, int d) {
  return [A, d](double wa, double wb, SmoothingTable::Region* reg) -> int {
    constexpr double h = 13.0, near_part = 12.0, far_part = 4.0;
    auto parts = [](double length) { return std::max(1, static_cast<int>(std::ceil(length))); };
    // the region beyond A + 13 w, to far(w) = A + 20 + 9 w (tanh's reach), longest at wa
    const SmoothingTable::Region beyond{A, h, parts((20.0 - 4.0 * wa) / far_part)};
    int n = 0;
    if (d == 0) {
      if (!(A - 2.0 * h * wb > 0.0)) return 0;
      reg[n++] = {0.0, 0.0, parts(h / near_part)};
      reg[n++] = {0.0, h, parts((A - 2.0 * h * wa) / far_part)};
      reg[n++] = {A, -h, parts(2.0 * h / near_part)};
    } else {
      if (!(A - h * wa > 0.0)) return 0;
      if (A - h * wb > 0.0) {
        reg[n++] = {0.0, 0.0, parts((A - h * wa) / far_part)};
        reg[n++] = {A, -h, parts(2.0 * h / near_part)};
      } else {
        const double hl = A / wa;
        reg[n++] = {A, -hl, parts((hl + h) / near_part)};
      }
    }
    reg[n++] = beyond;
    return n;
  };
}

struct SaturatingTables {
  std::unique_ptr<SaturatingRules> rules[2];
  std::unique_ptr<SmoothingTable> table[2];
  explicit SaturatingTables(const Activation& act) {
    const Saturating k = act.kind == Kind::softplus ? Saturating::softplus
                         : act.kind == Kind::silu   ? Saturating::silu
                                                    : Saturating::tanh;
    const double A = act.kind == Kind::linear_region_tanh ? act.p0 : 0.0;
    for (int d = 0; d < 2; ++d) {
      rules[d].reset(new SaturatingRules(k, d, A));
      rules[d]->serial = SaturatingRules::next_serial();
      const SaturatingRules* r = rules[d].get();
      table[d].reset(new SmoothingTable(
          [r](double m, double w, double* out) {
            if (r->A > 0.0 && w <= 0.5 && std::fabs(m) - r->A >= 13.0 * w) {
              r->inner_beyond(m, w, out);
            } else if (w < r->panel_reach()) {
              // (the panels at the last spread, per thread, keyed on the rules' serial
              // number: a table freed and another built at the same address never
              // reads them)
              thread_local SaturatingRules::Panels P;
              thread_local std::uint64_t owner = 0;
              if (owner != r->serial || P.w != w) {
                r->panels(w, P);
                owner = r->serial;
              }
              r->inner_panels(m, w, P, out);
            } else {
              out[0] = r->inner(m, w, 0);
              out[1] = r->inner(m, w, 1);
            }
            out[2] = r->skeleton(m, w);
          },
          [r](double w) { return r->A + 13.0 * w; }, [r](double w) { return r->far(w); },
          saturating_table_log10_lo(A), 4.0, 12.0, r->th ? 4.0 : 8.0, false,
          A > 0.0 ? lrt_table_layout(A, d) : SmoothingTable::Layout()));
    }
  }
};
using SaturatingTableCache = TableCache<SaturatingTables, 16>;

// The key of the process-wide tables of kind k (shifted_softplus: softplus's; tanh with
// A > 0: linear_region_tanh's at that A).
inline Activation saturating_table_key(Saturating k, double A) {
  return Activation{A > 0.0                 ? Kind::linear_region_tanh
                    : k == Saturating::tanh ? Kind::tanh
                    : k == Saturating::silu ? Kind::silu
                                            : Kind::softplus,
                    A, 0.0};
}

// E[f(u) f(v)] by the conditional form (see above), to absolute tolerance atol, s1 and
// s2 the smaller and larger standard deviations; false where it cannot certify its
// result (w < 1/2, the rules apart, the quadrature short). For tanh, A > 0 makes it
// linear_region_tanh's: phi = (A + 1) sign + r, r(y) = y - (A + 1) on [0, A] (its share
// of the images in closed form, normal_between) and tanh(y - A) - 1 beyond (the rule in
// t = 2 (y - A)); phi' = 1 on [0, A] (closed form) and sech^2(y - A) beyond, by parts
// with the boundary term G(A). (Its narrow form is lrt_narrow: its third derivative
// jumps at +-A, so a Gauss-Hermite rule across them would converge only algebraically.)
// With process_table, the form on the process-wide table (SaturatingTables) alone, from
// w = 1/10 (10^-1.5 for linear_region_tanh): false where that does not serve (w outside
// its range, a marked segment, its bound above atol / 2, the quadrature short); without,
// the pair's own (w >= 1/2).
inline bool saturating_conditional(Saturating k, int d, double s1, double s2, double c, double atol,
                                   double& out, double A = 0.0, bool process_table = false) {
  using namespace special;
  const double omc2 = (1.0 - c) * (1.0 + c);
  const double a = c * s2 / s1, w = s2 * std::sqrt(omc2);
  if (!(w >= (process_table ? std::pow(10.0, saturating_table_log10_lo(A)) : 0.5)) ||
      !std::isfinite(a))
    return false;
  const bool th = k == Saturating::tanh;
  const double shift = k == Saturating::shifted_softplus && d == 0 ? std::log(2.0) : 0.0;
  if (k == Saturating::shifted_softplus) k = Saturating::softplus;
  // The form on the process-wide table reads the table's rules, the same as the pair's
  // own would be (144 nodes' weights, ~3 us: not built again for every pair); the
  // pair's own form builds its own.
  const Activation key = saturating_table_key(k, A);
  const SaturatingTables* tabs = process_table ? SaturatingTableCache::fetch(key) : nullptr;
  std::optional<SaturatingRules> own_rules;
  const SaturatingRules& rules = tabs ? *tabs->rules[d] : own_rules.emplace(k, d, A);
  const bool odd = rules.odd, parts = rules.parts;
  const double far = rules.far(w);
  auto inner = [&](double m, int r) { return rules.inner(m, w, r); };
  // E[skeleton(m + w T)]: sign, relu, step
  auto skeleton = [&](double m) { return rules.skeleton(m, w) - shift; };
  auto phi_at = [&](double x) { return saturating_phi(k, d, x, shift, A); };
  // tanh: the integrand is even in x (phi^(d) and E[phi^(d)(v) | u] both odd or both
  // even), taken on x >= 0 and doubled
  quad::Mesh mesh;
  saturating_outer_mesh(th, d, s1, w / a, mesh, A);
  // (linear_region_tanh: the inner expectation's feature at its kink on breakpoints, as
  // lrt_narrow's, where it is narrow: there the adaptive rule could take it for smooth
  // between the mesh's points, 1.8e-10 of the scale off at w ~ 1e-3)
  if (A > 0.0 && w < 0.1) add_kink_breakpoints(A, w, a, mesh);
  // From the process-wide table (SaturatingTables) where its error bound, carried
  // through the outer integral (|int f(u) p(u) dR| <= E[|f(u)|; |a u| <= M] sup |dR|,
  // SmoothingTable::error_weight: with sqrt(E f(u)^2) from the one-point moments and
  // sup |f|, A + 1 for tanh's and linear_region_tanh's phi, 1 for their phi' and
  // softplus', 1.1 for silu', none for softplus's and silu's phi), is below atol / 2:
  // one component, the quadrature to the same tolerance as below.
  const bool flips = odd && !parts;
  if (process_table) {
    const Activation own{shift > 0.0 ? Kind::shifted_softplus : key.kind, A, 0.0};
    const Moments mo = moments(own, s1 * s1, false);
    const double norm1 = std::sqrt(d == 0 ? mo.phi_sq : mo.dphi_sq) * (1.0 + 1e-9);
    const double sup_f = th       ? (d == 0 ? A + 1.0 : 1.0)
                         : d == 1 ? (k == Saturating::silu ? 1.1 : 1.0)
                                  : std::numeric_limits<double>::infinity();
    SmoothingTable::At g;
    if (tabs->table[d]->at(w, g) &&
        SmoothingTable::error_weight(norm1, sup_f, g.M / a, s1) * g.bound <= 0.5 * atol) {
      // (a piece's 15 nodes at once: their Clenshaw sums side by side, quad::Batched)
      // (R at -|m| is -R(|m|) for an odd remainder's sums, R(|m|) otherwise, bitwise as
      // inner() takes it)
      auto f = quad::batched([&](const double* x, double* y, int n) {
        double m[15], am[15], R[15];
        for (int i = 0; i < n; ++i) {
          m[i] = a * x[i];
          am[i] = std::fabs(m[i]);
        }
        g.eval_or(am, n, R, [&](double mb) { return inner(mb, 0); });
        for (int i = 0; i < n; ++i) {
          if (flips && m[i] < 0.0) R[i] = -R[i];
          const double px = phi_at(x[i]) * npdf(x[i] / s1) / s1;
          y[i] = px * (skeleton(m[i]) + R[i]);
        }
      });
      double v;
      if (!quad::integrate<1>(f, mesh, 1e-14, (th ? 0.125 : 0.25) * atol, &v)) return false;
      out = (th ? 2.0 : 1.0) * v;
      return std::isfinite(out);
    }
    return false;
  }
  // The inner sums as functions of |m| on [0, far], tabled as Chebyshev interpolants of
  // degree 64 on one or two segments of at most 12 w (65 values a segment, instead of
  // the 150-400 the outer integral asks for) where a wide conditional spread (w >=
  // (A + 20) / 15 for tanh, 40 / 15 for softplus and silu) makes that few and the
  // outer integral takes a good share of its nodes there (far / a >= s1 / 2). The inner
  // sums are the density's smoothing of r: entire in m, varying on the scale w or
  // slower (softsign's, on 12 w: coefficients below 1e-15 of the size by degree ~52);
  // not used where a segment's last eight coefficients are not below 4e-15 of its
  // largest value. (An odd remainder's sums are odd in m, except by parts, m >= 0.)
  const int nseg = static_cast<int>(std::ceil(far / (12.0 * w)));
  cheb::LobattoTable<3, 2> tab;
  const bool tabled =
      nseg <= 2 && far >= 0.5 * a * s1 && tab.build(far, nseg, 4e-15, [&](double am, double* y) {
        y[0] = inner(am, 0);
        y[1] = inner(am, 1);
        y[2] = inner(am, 2);
      });
  auto f = [&](double x, double* r) {
    const double px = phi_at(x) * npdf(x / s1) / s1;
    const double m = a * x, sk = skeleton(m), am = std::fabs(m);
    double in[3];
    if (tabled && am <= far) {
      tab.eval(am, in);
      if (flips && m < 0.0)
        for (double& t : in) t = -t;
    } else {
      in[0] = inner(m, 0);
      in[1] = inner(m, 1);
      in[2] = inner(m, 2);
    }
    r[0] = px * (sk + in[0]);
    r[1] = px * (sk + in[1]);
    r[2] = px * (sk + in[2]);
  };
  double v[3];
  if (!quad::integrate<3>(f, mesh, 1e-14, (th ? 0.125 : 0.25) * atol, v)) return false;
  // the 64-node inner sum, where the 48-node one is within a twentieth of atol of it
  // (its error was up to 10x that last step: tanh, q 0.75 / 6.0, c 0.9, 1.5e-14
  // against 1.6e-15) and the steps fall (the 32-node one further off), unless the last
  // is at the result's rounding level (silu', q 2307 / 3.2e-6, c 0.9918: steps 5.6e-17
  // and 0 at a result of 0.25)
  const double f2 = th ? 2.0 : 1.0;
  const double e48 = f2 * std::fabs(v[0] - v[1]), e32 = f2 * std::fabs(v[0] - v[2]);
  const double rounding = 8.0 * std::numeric_limits<double>::epsilon() * f2 * std::fabs(v[0]);
  if (!(e48 <= 0.05 * atol && (e48 <= e32 || e48 <= rounding))) return false;
  out = f2 * v[0];
  return std::isfinite(out);
}

// The conditional form, else the narrow one; where both apply (1/2 <= w <=
// narrow_spread) the narrow one first, 3-7x cheaper there (silu, q 356 / 238, c 0.9995:
// 0.2 against 1.3 ms; at silu', q 30.8 / 120, c 0.9957, w 1.02, the conditional form's
// 64-node inner rule is still 7e-15 from its 48-node one, too far).
inline bool saturating_conditional_or_narrow(Saturating k, int d, double s1, double s2, double c,
                                             double atol, double& out) {
  if (s2 * std::sqrt((1.0 - c) * (1.0 + c)) <= narrow_spread(k))
    return saturating_narrow(k, d, s1, s2, c, atol, out) ||
           saturating_conditional(k, d, s1, s2, c, atol, out);
  return saturating_conditional(k, d, s1, s2, c, atol, out);
}

// The tensor sum (saturating_tensor) at 32 and 24 nodes, then at 64 and 48, into t
// where it certifies its error (see above): false otherwise.
inline bool saturating_tensor_pair(double s1, double s2, double c, double atol, double& t) {
  const double t32 = saturating_tensor<32>(s1, s2, c, quad::lag32_x, quad::lag32_w);
  const double t24 = saturating_tensor<24>(s1, s2, c, quad::lag24_x, quad::lag24_w);
  t = t32;
  if (!(std::fabs(t32 - t24) <= 0.25 * atol)) {
    t = saturating_tensor<64>(s1, s2, c, quad::lag64_x, quad::lag64_w);
    const double t48 = saturating_tensor<48>(s1, s2, c, quad::lag48_x, quad::lag48_w);
    // Not extrapolated from the steps 32 -> 48 -> 64: the convergence in the nodes is
    // not geometric (tanh, q 0.75 / 6.0, c 0.9: the steps 2.6e-8, 5.8e-12 and the
    // 64-node sum's error 7.6e-13, 60x the geometric guess).
    if (!(std::fabs(t - t48) <= 0.25 * atol)) return false;
  }
  return std::isfinite(t);
}

// E[r(u) sign(v)] of tanh (see above), u of standard deviation s1, to absolute
// tolerance atol; false where the quadrature ended short.
inline bool saturating_cross(double s1, double c, double atol, double& out) {
  using namespace special;
  const double g = c / (std::sqrt(2.0) * s1 * std::sqrt((1.0 - c) * (1.0 + c)));
  quad::Mesh m;
  m.lo = 0.0;
  m.hi = 20.0;
  for (double b : {0.25, 0.5, 1.0, 2.0, 3.0, 4.5, 6.5, 9.0, 13.0}) m.add(b);
  for (double w = 0.25 / g; w < 20.0; w *= 2.0) m.add(w);  // erf's scale 1 / g
  for (double w = 0.25 * s1; w < 20.0; w *= 2.0) m.add(w);  // the density's
  m.finish();
  auto f = [&](double x, double* y) {
    y[0] = -2.0 / (1.0 + std::exp(2.0 * x)) * std::erf(g * x) * npdf(x / s1) / s1;
  };
  double v;
  const bool ok = quad::integrate<1>(f, m, 1e-14, 0.5 * atol, &v);
  out = 2.0 * v;
  return ok && std::isfinite(out);
}

// E[f(u) f(v)] of tanh (f = tanh, d = 0; sech^2, d = 1) for variances q1, q2 > 0 and
// 1/2 <= c < 1 (finite, checked by saturating_pair), to absolute tolerance atol: the
// tensor form where it applies, else the conditional one, else the narrow one (see
// above); false where none certifies its result (out untouched).
inline bool saturating_tanh(int d, double q1, double q2, double c, double atol, double& out) {
  // the covariance's smaller eigenvalue: below ~0.1 the tensor rules cannot pass (the
  // narrow axis under a third of the spacing of their nodes near 0)
  const double omc2 = (1.0 - c) * (1.0 + c);
  const double l1 = 0.5 * (q1 + q2 + std::hypot(q1 - q2, 2.0 * c * std::sqrt(q1 * q2)));
  // (phi': the conditional form only, whose inner rule converges 10-100x faster there;
  // phi at a variance below 1/4: the split of u would cancel, see saturating_conditional)
  const bool tensor = d == 0 && q1 * q2 * omc2 / l1 >= 0.1 && std::fmin(q1, q2) >= 0.25;
  const double s1 = std::sqrt(std::fmin(q1, q2)), s2 = std::sqrt(std::fmax(q1, q2));
  // the conditional form on the process-wide table first, where it serves
  if (saturating_conditional(Saturating::tanh, d, s1, s2, c, atol, out, 0.0, true)) return true;
  double t;
  if (tensor) {
    double a, b;
    if (saturating_cross(s1, c, 0.1 * atol, a) && saturating_cross(s2, c, 0.1 * atol, b) &&
        saturating_tensor_pair(s1, s2, c, 0.8 * atol, t)) {
      out = 2.0 / special::pi * std::asin(c) + a + b + t;
      return std::isfinite(out);
    }
  }
  if (!saturating_conditional_or_narrow(Saturating::tanh, d, s1, s2, c, atol, t)) return false;
  out = t;
  return std::isfinite(out);
}

}  // namespace detail

// E[f(u) f(v)] (f = phi^(d)) of tanh, sigmoid, softplus, shifted_softplus, silu or
// linear_region_tanh for q1, q2 > 0 and 1/2 <= c < 1 by the forms above, to absolute
// tolerance atol; false for other kinds or where they cannot certify their result.
inline bool saturating_pair(const Activation& a, int d, double q1, double q2, double c, double atol,
                            double& out) {
  if (!(c >= 0.5 && c < 1.0) || !(q1 > 0.0) || !(q2 > 0.0) || !std::isfinite(q1) ||
      !std::isfinite(q2) || !(atol > 0.0))
    return false;
  const double s1 = std::sqrt(std::fmin(q1, q2)), s2 = std::sqrt(std::fmax(q1, q2));
  double v;
  switch (a.kind) {
    case Kind::tanh:
      if (!detail::saturating_tanh(d, q1, q2, c, atol, v)) return false;
      break;
    case Kind::sigmoid: {
      // (the tolerance scaled with the result's factor 1/4 or 1/16)
      const double f = d == 0 ? 0.25 : 0.0625;
      if (!detail::saturating_tanh(d, 0.25 * q1, 0.25 * q2, c, atol / f, v)) return false;
      v = d == 0 ? 0.25 + 0.25 * v : f * v;
      break;
    }
    case Kind::linear_region_tanh: {
      // (The conditional form on the process-wide table first, from a spread of 1/10.
      // Then lrt_narrow first up to a spread of 0.6: there it certified every one of 104
      // random pairs, phi and phi', at 0.33-0.46 ms on average, the conditional form
      // with the pair's own table 86 % at 0.5-0.7 ms.)
      const double w = s2 * std::sqrt((1.0 - c) * (1.0 + c));
      auto cond = [&] {
        return detail::saturating_conditional(detail::Saturating::tanh, d, s1, s2, c, atol, v,
                                              a.p0);
      };
      auto narrow = [&] { return detail::lrt_narrow(d, a.p0, s1, s2, c, atol, v); };
      auto tabled = [&] {
        return detail::saturating_conditional(detail::Saturating::tanh, d, s1, s2, c, atol, v, a.p0,
                                              true);
      };
      if (!(tabled() || (w <= 0.6 ? narrow() || cond() : cond() || narrow()))) return false;
      break;
    }
    case Kind::softplus:
    case Kind::silu:
    case Kind::shifted_softplus: {
      const detail::Saturating k = a.kind == Kind::silu ? detail::Saturating::silu
                                   : a.kind == Kind::softplus
                                       ? detail::Saturating::softplus
                                       : detail::Saturating::shifted_softplus;
      if (!detail::saturating_conditional(k, d, s1, s2, c, atol, v, 0.0, true) &&
          !detail::saturating_conditional_or_narrow(k, d, s1, s2, c, atol, v))
        return false;
      break;
    }
    default: return false;
  }
  out = v;
  return std::isfinite(out);
}

}  // namespace sigprop
