"""The bivariate normal orthants and the piecewise closed forms built on them.

csrc/sigprop/bivariate_normal.hpp: P(X > h, Y > k) (Genz's BVNU) and the truncated
moments E[X], E[Y], E[XY] over the orthant, optionally scaled by e^tilt, each with
an error estimate; checked against mpmath at 30 digits (mpmath has no bivariate
normal CDF: one-dimensional integrals over x of npdf(x) times the conditional
tail of Y), next to |r| = 1 (1 - |r| = 1e-12, 1e-6) and in the tails. The
estimate must bound the actual error (the closed forms decide from it whether
they may be used).

csrc/sigprop/piecewise_closed_forms.hpp: E[phi(u) phi(v)], E[phi'(u) phi'(v)] for
hard_tanh, shifted_relu, soft_threshold, linear_floor, elu, selu, against the
30-digit references of tests/data/reference_2d_piecewise.json
(scripts/make_reference_piecewise.py) and against the nested quadrature
(_core.bivariate_nested_quadrature, which uses no closed form) on random points of
q1, q2 in [1e-6, 1e4], c in [-1, 1].

Same file, threshold_price: shifted_relu and soft_threshold with the threshold many
standard deviations out, by Price's theorem over the orthant density, to relative
accuracy, against mpmath at 30 digits (the outer integral over x of the closed-form
conditional ramp, normalised by its largest value: mpmath's tolerance is absolute),
its Gauss-Laguerre form among them; the same thresholds next to c = 1 (Price's
theorem from c = 1, two_point.hpp) and beyond the double range. hard_tanh and
linear_floor in their linear region (Stein's lemma) against the nested quadrature.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest

import sigprop as sp
from sigprop import _core

DATA = Path(__file__).parent / "data"
KINDS = ["hard_tanh", "shifted_relu", "soft_threshold", "linear_floor", "elu", "selu"]
TOL = 1e-13  # of the Cauchy-Schwarz scale

with open(DATA / "reference_2d_piecewise.json") as _fh:
    CASES = json.load(_fh)["cases"]


def _orthant_ref(h, k, r):
    """30-digit (P, E[X], E[Y], E[XY]) over {X > h, Y > k}, r the exact binary64 value."""
    with mp.workdps(30):
        h, k, r = mp.mpf(h), mp.mpf(k), mp.mpf(r)
        s = mp.sqrt((1 - r) * (1 + r))

        def z(x):
            return (k - r * x) / s

        def ey(x):  # E[Y 1{Y > k} | X = x]
            return r * x * mp.ncdf(-z(x)) + s * mp.npdf(z(x))

        pts = [h]
        if r != 0:
            xk = k / r  # the conditional step, width s / |r|
            for off in (-50, -10, -2, 0, 2, 10, 50):
                p = xk + off * s / abs(r)
                if p > pts[-1]:
                    pts.append(p)
        pts.append(mp.inf)
        out = []
        for f in (
            lambda x: mp.npdf(x) * mp.ncdf(-z(x)),
            lambda x: x * mp.npdf(x) * mp.ncdf(-z(x)),
            lambda x: mp.npdf(x) * ey(x),
            lambda x: x * mp.npdf(x) * ey(x),
        ):
            out.append(mp.quad(f, pts))
        return out


ORTHANT_POINTS = [
    (0.3, -0.7, 0.5),
    (1.2, 1.1, 0.95),
    (-2.0, 0.5, -0.97),
    (0.8, 0.8, 1 - 1e-12),
    (0.8, 0.8 + 1e-7, 1 - 1e-12),
    (-1.5, 1.5, -1 + 1e-12),
    (0.5, -0.4, -1 + 1e-6),
    (2.0, 2.5, 1 - 1e-6),
    (5.5, 4.0, 0.3),
    (7.0, 7.5, 0.8),
    (-6.0, -5.0, -0.2),
    (3.0, -8.0, 0.9),
    (1e-3, -1e-3, 0.1),
]


@pytest.mark.parametrize("h,k,r", ORTHANT_POINTS)
def test_orthant_moments_match_mpmath(h, k, r):
    (p, ex, ey, exy), (ep, eex, eey, eexy) = _core.normal_orthant(h, k, r, 1.0 - r, 1.0 + r)
    ref = [float(v) for v in _orthant_ref(h, k, r)]
    for got, want, est in zip((p, ex, ey, exy), ref, (ep, eex, eey, eexy), strict=True):
        err = abs(got - want)
        # ~1e-16 absolute, and the estimate bounds the error
        assert err <= 4e-16 * max(1.0, abs(want)), (got, want)
        assert err <= est + 1e-17 * abs(want) + 1e-300, (got, want, est)
    # symmetry: swapping (h, k) swaps E[X] and E[Y]
    (p2, ex2, ey2, exy2), _ = _core.normal_orthant(k, h, r, 1.0 - r, 1.0 + r)
    assert p2 == pytest.approx(p, abs=4e-16)
    assert ex2 == pytest.approx(ey, abs=4e-16)
    assert ey2 == pytest.approx(ex, abs=4e-16)
    assert exy2 == pytest.approx(exy, abs=4e-16)


@pytest.mark.parametrize("h,k,r,tilt", [(3.0, 1.0, 0.5, 4.5), (6.0, 6.0, 0.9, 18.0)])
def test_orthant_tilt_scales_without_overflow(h, k, r, tilt):
    (p, ex, ey, exy), (ep, *_r) = _core.normal_orthant(h, k, r, 1.0 - r, 1.0 + r, tilt)
    ref = _orthant_ref(h, k, r)
    with mp.workdps(30):
        want = [float(mp.exp(tilt) * v) for v in ref]
    for got, w in zip((p, ex, ey, exy), want, strict=True):
        assert abs(got - w) <= max(1e-14 * abs(w), ep), (got, w)


def _orthant_tail_ref(h, k, r, tilt):
    """e^tilt P(X > h, Y > k) at 40 digits, for a threshold far out: the integral over
    the variable with the larger threshold, x = h + w, its mesh graded on the scale 1 / h
    of the density's decay and at the conditional step."""
    with mp.workdps(40):
        h, k, r, tilt = mp.mpf(h), mp.mpf(k), mp.mpf(r), mp.mpf(tilt)
        if k > h:
            h, k = k, h
        s = mp.sqrt((1 - r) * (1 + r))

        def f(w):
            return mp.exp(tilt - (h + w) ** 2 / 2) * mp.ncdf((r * (h + w) - k) / s)

        pts = {mp.mpf(0)} | {mp.mpf(2) ** j / h for j in range(-4, 8)}
        if r != 0:
            wk = (k - r * h) / r
            pts |= {wk + o * s / abs(r) for o in (-20, -5, -1, 0, 1, 5, 20)}
        pts = [*sorted(p for p in pts if p >= 0), mp.inf]
        return mp.quad(f, pts) / mp.sqrt(2 * mp.pi)


