// The standard bivariate normal distribution: orthant probabilities
// P(X > h, Y > k) for corr(X, Y) = r and the truncated moments E[X], E[Y], E[XY]
// over such an orthant, each optionally scaled by e^S (a "tilt": exponential
// pieces e^{a X + b Y} become, by Cameron-Martin, e^{Var/2} times moments of a
// shifted normal, and e^{Var/2} overflows where the shifted probability
// underflows, q = 1e4: the scale is carried into every exponential instead).
//
// Method and sources:
// * Orthant probability: Genz's BVNU algorithm (A. Genz, "Numerical computation
//   of rectangular bivariate and trivariate normal and t probabilities",
//   Statistics and Computing 14 (2004) 251-260; the MATLAB bvnu.m of the same
//   author, whose r < 0 branch picks the cancellation-free difference of
//   univariate tails): Drezner-Wesolowsky integral over asin(r) with 6/12/20
//   Gauss-Legendre nodes for |r| < 0.3/0.75/0.925, and for |r| >= 0.925 the
//   integral in sqrt(1 - r^2) with the singular part subtracted in closed form.
//   Changes: the e^-100 cut-offs are dropped (values are kept relative in the
//   tails, where the tilted terms need them), every exponential is taken in one
//   piece with the tilt (exp(S + exponent)), univariate tails through the Mills
//   ratio (special.hpp), and 1 - r, 1 + r are passed exactly (next to |r| = 1,
//   1 - r = 1e-12 is not recoverable from r).
// * Truncated moments over {X > h, Y > k} (Rosenbaum 1961, "Moments of a
//   truncated bivariate normal distribution", JRSS B 23; Stein's identity
//   E[X g] = E[g_x] + r E[g_y]):
//     E[X] = A + r B,   E[Y] = B + r A,
//     E[XY] = r P + r h A + r k B + s/(2 pi) exp(-Q/2),
//   A = npdf(h) Phibar((k - r h)/s), B = npdf(k) Phibar((h - r k)/s),
//   s = sqrt(1 - r^2), Q = (h^2 - 2 r h k + k^2)/(1 - r^2), with h^2 - 2rhk + k^2
//   written as (h - k)^2 + 2(1 - r)hk (r > 0) or (h + k)^2 - 2(1 + r)hk.
// Every result comes with an error estimate (err): the magnitudes of the terms
// it was summed from times the rounding of each (including that of the
// exponent, eps |exponent|, which dominates under a large tilt); callers decide
// from it whether a closed form is accurate enough (piecewise_closed_forms.hpp).
//
// Far tails (where the estimate of Genz's rules exceeds the caller's budget): a
// one-dimensional adaptive Gauss-Kronrod quadrature of the tilted tail
// (orthant_tail_quadrature), cross-checked against Genz's value.
//
// Accuracy reached: orthant probabilities within 1.25e-16 absolute of 30-digit
// mpmath over 400 random (h, k, r), |h|, |k| <= 6, 1 - |r| down to 1e-12; the
// moments E[X], E[Y], E[XY] within 4e-16 (max(1, |value|)) at the points of
// tests/test_bivariate_normal.py, whose error estimates bound the actual errors.
#pragma once

#include <cmath>

#include "gauss_laguerre.hpp"
#include "quadrature.hpp"
#include "special.hpp"

