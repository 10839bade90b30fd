"""Bivariate Gaussian expectations in extreme regimes against 30-digit mpmath references.

E[phi(u) phi(v)] and E[phi'(u) phi'(v)] with u = sqrt(q1) Z1,
v = sqrt(q2) (c Z1 + sqrt(1 - c^2) Z2) are the correlation map and chi_c of
signal-propagation theory (Poole et al. 2016, "Exponential expressivity in deep
neural networks through transient chaos"; Schoenholz et al. 2017, "Deep
information propagation").  The cases in tests/data/reference_2d_extreme.json
(``scripts/make_reference.py --extreme``, mpmath, independent of sigprop) put c
next to +-1 (1 -+ c down to 1e-12), q at 1e-6 and 1e4 and q1, q2 far apart.
Those in tests/data/reference_2d_off_diagonal.json (``--off-diagonal``) put
q1 != q2 close together with c next to +-1, the pairs of a deep NNGP kernel in
the ordered phase, for smooth activations whose Mehler tail beyond the stored
orders is pinned by derivative anchors there (up to ~1e-10 of the scale at
q ~ 10): they are held to 1e-12. Those in tests/data/reference_2d_large_q.json
(``--large-q``) put tanh, sigmoid, softplus, shifted_softplus, silu,
linear_region_tanh and softsign at large, far-apart variances (up to 3500, and 0.5
against 2000) with c = 0.96-0.999 and -0.98, the first layer of a kernel on
unnormalised inputs, where the Mehler series cannot reach and the engine splits the
activation into sign or relu and a localised remainder (saturating_pair.hpp; softsign:
conditions on one input in logarithmic coordinates, softsign_pair.hpp): held to 1e-13.
Those in tests/data/reference_2d_small_q.json (``--small-q``) put tanh, sigmoid,
softplus, shifted_softplus, silu, elu, selu, linear_region_tanh and softsign with one
variance small (1e-8 to 0.3) against the other (0.03 to 1e4), c = 0.999, 1 - 1e-9 and
-0.9999, where the engine bounds the smaller variance's Hermite tail a priori from
the activation's strip of analyticity (analytic_tail.hpp) and takes that variance's
coefficients by Gauss-Hermite quadrature, for elu and selu sums the exponential's
Taylor series against the orthant moments (elu_small_variance.hpp), for
linear_region_tanh applies Stein's lemma (linear_region_pair), and for softsign
smooths its power series' pieces in closed form (softsign_small_variance): held to
1e-13. Those in tests/data/reference_2d_small_both.json (``--small-both``) put
softsign with both variances small (1e-7 to 5e-3, on and off the diagonal) at c = 0.96,
0.999, 1 - 1e-9 and -0.9999, where the engine sums its power series on both sides
against the orthant moments (softsign_small_variances, small_variance.hpp): held to
1e-15. Those in tests/data/reference_2d_linear_tail.json (``--linear-tail``) put
softplus, shifted_softplus and silu at variances from 150 to 2e6 with 1 - c = 2e-3,
5e-5 and 1e-7, the nodes of the layer tables of an exploding NNGP kernel, where the
engine takes relu's closed form plus the remainder's Fourier transform
(linear_tail_pair.hpp): held to 1e-13, and that form to 1e-14.

``c`` in the file is the exact binary64 value the engine is given (the nominal
decimal is ``c_nominal``): next to |c| = 1 the decimal-to-binary rounding alone
moves kinked-phi' values by more than the tolerance.

Errors are measured against the Cauchy-Schwarz scale sqrt(E f(u)^2 E f(v)^2),
f = phi or phi', so that near-cancelling values (odd phi at moderate c) are
held to the accuracy the magnitude of the integrand allows.
"""

import json
import math
from pathlib import Path

import pytest

import sigprop as sp
from sigprop import _core
from sigprop.theory.activations import resolve

DATA = Path(__file__).parent / "data"
TOL = 1e-10

TOL_OFF_DIAGONAL = 1e-12
TOL_LARGE_Q = 1e-13
TOL_LINEAR_TAIL = 1e-14
TOL_SMALL_BOTH = 1e-15

with open(DATA / "reference_2d_extreme.json") as _fh:
    CASES = json.load(_fh)["cases"]
with open(DATA / "reference_2d_off_diagonal.json") as _fh:
    OFF_DIAGONAL = json.load(_fh)["cases"]