@pytest.mark.parametrize(
    "h,k,r",
    [
        (8.0, 7.5, 0.9),
        (12.0, 3.0, 0.5),
        (20.0, 19.0, 0.99),
        (30.0, 29.5, 0.999),
        (25.0, 1.0, 0.2),
        (4.0, 10.0, 0.97),
        (6.0, -2.0, -0.8),
        (20.0, 19.9, 0.99999),  # a step narrower than 1 / h: the adaptive rule
        # k = r h (the step at w = 0, as in elu's and selu's E[phi' phi'] next to |c| =
        # 1), 1-2 / h wide: the adaptive rule on the density's grading alone; 2 / h wide
        # and more: Gauss-Laguerre
        (6.0, 5.82, 0.97),
        (6.0, -5.82, -0.97),
        (20.0, -19.93, -0.9965),
        (10.0, 9.8, 0.98),
        (6.0, 5.9, 0.966),  # the step 0.4 of its width right of w = 0
        (16.0, -15.4, -0.996),  # and 6 widths left of it
    ],
)
def test_orthant_far_tail_matches_mpmath(h, k, r):
    # thresholds far out, where the orthant's value comes from the one-dimensional tail
    # integral (Gauss-Laguerre in h w where the conditional step is resolved on that
    # scale, the adaptive rule elsewhere): relative accuracy, within its own estimate
    tilt = 0.5 * max(h, k) ** 2
    (p, *_m), (ep, *_e) = _core.normal_orthant(h, k, r, 1.0 - r, 1.0 + r, tilt)
    want = float(_orthant_tail_ref(h, k, r, tilt))
    assert abs(p - want) <= 1e-14 * want, (p, want)
    assert abs(p - want) <= ep + 1e-17 * want, (p, want, ep)


def test_orthant_limits():
    # independent: product of tails; r -> 1: min of tails; r -> -1 and disjoint: 0
    (p, *_), _e = _core.normal_orthant(0.5, -0.3, 0.0, 1.0, 1.0)
    assert p == pytest.approx(sp_nsf(0.5) * sp_nsf(-0.3), rel=1e-15)
    (p, *_), _e = _core.normal_orthant(0.5, -0.3, 1 - 2**-52, 2**-52, 2 - 2**-52)
    assert p == pytest.approx(sp_nsf(0.5), rel=1e-7)
    (p, *_), _e = _core.normal_orthant(0.5, 0.3, -1 + 2**-52, 2 - 2**-52, 2**-52)
    assert abs(p) < 1e-16
    with pytest.raises(ValueError):
        _core.normal_orthant(0.0, 0.0, 1.0, 0.0, 2.0)


def sp_nsf(x):
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def _scale(act, d, q1, q2):
    m1, m2 = sp.gaussian_moments(act, q1), sp.gaussian_moments(act, q2)
    f1, f2 = (m1.phi_sq, m2.phi_sq) if d == 0 else (m1.dphi_sq, m2.dphi_sq)
    return math.sqrt(f1) * math.sqrt(f2)


def _case_id(case):
    return (
        f"{case['activation']}-{case['quantity']}-q{case['q1']},{case['q2']}-c{case['c_nominal']}"
    )


