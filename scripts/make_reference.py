#!/usr/bin/env python
"""Generate high-precision reference data for the sigprop test-suite.

Usage:  python scripts/make_reference.py [--procs N] [--quick]
                                         [--extreme | --near-diagonal | --off-diagonal
                                          | --large-q | --small-q | --small-both
                                          | --linear-tail]

Writes tests/data/reference_1d.json and tests/data/reference_2d.json; with
--extreme only tests/data/reference_2d_extreme.json: the 2D quantities below
for c next to +-1 (1 -+ c = 1e-12, 1e-6), large q (30, 1e4), tiny q (1e-6)
and q1 != q2 far apart (1e-3/1e3, 1e4/3), computed by the same machinery at
c = the binary64 number nearest to the nominal decimal (see exact_c). With
--near-diagonal only tests/data/reference_2d_near_diagonal.json: softsign and
linear_region_tanh on the diagonal q1 = q2 in [0.05, 25], c in [0.95, 1 - 1e-5].
With --off-diagonal only tests/data/reference_2d_off_diagonal.json: tanh,
sigmoid, silu and softplus at q1 != q2 but close (relative gaps 1e-5 to 0.1,
q in [0.3, 9.9], the pairs of a deep NNGP kernel in the ordered phase), c next
to +1 (1 - c = 1e-3, 1e-5, 1e-8) and -1 (1 + c = 1e-4); its only self-check
is one Gauss-Legendre refinement sample (tanh, 9.75/9.7501, 1 - c = 1e-8).
With --large-q only tests/data/reference_2d_large_q.json: tanh, sigmoid,
softplus, shifted_softplus, silu, linear_region_tanh and softsign at large and
far-apart variances (q1/q2 = 30/400, 250/3500, 1800/1850, 0.5/2000: the first
layer of a kernel on unnormalised inputs; 0.01/10, 3/9: a narrow conditional
spread next to c = 1),
c = 0.96, 0.99, 0.999 and -0.98; self-check: one Gauss-Legendre refinement
sample (tanh, 250/3500, 0.999). With --small-q only
tests/data/reference_2d_small_q.json: tanh, sigmoid, softplus, shifted_softplus,
silu, elu (alpha 1 and 0.5), selu, linear_region_tanh and softsign with one variance
small (1e-8 to 0.3) against the other (0.03 to 1e4), c = 0.999, 1 - 1e-9 and -0.9999,
where sigprop bounds the Mehler series' tail a priori (analytic_tail.hpp), for elu and
selu sums the exponential's Taylor series against orthant moments
(elu_small_variance.hpp), for linear_region_tanh applies Stein's lemma
(linear_region_pair) and for softsign smooths its power series' pieces in closed form
(softsign_small_variance);
self-check: one Gauss-Legendre refinement sample (softplus, 1e-8/1e4, 0.999).
With --small-both only tests/data/reference_2d_small_both.json: softsign with both
variances small (1e-7 to 5e-3, on and off the diagonal), c = 0.96, 0.999, 1 - 1e-9 and
-0.9999, where sigprop sums its power series on both sides against the orthant moments
(softsign_small_variances); self-check: one Gauss-Legendre refinement sample (1e-5/3e-3,
0.999).
With --linear-tail only tests/data/reference_2d_linear_tail.json: softplus,
shifted_softplus and silu at variances 150/400, 1e4/2.5e4, 3e5/1e6 and 2e6/2e6 with
c = 0.998, 1 - 5e-5 and 1 - 1e-7, where sigprop takes relu's closed form and the
remainder's in Fourier space (linear_tail_pair.hpp); self-check: one Gauss-Legendre
refinement sample (silu, 3e5/1e6, 1 - 5e-5).

This script is deliberately independent of the sigprop package: it only uses
mpmath (at mp.dps = 30, with extra working precision where cancellation
requires it) and the Python standard library.

1D quantities (Z ~ N(0,1), x = sqrt(q) Z):
    mean     = E[phi(x)]
    phi_sq   = E[phi(x)^2]
    dphi_sq  = E[phi'(x)^2]
    d2phi_sq = E[phi''(x)^2]          ("inf" when phi' has a jump)
    dV       = d/dq E[phi(sqrt(q) Z)^2] = E[Z phi(x) phi'(x)] / sqrt(q)
2D quantities (u = sqrt(q1) Z1, v = sqrt(q2) (c Z1 + sqrt(1-c^2) Z2)):
    phiphi   = E[phi(u) phi(v)]
    dphidphi = E[phi'(u) phi'(v)]

Numerical method
----------------
* All 1D Gaussian integrals (and the 2D cases c = 0, +-1, which reduce to 1D
  integrals) use mpmath.quad (tanh-sinh) on the folded integrand
  G(z) + G(-z), z >= 0 (or unfolded when the two factors differ), split at
  every kink of the integrand, with geometric grading around kinks and
  smooth-feature centres (scale 1/sqrt(q)), tail grading around far kinks
  (scale 1/|z_k|), and each sub-interval normalised by its own magnitude so
  that the (absolute) mpmath error control becomes relative.  When the
  integrand cancels strongly (e.g. sin at large q) the working precision is
  raised automatically until the cancellation is resolved.
* 2D cases with |c| < 1: E = int phi(sqrt(q1) z) H(z) phi_N(z) dz with
  H(z) = E_W[g(m + b W)], m = sqrt(q2) c z, b = sqrt(q2 (1-c^2)).
  - For activations whose inner Gaussian expectation has an exact closed form
    (piecewise linear, elu/selu, gelu, erf, sin) H is evaluated by that closed
    form in mpmath (with 25 extra digits) and the outer integral by the
    normalised mpmath.quad machinery above.
  - For the others (tanh, sigmoid, silu, softplus, shifted_softplus, softsign,
    linear_region_tanh) both integrals are done with piecewise Gauss-Legendre
    rules (20 nodes per piece near the Gaussian bulk) on pieces graded
    geometrically (ratio 2) around kinks, smooth-feature centres and the
    smoothed kinks of H (width sqrt(1-c^2)/|c| in z).
* Self-checks (printed and stored under meta["checks"]): refinement of every
  1D value (more split points + higher quadrature degree), closed forms,
  numerical q-derivatives of phi_sq, closed-form H against inner quadrature,
  a sample of 2D cases recomputed by fully adaptive nested mpmath.quad, and a
  sample of Gauss-Legendre 2D cases recomputed with more nodes and halved
  pieces.
"""

import argparse
import itertools
import json
import math
import multiprocessing
import os
import sys
import time

import mpmath
from mpmath import mp, mpf

BASE_DPS = 30
mp.dps = BASE_DPS

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(HERE, os.pardir, "tests", "data")

Q_GRID = [
    "1e-6",
    "1e-5",
    "1e-4",
    "1e-3",
    "1e-2",
    "0.1",
    "0.3",
    "1",
    "3",
    "10",
    "30",
    "100",
    "1e3",
    "1e4",
]
Q_PAIRS = [("1e-3", "1e-3"), ("1", "1"), ("100", "100"), ("0.5", "2.0"), ("1e-2", "10")]
C_GRID = ["-1", "-0.9", "-0.3", "0", "0.5", "0.99", "0.999999", "1"]
QUANTITIES_1D = ["mean", "phi_sq", "dphi_sq", "d2phi_sq", "dV"]
QUANTITIES_2D = ["phiphi", "dphidphi"]

SELU_ALPHA = "1.6732632423543772848170429916717"
SELU_LAMBDA = "1.0507009873554804934193349852946"

