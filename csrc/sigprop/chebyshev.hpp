// Chebyshev series: the evaluation that the interpolation tables (moment_table.hpp,
// hermite_table.hpp, custom_activation.hpp) share, the coefficients of an
// interpolant from its values at the Chebyshev-Lobatto points, and a small table of
// such interpolants built for one computation (LobattoTable: the inner expectations of
// saturating_pair.hpp and softsign_pair.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "special.hpp"

namespace sigprop {
namespace cheb {

// sum_{k=0}^{n} c[k] T_k(t) by Clenshaw's recurrence, t in [-1, 1].
inline double clenshaw(const double* c, int n, double t) {
  double b1 = 0.0, b2 = 0.0;
  const double t2 = 2.0 * t;
  for (int k = n; k >= 1; --k) {
    const double b0 = t2 * b1 + (c[k] - b2);
    b2 = b1;
    b1 = b0;
  }
  return t * b1 + (c[0] - b2);
}

// clenshaw(c[i], n, t) into v[i] for i < M, the M recurrences interleaved (each bound
// by its latency, ~8 cycles a term: side by side they cost little more than one), each
// the same operations as clenshaw's, so the same numbers.
template <int M>
inline void clenshaw_many(const double* const* c, int n, double t, double* v) {
  double b1[M], b2[M];
  for (int i = 0; i < M; ++i) b1[i] = b2[i] = 0.0;
  const double t2 = 2.0 * t;
  for (int k = n; k >= 1; --k)
    for (int i = 0; i < M; ++i) {
      const double b0 = t2 * b1[i] + (c[i][k] - b2[i]);
      b2[i] = b1[i];
      b1[i] = b0;
    }
  for (int i = 0; i < M; ++i) v[i] = t * b1[i] + (c[i][0] - b2[i]);
}

// clenshaw(c[i], n, t[i]) into y[lane[i]] for i < M: M recurrences at M points of
// equal degree, interleaved as clenshaw_many's, the same operations as clenshaw's.
template <int M>
inline void clenshaw_many_at(const double* const* c, int n, const double* t, double* y,
                             const int* lane) {
  double b1[M], b2[M], t2[M];
  for (int i = 0; i < M; ++i) {
    b1[i] = b2[i] = 0.0;
    t2[i] = 2.0 * t[i];
  }
  for (int k = n; k >= 1; --k)
    for (int i = 0; i < M; ++i) {
      const double b0 = t2[i] * b1[i] + (c[i][k] - b2[i]);
      b2[i] = b1[i];
      b1[i] = b0;
    }
  for (int i = 0; i < M; ++i) y[lane[i]] = t[i] * b1[i] + (c[i][0] - b2[i]);
}

// The same sums with each split by parity, for a caller bound by their latency (a
// lookup of a few fields): T_(k+2) = 2 u T_k - T_(k-2) with u = T_2(t) = 2 t^2 - 1, so
// that sum_j c[2j] T_2j(t) = sum_j c[2j] T_j(u) and sum_j c[2j+1] T_(2j+1)(t) = t sum_j
// c[2j+1] V_j(u) (V_0 = 1, V_1 = 2 u - 1, V_(j+1) = 2 u V_j - V_(j-1)): two recurrences
// of n / 2 terms each, side by side, where Clenshaw's one of n terms waited on each term
// (~8 cycles). The same sum to rounding, not bitwise clenshaw's. n >= 1.
template <int M>
inline void clenshaw_parity_many(const double* const* c, int n, double t, double* v) {
  const double u = 2.0 * t * t - 1.0, u2 = 2.0 * u;
  const int ne = n / 2, no = (n - 1) / 2;  // the even sum's top j, the odd one's
  double e1[M], e2[M], o1[M], o2[M];
  for (int i = 0; i < M; ++i) e1[i] = e2[i] = o1[i] = o2[i] = 0.0;
  for (int j = ne; j >= 1; --j)
    for (int i = 0; i < M; ++i) {
      const double e0 = u2 * e1[i] + (c[i][2 * j] - e2[i]);
      e2[i] = e1[i];
      e1[i] = e0;
      if (j <= no) {
        const double o0 = u2 * o1[i] + (c[i][2 * j + 1] - o2[i]);
        o2[i] = o1[i];
        o1[i] = o0;
      }
    }
  for (int i = 0; i < M; ++i) {
    const double even = u * e1[i] + (c[i][0] - e2[i]);
    const double odd = t * ((2.0 * u - 1.0) * o1[i] + (c[i][1] - o2[i]));
    v[i] = even + odd;
  }
}

// T_0(t)..T_deg(t) into T (deg >= 1).
inline void basis(int deg, double t, double* T) {
  T[0] = 1.0;
  T[1] = t;
  for (int k = 2; k <= deg; ++k) T[k] = 2.0 * t * T[k - 1] - T[k - 2];
}

// Chebyshev coefficients from the values at the Lobatto points (DCT-I), for
// `count` series at once: y[j * y_stride + i] is series i at t_j = cos(pi j / deg),
// j = 0..deg; the coefficient of T_k goes to c[k * c_stride + i], k = 0..deg. With
// `cosines` (cos(pi i / deg), i < 2 deg: lobatto_cosines) the factors are read from it
// (cos(pi j k / deg) at j k mod 2 deg) instead of taking (deg + 1)^2 cosines, for a
// table built in every call (LobattoTable).
inline void lobatto_coefficients(int deg, int count, const double* y, std::size_t y_stride,
                                 double* c, std::size_t c_stride, const double* cosines = nullptr) {
  for (int k = 0; k <= deg; ++k) {
    double* ck = c + std::size_t(k) * c_stride;
    for (int i = 0; i < count; ++i) ck[i] = 0.0;
    const double sk = (2.0 / deg) * ((k == 0 || k == deg) ? 0.5 : 1.0);
    for (int j = 0; j <= deg; ++j) {
      const double w =
          ((j == 0 || j == deg) ? 0.5 : 1.0) *
          (cosines ? cosines[(j * k) % (2 * deg)] : std::cos(special::pi * double(j * k) / deg));
      const double* yj = y + std::size_t(j) * y_stride;
      for (int i = 0; i < count; ++i) ck[i] += sk * w * yj[i];
    }
  }
}

// cos(pi i / deg), i < 2 deg: the Lobatto points and the DCT-I's factors.
template <int Deg>
inline const double* lobatto_cosines() {
  static const auto table = [] {
    struct T {
      double v[2 * Deg];
    } t;
    for (int i = 0; i < 2 * Deg; ++i) t.v[i] = std::cos(special::pi * i / Deg);
    return t;
  }();
  return table.v;
}

// N functions of m on [0, M], each as Chebyshev interpolants of degree Deg on at most
// S equal segments, from their values at each segment's Lobatto points (65 values a
// segment at Deg = 64): tabled once in a computation that then evaluates them many
// times. build(M, segments, rtail, f), f(m, out) writing the N values, returns false
// where on some segment some component's last eight coefficients are not all below
// rtail of its largest value there (the interpolant not certified); eval(m, out) for
// 0 <= m <= M, the N series in one Clenshaw recurrence.
template <int N, int S, int Deg = 64>
struct LobattoTable {
  double c[S][Deg + 1][N];
  double len = 0.0;
  int nseg = 0;
  template <class F>
  bool build(double M, int segments, double rtail, F&& f) {
    if (!(segments >= 1 && segments <= S) || !(M > 0.0)) return false;
    const double* cs = lobatto_cosines<Deg>();
    nseg = segments;
    len = M / segments;
    for (int g = 0; g < nseg; ++g) {
      double y[Deg + 1][N], top[N] = {};
      for (int j = 0; j <= Deg; ++j) {
        f(len * (g + 0.5 * (1.0 + cs[j])), y[j]);
        for (int i = 0; i < N; ++i) top[i] = std::fmax(top[i], std::fabs(y[j][i]));
      }
      lobatto_coefficients(Deg, N, y[0], N, c[g][0], N, cs);
      for (int k = Deg - 7; k <= Deg; ++k)
        for (int i = 0; i < N; ++i)
          if (!(std::fabs(c[g][k][i]) <= rtail * top[i])) return false;
    }
    return true;
  }
  void eval(double m, double* out) const {
    const int g = std::min(nseg - 1, std::max(0, static_cast<int>(m / len)));
    const double t = 2.0 * (m / len - g) - 1.0, t2 = 2.0 * t;
    double b1[N] = {}, b2[N] = {};
    for (int k = Deg; k >= 1; --k)
      for (int i = 0; i < N; ++i) {
        const double b0 = t2 * b1[i] + (c[g][k][i] - b2[i]);
        b2[i] = b1[i];
        b1[i] = b0;
      }
    for (int i = 0; i < N; ++i) out[i] = t * b1[i] + (c[g][0][i] - b2[i]);
  }
};

}  // namespace cheb
}  // namespace sigprop
