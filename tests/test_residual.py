"""Tests of sigprop.architectures.residual: residual-network recursions, exponents, simulation.

References: 30-digit mpmath integrals (one and two blocks of tanh), the relu closed
forms (arc-cosine kernel), the alpha = 1/sqrt(L) limit as an ODE solved by scipy,
and finite networks with family-wise z-bounds.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

from sigprop.architectures.residual import (
    ResidualPropagation,
    residual_asymptotics,
    residual_exponents,
    residual_propagate,
    simulate_residual,
)

# ---------------------------------------------------------------- mpmath references


def _mp_e_phi2(q):
    """E[tanh(sqrt(q) Z)^2] at 30 digits."""
    with mp.workdps(30):
        q = mp.mpf(q)
        f = lambda z: mp.tanh(mp.sqrt(q) * z) ** 2 * mp.npdf(z)  # noqa: E731
        return mp.quad(f, [-mp.inf, 0, mp.inf])


def _mp_e_dphi2(q):
    with mp.workdps(30):
        q = mp.mpf(q)
        f = lambda z: mp.sech(mp.sqrt(q) * z) ** 4 * mp.npdf(z)  # noqa: E731
        return mp.quad(f, [-mp.inf, 0, mp.inf])


def _mp_e_phiphi(q1, q2, c):
    """E[tanh(u) tanh(v)], (u, v) of variances q1, q2 and correlation c, at 20 digits.

    Nested Gauss-Legendre quadratures on [-10, 10] (Gaussian tails beyond are below
    1e-22), split where the integrands' kinks of smoothness would be (0 and the zero of
    the inner argument); tanh is analytic, so the rule converges geometrically.
    """
    with mp.workdps(20):
        q1, q2, c = mp.mpf(q1), mp.mpf(q2), mp.mpf(c)
        s, r1, r2 = mp.sqrt(1 - c * c), mp.sqrt(q1), mp.sqrt(q2)

        def quad(f, pts):
            return mp.quad(f, pts, method="gauss-legendre", maxdegree=5)

        def inner(z1):
            return quad(
                lambda z2: mp.tanh(r2 * (c * z1 + s * z2)) * mp.npdf(z2), [-10, -c * z1 / s, 10]
            )

        return quad(lambda z1: mp.tanh(r1 * z1) * mp.npdf(z1) * inner(z1), [-10, 0, 10])


def _mp_block(q_a, q_b, k, sw, sb, alpha, s1=1.0, t1=0.0):
    """One residual block (reduced: s1 = 1, t1 = 0) by direct integration (k: None to skip)."""
    ua, ub = s1**2 * q_a + t1**2, s1**2 * q_b + t1**2
    qa1 = q_a + alpha**2 * (sb**2 + sw**2 * _mp_e_phi2(ua))
    qb1 = q_b + alpha**2 * (sb**2 + sw**2 * _mp_e_phi2(ub))
    k1 = None
    if k is not None:
        cuv = (s1**2 * k + t1**2) / mp.sqrt(ua * ub)
        k1 = k + alpha**2 * (sb**2 + sw**2 * _mp_e_phiphi(ua, ub, cuv))
    g = 1 + alpha**2 * sw**2 * s1**2 * _mp_e_dphi2(ua)
    return qa1, qb1, k1, g


@pytest.mark.parametrize(
    "block, s1, t1",
    [("reduced", 1.0, 0.0), ("full", 0.7, 0.4)],
)
def test_two_blocks_of_tanh_match_mpmath(block, s1, t1):
    sw, sb, alpha = 1.3, 0.2, 0.8
    qa, qb, c0 = 0.9, 1.7, 0.4
    kw = {} if block == "reduced" else {"sigma_w_inner": s1, "sigma_b_inner": t1}
    r = residual_propagate("tanh", sw, sb, 2, qa, c0, qb, block=block, alpha=alpha, **kw)
    a, b, k = mp.mpf(qa), mp.mpf(qb), mp.mpf(c0) * mp.sqrt(mp.mpf(qa) * qb)
    growth = mp.mpf(1)
    for layer in (1, 2):
        # the two-dimensional reference (about 1 s) for the first block's covariance only
        a, b, k, g = _mp_block(a, b, k if layer == 1 else None, sw, sb, alpha, s1, t1)
        assert r.q[layer] == pytest.approx(float(a), rel=1e-11)
        assert r.q_b[layer] == pytest.approx(float(b), rel=1e-11)
        if layer == 1:
            assert r.k[1] == pytest.approx(float(k), rel=1e-10, abs=1e-12)
            assert r.c[1] == pytest.approx(float(k / mp.sqrt(a * b)), rel=1e-10, abs=1e-12)
        assert r.grad_factor[layer - 1] == pytest.approx(float(g), rel=1e-11)
        growth *= g
        assert r.grad_growth[layer] == pytest.approx(float(growth), rel=1e-11)
    assert np.isnan(r.grad_factor[2])
    assert r.grad_sq[0] == pytest.approx(float(growth), rel=1e-11)
    assert r.grad_sq[2] == 1.0


# ---------------------------------------------------------------- relu closed forms


def _arccos_cov(qa, qb, c):
    """E[relu(u) relu(v)] (Cho & Saul 2009)."""
    c = np.clip(c, -1.0, 1.0)
    return np.sqrt(qa * qb) / (2 * np.pi) * (np.sqrt(1 - c * c) + (np.pi - np.arccos(c)) * c)


@pytest.mark.parametrize("sw, sb", [(1.0, 0.0), (1.5, 0.3)])
def test_relu_reduced_closed_form(sw, sb):
    L, q0, qb0, c0 = 30, 0.7, 1.9, -0.3
    r = residual_propagate("relu", sw, sb, L, q0, c0, qb0)
    rho = 1 + sw**2 / 2
    ell = np.arange(L + 1)
    q_exact = q0 * rho**ell + sb**2 * (rho**ell - 1) / (rho - 1)
    np.testing.assert_allclose(r.q, q_exact, rtol=1e-12)
    # the covariance by the closed-form arc-cosine kernel, step by step
    qa, qb, k = q0, qb0, c0 * math.sqrt(q0 * qb0)
    for layer in range(1, L + 1):
        c = k / math.sqrt(qa * qb)
        k = k + sb**2 + sw**2 * _arccos_cov(qa, qb, c)
        qa, qb = rho * qa + sb**2, rho * qb + sb**2
        assert r.k[layer] == pytest.approx(k, rel=1e-11)
    # gradients: factor 1 + sigma_w^2 / 2 per block
    np.testing.assert_allclose(r.grad_factor[:-1], rho, rtol=1e-13)
    np.testing.assert_allclose(r.grad_sq, rho ** (L - ell), rtol=1e-12)


def test_relu_full_block_closed_form():
    sw, sb, s1, t1, L, q0 = 1.1, 0.2, 0.9, 0.5, 12, 1.3
    r = residual_propagate(
        "relu", sw, sb, L, q0, block="full", sigma_w_inner=s1, sigma_b_inner=t1, alpha=0.6
    )
    q = q0
    for layer in range(1, L + 1):
        q = q + 0.36 * (sb**2 + sw**2 * (s1**2 * q + t1**2) / 2)
        assert r.q[layer] == pytest.approx(q, rel=1e-12)
    np.testing.assert_allclose(r.grad_factor[:-1], 1 + 0.36 * sw**2 * s1**2 / 2, rtol=1e-13)
    np.testing.assert_allclose(r.c, 1.0)


def test_relu_overflow_is_inf_and_nan_not_a_number():
    r = residual_propagate("relu", 3.0, 0.0, 1000, 1.0, 0.5)
    assert np.isinf(r.q[-1]) and np.isnan(r.c[-1]) and np.isnan(r.k[-1])
    assert np.isfinite(r.q[100]) and np.isfinite(r.c[100])


# ---------------------------------------------------------------- alpha = 1/sqrt(L)


def test_stable_resnet_relu_limit():
    """Hayou et al. (2021): q^L -> q0 e^{sigma_w^2/2}; gradients bounded; c^L -> an ODE's value."""
    from scipy.integrate import solve_ivp

    sw, q0, c0 = 1.2, 0.8, 0.1
    limit = q0 * math.exp(sw**2 / 2)
    prev = None
    for L in (100, 1000, 4000):
        r = residual_propagate("relu", sw, 0.0, L, q0, c0, alpha="1/sqrt(depth)")
        assert r.alpha == pytest.approx(1 / math.sqrt(L))
        assert r.q[-1] == pytest.approx(q0 * (1 + sw**2 / (2 * L)) ** L, rel=1e-12)
        # (1 + x/L)^L = e^x (1 - x^2 / (2L) + ...)
        assert abs(r.q[-1] / limit - 1) < sw**4 / (8 * L) * 1.1
        assert r.grad_sq[0] == pytest.approx(math.exp(sw**2 / 2), rel=sw**4 / (8 * L) * 1.1)
        prev = r

    # dc/dt = (sigma_w^2 / 2) (K(c) - c), K the normalised arc-cosine kernel
    def rhs(t, c):
        cc = np.clip(c, -1, 1)
        kk = (np.sqrt(1 - cc * cc) + (np.pi - np.arccos(cc)) * cc) / np.pi
        return sw**2 / 2 * (kk - cc)

    c_ode = solve_ivp(rhs, (0, 1), [c0], rtol=1e-12, atol=1e-14).y[0, -1]
    assert c_ode > c0 + 0.05 and c_ode < 0.9  # the kernel stays non-degenerate
    assert abs(prev.c[-1] - c_ode) < 5.0 / 4000


