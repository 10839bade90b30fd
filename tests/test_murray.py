"""Linear-region activations (Murray et al. 2022): hard-tanh tables, oracle T8, half-widths."""

import math

import numpy as np
import pytest
from reference_tables import HARD_TANH_CHI1_AT_SIGMA_W_1, HARD_TANH_EOC

import sigprop as sp
from sigprop.papers.murray import (
    _minimal_fixed_point,
    linear_region_table,
    min_half_width,
)


@pytest.mark.parametrize("a", [0.5, 1.0, 3.0])
def test_t8_hard_tanh_tables_and_scale_covariance(a):
    ratio = [r[0] for r in HARD_TANH_EOC]
    t = linear_region_table(ratio, a=a)
    np.testing.assert_allclose(t.sigma_b, a / np.array(ratio), rtol=1e-15)
    np.testing.assert_allclose(t.eoc_sigma_w, [r[1] for r in HARD_TANH_EOC], rtol=0, atol=5e-7)
    np.testing.assert_allclose(t.eoc_q_over_a2, [r[2] for r in HARD_TANH_EOC], rtol=6e-6)
    np.testing.assert_allclose(t.eoc_p_linear, [r[3] for r in HARD_TANH_EOC], rtol=0, atol=5e-7)
    chi = dict(zip(ratio, t.chi1_unit, strict=True))
    for r, ref in HARD_TANH_CHI1_AT_SIGMA_W_1.items():
        assert chi[r] == pytest.approx(ref, abs=6e-6)
    # T8 exactly as stated
    assert t.eoc_sigma_w[3] == pytest.approx(1.025700, abs=5e-7)
    assert t.eoc_q_over_a2[3] == pytest.approx(0.259146, abs=5e-7)


def _hard_tanh_qmap(q, a, sigma_w, sigma_b):
    """Closed form (docs/theory/maps.rst): E[HT_a(sqrt(q) Z)^2] with t = a / sqrt(q)."""
    t = a / math.sqrt(q)
    Phi = 0.5 * (1 + math.erf(t / math.sqrt(2)))
    pdf = math.exp(-t * t / 2) / math.sqrt(2 * math.pi)
    e = q * ((2 * Phi - 1) - 2 * t * pdf) + 2 * a * a * (1 - Phi)
    return sigma_b**2 + sigma_w**2 * e


@pytest.mark.parametrize("ratio", [1, 10, 30, 40, 60, 100, 300])
def test_minimal_fixed_point_against_closed_form(ratio):
    # ratios 30-60 are where sigprop.fixed_point reports a false "diverging" at sigma_w = 1
    act = sp.theory.linear_region(1.0)
    q = _minimal_fixed_point(act, 1.0, 1.0 / ratio)
    assert _hard_tanh_qmap(q, 1.0, 1.0, 1.0 / ratio) == pytest.approx(q, rel=1e-13)
    # it is the minimal one: V(q) > q on (sigma_b^2, q)
    grid = np.linspace(1.0 / ratio**2, q, 50)[:-1]
    assert all(_hard_tanh_qmap(g, 1.0, 1.0, 1.0 / ratio) > g for g in grid)
    fp = sp.fixed_point(act, 1.0, 1.0 / ratio, correlation=False)
    if fp.status_name == "converged":
        assert fp.q_star == pytest.approx(q, rel=1e-12)
    chi = float(sp.chi1(act, q, 1.0))
    assert chi == pytest.approx(math.erf(1 / math.sqrt(2 * q)), rel=1e-13)


def test_min_half_width_chi1_is_scale_covariant_and_minimal():
    h = min_half_width([0.05, 1.0, 4.0], 0.01)
    assert list(h.status) == ["converged"] * 3
    np.testing.assert_allclose(h.ratio, h.ratio[0], rtol=1e-5)
    assert h.ratio[0] == pytest.approx(19.1236, rel=1e-4)
    # minimal: just below the found ratio chi1 is further than tol from 1
    act = sp.theory.linear_region(h.ratio[0] * 0.9999)
    q = _minimal_fixed_point(act, 1.0, 1.0)
    assert 1 - float(sp.chi1(act, q, 1.0)) > 0.01
    assert h.value[0] <= 0.01
    # a tighter tolerance needs a wider region
    assert min_half_width(1.0, 1e-3).ratio > h.ratio[1]


def test_min_half_width_correlation_criterion():
    sb, depth, c0 = 2.0, 10, 0.5
    h = min_half_width(sb, 0.05, criterion="correlation", depth=depth, c0=c0, rtol=1e-6)
    assert h.status == "converged"
    act = sp.theory.linear_region(float(h.a))
    q = _minimal_fixed_point(act, 1.0, sb)
    c = sp.propagate(act, 1.0, sb, depth, q, c0).c
    assert abs(c[-1] - c0) == pytest.approx(0.05, rel=1e-4)
    # correlations drift upwards (the bias is shared), and monotonically
    assert np.all(np.diff(c) > 0)


def test_tail_shape_matters_little():
    # chi1 within 1% of 1 at sigma_w = 1: a / sigma_b needed by three tails
    r = {t: float(min_half_width(1.0, 0.01, tail=t, rtol=1e-4).ratio) for t in ("clip", "floor")}
    r["tanh"] = float(min_half_width(1.0, 0.01, tail="tanh", rtol=1e-4).ratio)
    assert max(r.values()) / min(r.values()) < 1.2
    t = {tail: linear_region_table([5, 20, 100], tail=tail) for tail in ("clip", "tanh", "floor")}
    for tail in ("tanh", "floor"):
        np.testing.assert_allclose(t[tail].eoc_sigma_w, t["clip"].eoc_sigma_w, atol=0.02)


def test_large_sigma_b_is_usable_with_a_wide_linear_region():
    sb, depth, c0 = 5.0, 50, 0.5
    # tanh on its EOC at sigma_b = 5: correlations collapse (beta_q = 0.073)
    e = sp.eoc("tanh", sb)
    p = sp.propagate("tanh", e.sigma_w, sb, depth, e.q_star, c0)
    assert 1 - p.c[-1] < 5e-3
    # hard tanh with a / sigma_b = 100 at its EOC keeps them apart
    act = sp.theory.linear_region(100 * sb)
    e = sp.eoc(act, sb)
    p = sp.propagate(act, e.sigma_w, sb, depth, e.q_star, c0)
    assert 1 - p.c[-1] > 0.3


def test_bad_arguments():
    with pytest.raises(ValueError, match="ratio"):
        linear_region_table([0.0, 1.0])
    with pytest.raises(ValueError, match="tail"):
        linear_region_table([1.0], tail="wiggly")
    with pytest.raises(ValueError, match="sigma_b"):
        min_half_width(0.0, 0.01)
    with pytest.raises(ValueError, match="tol"):
        min_half_width(1.0, -0.01)
    with pytest.raises(ValueError, match="criterion"):
        min_half_width(1.0, 0.01, criterion="vibes")
    with pytest.raises(ValueError, match="c0"):
        min_half_width(1.0, 0.01, c0=1.0)
