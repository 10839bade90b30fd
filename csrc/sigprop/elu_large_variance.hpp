// E[phi(u) phi(v)] of ELU and SELU at large variances, by relu's and the step's
// kernels in closed form plus the terms of the exponential's narrow part, expanded in
// the inverse variances with bounded remainders.
//
// phi(x) = lam x on x >= 0 and lam alpha (e^x - 1) on x < 0, that is
//     phi = lam (R - alpha N + alpha g),  R(x) = x 1(x > 0), N(x) = 1(x < 0),
//     g(x) = e^x 1(x < 0),
// where g is narrow (width ~1) against the spreads s_i = sqrt(q_i) of u = s1 X and
// v = s2 Y (X, Y standard normal with correlation c, e1 = 1 - c^2 > 0). The products
// of R and N have closed forms (Cho and Saul 2009's arc-cosine kernels of order 0 and
// 1, and E[X 1(X > 0) 1(Y < 0)] = (1 - c) / (2 sqrt(2 pi))):
//     E[R(u) R(v)] = s1 s2 (sqrt(e1) + (pi - acos c) c) / (2 pi),
//     E[R(u) N(v)] = s1 (1 - c) / (2 sqrt(2 pi)),   E[N(u) N(v)] = 1/4 + asin(c) / (2 pi).
// Those with g are integrals over g's support, y < 0, whose moments are
// int_{-inf}^0 e^y y^j dy = (-1)^j j!. With v = y fixed, u is normal with mean
// c s1 y / s2 and spread sigma1 = s1 sqrt(e1), so that (a = c / (s2 sqrt(e1)),
// h = 1 / (2 q2), w(y) = exp(-h y^2) the density of v over its value at 0):
//   * E[R(u) g(v)] = sigma1 / (sqrt(2 pi) s2) int e^y w(y) psi(a y) dy, psi(t) = t Phi(t)
//     + npdf(t): psi = P + rho, P(t) = npdf(0) (1 + t^2 / 2) + t / 2, |rho| <= npdf(0)
//     t^4 / 24 (psi'''' = npdf'', at most npdf(0) in size), and w = W + rho_w, W = 1 -
//     h y^2, 0 <= rho_w <= h^2 y^4 / 2: the main part P W's moments, the rest bounded by
//     npdf(0) a^4 + (h^2 / 2) (npdf(0) (24 + 360 a^2) + 60 |a|) (the moments of |y|^j);
//   * E[N(u) g(v)] = 1 / (sqrt(2 pi) s2) int e^y w(y) Phi(-a y) dy: Phi(-t) = 1/2 -
//     npdf(0) (t - t^3 / 6) + rho, |rho| <= npdf(0) |t|^5 / 40 (Phi^(5) at most 3 npdf(0)),
//     the rest bounded by 3 npdf(0) |a|^5 + (h^2 / 2) (12 + 120 npdf(0) |a| + 840
//     npdf(0) |a|^3);
//   * E[g(u) g(v)] = p00 int int e^(x + y) e^(-Q / 2), p00 = 1 / (2 pi s1 s2 sqrt(e1)),
//     Q = (x^2 / q1 - 2 c x y / (s1 s2) + y^2 / q2) / e1 >= 0: 1 - Q / 2 <= e^(-Q / 2)
//     <= 1 - Q / 2 + Q^2 / 8, Q <= 2 (x^2 / q1 + y^2 / q2) / e1, so that it is p00 (1 -
//     (1 / q1 - c / (s1 s2) + 1 / q2) / e1) within p00 (12 / q1^2 + 4 / (q1 q2) + 12 /
//     q2^2) / e1^2;
// and the same with the inputs swapped. The neglected terms fall as a^4 ~ (q e1)^-2 and
// h^2 ~ q^-2 against terms of order sqrt(q) and 1 in a result of order q: the form
// meets 1e-14 of the scale from q ~ 1e6 (1 - c ~ 1e-3; measured against the engine's
// closed forms at q 1e4-2e6, its error 0.7-1.0 of the bound: the bound is the next
// term's size), where the closed forms' orthants lie so far in the tails that they take
// the one-dimensional tail quadrature, 0.1-0.25 ms a pair past q ~ 1e10 (elu at
// sigma_w = 2, sigma_b = 0.5, 100 inputs: 0.5 s a kernel layer at depth 33). Rounding:
// 16 eps of the terms' magnitudes. False where the bound exceeds atol (out untouched).
#pragma once