def test_stable_resnet_tanh_variance_is_an_euler_scheme():
    """alpha = 1/sqrt(L): q^L -> q(1), dq/dt = sb^2 + sw^2 E[tanh(sqrt(q) Z)^2], error O(1/L)."""
    from scipy.integrate import quad, solve_ivp

    sw, sb = 1.5, 0.3

    def e_phi2(q):
        f = lambda z: math.tanh(math.sqrt(q) * z) ** 2 * math.exp(-z * z / 2)  # noqa: E731
        return quad(f, -np.inf, np.inf, epsabs=1e-13)[0] / math.sqrt(2 * math.pi)

    rhs = lambda t, q: [sb * sb + sw * sw * e_phi2(q[0])]  # noqa: E731
    q_ode = solve_ivp(rhs, (0, 1), [1.0], rtol=1e-11, atol=1e-13).y[0, -1]
    scaled = {"alpha": "1/sqrt(depth)"}
    err = [
        (residual_propagate("tanh", sw, sb, L, 1.0, **scaled).q[-1] - q_ode) * L
        for L in (10, 100, 1000)
    ]
    assert all(-0.3 < e < -0.05 for e in err)  # q^L = q(1) + e / L, e -> a constant
    assert abs(err[2] - err[1]) < 1e-3
    # bounded by q0 + sigma_w^2 + sigma_b^2 for every L (E[tanh^2] < 1); with alpha = 1,
    # q grows without bound (linearly)
    assert q_ode + err[0] / 10 < 1.0 + sw**2 + sb**2
    assert residual_propagate("tanh", sw, sb, 1000, 1.0).q[-1] > 1000