# (name, params) -- every activation with its defaults, plus extra params.
ENTRIES = [
    ("linear", {}),
    ("relu", {}),
    ("leaky_relu", {"negative_slope": 0.01}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("elu", {"alpha": 1.0}),
    ("elu", {"alpha": 0.5}),
    ("selu", {}),
    ("gelu", {}),
    ("silu", {}),
    ("softplus", {}),
    ("shifted_softplus", {}),
    ("tanh", {}),
    ("erf", {}),
    ("sigmoid", {}),
    ("softsign", {}),
    ("sin", {}),
    ("hard_tanh", {"a": 1.0}),
    ("hard_tanh", {"a": 0.3}),
    ("shifted_relu", {"tau": 1.0}),
    ("shifted_relu", {"tau": 0.3}),
    ("soft_threshold", {"tau": 1.0}),
    ("soft_threshold", {"tau": 0.3}),
    ("linear_region_tanh", {"a": 1.0}),
    ("linear_region_tanh", {"a": 0.4}),
    ("linear_floor", {"a": 1.0}),
    ("linear_floor", {"a": 0.4}),
]

INF = mpmath.inf
NINF = mpmath.ninf


# ---------------------------------------------------------------------------
# activations
# ---------------------------------------------------------------------------


def _sig(x):
    return 1 / (1 + mp.exp(-x))


class Act:
    """An activation built at the current working precision.

    phi, d1, d2 : callables (mpf -> mpf)
    kinks       : x-points where phi, phi' or phi'' is not smooth (exact mpf)
    centers     : x-points around which phi varies on scale 1 (smooth features)
    osc         : oscillatory (sin)
    d2inf       : phi' has a jump, E[phi''^2] = inf
    pl, dpl     : piecewise-linear segments (l, r, alpha, beta) of phi / phi'
    expo, dexpo : (kappa) for an extra kappa*exp(x) term on x < 0 (elu, selu)
    H, dH       : closed forms of E[phi(m+bW)], E[phi'(m+bW)] (or None)
    """

    def __init__(self, name, params):
        self.name = name
        self.params = params
        P = dict((k, mpf(repr(float(v)))) for k, v in params.items())
        self.kinks = []
        self.centers = []
        self.osc = False
        self.d2inf = False
        self.pl = None
        self.dpl = None
        self.expo = None  # phi = ... + kappa*(exp(x)) on x<0
        self.dexpo = None
        self.H = None
        self.dH = None
        zero = mpf(0)
        one = mpf(1)
        n = name
        if n == "linear":
            self.phi = lambda x: x
            self.d1 = lambda x: one
            self.d2 = lambda x: zero
            self.pl = [(NINF, INF, one, zero)]
            self.dpl = [(NINF, INF, zero, one)]
        elif n == "relu":
            self.phi = lambda x: x if x > 0 else zero
            self.d1 = lambda x: one if x > 0 else zero
            self.d2 = lambda x: zero
            self.kinks = [zero]
            self.d2inf = True
            self.pl = [(zero, INF, one, zero)]
            self.dpl = [(zero, INF, zero, one)]
        elif n == "leaky_relu":
            s = P["negative_slope"]
            self.phi = lambda x: x if x > 0 else s * x
            self.d1 = lambda x: one if x > 0 else s
            self.d2 = lambda x: zero
            self.kinks = [zero]
            self.d2inf = s != 1
            self.pl = [(NINF, zero, s, zero), (zero, INF, one, zero)]
            self.dpl = [(NINF, zero, zero, s), (zero, INF, zero, one)]
        elif n in ("elu", "selu"):
            if n == "elu":
                al = P["alpha"]
                lam = one
            else:
                al = mpf(SELU_ALPHA)
                lam = mpf(SELU_LAMBDA)
            la = lam * al
            self.phi = lambda x: lam * x if x > 0 else la * mp.expm1(x)
            self.d1 = lambda x: lam if x > 0 else la * mp.exp(x)
            self.d2 = lambda x: zero if x > 0 else la * mp.exp(x)
            self.kinks = [zero]
            self.centers = [zero]
            self.d2inf = la != lam
            self.pl = [(NINF, zero, zero, -la), (zero, INF, lam, zero)]
            self.expo = la
            self.dpl = [(zero, INF, zero, lam)]
            self.dexpo = la
        elif n == "gelu":
            self.phi = lambda x: x * mp.ncdf(x)
            self.d1 = lambda x: mp.ncdf(x) + x * mp.npdf(x)
            self.d2 = lambda x: (2 - x * x) * mp.npdf(x)
            self.centers = [zero]

            def H(m, b):
                s = mp.sqrt(1 + b * b)
                t = m / s
                return m * mp.ncdf(t) + b * b * mp.npdf(t) / s

            def dH(m, b):
                s = mp.sqrt(1 + b * b)
                t = m / s
                return mp.ncdf(t) + m * mp.npdf(t) / s**3

            self.H, self.dH = H, dH
        elif n == "silu":

            def phi(x):
                return x / (1 + mp.exp(-x))

            def d1(x):
                s, sm = _sig(x), _sig(-x)
                return s * (1 + x * sm)

            def d2(x):
                s, sm = _sig(x), _sig(-x)
                return s * sm * (2 + x * (sm - s))

            self.phi, self.d1, self.d2 = phi, d1, d2
            self.centers = [zero]
        elif n == "softplus":
            self.phi = lambda x: mp.log1p(mp.exp(x))
            self.d1 = _sig
            self.d2 = lambda x: _sig(x) * _sig(-x)
            self.centers = [zero]
        elif n == "shifted_softplus":
            # log(1+e^x) - log 2 = log1p(expm1(x)/2), no cancellation near 0
            self.phi = lambda x: mp.log1p(mp.expm1(x) / 2)
            self.d1 = _sig
            self.d2 = lambda x: _sig(x) * _sig(-x)
            self.centers = [zero]
        elif n == "tanh":
            self.phi = mp.tanh
            self.d1 = lambda x: mp.sech(x) ** 2
            self.d2 = lambda x: -2 * mp.tanh(x) * mp.sech(x) ** 2
            self.centers = [zero]
        elif n == "erf":
            c2 = 2 / mp.sqrt(mp.pi)
            self.phi = mp.erf
            self.d1 = lambda x: c2 * mp.exp(-x * x)
            self.d2 = lambda x: -2 * c2 * x * mp.exp(-x * x)
            self.centers = [zero]

            def H(m, b):
                return mp.erf(m / mp.sqrt(1 + 2 * b * b))

            def dH(m, b):
                s2 = 1 + 2 * b * b
                return c2 * mp.exp(-m * m / s2) / mp.sqrt(s2)

            self.H, self.dH = H, dH
        elif n == "sigmoid":
            self.phi = _sig
            self.d1 = lambda x: _sig(x) * _sig(-x)
            self.d2 = lambda x: _sig(x) * _sig(-x) * (_sig(-x) - _sig(x))
            self.centers = [zero]
        elif n == "softsign":
            self.phi = lambda x: x / (1 + abs(x))
            self.d1 = lambda x: 1 / (1 + abs(x)) ** 2
            self.d2 = lambda x: -2 * mp.sign(x) / (1 + abs(x)) ** 3
            self.kinks = [zero]
            self.centers = [zero]
        elif n == "sin":
            self.phi = mp.sin
            self.d1 = mp.cos
            self.d2 = lambda x: -mp.sin(x)
            self.osc = True

            def H(m, b):
                return mp.exp(-b * b / 2) * mp.sin(m)

            def dH(m, b):
                return mp.exp(-b * b / 2) * mp.cos(m)

            self.H, self.dH = H, dH
        elif n == "hard_tanh":
            a = P["a"]
            self.phi = lambda x: -a if x < -a else (a if x > a else x)
            self.d1 = lambda x: one if -a < x < a else zero
            self.d2 = lambda x: zero
            self.kinks = [-a, a]
            self.d2inf = True
            self.pl = [(NINF, -a, zero, -a), (-a, a, one, zero), (a, INF, zero, a)]
            self.dpl = [(-a, a, zero, one)]
        elif n == "shifted_relu":
            t = P["tau"]
            self.phi = lambda x: x - t if x > t else zero
            self.d1 = lambda x: one if x > t else zero
            self.d2 = lambda x: zero
            self.kinks = [t]
            self.d2inf = True
            self.pl = [(t, INF, one, -t)]
            self.dpl = [(t, INF, zero, one)]
        elif n == "soft_threshold":
            t = P["tau"]
            self.phi = lambda x: x - t if x > t else (x + t if x < -t else zero)
            self.d1 = lambda x: one if abs(x) > t else zero
            self.d2 = lambda x: zero
            self.kinks = [-t, t]
            self.d2inf = True
            self.pl = [(NINF, -t, one, t), (t, INF, one, -t)]
            self.dpl = [(NINF, -t, zero, one), (t, INF, zero, one)]
        elif n == "linear_region_tanh":
            a = P["a"]

            def phi(x):
                if abs(x) <= a:
                    return x
                return mp.sign(x) * (a + mp.tanh(abs(x) - a))

            def d1(x):
                if abs(x) <= a:
                    return one
                return mp.sech(abs(x) - a) ** 2

            def d2(x):
                if abs(x) <= a:
                    return zero
                y = abs(x) - a
                return -2 * mp.sign(x) * mp.tanh(y) * mp.sech(y) ** 2

            self.phi, self.d1, self.d2 = phi, d1, d2
            self.kinks = [-a, a]
            self.centers = [-a, a]
        elif n == "linear_floor":
            a = P["a"]
            self.phi = lambda x: x if x > -a else -a
            self.d1 = lambda x: one if x > -a else zero
            self.d2 = lambda x: zero
            self.kinks = [-a]
            self.d2inf = True
            self.pl = [(NINF, -a, zero, -a), (-a, INF, one, zero)]
            self.dpl = [(-a, INF, zero, one)]
        else:
            raise ValueError(n)
        if self.pl is not None:
            self.H = lambda m, b: pl_expect(self.pl, self.expo, m, b)
            self.dH = lambda m, b: pl_expect(self.dpl, self.dexpo, m, b)

    def g(self, which):
        return self.phi if which == 0 else self.d1

    def Hfun(self, which):
        return self.H if which == 0 else self.dH


def pl_expect(segs, expo, m, b):
    """E[f(m + b W)] for f piecewise linear (+ kappa*exp(x) on x<0), closed
    form, evaluated with 25 extra digits (tail cancellations)."""
    with mp.extradps(25):
        m = +m
        b = +b
        tot = mpf(0)
        for lo_, r, al, be in segs:
            if lo_ == NINF:
                L = None
            else:
                L = (lo_ - m) / b
            if r == INF:
                R = None
            else:
                R = (r - m) / b
            # P = Phi(R) - Phi(L), computed on the accurate side
            if L is not None and L > 0:
                P = mp.ncdf(-L) - (mp.ncdf(-R) if R is not None else 0)
            else:
                P = (mp.ncdf(R) if R is not None else 1) - (mp.ncdf(L) if L is not None else 0)
            pdfL = mp.npdf(L) if L is not None else 0
            pdfR = mp.npdf(R) if R is not None else 0
            if al != 0:
                tot += al * (m * P + b * (pdfL - pdfR))
            if be != 0:
                tot += be * P
        if expo is not None:
            # E[kappa e^X 1{X<0}] = kappa e^{m+b^2/2} Phi(-m/b - b)
            tot += expo * mp.exp(m + b * b / 2) * mp.ncdf(-m / b - b)
    return +tot


# ---------------------------------------------------------------------------
# split points
# ---------------------------------------------------------------------------


def zfeat():
    """grading / oscillation grids are laid out for |z| < zfeat(): beyond it
    the Gaussian weight is below 10^-(dps+10)."""
    return max(14.0, math.sqrt(2 * math.log(10) * (mp.dps + 10)))


class Points:
    """Collects hard (exact) and soft (grading) split points.

    Soft points carry a scale; a soft point is dropped if an already accepted
    point lies within 0.25*scale of it (finer points are accepted first)."""

    def __init__(self):
        self.hard = []
        self.soft = []

    def add_hard(self, p):
        self.hard.append(mpf(p))

    def add_soft(self, p, s):
        self.soft.append((mpf(p), abs(float(s))))

    def graded(self, c, s, lo=None, hi=None, jmin=-1, ratio=2, dmax=None):
        """c +- s*ratio^j for j >= jmin, while inside [lo, hi] (and the step
        is at most dmax)."""
        if lo is None:
            lo, hi = -zfeat(), zfeat()
        s = abs(mpf(s))
        if s == 0:
            return
        j = jmin
        while True:
            d = s * mpf(ratio) ** j
            if d > 2 * (hi - lo) + 2 * abs(c):
                break
            if dmax is not None and d > dmax and j > jmin:
                break
            for p in (c - d, c + d):
                if lo <= p <= hi:
                    self.add_soft(p, d)
            if (c - d < lo) and (c + d > hi):
                break
            j += 1
            if j > 80:
                break

    def tail_graded(self, zk):
        """grading on the Gaussian decay scale 1/|z_k| around a far point"""
        zk = mpf(zk)
        if abs(zk) <= 2:
            return
        s = 1 / abs(zk)
        for j in range(-1, 9):
            d = s * 2**j
            self.add_soft(zk + d, d)
            self.add_soft(zk - d, d)

    def result(self, lo=None, hi=None):
        acc = []
        for p in self.hard:
            if (lo is None or p > lo) and (hi is None or p < hi):
                acc.append(p)
        acc = sorted(set(acc))
        soft = sorted(self.soft, key=lambda t: t[1])
        import bisect

        fl = [float(a) for a in acc]
        for p, s in soft:
            if (lo is not None and p <= lo) or (hi is not None and p >= hi):
                continue
            pf = float(p)
            i = bisect.bisect_left(fl, pf)
            ok = True
            for k in (i - 1, i):
                if 0 <= k < len(fl) and abs(fl[k] - pf) < 0.25 * s:
                    ok = False
            if ok:
                acc.insert(i, p)
                fl.insert(i, pf)
        return acc


def add_factor_points(pts, act, s, refine=False, dmax=None):
    """split points in z for a factor g(s*z) (s != 0 real)."""
    s = mpf(s)
    inv = 1 / abs(s)
    for k in act.kinks:
        zk = k / s
        pts.add_hard(zk)
        pts.tail_graded(zk)
    feat = list(act.centers) + list(act.kinks)
    for c in feat:
        pts.graded(c / s, inv, jmin=-2 if refine else -1, dmax=dmax)
    if act.osc:
        h = mpf(1.5) / abs(s) / (2 if refine else 1)
        n = int(zfeat() / h)
        for i in range(-n, n + 1):
            pts.add_soft(i * h, h)


def add_gauss_points(pts, refine=False):
    for p in [0.5, 1, 2, 3, 4, 6, 8, 11] if refine else [1, 2, 4, 8]:
        pts.add_soft(p, 0.5)
        pts.add_soft(-p, 0.5)


def add_H_points(pts, act, q2, c, refine=False, dmax=None):
    """split points in z for H(z) = E_W g(sqrt(q2) c z + b W)."""
    c = mpf(c)
    sq2 = mp.sqrt(q2)
    s = sq2 * c
    delta = mp.sqrt(1 - c * c) / abs(c)
    inv = 1 / abs(s)
    for k in act.kinks:
        zk = k / s
        pts.graded(zk, delta, jmin=-2 if refine else -1, dmax=dmax)
        pts.add_soft(zk, delta / 4)
        pts.tail_graded(zk)
    for cc in list(act.centers) + list(act.kinks):
        pts.graded(cc / s, inv, jmin=-2 if refine else -1, dmax=dmax)
    if act.osc:
        h = mpf(1.5) / abs(s) / (2 if refine else 1)
        n = int(zfeat() / h)
        for i in range(-n, n + 1):
            pts.add_soft(i * h, h)


# ---------------------------------------------------------------------------
# normalised mpmath.quad
# ---------------------------------------------------------------------------


def _samples(a, b):
    if a == NINF and b == INF:
        raise ValueError
    if b == INF:
        ell = 1 / max(mpf(1), abs(a))
        return [a + ell * t for t in (0.01, 0.3, 1, 3, 10)], ell * 3
    if a == NINF:
        ell = 1 / max(mpf(1), abs(b))
        return [b - ell * t for t in (0.01, 0.3, 1, 3, 10)], ell * 3
    w = b - a
    return [a + w * t for t in (0.02, 0.25, 0.5, 0.75, 0.98)], w


def _trim_quad_cache():
    """mpmath.quad remembers every interval it has seen (and caches the
    transformed nodes of repeated ones); with millions of distinct inner
    intervals this grows without bound, so it is reset now and then."""
    rule = mp._tanh_sinh
    counts = getattr(rule, "interval_count", None)  # absent in mpmath >= 1.4
    if len(counts or ()) > 20000 or len(rule.transformed_cache) > 2000:
        if counts is not None:
            rule.interval_count = {}
        rule.transformed_cache = {}


def quad_interval(f, a, b, maxdeg):
    """integral of f over [a, b] with relative accuracy: returns
    (value, scale, err) where scale ~ int |f|."""
    _trim_quad_cache()
    xs, ell = _samples(a, b)
    fm = max(abs(f(x)) for x in xs)
    S = fm * ell
    if S == 0:
        v, err = mp.quad(f, [a, b], error=True, maxdegree=maxdeg)
        if v == 0:
            return mpf(0), mpf(0), mpf(0)
        S = abs(v)
    for _ in range(4):
        v, err = mp.quad(lambda t, S=S: f(t) / S, [a, b], error=True, maxdegree=maxdeg)
        r = abs(v)
        if r > 100:
            S = S * r
            continue
        break
    return v * S, S, err * S


def quad_points(f, pts, maxdeg):
    """integral over (-inf, inf) or [pts[0], inf) split at pts."""
    tot = mpf(0)
    scale = mpf(0)
    err = mpf(0)
    for a, b in itertools.pairwise(pts):
        if a == b:
            continue
        v, s, e = quad_interval(f, a, b, maxdeg)
        tot += v
        scale += s
        err += e
    return tot, scale, err


def gauss_1d(G, pts_obj, fold, refine=False):
    """E[G(Z)] = int G(z) phi_N(z) dz with split points from pts_obj."""
    # mpmath's default maximal degree (+2 for the refinement check)
    maxdeg = mp._tanh_sinh.guess_degree(mp.prec + 20) + (2 if refine else 0)
    c = 1 / mp.sqrt(2 * mp.pi)
    if fold:
        # the folded integrand G(z) + G(-z) is non-smooth at |p|
        ap = Points()
        ap.hard = [abs(p) for p in pts_obj.hard]
        ap.soft = [(abs(p), sc) for p, sc in pts_obj.soft]
        P = ap.result(lo=0)
        pts = [mpf(0)] + [p for p in P if p > 0] + [INF]

        def f(z):
            return (G(z) + G(-z)) * mp.exp(-z * z / 2)
    else:
        P = pts_obj.result()
        if 0 not in P:
            P = sorted([*P, mpf(0)])
        pts = [NINF, *P, INF]

        def f(z):
            return G(z) * mp.exp(-z * z / 2)

    v, s, e = quad_points(f, pts, maxdeg)
    return v * c, s * c, e * c


def with_precision(compute, dps0, cap=200):
    """run compute() (returning (value, scale, err)) at dps0 and raise the
    precision while the cancellation scale/|value| is not resolved, or the
    quadrature error estimate is not small enough."""
    dps = dps0
    info = {}
    while True:
        with mp.workdps(dps):
            v, s, e = compute()
        if s == 0:
            info["dps"] = dps
            return v, info
        if v != 0:
            ratio = s / abs(v)
        else:
            ratio = mpf(10) ** (dps + 20)
        need = int(mp.log10(ratio)) + dps0 + 8 if ratio > 1e4 else dps0
        rel = e / abs(v) if v != 0 else mpf(1)
        if need <= dps and rel > mpf(10) ** -27:
            need = dps + 15  # not converged: more precision/degree
        if need <= dps:
            info["dps"] = dps
            info["relerr_est"] = float(rel)
            return v, info
        if dps >= cap:
            # cancellation not resolvable: |value| <= about 10^-(dps-8)*scale
            info["dps"] = dps
            info["unresolved_bound"] = mp.nstr(s * mpf(10) ** (-(dps - 8)), 3)
            return None, info
        dps = min(max(need, dps + 10), cap)


# ---------------------------------------------------------------------------
# 1D quantities
# ---------------------------------------------------------------------------


def compute_1d(name, params, qty, qs, refine=False):
    act0 = Act(name, params)
    if qty == "d2phi_sq" and act0.d2inf:
        return "inf", {}
    # 40 digits for all 1D work: e.g. shifted_relu at q=1e-6 has
    # d log(value)/d log(q) ~ 5e5, so the rounding of q itself matters
    dps0 = 40

    def compute():
        act = Act(name, params)
        q = mpf(qs)
        s = mp.sqrt(q)
        pts = Points()
        add_factor_points(pts, act, s, refine)
        add_gauss_points(pts, refine)
        phi, d1, d2 = act.phi, act.d1, act.d2
        if qty == "mean":

            def G(z):
                return phi(s * z)
        elif qty == "phi_sq":

            def G(z):
                return phi(s * z) ** 2
        elif qty == "dphi_sq":

            def G(z):
                return d1(s * z) ** 2
        elif qty == "d2phi_sq":

            def G(z):
                return d2(s * z) ** 2
        elif qty == "dV":

            def G(z):
                x = s * z
                return z * phi(x) * d1(x)

        v, sc, e = gauss_1d(G, pts, fold=True, refine=refine)
        if qty == "dV":
            v, sc, e = v / s, sc / s, e / s
        return v, sc, e

    # oscillatory integrands at large q: the cancellation (value ~ e^{-2q})
    # cannot be resolved at affordable cost; do not escalate.
    cap = dps0 if (act0.osc and mpf(qs) > 100) else 200
    v, info = with_precision(compute, dps0, cap=cap)
    return v, info


def mean_1d(act_name, params, which, qs, refine=False):
    """E[g(sqrt(q) Z)] (g = phi or phi') -- used for c = 0."""

    def compute():
        act = Act(act_name, params)
        q = mpf(qs)
        s = mp.sqrt(q)
        pts = Points()
        add_factor_points(pts, act, s, refine)
        add_gauss_points(pts, refine)
        g = act.g(which)
        return gauss_1d(lambda z: g(s * z), pts, fold=True, refine=refine)

    return with_precision(compute, BASE_DPS)


# ---------------------------------------------------------------------------
# Gauss-Legendre machinery (2D, activations without closed-form H)
# ---------------------------------------------------------------------------

_GL = {}


def gl_rule(n):
    if n in _GL:
        return _GL[n]
    with mp.workdps(60):
        xs, ws = [], []
        for i in range(1, n + 1):
            x = mp.cos(mp.pi * (i - mpf(0.25)) / (n + mpf(0.5)))
            for _ in range(100):
                p0, p1 = mpf(1), x
                for k in range(2, n + 1):
                    p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
                dp = n * (x * p1 - p0) / (x * x - 1)
                dx = p1 / dp
                x -= dx
                if abs(dx) < mpf(10) ** -55:
                    break
            p0, p1 = mpf(1), x
            for k in range(2, n + 1):
                p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
            dp = n * (x * p1 - p0) / (x * x - 1)
            xs.append(x)
            ws.append(2 / ((1 - x * x) * dp * dp))
    _GL[n] = (xs, ws)
    return _GL[n]


GL_N = {"normal": (20, 16, 14, 12, 10), "refine": (28, 24, 20, 18, 16)}
WC = 13  # truncation of the Gaussian variables (e^{-84.5})
MAXLEN = 2.5  # longest piece in Gaussian units (2 beyond |z| = 5)


def gl_pieces(P, lo, hi, maxlen, refine=False):
    pts = [mpf(lo)] + [p for p in P if lo < p < hi] + [mpf(hi)]
    out = []
    for a, b in itertools.pairwise(pts):
        w = b - a
        if w <= 0:
            continue
        # the Gaussian varies on scale 1/|z| in the tails
        zmax = max(abs(float(a)), abs(float(b)))
        ml = maxlen if zmax <= 5.01 else 2.0
        k = math.ceil(float(w) / ml)
        if refine:
            k *= 2
        for i in range(k):
            out.append((a + w * i / k, a + w * (i + 1) / k))
    return out


def n_for_piece(a, b, ns):
    """nodes per piece: fewer where the Gaussian weight is tiny."""
    zmin = 0 if a <= 0 <= b else min(abs(a), abs(b))
    for lim, n in zip((4.99, 6.99, 8.99, 10.99), ns, strict=False):
        if zmin < lim:
            return n
    return ns[-1]


def add_gl_gauss_points(pts):
    for p in (2.5, 5, 7, 9, 11):
        pts.add_soft(p, 0.5)
        pts.add_soft(-p, 0.5)


def gl_integrate(f, pieces, ns, nval):
    """sum over pieces of Gauss-Legendre rules; f returns a list of nval
    values; returns (integrals, integrals of |f|)."""
    tot = [mpf(0)] * nval
    atot = [mpf(0)] * nval
    for a, b in pieces:
        n = n_for_piece(a, b, ns)
        xs, ws = gl_rule(n)
        h = (b - a) / 2
        c = (a + b) / 2
        acc = [mpf(0)] * nval
        aacc = [mpf(0)] * nval
        for x, w in zip(xs, ws, strict=False):
            vals = f(c + h * x)
            for i in range(nval):
                v = w * vals[i]
                acc[i] += v
                aacc[i] += abs(v)
        for i in range(nval):
            tot[i] += acc[i] * h
            atot[i] += aacc[i] * h
    return tot, atot


GL_DMAX = 2.5  # gradings stop once their step exceeds this


def inner_gl(act, gs, m, b, refine=False):
    """[E_W g(m + b W) for g in gs] by piecewise Gauss-Legendre in W."""
    ns = GL_N["refine" if refine else "normal"]
    pts = Points()
    inv = 1 / b
    for k in act.kinks:
        wk = (k - m) * inv
        pts.add_hard(wk)
        pts.tail_graded(wk)
    for cc in list(act.centers) + list(act.kinks):
        pts.graded((cc - m) * inv, inv, lo=-WC, hi=WC, jmin=-2 if refine else -1, dmax=GL_DMAX)
    P = pts.result(lo=-WC, hi=WC)
    pieces = gl_pieces(P, -WC, WC, MAXLEN, refine)
    nval = len(gs)

    def f(w):
        e = mp.exp(-w * w / 2)
        y = m + b * w
        return [g(y) * e for g in gs]

    v, _ = gl_integrate(f, pieces, ns, nval)
    k = 1 / mp.sqrt(2 * mp.pi)
    return [x * k for x in v]


def outer_points(act, q1, q2, c, refine=False, gl=False):
    pts = Points()
    dmax = GL_DMAX if gl else None
    add_factor_points(pts, act, mp.sqrt(q1), refine, dmax)
    add_H_points(pts, act, q2, c, refine, dmax)
    if not gl:
        add_gauss_points(pts, refine)
    return pts


def nested_gl(name, params, q1s, q2s, cs, refine=False):
    """(E[phi(u)phi(v)], E[phi'(u)phi'(v)]) and the integrals of |.|,
    by nested piecewise Gauss-Legendre."""
    act = Act(name, params)
    q1, q2, c = mpf(q1s), mpf(q2s), mpf(cs)
    s1 = mp.sqrt(q1)
    sq2 = mp.sqrt(q2)
    b = mp.sqrt(q2 * (1 - c * c))
    gs = [act.phi, act.d1]
    ns = GL_N["refine" if refine else "normal"]
    P = outer_points(act, q1, q2, c, refine, gl=True).result(lo=-WC, hi=WC)
    pieces = gl_pieces(P, -WC, WC, MAXLEN, refine)

    def f(z):
        H = inner_gl(act, gs, sq2 * c * z, b, refine)
        e = mp.exp(-z * z / 2)
        x = s1 * z
        return [gs[i](x) * H[i] * e for i in range(2)]

    v, av = gl_integrate(f, pieces, ns, 2)
    k = 1 / mp.sqrt(2 * mp.pi)
    return [x * k for x in v], [x * k for x in av]


# ---------------------------------------------------------------------------
# 2D quantities
# ---------------------------------------------------------------------------


def inner_quad(act, g, m, b, full=False):
    """E_W[g(m + b W)] by normalised adaptive mpmath.quad (check method)."""
    ip = Points()
    for k in act.kinks:
        ip.add_hard((k - m) / b)
        ip.tail_graded((k - m) / b)
    for cc in list(act.centers) + list(act.kinks):
        ip.graded((cc - m) / b, 1 / b)
    if act.osc:
        h = mpf(1.5) / b
        nn = int(zfeat() / h)
        for i in range(-nn, nn + 1):
            ip.add_soft(i * h, h)
    add_gauss_points(ip)
    r = gauss_1d(lambda w: g(m + b * w), ip, fold=False)
    return r if full else r[0]


def compute_2d(name, params, qty, q1s, q2s, cs, refine=False, force=None):
    """force: None (default method), 'nested_quad' (independent check) or
    'gl' (nested Gauss-Legendre even where H has a closed form: check)."""
    which = 0 if qty == "phiphi" else 1
    info = {}
    if cs == "0":
        m1, _i1 = mean_1d(name, params, which, q1s, refine)
        m2, _i2 = mean_1d(name, params, which, q2s, refine)
        info["method"] = "product_of_means"
        return m1 * m2, info
    if cs in ("1", "-1"):
        sign = 1 if cs == "1" else -1

        def compute():
            act = Act(name, params)
            g = act.g(which)
            s1 = mp.sqrt(mpf(q1s))
            s2 = sign * mp.sqrt(mpf(q2s))
            pts = Points()
            add_factor_points(pts, act, s1, refine)
            add_factor_points(pts, act, s2, refine)
            add_gauss_points(pts, refine)
            return gauss_1d(lambda z: g(s1 * z) * g(s2 * z), pts, fold=False, refine=refine)

        v, info = with_precision(compute, BASE_DPS)
        info["method"] = "1d"
        return v, info
    act0 = Act(name, params)
    if force == "gl" or (force is None and act0.H is None):
        with mp.workdps(BASE_DPS):
            vs, avs = nested_gl(name, params, q1s, q2s, cs, refine)
        infos = []
        for v, av in zip(vs, avs, strict=False):
            inf = {"method": "nested_gl"}
            if v != 0 and av / abs(v) > 1e4:
                inf["warning"] = f"cancellation {float(av / abs(v)):.3g}"
            infos.append(inf)
        return vs, {"both": infos}  # both quantities at once

    def compute():
        act = Act(name, params)
        g = act.g(which)
        q1, q2, c = mpf(q1s), mpf(q2s), mpf(cs)
        s1 = mp.sqrt(q1)
        sq2 = mp.sqrt(q2)
        b = mp.sqrt(q2 * (1 - c * c))
        pts = outer_points(act, q1, q2, c, refine)
        if force is None:
            H = act.Hfun(which)

            def G(z):
                return g(s1 * z) * H(sq2 * c * z, b)
        else:

            def G(z):
                gz = g(s1 * z)
                if gz == 0:
                    return gz
                return gz * inner_quad(act, g, sq2 * c * z, b)

        return gauss_1d(G, pts, fold=False, refine=refine)

    v, info2 = with_precision(compute, BASE_DPS)
    info.update(info2)
    info["method"] = "closed_form_H" if force is None else "nested_quad"
    return v, info


# ---------------------------------------------------------------------------
# task running
# ---------------------------------------------------------------------------


def fmt(v):
    if isinstance(v, str):
        return v
    if v is None:
        return None
    return mpmath.nstr(v, 25)


def run_task(task):
    kind = task[0]
    t0 = time.time()
    mp.dps = BASE_DPS
    try:
        if kind == "1d":
            _, ei, qty, qs, refine = task
            name, params = ENTRIES[ei]
            v, info = compute_1d(name, params, qty, qs, refine)
        elif kind == "2d":
            _, ei, qty, q1s, q2s, cs, refine, force = task
            name, params = ENTRIES[ei]
            v, info = compute_2d(name, params, qty, q1s, q2s, cs, refine, force)
        elif kind == "func":
            _, fname, args = task
            v, info = globals()[fname](*args)
        else:
            raise ValueError(kind)
    except Exception:  # pragma: no cover - reported, not hidden
        import traceback

        return task, None, {"error": traceback.format_exc()}, time.time() - t0
    mp.dps = BASE_DPS
    # values are stored with 25 digits; checks compare 34-digit strings
    if isinstance(v, list):
        for x, inf in zip(v, info["both"], strict=False):
            inf["hp"] = mpmath.nstr(x, 34)
        return task, [fmt(x) for x in v], info, time.time() - t0
    if not isinstance(v, str) and v is not None:
        info["hp"] = mpmath.nstr(v, 34)
        if kind == "func":
            return task, info["hp"], info, time.time() - t0
    return task, fmt(v), info, time.time() - t0


def run_all(tasks, procs, cache=None):
    """run the tasks; with cache (a JSON-lines file), finished tasks are
    appended to it as they complete and tasks found in it are not rerun."""
    res = {}
    if cache and os.path.exists(cache):
        with open(cache) as fh:
            for line in fh:
                t, v, info, dt = json.loads(line)
                t = tuple(t)
                if t in tasks and not info.get("error"):
                    res[t] = (v, info, dt)
        print(f"{len(res)} tasks from {cache}", flush=True)
    todo = [t for t in tasks if t not in res]
    cfh = open(cache, "a") if cache else None

    def record(r):
        res[r[0]] = r[1:]
        if cfh is not None and not r[2].get("error"):
            cfh.write(json.dumps(list(r)) + "\n")
            cfh.flush()

    if procs <= 1:
        for t in todo:
            record(run_task(t))
        return res
    ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else None)
    t0 = time.time()
    with ctx.Pool(procs) as pool:
        for r in pool.imap_unordered(run_task, todo, chunksize=1):
            record(r)
            if r[2].get("error"):
                print("ERROR in", r[0], r[2]["error"], file=sys.stderr)
            if r[3] > 60:
                print(f"  slow task {r[3]:.0f} s: {r[0]}", flush=True)
            if len(res) % 200 == 0:
                print(f"  {len(res)}/{len(tasks)} tasks done, {time.time() - t0:.0f} s", flush=True)
    return res


