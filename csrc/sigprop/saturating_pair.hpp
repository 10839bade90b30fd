// Two-point expectations of tanh and sigmoid next to c = 1 at large variances, where
// the Mehler series cannot reach (its orders stop at 512, and tanh(sqrt(q) z) has
// coefficients that decay as m^-3/4 up to m ~ q) and the nested quadrature in the
// principal axes (near_diagonal.hpp) costs 3-15 ms a pair.
//
// Method. tanh = sign + r with r(x) = tanh(x) - sign(x) = -sign(x) 2 / (1 + e^{2|x|}),
// odd and localised (|r| <= 2 e^{-2|x|}). For (u, v) centred normal with variances
// q1, q2 and correlation c > 0 (density p, p0 = 1 / (2 pi sqrt(det)),
// det = q1 q2 (1 - c^2)):
//   E[tanh u tanh v] = (2/pi) asin(c) + E[r(u) sign v] + E[sign u r(v)] + E[r(u) r(v)].
// The middle terms are one-dimensional: E[sign v | u] = erf(c u / sqrt(2 q1 (1 - c^2))),
// so that E[r(u) sign v] = 2 int_0^20 r(x) erf(g x) npdf(x / s1) / s1 dx (even
// integrand; |r| < 1e-17 beyond 20), by adaptive Gauss-Kronrod. By oddness,
//   E[r(u) r(v)] = 2 int int_{u, v > 0} r(u) r(v) (p(u, v) - p(u, -v)) du dv,
// and with t = 2u, s = 2v, r(u) du = -e^{-t} / (1 + e^{-t}) dt: a tensor
// Gauss-Laguerre rule in (t, s) with the smooth factor -1 / (1 + e^{-t}) and
//   p(u, v) - p(u, -v) = p0 exp(-A) (-expm1(-2 c u v / (s1 s2 (1 - c^2)))),
//   A = ((u / s1 - v / s2)^2 + 2 (1 - c) u v / (s1 s2)) / (2 (1 - c^2)) >= 0
// (written without cancellation). phi' = sech^2 = 4 e^{-2|x|} / (1 + e^{-2|x|})^2 is
// even and localised itself: E[sech^2 u sech^2 v] = 2 int int_{u, v > 0} (p(u, v) +
// p(u, -v)) ..., sech^2(u) du = 2 e^{-t} / (1 + e^{-t})^2 dt, the same tensor rule.
// sigmoid(x) = (1 + tanh(x / 2)) / 2 and sigmoid' = sech^2(x / 2) / 4, so that
// E[s(u) s(v)] = 1/4 + E_tanh(q1 / 4, q2 / 4, c) / 4 and E[s'(u) s'(v)] =
// E'_tanh(q1 / 4, q2 / 4, c) / 16 (E[tanh(u / 2)] = 0).
//
// Accuracy. The tensor rule converges where the density is smooth on the scale of the
// nodes (its narrow axis sqrt(l2), l2 the covariance's smaller eigenvalue, not far
// below 1): it is taken at 32 and 24 nodes a variable, then at 64 and 48, and accepted
// where a pair agrees to a quarter of the tolerance (the larger rule's error a
// fraction of that difference: 1/8 where the convergence was slowest seen); the
// one-dimensional terms are held to a twentieth of it each.
// Elsewhere (a narrow ridge: c -> 1 at moderate q) it returns false and the caller's
// quadrature serves. Against that quadrature (held to 1e-14 of the scale) at the 49
// points of the benchmark's whole domain where it was called (q1, q2 >= 5, c >= 0.9):
// 48 accepted, within 4.4e-16; 37-86 us a pair against its 3-15 ms.
#pragma once

#include <cmath>

#include "activation.hpp"
#include "gauss_laguerre.hpp"
#include "quadrature.hpp"
#include "special.hpp"

