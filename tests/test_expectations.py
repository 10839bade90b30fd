"""Gaussian expectations against closed forms and 30-digit mpmath references.

The references in tests/data/ are generated once by scripts/make_reference.py
(mpmath, independent of sigprop) and stored, so the suite stays fast.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

import sigprop as sp

DATA = Path(__file__).parent / "data"

# Tolerances follow the accuracy reached (scripts/accuracy_report.py), with a margin of
# 3-10x for other machines' libm, so that a regression of one order of magnitude fails:
# - one-point moments: <= 3.3e-15 relative for every activation but three whose values
#   are far Gaussian tails at small q (shifted_relu and soft_threshold with tau = 1, and
#   linear_region_tanh: <= 8.9e-14);
# - bivariate: <= 3.7e-13 of the Cauchy-Schwarz scale (shifted_relu, soft_threshold at
#   tau = 1; smooth activations <= 7.4e-14).
RTOL_1D = 3e-14
RTOL_1D_TAILS = 1e-12
TAIL_DOMINATED = {"shifted_relu", "soft_threshold", "linear_region_tanh"}
RTOL_2D = 1e-12
UNDERFLOW = 1e-300  # references below this are compared as zero


def _load(name):
    with open(DATA / name) as fh:
        return json.load(fh)["cases"]


def _act(case):
    return sp.activation(case["activation"], **case["params"])


def _group(cases, keys):
    groups = {}
    for c in cases:
        groups.setdefault(tuple(json.dumps(c[k], sort_keys=True) for k in keys), []).append(c)
    return groups


REF_1D = _load("reference_1d.json")
REF_2D = _load("reference_2d.json")
FIELDS_1D = {"mean": 0, "phi_sq": 1, "dphi_sq": 2, "d2phi_sq": 3, "dV": 4}


def _ids_1d():
    return sorted({f"{c['activation']}{c['params']}".replace(" ", "") for c in REF_1D})


@pytest.mark.parametrize("key", _ids_1d())
def test_moments_match_mpmath(key):
    cases = [c for c in REF_1D if f"{c['activation']}{c['params']}".replace(" ", "") == key]
    act = _act(cases[0])
    rtol = RTOL_1D_TAILS if cases[0]["activation"] in TAIL_DOMINATED else RTOL_1D
    worst = 0.0
    for quantity, col in FIELDS_1D.items():
        sel = [c for c in cases if c["quantity"] == quantity]
        if not sel:
            continue
        q = np.array([float(c["q"]) for c in sel])
        ref = np.array([float(c["value"]) for c in sel])
        got = np.asarray(sp.gaussian_moments(act, q)[col])
        if quantity == "mean":
            # Odd activations have mean 0: measure against E[|phi|] <= sqrt(E[phi^2]).
            scale = np.sqrt(
                np.array([float(c["value"]) for c in cases if c["quantity"] == "phi_sq"])
            )
            scale = np.maximum(np.abs(ref), scale)
        else:
            scale = np.abs(ref)
        for qi, g, r, s in zip(q, got, ref, scale, strict=True):
            if math.isinf(r):
                assert math.isinf(g) and g > 0, (quantity, qi, g)
                continue
            if s < UNDERFLOW:
                assert abs(g) < 1e-290, (quantity, qi, g, r)
                continue
            err = abs(g - r) / s
            worst = max(worst, err)
            assert err <= rtol, f"{act} {quantity} q={qi}: got {g!r}, ref {r!r}, err {err:.2e}"
    assert worst <= rtol


def _ids_2d():
    return sorted({f"{c['activation']}{c['params']}".replace(" ", "") for c in REF_2D})


@pytest.mark.parametrize("key", _ids_2d())
def test_bivariate_match_mpmath(key):
    cases = [c for c in REF_2D if f"{c['activation']}{c['params']}".replace(" ", "") == key]
    act = _act(cases[0])
    for quantity, d in (("phiphi", 0), ("dphidphi", 1)):
        sel = [c for c in cases if c["quantity"] == quantity]
        if not sel:
            continue
        q1 = np.array([float(c["q1"]) for c in sel])
        q2 = np.array([float(c["q2"]) for c in sel])
        cc = np.array([float(c["c"]) for c in sel])
        ref = np.array([float(c["value"]) for c in sel])
        got = sp.bivariate_expectation(act, q1, q2, cc, derivative=d)
        # Cauchy–Schwarz scale sqrt(E[f(u)^2] E[f(v)^2]) from the (tested) 1-d moments.
        m1 = sp.gaussian_moments(act, q1)
        m2 = sp.gaussian_moments(act, q2)
        f1, f2 = (m1.phi_sq, m2.phi_sq) if d == 0 else (m1.dphi_sq, m2.dphi_sq)
        scale = np.sqrt(f1) * np.sqrt(f2)  # not sqrt(f1 * f2): that underflows in the tails
        with np.errstate(invalid="ignore"):
            err = np.where(got == ref, 0.0, np.abs(got - ref) / scale)
        bad = np.flatnonzero(~(err <= RTOL_2D))
        assert bad.size == 0, [
            (quantity, q1[i], q2[i], cc[i], got[i], ref[i], err[i]) for i in bad[:5]
        ]


# Closed forms ---------------------------------------------------------------

Q = np.logspace(-6, 4, 41)


def test_relu_closed_forms():
    m = sp.gaussian_moments("relu", Q)
    np.testing.assert_allclose(m.phi_sq, Q / 2, rtol=1e-15)
    np.testing.assert_allclose(m.dphi_sq, 0.5, rtol=1e-15)
    np.testing.assert_allclose(m.mean, np.sqrt(Q / (2 * np.pi)), rtol=1e-15)
    assert np.isinf(m.d2phi_sq).all()


def test_erf_closed_forms():
    m = sp.gaussian_moments("erf", Q)
    np.testing.assert_allclose(m.phi_sq, 2 / np.pi * np.arcsin(2 * Q / (1 + 2 * Q)), rtol=1e-13)
    np.testing.assert_allclose(m.dphi_sq, 4 / np.pi / np.sqrt(1 + 4 * Q), rtol=1e-15)


def test_hard_tanh_closed_form():
    from math import erf

    a = 0.7
    ht = sp.activation("hard_tanh", a=a)
    for q in [1e-3, 0.1, 1.0, 10.0]:
        t = a / math.sqrt(q)
        Phi = 0.5 * (1 + erf(t / math.sqrt(2)))
        npdf = math.exp(-t * t / 2) / math.sqrt(2 * math.pi)
        expected = q * ((2 * Phi - 1) - 2 * t * npdf) + 2 * a * a * (1 - Phi)
        m = sp.gaussian_moments(ht, q)
        assert m.phi_sq == pytest.approx(expected, rel=1e-13)
        assert m.dphi_sq == pytest.approx(2 * Phi - 1, rel=1e-14)


def test_leaky_relu_arc_cosine_kernel():
    beta = 0.2
    lr = sp.activation("leaky_relu", negative_slope=beta)
    c = np.linspace(-1, 1, 21)
    q = 1.7

    def J(x):
        return (np.sqrt(1 - x * x) + (np.pi - np.arccos(x)) * x) / (2 * np.pi)

    expected = q * ((1 + beta**2) * J(c) - 2 * beta * J(-c))
    np.testing.assert_allclose(
        sp.bivariate_expectation(lr, q, q, c), expected, rtol=1e-13, atol=1e-15
    )


def test_kink_contribution_to_dV():
    # hard tanh: d/dq E[phi^2] = E[phi'^2] - 2 a p_q(a), the kinks' share, which
    # a plain E[phi'^2] + E[phi phi''] (= P(|h| < a)) misses.
    a, q = 1.0, 2.0
    m = sp.gaussian_moments(sp.activation("hard_tanh", a=a), q)
    density = math.exp(-a * a / (2 * q)) / math.sqrt(2 * math.pi * q)
    assert m.dV == pytest.approx(m.dphi_sq - 2 * a * density, rel=1e-13)
    h = 1e-5
    fd = (
        sp.gaussian_moments("hard_tanh", q + h).phi_sq
        - sp.gaussian_moments("hard_tanh", q - h).phi_sq
    ) / (2 * h)
    assert m.dV == pytest.approx(fd, rel=1e-8)


def test_values_at_q_zero_are_limits():
    m = sp.gaussian_moments("sigmoid", 0.0)
    assert m.mean == 0.5 and m.phi_sq == 0.25 and m.dphi_sq == 0.0625
    m = sp.gaussian_moments("relu", 0.0)
    assert m.phi_sq == 0.0 and m.dphi_sq == 0.5  # mean of the one-sided limits
    for name in sp.ACTIVATIONS:
        m0 = sp.gaussian_moments(name, 0.0)
        m1 = sp.gaussian_moments(name, 1e-14)
        assert m0.phi_sq == pytest.approx(m1.phi_sq, abs=1e-12), name
        assert m0.dphi_sq == pytest.approx(m1.dphi_sq, rel=1e-6, abs=1e-12), name


def test_bivariate_at_c_one_is_one_dimensional():
    for name in sp.ACTIVATIONS:
        q = np.array([1e-3, 0.5, 30.0])
        m = sp.gaussian_moments(name, q)
        np.testing.assert_allclose(
            sp.bivariate_expectation(name, q, q, 1.0), m.phi_sq, rtol=1e-12, err_msg=name
        )
        np.testing.assert_allclose(
            sp.bivariate_expectation(name, q, q, 1.0, derivative=1),
            m.dphi_sq,
            rtol=1e-12,
            err_msg=name,
        )


def test_bivariate_continuous_up_to_c_one():
    # E[phi(u) phi(v)] is continuous at c = +-1: the smoothed kinks sharpen but
    # the value must converge to the one-dimensional integral.
    for name in ["relu", "elu", "hard_tanh", "tanh", "softsign", "shifted_relu"]:
        for c in (1.0, -1.0):
            near = sp.bivariate_expectation(name, 2.0, 0.5, c * (1 - 1e-12))
            at = sp.bivariate_expectation(name, 2.0, 0.5, c)
            assert near == pytest.approx(at, rel=1e-5, abs=1e-6), (name, c)


# ---------------------------------------------------------------------------
# Scalar calls (Python numbers in): the array path's numbers, bitwise
# ---------------------------------------------------------------------------


def _scalar_cases():
    """(q1, q2, c) covering the dispatch: random pairs over the whole domain, pairs next
    to the diagonal, c = +-1, q = 0, one variance tiny against the other."""
    rng = np.random.default_rng(2026)
    q1 = 10.0 ** rng.uniform(-6, 4, 12)
    q2 = 10.0 ** rng.uniform(-6, 4, 12)
    c = rng.uniform(-1, 1, 12)
    qn = 10.0 ** rng.uniform(-3, 3, 6)
    near = (qn, qn * (1 + 10.0 ** rng.uniform(-9, -2, 6)), 1 - 10.0 ** rng.uniform(-9, -1, 6))
    edges = (
        [1.0, 2.0, 0.0, 0.0, 1e-6, 3.0],
        [1.0, 0.5, 2.0, 0.0, 1e3, 3.0],
        [1, -1, 0.3, 0.5, 0.9, 0],
    )
    return [
        (float(a), float(b), float(x))
        for a, b, x in zip(
            np.concatenate([q1, near[0], edges[0]]),
            np.concatenate([q2, near[1], edges[1]]),
            np.concatenate([c, near[2], edges[2]]),
            strict=True,
        )
    ]


SCALAR_ACTIVATIONS = [*sp.ACTIVATIONS, "hard_tanh(a=0.3)", "elu(alpha=0.5)", "custom"]


def _scalar_act(spec):
    if spec == "custom":
        return sp.activation(lambda x: np.tanh(x) + 0.1 * x, name="tanh_plus_linear")
    if "(" in spec:
        name, arg = spec.rstrip(")").split("(")
        key, value = arg.split("=")
        return sp.activation(name, **{key: float(value)})
    return spec


@pytest.mark.parametrize("spec", SCALAR_ACTIVATIONS)
def test_scalar_calls_match_the_array_path(spec):
    # Python numbers go to the core's one-point functions (moments_point, qmap_point,
    # covmap_point, bivariate_point), arrays to its grid kernels: the same cell code,
    # so the same numbers, and NumPy float64 scalars out as for 0-d arrays.
    act = _scalar_act(spec)
    cases = _scalar_cases()
    q1, q2, c = (np.array(v) for v in zip(*cases, strict=True))
    for d in (0, 1):
        arr = sp.bivariate_expectation(act, q1, q2, c, derivative=d)
        got = [sp.bivariate_expectation(act, a, b, x, derivative=d) for a, b, x in cases]
        assert all(type(g) is np.float64 for g in got)
        np.testing.assert_array_equal(np.array(got), arr, strict=True)
    sw, sb = 1.3, 0.4
    np.testing.assert_array_equal(
        np.array([sp.covmap(act, a, b, x, sw, sb) for a, b, x in cases]),
        sp.covmap(act, q1, q2, c, sw, sb),
    )
    pos = q1 > 0
    np.testing.assert_array_equal(
        np.array([sp.cmap(act, a, x, sw, sb) for a, x in zip(q1[pos], c[pos], strict=True)]),
        sp.cmap(act, q1[pos], c[pos], sw, sb),
    )
    moments = sp.gaussian_moments(act, q1)
    qmap = sp.qmap(act, q1, sw, sb)
    for i, q in enumerate(q1.tolist()):
        m = sp.gaussian_moments(act, q)
        assert all(type(v) is np.float64 for v in m)
        np.testing.assert_array_equal(np.array(m), np.array(moments)[:, i])
        assert sp.qmap(act, q, sw, sb) == qmap[i]
        assert sp.chi1(act, q, sw) == sp.chi1(act, np.array([q]), sw)[0]
        assert sp.theory.qmap_slope(act, q, sw) == sp.theory.qmap_slope(act, [q], sw)[0]


@pytest.mark.parametrize(
    "value",
    [0.5, 2, np.float64(0.25), np.float32(0.1), np.float16(1.5), np.int64(3), np.uint8(2)],
    ids=repr,
)
def test_every_real_scalar_type_gives_the_0d_array_result(value):
    # int, float and NumPy real scalars take the scalar path; a 0-d array the array
    # path, which converts to float64 the same way.
    zero_d = np.asarray(value)
    assert sp.gaussian_moments("tanh", value) == sp.gaussian_moments("tanh", zero_d)
    c = 0.5 if abs(float(value)) > 1 else value
    assert sp.bivariate_expectation("elu", value, 1.5, c) == sp.bivariate_expectation(
        "elu", zero_d, 1.5, np.asarray(c)
    )
    assert sp.qmap("softsign", value, 1.2, value) == sp.qmap("softsign", zero_d, 1.2, zero_d)


def test_scalar_quadrature_shortfall_warns_at_the_caller():
    # A real point whose quadrature gives up (tanh past its tables, q1 = 1e15: NaN by
    # the time bound) warns from a scalar call as from an array, pointing at the caller.
    with pytest.warns(sp.AccuracyWarning, match="at 1 of 1 points") as record:
        value = sp.bivariate_expectation("tanh", 1e15, 1.0, 0.5)
    assert np.isnan(value) and type(value) is np.float64
    assert record[0].filename == __file__
    with pytest.warns(sp.AccuracyWarning, match="at 1 of 2 points") as record:
        sp.bivariate_expectation("tanh", [1e15, 1.0], 1.0, 0.5)
    assert record[0].filename == __file__