def test_reference_file_covers_the_regimes():
    assert {c["activation"] for c in CASES} == set(KINDS)
    for name in KINDS:
        sel = [c for c in CASES if c["activation"] == name]
        assert any(1 - float(c["c"]) < 1e-11 for c in sel)
        assert any(1 + float(c["c"]) < 1e-11 for c in sel)
        assert any(float(c["q1"]) >= 1e4 for c in sel)
        assert any(float(c["q1"]) <= 1e-4 for c in sel)
        assert any(float(c["q1"]) != float(c["q2"]) for c in sel)


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_piecewise_against_mpmath(case):
    act = sp.activation(case["activation"], **case["params"])
    q1, q2, c = float(case["q1"]), float(case["q2"]), float(case["c"])
    d = {"phiphi": 0, "dphidphi": 1}[case["quantity"]]
    ref = float(case["value"])
    scale = _scale(act, d, q1, q2)
    p0, p1 = act.core_params
    closed = _core.piecewise_closed_form(act.kind, p0, p1, d, q1, q2, c)
    if not math.isnan(closed):
        assert abs(closed - ref) <= TOL * scale, (closed, ref, scale)
    # the engine, whichever path serves the point (closed form, hard_tanh's sign form,
    # Price's theorem, series): 1e-12 of the scale (at 1e-10, a sign form 2.8e-12 off
    # next to c = 1 at q ~ 10 had passed)
    got = float(sp.bivariate_expectation(act, q1, q2, c, derivative=d))
    assert abs(got - ref) <= 1e-12 * scale, (got, ref, scale)


def test_piecewise_used_where_expected():
    # moderate variances, c anywhere (c* next to 1 included): the closed form applies
    for name in KINDS:
        act = sp.activation(name)
        p0, p1 = act.core_params
        for d in (0, 1):
            for q1, q2, c in [(1.0, 1.0, 0.5), (1.0, 1.0, 1 - 1e-12), (0.7, 2.0, -1 + 1e-9)]:
                v = _core.piecewise_closed_form(act.kind, p0, p1, d, q1, q2, c)
                assert not math.isnan(v), (name, d, q1, q2, c)


# one variance of 1e3-1e4 next to |c| = 1 (the reference file's last points)
TILTED_FAR_OUT = [
    (91.0, 9640.0, -0.985234),
    (0.362, 9610.0, 0.987963),
    (206.0, 8070.0, 0.986952),
    (1170.0, 3620.0, -0.997437),
]


@pytest.mark.parametrize("d", [0, 1])
@pytest.mark.parametrize("q1,q2,c", TILTED_FAR_OUT)
def test_elu_closed_form_serves_far_out(q1, q2, c, d):
    # phi: the linear term on the free variable times the exponential of the other,
    # tilted ~sqrt(q2) standard deviations out, summed as raw orthant moments, cancels to
    # 1e-4 (a selu error estimate of 1.2e-13 of the scale, past the tolerance: 60-90 us of
    # nested quadrature); as the boundary's terms and partial moments (one_sided_tilted)
    # it does not. phi': the engine takes the closed form with the tail quadrature (to
    # the scale, as everywhere), where the nested quadrature took ~60 us.
    for name in ("elu", "selu"):
        act = sp.activation(name)
        p0, p1 = act.core_params
        v = _core.piecewise_closed_form(act.kind, p0, p1, d, q1, q2, c)
        assert not math.isnan(v), (name, q1, q2, c)
        if d == 1:
            assert float(sp.bivariate_expectation(act, q1, q2, c, derivative=1)) == v
        ref, ok = _core.bivariate_nested_quadrature(act.kind, p0, p1, d, q1, q2, c)
        assert ok and abs(v - ref) <= TOL * _scale(act, d, q1, q2), (name, v, ref)


@pytest.mark.parametrize("name", ["elu", "selu"])
@pytest.mark.parametrize("d", [0, 1])
def test_closed_form_passes_share_their_orthants(name, d):
    # The dispatch's two passes of the closed form (elu's and selu's next to |c| = 1:
    # phi' in the dispatch, phi through bivariate_direct): the fast path, then where its
    # estimate falls short the pass with the tail quadrature, which reads the fast path's
    # orthants (OrthantMemo: Genz's rules once, the quadrature only where they fell
    # short). The same value, bit for bit, as the tail pass alone, at points where the
    # fast path defers and the tail pass serves.
    act = sp.activation(name)
    p0, p1 = act.core_params
    rng = random.Random(8 + d)
    refined = 0
    for _ in range(60):
        q1, q2 = 10.0 ** rng.uniform(0.5, 4), 10.0 ** rng.uniform(-6, 4)
        c = rng.choice([-1.0, 1.0]) * (1.0 - 10.0 ** rng.uniform(-3, math.log10(0.05)))
        tail = _core.piecewise_closed_form(act.kind, p0, p1, d, q1, q2, c, passes="tail")
        fast = _core.piecewise_closed_form(act.kind, p0, p1, d, q1, q2, c, passes="fast")
        both = _core.piecewise_closed_form(act.kind, p0, p1, d, q1, q2, c, passes="fast_then_tail")
        if math.isnan(fast):
            assert math.isnan(both) == math.isnan(tail), (q1, q2, c, both, tail)
            if not math.isnan(tail):
                refined += 1
                assert both == tail, (q1, q2, c, both, tail)
        else:
            assert both == fast, (q1, q2, c, both, fast)
    assert refined >= 10, refined
    with pytest.raises(ValueError, match="passes"):
        _core.piecewise_closed_form(act.kind, p0, p1, d, 1.0, 1.0, 0.5, passes="slow")


def _random_points(n, seed):
    rng = random.Random(seed)
    pts = []
    for i in range(n):
        q1 = 10.0 ** rng.uniform(-6, 4)
        q2 = 10.0 ** rng.uniform(-6, 4)
        m = i % 4
        if m == 0:
            c = rng.uniform(-1, 1)
        elif m == 1:
            c = 1 - 10.0 ** rng.uniform(-12, -1)
        elif m == 2:
            c = -1 + 10.0 ** rng.uniform(-12, -1)
        else:
            c = rng.uniform(0.9, 1.0)
        pts.append((q1, q2, c))
    return pts


