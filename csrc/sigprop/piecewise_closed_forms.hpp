// Closed forms of the two-point expectations E[f(u) f(v)], f = phi (d = 0) or
// phi' (d = 1), u = sqrt(q1) Z1, v = sqrt(q2)(c Z1 + sqrt(1 - c^2) Z2), for the
// activations that are piecewise linear or piecewise linear / exponential:
// hard_tanh, shifted_relu, soft_threshold, linear_floor, elu, selu.
//
// Method. In the standardised variables X = u / sqrt(q1), Y = v / sqrt(q2)
// (standard normal, correlation c), f(sqrt(q) x) is written as a short sum of
// terms (a0 + a1 x + g e^{lam x}) 1{x in H}, H a half-line or the whole line
// (e.g. clip(sqrt(q) x, -a, a) = sqrt(q) x - (sqrt(q) x + a) 1{x < -t}
// - (sqrt(q) x - a) 1{x > t}, t = a / sqrt(q)). The expectation is then a sum of
// E[(A0 + A1 X)(B0 + B1 Y); X in H, Y in K] over pairs of terms: truncated
// moments of the bivariate normal over an orthant (bivariate_normal.hpp: Genz's
// BVNU orthant probability and Rosenbaum's moments). Exponential parts are
// removed by exponential tilting (Cameron-Martin):
//   E[e^{lam X + mu Y} g(X, Y); R] = e^{V/2} E[g(X' + mx, Y' + my); R],
//   V = lam^2 + 2 c lam mu + mu^2, mx = lam + c mu, my = c lam + mu,
// (X', Y') standard with correlation c; e^{V/2} (e^{5000} at q = 1e4) is carried
// into the exponentials of the orthant moments rather than multiplied out.
//
// Every evaluation carries an estimate of its rounding error (the magnitudes of
// the summed terms times their rounding, bivariate_normal.hpp). The closed form
// is used only where that estimate is below tol times the Cauchy-Schwarz scale
// sqrt(E f(u)^2 E f(v)^2) (and, where the caller asks for it, below tol times
// the result: the one-signed cases whose value can be 1e-70 of the scale,
// shifted_relu at small q); elsewhere the caller falls back to the series or the
// nested quadrature. Cancellation makes the estimate fail in a few regimes:
// saturating kinds at large q1 q2 (hard_tanh, soft_threshold d = 1, where
// terms of size q cancel to a result of size a^2), elu/selu at small q (the
// exponential and the constant of the negative piece cancel to O(q)), and the
// far tails of shifted_relu / soft_threshold (threshold many sigmas out).
//
// Accuracy reached, relative to the Cauchy-Schwarz scale: within 2.4e-14 of the
// nested quadrature (bivariate_quadrature) at every accepted point of 7000 random
// (q1, q2, c) per kind and derivative (q1, q2 log-uniform in [1e-6, 1e4]; c uniform,
// and 1 -+ c log-uniform down to 1e-12), the largest for selu phi' at q ~ 1e3-1e4
// next to c = 1; within 6.6e-15 of the 30-digit mpmath references of
// tests/data/reference_2d_piecewise.json (tests/test_bivariate_normal.py). Cost:
// 0.5-3 microseconds per evaluation on the fast path (bivariate() in two_point.hpp),
// tens of microseconds where a tail orthant needs the tail quadrature.
// Where they defer (fraction of random points as above, d = 0 / d = 1):
// hard_tanh 1/3 / 1/10 (large q1 q2), shifted_relu 5/6 / 0 with relative accuracy
// asked for phi (its tails, threshold beyond ~2 sigma), elu and selu phi 3/4
// (q < 5e-3, and part of q in [5e-3, 0.1]), the others under 1%.
#pragma once

#include <cmath>
#include <limits>

#include "activation.hpp"
#include "bivariate_normal.hpp"
#include "gauss_laguerre.hpp"
#include "quadrature.hpp"
#include "special.hpp"