# ---------------------------------------------------------------- exponents vs asymptotics


def test_tanh_exponents_match_asymptotics():
    sw = 1.0
    e = residual_exponents("tanh", sw, 0.0, 1500, c0=0.5)
    a = residual_asymptotics("tanh", sw, 0.0)
    assert a.kind == "saturating" and a.c_star == 0.0
    assert a.c_exponent == pytest.approx(1 - 2 / math.pi, rel=1e-12)
    assert a.grad_constant == pytest.approx(8 * sw / (3 * math.sqrt(2 * math.pi)), rel=1e-8)
    assert e.q_exponent == pytest.approx(1.0, abs=0.005)
    assert abs(e.q_rate) < 2e-3
    assert e.c_exponent == pytest.approx(a.c_exponent, abs=0.02)
    assert e.grad_exponent == pytest.approx(0.5, abs=0.01)
    assert e.grad_constant == pytest.approx(a.grad_constant, rel=0.005)


def test_full_block_gradient_constant():
    """erf, full block: a = 2 sw^2 s^2 I / sqrt(2 pi s^2 q_slope), I = int erf'^2 = 2 sqrt(2/pi)."""
    kw = {"block": "full", "sigma_w_inner": 0.6, "sigma_b_inner": 0.3}
    a = residual_asymptotics("erf", 1.2, 0.0, **kw)
    i_erf = 2 * math.sqrt(2 / math.pi)
    pred = 2 * 1.2**2 * 0.36 * i_erf / math.sqrt(2 * math.pi * 0.36 * 1.2**2)
    assert a.grad_constant == pytest.approx(pred, rel=1e-8)
    e = residual_exponents("erf", 1.2, 0.0, 1500, c0=0.5, **kw)
    assert e.grad_constant == pytest.approx(a.grad_constant, rel=0.01)
    assert e.q_exponent == pytest.approx(1.0, abs=0.01)


def test_relu_exponents_are_exponential():
    sw = 1.0
    e = residual_exponents("relu", sw, 0.0, 1000, q0=1e-100, c0=0.0)
    a = residual_asymptotics("relu", sw, 0.0)
    assert e.q_rate == pytest.approx(math.log(1 + sw**2 / 2), rel=1e-9)
    assert e.grad_rate == pytest.approx(a.grad_constant, rel=1e-9)
    assert e.grad_exponent == pytest.approx(1.0, abs=1e-3)
    assert e.q_exponent > 50  # no power law
    assert 1.9 < e.c_exponent < 2.3
    r = residual_propagate("relu", sw, 0.0, 1000, 1e-100, 0.0)
    ratio = (1 - r.c[[300, 1000]]) * np.array([300, 1000]) ** 2 / a.c_constant
    assert 0.8 < ratio[0] < ratio[1] < 1.0  # 1 - c^l ~ 9 pi^2 / (2 r^2 l^2), approached from below