@pytest.mark.parametrize("name", KINDS)
def test_piecewise_against_nested_quadrature(name):
    act = sp.activation(name)
    p0, p1 = act.core_params
    pts = _random_points(48, hash(name) % 1000)
    used = 0
    for d in (0, 1):
        for q1, q2, c in pts:
            v = _core.piecewise_closed_form(act.kind, p0, p1, d, q1, q2, c)
            if math.isnan(v):
                continue
            used += 1
            ref, ok = _core.bivariate_nested_quadrature(act.kind, p0, p1, d, q1, q2, c)
            assert ok
            scale = _scale(act, d, q1, q2)
            if scale < 1e-280:
                continue
            assert abs(v - ref) <= TOL * scale, (d, q1, q2, c, v, ref, scale)
            # bivariate_direct's closed form (relative accuracy where f is one-signed)
            got, _ = _core.bivariate(
                act.kind, p0, p1, d, np.array([q1]), np.array([q2]), np.array([c]), 1, None, True
            )
            assert abs(got[0] - ref) <= TOL * scale, (d, q1, q2, c, got[0], ref, scale)
    assert used >= 24


def test_piecewise_defers_where_inaccurate():
    # shifted_relu far in its tail: the value is ~1e-40 of the Cauchy-Schwarz scale and
    # the closed form cannot keep relative accuracy there; with relative=True it defers.
    act = sp.activation("shifted_relu")
    p0, p1 = act.core_params
    v = _core.piecewise_closed_form(act.kind, p0, p1, 0, 0.02, 0.02, -0.5, 1e-13, True)
    assert math.isnan(v)
    # and the engine keeps relative accuracy there (nested quadrature)
    got = float(sp.bivariate_expectation(act, 0.02, 0.02, -0.5))
    ref, ok = _core.bivariate_nested_quadrature(act.kind, p0, p1, 0, 0.02, 0.02, -0.5)
    assert ok and 0.0 < ref < 1e-30
    assert got == pytest.approx(ref, rel=1e-12)


def _ramp_reference(h, k, c, quantity):
    """E[(X - h)_+ (Y - k)_+] ("ramp") or P(X > h, Y > k) ("orthant") at 30 digits:
    the integral over x > h of npdf(x) (x - h) E[(Y - k)_+ | x] (or of npdf(x)
    P(Y > k | x)), the conditional law N(c x, 1 - c^2) in closed form."""
    with mp.workdps(30):
        h, k, c = mp.mpf(h), mp.mpf(k), mp.mpf(c)
        r = mp.sqrt((1 - c) * (1 + c))

        def f(x):
            m = (k - c * x) / r
            if quantity == "orthant":
                return mp.npdf(x) * mp.ncdf(-m)
            return mp.npdf(x) * (x - h) * r * (mp.npdf(m) - m * mp.ncdf(-m))

        pts = {h + d for d in (0, 1e-4, 1e-3, 1e-2, 0.03, 0.1, 0.3, 1, 3, 10, 40)}
        x0 = k / c
        for d in (0, 1e-6, 1e-4, 1e-2, 1):
            for y in (x0 - d * r, x0 + d * r, x0 - d, x0 + d):
                if h < y < h + 40:
                    pts.add(y)
        pts = sorted(pts)
        top = max(abs(f(x)) for x in pts[1:] + [(a + b) / 2 for a, b in itertools.pairwise(pts)])
        return mp.quad(lambda x: f(x) / top, pts) * top


# (q1, q2, c) where the 32- and 24-node Gauss-Laguerre rules part (D = kappa (1 - c) /
# (2 (1 + c)) ~ 1.2) and below D = 1, down to ~0.3: the 64- and 48-node rules (a c-map's
# pairs at thresholds 2.5 to 6.3 standard deviations out, c 0.7-0.95, 5-12 us each on the
# adaptive quadrature)
LAGUERRE_WIDE = [
    (0.0251, 0.0251, 0.95),
    (0.0398, 0.0398, 0.823),
    (0.1, 0.1, 0.823),
    (0.158, 0.158, 0.7),
    (0.05, 0.06, 0.85),
]

# (q1, q2, c): thresholds tau / sqrt(q) = 3 to 7 standard deviations out (tau = 1), and
# those of LAGUERRE_WIDE
FAR_TAIL = [
    (0.04, 0.04, 0.3),
    (0.04, 0.04, -0.6),
    (0.04, 0.04, 0.999),
    (0.04, 0.04, 1 - 1e-9),
    (0.04, 0.06, 0.9),
    (0.02, 0.1, -0.2),
    (0.11, 0.11, 1 - 1e-12),
    (0.1, 0.05, -1 + 1e-6),
    # next to c = 1 at variances 1e-7 apart (a deep kernel's pairs): with its
    # quadrature's tolerance at 1e-10 threshold_price was off by 1.6e-10 at the first
    # two (relative); at 1e-13 it is within 1e-15
    (0.023890381891968793, 0.023890383908767267, 0.99999991643690733),
    (0.030157415109298848, 0.030157417111337192, 0.99999996566228333),
    (0.04, 0.040000004, 1 - 1e-10),
    (0.05, 0.0500001, 0.9999),
    # the Gauss-Laguerre form of the orthant integrals (laguerre_orthant): from its
    # boundary (kappa (1 - c) = 2 (1 + c)) out, thresholds 2 to 10 standard
    # deviations, equal and apart, and soft_threshold's small |c| (its two orthants
    # nearly cancel: the quadrature serves)
    (0.25, 0.25, 0.01),
    (0.25, 0.25, 0.3),
    (0.01, 0.01, 0.5),
    (0.04, 0.08, -0.9),
    (0.04, 0.05, 0.2),
    (0.0625, 0.0625, -0.95),
    (0.02, 0.2, 0.6),
    (0.1, 0.1, 0.05),
    *LAGUERRE_WIDE,
]


