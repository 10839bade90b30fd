"""No NaN where an answer exists: tiny variances, narrow activations, q = 0
conventions, IEEE special values in Activation.__call__, subnormal q.

Each expected value is an independent limit (first-order expansions in sqrt(q),
orthant probabilities, closed forms of piecewise-linear kernels), not the
library's own output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import sigprop as sp

SELU_ALPHA = 1.6732632423543772
SELU_LAMBDA = 1.0507009873554805


def _ncdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _piecewise_linear_kernel(R: float, L: float, c: float) -> float:
    """E[g(X) g(Y)] for g(x) = R x (x > 0), L x (x < 0), (X, Y) standard normal, corr c."""
    th = math.acos(c)
    relu_relu = (math.sqrt(1 - c * c) + (math.pi - th) * c) / (2 * math.pi)
    return L * L * c + 2 * L * (R - L) * c / 2 + (R - L) ** 2 * relu_relu


@pytest.mark.parametrize("q", [1e-14, 1e-16, 1e-20, 1e-100, 1e-300])
def test_elu_selu_bivariate_at_tiny_q(q):
    # elu(v) = v + O(v^2) at 0 (alpha = 1), so E[elu(u) elu(v)] / sqrt(q2) -> c E[elu'(u)]
    # = c (1/2 + e^{1/2} Phi(-1)) at q1 = 1 (Stein).
    lim = 0.5 * (0.5 + math.exp(0.5) * _ncdf(-1.0))
    got = sp.bivariate_expectation("elu", 1.0, q, 0.5) / math.sqrt(q)
    assert got == pytest.approx(lim, rel=max(1e-9, 10 * math.sqrt(q)))
    # selu is piecewise linear at scale sqrt(q): slopes lambda and lambda alpha
    want = _piecewise_linear_kernel(SELU_LAMBDA, SELU_LAMBDA * SELU_ALPHA, 0.5)
    got = sp.bivariate_expectation("selu", q, q, 0.5) / q
    assert got == pytest.approx(want, rel=max(1e-9, 10 * math.sqrt(q)))
    # linear_floor is the identity near 0: E[phi(u) v] / sqrt(q) = c E[phi'(u)] = c Phi(1)
    got = sp.bivariate_expectation("linear_floor", 1.0, q, 0.5) / math.sqrt(q)
    assert got == pytest.approx(0.5 * _ncdf(1.0), rel=max(1e-9, 10 * math.sqrt(q)))


def test_issue_reproducers_are_finite():
    assert np.isfinite(sp.cmap("elu", 1e-100, 0.5, 1.3, 1.0))
    assert np.all(np.isfinite(sp.propagate("elu", 1.3, 0.1, 2, 1e-20, 0.5).c))
    K = sp.nngp_kernel("elu", [[1.0, 0.0], [1e-9, 1e-9]], 1.0, 0.0, depth=2)
    assert np.all(np.isfinite(K))
    # off-diagonal: E[elu(u) elu(v)] with v tiny is ~ cov(u, v) E[elu'(u)] (u, v as above)
    assert K[0, 1] == K[1, 0] > 0


@pytest.mark.parametrize("a", [1e-4, 1e-7, 1e-8, 1e-12])
@pytest.mark.parametrize("c", [-0.9, 0.3, 0.99])
def test_narrow_hard_tanh(a, c):
    # clip(x, -a, a) = a sign(x) away from a window of width 2a: E = a^2 (2/pi) asin(c)
    act = sp.activation("hard_tanh", a=a)
    got = sp.bivariate_expectation(act, 1.0, 1.0, c)
    assert got == pytest.approx(a * a * 2 / math.pi * math.asin(c), rel=10 * a)


@pytest.mark.parametrize(
    "act", ["leaky_relu", sp.activation("elu", alpha=2.6), "selu", "relu", "soft_threshold"]
)
def test_zero_variance_derivative_convention(act):
    m0 = sp.gaussian_moments(act, 0.0)
    assert sp.bivariate_expectation(act, 0.0, 0.0, 1.0, derivative=1) == pytest.approx(
        float(m0.dphi_sq), rel=1e-15
    )
    # Cauchy-Schwarz against the library's own moments, at q1 = 0 and q2 in {0, 1}
    for q2 in (0.0, 1.0):
        m2 = sp.gaussian_moments(act, q2)
        bound = math.sqrt(float(m0.dphi_sq) * float(m2.dphi_sq))
        for c in np.linspace(-1, 1, 9):
            v = sp.bivariate_expectation(act, 0.0, q2, c, derivative=1)
            assert abs(v) <= bound * (1 + 1e-13)
    # continuity in q1 -> 0+ (leaky_relu's kernel is q-independent: exact there)
    for c in (-0.7, 0.0, 0.7):
        at0 = sp.bivariate_expectation(act, 0.0, 1.0, c, derivative=1)
        near = sp.bivariate_expectation(act, 1e-24, 1.0, c, derivative=1)
        assert at0 == pytest.approx(near, rel=1e-9, abs=1e-12)


def test_zero_variance_orthant_formula():
    # leaky_relu: R = 1, L = 0.01; P(same sign) = 1/2 + asin(c)/pi
    for c in (-1.0, -0.3, 0.0, 0.6, 1.0):
        same = 0.5 + math.asin(c) / math.pi
        want = (1 + 1e-4) * same / 2 + 2 * 0.01 * (1 - same) / 2
        got = sp.bivariate_expectation("leaky_relu", 0.0, 0.0, c, derivative=1)
        assert got == pytest.approx(want, rel=1e-14)


@pytest.mark.parametrize("name", sp.ACTIVATIONS)
@pytest.mark.parametrize("d", [0, 1, 2])
def test_call_nan_in_nan_out(name, d):
    assert math.isnan(sp.activation(name)(np.nan, d))


LIMITS = [
    ("silu", 0, -np.inf, 0.0),
    ("gelu", 0, -np.inf, 0.0),
    ("softsign", 0, np.inf, 1.0),
    ("softsign", 0, -np.inf, -1.0),
    ("gelu", 1, np.inf, 1.0),
    ("gelu", 1, -np.inf, 0.0),
    ("gelu", 2, np.inf, 0.0),
    ("gelu", 2, -np.inf, 0.0),
    ("silu", 1, np.inf, 1.0),
    ("silu", 1, -np.inf, 0.0),
    ("silu", 2, np.inf, 0.0),
    ("silu", 2, -np.inf, 0.0),
    ("erf", 2, np.inf, 0.0),
    ("erf", 2, -np.inf, 0.0),
    ("gelu", 2, 1e300, 0.0),
    ("gelu", 2, -1e300, 0.0),
    ("relu", 0, np.inf, np.inf),
    ("tanh", 0, -np.inf, -1.0),
]


@pytest.mark.parametrize("name, d, x, want", LIMITS)
def test_call_limits_at_infinity(name, d, x, want):
    assert sp.activation(name)(x, d) == want


@pytest.mark.parametrize("name", [n for n in sp.ACTIVATIONS if n != "sin"])
@pytest.mark.parametrize("d", [0, 1, 2])
def test_call_never_nan_for_non_nan_input(name, d):
    x = np.array([np.inf, -np.inf, 1e308, -1e308, 1e154, -1e154, 5e-324, 0.0])
    assert not np.isnan(sp.activation(name)(x, d)).any()


def test_sin_has_no_limit():
    assert math.isnan(sp.activation("sin")(np.inf))


@pytest.mark.parametrize("q", [5e-324, 1e-320, 1e-310, 1e-295])
@pytest.mark.parametrize("name", ["tanh", "erf", "gelu", "elu", "softsign", "sin"])
def test_qmap_subnormal_q(name, q):
    # phi(0) = 0 and phi'(0) = s: V(q) = s^2 q (1 + O(sqrt(q))) (sigma_b = 0, sigma_w = 1)
    s = {"tanh": 1.0, "erf": 2 / math.sqrt(math.pi), "gelu": 0.5, "elu": 1.0}.get(name, 1.0)
    v = sp.qmap(name, q, 1.0, 0.0)
    assert v == pytest.approx(s * s * q, rel=1e-12, abs=0.0) or (
        q < 1e-320 and abs(v - s * s * q) <= 2 * 5e-324  # subnormal spacing
    )


# t = tau / sqrt(q) at the edges and middles of the tail's pieces (special.hpp,
# mills_fraction): the polynomials on [a, a + 1), a = 3..7 (their ends, one ulp inside
# them, and points between), then the continued fraction's depth bands (24 terms from
# t = 8, 10 from t = 26 on)
TAIL_T = [
    3.0,
    3.3,
    3.5,
    3.999999999999999,
    4.0,
    4.69,
    4.7,
    5.29,
    5.3,
    5.999999999999999,
    6.0,
    6.3,
    6.77,
    7.0,
    7.5,
    7.999999999999999,
    8.0,
    9.9,
    10.0,
    12.5,
    15.0,
    19.0,
    25.9,
    26.0,
    37.0,
]


@pytest.mark.parametrize("t", TAIL_T)
def test_threshold_moments_in_the_tail_against_mpmath(t):
    """shifted_relu's moments are the normal tail's: with tau = 1, t = 1 / sqrt(q),
    E[phi] = s (npdf(t) - t Q(t)), E[phi^2] = q ((1 + t^2) Q(t) - t npdf(t)),
    E[phi'^2] = Q(t) (s = sqrt(q)); the first two cancel to 1/t^2 and 1/t^4 of their
    terms, which the continued fraction avoids. 30-digit mpmath at the float q passed;
    relative tolerance 5e-16 (1 + t^2): exp(-t^2 / 2) turns the rounding of t into t^2
    ulps (the continued fraction of 60 terms reached 1.5e-16 (1 + t^2) at these t, as
    do the polynomials that replace it below t = 8)."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 30
    q = 1.0 / (t * t)
    T = 1 / mp.sqrt(mp.mpf(q))
    Q = mp.erfc(T / mp.sqrt(2)) / 2
    d = mp.exp(-T * T / 2) / mp.sqrt(2 * mp.pi)
    s = 1 / T
    want = [s * (d - T * Q), s * s * ((1 + T * T) * Q - T * d), Q]
    m = sp.gaussian_moments("shifted_relu", q)
    for got, ref in zip([m.mean, m.phi_sq, m.dphi_sq], want, strict=True):
        assert abs(float(got) - float(ref)) <= 5e-16 * (1 + t * t) * abs(float(ref)), (got, ref)
