// Two-point expectations where one variance is small, by conditioning on the other
// input and smoothing the activation's power series about 0 piece by piece: softsign
// (whose phi'' jumps at 0) next to |c| = 1, where the Mehler series fails (coefficients
// decaying algebraically) and the conditional form of softsign_pair.hpp costs 0.1-0.3
// ms a pair.
//
// Method. For (u, v) centred normal with standard deviations s1 <= s2 and correlation c,
// |c| < 1, given v = s2 z the input u is normal with mean mu = c s1 z and spread
// b = s1 sqrt(1 - c^2). With f = phi^(d) written on each side of 0 as a power series
// cut after K terms,
//     f(x) = sum_j (P_j x^j 1(x > 0) + N_j x^j 1(x < 0)) + R_K(x),
// each piece's conditional expectation is a truncated normal moment, T_j(mu, b) =
// E[X^j 1(X > 0)] for X ~ N(mu, b^2):
//     T_0 = Phi(mu / b), T_1 = mu T_0 + b npdf(mu / b), T_j = mu T_(j-1) + (j - 1) b^2 T_(j-2),
// and E[X^j 1(X < 0)] = (-1)^j T_j(-mu, b) (the upward recursion loses relative
// accuracy on a side that holds almost no mass, not absolute accuracy, which is what the
// sum needs). Then
//     E[f(u) f(v)] = int f(s2 z) G(z) npdf(z) dz + E[R_K(u) f(v)],  G = E[f_K(u) | z],
// |E[R_K(u) f(v)]| <= sqrt(E[R_K(u)^2]) sqrt(E[f(v)^2]); K is the least order that puts
// this below a tenth of the tolerance. The outer integral is adaptive Gauss-Kronrod over
// z >= 0, doubled (f odd or even: the integrand is even), in log(1 + s2 z) up to z = 1
// (which takes in f's kink at 0 and its scale 1 / s2) and in z beyond, with breakpoints
// at the density's scales and at the smoothed kink of G (sqrt(1 - c^2) / |c|). (Over z
// alone, with breakpoints at 1 / s2's multiples, it took 300 nodes a pair on average
// against 210 (phi') and 263 (phi) now, 12 against 6-7.5 us with the sides' shared
// erfc.)
//   * softsign: phi(x) = sum_{k<K} (-1)^k x |x|^k + x (-|x|)^K / (1 + |x|), |R| <=
//     |x|^(K+1); phi'(x) = sum_{k<K} (k + 1) (-|x|)^k + R, |R| = |(K + 1) y^K - K y^(K+1)|
//     / (1 + |x|)^2 <= (K + 1) |x|^K (y = -|x|). E|u|^(2j) = q1^j (2j - 1)!!.
// (ELU and SELU take the same form with e^x's Taylor series on x < 0, but at ~30 us a
// pair it was slower than their closed forms and no faster than their nested
// quadrature at the whole domain's pairs; elu_small_variance.hpp serves them where
// both variances are small.)
// (sigprop's own construction.)
#pragma once

#include <cmath>

#include "elu_small_variance.hpp"
#include "quadrature.hpp"
#include "special.hpp"