@pytest.mark.parametrize("q1,q2,c", FAR_TAIL)
def test_threshold_price_against_mpmath(q1, q2, c):
    h, k = 1 / math.sqrt(q1), 1 / math.sqrt(q2)
    ramp = {s: _ramp_reference(h, k, s * c, "ramp") for s in (1, -1)}
    orth = {s: _ramp_reference(h, k, s * c, "orthant") for s in (1, -1)}
    r12 = math.sqrt(q1 * q2)
    want = {
        ("shifted_relu", 0): r12 * ramp[1],
        ("shifted_relu", 1): orth[1],
        ("soft_threshold", 0): 2 * r12 * (ramp[1] - ramp[-1]),
        ("soft_threshold", 1): 2 * (orth[1] + orth[-1]),
    }
    for (name, d), ref in want.items():
        ref = float(ref)
        if ref == 0.0:  # below the smallest double
            continue
        got = float(sp.bivariate_expectation(name, q1, q2, c, derivative=d))
        # to the result itself, however small (1e-90 here and below)
        assert got == pytest.approx(ref, rel=1e-12, abs=0), (name, d, got, ref)
        act = sp.activation(name)
        p0, p1 = act.core_params
        # and threshold_price is what served it: the orthant forms defer here
        if d == 0 and name == "shifted_relu" and c < 0.5:
            v = _core.piecewise_closed_form(act.kind, p0, p1, 0, q1, q2, c, 1e-13, True)
            assert math.isnan(v)


@pytest.mark.parametrize("q1,q2,c", LAGUERRE_WIDE)
@pytest.mark.parametrize("quantity", ["orthant", "ramp"])
def test_laguerre_orthant_wide_rules_against_mpmath(q1, q2, c, quantity):
    # The form itself serves these points (the 32- and 24-node rules do not: D below 1 or
    # their estimate apart), within 1e-13 of the 30-digit value, relative
    h, k = 1 / math.sqrt(q1), 1 / math.sqrt(q2)
    kappa = 0.25 * (h + k) ** 2
    assert 0.25 <= kappa * (1 - c) / (2 * (1 + c)) <= 2
    got = _core.laguerre_orthant(h, k, c, quantity == "ramp")
    ref = float(_ramp_reference(h, k, c, quantity))
    assert got == pytest.approx(ref, rel=1e-13, abs=0), (got, ref)


def test_laguerre_orthant_rejects_bad_arguments():
    for h, k, c in [(0.0, 1.0, 0.5), (1.0, -1.0, 0.5), (math.nan, 1.0, 0.5), (1.0, 1.0, 1.0)]:
        with pytest.raises(ValueError, match="need"):
            _core.laguerre_orthant(h, k, c, False)
    # below D = 1/4 (next to c = 1, thresholds near) it declines: NaN, not a number
    assert math.isnan(_core.laguerre_orthant(2.0, 2.0, 0.99, True))


# (tau, q1, q2, c) next to c = 1, where shifted_relu and soft_threshold take Price's
# theorem from c = 1 (two_point.hpp, threshold_pair_near_one): on the diagonal,
# variances settled to 1e-7 (the bound on the difference term), further apart (the
# cross moment at c = 1 plus the orthant density's boundary layer in closed form),
# thresholds 0.3 to 10 standard deviations out, 1 - c from 1e-12 to 0.2, and c = 1
NEAR_ONE = [
    (1.0, 0.04, 0.04 * (1 + 1e-7), 1 - 1e-12),
    (1.0, 0.04, 0.04, 1 - 1e-4),
    (1.0, 0.04, 0.04 * (1 + 1e-9), 1 - 1e-3),
    (1.0, 0.3, 0.3, 0.97),
    (1.0, 0.04, 0.0400004, 1 - 1e-5),
    (1.0, 0.04, 0.044, 1 - 1e-3),
    (1.0, 0.04, 0.06, 0.95),
    (1.0, 0.04, 0.05, 1 - 1e-9),
    (1.0, 0.2, 0.2, 0.8),
    (1.0, 0.2, 0.21, 0.8),
    (1.0, 0.01, 0.0100001, 1 - 1e-6),
    (0.3, 1.0, 1.0001, 0.99),
    (2.5, 4.0, 4.4, 0.9),
    (1.0, 0.04, 0.05, 1.0),
    (0.5, 0.3, 0.31, 1.0),
    # a kernel layer's pairs that threshold_near_one_kernel takes (grid.hpp): variances
    # a factor 10 apart, where P(c) is 1e-2 of the Cauchy-Schwarz scale and the cross
    # form's terms cancel; a threshold 6 standard deviations out, settling
    (1.0, 0.04, 0.4, 0.9),
    (1.0, 0.04, 0.12, 0.9999),
    (1.0, 0.0278, 0.02781, 1 - 1e-4),
    (1.0, 0.0302, 0.0291, 0.992),
]


