// Globally adaptive Gauss–Kronrod (7/15) quadrature of vector-valued
// integrands over a union of pieces, and the breakpoint meshes that make it
// robust for Gaussian expectations: pieces end at every kink of the activation
// and are graded geometrically around it (and around 0, where smooth
// activations change on the scale 1/sqrt(q) when q is large), so that no
// feature can hide between the nodes of one piece. The error estimate is the
// Gauss–Kronrod difference |K15 - G7|, which overestimates the error of the
// K15 value by orders of magnitude for the smooth pieces used here.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <utility>

namespace sigprop {
namespace quad {

// Nodes (positive half, the last one 0) and weights of the 15-point Kronrod
// rule and of the embedded 7-point Gauss rule on [-1, 1].
inline constexpr double xgk[8] = {
    0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
    0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
    0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
    0.207784955007898467600689403773245, 0.000000000000000000000000000000000};
inline constexpr double wgk[8] = {
    0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
    0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
    0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
    0.204432940075298892414161999234649, 0.209482141084727828012999174891714};
inline constexpr double wg[4] = {
    0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
    0.381830050505118944950369775488975, 0.417959183673469387755102040816327};

// Truncation of Gaussian integrals: |z| <= zmax. The neglected mass, even
// weighted by z^4, is below 1e-19.
inline constexpr double zmax = 10.0;

// (max_kinks = 16 kinks, each graded geometrically, fit with room to spare)
inline constexpr int max_breaks = 1024;
// When the piece budget runs out, a component whose error estimate is still
// above this fraction of the integral of |f| is returned as NaN.
inline constexpr double fail_rtol = 1e-10;
inline constexpr int max_pieces = 1024;

// Beyond this |z| the normal density underflows to 0 in double precision.
inline constexpr double zlimit = 40.0;

// A sorted set of breakpoints on [lo, hi], by default [-zmax, zmax]. The range
// grows to take in a kink beyond zmax (see add_feature_mesh): an integrand that
// vanishes on [-zmax, zmax] but not beyond (shifted relu far in the tail) is
// then still integrated to full relative accuracy.
struct Mesh {
  double x[max_breaks];
  int n = 0;
  double lo = -zmax, hi = zmax;
  void add(double v) {
    if (n < max_breaks && std::isfinite(v)) x[n++] = v;
  }
  bool inside(double v) const { return v > lo && v < hi; }
  // Sort, clip to [lo, hi], drop near-duplicates; lo and hi are included.
  void finish() {
    add(lo);
    add(hi);
    std::sort(x, x + n);
    int m = 0;
    const double tol = 1e-13 * (hi - lo);
    for (int i = 0; i < n; ++i) {
      const double v = x[i];
      if (v < lo || v > hi) continue;
      if (m > 0 && v - x[m - 1] <= tol) continue;
      x[m++] = v;
    }
    n = m;
  }
};

// Add the standard mesh of the Gaussian variable: 0, +-1, +-2, +-3, +-4.5, +-6, +-8.
inline void add_gauss_mesh(Mesh& mesh) {
  static constexpr double g[7] = {0.0, 1.0, 2.0, 3.0, 4.5, 6.0, 8.0};
  for (double v : g) {
    mesh.add(v);
    if (v != 0.0) mesh.add(-v);
  }
}

// Add breakpoints z = (p + off - m) / b for a feature of the activation at x = p:
// off = 0 and off = +-h 2^k, k = 0, 1, ..., as long as the point can fall inside
// the mesh's range. b may be negative (the map is then decreasing). A kink
// (kink = true) far in the tail (|z| > 6) but where the density is still
// representable extends the range so that the neglected mass beyond it is below
// 1e-19 of the density at the kink.
inline void add_feature_mesh(Mesh& mesh, double p, double m, double b, bool kink, double h = 0.25) {
  if (b == 0.0 || !std::isfinite(b)) return;
  const double ab = std::fabs(b);
  const double z0 = (p - m) / b;
  if (kink && std::fabs(z0) > 6.0 && std::fabs(z0) < zlimit - 3.0) {
    // Past the kink the integrand may be all there is: keep going until the
    // density has fallen by e^-45 (< 1e-19) from its value at the kink.
    const double reach = std::sqrt(z0 * z0 + 90.0);
    if (z0 > 0.0)
      mesh.hi = std::fmax(mesh.hi, reach);
    else
      mesh.lo = std::fmin(mesh.lo, -reach);
  }
  if (mesh.inside(z0)) mesh.add(z0);
  for (double off = h; off / ab < 4.0 * zlimit; off *= 2.0) {
    const double dz = off / ab;
    if (mesh.inside(z0 + dz)) mesh.add(z0 + dz);
    if (mesh.inside(z0 - dz)) mesh.add(z0 - dz);
  }
}

// Result of one piece: N integrals, their error estimates, and integrals of |f|.
template <int N>
struct Piece {
  double a, b;
  double val[N];
  double err[N];
  double absval[N];
};

template <int N, class F>
inline void gk15(F& f, double a, double b, Piece<N>& out) {
  const double c = 0.5 * (a + b), h = 0.5 * (b - a);
  double k[N], g[N], ab[N], y[N];
  f(c, y);
  for (int j = 0; j < N; ++j) {
    k[j] = wgk[7] * y[j];
    g[j] = wg[3] * y[j];
    ab[j] = wgk[7] * std::fabs(y[j]);
  }
  for (int i = 0; i < 7; ++i) {
    double y1[N], y2[N];
    f(c - h * xgk[i], y1);
    f(c + h * xgk[i], y2);
    for (int j = 0; j < N; ++j) {
      k[j] += wgk[i] * (y1[j] + y2[j]);
      ab[j] += wgk[i] * (std::fabs(y1[j]) + std::fabs(y2[j]));
      if (i % 2 == 1) g[j] += wg[i / 2] * (y1[j] + y2[j]);
    }
  }
  out.a = a;
  out.b = b;
  for (int j = 0; j < N; ++j) {
    out.val[j] = k[j] * h;
    out.err[j] = std::fabs((k[j] - g[j]) * h);
    out.absval[j] = ab[j] * std::fabs(h);
  }
}

// A one-component integrand that evaluates a piece's 15 Gauss-Kronrod nodes at once,
// fb(x, y, n): y[i] = f(x[i]) for i < n, so that their evaluations can run side by side
// (several Chebyshev recurrences interleaved, each bound by its latency when alone:
// the smoothing tables' integrands, softsign_pair.hpp, saturating_pair.hpp). gk15 sums
// its values as those of the integrand taken node by node: the same numbers.
template <class FB>
struct Batched {
  FB fb;
};
template <class FB>
inline Batched<FB> batched(FB fb) {
  return Batched<FB>{std::move(fb)};
}

template <int N, class FB>
inline void gk15(Batched<FB>& f, double a, double b, Piece<N>& out) {
  static_assert(N == 1, "a batched integrand has one component");
  const double c = 0.5 * (a + b), h = 0.5 * (b - a);
  double x[15], y[15];
  x[0] = c;
  for (int i = 0; i < 7; ++i) {
    x[1 + 2 * i] = c - h * xgk[i];
    x[2 + 2 * i] = c + h * xgk[i];
  }
  f.fb(x, y, 15);
  double k = wgk[7] * y[0], g = wg[3] * y[0], ab = wgk[7] * std::fabs(y[0]);
  for (int i = 0; i < 7; ++i) {
    const double y1 = y[1 + 2 * i], y2 = y[2 + 2 * i];
    k += wgk[i] * (y1 + y2);
    ab += wgk[i] * (std::fabs(y1) + std::fabs(y2));
    if (i % 2 == 1) g += wg[i / 2] * (y1 + y2);
  }
  out.a = a;
  out.b = b;
  out.val[0] = k * h;
  out.err[0] = std::fabs((k - g) * h);
  out.absval[0] = ab * std::fabs(h);
}

// Integrate the N-vector function f(x, y) (writes y[0..N-1]) over the mesh's
// pieces until, for every component j, the summed error estimate is below
// max(rtol * integral of |f_j|, atol). Returns false if the piece budget ran
// out first (the values are then the best estimates, or NaN where the error
// estimate exceeds fail_rtol of the integral of |f_j|), or at once where f is
// NaN at a node (that component's value NaN). Pieces are summed in
// mesh order, so the result does not depend on the order of refinement.
// Level selects the work buffer: a nested integral (an integrand that
// integrates) must use a different Level than the integral around it.
template <int N, int Level = 0, class F>
inline bool integrate(F&& f, const Mesh& mesh, double rtol, double atol, double* result,
                      double* error = nullptr) {
  static thread_local Piece<N> pieces[max_pieces];
  int n = 0;
  for (int i = 0; i + 1 < mesh.n; ++i) gk15<N>(f, mesh.x[i], mesh.x[i + 1], pieces[n++]);
  bool ok = false;
  for (;;) {
    double err[N] = {}, absv[N] = {};
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < N; ++j) {
        err[j] += pieces[i].err[j];
        absv[j] += pieces[i].absval[j];
      }
    // (nan: an integrand that is NaN at a node, a user's phi beyond its interpolants'
    // range, leaves its piece's error NaN: no bisection elsewhere lowers it, and the
    // choice below, the largest ratio, NaN never larger, bisects every other piece
    // first, so the refinement ran on to the piece budget, ~0.3 ms an integral and
    // seconds for a call that integrates many times, for the NaN it ended with)
    double tol[N];
    bool done = true, nan = false;
    for (int j = 0; j < N; ++j) {
      tol[j] = std::fmax(rtol * absv[j], atol);
      if (!(err[j] <= tol[j])) done = false;
      if (std::isnan(err[j])) nan = true;
    }
    if (done) {
      ok = true;
      break;
    }
    if (nan || n + 1 >= max_pieces) break;
    // Bisect the piece with the largest error relative to its tolerance.
    int worst = 0;
    double worst_r = -1.0;
    for (int i = 0; i < n; ++i) {
      double r = 0.0;
      for (int j = 0; j < N; ++j) r = std::fmax(r, pieces[i].err[j] / tol[j]);
      if (r > worst_r) {
        worst_r = r;
        worst = i;
      }
    }
    const double a = pieces[worst].a, b = pieces[worst].b, c = 0.5 * (a + b);
    if (!(c > a && c < b)) break;  // cannot split further in double precision
    // Keep mesh order: shift the tail right by one and refine in place.
    for (int i = n; i > worst + 1; --i) pieces[i] = pieces[i - 1];
    ++n;
    gk15<N>(f, a, c, pieces[worst]);
    gk15<N>(f, c, b, pieces[worst + 1]);
  }
  for (int j = 0; j < N; ++j) {
    double s = 0.0, e = 0.0, av = 0.0;
    for (int i = 0; i < n; ++i) {
      s += pieces[i].val[j];
      e += pieces[i].err[j];
      av += pieces[i].absval[j];
    }
    // Out of budget and still far from converged: no plausible-looking number.
    if (!ok && !(e <= fail_rtol * av || e <= atol)) s = std::numeric_limits<double>::quiet_NaN();
    result[j] = s;
    if (error) error[j] = e;
  }
  return ok;
}

// Cuts of [lo, hi] for a normal density of centre mu and spread w: lo, then mu and
// mu +- 4.5 w where inside, then hi, into y (at most 5); returns their count. On the
// panels between them (no longer than 4.5 w) fixed Gauss-Legendre rules resolve the
// density (saturating_pair.hpp, softsign_pair.hpp).
inline int density_cuts(double lo, double hi, double mu, double w, double* y) {
  int n = 0;
  y[n++] = lo;
  for (int k = -1; k <= 1; ++k) {
    const double v = mu + 4.5 * k * w;
    if (v > lo && v < hi) y[n++] = v;
  }
  y[n++] = hi;
  return n;
}

// The integral over the mesh of f, two components: a result and the same computed with
// cheaper inner rules; to tolerance qtol, then `factor` times the first where the two
// agree to a twentieth of atol. False where the quadrature ended short or they do not
// agree (out untouched).
template <class F>
inline bool integrate_checked(F&& f, const Mesh& mesh, double qtol, double atol, double factor,
                              double& out) {
  double v[2];
  if (!integrate<2>(f, mesh, 1e-14, qtol, v)) return false;
  if (!(factor * std::fabs(v[0] - v[1]) <= 0.05 * atol)) return false;
  out = factor * v[0];
  return std::isfinite(out);
}

}  // namespace quad
}  // namespace sigprop
