// Two-point expectations next to |c| = 1 for activations without a closed-form
// Gaussian smoothing. On the diagonal (q1 = q2 = q) next to c = 1, where the
// Mehler series of a kinked activation converges too slowly and the nested
// quadrature in (Z1, Z2) must resolve features of width sqrt(1 - c^2) (bivariate_mesh):
// the difference form
//   E[f(u) f(v)] = E[f^2] - G / 2,   G = E[(f(u) - f(v))^2],   f = phi^(d),
// with u = a Z + b T, v = a Z - b T, a = sqrt(q (1 + c) / 2), b = sqrt(q (1 - c) / 2),
// Z, T independent N(0, 1) (then Var u = Var v = q, Cov(u, v) = q c), and by the
// symmetry T -> -T
//   G = 2 int_0^inf p(t) g(t) dt,   g(t) = E_Z[(f(aZ + bt) - f(aZ - bt))^2].
// The inner integrand has its kinks at z = (x_k -+ b t) / a, all placed in the mesh;
// g is smooth in t >= 0 except where two kinks of f meet (t = |x_i - x_j| / (2 b)),
// also placed. G >= 0 is an integral without cancellation, and it is needed only to
// the absolute tolerance of the result, a small fraction of itself when c is near 1.
// E[f^2] comes from the one-point moments (~1e-14 relative).
#pragma once

#include <algorithm>
#include <cmath>

#include "activation.hpp"
#include "expectation.hpp"
#include "moment_table.hpp"
#include "quadrature.hpp"
#include "special.hpp"

namespace sigprop {

namespace detail {

// The meshes of the difference form (diagonal_difference, diagonal_gaps), with
// sa = a, sb = b and the kinks xs[0..nk-1] of phi.
// Outer, on t in [0, zmax]: coarse (the integrand is smooth in t, ~ t^2 p(t) for
// small b t), and the meetings of kinks.
inline void difference_outer_mesh(const double* xs, int nk, double sb, quad::Mesh& outer) {
  outer.lo = 0.0;
  for (double t : {2.0, 4.0, 6.0}) outer.add(t);
  for (int i = 0; i < nk; ++i)
    for (int j = i + 1; j < nk; ++j) {
      const double t = std::fabs(xs[i] - xs[j]) / (2.0 * sb);
      if (outer.inside(t)) outer.add(t);
    }
  outer.finish();
}

// The inner integral of the nested quadratures below, over the mesh in z, of
// r(f(x1), f(x2), z) with f = phi^(d) and x1, x2 from at(z, x1, x2); quad::integrate's
// result. A user's activation takes each Gauss-Kronrod panel's 15 nodes at once
// (quad::batched): their two values from eval_many, several Chebyshev series summed
// side by side (its evaluations, each bound by the latency of its recurrence, were ~half
// the time of its pairs); the same numbers as node by node, the other kinds' way.
template <class At, class R>
inline bool integrate_pair(const Activation& a, int d, const At& at, const R& r,
                           const quad::Mesh& mesh, double rtol, double atol, double* v) {
  if (a.kind == Kind::custom) {
    auto hb = quad::batched([&](const double* z, double* y, int n) {
      constexpr int B = 15;
      double x1[B], x2[B], f1[B], f2[B];
      for (int i0 = 0; i0 < n; i0 += B) {
        const int nb = std::min(B, n - i0);
        for (int i = 0; i < nb; ++i) at(z[i0 + i], x1[i], x2[i]);
        eval_many(a, d, x1, nb, f1);
        eval_many(a, d, x2, nb, f2);
        for (int i = 0; i < nb; ++i) y[i0 + i] = r(f1[i], f2[i], z[i0 + i]);
      }
    });
    return quad::integrate<1, 3>(hb, mesh, rtol, atol, v);
  }
  auto h = [&](double z, double* y) {
    double x1, x2;
    at(z, x1, x2);
    y[0] = r(d == 0 ? phi(a, x1) : dphi(a, x1), d == 0 ? phi(a, x2) : dphi(a, x2), z);
  };
  return quad::integrate<1, 3>(h, mesh, rtol, atol, v);
}

// Inner, in z at shift s = b t: the activation's graded mesh once, about the
// unshifted features (the two shifted copies are within b t / a of them), and the
// shifted kinks exactly. For an odd phi the integrand (f(x + s) - f(x - s))^2 p(z)
// is even in z: with `half` the mesh covers z >= 0 only (the caller doubles).
inline void difference_inner_mesh(const Activation& a, const double* xs, int nk, double sa,
                                  double s, quad::Mesh& inner, bool half) {
  quad::add_gauss_mesh(inner);
  add_activation_mesh(a, 0.0, sa, inner);
  for (int i = 0; i <= nk; ++i) {  // the kinks, and 0 (where smooth phi bends)
    const double x = i < nk ? xs[i] : 0.0;
    for (double z : {(x - s) / sa, (x + s) / sa})
      if (inner.inside(z)) inner.add(z);
  }
  if (half) inner.lo = 0.0;
  inner.finish();
}

}  // namespace detail

// E[f(u) f(v)] for q1 = q2 = q > 0 (finite), 0 <= c < 1, f = phi^(d) of a canonical
// activation, to absolute accuracy atol_rel * E[f^2]; *ok (if given) is set false
// where a quadrature ended short of it.
inline double diagonal_difference(const Activation& a, int d, double q, double c,
                                  double atol_rel, bool* ok = nullptr) {
  using namespace special;
  const Moments m = moments(a, q, false);
  const double f_sq = d == 0 ? m.phi_sq : m.dphi_sq;
  if (!std::isfinite(f_sq)) return nan;
  if (f_sq == 0.0) return 0.0;
  const double sa = std::sqrt(0.5 * q * (1.0 + c)), sb = std::sqrt(0.5 * q * (1.0 - c));
  const double atol = atol_rel * f_sq;
  double xs[max_kinks];
  const int nk = kinks(a, xs);
  quad::Mesh outer;
  detail::difference_outer_mesh(xs, nk, sb, outer);
  const bool half = odd_builtin(a);  // (phi' is even: the squared difference still is)
  auto g = [&](double t, double* y) {
    const double w = 2.0 * npdf(t);
    if (w == 0.0) {
      y[0] = 0.0;
      return;
    }
    const double s = sb * t;
    quad::Mesh inner;
    detail::difference_inner_mesh(a, xs, nk, sa, s, inner, half);
    auto at = [&](double z, double& x1, double& x2) {
      const double x = sa * z;
      x1 = x + s;
      x2 = x - s;
    };
    auto r = [](double f1, double f2, double z) {
      const double diff = f1 - f2;
      return diff * diff * npdf(z);
    };
    double v;
    if (!detail::integrate_pair(a, d, at, r, inner, 1e-8, (half ? 0.05 : 0.1) * atol, &v) && ok)
      *ok = false;
    y[0] = w * (half ? 2.0 * v : v);
  };
  double G;
  if (!quad::integrate<1, 2>(g, outer, 1e-8, atol, &G) && ok) *ok = false;
  return f_sq - 0.5 * G;
}

}  // namespace sigprop