def _threshold_references(tau, q1, q2, c):
    """{(name, d): E[f(u) f(v)]} of shifted_relu and soft_threshold at 30 digits; at
    c = 1 the one-point cross moments (X = Y)."""
    h, k = tau / math.sqrt(q1), tau / math.sqrt(q2)
    if c == 1.0:
        with mp.workdps(30):
            K, k_ = (mp.mpf(max(h, k)), mp.mpf(min(h, k)))
            m2 = (1 + K**2) * mp.ncdf(-K) - K * mp.npdf(K)
            m1 = mp.npdf(K) - K * mp.ncdf(-K)
            ramp = {1: m2 + (K - k_) * m1, -1: 0}
            orth = {1: mp.ncdf(-K), -1: 0}
    else:
        ramp = {s: _ramp_reference(h, k, s * c, "ramp") for s in (1, -1)}
        orth = {s: _ramp_reference(h, k, s * c, "orthant") for s in (1, -1)}
    r12 = math.sqrt(q1) * math.sqrt(q2)
    return {
        ("shifted_relu", 0): r12 * ramp[1],
        ("shifted_relu", 1): orth[1],
        ("soft_threshold", 0): 2 * r12 * (ramp[1] - ramp[-1]),
        ("soft_threshold", 1): 2 * (orth[1] + orth[-1]),
    }


@pytest.mark.parametrize("tau,q1,q2,c", NEAR_ONE)
def test_thresholds_next_to_one_against_mpmath(tau, q1, q2, c):
    for (name, d), ref in _threshold_references(tau, q1, q2, c).items():
        ref = float(ref)
        act = sp.activation(name, tau=tau)
        got = float(sp.bivariate_expectation(act, q1, q2, c, derivative=d))
        # to the result itself (1e-9 of the scale E[phi^2] at 5 standard deviations)
        assert got == pytest.approx(ref, rel=1e-12, abs=0), (name, d, got, ref)
        if d == 0:
            # a kernel layer's pair (the expansions' cached moments): the same forms
            p0, p1 = act.core_params
            off = c * math.sqrt(q1 * q2)
            Ko, n_short = _core.kernel_layer(
                act.kind, p0, p1, np.array([[q1, off], [off, q2]]), 1.0, 0.0, 1
            )
            assert n_short == 0
            assert Ko[0, 1] == pytest.approx(ref, rel=1e-12, abs=0), (name, Ko[0, 1], ref)
            if c < 1.0:
                # eight at a time (threshold_near_one_kernels: a layer's column), beside
                # seven copies of itself and beside seven other pairs: the numbers it gets
                # alone, where the form serves it
                others = [p for p in NEAR_ONE if p[0] == tau and p[3] < 1.0][:7]
                Q1 = np.array([q1] * 9 + [p[1] for p in others])
                Q2 = np.array([q2] * 9 + [p[2] for p in others])
                C = np.array([c] * 9 + [p[3] for p in others])
                eight = _core.threshold_near_one_pairs(act.kind, tau, Q1, Q2, C, True)
                alone = _core.threshold_near_one_pairs(act.kind, tau, Q1, Q2, C, False)
                np.testing.assert_array_equal(eight, alone)
                if np.isfinite(eight[0]):
                    assert np.all(eight[:9] == eight[0])
                    assert eight[0] == pytest.approx(ref, rel=1e-12, abs=0), (name, eight[0], ref)


@pytest.mark.parametrize("name", ["shifted_relu", "soft_threshold"])
def test_threshold_kernel_pairs_eight_at_a_time_as_one_at_a_time(name):
    # A kernel layer takes a column's pairs next to c = 1 eight at a time, their
    # boundary-layer sums side by side in vector arithmetic (two_point.hpp,
    # threshold_near_one_kernels), and other pairs one at a time: each pair must come out
    # bitwise the same either way. Thresholds 1 to 7 standard deviations out, variances
    # up to 40 % apart, 1 - c from 1e-12 to 0.25: R's first bound, its second, the sum
    # (b = (K - k)^2 / (4 e) up to 50, past erfcx_arith's 6.75^2), and declines.
    act = sp.activation(name, tau=1.0)
    rng = np.random.default_rng(3)
    n = 4000
    q1 = 10.0 ** rng.uniform(np.log10(1 / 49), 0.0, n)
    q2 = q1 * (1.0 + 10.0 ** rng.uniform(-10, np.log10(0.4), n))
    c = 1.0 - 10.0 ** rng.uniform(-12, np.log10(0.25), n)
    together = _core.threshold_near_one_pairs(act.kind, 1.0, q1, q2, c, True)
    alone = _core.threshold_near_one_pairs(act.kind, 1.0, q1, q2, c, False)
    np.testing.assert_array_equal(together, alone)
    K, k = 1.0 / np.sqrt(np.minimum(q1, q2)), 1.0 / np.sqrt(np.maximum(q1, q2))
    b = (K - k) ** 2 / (4.0 * (1.0 - c))
    served = np.isfinite(together)
    assert served.sum() > 0.5 * n and (~served).sum() > 10
    for lo, hi in [(1e-3, 1.0), (1.0, 20.0), (20.0, 45.0), (6.75**2, 50.0)]:
        assert np.count_nonzero(served & (b > lo) & (b <= hi)) >= 5, (lo, hi)
    # against bivariate_expectation's forms (threshold_pair_near_one: the settled-pair
    # identity or the cross form with libm's erfcx), each within 1e-13 of the scale
    ref = sp.bivariate_expectation(act, q1, q2, c)
    scale = np.sqrt(
        sp.bivariate_expectation(act, q1, q1, 1.0) * sp.bivariate_expectation(act, q2, q2, 1.0)
    )
    assert np.max(np.abs(together - ref)[served] / scale[served]) <= 2e-13
    # (bad variances: NaN, not a number; another kind: refused, naming it)
    bad = _core.threshold_near_one_pairs(
        act.kind, 1.0, np.array([-0.1, np.nan, 0.0]), np.full(3, 0.1), np.full(3, 0.99), True
    )
    assert np.isnan(bad).all()
    with pytest.raises(ValueError, match="got kind 1 with p0 0"):
        _core.threshold_near_one_pairs(1, 0.0, q1, q2, c, True)