namespace sigprop {
namespace piecewise {

// (a0 + a1 x + g e^{lam x}) on {dir (x - x0) > 0}; x0 = -inf (dir = 1): every x.
struct Term {
  int dir;
  double x0;
  double a0, a1, g, lam;
};

// Whether the kind has closed forms here (canonical kinds).
inline bool has_closed_form(Kind k) {
  switch (k) {
    case Kind::hard_tanh:
    case Kind::shifted_relu:
    case Kind::soft_threshold:
    case Kind::linear_floor:
    case Kind::elu:
    case Kind::selu: return true;
    default: return false;
  }
}

// The terms of f(s x), f = phi^(d), s = sqrt(q) > 0; returns their number (<= 3).
inline int terms(const Activation& a, int d, double s, Term* t) {
  using special::inf;
  switch (a.kind) {
    case Kind::hard_tanh: {
      const double al = a.p0, th = al / s;
      if (d == 0) {
        t[0] = {1, -inf, 0.0, s, 0.0, 0.0};
        t[1] = {-1, -th, -al, -s, 0.0, 0.0};
        t[2] = {1, th, al, -s, 0.0, 0.0};
      } else {
        t[0] = {1, -inf, 1.0, 0.0, 0.0, 0.0};
        t[1] = {-1, -th, -1.0, 0.0, 0.0, 0.0};
        t[2] = {1, th, -1.0, 0.0, 0.0, 0.0};
      }
      return 3;
    }
    case Kind::shifted_relu: {
      const double tau = a.p0;
      t[0] = d == 0 ? Term{1, tau / s, -tau, s, 0.0, 0.0} : Term{1, tau / s, 1.0, 0.0, 0.0, 0.0};
      return 1;
    }
    case Kind::soft_threshold: {
      const double tau = a.p0, th = tau / s;
      if (d == 0) {
        t[0] = {-1, -th, tau, s, 0.0, 0.0};
        t[1] = {1, th, -tau, s, 0.0, 0.0};
      } else {
        t[0] = {-1, -th, 1.0, 0.0, 0.0, 0.0};
        t[1] = {1, th, 1.0, 0.0, 0.0, 0.0};
      }
      return 2;
    }
    case Kind::linear_floor: {
      const double al = a.p0, th = al / s;
      if (d == 0) {
        t[0] = {1, -inf, 0.0, s, 0.0, 0.0};
        t[1] = {-1, -th, -al, -s, 0.0, 0.0};
        return 2;
      }
      t[0] = {1, -th, 1.0, 0.0, 0.0, 0.0};
      return 1;
    }
    case Kind::elu:
    case Kind::selu: {
      const auto [la, al] = elu_constants(a);
      if (d == 0) {
        t[0] = {1, -inf, 0.0, la * s, 0.0, 0.0};
        t[1] = {-1, 0.0, -la * al, -la * s, la * al, s};
      } else {
        t[0] = {1, 0.0, la, 0.0, 0.0, 0.0};
        t[1] = {-1, 0.0, 0.0, 0.0, la * al, s};
      }
      return 2;
    }
    default: return 0;
  }
}

// A lower bound of E[f(sqrt(q) Z)^2] (exact but for elu / selu).
inline double mean_square_lower(const Activation& a, int d, double q) {
  using namespace special;
  const double s = std::sqrt(q);
  switch (a.kind) {
    case Kind::hard_tanh: {
      const double th = a.p0 / s;
      return d == 0 ? q * central_m2(th) + 2.0 * a.p0 * a.p0 * nsf(th) : std::erf(th * inv_sqrt2);
    }
    case Kind::shifted_relu: {
      const Tail T = upper_tail(a.p0 / s);
      return d == 0 ? q * T.p2 : T.p0;
    }
    case Kind::soft_threshold: {
      const Tail T = upper_tail(a.p0 / s);
      return d == 0 ? 2.0 * q * T.p2 : 2.0 * T.p0;
    }
    case Kind::linear_floor: {
      const double th = a.p0 / s;
      const Tail T = upper_tail(th);
      return d == 0 ? q * (1.0 - th * npdf(th) - T.p0) + a.p0 * a.p0 * T.p0 : ncdf(th);
    }
    case Kind::elu:
    case Kind::selu: {
      const double la = elu_constants(a).lam;
      return d == 0 ? 0.5 * la * la * q : 0.5 * la * la;
    }
    default: return 0.0;
  }
}

// One pair of sum_terms with an exponential (tilted by mx, my; e^S) whose region
// bounds one variable only: in the flipped variables (X~ = T.dir X', Y~ = U.dir Y',
// corr r), with the bound one C~ > t and the free one F~ = r C~ + sqrt(1 - r^2) W,
//   E[c(C~) f(F~); C~ > t] = Ct Ft I0 + (Ct fs + cs Ft) I1 + cs fs I2,
// Ct = c(t) and Ft = E[f | C~ = t], the two terms at the boundary, cs and fs their
// slopes in D = C~ - t >= 0, I_k = e^S E[(Z - t)_+^k] (upper_tail_over_pdf, the density
// carried as an exponent): no part cancels. The raw moments' form (A0 P + A1 E[X] + ...)
// cancels where the tilt moves the boundary many standard deviations out: for elu's
// and selu's phi at a variance q of 1e3-1e4, the linear term of one input times the
// exponential of the other, A0 P against A1 E[X] to 1e-4 of either, each with the
// rounding of its exponent (eps S, S ~ q / 2): an error estimate of ~4e-8 of the pair,
// 6e-14 of the Cauchy-Schwarz scale, that sent those points (60-90 us each) to the
// nested quadrature. Here the boundary's shifts are summed before they multiply
// (elu: mx + r t = c mu - c mu = 0 exactly).
inline double one_sided_tilted(const Term& T, const Term& U, int pi, int pj, double mx, double my,
                               double h, double k, double r, double S, double& err) {
  const double eps = bvn::eps;
  const bool y_bound = h == -special::inf;
  const Term& C = y_bound ? U : T;
  const Term& F = y_bound ? T : U;
  const bool pc = y_bound ? pj : pi, pf = y_bound ? pi : pj;
  const double mc = y_bound ? my : mx, mf = y_bound ? mx : my, t = y_bound ? k : h;
  const double rt = r * t;
  const double Ct = pc ? C.g : C.a0 + C.a1 * (mc + C.dir * t);
  const double Ft = pf ? F.g : F.a0 + F.a1 * (mf + F.dir * rt);
  const double cs = pc ? 0.0 : C.a1 * C.dir, fs = pf ? 0.0 : F.a1 * F.dir * r;
  const double eC =
      pc ? 0.0 : 2.0 * eps * (std::fabs(C.a0) + std::fabs(C.a1) * (std::fabs(mc) + std::fabs(t)));
  const double eF =
      pf ? 0.0 : 2.0 * eps * (std::fabs(F.a0) + std::fabs(F.a1) * (std::fabs(mf) + std::fabs(rt)));
  double I[3], rel;
  if (t > 0.0) {
    const bvn::LogVal pdf = bvn::lv_pdf(t);
    const special::Tail m = special::upper_tail_over_pdf(t);
    const double pk[3] = {m.p0, m.p1, m.p2};
    for (int n = 0; n < 3; ++n) I[n] = bvn::value({pdf.m * pk[n], pdf.e}, S);
    rel = bvn::rel_err(pdf.e, S);
  } else {
    const special::Tail m = special::upper_tail(t);
    const double pk[3] = {m.p0, m.p1, m.p2};
    for (int n = 0; n < 3; ++n) I[n] = bvn::value({pk[n], 0.0}, S);
    rel = bvn::rel_err(0.0, S);
  }
  const double k0 = Ct * Ft, k1 = Ct * fs + cs * Ft, k2 = cs * fs;
  const double aC = std::fabs(Ct), aF = std::fabs(Ft), acs = std::fabs(cs), afs = std::fabs(fs);
  err += (aC * eF + eC * aF) * I[0] + (eC * afs + acs * eF) * I[1] +
         (aC * aF * I[0] + (aC * afs + acs * aF) * I[1] + acs * afs * I[2]) * (rel + 4.0 * eps);
  return k0 * I[0] + k1 * I[1] + k2 * I[2];
}

// The orthants of one sum_terms call (below), which a caller may carry into a second
// call with the same arguments but the tail quadrature: elu's and selu's phi and phi'
// next to |c| = 1 at large q, whose orthants lie in the far tails, first try the fast path
// (~3 us, Genz's two rules an orthant), where its estimate falls short take the tail
// quadrature, and that pass recomputed each orthant's rules before it. With the memo
// it reads them (bvn::GenzTail): the same numbers, the rules once.
struct OrthantMemo {
  struct Entry {
    double h, k, r, S;
    bvn::OrthantMoments m;
    bvn::GenzTail tail;
    bool quad;  // computed with the tail quadrature
  };
  Entry e[12];
  int n = 0;
};

// Sum of E[term_i(X) term_j(Y)] over all pairs, with an error estimate. omc = 1 - c,
// opc = 1 + c (exact); atol: the absolute error the caller can accept (0: estimate
// as sharply as possible), which spares the second quadrature rule of tail orthants
// whose plain bound is already small enough. Orthants that recur (hard_tanh's
// {X < -t1, Y < -t2} is {X > t1, Y > t2} after the flips) are computed once.
// carried (if given): the orthants of a previous call with the same arguments (empty
// at the first), read and extended (OrthantMemo).
inline double sum_terms(const Term* t1, int n1, const Term* t2, int n2, double c, double omc,
                        double opc, double& err, double atol = 0.0, bool tail_quadrature = true,
                        OrthantMemo* carried = nullptr) {
  using special::inf;
  const double eps = bvn::eps;
  double total = 0.0;
  OrthantMemo local;
  OrthantMemo& memo = carried ? *carried : local;
  for (int i = 0; i < n1; ++i) {
    const Term& T = t1[i];
    for (int j = 0; j < n2; ++j) {
      const Term& U = t2[j];
      for (int pi = 0; pi < 2; ++pi) {
        if (pi == 0 ? (T.a0 == 0.0 && T.a1 == 0.0) : T.g == 0.0) continue;
        for (int pj = 0; pj < 2; ++pj) {
          if (pj == 0 ? (U.a0 == 0.0 && U.a1 == 0.0) : U.g == 0.0) continue;
          const double lam = pi ? T.lam : 0.0, mu = pj ? U.lam : 0.0;
          double mx = 0.0, my = 0.0, S = 0.0;
          if (lam != 0.0 || mu != 0.0) {
            mx = lam + c * mu;
            my = c * lam + mu;
            // V / 2 without cancellation (lam, mu >= 0)
            S = c >= 0.0 ? 0.5 * (lam * lam + mu * mu + 2.0 * c * lam * mu)
                         : 0.5 * ((lam - mu) * (lam - mu) + 2.0 * opc * lam * mu);
          }
          const double A0 = pi ? T.g : T.a0 + T.a1 * mx, A1 = pi ? 0.0 : T.a1;
          const double B0 = pj ? U.g : U.a0 + U.a1 * my, B1 = pj ? 0.0 : U.a1;
          const double A0m = pi ? std::fabs(T.g) : std::fabs(T.a0) + std::fabs(T.a1 * mx);
          const double B0m = pj ? std::fabs(U.g) : std::fabs(U.a0) + std::fabs(U.a1 * my);
          const double h = T.x0 == -inf ? -inf : T.dir * (T.x0 - mx);
          const double k = U.x0 == -inf ? -inf : U.dir * (U.x0 - my);
          const int sg = T.dir * U.dir;
          const double r = sg * c, omr = sg > 0 ? omc : opc, opr = sg > 0 ? opc : omc;
          if ((lam != 0.0 || mu != 0.0) && (h == -inf) != (k == -inf)) {
            total += one_sided_tilted(T, U, pi, pj, mx, my, h, k, r, S, err);
            continue;
          }
          const double cmax = std::fmax(std::fmax(A0m * B0m, std::fabs(A1) * B0m),
                                        std::fmax(A0m * std::fabs(B1), std::fabs(A1 * B1)));
          int im = 0;
          while (im < memo.n && !(memo.e[im].h == h && memo.e[im].k == k && memo.e[im].r == r &&
                                  memo.e[im].S == S))
            ++im;
          OrthantMemo::Entry& me = memo.e[im];
          const double budget = atol / (64.0 * (cmax + 1e-300));
          if (im == memo.n) {
            me.h = h, me.k = k, me.r = r, me.S = S;
            me.tail = {false, false, 0.0, 0.0};
            me.quad = tail_quadrature;
            me.m = bvn::orthant_moments(h, k, r, omr, opr, S, budget, tail_quadrature, &me.tail);
            if (memo.n < 11) ++memo.n;
          } else if (tail_quadrature && !me.quad) {
            // (a carried orthant of a pass without the tail quadrature: taken again only
            // where that quadrature applies, its rules read from the first pass)
            me.quad = true;
            if (me.tail.refine)
              me.m = bvn::orthant_moments(h, k, r, omr, opr, S, budget, true, &me.tail);
          }
          const bvn::OrthantMoments& M = me.m;
          const double Ex = T.dir * M.x, Ey = U.dir * M.y, Exy = sg * M.xy;
          const double v0 = A0 * B0 * M.p, v1 = A1 * B0 * Ex, v2 = A0 * B1 * Ey,
                       v3 = A1 * B1 * Exy;
          total += v0 + v1 + v2 + v3;
          const double aA1 = std::fabs(A1), aB1 = std::fabs(B1);
          err += A0m * B0m * M.ep + aA1 * B0m * M.ex + A0m * aB1 * M.ey + aA1 * aB1 * M.exy +
                 4.0 * eps *
                     (A0m * B0m * std::fabs(M.p) + aA1 * B0m * std::fabs(Ex) +
                      A0m * aB1 * std::fabs(Ey) + aA1 * aB1 * std::fabs(Exy));
        }
      }
    }
  }
  return total;
}

// E[f(u) f(v)] for q1, q2 > 0 (finite) and |c| < 1 in closed form, where the error
// estimate is below tol sqrt(E f(u)^2 E f(v)^2) and, with relative, below tol
// |result|; false otherwise (out untouched) or for kinds without a closed form.
// Without tail_quadrature only the fast path (~1-3 microseconds): orthants deep in
// the tails (elu / selu at large q, far thresholds) that need the one-dimensional
// tail quadrature (tens of microseconds) make it return false instead. memo (if
// given): the orthants of a previous call with the same arguments, or an empty one
// (OrthantMemo: a call without tail_quadrature, then one with it, computes each rule
// once).
inline bool bivariate(const Activation& a, int d, double q1, double q2, double c, double tol,
                      bool relative, double& out, bool tail_quadrature = true,
                      OrthantMemo* memo = nullptr) {
  if (!has_closed_form(a.kind) || !(std::fabs(c) < 1.0) || !(q1 > 0.0) || !(q2 > 0.0) ||
      !std::isfinite(q1) || !std::isfinite(q2))
    return false;
  // elu / selu phi below q = 5e-3 the estimate (nearly) never passes (the exponential
  // and the constant of the negative piece cancel to O(q)): do not spend the evaluation.
  if (d == 0 && (a.kind == Kind::elu || a.kind == Kind::selu) && std::fmin(q1, q2) < 5e-3)
    return false;
  Term t1[3], t2[3];
  const int n1 = terms(a, d, std::sqrt(q1), t1), n2 = terms(a, d, std::sqrt(q2), t2);
  const double scale =
      std::sqrt(mean_square_lower(a, d, q1)) * std::sqrt(mean_square_lower(a, d, q2));
  double err = 0.0;
  const double v = sum_terms(t1, n1, t2, n2, c, 1.0 - c, 1.0 + c, err, relative ? 0.0 : tol * scale,
                             tail_quadrature, memo);
  if (!std::isfinite(v) || !std::isfinite(err)) return false;
  if (!(err <= tol * scale)) return false;
  if (relative && !(v != 0.0 && err <= tol * std::fabs(v))) return false;
  out = v;
  return true;
}

// Orthant integrals of the bivariate normal density phi2(h, k, t) (standard margins,
// correlation t) by Price's theorem, for thresholds h, k > 0, to relative accuracy
// however far out they lie. d/dt E[f(X) g(Y)] = E[f'(X) g'(Y)] and
// d/dt P(X > h, Y > k) = phi2(h, k, t), with both expectations vanishing at t = -1
// (X > h and -X > k exclude each other), give
//   L(c) = P(X > h, Y > k)         = int_{-1}^{c} phi2(h, k, t) dt,
//   P(c) = E[(X - h)_+ (Y - k)_+]  = int_{-1}^{c} (c - t) phi2(h, k, t) dt.
// The integrands are >= 0: no cancellation. phi2 = exp(-Q) / (2 pi sqrt(1 - t^2)),
// Q = (h^2 - 2 t h k + k^2) / (2 (1 - t^2)), is largest at t* = min(h, k) / max(h, k)
// (where dQ/dt = 0) and at h = k has a 1 / sqrt(1 - t) at t = 1. The substitutions
// t = 1 - s^2 on [0, 1) and t = -1 + s^2 on (-1, 0] make it smooth and keep 1 -+ t
// exact (no 2 - s^2 cancellation next to t = -+1):
//   phi2 dt = exp(-Q) / (pi sqrt(2 - s^2)) ds,
//   Q = (h -+ k)^2 / (2 s^2 (2 - s^2)) +- h k / (2 - s^2),
// and c - t = s^2 - (1 - c) or (1 + c) - s^2, factored so that it keeps its relative
// accuracy next to t = c. Adaptive Gauss-Kronrod on a mesh graded, on the local scale
// of Q, from both ends and around t*.
struct OrthantPrice {
  double h, k;