namespace sigprop {
namespace bvn {

inline constexpr double eps = 2.220446049250313e-16;

// m * exp(e): values whose exponent is carried apart from the mantissa.
struct LogVal {
  double m, e;
};

// npdf(x) = (1/sqrt(2 pi)) e^{-x^2/2}, with x^2 split (Dekker) so that the rounding
// of x^2 does not enter the exponent.
inline LogVal lv_pdf(double x) {
  const double hi = x * x;
  if (!std::isfinite(hi)) return {0.0, 0.0};
  const double lo = std::fma(x, x, -hi);
  return {special::inv_sqrt_2pi * (1.0 - 0.5 * lo), -0.5 * hi};
}

// Phibar(x) = P(Z > x).
inline LogVal lv_nsf(double x) {
  using namespace special;
  if (x == inf) return {0.0, 0.0};
  if (x < 0.0) return {nsf(x), 0.0};
  const LogVal p = lv_pdf(x);
  return {p.m * mills(x), p.e};
}

inline LogVal mul(LogVal a, LogVal b) { return {a.m * b.m, a.e + b.e}; }

// e^S v.
inline double value(LogVal v, double S) { return v.m == 0.0 ? 0.0 : v.m * std::exp(v.e + S); }

// Relative rounding error of exp(e + S) as computed: the exponent's absolute
// error is about eps (|e| + |S|).
inline double rel_err(double e, double S) { return eps * (8.0 + std::fabs(e) + std::fabs(S)); }

// e^S (Phibar(a) - Phibar(b)) for a <= b, with its error estimate added to err.
inline double tail_difference(double a, double b, double S, double& err) {
  using namespace special;
  if (a == b) return 0.0;
  double v;
  if (a >= 0.0) {
    const LogVal pa = lv_nsf(a), pb = lv_nsf(b);
    const double va = value(pa, S), vb = value(pb, S);
    v = va - vb;
    err += va * rel_err(pa.e, S) + vb * rel_err(pb.e, S);
  } else if (b <= 0.0) {
    // Phi(-a) - Phi(-b) = Phibar(-b)... written with the left tails
    const LogVal pa = lv_nsf(-b), pb = lv_nsf(-a);  // Phi(b) = Phibar(-b), Phi(a) = Phibar(-a)
    const double vb = value(pa, S), va = value(pb, S);
    v = vb - va;
    err += va * rel_err(pb.e, S) + vb * rel_err(pa.e, S);
  } else {
    const double e = std::exp(S);
    v = e * (1.0 - nsf(b) - nsf(-a));
    err += e * 4.0 * eps * (1.0 + std::fabs(S));
  }
  return v;
}

namespace detail {
// Gauss-Legendre half-rules (nodes in (0, 1), used as 1 -+ x) of Genz's code.
inline constexpr double w6[3] = {0.1713244923791705, 0.3607615730481384, 0.4679139345726904};
inline constexpr double x6[3] = {0.9324695142031522, 0.6612093864662647, 0.2386191860831970};
inline constexpr double w12[6] = {.04717533638651177, 0.1069393259953183, 0.1600783285433464,
                                  0.2031674267230659, 0.2334925365383547, 0.2491470458134029};
inline constexpr double x12[6] = {0.9815606342467191, 0.9041172563704750, 0.7699026741943050,
                                  0.5873179542866171, 0.3678314989981802, 0.1252334085114692};
inline constexpr double w20[10] = {.01761400713915212, .04060142980038694, .06267204833410906,
                                   .08327674157670475, 0.1019301198172404, 0.1181945319615184,
                                   0.1316886384491766, 0.1420961093183821, 0.1491729864726037,
                                   0.1527533871307259};
inline constexpr double x20[10] = {0.9931285991850949, 0.9639719272779138, 0.9122344282513259,
                                   0.8391169718222188, 0.7463319064601508, 0.6360536807265150,
                                   0.5108670019508271, 0.3737060887154196, 0.2277858511416451,
                                   0.07652652113349733};
}  // namespace detail


namespace detail {
// Genz's sum for |r| != 0 with the half-rule (w, x, n), without the cut-offs, every
// exponential taken with the tilt S; adds the rounding estimate to err.
inline double orthant_rule(double h, double k, double r, double omr, double opr, double S,
                           const double* w, const double* x, int n, double& err) {
  using namespace special;
  const double tp = 2.0 * pi;
  double hk = h * k;
  if (std::fabs(r) < 0.925) {
    // The nodes sin(asin(r) (1 -+ x_i) / 2) depend on |r| and the rule only (odd in r):
    // kept per thread, since a closed form evaluates several orthants at r = +-c.
    struct Nodes {
      double ar = -1.0;
      const double* x = nullptr;
      double asr = 0.0, sn[20] = {}, inv[20] = {};
    };
    thread_local Nodes nodes;
    const double ar = std::fabs(r);
    if (nodes.ar != ar || nodes.x != x) {
      nodes.ar = ar;
      nodes.x = x;
      nodes.asr = 0.5 * std::asin(ar);
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < 2; ++j) {
          const double sn = std::sin(nodes.asr * (1.0 + (2 * j - 1) * x[i]));
          nodes.sn[2 * i + j] = sn;
          nodes.inv[2 * i + j] = 1.0 / ((1.0 - sn) * (1.0 + sn));
        }
    }
    const double hs = 0.5 * (h * h + k * k), asr = r < 0.0 ? -nodes.asr : nodes.asr;
    const double hkr = r < 0.0 ? -hk : hk;  // sn(-r) = -sn(r)
    double sum = 0.0, mag = 0.0;
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < 2; ++j) {
        const double ex = (nodes.sn[2 * i + j] * hkr - hs) * nodes.inv[2 * i + j];
        const double t = w[i] * exp_or_zero(ex + S);
        sum += t;
        mag += t * rel_err(ex, S);
      }
    }
    const LogVal p = mul(lv_nsf(h), lv_nsf(k));
    const double pp = value(p, S);
    const double f = std::fabs(asr) / tp;
    err += f * mag + pp * rel_err(p.e, S);
    return sum * asr / tp + pp;
  }
  // |r| >= 0.925
  if (r < 0.0) {
    k = -k;
    hk = -hk;
  }
  const double as = omr * opr, a = std::sqrt(as), bs = (h - k) * (h - k);
  const double c = (4.0 - hk) / 8.0, d = (12.0 - hk) / 80.0;
  double bvn = 0.0, mag = 0.0;
  {
    const double ex = -0.5 * (bs / as + hk);
    const double t = a * exp_or_zero(ex + S);
    const double f = 1.0 - c * (bs - as) * (1.0 - d * bs) / 3.0 + c * d * as * as;
    bvn = t * f;
    mag += std::fabs(bvn) * rel_err(ex, S);
  }
  {
    const double b = std::sqrt(bs);
    if (b > 0.0) {
      const LogVal p = lv_nsf(b / a);
      const double ex = p.e - 0.5 * hk;
      const double t = std::sqrt(tp) * p.m * exp_or_zero(ex + S) * b *
                       (1.0 - c * bs * (1.0 - d * bs) / 3.0);
      bvn -= t;
      mag += std::fabs(t) * rel_err(ex, S);
    }
  }
  const double ah = 0.5 * a;
  double sum = 0.0, smag = 0.0;
  for (int i = 0; i < n; ++i) {
    for (int sgn = -1; sgn <= 1; sgn += 2) {
      const double xs = (ah * (1.0 + sgn * x[i])) * (ah * (1.0 + sgn * x[i]));
      const double asr = -0.5 * (bs / xs + hk);
      const double sp = 1.0 + c * xs * (1.0 + 5.0 * d * xs);
      const double rs = std::sqrt(1.0 - xs);
      const double e2 = -0.5 * hk * xs / ((1.0 + rs) * (1.0 + rs));
      const double t1 = exp_or_zero(asr + S) * sp, t2 = exp_or_zero(asr + e2 + S) / rs;
      sum += w[i] * (t1 - t2);
      smag += w[i] * (std::fabs(t1) * rel_err(asr, S) + t2 * rel_err(asr + e2, S));
    }
  }
  bvn = (ah * sum - bvn) / tp;
  err += (ah * smag + mag) / tp;
  if (r > 0.0) {
    const LogVal p = lv_nsf(std::fmax(h, k));
    const double v = value(p, S);
    err += v * rel_err(p.e, S);
    return bvn + v;
  }
  if (h >= k) return -bvn;
  // L = P(h < X < k) (in the flipped k): Phi(k) - Phi(h), as the difference of
  // the smaller tails.
  const double L = tail_difference(h, k, S, err);
  return L - bvn;
}
}  // namespace detail