namespace sigprop {

// E[f(u) f(v)] for any q1, q2 > 0 (finite) and |c| < 1, f = phi^(d), by nested
// quadrature in the principal axes of the covariance: with Sigma = [[q1, k], [k, q2]],
// k = c sqrt(q1 q2), eigenvalues l1 >= l2 and the first eigenvector (cos t, sin t),
//   u = s1 cos t Z - s2 sin t T,   v = s1 sin t Z + s2 cos t T,   s_i = sqrt(l_i),
// Z, T independent N(0, 1). Next to |c| = 1 the small axis T carries the difference
// of u and v, and in Z at fixed T both factors have their kinks at known points, all
// placed in the mesh; the outer integrand is smooth in T except where a kink of f(u)
// meets one of f(v) (T = (x_j cos t - x_i sin t) / s2), also placed. This avoids the
// features of width sqrt(1 - c^2) that the conditional form (bivariate_quadrature)
// must resolve. Accurate to atol_rel of sqrt(E f(u)^2 E f(v)^2); *ok (if given) is
// set false where a quadrature ended short of it.
inline double principal_axes_quadrature(const Activation& a, int d, double q1, double q2,
                                        double c, double atol_rel, bool* ok = nullptr) {
  using namespace special;
  const Moments m1 = moments(a, q1, false), m2 = moments(a, q2, false);
  const double n1 = d == 0 ? m1.phi_sq : m1.dphi_sq, n2 = d == 0 ? m2.phi_sq : m2.dphi_sq;
  const double scale = std::sqrt(n1 * n2);
  if (!std::isfinite(scale)) return nan;
  if (scale == 0.0) return 0.0;
  const double k = c * std::sqrt(q1) * std::sqrt(q2);
  const double det = q1 * q2 * (1.0 - c) * (1.0 + c);
  const double disc = std::hypot(q1 - q2, 2.0 * k);
  const double l1 = 0.5 * (q1 + q2 + disc), l2 = det / l1;
  double ex, ey;  // first eigenvector, from the better-conditioned row
  if (q1 >= q2) {
    ex = l1 - q2;
    ey = k;
  } else {
    ex = k;
    ey = l1 - q1;
  }
  const double en = std::hypot(ex, ey);
  const double ct = en > 0.0 ? ex / en : 1.0, st = en > 0.0 ? ey / en : 0.0;
  const double s1 = std::sqrt(l1), s2 = std::sqrt(std::fmax(l2, 0.0));
  const double bu = s1 * ct, bv = s1 * st;  // slopes in Z
  const double atol = atol_rel * scale;
  double xs[max_kinks];
  const int nk = kinks(a, xs);
  quad::Mesh outer;
  quad::add_gauss_mesh(outer);
  if (s2 > 0.0)
    for (int i = 0; i <= nk; ++i)
      for (int j = 0; j <= nk; ++j) {
        const double xi = i < nk ? xs[i] : 0.0, xj = j < nk ? xs[j] : 0.0;
        const double t = (xj * ct - xi * st) / s2;
        if (outer.inside(t)) outer.add(t);
      }
  outer.finish();
  auto g = [&](double t, double* y) {
    const double w = npdf(t);
    if (w == 0.0) {
      y[0] = 0.0;
      return;
    }
    const double mu = -s2 * st * t, mv = s2 * ct * t;  // u = mu + bu Z, v = mv + bv Z
    quad::Mesh inner;
    quad::add_gauss_mesh(inner);
    if (std::fabs(bu) >= std::fabs(bv))
      detail::add_activation_mesh(a, mu, bu, inner);
    else
      detail::add_activation_mesh(a, mv, bv, inner);
    for (int i = 0; i <= nk; ++i) {  // the kinks of both factors (and 0), exactly
      const double x = i < nk ? xs[i] : 0.0;
      if (bu != 0.0 && inner.inside((x - mu) / bu)) inner.add((x - mu) / bu);
      if (bv != 0.0 && inner.inside((x - mv) / bv)) inner.add((x - mv) / bv);
    }
    inner.finish();
    auto at = [&](double z, double& x1, double& x2) {
      x1 = mu + bu * z;
      x2 = mv + bv * z;
    };
    auto r = [](double f1, double f2, double z) { return f1 * f2 * npdf(z); };
    double v;
    if (!detail::integrate_pair(a, d, at, r, inner, 1e-13, 0.1 * atol, &v) && ok) *ok = false;
    y[0] = w * v;
  };
  double E;
  if (!quad::integrate<1, 2>(g, outer, 1e-13, atol, &E) && ok) *ok = false;
  return E;
}

}  // namespace sigprop