with open(DATA / "reference_2d_large_q.json") as _fh:
    LARGE_Q = json.load(_fh)["cases"]
with open(DATA / "reference_2d_small_q.json") as _fh:
    SMALL_Q = json.load(_fh)["cases"]
with open(DATA / "reference_2d_linear_tail.json") as _fh:
    LINEAR_TAIL = json.load(_fh)["cases"]
with open(DATA / "reference_2d_small_both.json") as _fh:
    SMALL_BOTH = json.load(_fh)["cases"]


def _case_id(case):
    params = ",".join(f"{k}={v}" for k, v in sorted(case["params"].items()))
    act = case["activation"] + (f"({params})" if params else "")
    return f"{act}-{case['quantity']}-q{case['q1']},{case['q2']}-c{case['c_nominal']}"


def test_reference_file_covers_the_extreme_regimes():
    acts = {c["activation"] for c in CASES}
    for name in (
        "tanh",
        "softsign",
        "elu",
        "gelu",
        "hard_tanh",
        "linear_region_tanh",
        "silu",
        "softplus",
    ):
        assert name in acts
        sel = [c for c in CASES if c["activation"] == name]
        # c next to +1 and -1, large q, q1 != q2 far apart, both quantities
        assert any(1 - float(c["c"]) < 1e-9 for c in sel)
        assert any(1 + float(c["c"]) < 1e-9 for c in sel)
        assert any(float(c["q1"]) >= 1e4 and float(c["q2"]) >= 1e4 for c in sel)
        assert any(float(c["q2"]) / float(c["q1"]) >= 1e6 for c in sel)
        assert {c["quantity"] for c in sel} == {"phiphi", "dphidphi"}
    for c in CASES:  # the stored c is exact in binary64
        assert float(c["c"]) == float(c["c_nominal"])
        assert repr(float(c["c"])) == repr(float(c["c_nominal"]))


def _scale_of(case):
    """The case's activation, (q1, q2, c), derivative order and Cauchy-Schwarz scale."""
    act = sp.activation(case["activation"], **case["params"])
    q1, q2, c = float(case["q1"]), float(case["q2"]), float(case["c"])
    d = {"phiphi": 0, "dphidphi": 1}[case["quantity"]]
    m1, m2 = sp.gaussian_moments(act, q1), sp.gaussian_moments(act, q2)
    f1, f2 = (m1.phi_sq, m2.phi_sq) if d == 0 else (m1.dphi_sq, m2.dphi_sq)
    return act, (q1, q2, c), d, math.sqrt(f1) * math.sqrt(f2)  # not sqrt(f1 * f2): underflow


def _check(case, tol):
    act, (q1, q2, c), d, scale = _scale_of(case)
    ref = float(case["value"])
    got = float(sp.bivariate_expectation(act, q1, q2, c, derivative=d))
    err = 0.0 if got == ref else abs(got - ref) / scale
    assert err <= tol, f"got {got!r}, ref {ref!r}, err {err:.3e} (scale {scale:.3e})"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_bivariate_extreme_match_mpmath(case):
    _check(case, TOL)


def test_off_diagonal_reference_covers_the_ordered_phase_pairs():
    for name in ("tanh", "sigmoid", "silu", "softplus"):
        sel = [c for c in OFF_DIAGONAL if c["activation"] == name]
        assert any(float(c["q1"]) >= 9 and 1 - float(c["c"]) <= 1e-7 for c in sel)
        assert any(1 + float(c["c"]) <= 1e-3 for c in sel)
        assert all(c["q1"] != c["q2"] for c in sel)
        assert {c["quantity"] for c in sel} == {"phiphi", "dphidphi"}


@pytest.mark.parametrize("case", OFF_DIAGONAL, ids=[_case_id(c) for c in OFF_DIAGONAL])
def test_bivariate_off_diagonal_match_mpmath(case):
    _check(case, TOL_OFF_DIAGONAL)


def test_large_q_reference_covers_the_raw_input_pairs():
    kinds = ("tanh", "sigmoid", "softplus", "shifted_softplus", "silu", "linear_region_tanh")
    for name in (*kinds, "softsign"):
        sel = [c for c in LARGE_Q if c["activation"] == name]
        assert any(float(c["q1"]) >= 250 and 1 - float(c["c"]) <= 1.01e-3 for c in sel)
        assert any(float(c["q2"]) / float(c["q1"]) >= 1000 for c in sel)
        assert any(float(c["c"]) < 0 for c in sel)
        assert {c["quantity"] for c in sel} == {"phiphi", "dphidphi"}