namespace detail {
// e^S P(X > h, Y > k) for max(h, k) > 0 as the one-dimensional integral over the
// variable with the larger threshold, x = h + w: e^S npdf(h + w) Phibar((k - r x)/s)
// taken in one exponential, by the adaptive Gauss-Kronrod rule of quadrature.hpp on a
// mesh graded at w = 0 (scale 1/h) and at the conditional step z = 0 (scale s/|r|).
// Relative accuracy in the far tails, where Genz's rules have none; 10-30
// microseconds, used only there (and only where it agrees with Genz's value within
// the two error estimates). False if the quadrature did not converge.
inline bool orthant_tail_quadrature(double h, double k, double r, double omr, double opr,
                                    double S, double& v, double& err) {
  using namespace special;
  if (k > h) std::swap(h, k);
  if (!(h > 0.0)) return false;
  const double s = std::sqrt(omr * opr);
  const double kmrh = r > 0.0 ? (k - h) + omr * h : (k + h) - opr * h;  // k - r h
  const double E0 = S - 0.5 * h * h;
  const double wk = r != 0.0 ? kmrh / r : -1.0;  // z = 0 there
  quad::Mesh mesh;
  mesh.lo = 0.0;
  mesh.hi = std::fmax(0.0, r > 0.0 ? wk : 0.0) + 12.0;
  for (double g = 0.125; g < 64.0; g *= 2.0) mesh.add(g / h);
  const double wstep = r != 0.0 ? s / std::fabs(r) : inf;
  // The step's own grading, except where the density's already resolves it: a step
  // at or left of w = 0 (wk <= ws / 2) of width ws within a factor 2 of the density's
  // scale 1 / h, which the points g / h grade by factors of 2 from ws / 16 - ws / 4 on.
  // (Such are the orthants of elu's and selu's E[phi' phi'] next to |c| = 1, k = r h
  // within rounding: the step at w = 0, ws h = 1-2. Both gradings made ~17 pieces, 19.5
  // with the rule's splits, the density's alone 11 and 15. The values moved by at most
  // 6e-15 relative at the 248 calls of their random pairs; against a 40-digit quadrature
  // every one within its error estimate, the largest error 4.1e-13 relative, as before.)
  const bool graded = wk <= 0.5 * wstep && wstep * h >= 0.5 && wstep * h <= 2.0;
  if (r != 0.0 && !graded) {
    // the step of Phibar(z), width s / |r| (1e-6 next to |r| = 1), also where it sits
    // at or just left of w = 0
    const double ws = wstep;
    if (wk > 0.0 && wk < mesh.hi) mesh.add(wk);
    for (double g = 0.25 * ws; g < 4.0; g *= 2.0) {
      if (wk - g > 0.0 && wk - g < mesh.hi) mesh.add(wk - g);
      if (wk + g > 0.0 && wk + g < mesh.hi) mesh.add(wk + g);
    }
  }
  mesh.finish();
  // e^E Phibar(z): directly where neither factor leaves the double range (z < 37,
  // |E| < 700); for z >= 0 one exponential fewer than the Mills ratio's form, which
  // carries Phibar's exponent -z^2 / 2 into e^E (the same rounding: eps |E| either way)
  auto tilted_nsf = [](double E, double z) {
    if (z < 37.0 && E > -700.0 && E < 700.0) return nsf(z) * std::exp(E);
    return value(lv_nsf(z), E);
  };
  auto f = [&](double w, double* y) {
    y[0] = inv_sqrt_2pi * tilted_nsf(E0 - h * w - 0.5 * w * w, (kmrh - r * w) / s);
  };
  // Each value's exponent, -h w - w^2 / 2 + log Phibar(z), is rounded to eps of its
  // size: noise that the rule's error estimate cannot go below where that size is
  // large (h ~ 300, 1 - r ~ 0.03 in an ELU kernel at q ~ 1e5: a 1e-14 request took
  // ~600 pieces a call, a third of them ending short at 1024 pieces). The rule is
  // asked for 1e-14 or 4 eps M, whichever is larger, M the size of the exponent where
  // the integrand holds its mass (w <= 40 / h, and up to the step where it is inside);
  // its estimate is in err either way.
  const double wm = std::fmin(mesh.hi, 40.0 / h + std::fmax(0.0, r > 0.0 ? wk : 0.0));
  const double zt = (std::fabs(kmrh) + std::fabs(r) * wm) / s;
  const double M = h * wm + 0.5 * wm * wm + 0.5 * zt * zt;
  const double rtol = std::fmax(1e-14, 4.0 * eps * M);
  // First Gauss-Laguerre in x = h w (the density's e^(-h w) its weight; 32 nodes, their
  // error estimated by 24), where the step of Phibar is resolved on that scale: at
  // least 2 / h wide, or beyond the mass (e^(-h w) below e^-60 there). Accepted where
  // the two rules agree to rtol; else the adaptive rule below. ~1.5 us against 4-8 us.
  // (Steps 1 / h to 2 / h wide: the two rules disagreed at each of the 114 such calls
  // of elu's and selu's E[phi phi] and E[phi' phi'] at 4096 random pairs each, and
  // agreed at 408 of the 410 wider ones.)
  if (h >= 3.0 && (wstep * h >= 2.0 || !(wk * h < 60.0))) {
    auto rule = [&](const double* xs, const double* ws, int n) {
      double sum = 0.0;
      for (int i = 0; i < n; ++i) {
        const double w = xs[i] / h;
        sum += ws[i] * tilted_nsf(E0 - 0.5 * w * w, (kmrh - r * w) / s);
      }
      return inv_sqrt_2pi * sum / h;
    };
    const double I = rule(quad::lag32_x, quad::lag32_w, 32);
    const double I_lo = rule(quad::lag24_x, quad::lag24_w, 24);
    if (std::isfinite(I) && I > 0.0 && std::fabs(I - I_lo) <= rtol * I) {
      v = I;
      err = std::fabs(I - I_lo) + v * rel_err(E0, std::fabs(S) + h * h);
      return true;
    }
  }
  double e = 0.0;
  if (!quad::integrate<1, 4>(f, mesh, rtol, 1e-300, &v, &e)) return false;
  err = e + v * rel_err(E0, std::fabs(S) + h * h);
  return std::isfinite(v) && std::isfinite(err);
}
}  // namespace detail