namespace sigprop::detail {

inline constexpr int small_variance_k_max = 32;

// E[f(u) f(v)] as above. coef(K, P, N, R2): the pieces' coefficients P[j], N[j] for
// j <= J (returned) of the series cut after order K, and in R2 a bound on E[R_K(u)^2]
// at q1 = s1^2; fv(x) = f at the larger-variance input, f odd or even (the integrand is
// even in z: taken on z >= 0 and doubled). False where no K <= small_variance_k_max
// meets the tolerance, or the quadrature falls short.
template <class Coef, class Fv>
inline bool power_series_conditional(double s1, double s2, double c, double atol, double norm_v,
                                     Coef&& coef, Fv&& fv, double& out) {
  using namespace special;
  const double sc = std::sqrt((1.0 - c) * (1.0 + c));
  if (!(s1 > 0.0) || !(s2 >= s1) || !(sc > 0.0) || !std::isfinite(s2) || !(atol > 0.0) ||
      !(norm_v >= 0.0))
    return false;
  double P[small_variance_k_max + 2], N[small_variance_k_max + 2];
  int J = -1;
  for (int K = 1; K <= small_variance_k_max; ++K) {
    double R2 = 0.0;
    const int j = coef(K, P, N, R2);
    if (std::sqrt(R2) * norm_v <= 0.1 * atol) {
      J = j;
      break;
    }
  }
  if (J < 0) return false;
  const double b = s1 * sc, bb = b * b;
  // The outer variable s: on z <= 1, s = log(1 + s2 z) (f(s2 z) dz = f(x) (1 + x) ds /
  // s2, x = s2 z = expm1(s): f's scale 1 / s2 at the origin resolved without
  // breakpoints: for softsign' (1 + x)^-1 ds / s2, analytic); beyond, s = ts + (z - 1),
  // where the density's scale rules
  const double ts = std::log1p(s2);
  auto s_at = [&](double z) { return z <= 1.0 ? std::log1p(s2 * z) : ts + (z - 1.0); };
  quad::Mesh mesh;
  mesh.lo = 0.0;
  mesh.hi = s_at(quad::zmax);
  for (double z : {1.0, 2.0, 3.0, 4.5, 6.0, 8.0}) mesh.add(s_at(z));
  const double ac = std::fabs(c);
  for (double k : {0.5, 1.0, 2.0, 4.0, 8.0})
    if (k * sc / ac < quad::zmax) mesh.add(s_at(k * sc / ac));
  mesh.finish();
  // G(z) = sum over the two sides of the pieces' T_j(mu, b), mu = c s1 z, and
  // (x < 0) E[X^j 1(X < 0)] = (-1)^j T_j(-mu, b); a piece's 15 nodes at once
  // (quad::Batched), the two sides' recursions side by side, each alone bound by its
  // latency. The sides share npdf(mu / b) and one erfc (Phi(-|r|) and 1 - Phi(-|r|), to
  // rounding of the sum); from |r| = 9 on the far side's T_j are below 1e-18 of the
  // near side's (|mu| >= 9 b) and are taken as 0, and the near side's T_0 = 1, T_1 = mu
  // (Phi(9) rounds to 1, b npdf(9) is below half an ulp of mu).
  auto f = quad::batched([&](const double* s, double* y, int n) {
    double z[15], x[15], jac[15], mu[15], t0p[15], t1p[15], t0n[15], t1n[15], g[15];
    for (int i = 0; i < n; ++i) {
      if (s[i] <= ts) {
        x[i] = std::expm1(s[i]);
        z[i] = x[i] / s2;
        jac[i] = (1.0 + x[i]) / s2;
      } else {
        z[i] = 1.0 + (s[i] - ts);
        x[i] = s2 * z[i];
        jac[i] = 1.0;
      }
      mu[i] = c * s1 * z[i];
      const double r = mu[i] / b, ar = std::fabs(r);
      double near = 1.0, far = 0.0, e = 0.0;
      if (ar < 9.0) {
        far = 0.5 * std::erfc(ar * (1.0 / std::sqrt(2.0)));
        near = 1.0 - far;
        e = b * npdf(r);
      }
      t0p[i] = r >= 0.0 ? near : far;
      t0n[i] = r >= 0.0 ? far : near;
      t1p[i] = mu[i] * t0p[i] + e;
      t1n[i] = -mu[i] * t0n[i] + e;
      g[i] = P[0] * t0p[i] + N[0] * t0n[i] + (J >= 1 ? P[1] * t1p[i] - N[1] * t1n[i] : 0.0);
    }
    for (int j = 2; j <= J; ++j) {
      const double wp = P[j], wn = j % 2 == 0 ? N[j] : -N[j], k = double(j - 1) * bb;
      for (int i = 0; i < n; ++i) {
        const double t2p = mu[i] * t1p[i] + k * t0p[i];
        const double t2n = -mu[i] * t1n[i] + k * t0n[i];
        g[i] += wp * t2p + wn * t2n;
        t0p[i] = t1p[i];
        t1p[i] = t2p;
        t0n[i] = t1n[i];
        t1n[i] = t2n;
      }
    }
    for (int i = 0; i < n; ++i) y[i] = fv(x[i]) * g[i] * npdf(z[i]) * jac[i];
  });
  double v;
  if (!quad::integrate<1>(f, mesh, 1e-15, 0.2 * atol, &v)) return false;
  out = 2.0 * v;
  return std::isfinite(out);
}

// softsign (d = 0: phi, 1: phi'), the smaller variance q1 = s1^2 (above).
inline bool softsign_small_variance(int d, double s1, double s2, double c, double atol,
                                    double norm_v, double& out) {
  const double q1 = s1 * s1;
  auto coef = [&](int K, double* P, double* N, double& R2) {
    // E|u|^(2j) = q1^j (2j - 1)!!, j = K + 1 (phi) or K (phi')
    const int jr = K + 1 - d;
    double mom = 1.0;
    for (int i = 1; i <= jr; ++i) mom *= q1 * double(2 * i - 1);
    R2 = d == 0 ? mom : double(K + 1) * double(K + 1) * mom;
    if (d == 0) {  // (-1)^k x |x|^k = (-1)^k x^(k+1) (x > 0), x^(k+1) (x < 0)
      P[0] = N[0] = 0.0;
      for (int k = 0; k < K; ++k) {
        P[k + 1] = k % 2 == 0 ? 1.0 : -1.0;
        N[k + 1] = 1.0;
      }
      return K;
    }
    for (int k = 0; k < K; ++k) {  // (k + 1) (-|x|)^k: (k + 1) (-x)^k, (k + 1) x^k
      P[k] = double(k + 1) * (k % 2 == 0 ? 1.0 : -1.0);
      N[k] = double(k + 1);
    }
    return K - 1;
  };
  auto fv = [d](double x) {
    const double ax = 1.0 + std::fabs(x);
    return d == 0 ? x / ax : 1.0 / (ax * ax);
  };
  return power_series_conditional(s1, s2, c, atol, norm_v, coef, fv, out);
}

// softsign (d = 0: phi, 1: phi') with both variances small (q1, q2 <~ 6e-3), next to
// |c| = 1, where the Mehler series fails (phi'' jumps at 0: coefficients decaying
// algebraically) and softsign_small_variance's outer quadrature takes 5-12 us: the power
// series about 0 on both sides against the orthant moments I_jk(r) = E[X^j Y^k 1(X > 0)
// 1(Y > 0)] of elu_small_variance.hpp. With f_K = sum_j x^j (P_j 1(x > 0) + N_j 1(x < 0))
// (phi: j = 1..K, P_j = (-1)^(j-1), N_j = 1; phi': j = 0..K-1, P_j = (j + 1) (-1)^j,
// N_j = j + 1) and u = s1 X, v = s2 Y, the four quadrants ((X, Y) -> (+-X, +-Y)) give
//   E[f_K(u) f_K(v)] = sum_jk s1^j s2^k [(P_j P_k + (-1)^(j+k) N_j N_k) I_jk(c)
//                                       + ((-1)^k P_j N_k + (-1)^j N_j P_k) I_jk(-c)],
// for f odd (N_j = (-1)^(j+1) P_j) 2 sum_jk P_j P_k s1^j s2^k (I_jk(c) - I_jk(-c)), for f
// even (N_j = (-1)^j P_j) the same with I_jk(c) + I_jk(-c). Truncation as there (the
// remainders of small_variance.hpp's softsign_small_variance: |phi - phi_K| <= |x|^(K+1),
// E[e(u)^2] <= q^(K+1) (2K+1)!!; |phi' - phi'_K| <= (K + 1) |x|^K, E[e(u)^2] <= (K + 1)^2
// q^K (2K-1)!!): |E[f f] - E[f_K f_K]| <= |e|_u |f|_v + (|f|_u + |e|_u) |e|_v, K the least
// order that puts this below a tenth of atol (at most elu_series_k_max = 40, which q ~
// 6e-3 needs; beyond, where a Gaussian input reaches the series' radius 1, no order
// does and the form declines). The sum's rounding, 32 eps of its terms' magnitudes (the
// tables' for r = -c lose relative, not absolute, accuracy where that orthant is all but
// empty), is added to that bound: false where the two exceed atol. ~0.3-2.5 us (K from
// ~8 at q ~ 1e-5 to 40 at ~6e-3). (sigprop's own construction.)
inline bool softsign_small_variances(int d, double q1, double q2, double c, double atol,
                                     double norm1, double norm2, double& out) {
  if (!(d == 0 || d == 1) || !(q1 > 0.0 && q2 > 0.0) || !std::isfinite(q1) || !std::isfinite(q2) ||
      !(std::fabs(c) <= 1.0) || !(atol > 0.0) || !(norm1 >= 0.0) || !(norm2 >= 0.0))
    return false;
  // Where the bounds fall with K all the way (their ratios below 1 up to K = k_max: q (2
  // k_max + 3) < 1), the last order's first: past q ~ 6e-3 no order meets the tolerance,
  // and the loop below took ~1 us to find that (a c-map's row at q = 1e-2, c = 0.95)
  constexpr int km = elu_series_k_max;
  if (std::fmax(q1, q2) * (2.0 * km + 3.0) < 1.0) {
    // log((2 km + 1)!!) (phi: t = q^(km+1) (2 km + 1)!!) or log((2 km - 1)!!) (phi': t =
    // (km + 1)^2 q^km (2 km - 1)!!)
    static const double log_df = [] {
      double s = 0.0;
      for (int j = 1; j <= 2 * km - 1; j += 2) s += std::log(double(j));
      return s;
    }();
    auto t_at = [&](double q) {
      return d == 0 ? std::exp((km + 1.0) * std::log(q) + log_df + std::log(2.0 * km + 1.0))
                    : (km + 1.0) * (km + 1.0) * std::exp(km * std::log(q) + log_df);
    };
    const double e1 = std::sqrt(t_at(q1)), e2 = std::sqrt(t_at(q2));
    if (!(e1 * norm2 + (norm1 + e1) * e2 <= 0.1 * atol)) return false;
  }
  // E[e^2] bounds at K = 1 and their ratios K -> K + 1
  double t1 = d == 0 ? 3.0 * q1 * q1 : 4.0 * q1, t2 = d == 0 ? 3.0 * q2 * q2 : 4.0 * q2;
  double bound = 0.0;
  int K = 1;
  for (;; ++K) {
    const double e1 = std::sqrt(t1), e2 = std::sqrt(t2);
    bound = e1 * norm2 + (norm1 + e1) * e2;
    if (bound <= 0.1 * atol) break;
    if (K + 1 > elu_series_k_max) return false;
    const double f = d == 0 ? double(2 * K + 3)
                            : double(2 * K + 1) * double(K + 2) * double(K + 2) /
                                  (double(K + 1) * double(K + 1));
    t1 *= q1 * f;
    t2 *= q2 * f;
  }
  constexpr int ld = elu_series_ld;
  const int lo = d == 0 ? 1 : 0, hi = d == 0 ? K : K - 1;  // the pieces' orders
  const double *Ip, *Im;
  elu_orthant_tables(c, hi, Ip, Im);
  // w_j = P_j s^j on each side
  const double s1 = std::sqrt(q1), s2 = std::sqrt(q2);
  double w1[ld], w2[ld];
  double p1 = 1.0, p2 = 1.0;  // s^j
  for (int j = 0; j <= hi; ++j) {
    const double P = d == 0 ? (j % 2 == 1 ? 1.0 : -1.0) : (j % 2 == 0 ? 1.0 : -1.0) * (j + 1.0);
    w1[j] = P * p1;
    w2[j] = P * p2;
    p1 *= s1;
    p2 *= s2;
  }
  const double sg = d == 0 ? -1.0 : 1.0;
  double sum = 0.0, mag = 0.0;
  for (int j = hi; j >= lo; --j) {
    double row = 0.0, arow = 0.0;
    for (int k = hi; k >= lo; --k) {
      const double ip = Ip[j * ld + k], im = Im[j * ld + k];
      row += w2[k] * (ip + sg * im);
      arow += std::fabs(w2[k]) * (std::fabs(ip) + std::fabs(im));
    }
    sum += w1[j] * row;
    mag += std::fabs(w1[j]) * arow;
  }
  const double err = bound + 64.0 * std::numeric_limits<double>::epsilon() * mag;
  if (!(err <= atol)) return false;
  out = 2.0 * sum;
  return std::isfinite(out);
}

}  // namespace sigprop::detail
