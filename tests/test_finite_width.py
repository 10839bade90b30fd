"""Finite-width corrections: quadrature against mpmath, closed forms, simulation with bounds."""

import math

import mpmath as mp
import numpy as np
import pytest

import sigprop as sp
from sigprop.architectures.finite_width import (
    finite_width_band,
    finite_width_kernel,
    gaussian_expectation,
    relu_log_variance,
    simulate_single_input,
)


def _mp_expect(phi, q, power, weight, points=()):
    with mp.workdps(30):
        s = mp.sqrt(mp.mpf(q))
        pts = sorted({-mp.inf, mp.mpf(0), mp.inf, *(mp.mpf(p) / s for p in points)})

        def f(z):
            return phi(s * z) ** power * weight(z) * mp.exp(-z * z / 2) / mp.sqrt(2 * mp.pi)

        return mp.quad(f, pts)


def _gelu(x):
    return x * (1 + mp.erf(x / mp.sqrt(2))) / 2


def _he4(z):
    return z**4 - 6 * z**2 + 3


@pytest.mark.parametrize(
    "name,phi,q,power,weight,kinks,hermite4",
    [
        ("tanh", mp.tanh, "1.7", 4, lambda z: 1, (), False),
        ("gelu", _gelu, "0.8", 2, _he4, (), True),
        ("hard_tanh", lambda x: mp.mpf(max(-1, min(1, x))), "2.3", 4, lambda z: 1, (-1, 1), False),
        ("softsign", lambda x: x / (1 + abs(x)), "5.0", 2, _he4, (0,), True),
        ("elu", lambda x: x if x > 0 else mp.expm1(x), "0.3", 4, lambda z: 1, (0,), False),
    ],
)
def test_gaussian_expectation_against_mpmath(name, phi, q, power, weight, kinks, hermite4):
    ref = _mp_expect(phi, q, power, weight, kinks)
    got = gaussian_expectation(name, float(q), power, hermite4=hermite4)
    scale = float(_mp_expect(lambda x: abs(phi(x)), q, power, lambda z: abs(weight(z)), kinks))
    assert abs(float(got) - float(ref)) <= 1e-12 * scale


def test_gaussian_expectation_closed_forms():
    q = np.array([0.5, 2.0, 9.0])
    # relu: E relu^4 = 3q^2/2; E relu^2 Z^2 = 3q/2; E relu^2 He4 = 0 (<relu^2>_q linear in q)
    np.testing.assert_allclose(gaussian_expectation("relu", q, 4), 1.5 * q**2, rtol=1e-13)
    np.testing.assert_allclose(gaussian_expectation("relu", q, 2, z_power=2), 1.5 * q, rtol=1e-13)
    assert np.all(np.abs(gaussian_expectation("relu", q, 2, hermite4=True)) < 1e-13 * q)
    # linear: E x^4 = 3 q^2; d^2 q / dq^2 = 0
    np.testing.assert_allclose(gaussian_expectation("linear", q, 4), 3 * q**2, rtol=1e-13)
    # consistency with sigprop's exact moments
    m = sp.gaussian_moments("tanh", q)
    np.testing.assert_allclose(gaussian_expectation("tanh", q, 2), m.phi_sq, rtol=1e-12)
    dv = gaussian_expectation("tanh", q, 2, z_power=2) - m.phi_sq  # = 2 q dV
    np.testing.assert_allclose(dv / (2 * q), m.dV, rtol=1e-10)