// The far tails' rule values of one orthant (below), kept by a caller that asks for
// the same orthant twice, without the tail quadrature and then with it (the closed
// forms' two passes, piecewise_closed_forms.hpp): known, v20 and est hold the 20-point
// rule's value and its error estimate once computed (the second call reads them
// instead of the two rules, ~1 us an orthant, the same numbers); refine, whether
// est exceeded the budget there, that is whether a call with the tail quadrature
// takes it (else its value is the first call's, bit for bit).
struct GenzTail {
  bool known, refine;
  double v20, est;
};

// e^S P(X > h, Y > k), corr(X, Y) = r, omr = 1 - r and opr = 1 + r given exactly
// (both > 0). Adds an estimate of its absolute error to err: rounding, plus
// Genz's quadrature error, 3e-16 e^S absolute (the largest seen against mpmath over
// 400 random (h, k, r), |h|, |k| <= 6, 1 - |r| down to 1e-12, was 1.25e-16), and
// 3e-16 of the largest the probability can be, min(Phibar(h), Phibar(k)), outside
// the tails. In the tails (max(h, k) > 1.5) the integrands become peaked and the
// rules lose relative accuracy (1e-6 at h = k = 15, r = 0.5); where the absolute
// bound exceeds budget, the error is measured there as the difference between the
// 12- and 20-point rules (the 20-point value is returned), and where that still
// exceeds it, with tail_quadrature, by orthant_tail_quadrature. tail (if given; its
// known false on a first call): the far tails' rule values, kept and read (GenzTail).
inline double orthant(double h, double k, double r, double omr, double opr, double S, double& err,
                      double budget = 0.0, bool tail_quadrature = true, GenzTail* tail = nullptr) {
  using namespace special;
  if (h == inf || k == inf) return 0.0;
  if (h == -inf && k == -inf) {
    const double e = std::exp(S);
    err += e * rel_err(0.0, S);
    return e;
  }
  if (h == -inf || k == -inf) {
    const LogVal p = lv_nsf(h == -inf ? k : h);
    const double v = value(p, S);
    err += v * rel_err(p.e, S);
    return v;
  }
  if (r == 0.0) {
    const LogVal p = mul(lv_nsf(h), lv_nsf(k));
    const double v = value(p, S);
    err += v * rel_err(p.e, S);
    return v;
  }
  const LogVal pm = lv_nsf(std::fmax(h, k));
  const double pmax = value(pm, S);
  const double ar = std::fabs(r);
  if (std::fmax(h, k) > 1.5 && !(3e-16 * std::exp(S) <= budget)) {
    double v20, est;
    if (tail && tail->known) {
      v20 = tail->v20;
      est = tail->est;
    } else {
      double e20 = 0.0, e12 = 0.0;
      v20 = detail::orthant_rule(h, k, r, omr, opr, S, detail::w20, detail::x20, 10, e20);
      const double v12 =
          detail::orthant_rule(h, k, r, omr, opr, S, detail::w12, detail::x12, 6, e12);
      est = e20 + std::fabs(v20 - v12) + 3e-16 * pmax;
      if (tail) *tail = {true, !(est <= budget), v20, est};
    }
    if (tail_quadrature && !(est <= budget)) {
      // where even that falls short (the far tails, tilted orthants of elu at large
      // q), the one-dimensional quadrature, if its error is smaller
      double vq, eq;
      // (and only if the two agree within their estimates: a step the mesh missed
      // would give a confident 0)
      if (detail::orthant_tail_quadrature(h, k, r, omr, opr, S, vq, eq) && eq < est &&
          std::fabs(vq - v20) <= 2.0 * (est + eq)) {
        err += eq;
        return vq;
      }
    }
    err += est;
    return v20;
  }
  const double* w;
  const double* x;
  int n;
  if (ar < 0.3) {
    w = detail::w6, x = detail::x6, n = 3;
  } else if (ar < 0.75) {
    w = detail::w12, x = detail::x12, n = 6;
  } else {
    w = detail::w20, x = detail::x20, n = 10;
  }
  err += 3e-16 * (std::fmax(h, k) > 1.5 ? std::exp(S) : std::fmin(std::exp(S), 4.0 * pmax));
  return detail::orthant_rule(h, k, r, omr, opr, S, w, x, n, err);
}