namespace sigprop {

// G_0 = E[(phi(u) - phi(v))^2] and G_1 = E[(phi'(u) - phi'(v))^2] at once, for
// q1 = q2 = q > 0 (finite) and 0 <= c < 1, by the difference form of
// diagonal_difference (one nested quadrature with a two-component integrand:
// phi and phi' share their kinks, hence the meshes). Each is accurate to rtol of
// itself (the integrands are >= 0): G is of size (1 - c) q E[f'^2], so relative
// accuracy in G is what a table of G / (1 - c) needs next to c = 1
// (near_diagonal_table.hpp). Returns false where a quadrature ended short.
inline bool diagonal_gaps(const Activation& a, double q, double c, double rtol, double* G) {
  using namespace special;
  const double sa = std::sqrt(0.5 * q * (1.0 + c)), sb = std::sqrt(0.5 * q * (1.0 - c));
  double xs[max_kinks];
  const int nk = kinks(a, xs);
  quad::Mesh outer;
  detail::difference_outer_mesh(xs, nk, sb, outer);
  const bool half = odd_builtin(a);  // even integrand in z (see difference_inner_mesh)
  bool ok = true;
  auto g = [&](double t, double* y) {
    const double w = (half ? 4.0 : 2.0) * npdf(t);
    if (w == 0.0) {
      y[0] = y[1] = 0.0;
      return;
    }
    const double s = sb * t;
    quad::Mesh inner;
    detail::difference_inner_mesh(a, xs, nk, sa, s, inner, half);
    auto h = [&](double z, double* r) {
      const double x = sa * z, p = npdf(z);
      const Derivs up = derivs(a, x + s), dn = derivs(a, x - s);
      const double d0 = up.f - dn.f, d1 = up.d - dn.d;
      r[0] = d0 * d0 * p;
      r[1] = d1 * d1 * p;
    };
    double v[2];
    if (!quad::integrate<2, 3>(h, inner, rtol, 1e-300, v)) ok = false;
    y[0] = w * v[0];
    y[1] = w * v[1];
  };
  if (!quad::integrate<2, 2>(g, outer, rtol, 1e-300, G)) ok = false;
  return ok && std::isfinite(G[0]) && std::isfinite(G[1]);
}

}  // namespace sigprop
