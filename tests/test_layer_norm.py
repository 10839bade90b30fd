"""Layer-normalised chain: closed forms, a 30-digit mpmath value, ratio invariance, simulation."""

import math

import mpmath as mp
import numpy as np
import pytest

from sigprop.architectures.layer_norm import (
    layer_norm_fixed_point,
    layer_norm_maps,
    layer_norm_propagate,
    simulate_layer_norm,
)

# E[tanh(u) tanh(v)], (u, v) standard with correlation 0.3, to 30 digits: the Mehler series
# sum_n a_n^2 c^n / n! of the 30-digit Hermite coefficients a_n = E[tanh(Z) He_n(Z)] (n <= 63),
# equal in every digit to the nested 2-d mpmath quadrature (the slow test below recomputes it).
TANH_BIV_03 = "0.110668385547446333280429406552"  # converted at 30 digits where used


def _mp_pdf(z):
    return mp.exp(-z * z / 2) / mp.sqrt(2 * mp.pi)


def _mp_tanh_sq():
    with mp.workdps(30):
        return mp.quad(lambda z: mp.tanh(z) ** 2 * _mp_pdf(z), [-mp.inf, 0, mp.inf])


def test_tanh_cmap_against_mpmath_30_digits():
    with mp.workdps(30):
        sw, sb = mp.mpf("1.2"), mp.mpf("0.4")
        ref = (sb**2 + sw**2 * mp.mpf(TANH_BIV_03)) / (sb**2 + sw**2 * _mp_tanh_sq())
    m = layer_norm_maps("tanh", 0.3, 1.2, 0.4)
    assert abs(float(m.c) - float(ref)) < 1e-11
    assert abs(float(m.q) - float(mp.mpf("0.16") + mp.mpf("1.44") * _mp_tanh_sq())) < 1e-12


@pytest.mark.slow
def test_tanh_bivariate_reference_by_mehler_series():
    # ~8 s: sum over odd n <= 63 of a_n^2 c^n / n!, a_n = E[tanh(Z) He_n(Z)] at 30 digits
    # (c^64 < 1e-33). The nested 2-d quadrature gives the same 30 digits (~1 min).
    with mp.workdps(30):
        c = mp.mpf("0.3")
        total = mp.mpf(0)
        for n in range(1, 64, 2):
            a_n = mp.quad(
                lambda z, n=n: (
                    mp.tanh(z) * mp.hermite(n, z / mp.sqrt(2)) * 2 ** (-mp.mpf(n) / 2) * _mp_pdf(z)
                ),
                [-mp.inf, 0, mp.inf],
            )
            total += a_n**2 / mp.factorial(n) * c**n
        assert abs(total - mp.mpf(TANH_BIV_03)) < mp.mpf("1e-28")


def _relu_k1(c):
    return (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c) / (2 * math.pi)


@pytest.mark.parametrize("c", [-0.9, -0.2, 0.0, 0.5, 0.99])
@pytest.mark.parametrize("sw,sb", [(1.0, 0.0), (1.3, 0.7), (0.4, 2.0)])
def test_relu_closed_form(c, sw, sb):
    # E[relu(u) relu(v)] = arc-cosine kernel (Cho & Saul 2009), E[relu^2] = 1/2,
    # E[relu'(u) relu'(v)] = (pi - arccos c) / (2 pi).
    m = layer_norm_maps("relu", c, sw, sb)
    den = sb**2 + sw**2 / 2
    assert float(m.q) == pytest.approx(den, rel=1e-14)
    assert float(m.c) == pytest.approx((sb**2 + sw**2 * _relu_k1(c)) / den, abs=1e-12)
    slope = sw**2 * (math.pi - math.acos(c)) / (2 * math.pi) / den
    assert float(m.slope) == pytest.approx(slope, abs=1e-12)


def test_depends_only_on_ratio():
    r = np.array([0.0, 0.1, 0.5, 2.0])
    for act in ("tanh", "relu", "gelu"):
        a = layer_norm_fixed_point(act, 1.0, np.sqrt(r))
        for scale in (0.3, 4.0):
            b = layer_norm_fixed_point(act, scale, scale * np.sqrt(r))
            np.testing.assert_allclose(b.c_star, a.c_star, atol=1e-9)
            np.testing.assert_allclose(b.chi_c, a.chi_c, rtol=1e-9)
            np.testing.assert_allclose(b.chi1, a.chi1, rtol=1e-12)
            assert list(b.phase) == list(a.phase)
        m1 = layer_norm_maps(act, 0.4, 1.0, np.sqrt(r))
        m2 = layer_norm_maps(act, 0.4, 3.0, 3.0 * np.sqrt(r))
        np.testing.assert_allclose(m2.c, m1.c, atol=1e-12)