// e^S times P, E[X], E[Y], E[XY] over {X > h, Y > k} (h, k may be -inf; a
// threshold -inf is no constraint), corr r = 1 - omr = opr - 1; with absolute error
// estimates (budget: see orthant).
struct OrthantMoments {
  double p, x, y, xy;
  double ep, ex, ey, exy;
};

inline OrthantMoments orthant_moments(double h, double k, double r, double omr, double opr,
                                      double S, double budget = 0.0, bool tail_quadrature = true,
                                      GenzTail* tail = nullptr) {
  using namespace special;
  OrthantMoments m{0, 0, 0, 0, 0, 0, 0, 0};
  if (h == inf || k == inf) return m;
  if (h == -inf && k == -inf) {
    const double e = std::exp(S);
    const double re = rel_err(0.0, S);
    m.p = e;
    m.xy = r * e;
    m.ep = e * re;
    m.exy = std::fabs(r) * e * re;
    return m;
  }
  if (h == -inf || k == -inf) {
    // one-sided: t the threshold of the constrained variable (X if k = -inf)
    const double t = h == -inf ? k : h;
    const LogVal P = lv_nsf(t), D = lv_pdf(t);
    const double p = value(P, S), d = value(D, S);
    const double rp = rel_err(P.e, S), rd = rel_err(D.e, S);
    m.p = p;
    m.ep = p * rp;
    const double own = d, other = r * d;  // E[T], E[other variable] = r E[T]
    const double sq = r * (t * d + p);    // E[T U] = r E[T^2]
    m.exy = std::fabs(r) * (std::fabs(t * d) * rd + p * rp) + eps * std::fabs(sq);
    m.xy = sq;
    if (h == -inf) {
      m.y = own, m.x = other;
      m.ey = d * rd, m.ex = std::fabs(other) * rd;
    } else {
      m.x = own, m.y = other;
      m.ex = d * rd, m.ey = std::fabs(other) * rd;
    }
    return m;
  }
  const double s = std::sqrt(omr * opr);
  double ep = 0.0;
  m.p = orthant(h, k, r, omr, opr, S, ep, budget, tail_quadrature, tail);
  m.ep = ep;
  // k - r h and h - r k without cancellation next to |r| = 1
  const double zk = (r > 0.0 ? (k - h) + omr * h : (k + h) - opr * h) / s;
  const double zh = (r > 0.0 ? (h - k) + omr * k : (h + k) - opr * k) / s;
  const LogVal LA = mul(lv_pdf(h), lv_nsf(zk)), LB = mul(lv_pdf(k), lv_nsf(zh));
  const double A = value(LA, S), B = value(LB, S);
  const double rA = rel_err(LA.e, S), rB = rel_err(LB.e, S);
  const double num = r > 0.0 ? (h - k) * (h - k) + 2.0 * omr * h * k
                             : (h + k) * (h + k) - 2.0 * opr * h * k;
  const double Qe = -0.5 * std::fmax(num, 0.0) / (omr * opr);
  const double C = s / (2.0 * pi) * std::exp(Qe + S);
  const double rC = rel_err(Qe, S);
  m.x = A + r * B;
  m.y = B + r * A;
  m.ex = A * rA + std::fabs(r) * B * rB;
  m.ey = B * rB + std::fabs(r) * A * rA;
  const double thA = r * h * A, tkB = r * k * B;
  m.xy = r * m.p + thA + tkB + C;
  m.exy = std::fabs(r) * ep + std::fabs(thA) * rA + std::fabs(tkB) * rB + C * rC +
          eps * (std::fabs(r * m.p) + std::fabs(thA) + std::fabs(tkB) + C);
  return m;
}

}  // namespace bvn
}  // namespace sigprop
