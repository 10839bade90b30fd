// The mean-field maps of a fully connected network with weights
// W_ij ~ N(0, sigma_w^2 / fan_in) and biases b_i ~ N(0, sigma_b^2). All
// functions take variances (sw2 = sigma_w^2, sb2 = sigma_b^2).
//   V(q)      = sb2 + sw2 E[phi(sqrt(q) Z)^2]                  (q-map)
//   V'(q)     = sw2 dV(q)                                       (slope, alpha)
//   chi1(q)   = sw2 E[phi'(sqrt(q) Z)^2]
//   f(c)      = (sb2 + sw2 E[phi(u) phi(v)]) / q                (c-map, common q)
//   f'(c)     = sw2 E[phi'(u) phi'(v)]                          (chi_c at c)
//   q_ab      = sb2 + sw2 E[phi(u_a) phi(u_b)]                  (covariance map)
#pragma once

#include <cmath>

#include "activation.hpp"
#include "moment_table.hpp"
#include "two_point.hpp"

namespace sigprop {

inline double qmap(const Activation& a, double q, double sw2, double sb2) {
  return sb2 + sw2 * moments(a, q, false).phi_sq;
}

inline double chi1(const Activation& a, double q, double sw2) {
  return sw2 * moments(a, q, false).dphi_sq;
}

// Covariance map: the next-layer covariance of two inputs with variances q1,
// q2 and correlation c.
inline double covmap(const Activation& a, double q1, double q2, double c, double sw2,
                     double sb2) {
  return sb2 + sw2 * bivariate(a, 0, q1, q2, c);
}

// Correlation map at common variance q (q > 0): f(c) = q_ab / q.
inline double cmap(const Activation& a, double c, double q, double sw2, double sb2) {
  return covmap(a, q, q, c, sw2, sb2) / q;
}

// Derivative of the correlation map, f'(c) = sw2 E[phi'(u) phi'(v)].
inline double cmap_slope(const Activation& a, double c, double q, double sw2) {
  return sw2 * bivariate(a, 1, q, q, c);
}

}  // namespace sigprop
