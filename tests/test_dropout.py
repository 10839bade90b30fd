"""Dropout (sigprop.architectures.dropout, fixed_point/scan keep_prob=): the maps, their
fixed points, propagation over depth, and finite networks against the theory."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sigprop as sp
from sigprop.architectures.dropout import dropout_propagate, simulate_dropout

ACTS = ["tanh", "relu", "elu", "erf", "hard_tanh", "softsign"]


@pytest.mark.parametrize("act", ACTS)
def test_fixed_point_is_the_dropout_maps_fixed_point(act):
    # q* is the fixed point of sb^2 + (sw^2 / rho) E[phi^2]; c* solves
    # (sb^2 + sw^2 E[phi(u) phi(v)]) / q* = c* with chi_c = sw^2 E[phi'(u) phi'(v)].
    sw = np.array([0.8, 1.2, 1.6, 2.5])
    sb, rho = 0.3, 0.85
    r = sp.fixed_point(act, sw, sb, keep_prob=rho)
    plain = sp.fixed_point(act, sw / math.sqrt(rho), sb, correlation=False)
    ok = r.status_name == "converged"
    assert ok.sum() >= 2
    # (sw / sqrt(rho))^2 and sw^2 / rho differ in the last bit
    np.testing.assert_allclose(r.q_star, plain.q_star, rtol=1e-13)
    np.testing.assert_allclose(r.chi1, plain.chi1, rtol=1e-13)
    q, c = r.q_star[ok], r.c_star[ok]
    assert np.all(c < 1) and np.all(np.isfinite(r.xi_c[ok]))
    f = (sb * sb + sw[ok] ** 2 * sp.bivariate_expectation(act, q, q, c)) / q
    assert np.max(np.abs(f - c)) <= 1e-12
    chic = sw[ok] ** 2 * sp.bivariate_expectation(act, q, q, c, derivative=1)
    np.testing.assert_allclose(r.chi_c[ok], chic, rtol=1e-10)
    np.testing.assert_allclose(r.trainable_depth, 6 * r.xi_c)
    assert np.all(r.keep_prob == rho) and r.keep_prob.shape == sw.shape


def test_keep_prob_one_is_no_dropout():
    sw, sb = np.linspace(0.5, 3, 11), 0.4
    a = sp.fixed_point("tanh", sw, sb)
    b = sp.fixed_point("tanh", sw, sb, keep_prob=1.0)
    for name in ("q_star", "c_star", "chi_c", "xi_c", "status"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_no_edge_of_chaos_with_dropout():
    # Without dropout xi_c diverges at the EOC; with rho < 1 it stays bounded, and
    # it grows as rho -> 1 (Schoenholz et al. 2017, Fig. 5).
    sb = 0.3
    sw_eoc = float(sp.eoc("tanh", sb).sigma_w)
    sw = np.linspace(sw_eoc - 0.05, sw_eoc + 0.05, 21)
    peaks = []
    for rho in (0.9, 0.97, 0.99):
        r = sp.fixed_point("tanh", sw, sb, keep_prob=rho)
        assert np.all(np.isfinite(r.xi_c)) and np.all(r.c_star < 1)
        peaks.append(float(np.max(r.xi_c)))
    assert peaks[0] < peaks[1] < peaks[2]
    assert np.max(sp.fixed_point("tanh", sw_eoc, sb).xi_c) > 10 * peaks[-1] or np.isinf(
        sp.fixed_point("tanh", sw_eoc, sb).xi_c
    )


def test_scan_keep_prob_dimension():
    pytest.importorskip("xarray")
    import sigprop.scans as ss

    sw, sb, rho = np.linspace(0.5, 3.0, 6), np.array([0.0, 0.5]), [0.7, 0.9, 1.0]
    ds = ss.scan(["tanh", "relu"], sigma_w=sw, sigma_b=sb, keep_prob=rho, progress=False)
    assert ds.c_star.dims == ("activation", "keep_prob", "sigma_b", "sigma_w")
    for act in ("tanh", "relu"):
        for p in rho:
            r = sp.fixed_point(act, sw[None, :], sb[:, None], keep_prob=p)
            got = ds.sel(activation=act, keep_prob=p)
            np.testing.assert_array_equal(got.c_star.values, r.c_star)
            np.testing.assert_array_equal(got.q_star.values, r.q_star)


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, float("nan")])
def test_bad_keep_prob(bad):
    with pytest.raises(ValueError, match="keep_prob"):
        sp.fixed_point("tanh", 1.0, 0.0, keep_prob=bad)
    with pytest.raises(ValueError, match="keep_prob"):
        dropout_propagate("tanh", 1.0, 0.0, 3, 1.0, keep_prob=bad)


def test_propagation_reaches_the_fixed_point():
    r = sp.fixed_point("tanh", 1.4, 0.3, keep_prob=0.8)
    p = dropout_propagate("tanh", 1.4, 0.3, 200, 2.0, 1.0, keep_prob=0.8)
    assert p.q[-1] == pytest.approx(float(r.q_star), rel=1e-12)
    assert p.c[-1] == pytest.approx(float(r.c_star), abs=1e-10)
    assert p.c[1] < 1  # equal inputs, independent masks


@pytest.mark.parametrize(
    ("act", "sw", "sb", "rho"), [("tanh", 1.5, 0.3, 0.8), ("relu", 1.2, 0.2, 0.7)]
)
def test_simulation_matches_theory(act, sw, sb, rho):
    # 9 layers x (q, c, gradient) per case: Bonferroni over 27 checks at a
    # family-wise 1e-3 gives |z| <= 4.4.
    x = np.array([[1.0, 0.0], [0.6, 0.8]])
    depth = 8
    K = sb * sb + sw * sw * (x @ x.T) / x.shape[1]
    p = dropout_propagate(
        act, sw, sb, depth, K[0, 0], K[0, 1] / math.sqrt(K[0, 0] * K[1, 1]), K[1, 1], keep_prob=rho
    )
    s = simulate_dropout(act, sw, sb, x, keep_prob=rho, width=300, depth=depth, n_seeds=60, rng=7)
    assert np.max(np.abs(s.q - p.q) / s.q_se) <= 4.4
    # the per-network correlation is a ratio: O(1/width) bias, well below 1/300 here
    assert np.max(np.abs(s.c - p.c) / np.hypot(s.c_se, 1.0 / 300)) <= 4.4
    # backward: E|g^l|^2 = prod_{k >= l} (sw^2 / rho) E[phi'(sqrt(q^k) Z)^2]
    factors = sw * sw / rho * sp.gaussian_moments(act, p.q[:-1]).dphi_sq
    theory = np.append(np.cumprod(factors[::-1])[::-1], 1.0)
    z = np.abs(s.grad_sq - theory)[:-1] / s.grad_sq_se[:-1]
    assert np.max(z) <= 4.4


def test_dropout_fixed_points_against_mpmath():
    # 30-digit references: relu's q* = sb^2 / (1 - sw^2 / (2 rho)) and its c* from the
    # arc-cosine kernel, (sb^2 + sw^2 q (sin t + (pi - t) c) / (2 pi)) / q = c, t = acos c;
    # tanh's q* from the 1-D map q = sb^2 + (sw^2 / rho) E[tanh(sqrt(q) Z)^2].
    mpmath = pytest.importorskip("mpmath")
    mp = mpmath.mp
    mp.dps = 30
    sw, sb, rho = mp.mpf("1.3"), mp.mpf("0.4"), mp.mpf("0.9")
    q = sb**2 / (1 - sw**2 / (2 * rho))

    def h(c):
        t = mp.acos(c)
        return (sb**2 + sw**2 * q * (mp.sin(t) + (mp.pi - t) * c) / (2 * mp.pi)) / q - c

    c_ref = mp.findroot(h, (mp.mpf("0.3"), mp.mpf("0.999")), solver="anderson")
    r = sp.fixed_point("relu", 1.3, 0.4, keep_prob=0.9)
    assert float(r.q_star) == pytest.approx(float(q), rel=1e-14)
    assert float(r.c_star) == pytest.approx(float(c_ref), abs=1e-13)

    def E_tanh_sq(qq):
        s = mp.sqrt(qq)
        f = lambda z: mp.tanh(s * z) ** 2 * mp.exp(-(z**2) / 2)  # noqa: E731
        return 2 * mp.quad(f, [0, 2, 5, mp.inf]) / mp.sqrt(2 * mp.pi)

    sw, sb, rho = mp.mpf("1.5"), mp.mpf("0.3"), mp.mpf("0.8")
    q_ref = mp.findroot(lambda qq: sb**2 + sw**2 / rho * E_tanh_sq(qq) - qq, mp.mpf("1.3"))
    r = sp.fixed_point("tanh", 1.5, 0.3, keep_prob=0.8)
    assert float(r.q_star) == pytest.approx(float(q_ref), rel=1e-13)