namespace sigprop {

namespace detail {

// The tensor Gauss-Laguerre sum of the localised term (see above) with the N-point
// rule (X, W): E[r(u) r(v)] for tanh (d = 0) or E[sech^2 u sech^2 v] (d = 1).
template <int N>
inline double saturating_tensor(int d, double s1, double s2, double c, const double* X,
                                const double* W) {
  using namespace special;
  const double omc = 1.0 - c, opc = 1.0 + c, omc2 = omc * opc;
  const double p0 = 1.0 / (2.0 * pi * s1 * s2 * std::sqrt(omc2));
  const double den = 1.0 / (2.0 * omc2), cross = 2.0 * c / (s1 * s2 * omc2);
  double x1[N], x2[N], g[N];
  for (int i = 0; i < N; ++i) {
    const double u = 0.5 * X[i], e = std::exp(-X[i]);
    x1[i] = u / s1;
    x2[i] = u / s2;
    g[i] = d == 0 ? -W[i] / (1.0 + e) : 2.0 * W[i] / ((1.0 + e) * (1.0 + e));
  }
  double sum = 0.0;
  for (int i = 0; i < N; ++i) {
    const double ui = 0.5 * X[i];
    double row = 0.0;
    for (int j = 0; j < N; ++j) {
      const double dx = x1[i] - x2[j], uv = ui * 0.5 * X[j];
      const double A = (dx * dx + 2.0 * omc * x1[i] * x2[j]) * den;
      const double b = cross * uv;  // A(u, -v) - A(u, v)
      const double f = d == 0 ? -std::expm1(-b) : 1.0 + std::exp(-b);
      row += g[j] * (std::exp(-A) * f);
    }
    sum += g[i] * row;
  }
  return 2.0 * p0 * sum;
}

// E[f(u) f(v)] with the smaller variance's variable u outer (adaptive Gauss-Kronrod
// over its scale s1) and v given u inner (mean a u, a = c s2 / s1, standard
// deviation w = s2 sqrt(1 - c^2)):
//   phi:  E = 2 int_0^inf tanh(x) npdf(x / s1) / s1 (erf(a x / (sqrt(2) w)) + R(a x)) dx,
//         R(m) = E[r(m + w T)] = int_0^inf r(y) (npdf((y - m) / w) - npdf((y + m) / w)) / w dy,
//   phi': E = 2 int_0^inf sech^2(x) npdf(x / s1) / s1 S(a x) dx, S(m) = E[sech^2(m + w T)],
// the inner integrals by the Gauss-Laguerre rule in t = 2y (S by parts, below). Only v is
// split (sign + r): nothing cancels where u's variance is tiny (tanh(u) ~ u, while the
// split of u gave terms of size 1 for a result of size sqrt(q1)). For a narrow ridge
// (one variance far below the other: q1 (1 - c^2) small) whose conditional width w is
// still resolved by the rule's nodes, and for phi' everywhere. The rules of 64, 48 and
// 32 nodes ride along as three components (see the acceptance below); false otherwise
// or where the quadrature ended short.
inline bool saturating_conditional(int d, double s1, double s2, double c, double atol,
                                   double& out) {
  using namespace special;
  const double omc2 = (1.0 - c) * (1.0 + c);
  const double a = c * s2 / s1, w = s2 * std::sqrt(omc2);
  if (!(w >= 0.5) || !std::isfinite(a)) return false;
  constexpr int N0 = 64, N1 = 48, N2 = 32;
  double y0[N0], g0[N0], y1[N1], g1[N1], y2[N2], g2[N2];
  auto nodes = [](const double* X, const double* W, int n, double* y, double* g) {
    for (int i = 0; i < n; ++i) {
      y[i] = 0.5 * X[i];
      g[i] = -W[i] / (1.0 + std::exp(-X[i]));  // r(y) dy = g e^-t dt, both d
    }
  };
  nodes(quad::lag64_x, quad::lag64_w, N0, y0, g0);
  nodes(quad::lag48_x, quad::lag48_w, N1, y1, g1);
  nodes(quad::lag32_x, quad::lag32_w, N2, y2, g2);
  const double iw = 1.0 / w, k2 = 2.0 * iw * iw;
  // phi' (d = 1) by parts, sech^2 = tanh' and tanh = 1 + r on y > 0: with
  // G(y) = npdf((y - m) / w) / w + npdf((y + m) / w) / w,
  //   int_0^inf sech^2(y) G(y) dy = G(0) - int_0^inf r(y) G'(y) dy,
  // the rule then on r as for phi (sech^2's double poles at +-i pi/2 slowed it 10x)
  auto inner = [&](double m, const double* y, const double* g, int n) {
    double sum = 0.0;
    for (int j = 0; j < n; ++j) {
      const double z = (y[j] - m) * iw, b = k2 * y[j] * m;  // b: (y + m)^2 - (y - m)^2 over 2 w^2
      const double f =
          d == 0 ? -std::expm1(-b) : ((y[j] - m) + (y[j] + m) * std::exp(-b)) * (iw * iw);
      sum += g[j] * (npdf(z) * f);
    }
    return d == 0 ? sum * iw : (2.0 * npdf(m * iw) + sum) * iw;
  };
  quad::Mesh mesh;
  mesh.lo = 0.0;
  mesh.hi = d == 0 ? 9.0 * s1 : std::fmin(20.0, 9.0 * s1);  // (tanh is not localised)
  for (double b : {0.25, 0.5, 1.0, 2.0, 3.0, 4.5, 6.5, 9.0, 13.0}) mesh.add(b);
  for (double b : {0.25, 0.5, 1.0, 2.0, 3.0, 4.5, 6.0}) mesh.add(b * s1);
  for (double b : {0.25, 0.5, 1.0, 2.0, 4.0, 8.0}) mesh.add(b * w / a);
  mesh.finish();
  auto f = [&](double x, double* r) {
    const double e = std::exp(-2.0 * x);
    // phi: tanh(x) E[tanh v | u = x], E[tanh v | u] = erf(a x / (sqrt(2) w)) + R(a x);
    // phi': sech^2(x) E[sech^2 v | u = x]
    const double fx = d == 0 ? (1.0 - e) / (1.0 + e) : 4.0 * e / ((1.0 + e) * (1.0 + e));
    const double px = fx * npdf(x / s1) / s1;
    const double m = a * x, sk = d == 0 ? std::erf(m * iw * (1.0 / std::sqrt(2.0))) : 0.0;
    r[0] = px * (sk + inner(m, y0, g0, N0));
    r[1] = px * (sk + inner(m, y1, g1, N1));
    r[2] = px * (sk + inner(m, y2, g2, N2));
  };
  double v[3];
  if (!quad::integrate<3>(f, mesh, 1e-14, 0.125 * atol, v)) return false;
  // the 64-node inner sum, where the 48-node one is within a twentieth of atol of it
  // (its error was up to 10x that last step: tanh, q 0.75 / 6.0, c 0.9, 1.5e-14
  // against 1.6e-15) and the steps fall (the 32-node one further off)
  const double e48 = std::fabs(v[0] - v[1]), e32 = std::fabs(v[0] - v[2]);
  if (!(2.0 * e48 <= 0.05 * atol && e48 <= e32)) return false;
  out = 2.0 * v[0];
  return std::isfinite(out);
}

// The tensor sum (saturating_tensor) at 32 and 24 nodes, then at 64 and 48, into t
// where it certifies its error (see above): false otherwise.
inline bool saturating_tensor_pair(int d, double s1, double s2, double c, double atol, double& t) {
  const double t32 = saturating_tensor<32>(d, s1, s2, c, quad::lag32_x, quad::lag32_w);
  const double t24 = saturating_tensor<24>(d, s1, s2, c, quad::lag24_x, quad::lag24_w);
  t = t32;
  if (!(std::fabs(t32 - t24) <= 0.25 * atol)) {
    t = saturating_tensor<64>(d, s1, s2, c, quad::lag64_x, quad::lag64_w);
    const double t48 = saturating_tensor<48>(d, s1, s2, c, quad::lag48_x, quad::lag48_w);
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
// 1/2 <= c < 1, to absolute tolerance atol (see above); false where the rules
// disagree or the ridge of the density is too narrow for them (then out untouched).
inline bool saturating_tanh(int d, double q1, double q2, double c, double atol, double& out) {
  if (!(c >= 0.5 && c < 1.0) || !(q1 > 0.0) || !(q2 > 0.0) || !std::isfinite(q1) ||
      !std::isfinite(q2) || !(atol > 0.0))
    return false;
  // the covariance's smaller eigenvalue: below ~0.1 the tensor rules cannot pass (the
  // narrow axis under a third of the spacing of their nodes near 0)
  const double omc2 = (1.0 - c) * (1.0 + c);
  const double l1 = 0.5 * (q1 + q2 + std::hypot(q1 - q2, 2.0 * c * std::sqrt(q1 * q2)));
  // (phi': the conditional form only, whose inner rule converges 10-100x faster there;
  // phi at a variance below 1/4: the split of u would cancel, see saturating_conditional)
  const bool tensor = d == 0 && q1 * q2 * omc2 / l1 >= 0.1 && std::fmin(q1, q2) >= 0.25;
  const double s1 = std::sqrt(std::fmin(q1, q2)), s2 = std::sqrt(std::fmax(q1, q2));
  if (!tensor && !(s2 * std::sqrt(omc2) >= 0.5)) return false;
  double t;
  if (tensor) {
    double a, b;
    if (saturating_cross(s1, c, 0.1 * atol, a) && saturating_cross(s2, c, 0.1 * atol, b) &&
        saturating_tensor_pair(d, s1, s2, c, 0.8 * atol, t)) {
      out = 2.0 / special::pi * std::asin(c) + a + b + t;
      return std::isfinite(out);
    }
  }
  if (!saturating_conditional(d, s1, s2, c, atol, t)) return false;
  out = t;
  return std::isfinite(out);
}

}  // namespace detail

// E[f(u) f(v)] (f = phi^(d)) of tanh or sigmoid for q1, q2 > 0 and 1/2 <= c < 1 by the
// decomposition above, to absolute tolerance atol; false for other kinds or where it
// cannot certify its result.
inline bool saturating_pair(const Activation& a, int d, double q1, double q2, double c, double atol,
                            double& out) {
  double v;
  if (a.kind == Kind::tanh) {
    if (!detail::saturating_tanh(d, q1, q2, c, atol, v)) return false;
    out = v;
    return true;
  }
  if (a.kind == Kind::sigmoid) {
    // (the tolerance scaled with the result's factor 1/4 or 1/16)
    const double f = d == 0 ? 0.25 : 0.0625;
    if (!detail::saturating_tanh(d, 0.25 * q1, 0.25 * q2, c, atol / f, v)) return false;
    out = d == 0 ? 0.25 + 0.25 * v : f * v;
    return true;
  }
  return false;
}

}  // namespace sigprop
