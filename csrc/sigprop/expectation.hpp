// Gaussian expectations of activations.
//
// One-dimensional, Z ~ N(0, 1), x = sqrt(q) Z:
//   mean = E[phi(x)], phi_sq = E[phi(x)^2], dphi_sq = E[phi'(x)^2],
//   d2phi_sq = E[phi''(x)^2] (infinite when phi' jumps: phi'' has a Dirac mass),
//   dV = d/dq E[phi(x)^2] = E[phi'^2] + E[phi phi''] + sum over kinks k of
//        phi(k) [phi'(k+) - phi'(k-)] p_q(k)   (Gaussian integration by parts;
//        the kink terms are what a plain E[phi phi''] misses).
// Closed forms for linear, relu, leaky_relu, erf, sin and the piecewise-linear
// kinds (through the normal tail functions of special.hpp); adaptive
// Gauss–Kronrod split at every kink otherwise.
//
// Shifted means E[phi^(d)(m + b W)], W ~ N(0, 1), d = 0 or 1: closed forms for
// every kind whose Gaussian smoothing is elementary (relu family, elu, selu,
// gelu, erf, sin, the piecewise-linear kinds), quadrature otherwise.
//
// Bivariate E[phi^(d)(u) phi^(d)(v)] with u = sqrt(q1) Z1,
// v = sqrt(q2)(c Z1 + sqrt(1 - c^2) Z2): closed forms (arc-cosine kernel for
// the relu family, arcsine kernel for erf, sin; bivariate normal orthants for the
// piecewise linear / exponential kinds, piecewise_closed_forms.hpp, where their
// error estimate allows), otherwise the conditional
// form E[F(u) H(Z1)] with H the shifted mean of G given Z1, integrated with a
// mesh split at the kinks of F and at the (smoothed) kinks of H; exact at
// c = +-1, where H has true kinks.
#pragma once

#include <cmath>

#include "activation.hpp"
#include "canonical.hpp"
#include "custom_activation.hpp"
#include "piecewise_closed_forms.hpp"
#include "quadrature.hpp"
#include "special.hpp"