  // int_{ta}^{tb} (alpha (c - t) + beta) phi2(h, k, t) dt for -1 <= ta < tb <= c,
  // e = 1 - c and p = 1 + c given exactly; false if the quadrature did not converge.
  bool integral(double e, double p, double ta, double tb, double alpha, double beta,
                double& out) const {
    out = 0.0;
    if (ta < 0.0 && tb > 0.0) {
      double lo = 0.0, hi;
      if (!integral(e, p, 0.0, tb, alpha, beta, hi)) return false;
      // On [ta, 0] Q >= Q(0) = (h^2 + k^2) / 2 (Q decreases towards t* > 0) and
      // int dt / sqrt(1 - t^2) <= pi / 2: skip the piece where that bound is negligible.
      const double w = std::fabs(alpha) * (p - ta + 1.0) + std::fabs(beta);
      const double bound = 0.25 * w * std::exp(-0.5 * (h * h + k * k));
      if (!(bound <= 1e-17 * hi) && !integral(e, p, ta, 0.0, alpha, beta, lo)) return false;
      out = lo + hi;
      return true;
    }
    if (!(tb > ta)) return true;
    using namespace special;
    const bool upper = ta >= 0.0;  // t = 1 - s^2 (else t = -1 + s^2)
    const double sg = upper ? 1.0 : -1.0;
    const double dk = upper ? (h - k) * (h - k) : (h + k) * (h + k), hk = sg * h * k;
    const double root = std::sqrt(upper ? e : p);  // the s of t = c
    auto Q = [&](double x) {
      const double v = 2.0 - x * x;
      return dk / (2.0 * x * x * v) + hk / v;
    };
    auto f = [&](double x, double* y) {
      const double v = 2.0 - x * x;
      if (!(x > 0.0)) {
        y[0] = 0.0;
        return;
      }
      // c - t: s^2 - e (upper), p - s^2 (lower)
      const double ct = upper ? (x - root) * (x + root) : (root - x) * (root + x);
      y[0] = (alpha * ct + beta) * std::exp(-Q(x)) / (pi * std::sqrt(v));
    };
    double xa = std::sqrt(upper ? 1.0 - tb : 1.0 + ta), xb = std::sqrt(upper ? 1.0 - ta : 1.0 + tb);
    if (upper && tb == 1.0 - e) xa = root;  // exactly sqrt(e) at t = c
    if (!upper && tb == p - 1.0) xb = root;
    // Q >= dk / (4 x^2) > 900 below x = sqrt(dk) / 60: exp(-Q) underflows there.
    xa = std::fmax(xa, std::sqrt(dk) / 60.0);
    if (!(xa < xb)) return true;
    // Q is monotone on either side of its minimum t* = min(h, k) / max(h, k): the peak of
    // the density on the piece is at x(t*) if inside, else at the end with the smaller Q.
    const double ts = std::fmin(h, k) / std::fmax(h, k);
    const double xs = std::sqrt(upper ? 1.0 - ts : 1.0 + ts);
    const bool inner = xs > xa && xs < xb;
    const double Qa = Q(xa), Qb = Q(xb);
    const double xp = inner ? xs : (Qa <= Qb ? xa : xb);
    const double Qp = inner ? Q(xs) : std::fmin(Qa, Qb);
    // Trim where the density is below e^-45 (4e-20) of its peak (the weight is below 2):
    // bisection on the monotone stretch between the end and the peak.
    auto trim = [&](double x_end, double q_end) {
      if (!(q_end > Qp + 45.0)) return x_end;
      double a = x_end, b = xp;  // Q(a) > Qp + 45 >= Q(b)
      for (int it = 0; it < 60 && std::fabs(b - a) > 1e-12 * std::fabs(xp); ++it) {
        const double m = 0.5 * (a + b);
        (Q(m) > Qp + 45.0 ? a : b) = m;
      }
      return a;
    };
    xa = trim(xa, Qa);
    xb = trim(xb, Qb);
    quad::Mesh mesh;
    mesh.lo = xa;
    mesh.hi = xb;
    // graded around the peak on the scale of Q there: its slope at an end, its
    // curvature at t*
    double w0;
    if (inner) {
      const double dx = 1e-4 * xs;
      const double curv = std::fabs(Q(xs + dx) - 2.0 * Q(xs) + Q(xs - dx)) / (dx * dx);
      w0 = 0.5 / std::fmax(1.0, std::sqrt(curv));
      mesh.add(xs);
    } else {
      const double dx = 1e-7 * std::fmax(xp, 1e-3);
      const double x1 = xp == xa ? xp + dx : xp - dx;
      w0 = 0.5 / std::fmax(1.0, std::fabs(Q(x1) - Qp) / dx);
    }
    for (double w = w0; w < xb - xa; w *= 4.0) {
      if (mesh.inside(xp + w)) mesh.add(xp + w);
      if (mesh.inside(xp - w)) mesh.add(xp - w);
    }
    mesh.finish();
    double v, err;
    if (!quad::integrate<1, 5>(f, mesh, 1e-13, 1e-300, &v, &err) || !std::isfinite(v))
      return false;
    out = v;
    return true;
  }
  // L(c) and P(c) as above.
  bool orthant(double c, double e, double p, double& L) const {
    return integral(e, p, -1.0, c, 0.0, 1.0, L);
  }
  bool ramps(double c, double e, double p, double& P) const {
    return integral(e, p, -1.0, c, 1.0, 0.0, P);
  }
};


// The orthant integrals of OrthantPrice (L(c) = P(X > h, Y > k), P(c) =
// E[(X - h)_+ (Y - k)_+], h, k > 0) over the whole of t in [-1, c] at once, for
// thresholds far out: with w = 1 / (1 + t) the density's exponent is linear in w
// but for a slowly varying part,
//   (h^2 - 2 t h k + k^2) / (2 (1 - t^2)) = kappa w + b / 2 + b / (2 (2 w - 1)),
// kappa = ((h + k) / 2)^2, b = (h - k)^2 / 4, and phi2 dt = exp(-Q) dw /
// (2 pi w sqrt(2 w - 1)). With w = 1 / p + s / kappa (p = 1 + c, e = 1 - c),
// s = u^2 + 2 sqrt(D) u, D = kappa e / (2 p) (so that sqrt(2 w - 1) = sqrt(2 / kappa)
// (u + sqrt(D)) cancels against ds), and u = t / (2 sqrt(D) + 1):
//   L(c) = E0 sqrt(2) / (2 pi sqrt(kappa)) int_0^inf e^(-u^2 - 2 sqrt(D) u) B(u) / w du,
//   P(c) = E0 sqrt(2) p / (2 pi kappa^1.5) int e^(-u^2 - 2 sqrt(D) u) B(u) s / w^2 du,
// E0 = exp(-kappa / p - b / 2), B(u) = exp(-b kappa / (4 (u + sqrt(D))^2)), every
// factor positive (relative accuracy however far out). Where D >= 1 (e kappa >= 2 p:
// nearer c = 1, Price's theorem from c = 1 serves, two_point.hpp) the integrand in t
// is smooth on the rules' scale: Gauss-Laguerre with 32 nodes, within 1e-14 at
// h = k (against 30-digit mpmath, thresholds 2-10, D 1-1e4), its error estimated by
// the 24-node rule (1e-12 at D = 1, 1e-15 from D = 9, where 24 nodes and 16 take
// over unless B(0) < 1 / e; B's variation, where the thresholds are far apart, slows
// both); accepted where that is below rtol of the result, and the result above
// 1e-290. 0.3 us (40-56 exponentials), against 2-7 us for OrthantPrice's adaptive
// quadrature. Where that estimate fails, and from D = 1/4 up to 1, the 64-node rule
// with the 48-node one's estimate (~1.5 us), where B(0) = exp(-b kappa / (4 D)) is
// e^-10 or more (beyond, B's variation defeats it 7 times in 10): at 12 000 random
// (h, k, c), thresholds 2 to 12 standard deviations and up to 2x apart, D log-uniform
// in [0.05, 5], it serves every h = k from D ~ 0.3 and 60-100 % of the others from D =
// 1/2, within 3.5e-14 of the adaptive quadrature. A c-map's pairs at thresholds 2-10
// standard deviations out, c 0.7-0.95, took 5-12 us before (soft_threshold). False where
// D < 1/4 (or below 1 with b kappa > 40 D) or the estimates fail.
inline bool laguerre_orthant(double h, double k, double c, bool ramp, double rtol,
                             double& out) {
  using namespace special;
  if (!(h > 0.0) || !(k > 0.0) || !(std::fabs(c) < 1.0)) return false;
  const double p = 1.0 + c, e = 1.0 - c;
  const double kappa = 0.25 * (h + k) * (h + k), b = 0.25 * (h - k) * (h - k);
  const double D = kappa * e / (2.0 * p);
  // (below D = 1 the 64- and 48-node rules alone, where B(0) >= e^-10)
  const bool wide = b * kappa <= 40.0 * D;
  if (!(D >= 1.0 || (D >= 0.25 && wide)) || !std::isfinite(kappa)) return false;
  const double rD = std::sqrt(D), scale = 1.0 / (2.0 * rD + 1.0), w0 = 1.0 / p;
  auto rule = [&](const double* xs, const double* ws, int n) {
    double sum = 0.0;
    for (int i = 0; i < n; ++i) {
      const double u = xs[i] * scale, ud = u + rD, s = u * (u + 2.0 * rD);
      const double w = w0 + s / kappa;
      const double f = std::exp(xs[i] - s - b * kappa / (4.0 * ud * ud));
      sum += ws[i] * (ramp ? f * s / (w * w) : f / w);
    }
    return sum * scale;
  };
  // (from D = 9 on, where B varies little, 24 nodes are as good and 16 estimate their
  // error)
  const bool far = D >= 9.0 && b * kappa <= 4.0 * D;
  double I = special::nan, I_lo = special::nan;
  if (D >= 1.0) {
    I = far ? rule(quad::lag24_x, quad::lag24_w, 24) : rule(quad::lag32_x, quad::lag32_w, 32);
    I_lo = far ? rule(quad::lag16_x, quad::lag16_w, 16) : rule(quad::lag24_x, quad::lag24_w, 24);
  }
  if (!(std::fabs(I - I_lo) <= rtol * I) && wide) {
    I = rule(quad::lag64_x, quad::lag64_w, 64);
    I_lo = rule(quad::lag48_x, quad::lag48_w, 48);
  }
  if (!(std::fabs(I - I_lo) <= rtol * I)) return false;
  const double pre =
      std::exp(-kappa / p - 0.5 * b) * std::sqrt(2.0) / (2.0 * pi * std::sqrt(kappa));
  out = ramp ? pre * p / kappa * I : pre * I;
  // (not in the subnormal range, where the rounding of exp(-kappa / p) takes over)
  return std::isfinite(out) && out >= 1e-290;
}

// E[f(u) f(v)] of shifted_relu and soft_threshold (threshold tau >= 0) by
// OrthantPrice, where the orthant closed forms lose their accuracy: thresholds many
// standard deviations out (the deep layers of a network whose variance settles near
// sigma_b^2 below tau^2), where the result is 1e-10 to 1e-300 of the products of
// the terms that the closed forms add. With h = tau / sqrt(q1), k = tau / sqrt(q2):
//   shifted_relu: phi: sqrt(q1 q2) P(c);         phi': L(c);
//   soft_threshold: phi: 2 sqrt(q1 q2) (P(c) - P(-c)), for c > 0
//       = 2 sqrt(q1 q2) [int_{-c}^{c} (c - t) phi2 dt + 2 c int_{-1}^{-c} phi2 dt]
//     (odd in c); phi': 2 (L(c) + L(-c)).
// Every integrand is >= 0: within 5e-14 of the result against 30-digit mpmath for
// thresholds below 10 standard deviations (beyond, the conditioning of exp(-h^2 / 2)
// itself, h^2 eps, takes over). Each orthant integral by laguerre_orthant (0.3 us)
// where its estimate holds, else by OrthantPrice's adaptive quadrature, 2-7
// microseconds (relative tolerance 1e-13: at 1e-10 it missed by 1.6e-10 next to
// c = 1 at variances 1e-7 apart, a deep kernel's pairs). False for other kinds, a
// negative threshold, or where the quadrature did not converge.
inline bool threshold_price(const Activation& a, int d, double q1, double q2, double c,
                            double& out) {
  if ((a.kind != Kind::shifted_relu && a.kind != Kind::soft_threshold) || !(a.p0 > 0.0) ||
      !(q1 > 0.0) || !(q2 > 0.0) || !std::isfinite(q1) || !std::isfinite(q2) ||
      !(std::fabs(c) < 1.0))
    return false;
  const double s1 = std::sqrt(q1), s2 = std::sqrt(q2);
  const OrthantPrice op{a.p0 / s1, a.p0 / s2};
  // each orthant integral by laguerre_orthant where it holds, else by the quadrature
  auto orthant = [&](double cc, double& L) {
    return laguerre_orthant(op.h, op.k, cc, false, 1e-13, L) ||
           op.orthant(cc, 1.0 - cc, 1.0 + cc, L);
  };
  auto ramps = [&](double cc, double& P) {
    return laguerre_orthant(op.h, op.k, cc, true, 1e-13, P) ||
           op.ramps(cc, 1.0 - cc, 1.0 + cc, P);
  };
  if (a.kind == Kind::shifted_relu) {
    double v;
    if (d == 1 ? !orthant(c, v) : !ramps(c, v)) return false;
    out = d == 1 ? v : s1 * s2 * v;
    return true;
  }
  // soft_threshold's second orthant (t in [-1, -|c|]), where its density's exponent,
  // at least kappa / (1 - |c|), passes 690: below 1e-300, negligible next to a first
  // one above 1e-270 (laguerre_orthant declines such results)
  const double kappa = 0.25 * (op.h + op.k) * (op.h + op.k);
  auto negligible = [&](double first) {
    return kappa / (1.0 - std::fabs(c)) > 690.0 && first >= 1e-270;
  };
  if (d == 1) {
    double lp, lm;
    const double cm = c > 0.0 ? -c : c, cp = -cm;  // (L is not symmetric in c)
    if (!orthant(cp, lp)) return false;
    if (negligible(lp))
      lm = 0.0;
    else if (!orthant(cm, lm))
      return false;
    out = 2.0 * (lp + lm);
    return true;
  }
  if (c == 0.0) {
    out = 0.0;
    return true;
  }
  // odd in c: P(|c|) - P(-|c|), by laguerre_orthant where the second is below half the
  // first (the difference keeps its relative accuracy); else, for |c|, weight |c| - t
  // on [-|c|, |c|] and 2 |c| on [-1, -|c|]
  const double ac = std::fabs(c), ea = 1.0 - ac, pa = 1.0 + ac;
  double v, Pp, Pm = 0.0;
  bool lag = laguerre_orthant(op.h, op.k, ac, true, 1e-13, Pp);
  if (lag && !negligible(Pp)) lag = laguerre_orthant(op.h, op.k, -ac, true, 1e-13, Pm);
  if (lag && Pm <= 0.5 * Pp) {
    v = Pp - Pm;
  } else {
    double v1, v2;
    if (!op.integral(ea, pa, -ac, ac, 1.0, 0.0, v1) ||
        !op.integral(ea, pa, -1.0, -ac, 0.0, 2.0 * ac, v2))
      return false;
    v = v1 + v2;
  }
  out = (c > 0.0 ? 2.0 : -2.0) * s1 * s2 * v;
  return true;
}

// The state of boundary_layer_sum's sum (below) after order n (first: n = 0; step: n
// >= 1), the same operations whether one sum or eight side by side, a lane each
// (two_point.hpp, near_one_lanes): P = P_n, Pp = P_(n-1), m0 = m_n, m1 = m_(n+1), g
// and amp (the recurrence multiplies m_0's rounding by prod_j 2 b / (2 j + 1) <= (2
// b)^n / n!: that product, and its largest so far), the sum,
// the sum of the terms' magnitudes, the last term's, and how many orders in a row have
// been below the stopping point (small).
struct BoundaryLayerSum {
  double P, Pp, m0, m1, g, amp, sum, abs_sum, last, small;
  static constexpr int orders = 32;
  // a_n = (2 n - 1.5) / n, c_n = (n - 1.5) / n, 1 / n and 1 / (2 n + 3), n <= orders
  struct Coefficients {
    double a[orders + 1], c[orders + 1], n[orders + 1], odd[orders + 1];
  };
  static constexpr Coefficients k = [] {
    Coefficients r{};
    for (int i = 0; i <= orders; ++i) {
      r.a[i] = i > 0 ? (2.0 * i - 1.5) / i : 0.0;
      r.c[i] = i > 0 ? (i - 1.5) / i : 0.0;
      r.n[i] = i > 0 ? 1.0 / i : 0.0;
      r.odd[i] = 1.0 / (2.0 * i + 3.0);
    }
    return r;
  }();
  // order 0 from m_0 (eb = exp(-b), or 1 scaled; b2 = 2 b)
  SIGPROP_ALWAYS_INLINE void first(double eb, double b2, double m0_, bool second, double atol) {
    m0 = m0_;
    m1 = (eb - b2 * m0) / 3.0;
    P = 1.0;
    Pp = 0.0;
    g = b2 / 3.0;
    amp = g > 1.0 ? g : 1.0;
    const double mom = second ? m0 - m1 : m0, mag = second ? m0 + m1 : m0;
    const double term = P * mom, am = std::fabs(P) * mag;
    sum = 0.0 + term;
    abs_sum = 0.0 + am;
    last = std::fabs(term);
    const double lim = 1e-17 * std::fabs(sum);  // (not std::fmax: a call, and spills)
    small = am <= (lim > atol ? lim : atol) ? 1.0 : 0.0;
  }
  // order n >= 1 of the sum whose state is s (x = kappa / 2, h = e / 2, hh = h^2)
  SIGPROP_ALWAYS_INLINE void step(const BoundaryLayerSum& s, int n, double eb, double x, double h,
                                  double hh, double b2, bool second, double atol) {
    const double al = (k.a[n] - x * k.n[n]) * h, be = k.c[n] * hh;
    P = al * s.P - be * s.Pp;
    Pp = s.P;
    m0 = s.m1;
    const double r = k.odd[n], br = b2 * r;
    m1 = eb * r - br * m0;
    g = s.g * br;
    amp = g > s.amp ? g : s.amp;
    const double mom = second ? m0 - m1 : m0, mag = second ? m0 + m1 : m0;
    const double term = P * mom, am = std::fabs(P) * mag;
    sum = s.sum + term;
    abs_sum = s.abs_sum + am;
    last = std::fabs(term);
    const double lim = 1e-17 * std::fabs(sum);
    small = am <= (lim > atol ? lim : atol) ? s.small + 1.0 : 0.0;
  }
};

// The boundary-layer sum of Price's theorem next to c = +-1 (threshold_cross_near_one,
// two_point.hpp; threshold_near_one below): with m_j = int_0^1 y^2j exp(-b / y^2) dy and
// f_n the Taylor coefficients of F(w) / F(0), F(w) = exp(-kappa / (2 - w)) / sqrt(2 - w),
//   S = sum_n f_n e^n (m_n - m_(n+1))   (second: the weight 1 - y^2 of a double
//                                          integral in t, E[(X - K)_+ (Y - k)_+])
//   S = sum_n f_n e^n m_n               (else: a single one, an orthant probability),
// so that int_c^1 (t - c) phi2(K, k; t) dt = e^1.5 F(0) S / pi (second) and
// int_c^1 phi2(K, k; t) dt = sqrt(e) F(0) S / pi, e = 1 - c, b = (K - k)^2 / (4 e),
// kappa = ((K + k) / 2)^2 (and with (K + k, K - k) for the crossings at t in [-1, -c]).
// F / F(0) = exp(-x u / (1 - u)) (1 - u)^-1/2 with u = w / 2, x = kappa / 2: the
// generating function of the Laguerre polynomials L_n^(-1/2)(x), so that f_n = L_n(x) /
// 2^n, by their three-term recurrence (n + 1) L_(n+1) = (2 n + 1/2 - x) L_n - (n - 1/2)
// L_(n-1) (O(n), where the Cauchy products of exp's and the binomial series'
// coefficients took O(n^2) and a division each order: 177 -> 90 ns a call on average
// over random arguments, the same sums within 3 % of S_err); orders taken until two in
// a row are below 1e-17 of the sum (the terms fall as (e kappa / 4)^n / n! and (e /
// 2)^n: for e kappa <= 4, e <= 1/4, at most 32 orders); m_0 = exp(-b) (1 - sqrt(pi b)
// erfcx(sqrt(b))), (2 j + 1) m_j = exp(-b) - 2 b m_(j-1) (by parts). Both recurrences
// with their coefficients apart from the chain: f_n e^n = P_n = alpha_n P_(n-1) - beta_n
// P_(n-2), alpha_n = (a_n - x / n) e / 2, beta_n = c_n e^2 / 4 (a_n = (2 n - 1.5) / n,
// c_n = (n - 1.5) / n), and m_(n+1) = exp(-b) r_n - 2 b r_n m_n (r_n = 1 / (2 n + 3)):
// a product and a difference an order where a product, a difference and a product
// made each chain (~11 % off a call, the same sums to their last bit or two). S_err
// bounds the truncation (twice the last order) and the rounding, the recurrence's
// amplification of m_0's included. False where the sum did not converge. With
// `scaled`, S and S_err are those over exp(-b) (each m_j is exp(-b) times a function
// of b alone), for a caller that folds exp(-b) into an exponential of its own; `atol`,
// the orders stop once two in a row are below it as well (a caller that needs S to
// that absolute error only: their truncation is in S_err).
inline bool boundary_layer_sum(double b, double kappa, double e, bool second, double& S,
                               double& S_err, bool scaled = false, double atol = 0.0) {
  using namespace special;
  const double eps = std::numeric_limits<double>::epsilon();
  const double t = std::sqrt(b), eb = scaled ? 1.0 : std::exp(-b), x = 0.5 * kappa, h = 0.5 * e;
  const double hh = h * h, b2 = 2.0 * b;
  BoundaryLayerSum st;
  st.first(eb, b2, eb * (1.0 - std::sqrt(pi) * t * erfcx(t)), second, atol);
  for (int n = 1; n <= BoundaryLayerSum::orders && st.small < 2.0; ++n) {
    BoundaryLayerSum o;
    o.step(st, n, eb, x, h, hh, b2, second, atol);
    st = o;
  }
  if (st.small < 2.0) return false;  // (not reached for e kappa <= 4, e <= 1/4)
  S = st.sum;
  S_err = 2.0 * st.last + 16.0 * eps * (1.0 + 2.0 * b) * st.amp * st.abs_sum;
  return std::isfinite(S) && std::isfinite(S_err);
}

// E[f(u) f(v)] of shifted_relu, soft_threshold (threshold tau > 0) and hard_tanh on the
// diagonal, u and v of one variance q, next to c = 1, from the one-point moments
// phi_sq = E[phi(u)^2] and dphi_sq = E[phi'(u)^2]. With k = tau / sqrt(q),
// e = 1 - c and F(x) = exp(-k^2 / (2 - x^2)) / (pi sqrt(2 - x^2)), Price's theorem
// from c = 1 (where the orthant forms of threshold_price are exact, relative to
// the result, but cost 3-7 us, and the closed forms cancel) gives, with t = 1 - x^2,
//   L(c) = P(X > k, Y > k) = Q(k) - I0,        I0 = int_0^sqrt(e) F(x) dx,
//   P(c) = E[(X - k)_+ (Y - k)_+] = M2 - e Q(k) + I2,
//                                              I2 = int_0^sqrt(e) (e - x^2) F(x) dx,
// (Q(k) = P(X > k), M2 = E[(X - k)_+^2]), the integrands >= 0 and smooth: F varies
// by the factor exp(k^2 e / 2) at most. So that
//   shifted_relu: phi: phi_sq - q e dphi_sq + q I2;   phi': dphi_sq - I0;
//   soft_threshold: phi: 2 q (P(c) - P(-c)) = phi_sq - q e dphi_sq + 2 q I2 - 2 q P(-c),
//                   phi': 2 (L(c) + L(-c)) = dphi_sq - 2 I0 + 2 L(-c),
//   hard_tanh (k = a / sqrt(q)): phi' = 1{|x| < a} is 1 - soft_threshold's, so that
//     E[phi' phi'](t) = E[phi'^2] - P(|X| < k, |Y| > k), the same crossings, and with
//     E[phi phi](c) = E[phi^2] - q int_c^1 E[phi' phi'](t) dt (Price) the same forms
//     as soft_threshold's, read with its own phi_sq and dphi_sq (checked against the
//     nested quadrature: tests/test_two_point.py),
// where 0 <= P(-c) <= (2 / (3 pi)) e^1.5 exp(-k^2 / e) and
// 0 <= L(-c) <= sqrt(e) exp(-k^2 / e) / pi (over t in [-1, -c], 1 + t <= e: the
// density is below exp(-k^2 / e) / (2 pi sqrt(1 + t))): their midpoints, with half
// the bound as error, or where that is not negligible (k^2 / e <= 50) their boundary
// layer sums (boundary_layer_sum). F <= g = exp(-k^2 / 2) / (pi sqrt(2 - e)) on [0, sqrt(e)], so
// that I2 <= (2 / 3) e^1.5 g and I0 <= sqrt(e) g: where half of that bound is within
// `budget`, its midpoint, without quadrature (a deep kernel's pairs, 1 - c ~ 1e-12:
// two exponentials); else Gauss-Kronrod 7/15
// over x = sqrt(e) y, y in [-1, 1] (F even: 8 evaluations), the error estimated by
// |K15 - G7|. For e k^2 <= 4 and e <= 1/4 only (false otherwise): there the
// integrands are polynomial to the rule's degree 23 to the double's precision.
// `err` bounds the error: the bounds' halves, the rule's estimate, and 4 ulps of
// the terms added.
inline bool threshold_near_one(const Activation& a, int d, double q, double c, double phi_sq,
                               double dphi_sq, double budget, double& out, double& err) {
  if ((a.kind != Kind::shifted_relu && a.kind != Kind::soft_threshold &&
       a.kind != Kind::hard_tanh) ||
      !(a.p0 > 0.0) || !(q > 0.0) || !std::isfinite(q) || !(c <= 1.0) ||
      !std::isfinite(phi_sq) || !std::isfinite(dphi_sq))
    return false;
  using namespace special;
  const double e = 1.0 - c, k2 = a.p0 * a.p0 / q;
  if (!(e <= 0.25) || !(e * k2 <= 4.0)) return false;
  // (hard_tanh: phi' = 1{|x| < a} = 1 - soft_threshold's, so that E[phi' phi'](t) is
  // E[phi'^2] less the same two crossings of the thresholds: the same forms, with its
  // own moments)
  const bool soft = a.kind == Kind::soft_threshold || a.kind == Kind::hard_tanh;
  const double re = std::sqrt(e), e15 = e * re;
  const double g = std::exp(-0.5 * k2) / (pi * std::sqrt(2.0 - e));  // sup F on [0, sqrt(e)]
  // the far orthant's bound, over exp(-k^2 / e) (soft_threshold: t in [-1, -c])
  const double far = soft && k2 / e < 746.0 ? std::exp(-k2 / e) / pi : 0.0;  // (0 below)
  const double eps = std::numeric_limits<double>::epsilon();
  const double w = soft ? 2.0 : 1.0;  // I0, I2 enter twice for soft_threshold
  double base, half_bound, scale_q;
  if (d == 0) {
    base = phi_sq - q * e * dphi_sq;
    half_bound = 0.5 * w * q * (2.0 / 3.0) * e15 * g;
    scale_q = q * e15;
  } else {
    base = dphi_sq;
    half_bound = 0.5 * w * re * g;
    scale_q = re;
  }
  double far_mid = 0.0, far_half = 0.0;  // -2 q P(-c) (phi) or +2 L(-c) (phi')
  if (soft) {
    far_half = d == 0 ? q * (2.0 / 3.0) * e15 * far : re * far;
    far_mid = d == 0 ? -far_half : far_half;
    // where that bound's half is not negligible against the budget (1 - c ~ 1e-3 at
    // k^2 / e ~ 10: hard_tanh's settling kernel layers at q ~ 70), P(-c) and L(-c)
    // themselves: at t = -1 + e y^2 the density's exponent is -b / y^2, b = k^2 / e,
    // so that P(-c) = e^1.5 S2 / (pi sqrt 2) and L(-c) = sqrt(e) S1 / (pi sqrt 2),
    // boundary_layer_sum with kappa = 0
    double S, S_err;
    if (far_half > 1e-3 * budget && k2 / e <= 50.0 &&
        boundary_layer_sum(k2 / e, 0.0, e, d == 0, S, S_err)) {
      const double f = w * (d == 0 ? q * e15 : re) / (pi * std::sqrt(2.0));
      far_mid = d == 0 ? -f * S : f * S;
      far_half = f * S_err;
    }
  }
  const double round = 4.0 * eps * (std::fabs(phi_sq) + std::fabs(base) + q * e * dphi_sq);
  if (half_bound + far_half + round <= budget) {
    out = base + (d == 0 ? half_bound : -half_bound) + far_mid;
    err = half_bound + far_half + round;
    return true;
  }
  // x = sqrt(e) y: I0 = (sqrt(e) / 2) int_{-1}^{1} F dy, I2 = (e^1.5 / 2) int (1 - y^2) F dy
  double K = 0.0, G = 0.0;
  for (int i = 0; i < 8; ++i) {
    const double y = quad::xgk[i], v = 2.0 - e * y * y;
    double f = std::exp(-k2 / v) / (pi * std::sqrt(v));
    if (d == 0) f *= (1.0 - y) * (1.0 + y);
    const double m = i < 7 ? 2.0 : 1.0;  // the pairs +-y (y = 0 once)
    K += m * quad::wgk[i] * f;
    if (i % 2 == 1) G += m * quad::wg[i / 2] * f;  // (i = 7: the centre, once)
  }
  const double I = 0.5 * scale_q * K, Ierr = 0.5 * scale_q * std::fabs(K - G);
  out = base + (d == 0 ? w * I : -w * I) + far_mid;
  // (and the rounding of w I, which can cancel against base: hard_tanh at large q)
  err = w * Ierr + far_half + round + (a.kind == Kind::hard_tanh ? 4.0 * eps * w * I : 0.0);
  return std::isfinite(out) && std::isfinite(err);
}

// E[phi(u) phi(v)] on the diagonal (q1 = q2 = q) next to c = 1, where the closed
// form of phi cancels (its estimate defers) while that of phi' stays accurate: by
// Price's theorem d/dc E[phi(u) phi(v)] = q E[phi'(u) phi'(v)], so
//   E[phi(u) phi(v)](c) = E[phi^2] - q int_c^1 E[phi' phi'](s) ds
//                       = E[phi^2] - 2 q int_0^sqrt(1-c) t E[phi' phi'](1 - t^2) dt,
// where the substitution s = 1 - t^2 turns the sqrt(1 - s) of a jump in phi' into
// a term linear in t. Adaptive Gauss-Kronrod 15 on [0, sqrt(1 - c)] over the closed
// form of E[phi' phi'] (15-45 evaluations, ~30-100 microseconds), accepted where its
// error estimate plus the closed forms' own tolerance is below tol E[phi^2]; false
// otherwise.
inline bool diagonal_price(const Activation& a, double q, double c, double phi_sq, double tol,
                           double& out) {
  if (!has_closed_form(a.kind) || !(c > 0.0 && c < 1.0) || !(q > 0.0) || !std::isfinite(q) ||
      !(phi_sq > 0.0) || !std::isfinite(phi_sq))
    return false;
  const double T = std::sqrt(1.0 - c);
  bool good = true;
  auto f = [&](double t, double* y) {
    // (t below ~1e-8 rounds s to 1: its share, ~q t^2, is below the rounding)
    double v = 0.0;
    const double s = 1.0 - t * t;
    if (good && s < 1.0 && !bivariate(a, 1, q, q, s, tol, false, v, false)) good = false;
    y[0] = 2.0 * q * t * v;
  };
  // Adaptive Gauss-Kronrod on [0, T] (one or a few pieces: the integrand is smooth in t)
  quad::Mesh mesh;
  mesh.lo = 0.0;
  mesh.hi = T;
  mesh.finish();
  double val, qerr;
  const bool conv = quad::integrate<1, 4>(f, mesh, 0.0, 0.5 * tol * phi_sq, &val, &qerr);
  if (!good || !conv) return false;
  // the closed forms of E[phi' phi'] hold tol of E[phi'^2] (<= E[phi^2] q-scaled): their
  // share of the integral's error is below tol q T^2 E[phi'^2] ~ tol |val|
  const double err = qerr + tol * std::fabs(val);
  if (!(err <= tol * phi_sq)) return false;
  out = phi_sq - val;
  return true;
}

}  // namespace piecewise
}  // namespace sigprop