# ---------------------------------------------------------------------------
# closed forms (cross-checks only -- never the stored source)
# ---------------------------------------------------------------------------


def pl_second(segs, b):
    """E[f(bW)^2] for f piecewise linear (no exp part), closed form."""
    tot = mpf(0)
    for lo_, r, al, be in segs:
        L = None if lo_ == NINF else lo_ / b
        R = None if r == INF else r / b
        if L is not None and L > 0:
            P = mp.ncdf(-L) - (mp.ncdf(-R) if R is not None else 0)
        else:
            P = (mp.ncdf(R) if R is not None else 1) - (mp.ncdf(L) if L is not None else 0)
        pL = mp.npdf(L) if L is not None else 0
        pR = mp.npdf(R) if R is not None else 0
        LpL = L * pL if L is not None else 0
        RpR = R * pR if R is not None else 0
        EX2 = b * b * (P + LpL - RpR)
        EX = b * (pL - pR)
        tot += al * al * EX2 + 2 * al * be * EX + be * be * P
    return tot


def closed_1d(name, params, qty, q):
    """closed form of a 1D quantity where one is known (else None)."""
    act = Act(name, params)
    b = mp.sqrt(q)
    odd = name in (
        "linear",
        "tanh",
        "erf",
        "softsign",
        "sin",
        "hard_tanh",
        "soft_threshold",
        "linear_region_tanh",
    )
    if qty == "mean" and odd:
        return mpf(0)
    if name == "sigmoid" and qty == "mean":
        return mpf(1) / 2
    if name == "gelu" and qty == "mean":
        return q / mp.sqrt(2 * mp.pi * (1 + q))
    if name == "linear":
        return {"phi_sq": q, "dphi_sq": mpf(1), "d2phi_sq": mpf(0), "dV": mpf(1)}[qty]
    if name == "erf":
        if qty == "phi_sq":
            return 2 / mp.pi * mp.asin(2 * q / (1 + 2 * q))
        if qty == "dphi_sq":
            return 4 / mp.pi / mp.sqrt(1 + 4 * q)
        if qty == "d2phi_sq":
            return 16 / mp.pi * q / (1 + 4 * q) ** mpf(1.5)
        if qty == "dV":
            return 4 / (mp.pi * (1 + 2 * q) * mp.sqrt(1 + 4 * q))
    if name == "sin":
        e = mp.exp(-2 * q)
        return {"phi_sq": (1 - e) / 2, "dphi_sq": (1 + e) / 2, "d2phi_sq": (1 - e) / 2, "dV": e}[
            qty
        ]
    if name in ("elu", "selu"):
        lam = act.pl[1][2]
        la = act.expo

        def Eexp(k):  # E[e^{kx} 1{x<0}]
            return mp.exp(k * k * q / 2) * mp.ncdf(-k * b)

        if qty == "mean":
            return pl_expect(act.pl, act.expo, 0, b)
        if qty == "phi_sq":
            return lam**2 * q / 2 + la**2 * (Eexp(2) - 2 * Eexp(1) + mpf(1) / 2)
        if qty == "dphi_sq":
            return lam**2 / 2 + la**2 * Eexp(2)
        if qty == "d2phi_sq" and not act.d2inf:
            return la**2 * Eexp(2)
        if qty == "dV":
            # Stein: dV = E[phi'^2 + phi phi''] (phi(0) = 0: no Dirac term)
            return lam**2 / 2 + la**2 * (2 * Eexp(2) - Eexp(1))
    if act.pl is not None and act.expo is None:
        if qty == "mean":
            return pl_expect(act.pl, None, 0, b)
        if qty == "phi_sq":
            return pl_second(act.pl, b)
        if qty == "dphi_sq":
            return pl_second(act.dpl, b)
        if qty == "dV":
            # Stein: dV = E[phi'^2] + sum_k phi(k) [phi'](k) p_x(k)
            tot = pl_second(act.dpl, b)
            for k in act.kinks:
                eps = mpf(10) ** (-(mp.dps // 2))
                jump = act.d1(k + eps) - act.d1(k - eps)
                tot += act.phi(k) * jump * mp.npdf(k / b) / b
            return tot
    return None


def closed_2d(name, params, qty, q1, q2, c):
    r = mp.sqrt(q1 * q2)
    if name == "linear":
        return c * r if qty == "phiphi" else mpf(1)
    if name == "relu":
        th = mp.acos(c)
        if qty == "phiphi":
            return r / (2 * mp.pi) * (mp.sqrt(1 - c * c) + (mp.pi - th) * c)
        return (mp.pi - th) / (2 * mp.pi)
    if name == "erf":
        if qty == "phiphi":
            return 2 / mp.pi * mp.asin(2 * c * r / mp.sqrt((1 + 2 * q1) * (1 + 2 * q2)))
        return 4 / mp.pi / mp.sqrt((1 + 2 * q1) * (1 + 2 * q2) - 4 * c * c * q1 * q2)
    if name == "sin":
        e = mp.exp(-(q1 + q2) / 2)
        return e * (mp.sinh(c * r) if qty == "phiphi" else mp.cosh(c * r))
    return None


# ---------------------------------------------------------------------------
# check helpers (run as tasks)
# ---------------------------------------------------------------------------


def check_dV_diff(ei, qs):
    """dV (stored method) against mpmath.diff of the phi_sq quadrature."""
    name, params = ENTRIES[ei]

    def phisq(q):
        act = Act(name, params)
        s = mp.sqrt(q)
        pts = Points()
        add_factor_points(pts, act, s)
        add_gauss_points(pts)
        phi = act.phi
        return gauss_1d(lambda z: phi(s * z) ** 2, pts, fold=True)[0]

    with mp.workdps(BASE_DPS):
        d = mp.diff(phisq, mpf(qs))
    return d, {}


def check_H(ei):
    """closed-form inner expectation H against inner adaptive quadrature."""
    name, params = ENTRIES[ei]
    act = Act(name, params)
    worst = mpf(0)
    for m, b in [
        ("0.3", "0.2"),
        ("-1.7", "0.05"),
        ("2.5", "3.0"),
        ("-0.2", "10.0"),
        ("5.0", "0.5"),
        ("0.1", "1.0"),
        ("-3.0", "0.7"),
    ]:
        m, b = mpf(m), mpf(b)
        for which in (0, 1):
            a = act.Hfun(which)(m, b)
            g = act.g(which)
            r, _ = with_precision(lambda g=g, m=m, b=b: inner_quad(act, g, m, b, True), BASE_DPS)
            if a != r:
                worst = max(worst, abs(a - r) / max(abs(a), abs(r)))
    return worst, {}


# ---------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------

NESTED_QUAD_SAMPLE = [  # (entry index, qty, q1, q2, c)
    (13, "phiphi", "1e-3", "1e-3", "-0.9"),  # sigmoid
    (14, "dphidphi", "1e-3", "1e-3", "0.5"),  # softsign
    (19, "phiphi", "1", "1", "0.5"),  # shifted_relu tau=0.3
    (18, "phiphi", "1e-3", "1e-3", "0.999999"),  # shifted_relu, ~1e-225
]
GL_REFINE_SAMPLE = [  # (entry, q1, q2, c)
    (11, "100", "100", "0.5"),  # tanh
    (14, "1", "1", "0.999999"),  # softsign
    (23, "0.5", "2.0", "0.99"),  # linear_region_tanh a=0.4
    (10, "1e-2", "10", "-0.9"),  # shifted_softplus
    (13, "1e-3", "1e-3", "-0.3"),  # sigmoid
    (9, "100", "100", "0.999999"),  # softplus
]
DV_DIFF_SAMPLE = [
    (11, "1"),
    (13, "1e-4"),
    (7, "3"),
    (5, "0.3"),
    (14, "10"),
    (23, "1"),
    (18, "0.3"),
    (15, "1"),
    (17, "3"),
    (8, "100"),
]


def entry_key(ei):
    name, params = ENTRIES[ei]
    return name + json.dumps(params, sort_keys=True)


# ---------------------------------------------------------------------------
# --extreme: bivariate expectations in the regimes the two-point engine must
# handle (c next to +-1, q from 1e-6 to 1e4, q1 and q2 far apart)
# ---------------------------------------------------------------------------

EXTREME_ENTRIES = [
    ("tanh", {}),
    ("softsign", {}),
    ("elu", {"alpha": 1.0}),
    ("gelu", {}),
    ("hard_tanh", {"a": 1.0}),
    ("linear_region_tanh", {"a": 1.0}),
    ("silu", {}),
    ("softplus", {}),
    # extras: relu and erf have closed-form 2D values (arc-cosine kernel,
    # arcsine kernel) that check the machinery at these extreme c and q
    ("relu", {}),
    ("erf", {}),
]
# The stored grid (every activation gets c next to +1 and -1, large q and
# q1 != q2 far apart); --extreme-full adds the rest of the planned grid
# (q1 = q2 = 30; c = -0.5, 0.3, 0.999999), about 2.5x the cost.
EXTREME_Q_PAIRS = [("1e-6", "1e-6"), ("1e4", "1e4"), ("1e-3", "1e3"), ("1e4", "3")]
EXTREME_C_GRID = ["-0.999999999999", "0.99", "0.999999999999"]
EXTREME_FULL_Q_PAIRS = [*EXTREME_Q_PAIRS, ("30", "30")]
EXTREME_FULL_C_GRID = [*EXTREME_C_GRID, "-0.5", "0.3", "0.999999"]
# check samples: (name, params, q1, q2, nominal c)
EXTREME_GL_REFINE_SAMPLE = [
    ("tanh", {}, "1e4", "1e4", "0.999999999999"),
    ("softsign", {}, "1e-3", "1e3", "-0.999999999999"),
    ("softsign", {}, "1e4", "1e4", "0.999999999999"),
    ("silu", {}, "1e-6", "1e-6", "0.999999999999"),
    ("softplus", {}, "1e4", "1e4", "-0.999999999999"),
]
EXTREME_CF_REFINE_SAMPLE = [
    ("hard_tanh", {"a": 1.0}, "1e4", "1e4", "0.999999999999"),
    ("hard_tanh", {"a": 1.0}, "1e-6", "1e-6", "-0.999999999999"),
    ("elu", {"alpha": 1.0}, "1e-3", "1e3", "-0.999999999999"),
    ("gelu", {}, "1e4", "3", "0.99"),
    ("hard_tanh", {"a": 1.0}, "1e-3", "1e3", "0.99"),
]
EXTREME_GL_VS_CF_SAMPLE = [
    ("hard_tanh", {"a": 1.0}, "1e4", "1e4", "0.999999999999"),
    ("hard_tanh", {"a": 1.0}, "1e-3", "1e3", "0.99"),
    ("elu", {"alpha": 1.0}, "1e-3", "1e3", "-0.999999999999"),
    ("elu", {"alpha": 1.0}, "1e4", "1e4", "0.99"),
    ("gelu", {}, "1e4", "3", "0.999999999999"),
    ("gelu", {}, "1e-6", "1e-6", "-0.999999999999"),
    ("relu", {}, "1e4", "3", "-0.999999999999"),
]


def exact_c(cs):
    """the binary64 number nearest to the decimal cs, written out exactly.

    The engine receives float(c); next to |c| = 1 the rounding of the decimal
    to binary64 moves 1 - |c| = 1e-12 by up to ~1e-4 relative, which changes
    e.g. E[phi'(u)phi'(v)] of a kinked phi' (terms in sqrt(1 - c)) by more than
    the test tolerance.  The reference is therefore computed at, and stores,
    the exact binary64 value (float() of the stored string gives it back)."""
    from decimal import Decimal

    return str(Decimal(float(cs)))


# --near-diagonal: softsign and linear_region_tanh on the diagonal next to c = 1,
# across the range of the sigprop near-diagonal table (q in [10^-1.5, 10^1.5),
# c >= 0.9375), where the Mehler series cannot reach and the table answers.
NEAR_DIAGONAL_ENTRIES = [("softsign", {}), ("linear_region_tanh", {"a": 1.0})]
NEAR_DIAGONAL_Q_PAIRS = [("0.05", "0.05"), ("0.5", "0.5"), ("3", "3"), ("9", "9"), ("25", "25")]
NEAR_DIAGONAL_C_GRID = ["0.95", "0.995", "0.99999"]
NEAR_DIAGONAL_GL_REFINE_SAMPLE = [
    ("softsign", {}, "25", "25", "0.95"),
    ("linear_region_tanh", {"a": 1.0}, "9", "9", "0.995"),
]

# --off-diagonal: smooth activations at q1 != q2 but close (the (q1, q2) pairs of
# a deep NNGP kernel in the ordered phase: q^l converging to its fixed point),
# c next to +1 and -1.  All four have no closed-form H, so each (q1, q2, c) is one
# nested Gauss-Legendre task that gives phiphi and dphidphi at once.  Self-check:
# a single Gauss-Legendre refinement sample (the closest pair at the c nearest 1).
OFF_DIAGONAL_ENTRIES = [("tanh", {}), ("sigmoid", {}), ("silu", {}), ("softplus", {})]
OFF_DIAGONAL_Q_PAIRS = [
    ("1", "1.01"),
    ("3", "3.3"),
    ("9.75", "9.9"),
    ("9.75", "9.7501"),
    ("0.3", "0.2999"),
]
OFF_DIAGONAL_C_GRID = ["0.999", "0.99999", "0.99999999", "-0.9999"]
OFF_DIAGONAL_GL_REFINE_SAMPLE = [("tanh", {}, "9.75", "9.7501", "0.99999999")]

# --large-q: smooth saturating and relu-like activations at large and far-apart
# variances next to c = 1 (the first layer of an NNGP kernel on raw, unnormalised
# inputs), where the Mehler series cannot reach and sigprop splits the activation into
# sign or relu and a localised remainder (softsign: conditions on one input, in
# logarithmic coordinates).
LARGE_Q_ENTRIES = [
    ("tanh", {}),
    ("sigmoid", {}),
    ("softplus", {}),
    ("shifted_softplus", {}),
    ("silu", {}),
    ("linear_region_tanh", {"a": 1.0}),
    ("softsign", {}),
]
LARGE_Q_PAIRS = [
    ("30", "400"),
    ("250", "3500"),
    ("1800", "1850"),
    ("0.5", "2000"),
    ("0.01", "10"),
    ("3", "9"),
]
LARGE_Q_C_GRID = ["0.96", "0.99", "0.999", "-0.98"]
LARGE_Q_GL_REFINE_SAMPLE = [("tanh", {}, "250", "3500", "0.999")]

# --linear-tail: softplus, shifted_softplus and silu at variances from 150 to 2e6 next to
# c = 1 (1 - c down to 1e-7), where sigprop takes relu's closed form and the remainder's
# in Fourier space (linear_tail_pair.hpp): the nodes of the layer tables of an exploding
# NNGP kernel.
LINEAR_TAIL_ENTRIES = [("softplus", {}), ("shifted_softplus", {}), ("silu", {})]
LINEAR_TAIL_PAIRS = [("150", "400"), ("1e4", "2.5e4"), ("3e5", "1e6"), ("2e6", "2e6")]
LINEAR_TAIL_C_GRID = ["0.998", "0.99995", "0.9999999"]
LINEAR_TAIL_GL_REFINE_SAMPLE = [("silu", {}, "3e5", "1e6", "0.99995")]

# --small-q: the analytic activations with one variance small next to |c| = 1, where
# the tabled coefficients' remainders are known only to rounding and sigprop bounds
# the smaller variance's Hermite tail from the activation's strip of analyticity; ELU
# and SELU at small variances, where sigprop sums the exponential's Taylor series
# against the orthant moments.
SMALL_Q_ENTRIES = [
    ("tanh", {}),
    ("sigmoid", {}),
    ("softplus", {}),
    ("shifted_softplus", {}),
    ("silu", {}),
    # ELU and SELU at small variances: the exponential's Taylor series against the
    # orthant moments (elu_small_variance.hpp)
    ("elu", {"alpha": 1.0}),
    ("elu", {"alpha": 0.5}),
    ("selu", {}),
    # linear_region_tanh with the smaller variance's input inside [-a, a]: Stein's lemma
    ("linear_region_tanh", {"a": 1.0}),
    # softsign: conditioned on the larger variance's input, the power series' pieces
    ("softsign", {}),
]
SMALL_Q_PAIRS = [
    ("1e-8", "1e4"),
    ("1e-6", "30"),
    ("1e-4", "0.03"),
    ("3e-3", "300"),
    ("0.02", "2"),
    ("0.3", "1.5"),
]
SMALL_Q_C_GRID = ["0.999", "0.999999999", "-0.9999"]
SMALL_Q_GL_REFINE_SAMPLE = [("softplus", {}, "1e-8", "1e4", "0.999")]

# --small-both: softsign with both variances small (1e-7 to 5e-3) next to |c| = 1, on
# and off the diagonal, where sigprop sums its power series on both sides against the
# orthant moments (softsign_small_variances, small_variance.hpp).
SMALL_BOTH_ENTRIES = [("softsign", {})]
SMALL_BOTH_PAIRS = [("1e-7", "1.0000001e-7"), ("1e-5", "3e-3"), ("1e-3", "4e-3"), ("5e-3", "5e-3")]
SMALL_BOTH_C_GRID = ["0.96", "0.999", "0.999999999", "-0.9999"]
SMALL_BOTH_GL_REFINE_SAMPLE = [("softsign", {}, "1e-5", "3e-3", "0.999")]


# The modes that are a plain grid (entries x q pairs x c) with Gauss-Legendre refine
# samples only: their grids, samples, flag and output file.
GRID_MODES = {
    "near_diagonal": (
        NEAR_DIAGONAL_ENTRIES,
        NEAR_DIAGONAL_Q_PAIRS,
        NEAR_DIAGONAL_C_GRID,
        NEAR_DIAGONAL_GL_REFINE_SAMPLE,
        "--near-diagonal",
        "reference_2d_near_diagonal.json",
    ),
    "off_diagonal": (
        OFF_DIAGONAL_ENTRIES,
        OFF_DIAGONAL_Q_PAIRS,
        OFF_DIAGONAL_C_GRID,
        OFF_DIAGONAL_GL_REFINE_SAMPLE,
        "--off-diagonal",
        "reference_2d_off_diagonal.json",
    ),
    "large_q": (
        LARGE_Q_ENTRIES,
        LARGE_Q_PAIRS,
        LARGE_Q_C_GRID,
        LARGE_Q_GL_REFINE_SAMPLE,
        "--large-q",
        "reference_2d_large_q.json",
    ),
    "linear_tail": (
        LINEAR_TAIL_ENTRIES,
        LINEAR_TAIL_PAIRS,
        LINEAR_TAIL_C_GRID,
        LINEAR_TAIL_GL_REFINE_SAMPLE,
        "--linear-tail",
        "reference_2d_linear_tail.json",
    ),
    "small_q": (
        SMALL_Q_ENTRIES,
        SMALL_Q_PAIRS,
        SMALL_Q_C_GRID,
        SMALL_Q_GL_REFINE_SAMPLE,
        "--small-q",
        "reference_2d_small_q.json",
    ),
    "small_both": (
        SMALL_BOTH_ENTRIES,
        SMALL_BOTH_PAIRS,
        SMALL_BOTH_C_GRID,
        SMALL_BOTH_GL_REFINE_SAMPLE,
        "--small-both",
        "reference_2d_small_both.json",
    ),
}


def main_extreme(args, mode="extreme"):
    """--extreme, --near-diagonal, --off-diagonal, --large-q, --small-q, --small-both or
    --linear-tail (mode "extreme", "near_diagonal", "off_diagonal", "large_q", "small_q",
    "small_both", "linear_tail")."""
    t_start = time.time()
    mp.dps = BASE_DPS
    if mode in GRID_MODES:
        entries, qpairs, cgrid, gl_sample, label, out_name = GRID_MODES[mode]
        cf_sample, x_sample = [], []
    else:
        assert mode == "extreme", mode
        entries = EXTREME_ENTRIES
        qpairs = EXTREME_FULL_Q_PAIRS if args.extreme_full else EXTREME_Q_PAIRS
        cgrid = EXTREME_FULL_C_GRID if args.extreme_full else EXTREME_C_GRID
        gl_sample = EXTREME_GL_REFINE_SAMPLE
        cf_sample, x_sample = EXTREME_CF_REFINE_SAMPLE, EXTREME_GL_VS_CF_SAMPLE
        label, out_name = "--extreme", "reference_2d_extreme.json"
    ents = [ENTRIES.index(e) for e in entries]
    if args.quick:
        ents = [ENTRIES.index(e) for e in entries[:2]]
        qpairs = qpairs[:2]
        cgrid = [cgrid[0], cgrid[-1]]
    cx = {
        cs: exact_c(cs)
        for cs in [
            *EXTREME_FULL_C_GRID,
            *NEAR_DIAGONAL_C_GRID,
            *OFF_DIAGONAL_C_GRID,
            *LARGE_Q_C_GRID,
            *SMALL_Q_C_GRID,
            *SMALL_BOTH_C_GRID,
            *LINEAR_TAIL_C_GRID,
        ]
    }
    is_gl = {ei: Act(*ENTRIES[ei]).H is None for ei in range(len(ENTRIES))}

    def main_task(ei, qty, q1s, q2s, cs):
        if is_gl[ei]:
            return ("2d", ei, "both", q1s, q2s, cx[cs], False, None)
        return ("2d", ei, qty, q1s, q2s, cx[cs], False, None)

    tasks = []
    for ei in ents:
        for q1s, q2s in qpairs:
            for cs in cgrid:
                for qty in QUANTITIES_2D:
                    t = main_task(ei, qty, q1s, q2s, cs)
                    if t not in tasks:
                        tasks.append(t)
    checks_gl, checks_cf, checks_x = [], [], []
    if not args.no_checks and not args.quick:
        for name, params, q1s, q2s, cs in gl_sample:
            ei = ENTRIES.index((name, params))
            assert is_gl[ei]
            checks_gl.append((ei, q1s, q2s, cs))
            tasks.append(("2d", ei, "both", q1s, q2s, cx[cs], True, None))
        for name, params, q1s, q2s, cs in cf_sample:
            ei = ENTRIES.index((name, params))
            assert not is_gl[ei]
            checks_cf.append((ei, q1s, q2s, cs))
            for qty in QUANTITIES_2D:
                tasks.append(("2d", ei, qty, q1s, q2s, cx[cs], True, None))
        for name, params, q1s, q2s, cs in x_sample:
            ei = ENTRIES.index((name, params))
            assert not is_gl[ei]
            checks_x.append((ei, q1s, q2s, cs))
            tasks.append(("2d", ei, "both", q1s, q2s, cx[cs], False, "gl"))

    def cost(t):
        return (1e5 if t[6] else 1e3 if t[2] == "both" else 10) * (
            3 if "linear_region" in ENTRIES[t[1]][0] else 1
        )

    tasks.sort(key=cost, reverse=True)
    print(f"{len(tasks)} tasks on {args.procs} processes", flush=True)
    res = run_all(tasks, args.procs, cache=args.cache)
    errors = [t for t, r in res.items() if r[1].get("error")]
    if errors:
        for t in errors:
            print("FAILED", t, res[t][1]["error"], file=sys.stderr)
        sys.exit(1)

    def rel(a, b):
        mp.dps = 45  # the 34-digit check strings must not be rounded
        a, b = mpf(a), mpf(b)
        if a == b:
            return mpf(0)
        return abs(a - b) / max(abs(a), abs(b))

    def both(t):
        """(values, hp strings) of a task, as lists over QUANTITIES_2D"""
        v, info, _dt = res[t]
        if t[2] == "both":
            return v, [i["hp"] for i in info["both"]], info["both"]
        return [v], [info["hp"]], [info]

    notes = []
    cases = []
    val = {}
    for ei in ents:
        name, params = ENTRIES[ei]
        for q1s, q2s in qpairs:
            for cs in cgrid:
                for iq, qty in enumerate(QUANTITIES_2D):
                    t = main_task(ei, qty, q1s, q2s, cs)
                    vs, hps, infos = both(t)
                    k = iq if t[2] == "both" else 0
                    if infos[k].get("warning"):
                        notes.append(
                            f"{name} {params} {qty} {q1s} {q2s} {cs}: {infos[k]['warning']}"
                        )
                    val[(ei, qty, q1s, q2s, cs)] = hps[k]
                    cases.append(
                        {
                            "activation": name,
                            "params": params,
                            "quantity": qty,
                            "q1": q1s,
                            "q2": q2s,
                            "c": cx[cs],
                            "c_nominal": cs,
                            "value": vs[k],
                        }
                    )

    checks = {}

    def worst_of(pairs):
        worst = (mpf(0), None)
        for a, b, where in pairs:
            r = rel(a, b)
            if r > worst[0]:
                worst = (r, where)
        return {"n": len(pairs), "max_rel_diff": mp.nstr(worst[0], 3), "where": str(worst[1])}

    pairs = []
    for (ei, qty, q1s, q2s, cs), v in val.items():
        name, params = ENTRIES[ei]
        with mp.workdps(BASE_DPS + 10):
            cf = closed_2d(name, params, qty, mpf(q1s), mpf(q2s), mpf(cx[cs]))
        if cf is not None:
            pairs.append((v, mp.nstr(cf, 34), (name, qty, q1s, q2s, cs)))
    checks["2d_closed_forms"] = {"what": "relu (arc-cosine kernel), erf (arcsine kernel)"}
    checks["2d_closed_forms"].update(worst_of(pairs))
    if checks_gl:
        pairs = []
        for ei, q1s, q2s, cs in checks_gl:
            _v, hps, _i = both(("2d", ei, "both", q1s, q2s, cx[cs], True, None))
            for iq, qty in enumerate(QUANTITIES_2D):
                pairs.append(
                    (hps[iq], val[(ei, qty, q1s, q2s, cs)], (ENTRIES[ei], qty, q1s, q2s, cs))
                )
        checks["2d_gauss_legendre_refinement"] = {
            "what": "Gauss-Legendre cases recomputed with +8 nodes per piece,"
            " halved pieces and finer grading"
        }
        checks["2d_gauss_legendre_refinement"].update(worst_of(pairs))
    if checks_cf:
        pairs = []
        for ei, q1s, q2s, cs in checks_cf:
            for qty in QUANTITIES_2D:
                _v, hps, _i = both(("2d", ei, qty, q1s, q2s, cx[cs], True, None))
                pairs.append(
                    (hps[0], val[(ei, qty, q1s, q2s, cs)], (ENTRIES[ei], qty, q1s, q2s, cs))
                )
        checks["2d_closed_form_H_refinement"] = {
            "what": "closed-form-H cases recomputed with denser outer split "
            "points and mpmath.quad maxdegree+2"
        }
        checks["2d_closed_form_H_refinement"].update(worst_of(pairs))
    if checks_x:
        pairs = []
        for ei, q1s, q2s, cs in checks_x:
            _v, hps, _i = both(("2d", ei, "both", q1s, q2s, cx[cs], False, "gl"))
            for iq, qty in enumerate(QUANTITIES_2D):
                pairs.append(
                    (hps[iq], val[(ei, qty, q1s, q2s, cs)], (ENTRIES[ei], qty, q1s, q2s, cs))
                )
        checks["2d_gl_vs_closed_form_H"] = {
            "what": "independent recomputation of closed-form-H cases by nested "
            "Gauss-Legendre (inner Gauss-Legendre instead of the closed form, "
            "outer Gauss-Legendre instead of mpmath.quad)"
        }
        checks["2d_gl_vs_closed_form_H"].update(worst_of(pairs))

    elapsed = time.time() - t_start
    for k, v in checks.items():
        print(f"CHECK {k:<32s} max rel diff {v['max_rel_diff']}  ({v.get('where')})")
    for nline in notes:
        print("NOTE", nline)
    print(f"2D {label} cases: {len(cases)}, time {elapsed:.0f} s", flush=True)
    if args.quick:
        return
    meta = {
        "dps": BASE_DPS,
        "generated_by": f"scripts/make_reference.py {label}",
        "mpmath": mpmath.__version__,
        "value_format": "mpmath.nstr(value, 25)",
        "c_format": "c is the binary64 number nearest to c_nominal, written out "
        "exactly; values are computed at that c",
        "generation_time_s": round(elapsed),
        "checks": checks,
        "notes": notes,
    }
    os.makedirs(DATA_DIR, exist_ok=True)
    with open(os.path.join(DATA_DIR, out_name), "w") as fh:
        json.dump({"meta": meta, "cases": cases}, fh, indent=1)
        fh.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--procs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument(
        "--quick", action="store_true", help="small subset (smoke test), files not written"
    )
    ap.add_argument("--no-checks", action="store_true")
    ap.add_argument(
        "--extreme",
        action="store_true",
        help="write tests/data/reference_2d_extreme.json only (c next to +-1, "
        "q in [1e-6, 1e4], q1 != q2 far apart)",
    )
    ap.add_argument("--extreme-full", action="store_true", help="--extreme on the full grid")
    ap.add_argument(
        "--near-diagonal",
        action="store_true",
        help="write tests/data/reference_2d_near_diagonal.json only (softsign and "
        "linear_region_tanh on the diagonal, c in [0.95, 1), q in [0.05, 25])",
    )
    ap.add_argument(
        "--off-diagonal",
        action="store_true",
        help="write tests/data/reference_2d_off_diagonal.json only (tanh, sigmoid, "
        "silu, softplus at q1 != q2 close, q in [0.3, 9.9], c next to +1 and -1)",
    )
    ap.add_argument(
        "--large-q",
        action="store_true",
        help="write tests/data/reference_2d_large_q.json only (tanh, sigmoid, softplus, "
        "shifted_softplus, silu, linear_region_tanh, softsign at q in [0.01, 3500], "
        "q1 != q2, "
        "c in [0.96, 0.999] and -0.98)",
    )
    ap.add_argument(
        "--small-q",
        action="store_true",
        help="write tests/data/reference_2d_small_q.json only (tanh, sigmoid, softplus, "
        "shifted_softplus, silu, elu, selu, linear_region_tanh, softsign with one "
        "variance in [1e-8, 0.3], c next to +-1)",
    )
    ap.add_argument(
        "--small-both",
        action="store_true",
        help="write tests/data/reference_2d_small_both.json only (softsign with both "
        "variances in [1e-7, 5e-3], c next to +-1)",
    )
    ap.add_argument(
        "--linear-tail",
        action="store_true",
        help="write tests/data/reference_2d_linear_tail.json only (softplus, "
        "shifted_softplus, silu at q in [150, 2e6], c in [0.998, 1 - 1e-7])",
    )
    ap.add_argument("--cache", help="JSON-lines file of finished tasks (resume an interrupted run)")
    args = ap.parse_args()
    modes = [
        args.extreme or args.extreme_full,
        args.near_diagonal,
        args.off_diagonal,
        args.large_q,
        args.small_q,
        args.small_both,
        args.linear_tail,
    ]
    if sum(bool(m) for m in modes) > 1:
        ap.error(
            "--extreme, --near-diagonal, --off-diagonal, --large-q, --small-q, "
            "--small-both and --linear-tail are exclusive"
        )
    if any(modes):
        mode = (
            "near_diagonal"
            if args.near_diagonal
            else "off_diagonal"
            if args.off_diagonal
            else "large_q"
            if args.large_q
            else "small_q"
            if args.small_q
            else "small_both"
            if args.small_both
            else "linear_tail"
            if args.linear_tail
            else "extreme"
        )
        main_extreme(args, mode=mode)
        return
    t_start = time.time()
    mp.dps = BASE_DPS

    ents = range(len(ENTRIES))
    qgrid = Q_GRID
    qpairs = Q_PAIRS
    cgrid = C_GRID
    if args.quick:
        ents = [1, 11, 15, 18]
        qgrid = ["1e-6", "1", "1e4"]
        qpairs = [("1", "1"), ("1e-2", "10")]
        cgrid = ["-1", "0", "0.5", "0.999999", "1"]

    tasks = []
    for ei in ents:
        for qty in QUANTITIES_1D:
            for qs in qgrid:
                tasks.append(("1d", ei, qty, qs, False))
                if not args.no_checks:
                    tasks.append(("1d", ei, qty, qs, True))
    for ei in ents:
        gl = Act(*ENTRIES[ei]).H is None
        for q1s, q2s in qpairs:
            for cs in cgrid:
                if gl and cs not in ("0", "1", "-1"):
                    tasks.append(("2d", ei, "both", q1s, q2s, cs, False, None))
                    continue
                for qty in QUANTITIES_2D:
                    tasks.append(("2d", ei, qty, q1s, q2s, cs, False, None))
    if not args.no_checks:
        for ei, qty, q1s, q2s, cs in NESTED_QUAD_SAMPLE:
            tasks.append(("2d", ei, qty, q1s, q2s, cs, False, "nested_quad"))
        for ei, q1s, q2s, cs in GL_REFINE_SAMPLE:
            tasks.append(("2d", ei, "both", q1s, q2s, cs, True, None))
        for ei, qs in DV_DIFF_SAMPLE:
            tasks.append(("func", "check_dV_diff", (ei, qs)))
        for ei in range(len(ENTRIES)):
            if Act(*ENTRIES[ei]).H is not None:
                tasks.append(("func", "check_H", (ei,)))

    def cost(t):
        if t[0] == "2d":
            if t[7] == "nested_quad":
                return 1e6
            if t[6]:
                return 1e5
            return 1e3 if t[2] == "both" else 10
        if t[0] == "func":
            return 50
        return 1 + (5 if t[4] else 0) + (100 if (t[1] == 15 and float(t[3]) >= 10) else 0)

    tasks.sort(key=cost, reverse=True)
    print(f"{len(tasks)} tasks on {args.procs} processes", flush=True)
    res = run_all(tasks, args.procs)
    errors = [t for t, r in res.items() if r[1].get("error")]
    if errors:
        for t in errors:
            print("FAILED", t, res[t][1]["error"], file=sys.stderr)
        sys.exit(1)

    checks = {}
    notes = []
    mp.dps = BASE_DPS

    def rel(a, b):
        mp.dps = 45  # the 34-digit check strings must not be rounded
        a, b = mpf(a), mpf(b)
        if a == b:
            return mpf(0)
        return abs(a - b) / max(abs(a), abs(b))

    # ---- 1D cases
    cases1 = []
    val1 = {}
    for ei in ents:
        name, params = ENTRIES[ei]
        for qty in QUANTITIES_1D:
            for qs in qgrid:
                v, info, _dt = res[("1d", ei, qty, qs, False)]
                case = {"activation": name, "params": params, "quantity": qty, "q": qs}
                if v is None:
                    # oscillatory cancellation not resolvable at the cost
                    # cap: only sin dV at q >= 1e3 (value e^{-2q} < 1e-300)
                    assert name == "sin" and qty == "dV", (name, qty, qs)
                    with mp.workdps(BASE_DPS):
                        ex = mp.exp(-2 * mpf(qs))
                    assert ex < mpf("1e-300")
                    v = mpmath.nstr(ex, 25)
                    case["note"] = (
                        "below 1e-300: quadrature cannot resolve "
                        "the oscillatory cancellation; closed "
                        "form exp(-2q) stored"
                    )
                    notes.append(f"sin dV q={qs}: closed form stored ({v})")
                case["value"] = v
                val1[(ei, qty, qs)] = info.get("hp", v)
                cases1.append(case)
    if not args.no_checks:
        worst = (mpf(0), None)
        for ei in ents:
            for qty in QUANTITIES_1D:
                for qs in qgrid:
                    a = res[("1d", ei, qty, qs, False)][1].get("hp")
                    b = res[("1d", ei, qty, qs, True)][1].get("hp")
                    if a is None or b is None:
                        continue
                    r = rel(a, b)
                    if r > worst[0]:
                        worst = (r, (ENTRIES[ei], qty, qs))
        checks["1d_refinement_all_cases"] = {
            "what": "every 1D value recomputed with denser split points and "
            "mpmath.quad maxdegree+2",
            "max_rel_diff": mp.nstr(worst[0], 3),
            "where": str(worst[1]),
        }
    worst = (mpf(0), None)
    ncf = 0
    for ei in ents:
        name, params = ENTRIES[ei]
        for qty in QUANTITIES_1D:
            for qs in qgrid:
                v = val1[(ei, qty, qs)]
                if v == "inf":
                    continue
                with mp.workdps(BASE_DPS + 30):  # e.g. selu mean at q=1
                    cf = closed_1d(name, params, qty, mpf(qs))
                if cf is None:
                    continue
                ncf += 1
                r = rel(v, cf)
                if r > worst[0]:
                    worst = (r, (name, params, qty, qs, v, mp.nstr(cf, 25)))
    checks["1d_closed_forms"] = {
        "what": "linear, relu, leaky_relu, hard_tanh, shifted_relu, "
        "soft_threshold, linear_floor, elu, selu, erf, sin, gelu mean,"
        " odd means, sigmoid mean (dV of piecewise-linear/elu via "
        "mpmath.diff of closed-form phi_sq)",
        "n": ncf,
        "max_rel_diff": mp.nstr(worst[0], 3),
        "where": str(worst[1]),
    }
    if not args.no_checks:
        worst = (mpf(0), None)
        for ei, qs in DV_DIFF_SAMPLE:
            d = res[("func", "check_dV_diff", (ei, qs))][0]
            v = val1.get((ei, "dV", qs))
            if v is None:
                continue
            r = rel(v, d)
            if r > worst[0]:
                worst = (r, (ENTRIES[ei], qs))
        checks["1d_dV_vs_mpmath_diff"] = {
            "what": "dV against mpmath.diff(q -> phi_sq quadrature)",
            "n": len(DV_DIFF_SAMPLE),
            "max_rel_diff": mp.nstr(worst[0], 3),
            "where": str(worst[1]),
        }

    # ---- 2D cases
    cases2 = []
    val2 = {}
    for ei in ents:
        name, params = ENTRIES[ei]
        gl = Act(name, params).H is None
        for q1s, q2s in qpairs:
            for cs in cgrid:
                for iq, qty in enumerate(QUANTITIES_2D):
                    if gl and cs not in ("0", "1", "-1"):
                        vs = res[("2d", ei, "both", q1s, q2s, cs, False, None)]
                        v, info = vs[0][iq], vs[1]["both"][iq]
                    else:
                        v, info, _ = res[("2d", ei, qty, q1s, q2s, cs, False, None)]
                    if info.get("warning"):
                        notes.append(
                            "{} {} {} {} {} {}: {}".format(
                                name, params, qty, q1s, q2s, cs, info["warning"]
                            )
                        )
                    val2[(ei, qty, q1s, q2s, cs)] = info.get("hp", v)
                    cases2.append(
                        {
                            "activation": name,
                            "params": params,
                            "quantity": qty,
                            "q1": q1s,
                            "q2": q2s,
                            "c": cs,
                            "value": v,
                        }
                    )
    worst = (mpf(0), None)
    ncf = 0
    for (ei, qty, q1s, q2s, cs), v in val2.items():
        name, params = ENTRIES[ei]
        with mp.workdps(BASE_DPS + 10):
            cf = closed_2d(name, params, qty, mpf(q1s), mpf(q2s), mpf(cs))
        if cf is None:
            continue
        ncf += 1
        r = rel(v, cf)
        if r > worst[0]:
            worst = (r, (name, qty, q1s, q2s, cs, v, mp.nstr(cf, 25)))
    checks["2d_closed_forms"] = {
        "what": "linear, relu (arc-cosine kernel), erf, sin",
        "n": ncf,
        "max_rel_diff": mp.nstr(worst[0], 3),
        "where": str(worst[1]),
    }
    worst = (mpf(0), None)
    n = 0
    for (ei, qty, q1s, q2s, cs), v in val2.items():
        if cs != "1" or q1s != q2s or q1s not in qgrid:
            continue
        q1 = q1s
        v1 = val1[(ei, "phi_sq" if qty == "phiphi" else "dphi_sq", q1)]
        n += 1
        r = rel(v, v1)
        if r > worst[0]:
            worst = (r, (ENTRIES[ei], qty, q1s))
    checks["2d_c1_vs_1d"] = {
        "what": "c=1, q1=q2 against 1D phi_sq/dphi_sq",
        "n": n,
        "max_rel_diff": mp.nstr(worst[0], 3),
        "where": str(worst[1]),
    }
    if not args.no_checks:
        worst = (mpf(0), None)
        for ei, qty, q1s, q2s, cs in NESTED_QUAD_SAMPLE:
            a = res[("2d", ei, qty, q1s, q2s, cs, False, "nested_quad")][1]["hp"]
            b = val2[(ei, qty, q1s, q2s, cs)]
            r = rel(a, b)
            if r > worst[0]:
                worst = (r, (ENTRIES[ei], qty, q1s, q2s, cs))
        checks["2d_vs_nested_adaptive_quad"] = {
            "what": "independent recomputation: outer mpmath.quad, inner "
            "mpmath.quad (no closed forms, no Gauss-Legendre)",
            "n": len(NESTED_QUAD_SAMPLE),
            "max_rel_diff": mp.nstr(worst[0], 3),
            "where": str(worst[1]),
        }
        worst = (mpf(0), None)
        for ei, q1s, q2s, cs in GL_REFINE_SAMPLE:
            a = [inf["hp"] for inf in res[("2d", ei, "both", q1s, q2s, cs, True, None)][1]["both"]]
            for iq, qty in enumerate(QUANTITIES_2D):
                r = rel(a[iq], val2[(ei, qty, q1s, q2s, cs)])
                if r > worst[0]:
                    worst = (r, (ENTRIES[ei], qty, q1s, q2s, cs))
        checks["2d_gauss_legendre_refinement"] = {
            "what": "Gauss-Legendre cases recomputed with +8 nodes per piece,"
            " halved pieces and finer grading",
            "n": 2 * len(GL_REFINE_SAMPLE),
            "max_rel_diff": mp.nstr(worst[0], 3),
            "where": str(worst[1]),
        }
        worst = (mpf(0), None)
        for ei in range(len(ENTRIES)):
            t = ("func", "check_H", (ei,))
            if t in res and mpf(res[t][0]) > worst[0]:
                worst = (mpf(res[t][0]), ENTRIES[ei])
        checks["2d_closed_form_H_vs_inner_quad"] = {
            "what": "closed-form inner expectations against inner "
            "mpmath.quad at 7 (m, b) points, phi and phi'",
            "max_rel_diff": mp.nstr(worst[0], 3),
            "where": str(worst[1]),
        }

    elapsed = time.time() - t_start
    for k, v in checks.items():
        print(f"CHECK {k:<32s} max rel diff {v['max_rel_diff']}  ({v.get('where')})")
    for nline in notes:
        print("NOTE", nline)
    print(f"1D cases: {len(cases1)}, 2D cases: {len(cases2)}, time {elapsed:.0f} s")
    meta = {
        "dps": BASE_DPS,
        "generated_by": "scripts/make_reference.py",
        "mpmath": mpmath.__version__,
        "value_format": "mpmath.nstr(value, 25); 'inf' for infinite",
        "checks": checks,
        "notes": notes,
    }
    if args.quick:
        return
    os.makedirs(DATA_DIR, exist_ok=True)
    for fname, cases in (("reference_1d.json", cases1), ("reference_2d.json", cases2)):
        with open(os.path.join(DATA_DIR, fname), "w") as fh:
            json.dump({"meta": meta, "cases": cases}, fh, indent=1)
            fh.write("\n")


if __name__ == "__main__":
    main()