namespace sigprop {

struct Moments {
  double mean = 0.0;
  double phi_sq = 0.0;
  double dphi_sq = 0.0;
  double d2phi_sq = 0.0;
  double dV = 0.0;
  bool ok = true;  // false if the quadrature did not reach its tolerance
};

namespace detail {

// The Cauchy-Schwarz scale sqrt(E f(u)^2 E f(v)^2) of a pair (f = phi^(d)) from the two
// inputs' moments
inline double pair_scale(int d, const Moments& m1, const Moments& m2) {
  return d == 0 ? std::sqrt(m1.phi_sq) * std::sqrt(m2.phi_sq)
                : std::sqrt(m1.dphi_sq) * std::sqrt(m2.dphi_sq);
}

inline constexpr double rtol_1d = 1e-14;
inline constexpr double rtol_inner = 1e-14;
inline constexpr double rtol_outer = 1e-13;
// Absolute tolerance of the bivariate quadrature, relative to sqrt(E F(u)^2 E F(v)^2).
inline constexpr double atol_2d = 1e-13;
inline constexpr double tiny_atol = 1e-300;

// Add the mesh of every feature of an activation (its kinks, and 0 where smooth
// activations change on the scale of 1 while the Gaussian spreads over sqrt(q))
// mapped by z = (x - m) / b.
inline void add_activation_mesh(const Activation& a, double m, double b, quad::Mesh& mesh) {
  double xs[max_kinks];
  const int n = kinks(a, xs);
  bool has0 = false;
  for (int i = 0; i < n; ++i) {
    quad::add_feature_mesh(mesh, xs[i], m, b, true);
    has0 = has0 || xs[i] == 0.0;
  }
  if (!has0) quad::add_feature_mesh(mesh, 0.0, m, b, false);
}

// Mesh for E[f(m + b W)] in the variable W.
inline void shifted_mesh(const Activation& a, double m, double b, quad::Mesh& mesh) {
  quad::add_gauss_mesh(mesh);
  add_activation_mesh(a, m, b, mesh);
  mesh.finish();
}

// P(lo < Z < hi) for lo <= hi, without cancellation.
inline double prob_between(double lo, double hi) {
  using namespace special;
  if (lo >= 0.0) return nsf(lo) - nsf(hi);
  if (hi <= 0.0) return ncdf(hi) - ncdf(lo);
  return 1.0 - nsf(hi) - ncdf(lo);
}

// E[(m + b W - k)_+] for b > 0.
inline double relu_shift(double m, double b, double k) {
  return b * special::upper_tail((k - m) / b).p1;
}

// E[e^X ; X < 0] for X = m + b W, b > 0, without overflow.
inline double exp_below0(double m, double b) {
  using namespace special;
  const double t = m / b;
  const double u = t + b;
  if (u > 0.0) return 0.5 * erfcx(u * inv_sqrt2) * std::exp(-0.5 * t * t);
  return std::exp(m + 0.5 * b * b) * ncdf(-u);
}

// P(lo < W < lo + width) and E[W; lo < W < lo + width] for W ~ N(0, 1), width >= 0.
// The width is passed on its own: it can be far below the resolution of lo (1e-30
// beside 1). On a narrow interval (width times |w| small) the closed forms
// Phi(hi) - Phi(lo) and N(lo) - N(hi) subtract nearly equal numbers (relative error
// 1e-16 / width); there a 15-point Gauss-Kronrod rule on the smooth density is exact
// to rounding.
struct NormalPiece {
  double p0, p1;
};

// hi: lo + width, given where the caller knows it to better than that sum would round
// to (a limit (A - m) / w next to m = A at a narrow w: lo = -m / w and width = A / w are
// each 1 / w in size, their sum off by ~1e-16 / w); the width still sets the narrow
// interval's rule (hi - lo would cancel there instead). Without it, hi = lo + width.
inline NormalPiece normal_between(double lo, double width, double hi) {
  using namespace special;
  const double h = 0.5 * width, c = lo + h;
  if (h * (1.0 + std::fabs(c) + h) <= 0.25) {
    double s0 = quad::wgk[7] * npdf(c), s1 = s0 * c;
    for (int i = 0; i < 7; ++i) {
      const double x1 = c - h * quad::xgk[i], x2 = c + h * quad::xgk[i];
      const double f1 = npdf(x1), f2 = npdf(x2);
      s0 += quad::wgk[i] * (f1 + f2);
      s1 += quad::wgk[i] * (x1 * f1 + x2 * f2);
    }
    return {s0 * h, s1 * h};
  }
  return {prob_between(lo, hi), npdf(lo) - npdf(hi)};
}

inline NormalPiece normal_between(double lo, double width) {
  return normal_between(lo, width, lo + width);
}

// E[e^X - 1; X < 0] for X = m + b W, b > 0 (the negative part of elu/selu).
// exp_below0 - P(X < 0) cancels when X is near 0 (|m|, b << 1: bivariate
// expectations at tiny q, where it made the quadrature fail with NaN); there
// E = expm1(m + b^2/2) P(W < -t - b) - P(-t - b < W < -t), t = m / b, without
// cancellation (for m <= 0 both terms are negative).
inline double expm1_below0(double m, double b) {
  using namespace special;
  const double t = m / b;
  if (std::fabs(m) + b > 0.5) return exp_below0(m, b) - nsf(t);
  return std::expm1(m + 0.5 * b * b) * ncdf(-t - b) - normal_between(-t - b, b).p0;
}

// Whether shifted_mean has a closed form for this (canonical) kind.
inline bool has_closed_shifted_mean(Kind k) {
  switch (k) {
    case Kind::linear:
    case Kind::relu:
    case Kind::leaky_relu:
    case Kind::elu:
    case Kind::selu:
    case Kind::gelu:
    case Kind::erf:
    case Kind::sin:
    case Kind::hard_tanh:
    case Kind::shifted_relu:
    case Kind::soft_threshold:
    case Kind::linear_floor: return true;
    default: return false;
  }
}

// The mesh on [0, t2] of an integral over Y = y of a conditional expectation given y
// on the window |X| < t1 (X | y ~ N(c y, r^2), ac = |c|): graded from y = 0 on the
// scale r / ac of the conditional features, and about y1 = t1 / ac, where the
// conditional mean reaches the window's edge, also where y1 itself lies just beyond
// t2 (q1 = q2 next to c = 1: y1 = t2 / c, a feature of width r / c at the end of the
// range, which had cost 2.8e-12 of the result at q = 9.8, 1 - c = 1e-8).
inline void hard_tanh_window_mesh(double t1, double t2, double r, double ac, quad::Mesh& mesh) {
  mesh.lo = 0.0;
  mesh.hi = t2;
  if (ac > 0.0) {
    for (double w = 0.25 * r / ac; w < t2; w *= 4.0) mesh.add(w);
    const double y1 = t1 / ac;
    if (mesh.inside(y1)) mesh.add(y1);
    for (double w = 0.25 * r / ac; w < t2; w *= 4.0) {
      if (mesh.inside(y1 - w)) mesh.add(y1 - w);
      if (mesh.inside(y1 + w)) mesh.add(y1 + w);
    }
  }
  mesh.finish();
}

// E[phi(u) phi(v)] of hard_tanh (clip to [-a, a]) where its orthant closed form
// cancels (q1 q2 large against a^2: terms of size q cancel to a result of size a^2),
// written without that cancellation: phi(x) = a sgn(x) - g(x), g(x) = (a sgn(x) - x)
// on |x| < a (0 outside), so that
//   E[phi(u) phi(v)] = a^2 (2/pi) asin(c) - a E[sgn(u) g(v)] - a E[g(u) sgn(v)]
//                      + E[g(u) g(v)],
// every term of size a^2 or below. With X = u / sqrt(q1), Y = v / sqrt(q2) standard,
// correlation c, r = sqrt(1 - c^2), t_i = a / sqrt(q_i), the last three are even
// one-dimensional integrals over [0, t] (g odd):
//   E[sgn(u) g(v)] = 2 int_0^{t2} npdf(y) (a - sqrt(q2) y) erf(c y / (r sqrt 2)) dy,
//   E[g(u) g(v)]   = 2 int_0^{t2} npdf(y) (a - sqrt(q2) y) G(y) dy,
// G(y) = E[g(sqrt(q1) X) | Y = y], X | y ~ N(c y, r^2), in closed form through the
// normal's mass and mean on (0, t1) and (-t1, 0) (normal_between). Adaptive
// Gauss-Kronrod on meshes graded from y = 0 on the scale r / |c| of the conditional
// features (and around y = t1 / c). For |c| < 1, q1, q2 > 0; false where a quadrature
// did not converge to atol (absolute).
inline bool hard_tanh_sign_form(double a, double q1, double q2, double c, double atol,
                                double& out) {
  using namespace special;
  if (!(a > 0.0) || !(q1 > 0.0) || !(q2 > 0.0) || !(std::fabs(c) < 1.0)) return false;
  const double s1 = std::sqrt(q1), s2 = std::sqrt(q2), r = std::sqrt((1.0 - c) * (1.0 + c));
  const double t1 = a / s1, t2 = a / s2;
  const double ac = std::fabs(c);
  // E[sgn(u) g(v)] over y in [0, t_v] (s_v = sqrt(q of v))
  auto sgn_g = [&](double sv, double tv, double& v) {
    auto f = [&](double y, double* o) {
      o[0] = 2.0 * npdf(y) * (a - sv * y) * std::erf(c * y / (r * sqrt2));
    };
    quad::Mesh mesh;
    mesh.lo = 0.0;
    mesh.hi = tv;
    if (ac > 0.0)
      for (double w = 0.25 * r / ac; w < tv; w *= 4.0) mesh.add(w);
    mesh.finish();
    return quad::integrate<1, 6>(f, mesh, 1e-12, atol, &v);
  };
  double e12, e21, e22;
  if (!sgn_g(s2, t2, e12) || !sgn_g(s1, t1, e21)) return false;
  // E[g(u) g(v)]: G(y) = a P(0 < X < t1) - s1 E[X; 0 < X < t1]
  //                    - a P(-t1 < X < 0) - s1 E[X; -t1 < X < 0]
  auto G = [&](double y) {
    const double mu = c * y;
    const NormalPiece p = normal_between(-mu / r, t1 / r);          // X in (0, t1)
    const NormalPiece m = normal_between((-t1 - mu) / r, t1 / r);   // X in (-t1, 0)
    return a * (p.p0 - m.p0) - s1 * (mu * (p.p0 + m.p0) + r * (p.p1 + m.p1));
  };
  auto f4 = [&](double y, double* o) { o[0] = 2.0 * npdf(y) * (a - s2 * y) * G(y); };
  quad::Mesh mesh;
  hard_tanh_window_mesh(t1, t2, r, ac, mesh);
  if (!quad::integrate<1, 6>(f4, mesh, 1e-12, atol, &e22)) return false;
  const double asn = (2.0 / pi) * std::atan2(c, r);  // E[sgn(u) sgn(v)] = (2/pi) asin(c)
  out = a * a * asn - a * (e12 + e21) + e22;
  return std::isfinite(out);
}

// Whether hard_tanh_window_form takes its complement's sliver (see there): c > 0 and the
// conditional width sqrt(1 - c^2) within 1/12 of the window's half-width t1 = a /
// sqrt(min(q1, q2)). (The dispatch reads it too, before it computes the tolerance.)
inline bool hard_tanh_window_sliver(double a, double q1, double q2, double c) {
  return c > 0.0 && a / std::sqrt(std::fmin(q1, q2)) >= 12.0 * std::sqrt((1.0 - c) * (1.0 + c));
}

// E[phi'(u) phi'(v)] of hard_tanh, P(|u| < a, |v| < a), where its orthant closed form
// cancels (q1 q2 large against a^2, next to |c| = 1: orthant probabilities of size
// ~1/4 summed to a result of size t1 t2), as the even one-dimensional integral
//   P(|X| < t1, |Y| < t2) = 2 int_0^{t2} npdf(y) P(|X| < t1 | Y = y) dy,
// X | y ~ N(c y, r^2), the conditional probability in closed form (normal_between),
// t2 <= t1 the shorter range (the symmetry of X and Y). Every term is positive:
// nothing cancels. Adaptive Gauss-Kronrod on hard_tanh_window_mesh; where the closed
// form fails (11 % of random pairs at |c| >= 0.95), 1-3 us against 50-300 us of the
// nested quadrature. For |c| < 1, q1, q2 > 0; false where the quadrature did not
// converge to atol (absolute) or rtol 1e-12.
inline bool hard_tanh_window_form(double a, double q1, double q2, double c, double atol,
                                  double& out) {
  using namespace special;
  if (!(a > 0.0) || !(q1 > 0.0) || !(q2 > 0.0) || !(std::fabs(c) < 1.0)) return false;
  const double r = std::sqrt((1.0 - c) * (1.0 + c)), ac = std::fabs(c);
  const double t1 = a / std::sqrt(std::fmin(q1, q2)), t2 = a / std::sqrt(std::fmax(q1, q2));
  if (hard_tanh_window_sliver(a, q1, q2, c)) {
    // Next to c = 1 (a near-diagonal pair: the conditional width r well inside the
    // window), the complement's sliver instead, over the ten conditional widths below
    // the window's edge y1 = t1 / c (below them P(|X| >= t1 | y) < Phi(-10)):
    //   P(|X| < t1, |Y| < t2) = erf(t2 / sqrt 2) - 2 int_{y0}^{t2} npdf(y) P(|X| >= t1 | y) dy,
    // y0 = y1 - 10 r / c, P(|X| >= t1 | y) = Phi((c y - t1) / r) + Phi((-t1 - c y) / r),
    // the second below Phi(-12) on y >= 0 (t1 >= 12 r) and left out, as is the first below
    // y0: at most 2 t2 (Phi(-10) + Phi(-12)) < 2e-23 t2 in all, of a result ~0.8 t2. The
    // sliver is a small correction to the erf (nothing cancels), on a range of 10 r / c
    // where the window's was t2, graded on the Gaussian's scale: 2-3 us against 6-15 us
    // at q ~ 30-1e4, 1 - c below ~1e-4 (the window itself, below, from t1 < 12 r).
    const double y1 = t1 / c, rc = r / c, y0 = y1 - 10.0 * rc;
    double sliver = 0.0;
    if (y0 < t2) {
      auto g = [&](double y, double* o) { o[0] = 2.0 * npdf(y) * ncdf((c * y - t1) / r); };
      quad::Mesh mesh;
      mesh.lo = std::fmax(y0, 0.0);
      mesh.hi = t2;
      for (double w : {0.0, 1.0, 2.0, 3.5, 5.5}) {
        if (mesh.inside(y1 - w * rc)) mesh.add(y1 - w * rc);
      }
      mesh.finish();
      if (!quad::integrate<1, 6>(g, mesh, 1e-12, atol, &sliver)) return false;
    }
    out = std::erf(t2 * inv_sqrt2) - sliver;
    return std::isfinite(out);
  }
  auto f = [&](double y, double* o) {
    o[0] = 2.0 * npdf(y) * normal_between((-t1 - c * y) / r, 2.0 * t1 / r).p0;
  };
  quad::Mesh mesh;
  hard_tanh_window_mesh(t1, t2, r, ac, mesh);
  if (!quad::integrate<1, 6>(f, mesh, 1e-12, atol, &out)) return false;
  return std::isfinite(out);
}

// Whether E[phi^(d)(u) phi^(d)(v)] has a closed form valid for every q1, q2 > 0 and
// c in [-1, 1] (bivariate_closed_form): the arc-cosine kernels of the relu family,
// the arcsine kernel of erf, sin's, gelu's.
inline bool has_kernel_closed_form(Kind k) {
  switch (k) {
    case Kind::linear:
    case Kind::relu:
    case Kind::leaky_relu:
    case Kind::erf:
    case Kind::sin:
    case Kind::gelu: return true;
    default: return false;
  }
}

// Whether phi (d = 0) or phi' (d = 1) of a canonical activation never changes sign.
inline bool one_signed(const Activation& a, int d) {
  switch (a.kind) {
    case Kind::custom: {
      const CustomActivation* c = custom_activation(a.p0);
      return c && (d == 0 ? c->flags().phi_one_signed : c->flags().dphi_one_signed);
    }
    case Kind::relu:
    case Kind::shifted_relu:
    case Kind::softplus:
    case Kind::sigmoid: return true;
    case Kind::gelu:
    case Kind::silu:
    case Kind::sin: return false;
    case Kind::leaky_relu:
    case Kind::elu: return d == 1 && a.p0 >= 0.0;
    default: return d == 1;
  }
}

inline double one_sided_avg_dphi_sq(const Activation& a) {
  const double r = dphi(a, 1e-300), l = dphi(a, -1e-300);
  return 0.5 * (r * r + l * l);
}

}  // namespace detail

namespace detail {

// The moments at q = 0: phi and its derivatives at 0, with the one-sided
// averages where phi' or phi'' jumps there.
inline Moments moments_at_zero(const Activation& a) {
  using namespace special;
  Moments r;
  const double f0 = phi(a, 0.0);
  r.mean = f0;
  r.phi_sq = f0 * f0;
  r.dphi_sq = detail::one_sided_avg_dphi_sq(a);
  const double d2r = d2phi(a, 1e-300), d2l = d2phi(a, -1e-300);
  r.d2phi_sq = dphi_has_jump(a) ? inf : 0.5 * (d2r * d2r + d2l * d2l);
  double dv = r.dphi_sq + f0 * 0.5 * (d2r + d2l);
  double xs[max_kinks];
  const int nk = kinks(a, xs);
  for (int i = 0; i < nk; ++i)
    if (xs[i] == 0.0 && f0 * dphi_jump(a, 0.0) != 0.0) dv = f0 * dphi_jump(a, 0.0) * inf;
  r.dV = dv;
  return r;
}

// q near the subnormal range: the quadrature's phi(sqrt(q) z)^2 underflows (qmap of
// tanh at q = 5e-324 was 0). To first order in sqrt(q), with the one-sided slopes
// R, L of phi at 0, E[phi - phi(0)] = sqrt(q) (R - L) / sqrt(2 pi) and
// E[(phi - phi(0))^2] = q (R^2 + L^2) / 2 (relative error O(sqrt(q)) = 1e-145);
// the derivative moments are their q = 0 limits.
inline Moments moments_near_zero(const Activation& a, double q) {
  using namespace special;
  Moments r = moments_at_zero(a);
  const double R = dphi(a, 1e-300), L = dphi(a, -1e-300), f0 = r.mean;
  const double dm = std::sqrt(q) * (R - L) * inv_sqrt_2pi;
  r.mean = f0 + dm;
  r.phi_sq = f0 * f0 + 2.0 * f0 * dm + q * (0.5 * (R * R + L * L));
  return r;
}

// The moments at q > 0 in closed form, where the kind has one; false otherwise.
inline bool moments_closed_form(const Activation& a, double q, Moments& r) {
  using namespace special;
  const double s = std::sqrt(q);
  if (a.kind == Kind::custom && is_homogeneous(a)) {
    // phi = s+ x (x > 0), s- x (x < 0): the leaky-relu closed forms
    const double sp = dphi(a, 1.0), sm = dphi(a, -1.0), k = 0.5 * (sp * sp + sm * sm);
    r = {(sp - sm) * s * inv_sqrt_2pi, k * q, k, sp == sm ? 0.0 : inf, k, true};
    return true;
  }
  switch (a.kind) {
    case Kind::linear: r = {0.0, q, 1.0, 0.0, 1.0, true}; return true;
    case Kind::relu: r = {s * inv_sqrt_2pi, 0.5 * q, 0.5, inf, 0.5, true}; return true;
    case Kind::leaky_relu: {
      const double b = a.p0, k = 0.5 * (1.0 + b * b);
      r = {(1.0 - b) * s * inv_sqrt_2pi, k * q, k, inf, k, true};
      return true;
    }
    case Kind::erf: {
      const double w = std::sqrt(1.0 + 4.0 * q);
      r.mean = 0.0;
      // near DBL_MAX, 2q / sqrt(1 + 4q) as sqrt(q) / sqrt(1 + 1/(4q)) (no inf / inf)
      r.phi_sq = (2.0 / pi) * std::atan(q > 1e300 ? s / std::sqrt(1.0 + 0.25 / q) : 2.0 * q / w);
      r.dphi_sq = (4.0 / pi) / w;
      r.d2phi_sq = (16.0 / pi) * q / (w * w * w);
      r.dV = (4.0 / pi) / ((1.0 + 2.0 * q) * w);
      return true;
    }
    case Kind::sin: {
      const double e = std::exp(-2.0 * q);
      r.mean = 0.0;
      r.phi_sq = -0.5 * std::expm1(-2.0 * q);
      r.dphi_sq = 0.5 * (1.0 + e);
      r.d2phi_sq = r.phi_sq;
      r.dV = e;
      return true;
    }
    case Kind::hard_tanh: {
      const double al = a.p0, t = al / s;
      r.mean = 0.0;
      r.phi_sq = q * central_m2(t) + 2.0 * al * al * nsf(t);
      r.dphi_sq = std::erf(t * inv_sqrt2);
      r.d2phi_sq = inf;
      r.dV = central_m2(t);
      return true;
    }
    case Kind::shifted_relu: {
      const Tail T = upper_tail(a.p0 / s);
      r = {s * T.p1, q * T.p2, T.p0, inf, T.p0, true};
      return true;
    }
    case Kind::soft_threshold: {
      const Tail T = upper_tail(a.p0 / s);
      // q (2 p2), not 2 q p2, and 2 p2, 2 p0 <= 1 (they are at most 1; rounding gave
      // 1 + 2^-52 at tau / sqrt(q) ~ 0): no overflow to inf at q = DBL_MAX.
      const double p0 = std::fmin(1.0, 2.0 * T.p0), p2 = std::fmin(1.0, 2.0 * T.p2);
      r = {0.0, q * p2, p0, inf, p0, true};
      return true;
    }
    case Kind::linear_floor: {
      const double al = a.p0, t = al / s;
      const Tail T = upper_tail(t);
      const double d = npdf(t);
      r.mean = s * T.p1;
      r.phi_sq = q * (1.0 - t * d - T.p0) + al * al * T.p0;
      r.dphi_sq = ncdf(t);
      r.d2phi_sq = inf;
      r.dV = ncdf(t) - t * d;
      return true;
    }
    default: return false;
  }
}

// The moments at q > 0 by quadrature in z with the standard normal weight, split
// at every kink.
inline Moments moments_quadrature(const Activation& a, double q) {
  using namespace special;
  Moments r;
  const double s = std::sqrt(q);
  quad::Mesh mesh;
  detail::shifted_mesh(a, 0.0, s, mesh);
  double v[5];
  const bool big_q = q > 1.0;
  // Near the top of the double range phi(sqrt(q) z)^2 overflows (elu, gelu, softplus at
  // q > 1e305 gave NaN): E[phi^2] is integrated as q E[(phi / sqrt(q))^2] there.
  const double phi_scale = q > 1e300 ? s : 1.0;
  auto f = [&](double z, double* y) {
    const double x = s * z, w = npdf(z);
    const Derivs g = derivs(a, x);
    const double p = g.f, d = g.d, d2 = g.d2;
    const double ps = p / phi_scale;
    y[0] = p * w;
    y[1] = ps * ps * w;
    y[2] = d * d * w;
    y[3] = d2 * d2 * w;
    // V'(q) / sigma_w^2 = d E[phi^2] / dq. For q <= 1 through E[phi'^2] + E[phi phi'']
    // plus the kink terms; for q > 1, where the two terms of that sum nearly cancel for
    // saturating phi (tanh at q = 1e4: 1e-3 relative), through the Stein form
    // E[phi phi'(sqrt(q) Z) Z] / sqrt(q), whose integrand has no cancellation and which
    // includes the kinks by itself.
    y[4] = big_q ? p * d * z * w : p * d2 * w;
  };
  r.ok = quad::integrate<5>(f, mesh, detail::rtol_1d, detail::tiny_atol, v);
  r.mean = v[0];
  r.phi_sq = v[1] * phi_scale * phi_scale;
  r.dphi_sq = v[2];
  r.d2phi_sq = dphi_has_jump(a) ? inf : v[3];
  if (big_q) {
    r.dV = v[4] / s;
    return r;
  }
  double dv = v[2] + v[4];
  double xs[max_kinks];
  const int nk = kinks(a, xs);
  for (int i = 0; i < nk; ++i) {
    const double j = dphi_jump(a, xs[i]);
    if (j != 0.0) dv += phi(a, xs[i]) * j * npdf(xs[i] / s) / s;
  }
  r.dV = dv;
  return r;
}

}  // namespace detail

// Gaussian moments of phi at variance q >= 0, by closed forms or quadrature
// (moments() in moment_table.hpp interpolates the quadrature ones).
inline Moments moments_direct(const Activation& act, double q) {
  const Activation a = canonical(act);
  if (q == 0.0) return detail::moments_at_zero(a);
  if (q < 1e-290) return detail::moments_near_zero(a, q);
  Moments r;
  if (detail::moments_closed_form(a, q, r)) return r;
  return detail::moments_quadrature(a, q);
}

namespace detail {

// E[phi^(d)(m + b W)] for b > 0 in closed form, where the kind has one (the kinds
// of has_closed_shifted_mean); false otherwise.
inline bool shifted_mean_closed_form(const Activation& a, int d, double m, double b, double& out) {
  using namespace special;
  const double t = m / b;
  switch (a.kind) {
    case Kind::linear: out = d == 0 ? m : 1.0; return true;
    case Kind::relu: out = d == 0 ? detail::relu_shift(m, b, 0.0) : ncdf(t); return true;
    case Kind::leaky_relu: {
      const double be = a.p0;
      if (d == 0)
        out = be * m + (1.0 - be) * detail::relu_shift(m, b, 0.0);
      else
        out = be + (1.0 - be) * ncdf(t);
      return true;
    }
    case Kind::elu:
    case Kind::selu: {
      const auto [la, al] = elu_constants(a);
      if (d == 0)
        out = la * (detail::relu_shift(m, b, 0.0) + al * detail::expm1_below0(m, b));
      else
        out = la * (ncdf(t) + al * detail::exp_below0(m, b));
      return true;
    }
    case Kind::gelu: {
      const double r2 = 1.0 + b * b, r = std::sqrt(r2), u = m / r;
      if (d == 0)
        out = m * ncdf(u) + b * b * npdf(u) / r;
      else
        out = ncdf(u) + (m / r2) * npdf(u) / r;
      return true;
    }
    case Kind::erf: {
      const double r2 = 1.0 + 2.0 * b * b;
      if (d == 0)
        out = std::erf(m / std::sqrt(r2));
      else
        out = 2.0 * inv_sqrt_pi * std::exp(-m * m / r2) / std::sqrt(r2);
      return true;
    }
    case Kind::sin: {
      const double e = std::exp(-0.5 * b * b);
      out = (d == 0 ? std::sin(m) : std::cos(m)) * e;
      return true;
    }
    case Kind::hard_tanh: {
      // normal_between: accurate also for a narrow window (a << b; a = 1e-8 gave NaN).
      const double al = a.p0, lo = (-al - m) / b, hi = (al - m) / b;
      const detail::NormalPiece in = detail::normal_between(lo, 2.0 * al / b);
      if (d == 1)
        out = in.p0;
      else
        out = al * (nsf(hi) - ncdf(lo)) + m * in.p0 + b * in.p1;
      return true;
    }
    case Kind::shifted_relu:
      out = d == 0 ? detail::relu_shift(m, b, a.p0) : nsf((a.p0 - m) / b);
      return true;
    case Kind::soft_threshold: {
      const double tau = a.p0;
      if (d == 0)
        out = detail::relu_shift(m, b, tau) - detail::relu_shift(-m, b, tau);
      else
        out = nsf((tau - m) / b) + nsf((tau + m) / b);
      return true;
    }
    case Kind::linear_floor:
      // max(x, -a) = -a + (x + a)_+ = x + (-a - x)_+: the form whose correction is
      // the small one, so that nothing cancels when the floor is many b from m.
      if (d == 0)
        out = -a.p0 <= m ? m + detail::relu_shift(-m, b, a.p0)
                         : -a.p0 + detail::relu_shift(m, b, -a.p0);
      else
        out = nsf((-a.p0 - m) / b);
      return true;
    default: return false;
  }
}

// E[phi^(d)(m + b W)] for b > 0 by quadrature in W, to relative accuracy rtol_inner
// or absolute accuracy atol; *ok (if given) is set false where it falls short.
inline double shifted_mean_quadrature(const Activation& a, int d, double m, double b, double atol,
                                      bool* ok) {
  using namespace special;
  quad::Mesh mesh;
  detail::shifted_mesh(a, m, b, mesh);
  double v;
  auto f = [&](double w, double* y) {
    const double x = m + b * w;
    y[0] = (d == 0 ? phi(a, x) : dphi(a, x)) * npdf(w);
  };
  const bool good = quad::integrate<1, 1>(f, mesh, detail::rtol_inner, atol, &v);
  if (ok && !good) *ok = false;
  return v;
}

}  // namespace detail

// E[phi^(d)(m + b W)], W ~ N(0, 1), b >= 0, d = 0 (phi) or 1 (phi'). Where it is
// computed by quadrature, to relative accuracy rtol_inner or absolute accuracy atol.
inline double shifted_mean(const Activation& act, int d, double m, double b,
                           double atol = detail::tiny_atol, bool* ok = nullptr) {
  const Activation a = canonical(act);
  if (b == 0.0) return d == 0 ? phi(a, m) : dphi(a, m);
  double v;
  if (detail::shifted_mean_closed_form(a, d, m, b, v)) return v;
  return detail::shifted_mean_quadrature(a, d, m, b, atol, ok);
}

// E[phi'(u) phi'(v)] where u has variance 0 (the limit q1 -> 0+), v = sqrt(q2)(c Z1 +
// sqrt(1 - c^2) Z2), for phi' with a jump at 0: R = phi'(0+), L = phi'(0-). The
// vanishing u keeps the sign of Z1, so the limit is
//   L E[phi'(v)] + (R - L) E[phi'(v); Z1 > 0],  E[phi'(v); Z1 > 0] = E[phi'(s2 W) Phi(c W / sc)],
// and for q2 = 0 too the orthant probabilities P(Z1 > 0, v > 0) = 1/4 + asin(c) / (2 pi).
// This is the convention of moments(q = 0).dphi_sq = (R^2 + L^2) / 2 (c = 1), so
// Cauchy-Schwarz holds against the library's own moments.
inline double bivariate_dphi_zero_variance(const Activation& a, double q2, double c) {
  using namespace special;
  const double R = dphi(a, 1e-300), L = dphi(a, -1e-300);
  if (q2 == 0.0) {
    const double same = 0.25 + std::asin(c) / (2.0 * pi), opposite = 0.5 - same;
    return (R * R + L * L) * same + 2.0 * R * L * opposite;
  }
  const double s2 = std::sqrt(q2), sc = std::sqrt((1.0 - c) * (1.0 + c));
  quad::Mesh mesh;
  detail::shifted_mesh(a, 0.0, s2, mesh);
  double v[2];
  auto f = [&](double w, double* y) {
    const double g = dphi(a, s2 * w) * npdf(w);
    const double up = sc > 0.0 ? ncdf(c * w / sc) : (c * w > 0.0 ? 1.0 : 0.0);
    y[0] = g;
    y[1] = g * up;
  };
  quad::integrate<2>(f, mesh, detail::rtol_1d, detail::tiny_atol, v);
  return L * v[0] + (R - L) * v[1];
}

namespace detail {

// Tolerance of the closed forms of piecewise_closed_forms.hpp on their own
// rounding-error estimate, relative to the Cauchy-Schwarz scale (and, for one-signed
// f in bivariate_direct, to the result): above it they defer to the series or the
// nested quadrature. The estimate is pessimistic (the errors seen are 10-50x below).
inline constexpr double piecewise_tol = 1e-13;

// The kernels in closed form valid everywhere (has_kernel_closed_form), one
// function per kind, shared by bivariate_closed_form below and the kernel rows of
// grid.hpp (which call them with the kind fixed, in loops that vectorise where the
// function is plain arithmetic), so that both give the same numbers bitwise.
// Arguments: d, q1 <= q2 (both > 0 and finite), s_i = sqrt(q_i), c in [-1, 1],
// sc = sqrt((1 - c)(1 + c)).
struct ClosedKernel {
  // E[f(u) f(v)] for the arc-cosine kernels of relu (be = 0) and leaky_relu (be =
  // the negative slope).
  // pi - theta, theta = acos(c): atan2(sc, |c|) for c < 0 (accurate to the last bits
  // next to c = -1, where it is small), pi - atan2(sc, |c|) else, in plain arithmetic
  // (special::atan2_arith).
  SIGPROP_ALWAYS_INLINE static double relu(double be, int d, double s1, double s2, double c,
                                           double sc) {
    const double r12 = s1 * s2;
    const double at = special::atan2_arith(sc, std::fabs(c));
    const double pmt = c < 0.0 ? at : special::pi - at;
    const double om = (1.0 - be) * (1.0 - be);
    if (d == 0) return be * c * r12 + om * r12 * (sc + pmt * c) / (2.0 * special::pi);
    return be + om * pmt / (2.0 * special::pi);
  }
  SIGPROP_ALWAYS_INLINE static double erf(int d, double q1, double q2, double s1, double s2,
                                          double c, double sc) {
    if (d == 0) {
      // asin(y) with y = 2 c r12 / sqrt(g1 g2), through atan for accuracy near |y| = 1:
      // 1 - y^2 = (g1 g2 - 4 c^2 q1 q2) / (g1 g2) = (1 + 2 q1 + 2 q2 + 4 q1 q2 (1 - c^2)) / (g1 g2)
      const double den = std::sqrt(1.0 + 2.0 * q1 + 2.0 * q2 + 4.0 * q1 * q2 * sc * sc);
      return (2.0 / special::pi) * special::atan2_arith(2.0 * c * (s1 * s2), den);
    }
    const double det = 1.0 + 2.0 * q1 + 2.0 * q2 + 4.0 * q1 * q2 * sc * sc;
    return (4.0 / special::pi) / std::sqrt(det);
  }
  // e^{-(q1+q2)/2} sinh(x) (d = 0) or cosh(x) (d = 1), x = c sqrt(q1 q2), with the
  // exponents combined (the plain product is 0 * inf once q passes ~710):
  // (1/2) e^{|x| - (q1+q2)/2} (1 -+ e^{-2|x|}), and for |x| < 1 (d = 0, where that
  // difference cancels) e^{-q1/2} e^{-q2/2} sinh(x) with sinh's Taylor series
  // (terms to x^21, truncation below 4e-23), e12 = exp_arith(-q1 / 2) exp_arith(-q2 / 2)
  // (read only where |x| < 1). Plain arithmetic (special::exp_arith): the kernel
  // rows vectorise over it. Within a few ulps of the result.
  SIGPROP_ALWAYS_INLINE static double sin(int d, double q1, double q2, double x, double e12) {
    using special::exp_arith;
    const double ax = std::fabs(x), h = 0.5 * (q1 + q2);
    const double A = exp_arith(ax - h), R = exp_arith(-2.0 * ax);
    if (d == 1) return 0.5 * A * (1.0 + R);
    const double big = 0.5 * A * (1.0 - R);
    const double y = ax < 1.0 ? ax : 1.0, y2 = y * y;
    constexpr double t3 = 1.0 / 6, t5 = 1.0 / 120, t7 = 1.0 / 5040, t9 = 1.0 / 362880,
                     t11 = 1.0 / 39916800, t13 = 1.0 / 6227020800.0, t15 = 1.0 / 1307674368000.0,
                     t17 = 1.0 / 355687428096000.0, t19 = 1.0 / 121645100408832000.0,
                     t21 = 1.0 / 51090942171709440000.0;
    const double y4 = y2 * y2, y8 = y4 * y4;
    const double tail = (t3 + y2 * t5) + y4 * (t7 + y2 * t9) +
                        y8 * ((t11 + y2 * t13) + y4 * (t15 + y2 * t17) + y8 * (t19 + y2 * t21));
    const double S = y + y * (y2 * tail);
    const double v = ax < 1.0 ? e12 * S : big;
    return x < 0.0 ? -v : v;
  }
  // gelu(x) = x Phi(x): with k = c sqrt(q1 q2) and
  // delta^2 = (q1 + 1)(q2 + 1) - k^2 = q1 q2 (1 - c^2) + q1 + q2 + 1 (no cancellation),
  //   E[phi phi]   = k / 4 + [(k^2 + q1 q2 delta^2) / ((q1 + 1)(q2 + 1) delta)
  //                          + k atan2(k, delta)] / (2 pi),
  //   E[phi' phi'] = 1 / 4 + atan2(k, delta) / (2 pi)
  //                  + k / (2 pi delta) (1 / delta^2 + (1 - q1 q2) / ((q1 + 1)(q2 + 1)) + 1)
  // (Tsuchida, Pearce, van der Heide, Roosta & Gallagher 2021, "Avoiding kernel fixed
  // points: computing with ELU and GELU infinite networks", AAAI; the form of
  // neural-tangents' stax.Gelu). Smooth in c up to c = +-1 (delta^2 >= 1).
  SIGPROP_ALWAYS_INLINE static double gelu(int d, double q1, double q2, double s1, double s2,
                                           double c, double sc) {
    using special::pi;
    const double k = c * (s1 * s2), prod = q1 * q2, pp = (q1 + 1.0) * (q2 + 1.0);
    const double d2 = prod * sc * sc + q1 + q2 + 1.0, dl = std::sqrt(d2);
    const double ang = special::atan2_arith(k, dl);
    if (d == 0) return 0.25 * k + ((k * k + prod * d2) / (pp * dl) + k * ang) / (2.0 * pi);
    return 0.25 + ang / (2.0 * pi) + k / (2.0 * pi * dl) * (1.0 / d2 + (1.0 - prod) / pp + 1.0);
  }
};

// E[phi^(d)(u) phi^(d)(v)] for q1, q2 > 0 in closed form, where the kind has one
// (q1 <= q2, s1 = sqrt(q1), s2 = sqrt(q2), sc = sqrt(1 - c^2)); false otherwise.
// For the piecewise linear / exponential kinds (piecewise_closed_forms.hpp) only for
// |c| < 1 and where the closed form's error estimate allows (relative to the result
// where f is one-signed, as the nested quadrature is there).
// memo (if given): the piecewise closed form's orthants of an earlier call with the same
// arguments (piecewise::OrthantMemo).
inline bool bivariate_closed_form(const Activation& a, int d, double q1, double q2, double c,
                                  double s1, double s2, double sc, double& out,
                                  piecewise::OrthantMemo* memo = nullptr) {
  switch (a.kind) {
    case Kind::linear: out = d == 0 ? c * (s1 * s2) : 1.0; return true;
    case Kind::relu: out = ClosedKernel::relu(0.0, d, s1, s2, c, sc); return true;
    case Kind::leaky_relu: out = ClosedKernel::relu(a.p0, d, s1, s2, c, sc); return true;
    case Kind::erf: out = ClosedKernel::erf(d, q1, q2, s1, s2, c, sc); return true;
    case Kind::sin: {
      const double x = c * (s1 * s2);
      const double e12 = d == 0 && std::fabs(x) < 1.0
                             ? special::exp_arith(-0.5 * q1) * special::exp_arith(-0.5 * q2)
                             : 0.0;
      out = ClosedKernel::sin(d, q1, q2, x, e12);
      return true;
    }
    case Kind::gelu: out = ClosedKernel::gelu(d, q1, q2, s1, s2, c, sc); return true;
    case Kind::hard_tanh:
    case Kind::shifted_relu:
    case Kind::soft_threshold:
    case Kind::linear_floor:
    case Kind::elu:
    case Kind::selu:
      return sc > 0.0 && piecewise::bivariate(a, d, q1, q2, c, piecewise_tol, one_signed(a, d), out,
                                              true, memo);
    default: return false;
  }
}

// The mesh in Z1 of the nested quadrature (see bivariate_quadrature).
inline void bivariate_mesh(const Activation& a, double s1, double s2, double c, double sc,
                           quad::Mesh& mesh) {
  quad::add_gauss_mesh(mesh);
  detail::add_activation_mesh(a, 0.0, s1, mesh);
  if (c != 0.0) detail::add_activation_mesh(a, 0.0, c * s2, mesh);
  if (c != 0.0 && sc > 0.0) {
    // Next to |c| = 1 the inner expectation H(z) has the kinks of phi smoothed over a
    // width sqrt(1 - c^2) / |c| in z only, far below the grading above (which starts
    // at 0.25 / |c sqrt(q2)|): grade from that width up, so that no such feature
    // hides between the nodes of one piece.
    const double wz = sc / std::fabs(c), top = 0.25 / std::fabs(c * s2);
    double xs[max_kinks];
    const int nk = kinks(a, xs);
    for (int i = 0; i < nk; ++i) {
      const double zk = xs[i] / (c * s2);
      if (!mesh.inside(zk)) continue;
      for (double off = 0.25 * wz; off < top; off *= 2.0) {
        if (mesh.inside(zk + off)) mesh.add(zk + off);
        if (mesh.inside(zk - off)) mesh.add(zk - off);
      }
    }
  }
  mesh.finish();
}

// E[F(u) F(v)], F = phi^(d), for q1, q2 > 0 by the nested quadrature: outer integral
// over Z1 of F(u) E[F(v) | Z1] (the inner expectation in closed form where
// shifted_mean has one). Tolerances are absolute on the scale of the Cauchy-Schwarz
// bound sqrt(E F(u)^2 E F(v)^2) >= |result|: a purely relative target cannot be met
// where the result is O(c) for tiny c (odd phi), since the inner expectations carry
// rounding noise on the scale of sqrt(E F(v)^2).
inline double bivariate_quadrature(const Activation& a, int d, double q1, double q2, double c,
                                   double s1, double s2, double sc, bool* ok,
                                   const double* norms = nullptr) {
  using namespace special;
  auto F = [&](double x) { return d == 0 ? phi(a, x) : dphi(a, x); };
  auto msq = [&](double q) {
    const Moments m = moments_direct(a, q);
    return d == 0 ? m.phi_sq : m.dphi_sq;
  };
  // sqrt(E f(u)^2), sqrt(E f(v)^2): the tolerances' scale, given (a caller's tabled
  // moments: the quadrature of moments_direct was a third of an elu pair's time) or
  // computed here
  const double n1 = norms ? norms[0] : std::sqrt(msq(q1));
  const double n2 = norms ? norms[1] : q2 == q1 ? n1 : std::sqrt(msq(q2));
  // Where F has one sign and the inner expectation a closed form, there is neither
  // cancellation nor quadrature noise, and full relative accuracy is kept (it matters in
  // the far tails: shifted_relu at small q, where the result can be 1e-70 of the
  // Cauchy-Schwarz bound).
  const bool exact = detail::one_signed(a, d) && detail::has_closed_shifted_mean(a.kind);
  const double inner_atol = detail::rtol_inner * 0.1 * n2;
  const double outer_atol = exact ? detail::tiny_atol : detail::atol_2d * n1 * n2;
  quad::Mesh mesh;
  bivariate_mesh(a, s1, s2, c, sc, mesh);
  double v;
  if (sc == 0.0) {
    auto f = [&](double z, double* y) { y[0] = F(s1 * z) * F(c * s2 * z) * npdf(z); };
    const bool good = quad::integrate<1>(f, mesh, detail::rtol_outer, outer_atol, &v);
    if (ok && !good) *ok = false;
    return v;
  }
  const double bw = s2 * sc;
  auto f = [&](double z, double* y) {
    const double fz = F(s1 * z);
    y[0] = fz == 0.0 ? 0.0 : fz * shifted_mean(a, d, c * s2 * z, bw, inner_atol, ok) * npdf(z);
  };
  const bool good = quad::integrate<1>(f, mesh, detail::rtol_outer, outer_atol, &v);
  if (ok && !good) *ok = false;
  return v;
}

}  // namespace detail

// E[phi^(d)(u) phi^(d)(v)], u = sqrt(q1) Z1, v = sqrt(q2)(c Z1 + sqrt(1-c^2) Z2),
// q1, q2 >= 0, c in [-1, 1] (clamped), d = 0 or 1, by closed forms or the nested
// quadrature: exact (see the tolerances above) but, for kinds without a closed
// form, slow (0.05-10 ms). bivariate() in two_point.hpp is the fast entry point. With
// ok, *ok is set false where a quadrature ended short of its tolerance (the value is
// then its best estimate, or NaN where it is far from converged). norms, if given:
// sqrt(E f(u)^2) and sqrt(E f(v)^2), the scale of the tolerances (else computed by
// moments_direct). memo: as bivariate_closed_form's.
inline double bivariate_direct(const Activation& act, int d, double q1, double q2, double c,
                               bool* ok = nullptr, const double* norms = nullptr,
                               piecewise::OrthantMemo* memo = nullptr) {
  const Activation a = canonical(act);
  if (std::isnan(c) || std::isnan(q1) || std::isnan(q2)) return special::nan;
  c = std::fmin(1.0, std::fmax(-1.0, c));
  auto F0 = [&]() {
    if (d == 0) return phi(a, 0.0);
    return 0.5 * (dphi(a, 1e-300) + dphi(a, -1e-300));
  };
  const double s1 = std::sqrt(q1), s2 = std::sqrt(q2);
  if (d == 1 && (q1 == 0.0 || q2 == 0.0) && dphi(a, 1e-300) != dphi(a, -1e-300))
    return bivariate_dphi_zero_variance(a, q1 == 0.0 ? q2 : q1, c);
  if (q1 == 0.0) return F0() * shifted_mean(a, d, 0.0, s2);
  if (q2 == 0.0) return F0() * shifted_mean(a, d, 0.0, s1);
  const double sc = std::sqrt((1.0 - c) * (1.0 + c));  // sqrt(1 - c^2)
  double v;
  if (detail::bivariate_closed_form(a, d, q1, q2, c, s1, s2, sc, v, memo)) return v;
  return detail::bivariate_quadrature(a, d, q1, q2, c, s1, s2, sc, ok, norms);
}

}  // namespace sigprop