@pytest.mark.parametrize(
    "name,kw",
    [
        ("hard_tanh", {}),
        ("hard_tanh", {"a": 2.5}),
        ("linear_floor", {}),
        ("linear_floor", {"a": 0.5}),
    ],
)
def test_linear_region_against_nested_quadrature(name, kw):
    # hard_tanh and linear_floor where the smaller variance keeps its input where
    # phi(x) = x (a / sqrt(q1) >= 10.6): Stein's lemma, c sqrt(q1 q2) P(v in the
    # region), and P(v in the region) for phi' (two_point.hpp, linear_region_pair),
    # against the nested quadrature (no closed form) at 1e-13 of the scale, c over
    # [-1, 1] with its ends, q2 from q1 up and across [1e-6, 1e4].
    rng = np.random.default_rng(3)
    act = sp.activation(name, **kw)
    p0, p1 = act.core_params
    q1 = p0 * p0 * 10.0 ** rng.uniform(-8, math.log10(1 / 115.0), 200)
    q2 = np.where(
        rng.uniform(size=200) < 0.3,
        q1 * 10.0 ** rng.uniform(0, 1, 200),
        10.0 ** rng.uniform(-6, 4, 200),
    )
    c = np.r_[
        rng.uniform(-1, 1, 190), [-1, 1, 1 - 1e-12, -1 + 1e-12, 0, 1e-9, 0.999, -0.999, 0.5, 0.9]
    ]
    m1, m2 = sp.gaussian_moments(act, q1), sp.gaussian_moments(act, q2)
    for d in (0, 1):
        got = sp.bivariate_expectation(act, q1, q2, c, derivative=d)
        ref = _core.bivariate(act.kind, p0, p1, d, q1, q2, c, 1, direct=True)[0]
        scale = np.sqrt(m1.phi_sq * m2.phi_sq) if d == 0 else np.sqrt(m1.dphi_sq * m2.dphi_sq)
        np.testing.assert_array_less(np.abs(got - ref), 1e-13 * scale + 1e-300)


def test_thresholds_beyond_the_double_range():
    # Where the smaller variance's E[f^2] underflows to 0 (tau / sqrt(q1) >~ 38), the
    # Cauchy-Schwarz bound sqrt(E f(u)^2 E f(v)^2) is 0 in double precision and so is
    # the result (two_point.hpp): exactly, as the nested quadrature finds; just inside
    # the range, shifted_relu keeps its relative accuracy.
    q1 = np.array([1e-6, 1e-4, 5e-4, 6.5e-4, 6.5e-4])
    q2 = np.array([1e-6, 1e4, 1.0, 7e-4, 1e-2])
    c = np.array([0.99, 0.9, -0.5, 0.3, 1.0])
    for name in ("shifted_relu", "soft_threshold"):
        act = sp.activation(name)
        p0, p1 = act.core_params
        assert np.all(sp.gaussian_moments(act, q1).phi_sq == 0.0)
        for d in (0, 1):
            got = sp.bivariate_expectation(act, q1, q2, c, derivative=d)
            ref = _core.bivariate(act.kind, p0, p1, d, q1, q2, c, 1, direct=True)[0]
            assert np.all(got == 0.0) and np.all(ref == 0.0), (name, d, got, ref)
    act = sp.activation("shifted_relu")
    p0, p1 = act.core_params
    q = np.array([7.5e-4, 8e-4])
    assert np.all(sp.gaussian_moments(act, q).phi_sq > 0.0)
    for d in (0, 1):
        got = sp.bivariate_expectation(act, q, 2 * q, 0.9, derivative=d)
        ref = _core.bivariate(act.kind, p0, p1, d, q, 2 * q, np.full(2, 0.9), 1, direct=True)[0]
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)


