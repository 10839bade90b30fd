// The correlation map at equal variances as a power series (Mehler's formula):
// for u, v with variance q and correlation c,
//     E[phi(u) phi(v)] = sum_n a_n^2 c^n,   a_n = E[phi(sqrt(q) Z) h_n(Z)],
// with h_n the orthonormal (probabilists') Hermite polynomials, and by Price's
// theorem q E[phi'(u) phi'(v)] = sum_n n a_n^2 c^(n-1). Once the a_n of a given
// (phi, q) are known, the c-map and its slope cost a polynomial evaluation instead
// of a nested quadrature, which makes the chaotic-phase c* of smooth activations
// (tanh, sigmoid, softplus, silu, ...) a thousand times cheaper.
//
// The coefficients come from one fixed Gauss-Kronrod rule on the kink-aware mesh
// of the one-dimensional moments, refined to pieces of width <= 1/8 so that the
// oscillation of h_n (n <= 256, wavelength >= 0.14) is resolved. Truncation is
// bounded rigorously by the tail mass T = E[phi^2] - sum_{n<=N} a_n^2 >= 0:
//     |sum_{n>N} a_n^2 c^n|          <= T |c|^(N+1),
//     |sum_{n>N} n a_n^2 c^(n-1)|    <= T (N+1) |c|^N   when (N+1) ln(1/|c|) >= 1;
// evaluate() reports failure when these bounds exceed the tolerance (c near 1
// for slowly decaying coefficients: kinked phi, large q) or when the computed
// coefficients miss Parseval's identity by more than rounding, and the caller
// falls back to the bivariate quadrature.
#pragma once

#include <cmath>

#include "moment_table.hpp"

namespace sigprop {

struct HermiteSeries {
  static constexpr int N = 256;
  double a2[N + 1];      // a_n^2
  double tail = 0.0;     // E[phi^2] - sum a_n^2, at least the rounding floor
  double phi_sq = 0.0;   // E[phi^2]
  bool ok = false;

  // E[phi(u) phi(v)] (e) and q E[phi'(u) phi'(v)] (de) at correlation c; false when
  // the truncation bounds exceed rtol of E[phi^2] (resp. of q E[phi'^2] = de at c = 1).
  bool evaluate(double c, double dphi_sq_q, double rtol, double& e, double& de) const {
    if (!ok) return false;
    const double ac = std::fabs(c);
    if (ac >= 1.0) return false;
    double s = 0.0, ds = 0.0;
    for (int n = N; n >= 1; --n) {
      s = s * c + a2[n];
      ds = ds * c + n * a2[n];
    }
    s = s * c + a2[0];
    const double cn = std::pow(ac, N);
    const double bound_e = tail * cn * ac;
    const double lnc = -std::log(ac);
    const double bound_de = (N + 1) * lnc >= 1.0 ? tail * (N + 1) * cn : special::inf;
    if (!(bound_e <= rtol * phi_sq) || !(bound_de <= rtol * dphi_sq_q)) return false;
    e = s;
    de = ds;
    return true;
  }
};

inline HermiteSeries hermite_series(const Activation& act, double q) {
  using namespace special;
  const Activation a = canonical(act);
  HermiteSeries hs;
  for (double& v : hs.a2) v = 0.0;
  if (!(q > 0.0) || !std::isfinite(q)) return hs;
  const double s = std::sqrt(q);
  quad::Mesh mesh;
  quad::add_gauss_mesh(mesh);
  detail::add_activation_mesh(a, 0.0, s, mesh);
  for (int k = -80; k <= 80; ++k) mesh.add(0.125 * k);
  mesh.finish();
  double an[HermiteSeries::N + 1] = {};
  double rs[HermiteSeries::N + 2];  // sqrt(n)
  for (int n = 0; n <= HermiteSeries::N + 1; ++n) rs[n] = std::sqrt(double(n));
  for (int i = 0; i + 1 < mesh.n; ++i) {
    const double lo = mesh.x[i], hi = mesh.x[i + 1];
    const double c = 0.5 * (lo + hi), h = 0.5 * (hi - lo);
    for (int j = -7; j <= 7; ++j) {
      const int k = j < 0 ? -j : j;
      const double z = j < 0 ? c - h * quad::xgk[7 - k] : c + h * quad::xgk[7 - k];
      const double w = quad::wgk[7 - k] * h * npdf(z) * phi(a, s * z);
      if (w == 0.0) continue;
      double hm1 = 0.0, h0 = 1.0;
      an[0] += w;
      for (int n = 0; n < HermiteSeries::N; ++n) {
        const double hp1 = (z * h0 - rs[n] * hm1) / rs[n + 1];
        hm1 = h0;
        h0 = hp1;
        an[n + 1] += w * h0;
      }
    }
  }
  double sum = 0.0;
  for (int n = 0; n <= HermiteSeries::N; ++n) {
    hs.a2[n] = an[n] * an[n];
    sum += hs.a2[n];
  }
  const Moments m = moments(a, q, false);
  hs.phi_sq = m.phi_sq;
  const double floor = 1e-13 * m.phi_sq;  // the accuracy of E[phi^2] and of the rule
  const double t = m.phi_sq - sum;
  // Parseval: the tail cannot be negative beyond rounding.
  if (!(t >= -floor) || !std::isfinite(sum)) return hs;
  hs.tail = std::fmax(t, floor);
  hs.ok = true;
  return hs;
}

// Whether the Hermite series is worth building for this (canonical) kind: smooth
// activations whose bivariate expectations need nested quadrature.
inline bool uses_hermite_series(Kind k) {
  switch (k) {
    case Kind::tanh:
    case Kind::sigmoid:
    case Kind::softplus:
    case Kind::shifted_softplus:
    case Kind::silu:
    case Kind::softsign:
    case Kind::linear_region_tanh: return true;
    default: return false;
  }
}

}  // namespace sigprop
