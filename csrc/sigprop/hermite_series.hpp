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
// of the one-dimensional moments, refined so that the oscillation of h_n is
// resolved: N = 256 on pieces of width 1/8 first, N = 1024 on pieces of width
// 1/16 where the first cannot reach the tolerance (c close to 1, next to the EOC). Truncation is
// bounded rigorously by the tail mass T = E[phi^2] - sum_{n<=N} a_n^2 >= 0:
//     |sum_{n>N} a_n^2 c^n|          <= T |c|^(N+1),
//     |sum_{n>N} n a_n^2 c^(n-1)|    <= T (N+1) |c|^N   when (N+1) ln(1/|c|) >= 1;
// evaluate() reports failure when these bounds exceed the tolerance (c near 1
// for slowly decaying coefficients: kinked phi, large q) or when the computed
// coefficients miss Parseval's identity by more than rounding, and the caller
// falls back to the bivariate quadrature.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "moment_table.hpp"

namespace sigprop {

struct HermiteSeries {
  int N = 0;               // highest order kept
  std::vector<double> a2;  // a_n^2, n = 0..N
  double tail = 0.0;       // E[phi^2] - sum a_n^2, at least the rounding floor
  double phi_sq = 0.0;     // E[phi^2]
  bool ok = false;

  // E[phi(u) phi(v)] (e) and q E[phi'(u) phi'(v)] (de) at correlation c; false when
  // the truncation bounds exceed rtol of E[phi^2] (resp. of q E[phi'^2] = de at c = 1).
  bool evaluate(double c, double dphi_sq_q, double rtol, double& e, double& de) const {
    if (!ok) return false;
    const double ac = std::fabs(c);
    if (ac >= 1.0) return false;
    const double cn = std::pow(ac, N);
    const double bound_e = tail * cn * ac;
    const double lnc = -std::log(ac);
    const double bound_de = (N + 1) * lnc >= 1.0 ? tail * (N + 1) * cn : special::inf;
    if (!(bound_e <= rtol * phi_sq) || !(bound_de <= rtol * dphi_sq_q)) return false;
    double s = 0.0, ds = 0.0;
    for (int n = N; n >= 1; --n) {
      s = s * c + a2[n];
      ds = ds * c + n * a2[n];
    }
    e = s * c + a2[0];
    de = ds;
    return true;
  }
};

// The series up to order n_max, from Gauss-Kronrod 15 on the kink-aware mesh
// refined to pieces no wider than `width` (which must resolve the wavelength
// ~ pi / sqrt(2 n_max) of h_{n_max}).
inline HermiteSeries hermite_series(const Activation& act, double q, int n_max = 256,
                                    double width = 0.125) {
  using namespace special;
  const Activation a = canonical(act);
  HermiteSeries hs;
  hs.N = n_max;
  hs.a2.assign(n_max + 1, 0.0);
  if (!(q > 0.0) || !std::isfinite(q)) return hs;
  const double s = std::sqrt(q);
  quad::Mesh mesh;
  quad::add_gauss_mesh(mesh);
  detail::add_activation_mesh(a, 0.0, s, mesh);
  mesh.finish();
  // h_{n+1}(z) = z h_n(z) / sqrt(n+1) - sqrt(n / (n+1)) h_{n-1}(z), run for the 15
  // nodes of a piece side by side (independent recurrences: the loop over nodes
  // vectorises, the one over n is a dependency chain).
  std::vector<double> an(n_max + 1, 0.0), inv(n_max + 1), ratio(n_max + 1);
  for (int n = 0; n < n_max; ++n) {
    inv[n] = 1.0 / std::sqrt(double(n + 1));
    ratio[n] = std::sqrt(double(n) / double(n + 1));
  }
  for (int i = 0; i + 1 < mesh.n; ++i) {
    const int parts = std::max(1, int(std::ceil((mesh.x[i + 1] - mesh.x[i]) / width)));
    const double step = (mesh.x[i + 1] - mesh.x[i]) / parts;
    for (int p = 0; p < parts; ++p) {
      const double lo = mesh.x[i] + p * step, hi = p + 1 == parts ? mesh.x[i + 1] : lo + step;
      const double c = 0.5 * (lo + hi), h = 0.5 * (hi - lo);
      // 16 lanes (the 16th has weight 0) so that the node loop vectorises.
      double z[16], w[16], hm1[16], h0[16], t[16];
      bool any = false;
      for (int j = 0; j < 15; ++j) {
        const int k = j < 7 ? j : 14 - j;  // xgk[k], mirrored for j > 7
        z[j] = j < 7 ? c - h * quad::xgk[k] : (j == 7 ? c : c + h * quad::xgk[k]);
        w[j] = quad::wgk[j <= 7 ? j : 14 - j] * h * npdf(z[j]) * phi(a, s * z[j]);
        any = any || w[j] != 0.0;
      }
      if (!any) continue;
      z[15] = c;
      w[15] = 0.0;
      for (int j = 0; j < 16; ++j) {
        hm1[j] = 0.0;
        h0[j] = 1.0;
      }
      auto lane_sum = [&t]() {
        // fixed pairwise order: deterministic and independent of vectorisation
        double u[8];
        for (int j = 0; j < 8; ++j) u[j] = t[j] + t[j + 8];
        return ((u[0] + u[4]) + (u[2] + u[6])) + ((u[1] + u[5]) + (u[3] + u[7]));
      };
      for (int j = 0; j < 16; ++j) t[j] = w[j];
      an[0] += lane_sum();
      for (int n = 0; n < n_max; ++n) {
        const double iv = inv[n], r = ratio[n];
        for (int j = 0; j < 16; ++j) {
          const double hp1 = z[j] * h0[j] * iv - r * hm1[j];
          hm1[j] = h0[j];
          h0[j] = hp1;
          t[j] = w[j] * hp1;
        }
        an[n + 1] += lane_sum();
      }
    }
  }
  double sum = 0.0;
  for (int n = 0; n <= n_max; ++n) {
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
    case Kind::linear_region_tanh:
    case Kind::custom: return true;
    default: return false;
  }
}

}  // namespace sigprop