def test_asymptotic_fixed_point_with_bias():
    sw, sb = 1.0, 0.5
    a = residual_asymptotics("tanh", sw, sb)
    g = (sw**2 * 2 / math.pi * math.asin(a.c_star) + sb**2) / (sw**2 + sb**2)
    assert 0 < a.c_star < 1 and g == pytest.approx(a.c_star, abs=1e-12)
    assert a.c_exponent == min(a.c_delta, 0.5)
    # full block: the inner layer's variances only enter at lower order
    f = residual_asymptotics("tanh", sw, sb, block="full", sigma_w_inner=0.5, sigma_b_inner=2.0)
    assert f.c_star == a.c_star
    assert f.grad_constant == pytest.approx(a.grad_constant * 0.5, rel=1e-12)
    for bad in ("sigmoid", "softsign", "x + 0.0 * x"):
        with pytest.raises(ValueError, match="activation"):
            residual_asymptotics(bad, 1.0, 0.0)


# ---------------------------------------------------------------- finite networks


@pytest.mark.parametrize(
    "act, block, alpha",
    [
        ("tanh", "reduced", 1.0),
        ("tanh", "full", 1.0),
        ("relu", "reduced", 1.0),
        ("relu", "full", "1/sqrt(depth)"),
    ],
)
def test_simulation_matches_theory(act, block, alpha):
    X = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [-0.3, 0.2, 0.9]]) * np.sqrt(3)
    kw = {} if block == "reduced" else {"sigma_w_inner": 0.8}
    ds = simulate_residual(
        act, 1.2, 0.3, X, width=256, depth=10, block=block, alpha=alpha, n_seeds=24, rng=7, **kw
    )
    # family-wise over 3 x 10 x 3 checks per case: |z| < 5 (t with 23 dof)
    zq = (ds.q_mean - ds.q_theory)[1:] / ds.q_se[1:]
    zc = (ds.c_mean - ds.c_theory)[1:] / ds.c_se[1:]
    zg = (ds.grad_sq_mean - ds.grad_sq_theory)[:-1] / ds.grad_sq_se[:-1]
    for z in (zq, zc, zg):
        assert float(np.abs(z).max()) < 5.0
    # layer 0 is exact in expectation too, and grad_sq is 1 at the output
    np.testing.assert_allclose(ds.grad_sq.values[:, -1], 1.0)
    assert ds.sizes["layer"] == 11 and ds.attrs["block"] == block


# ---------------------------------------------------------------- API


def test_vectorised_and_tables():
    r = residual_propagate("tanh", 1.0, 0.1, 5, [0.5, 1.0, 2.0], [[0.0], [0.5]])
    assert isinstance(r, ResidualPropagation)
    assert r.q.shape == (6, 2, 3) and r.c.shape == (6, 2, 3)
    single = residual_propagate("tanh", 1.0, 0.1, 5, 2.0, 0.5)
    np.testing.assert_allclose(r.c[:, 1, 2], single.c, rtol=1e-14)
    pytest.importorskip("xarray")
    ds = r.to_dataset()
    assert ds["q"].dims == ("layer", "cell") and ds.attrs["block"] == "reduced"
    e = residual_exponents("tanh", 1.0, 0.0, 40, c0=[0.2, 0.5])
    assert np.shape(e.c_exponent) == (2,)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"sigma_w": -1.0}, "sigma_w"),
        ({"sigma_b": -0.1}, "sigma_b"),
        ({"block": "dense"}, "block"),
        ({"alpha": -1.0}, "alpha"),
        ({"alpha": "1/L"}, "alpha"),
        ({"alpha": math.inf}, "alpha"),
        ({"depth": -1}, "depth"),
        ({"q0": -1.0}, "q0"),
        ({"c0": 1.5}, "c0"),
        ({"sigma_w_inner": 1.0}, "sigma_w_inner"),
        ({"block": "full", "sigma_w_inner": -2.0}, "sigma_w_inner"),
    ],
)
def test_validation_names_the_argument(kwargs, name):
    args = {"sigma_w": 1.0, "sigma_b": 0.0, "depth": 3, "q0": 1.0, "c0": 0.5}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        residual_propagate("tanh", **args)


def test_simulation_and_exponent_validation():
    X = np.eye(2)
    with pytest.raises(ValueError, match="width"):
        simulate_residual("tanh", 1.0, 0.0, X, width=0, depth=2)
    with pytest.raises(ValueError, match="block"):
        simulate_residual("tanh", 1.0, 0.0, X, width=4, depth=2, block="x")
    with pytest.raises(ValueError, match="inputs"):
        simulate_residual("tanh", 1.0, 0.0, np.ones(3), width=4, depth=2)
    with pytest.raises(ValueError, match="depth"):
        residual_exponents("tanh", 1.0, 0.0, 10)
    with pytest.raises(ValueError, match="alpha"):
        residual_exponents("tanh", 1.0, 0.0, 100, alpha="1/sqrt(depth)")