def test_relu_vertex_closed_form():
    # <relu^4> - <relu^2>^2 = 5 K^2 / 4, chi_par = sigma_w^2 / 2, <relu^2> linear => G1 = 0.
    for sw, sb in ((math.sqrt(2), 0.0), (1.3, 0.4), (1.6, 1.0)):
        k = finite_width_kernel("relu", sw, sb, 0.7, 12)
        K, V = [0.7], [0.0]
        for _ in range(11):
            V.append(sw**4 * 5 * K[-1] ** 2 / 4 + (sw**2 / 2) ** 2 * V[-1])
            K.append(sb**2 + sw**2 * K[-1] / 2)
        np.testing.assert_allclose(k.K, K, rtol=1e-13)
        np.testing.assert_allclose(k.V, V, rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(k.chi_parallel, sw**2 / 2, rtol=1e-13)
        assert np.all(np.abs(k.G1) < 1e-11)
    # He initialisation: V^l / (n K^2) = 5 (l - 1) / n (Roberts, Yaida & Hanin 2022, ch. 5)
    k = finite_width_kernel("relu", math.sqrt(2), 0.0, 1.3, 30)
    np.testing.assert_allclose(k.cumulant(100), 5 * np.arange(30) / 100, rtol=1e-11, atol=1e-14)


def test_linear_and_tanh_criticality():
    k = finite_width_kernel("linear", 1.1, 0.3, 2.0, 6)
    K, V = [2.0], [0.0]
    for _ in range(5):
        V.append(1.1**4 * 2 * K[-1] ** 2 + 1.1**4 * V[-1])
        K.append(0.09 + 1.21 * K[-1])
    np.testing.assert_allclose(k.V, V, rtol=1e-12)
    assert np.all(np.abs(k.G1) < 1e-10)
    # tanh on its critical point (K* = 0 class): V^l / (K^l)^2 grows by 2/3 per layer
    # (Roberts, Yaida & Hanin 2022, ch. 5: V / (n K^2) ~ (2/3) l / n).
    k = finite_width_kernel("tanh", 1.0, 0.0, 1.0, 80)
    step = np.diff(k.V / k.K**2)
    assert abs(step[-1] - 2 / 3) < 0.01 and abs(step[-1] - 2 / 3) < abs(step[20] - 2 / 3)


def test_broadcasting_and_table():
    k = finite_width_kernel("erf", [1.0, 1.5], 0.2, 1.0, 4)
    assert k.V.shape == (4, 2)
    one = finite_width_kernel("erf", 1.5, 0.2, 1.0, 4)
    np.testing.assert_allclose(k.V[:, 1], one.V, rtol=1e-14)
    assert "V" in k.to_dataset()


def test_relu_log_variance_exact_and_asymptotic():
    r = relu_log_variance([5, 20, 200], 100)
    np.testing.assert_allclose(r.var_asymptotic, (5 * np.array([4, 19, 199]) + 2) / 100)
    # exact and asymptotic agree to O(1/n^2) per layer
    assert np.all(np.abs(r.var / r.var_asymptotic - 1) < 0.1)
    big = relu_log_variance(20, 10_000)
    assert abs(big.var / big.var_asymptotic - 1) < 1e-3
    assert abs(big.mean - big.mean_asymptotic) < 1e-5
    # one layer: only the chi^2_n / n sampling of the last layer
    one = relu_log_variance(1, 50)
    assert float(one.var) == pytest.approx(float(mp.psi(1, 25)), rel=1e-13)
    assert float(one.p_dead) == 0.0


def test_relu_log_variance_against_simulation():
    # width 100, depth 20: exact in law sampler, 4000 networks; 2 checks at |z| < 4.5.
    L, n, S = 20, 100, 4000
    q = simulate_single_input("relu", math.sqrt(2), 0.0, 1.0, L, n, S, rng=7)
    lq = np.log(q[:, -1])
    r = relu_log_variance(L, n)
    assert abs(lq.mean() - r.mean) < 4.5 * lq.std() / math.sqrt(S)
    var_se = np.std((lq - lq.mean()) ** 2) / math.sqrt(S)
    assert abs(lq.var(ddof=1) - r.var) < 4.5 * var_se


@pytest.mark.slow
def test_relu_log_variance_full_networks():
    x = np.ones((1, 100))
    ds = sp.simulate(
        "relu",
        math.sqrt(2),
        0.0,
        x,
        width=100,
        depth=20,
        n_seeds=400,
        gradients=False,
        theory=False,
        rng=5,
    )
    lq = np.log(ds.q.values[:, -1, 0] / 2.0)  # q^1 = 2 |x|^2 / d = 2
    r = relu_log_variance(20, 100)
    assert abs(lq.mean() - r.mean) < 4.5 * lq.std() / 20
    assert abs(lq.var(ddof=1) - r.var) < 4.5 * np.std((lq - lq.mean()) ** 2) / 20


@pytest.mark.parametrize(
    "act,sw,sb", [("relu", math.sqrt(2), 0.0), ("tanh", 1.0, 0.0), ("tanh", 1.5, 0.3)]
)
@pytest.mark.parametrize("n", [64, 256])
def test_band_against_sampler(act, sw, sb, n):
    # 6 cases x 10 layers: mean within 5 standard errors of K + G1/n (Bonferroni-safe),
    # spread across networks within 15% of the band's std (its own error is ~2% here).
    S = 3000
    q = simulate_single_input(act, sw, sb, 1.0, 10, n, S, rng=20 + n)
    b = finite_width_band(act, sw, sb, 1.0, 10, n)
    sd = q.std(0, ddof=1)
    assert np.all(np.abs(q.mean(0) - b.mean) < 5 * sd / math.sqrt(S))
    assert np.all(np.abs(sd / b.std - 1) < 0.15), sd / b.std


def test_one_over_n_correction_is_needed_for_tanh():
    # tanh on its critical point, n = 64: K alone is > 5 standard errors off at depth 10,
    # K + G1/n is not.
    S = 6000
    q = simulate_single_input("tanh", 1.0, 0.0, 1.0, 10, 64, S, rng=3)
    b = finite_width_band("tanh", 1.0, 0.0, 1.0, 10, 64)
    se = q[:, -1].std(ddof=1) / math.sqrt(S)
    assert abs(q[:, -1].mean() - b.K[-1]) > 5 * se
    assert abs(q[:, -1].mean() - b.mean[-1]) < 4 * se


def test_band_against_full_network_simulation():
    # sigprop.simulate (dense weight matrices), tanh, width 64, depth 10, 200 seeds.
    x = np.ones((1, 64))
    ds = sp.simulate(
        "tanh", 1.0, 0.0, x, width=64, depth=10, n_seeds=200, gradients=False, theory=False, rng=5
    )
    q = ds.q.values[:, :, 0]
    b = finite_width_band("tanh", 1.0, 0.0, 1.0, 10, 64)
    sd = q.std(0, ddof=1)
    assert np.all(np.abs(q.mean(0) - b.mean) < 5 * sd / math.sqrt(200))
    # the std of a 200-sample std is ~5-8%: 15% is about 2-3 of its standard errors
    assert np.all(np.abs(sd / b.std - 1) < 0.15), sd / b.std


def test_validation():
    with pytest.raises(ValueError, match="q0"):
        finite_width_kernel("tanh", 1.0, 0.0, 0.0, 3)
    with pytest.raises(ValueError, match="depth"):
        finite_width_band("tanh", 1.0, 0.0, 1.0, 0, 10)
    with pytest.raises(ValueError, match="width"):
        finite_width_band("tanh", 1.0, 0.0, 1.0, 3, 0)
    with pytest.raises(ValueError, match="width"):
        relu_log_variance(3, 0.5)
    with pytest.raises(ValueError, match="power"):
        gaussian_expectation("tanh", 1.0, 9)