@pytest.mark.parametrize("case", LARGE_Q, ids=[_case_id(c) for c in LARGE_Q])
def test_bivariate_large_q_match_mpmath(case):
    _check(case, TOL_LARGE_Q)


def test_small_q_reference_covers_the_analytic_kinds_and_elu():
    kinds = ("tanh", "sigmoid", "softplus", "shifted_softplus", "silu", "elu", "selu")
    kinds += ("linear_region_tanh", "softsign")
    for name in kinds:
        sel = [c for c in SMALL_Q if c["activation"] == name]
        assert any(float(c["q1"]) <= 1e-8 and 1 - float(c["c"]) <= 1e-8 for c in sel)
        assert any(float(c["q2"]) <= 0.05 for c in sel)  # both variances small
        assert any(float(c["q1"]) >= 0.3 for c in sel)  # elu_small_variance's range
        assert any(float(c["c"]) < 0 for c in sel)
        assert {c["quantity"] for c in sel} == {"phiphi", "dphidphi"}


@pytest.mark.parametrize("case", SMALL_Q, ids=[_case_id(c) for c in SMALL_Q])
def test_bivariate_small_q_match_mpmath(case):
    _check(case, TOL_LARGE_Q)


def test_small_both_reference_covers_softsign_next_to_the_diagonal():
    assert {c["activation"] for c in SMALL_BOTH} == {"softsign"}
    assert all(float(c["q2"]) <= 5e-3 and float(c["q1"]) <= 5e-3 for c in SMALL_BOTH)
    assert any(c["q1"] == c["q2"] for c in SMALL_BOTH)  # on the diagonal
    assert any(0 < abs(float(c["q2"]) / float(c["q1"]) - 1) <= 1e-6 for c in SMALL_BOTH)
    assert any(1 - float(c["c"]) <= 1e-8 for c in SMALL_BOTH)
    assert any(float(c["c"]) < 0 for c in SMALL_BOTH)
    assert {c["quantity"] for c in SMALL_BOTH} == {"phiphi", "dphidphi"}


@pytest.mark.parametrize("case", SMALL_BOTH, ids=[_case_id(c) for c in SMALL_BOTH])
def test_bivariate_small_both_match_mpmath(case):
    # The engine (from |c| = 0.95 the power series on both sides) and the form itself,
    # at c and, through the quadrants' symmetry, at -c as given: within 1e-15 of the scale
    # (the Mehler series and the conditional forms after it held these points to ~1e-13)
    _check(case, TOL_SMALL_BOTH)
    _, (q1, q2, c), d, scale = _scale_of(case)
    got = _core.softsign_small_variances(d, q1, q2, c)
    assert abs(got - float(case["value"])) <= TOL_SMALL_BOTH * scale, got


def test_softsign_small_variances_defers_and_checks_its_arguments():
    # past q ~ 6e-3 the power series cannot meet the tolerance within its 40 orders (a
    # Gaussian input reaches its radius 1): NaN, and the engine's other forms serve
    assert math.isnan(_core.softsign_small_variances(0, 0.05, 0.05, 0.99))
    v = float(sp.bivariate_expectation("softsign", 0.05, 0.05, 0.99))
    assert math.isfinite(v) and 0 < v < 0.05
    with pytest.raises(ValueError, match="derivative"):
        _core.softsign_small_variances(2, 1e-3, 1e-3, 0.5)
    with pytest.raises(ValueError, match="q1, q2 > 0"):
        _core.softsign_small_variances(0, 0.0, 1e-3, 0.5)


def test_linear_tail_reference_covers_the_exploding_layers():
    for name in ("softplus", "shifted_softplus", "silu"):
        sel = [c for c in LINEAR_TAIL if c["activation"] == name]
        assert any(float(c["q1"]) >= 1e6 and 1 - float(c["c"]) <= 2e-7 for c in sel)
        assert any(float(c["q1"]) <= 200 and float(c["q2"]) != float(c["q1"]) for c in sel)
        assert {c["quantity"] for c in sel} == {"phiphi", "dphidphi"}


