"""Validation of every argument (ValueError/TypeError naming it, never OverflowError,
ZeroDivisionError or a silent wrong value) and documented bounds on time and memory."""

from __future__ import annotations

import numpy as np
import pytest

import sigprop as sp
from sigprop.papers import panigrahi as gram
from sigprop.theory import hermite


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"fan_in": 3, "fan_out": -3}, "fan_out must be an int >= 1, got -3"),
        ({"fan_in": 0, "fan_out": 3}, "fan_in must be an int >= 1, got 0"),
        ({"fan_in": -5, "fan_out": 3}, "fan_in must be an int >= 1, got -5"),
        ({"fan_in": True, "fan_out": 3}, "fan_in must be an int >= 1, got True"),
    ],
)
def test_init_sigma_w_fans(kw, match):
    with pytest.raises(ValueError, match=match):
        sp.init_sigma_w("tanh", "glorot", **kw)


@pytest.mark.parametrize("scheme", ["he", "kumar", "lecun", "glorot", 1.5])
def test_init_sigma_w_validates_sigma_b_for_every_scheme(scheme):
    with pytest.raises(ValueError, match="sigma_b must be >= 0"):
        sp.init_sigma_w("tanh", scheme, sigma_b=-1.0, fan_in=3, fan_out=3)
    with pytest.raises(ValueError, match="fan_in must be an int >= 1"):
        sp.init_sigma_w("tanh", scheme, fan_in=0, fan_out=3)


def test_simulate_infinite_first_layer_names_sigma_w():
    with pytest.raises(ValueError, match=r"sigma_w = 1e\+200.*infinite layer-1 variance"):
        sp.simulate("tanh", 1e200, 0.1, np.ones((2, 3)), depth=2, width=4)


def test_no_overflow_error():
    with pytest.raises(ValueError, match="c1 must be finite, got an int of 401 digits"):
        sp.networks.correlated_inputs(2, 4, 1.0, 10**400, 1.0, 0.0)
    with pytest.raises(ValueError, match="q1 must be finite"):
        sp.networks.correlated_inputs(2, 4, float("inf"), 0.5, 1.0, 0.0)
    with pytest.raises(TypeError, match="q1 must be a real number"):
        sp.networks.correlated_inputs(2, 4, "1", 0.5, 1.0, 0.0)
    with pytest.raises(ValueError, match=r"a must lie in \[1e-100, 1e100\], got 1e\+155"):
        sp.papers.murray.linear_region_table(0.5, a=1e155)


def test_numpy_float_tolerances_accepted():
    rng = np.random.default_rng(0)
    w = [rng.normal(size=(4, 2)), rng.normal(size=(1, 4))]
    b = [rng.normal(size=4), rng.normal(size=1)]
    ref = sp.papers.milkert.count_linear_regions(w, b, [0, 0], [1, 1], split_tol=1e-9)
    got = sp.papers.milkert.count_linear_regions(w, b, [0, 0], [1, 1], split_tol=np.float32(1e-9))
    assert got.count == ref.count
    with pytest.raises(ValueError, match="split_tol must be a number"):
        sp.papers.milkert.count_linear_regions(w, b, [0, 0], [1, 1], split_tol=True)


@pytest.mark.parametrize(
    "call",
    [
        lambda d: sp.bivariate_expectation("tanh", 1.0, 1.0, 0.3, derivative=d),
        lambda d: sp.activation("tanh")(1.0, d),
        lambda d: sp.theory.hermite_coefficients("tanh", 3, derivative=d),
    ],
)
@pytest.mark.parametrize("d", [True, False, np.bool_(True), 1.0, "1"])
def test_derivative_rejects_bools_and_non_ints(call, d):
    with pytest.raises(ValueError, match="derivative must be 0"):
        call(d)


@pytest.mark.parametrize("buf", [memoryview(b"ab"), bytearray(b"ab"), b"ab"])
def test_bytes_like_rejected(buf):
    with pytest.raises(TypeError, match="sigma_b must be a real number"):
        sp.qmap("tanh", 1.0, 1.0, buf)


def test_float_memoryview_accepted():
    mv = memoryview(np.array([0.1, 0.2]))
    np.testing.assert_array_equal(
        sp.qmap("tanh", 1.0, 1.0, mv), sp.qmap("tanh", 1.0, 1.0, [0.1, 0.2])
    )


def test_hermite_bounds():
    # The core's rule costs the same at any q (its mesh is graded, not uniform): at
    # q = 1e20 tanh(sqrt(q) x) is the sign function to double precision, whose
    # odd coefficients are known in closed form (relu family: b_k of the step).
    a = hermite.hermite_coefficients("tanh", 11, q=1e20)
    step = hermite._relu_step_coefficients(11)
    np.testing.assert_allclose(a[1::2], 2 * step[1::2], rtol=0, atol=1e-12)
    assert np.all(np.abs(a[0::2]) <= 1e-15)
    with pytest.raises(ValueError, match="n_max must be at most 20000"):
        hermite.hermite_coefficients("tanh", 20_001)
    # relu-like closed forms have no bound in q
    assert np.all(np.isfinite(sp.theory.hermite_coefficients("relu", 10, q=1e200)))


def test_gram_infinite_huge_inputs_use_bounded_method():
    # silu at |x|^2 = 2e15: the series would need TBs; auto takes the compiled quadrature
    G = sp.papers.panigrahi.gram_infinite("silu", [[4.45e7]])
    assert np.isfinite(G).all() and G[0, 0] > 0
    # linear: phi' = 1, G = <x, x> exactly
    G = sp.papers.panigrahi.gram_infinite("linear", [[1e14, -0.66, -9.9]])
    assert G[0, 0] == pytest.approx(1e28, rel=1e-12)
    with pytest.raises(ValueError, match="at most 10000 rows"):
        gram.gram_infinite("relu", np.ones((gram.MAX_GRAM_ROWS + 1, 1)))


@pytest.mark.parametrize("name, sb", [("gelu", 2.0), ("silu", 3.0), ("shifted_softplus", 3.0)])
def test_correlation_convergence_large_q_star_is_bounded(name, sb):
    # these EOC points have q* ~ 1e3: the Hermite series does not converge there;
    # the map is evaluated by the compiled bivariate expectation instead
    r = sp.papers.hayou.correlation_convergence(name, 20, sigma_b=sb)
    assert r.status == "converged" and r.method == "quadrature"
    assert np.all(np.isfinite(r.gap)) and np.all(np.diff(r.gap) <= 0)
    # the first step is the c-map itself: 1 - f(0)/q* (sigma_b^2 + sigma_w^2 E[phi(u) phi(v)])
    q = r.q
    e = float(sp.bivariate_expectation(name, q, q, 0.0))
    assert r.gap[1] == pytest.approx(1 - (sb * sb + r.sigma_w**2 * e) / q, rel=1e-9, abs=1e-12)