def _hard_tanh_reference(q1, q2, c):
    """E[clip(u) clip(v)] (a = 1) at 30 digits: the integral over x of npdf(x) clip(s1 x)
    times the conditional expectation of clip(s2 Y), Y | x ~ N(c x, 1 - c^2), in closed
    form; breakpoints at the kinks and around the conditional steps (width r / |c|)."""
    with mp.workdps(30):
        q1, q2, c = mp.mpf(q1), mp.mpf(q2), mp.mpf(c)
        s1, s2 = mp.sqrt(q1), mp.sqrt(q2)
        r = mp.sqrt((1 - c) * (1 + c))
        t1, t2 = 1 / s1, 1 / s2

        def cond(x):
            mu = c * x
            lo, hi = (-t2 - mu) / r, (t2 - mu) / r
            mid = mp.ncdf(hi) - mp.ncdf(lo)
            return -mp.ncdf(lo) + mp.ncdf(-hi) + s2 * (mu * mid + r * (mp.npdf(lo) - mp.npdf(hi)))

        def clip(x):
            return max(-1, min(1, s1 * x))

        pts = {mp.mpf(-40), mp.mpf(40), -t1, t1, mp.mpf(0)}
        for y in (t2 / c, -t2 / c):
            for d in (0, 1, 3, 10, 30):
                for p in (y - d * r / abs(c), y + d * r / abs(c)):
                    if -40 < p < 40:
                        pts.add(p)
        pts = sorted(pts)
        return mp.quad(lambda x: mp.npdf(x) * clip(x) * cond(x), pts)


# (q1, q2, c): variances at or above a^2, where the orthant form cancels and the sign
# form (hard_tanh_sign_form) serves, next to |c| = 1 included
HARD_TANH_LARGE_Q = [
    (1.5, 1.5, 0.99999988),
    (22.5, 22.5, -0.99999999),
    (7.2, 7.2, 0.97),
    (0.05, 30.0, 0.9999),
    (3.0, 300.0, -0.5),
    (1000.0, 1000.0, 0.999999999),
    # near the diagonal past q = 1000: Price's theorem from c = 1 (threshold_cross_near_one),
    # npdf(k) - npdf(K) taken without its cancellation
    (5753.0, 5753.0 * 1.025, 1 - 5.3e-7),
    (3834.0, 3834.0 * 1.089, 1 - 4.3e-10),
    (3550.0, 3550.0 * (1 + 5.7e-5), -(1 - 3.2e-11)),
    (1084.0, 1084.0 * (1 + 6.5e-7), 1 - 9.6e-7),
]


@pytest.mark.parametrize("q1,q2,c", HARD_TANH_LARGE_Q)
def test_hard_tanh_sign_form_against_mpmath(q1, q2, c):
    ref = float(_hard_tanh_reference(q1, q2, c))
    got = float(sp.bivariate_expectation("hard_tanh", q1, q2, c))
    scale = math.sqrt(
        sp.gaussian_moments("hard_tanh", q1).phi_sq * sp.gaussian_moments("hard_tanh", q2).phi_sq
    )
    assert abs(got - ref) <= 1e-14 * scale, (got, ref, scale)


# (q1, q2, c): random pairs (q log-uniform in [1e-6, 1e4]) where the orthant form of
# hard_tanh's phi' cancels past its tolerance (four orthant probabilities of ~1/4
# summed to a result of size a^2 / sqrt(q1 q2)) and the window integral
# (hard_tanh_window_form) serves
HARD_TANH_WINDOW = [
    (1.53, 9970.0, 0.96957),
    (466.0, 150.0, 0.97783),
    (2380.0, 2400.0, 0.98008),
    (6830.0, 4470.0, -0.99591),
    (60.9, 128.0, -0.95659),
    (486.0, 3280.0, 0.99524),
    # next to c = +-1 with the conditional width well inside the window (t1 >= 12 r):
    # the complement's sliver below the window's edge
    (62.41, 62.41 * (1 + 8.4e-8), 1 - 2.1e-9),
    (1716.0, 1716.0 * (1 + 1.5e-12), 1 - 4.6e-8),
    (5753.0, 5753.0 * 1.025, 1 - 5.3e-7),
    # (1e-9 apart: at q1 = q2 exactly the diagonal's form would serve it instead)
    (227.7, 227.7 * (1 + 1e-9), -(1 - 1.5e-12)),
    (30.0, 30.0003, 1 - 1e-4),
]


@pytest.mark.parametrize("q1,q2,c", HARD_TANH_WINDOW)
def test_hard_tanh_window_form_against_mpmath(q1, q2, c):
    # P(|u| < 1, |v| < 1) = 2 int_0^{t2} npdf(y) P(|X| < t1 | Y = y) dy, t2 <= t1
    with mp.workdps(30):
        lo, hi = sorted((mp.mpf(q1), mp.mpf(q2)))
        t1, t2, cc = 1 / mp.sqrt(lo), 1 / mp.sqrt(hi), abs(mp.mpf(c))
        r = mp.sqrt((1 - cc) * (1 + cc))
        # (breakpoints at the window's edge t1 / c and on its conditional scale r / c
        # below it and below t2)
        pts = {mp.mpf(0), t2}
        for edge in (t1 / cc, t2):
            for k in (0, 1, 3, 10, 30):
                if 0 < edge - k * r / cc < t2:
                    pts.add(edge - k * r / cc)
        pts = sorted(pts)
        ref = 2 * mp.quad(
            lambda y: mp.npdf(y) * (mp.ncdf((t1 - cc * y) / r) - mp.ncdf((-t1 - cc * y) / r)), pts
        )
        scale = float(mp.sqrt(mp.erf(t1 / mp.sqrt(2)) * mp.erf(t2 / mp.sqrt(2))))
    got = float(sp.bivariate_expectation("hard_tanh", q1, q2, c, derivative=1))
    assert abs(got - float(ref)) <= 1e-14 * scale, (got, float(ref), scale)