def test_linear_tail_asymptotic_form_matches_mpmath():
    # phi of softplus, shifted_softplus and silu at large variances by their asymptotic
    # form (linear_tail_pair.hpp, linear_tail_asymptotic: relu's kernel plus the
    # remainder's terms from its moments, to second order, with bounded Taylor
    # remainders), asked for 1e-14 of the scale as the dispatch asks it (a tenth of its
    # tolerance): where it serves, within that of the 30-digit references (measured
    # 1.9e-15 over the 8 cases it serves, q 3e5-2e6, 1 - c down to 5e-5).
    served = 0
    for case in LINEAR_TAIL:
        if case["quantity"] != "phiphi":
            continue
        act, (q1, q2, c), _, scale = _scale_of(case)
        a = resolve(act)
        got = _core.large_variance_asymptotic(a.kind, *a.core_params, q1, q2, c, 1e-14 * scale)
        if math.isnan(got):
            continue
        served += 1
        assert abs(got - float(case["value"])) <= 1e-14 * scale, (case, got)
    assert served >= 6, served


@pytest.mark.parametrize("case", LINEAR_TAIL, ids=[_case_id(c) for c in LINEAR_TAIL])
def test_bivariate_linear_tail_match_mpmath(case):
    _check(case, TOL_LARGE_Q)
    # the form itself (where the dispatch takes the Mehler series first, the series'
    # accuracy: 1.2e-14 at 1e4 / 2.5e4, 1 - c = 1e-7)
    act, (q1, q2, c), d, scale = _scale_of(case)
    a = resolve(act)
    got = _core.fourier_pair(a.kind, *a.core_params, d, q1, q2, c, 2e-14 * scale)
    assert abs(got - float(case["value"])) <= TOL_LINEAR_TAIL * scale, got


def test_sign_tail_fourier_pair_match_mpmath():
    # tanh's and sigmoid's Fourier form (sign_tail_pair.hpp) at every reference point of
    # the large-q, extreme and off-diagonal files where it serves (the covariance's
    # larger eigenvalue past 16, for tanh' past 4, variances within 25x, c >= 1/2):
    # within 1e-14 of the scale (measured: 6.7e-16 at 64 points).
    served = 0
    for case in LARGE_Q + CASES + OFF_DIAGONAL:
        if case["activation"] not in ("tanh", "sigmoid"):
            continue
        act, (q1, q2, c), d, scale = _scale_of(case)
        a = resolve(act)
        got = _core.fourier_pair(a.kind, *a.core_params, d, q1, q2, c, 2e-14 * scale)
        if math.isnan(got):
            continue
        served += 1
        assert abs(got - float(case["value"])) <= TOL_LINEAR_TAIL * scale, (case, got)
    assert served >= 50


# softsign next to the diagonal at a narrow conditional spread (w = 4e-6 to 0.014):
# tests/data/reference_2d_narrow_spread.json (scripts/make_reference_narrow.py, mpmath at
# 30 digits, checked at 40). A single pair there reads softsign's remainder table
# (remainder_table.hpp, from q = 1e-3: measured within 2.3e-15 of the scale here), held
# to the engine's tolerance 1e-13. Without the tables (as their nodes are evaluated),
# phi' takes the conditional form, whose inner expectation next to the kink comes from
# softsign's power series, each piece's smoothing a truncated normal moment
# (softsign_series_smoothing): measured within 1.6e-16 of the scale, held to 1e-15; phi
# is mostly served by the Mehler series and its anchors, held to their tolerance 1e-13
# (measured 6.1e-14 at q = 16.75, 1 - c = 1e-7).
with open(DATA / "reference_2d_narrow_spread.json") as _fh:
    NARROW_SPREAD = json.load(_fh)["cases"]
TOL_NARROW_SPREAD = {"dphidphi": 1e-15, "phiphi": TOL_LARGE_Q}


def test_narrow_spread_reference_covers_the_spreads():
    spreads = [
        math.sqrt(float(c["q2"]) * (1 - float(c["c"])) * (1 + float(c["c"]))) for c in NARROW_SPREAD
    ]
    assert min(spreads) < 1e-5 and max(spreads) > 1e-2
    assert any(c["q1"] == c["q2"] for c in NARROW_SPREAD)
    assert any(c["q1"] != c["q2"] for c in NARROW_SPREAD)
    assert {c["quantity"] for c in NARROW_SPREAD} == {"phiphi", "dphidphi"}


@pytest.mark.parametrize("case", NARROW_SPREAD, ids=[_case_id(c) for c in NARROW_SPREAD])
def test_bivariate_narrow_spread_match_mpmath(case):
    _check(case, TOL_LARGE_Q)
    act, (q1, q2, c), d, scale = _scale_of(case)
    a = resolve(act)
    got = _core.untabled_pair(a.kind, *a.core_params, d, q1, q2, c)
    assert abs(got - float(case["value"])) <= TOL_NARROW_SPREAD[case["quantity"]] * scale, got


