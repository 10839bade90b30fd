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