#include <cmath>
#include <limits>

#include "special.hpp"

namespace sigprop::detail {

inline bool elu_large_variance(double lam, double alpha, double q1, double q2, double c,
                               double atol, double& out) {
  using special::pi;
  if (!(std::fabs(c) < 1.0) || !(std::fmin(q1, q2) > 0.0) || !std::isfinite(std::fmax(q1, q2)) ||
      !(atol > 0.0))
    return false;
  const double eps = std::numeric_limits<double>::epsilon();
  const double n0 = 0.39894228040143267793994605993438;  // npdf(0) = 1 / sqrt(2 pi)
  const double s1 = std::sqrt(q1), s2 = std::sqrt(q2), e1 = (1.0 - c) * (1.0 + c);
  const double se = std::sqrt(e1);
  // E[R(u) g(v)] (sa = s1, sb = s2) or E[g(u) R(v)] (swapped): value and bound
  auto rg = [&](double sa, double sb, double& bound) {
    const double a = c / (sb * se), h = 0.5 / (sb * sb), a2 = a * a, aa = std::fabs(a);
    const double main = n0 - 0.5 * a + 2.0 * n0 * (0.5 * a2 - h) + 3.0 * a * h - 12.0 * n0 * a2 * h;
    const double f = sa * se * n0 / sb;
    bound = f * (n0 * a2 * a2 + 0.5 * h * h * (n0 * (24.0 + 360.0 * a2) + 60.0 * aa));
    return f * main;
  };
  // E[N(u) g(v)] or E[g(u) N(v)]
  auto ng = [&](double sb, double& bound) {
    const double a = c / (sb * se), h = 0.5 / (sb * sb), a3 = a * a * a, aa = std::fabs(a);
    const double main =
        0.5 + n0 * a - h - n0 * a3 - 6.0 * n0 * a * h + 20.0 * n0 * a3 * h;
    const double f = n0 / sb;
    bound = f * (3.0 * n0 * aa * aa * aa * aa * aa +
                 0.5 * h * h * (12.0 + 120.0 * n0 * aa + 840.0 * n0 * aa * aa * aa));
    return f * main;
  };
  const double rr = s1 * s2 * (se + (pi - std::acos(c)) * c) / (2.0 * pi);
  const double rn = (s1 + s2) * n0 * (1.0 - c) * 0.5;  // E[R(u) N(v)] + E[N(u) R(v)]
  const double nn = 0.25 + std::asin(c) / (2.0 * pi);
  double b12, b21, c12, c21;
  const double rg_sum = rg(s1, s2, b12) + rg(s2, s1, b21);
  const double ng_sum = ng(s2, c12) + ng(s1, c21);
  const double p00 = 1.0 / (2.0 * pi * s1 * s2 * se);
  const double gg = p00 * (1.0 - (1.0 / q1 - c / (s1 * s2) + 1.0 / q2) / e1);
  const double gg_b = p00 * (12.0 / (q1 * q1) + 4.0 / (q1 * q2) + 12.0 / (q2 * q2)) / (e1 * e1);
  const double a2 = alpha * alpha, l2 = lam * lam;
  const double v = l2 * (rr - alpha * rn + a2 * nn + alpha * rg_sum - a2 * ng_sum + a2 * gg);
  const double mag = l2 * (std::fabs(rr) + std::fabs(alpha) * (std::fabs(rn) + std::fabs(rg_sum)) +
                           a2 * (std::fabs(nn) + std::fabs(ng_sum) + std::fabs(gg)));
  const double bound =
      l2 * (std::fabs(alpha) * (b12 + b21) + a2 * (c12 + c21 + gg_b)) + 16.0 * eps * mag;
  if (!(bound <= atol) || !std::isfinite(v)) return false;
  out = v;
  return true;
}

}  // namespace sigprop::detail