@pytest.mark.parametrize("d", [0, 1])
def test_softsign_series_smoothing_matches_mpmath(d):
    # E[f(m + w T)] of f = softsign^(d) from the power series, on the kink's window
    # (0 <= m <= 12 w) at spreads 1e-5 to 0.02, against mpmath split at the kink; and
    # the series declines where the Gaussian reaches past its radius (m + 10 w ~ 1).
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30

    def f(x):
        ax = 1 + abs(x)
        return x / ax if d == 0 else 1 / ax**2

    worst = worst_panels = 0.0
    for w in (1e-5, 3e-4, 4e-3, 0.02):
        for k in (0.0, 0.3, 1.0, 2.5, 6.0, 11.9):
            m = k * w
            cuts = sorted({-14, -m / w, 14}) if m else [-14, 0, 14]
            ref = float(mpmath.quad(lambda t, m=m, w=w: f(m + w * t) * mpmath.npdf(t), cuts))
            series, panels = _core.softsign_smoothing(d, m, w, 1e-17)
            assert not math.isnan(series), (w, m)
            worst = max(worst, abs(series - ref))
            worst_panels = max(worst_panels, abs(panels - ref))
    assert worst <= 5e-16, worst  # (measured: 2.8e-17 for phi, 2.2e-16 for phi', values ~1)
    assert worst_panels <= 2e-15, worst_panels  # (the panels they replace there: 4.4e-16)
    assert math.isnan(_core.softsign_smoothing(d, 0.6, 0.05, 1e-17)[0])


@pytest.mark.parametrize("d", [0, 1])
def test_linear_region_tanh_narrow_smoothing_matches_mpmath(d):
    # linear_region_tanh at a narrow conditional spread (lrt_narrow): its branch b next to
    # the kink A from tanh's Taylor series, each piece a truncated normal moment
    # (lrt_series_share: E[b(X) 1(X > A)]), and beyond the window from the heat series
    # (lrt_heat_smoothing: E[b(X)]), against mpmath; each declines where its remainder's
    # bound does not hold.
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30
    A = 0.7

    def b(y):
        t = y - A
        return A + mpmath.tanh(t) if d == 0 else mpmath.sech(t) ** 2

    worst_share = worst_heat = 0.0
    for w in (1e-5, 3e-4, 7e-4, 4e-3, 0.02):
        for k in (-11.9, -3.0, -0.5, 0.0, 0.4, 2.0, 7.5, 11.9):
            m = A + k * w
            lo = max(A, m - 14 * w)
            ref = (
                mpmath.quad(
                    lambda y, m=m, w=w: b(y) * mpmath.npdf((y - m) / w) / w, [lo, m, m + 14 * w]
                )
                if lo < m
                else mpmath.quad(
                    lambda y, m=m, w=w: b(y) * mpmath.npdf((y - m) / w) / w, [lo, m + 14 * w]
                )
            )
            share, _ = _core.lrt_smoothing(d, A, m, w, 1e-17)
            assert not math.isnan(share), (w, k)
            worst_share = max(worst_share, abs(share - float(ref)))
        if w <= 7e-4:  # (the heat series serves to ~7e-4 at eps = 1e-17)
            for t in (12.5 * w, 0.01, 0.3, 1.0, 2.5, 6.0):
                m = A + t
                ref = mpmath.quad(
                    lambda y, m=m, w=w: b(y) * mpmath.npdf((y - m) / w) / w,
                    [m - 14 * w, m, m + 14 * w],
                )
                _, heat = _core.lrt_smoothing(d, A, m, w, 1e-17)
                assert not math.isnan(heat), (w, t)
                worst_heat = max(worst_heat, abs(heat - float(ref)))
    assert worst_share <= 5e-16, worst_share  # (measured: 1.1e-16, values ~1)
    assert worst_heat <= 5e-16, worst_heat  # (2.2e-16)
    # where the bounds fail: the series at a spread reaching past tanh's radius, the heat
    # series at w = 0.02
    assert math.isnan(_core.lrt_smoothing(d, A, A, 0.06, 1e-17)[0])
    assert math.isnan(_core.lrt_smoothing(d, A, A + 1.0, 0.02, 1e-17)[1])