def test_fixed_point_properties():
    sw = 1.0
    sb = np.array([0.0, 0.05, 0.2, 0.5, 1.0])
    for act in ("tanh", "erf", "gelu"):
        fp = layer_norm_fixed_point(act, sw, sb)
        m = layer_norm_maps(act, fp.c_star, sw, sb)
        np.testing.assert_allclose(m.c, fp.c_star, atol=1e-9)  # a fixed point
        np.testing.assert_allclose(m.slope, fp.chi_c, rtol=1e-8)
        chaotic = fp.chi1 > 1
        assert np.all(fp.c_star[chaotic] < 1) and np.all(fp.c_star[~chaotic] == 1)
        assert np.all(fp.chi_c <= 1 + 1e-12)
        np.testing.assert_allclose(fp.xi_c, -1 / np.log(fp.chi_c))
        # iterating the map from c^0 = 0.2 approaches c* at the rate chi_c per layer
        p = layer_norm_propagate(act, sw, sb[chaotic], 60, 0.2)
        gap = np.abs(p.c[-1] - fp.c_star[chaotic])
        assert np.all(gap <= 2 * np.abs(0.2 - fp.c_star[chaotic]) * fp.chi_c[chaotic] ** 30 + 1e-9)


def test_odd_without_bias_chaotic_and_relu_phases():
    # odd phi, sigma_b = 0: f(c) = sum_odd a_n^2 c^n / sum a_n^2, so c* = 0 and chi_c = a_1^2/sum.
    fp = layer_norm_fixed_point("tanh", 2.0, 0.0)
    assert str(fp.phase) == "chaotic" and abs(float(fp.c_star)) < 1e-12
    with mp.workdps(30):
        a1 = mp.quad(lambda z: (1 - mp.tanh(z) ** 2) * _mp_pdf(z), [-mp.inf, 0, mp.inf])
        assert float(fp.chi_c) == pytest.approx(float(a1**2 / _mp_tanh_sq()), rel=1e-10)
    # relu: chi1 = (1/2) / (r + 1/2): edge at sigma_b = 0, ordered otherwise.
    fp = layer_norm_fixed_point("relu", 1.7, [0.0, 0.3])
    assert list(fp.phase) == ["edge", "ordered"]
    np.testing.assert_allclose(fp.chi1, [1.0, 0.5 / (0.09 / 1.7**2 + 0.5)], rtol=1e-13)
    assert fp.xi_c[0] == np.inf
    bad = layer_norm_fixed_point("tanh", 0.0, 0.0)
    assert np.isnan(bad.c_star) and str(bad.phase) == "failed"
    df = layer_norm_fixed_point("tanh", [1.0, 2.0], 0.5).to_dataframe()
    assert list(df["phase"]) == ["ordered", "chaotic"]


@pytest.mark.parametrize(
    "act,sw,sb,c0",
    [
        ("tanh", 1.0, 0.3, 0.5),
        ("relu", 1.0, 0.5, -0.3),
        ("tanh", 2.0, 0.2, 0.9),
        ("gelu", 1.5, 0.0, 0.2),
    ],
)
def test_simulation_matches_theory(act, sw, sb, c0):
    # Family-wise: 4 cases x 8 layers; |z| < 5 per check (two-sided 5.7e-7 each).
    s = simulate_layer_norm(act, sw, sb, width=256, depth=8, c0=c0, n_seeds=60, rng=11)
    assert s.c_mean[0] == pytest.approx(c0, abs=1e-12)
    z = (s.c_mean[1:] - s.c_theory[1:]) / s.c_se[1:]
    assert np.all(np.abs(z) < 5), z
    q = layer_norm_maps(act, 0.0, sw, sb).q
    assert (
        abs(np.mean(s.q[:, 1:]) / q - 1)
        < 5 * np.std(s.q[:, 1:]) / q / np.sqrt(s.q[:, 1:].size) + 0.02
    )


def test_validation():
    with pytest.raises(ValueError, match="c"):
        layer_norm_maps("tanh", 1.5, 1.0, 0.0)
    with pytest.raises(ValueError, match="sigma_w"):
        layer_norm_fixed_point("tanh", -1.0, 0.0)
    with pytest.raises(ValueError, match="depth"):
        layer_norm_propagate("tanh", 1.0, 0.0, 0, 0.5)
    with pytest.raises(ValueError, match="c0"):
        simulate_layer_norm("tanh", 1.0, 0.0, width=10, depth=2, c0=1.0)
