"""Maps, propagation, NNGP kernel, fixed points beyond the oracles of docs/reference_values.rst."""

import gc
import math

import numpy as np
import pytest

import sigprop as sp
from sigprop import _core


def test_propagate_matches_explicit_recursion():
    act, sw, sb = "tanh", 1.4, 0.3
    p = sp.propagate(act, sw, sb, 6, q0=0.8, c0=0.2, q0_b=1.7)
    qa, qb, c = 0.8, 1.7, 0.2
    for layer in range(1, 7):
        qab = sp.covmap(act, qa, qb, c, sw, sb)
        qa, qb = sp.qmap(act, qa, sw, sb), sp.qmap(act, qb, sw, sb)
        c = qab / math.sqrt(qa * qb)
        assert p.q[layer] == qa and p.q_b[layer] == qb
        assert p.c[layer] == pytest.approx(c, rel=1e-15)


def test_propagate_is_the_maps_layer_by_layer_bitwise():
    # One core call (every layer) where each layer took qmap twice and covmap once: the
    # same numbers, at any thread count, for inputs of zero variance, c = +-1, next to
    # c = 1 at q ~ 40, sigma_w = 0, and a user-defined activation.
    custom = sp.activation(lambda x: np.tanh(x) + 0.1 * x, name="tanh_plus_linear")
    qa = np.array([0.5, 1.0, 3.0, 0.0, 2.0, 40.0])
    qb = np.array([0.3, 1.0, 3.0, 1.0, 2.0, 41.0])
    c0 = np.array([-0.9, 1.0, 0.999999, 0.5, -1.0, 0.99])
    for act in ("tanh", "relu", "elu", "softsign", "hard_tanh", "shifted_relu", "sin", custom):
        for sw, sb in ((1.5, 0.1), (1.0, 3.0), (0.0, 1.0)):
            p = sp.propagate(act, sw, sb, 8, qa, c0, q0_b=qb, n_threads=2)
            q, q_b, c = qa.copy(), qb.copy(), c0.copy()
            for layer in range(1, 9):
                qab = sp.covmap(act, q, q_b, c, sw, sb)
                q, q_b = sp.qmap(act, q, sw, sb), sp.qmap(act, q_b, sw, sb)
                den = np.sqrt(q * q_b)
                with np.errstate(invalid="ignore", divide="ignore"):
                    c = np.clip(np.where(den > 0, qab / den, 1.0), -1.0, 1.0)
                for got, want in ((p.q, q), (p.q_b, q_b), (p.c, c)):
                    assert got[layer].tobytes() == want.tobytes(), (act, sw, sb, layer)
            one = sp.propagate(act, sw, sb, 8, qa, c0, q0_b=qb, n_threads=1)
            assert one.c.tobytes() == p.c.tobytes() and one.q.tobytes() == p.q.tobytes()


def test_propagate_warns_where_a_quadrature_ends_short():
    # tanh past its tables (q = 1e15): the covariance is NaN by the time bound, and the
    # call says so instead of handing on a silent NaN
    with pytest.warns(sp.AccuracyWarning, match="1 of the 2 covariances"):
        p = sp.propagate("tanh", 1.0, 0.1, 2, 1e15, 0.5, q0_b=1.0)
    assert np.isnan(p.c[1])


def test_fixed_point_scalar_calls_match_the_array_path():
    # Python numbers go to the core's one-cell function (fixed_point_point): the array
    # path's numbers and NumPy scalar types, with and without c*, from q0, with dropout,
    # for phases ordered, chaotic, divergent and marginal.
    custom = sp.activation(lambda x: np.tanh(x) + 0.1 * x, name="tanh_plus_linear")
    cells = [(1.5, 0.1), (0.5, 0.3), (2.5, 0.0), (1.0, 1.0), (math.sqrt(2), 0.0), (3.0, 2.0)]
    fields = ("q_star", "status", "chi1", "slope", "c_star", "chi_c", "xi_q", "xi_c")
    fields += ("beta_q", "iterations", "sigma_w", "sigma_b", "keep_prob")
    for act in ("tanh", "relu", "elu", "softsign", "hard_tanh", custom):
        for kw in ({}, {"correlation": False}, {"q0": 2.0}, {"keep_prob": 0.8}):
            sw = np.array([c[0] for c in cells])
            sb = np.array([c[1] for c in cells])
            arr = sp.fixed_point(act, sw, sb, **kw)
            for i, (w, b) in enumerate(cells):
                one = sp.fixed_point(act, w, b, **kw)
                zero_d = sp.fixed_point(act, np.asarray(w), np.asarray(b), **kw)
                for f in fields:
                    got, want = getattr(one, f), getattr(zero_d, f)
                    assert type(got) is type(want), (f, type(got), type(want))
                    assert np.asarray(got).tobytes() == np.asarray(want).tobytes(), (act, kw, f)
                    assert np.asarray(got).tobytes() == np.asarray(getattr(arr, f))[i].tobytes()


def test_eoc_tables_are_cached_and_rebuilt_to_the_same_roots():
    # eoc keeps each activation's table of g(q) = q - E[phi^2] / E[phi'^2]: a second
    # call, a call after clear_cache and builds at one and two threads find the same
    # roots, bitwise; a custom activation's table goes with it; the cache is bounded
    sb = np.linspace(0.0, 2.0, 41)

    def roots(r):
        b = r.branches
        return (b.sigma_w, b.q_star, b.slope, b.kind, r.n_branches)

    sp.clear_cache()
    assert _core.n_eoc_tables() == 0
    first = roots(sp.eoc("tanh", sb, n_threads=2))
    assert _core.n_eoc_tables() == 1
    again = roots(sp.eoc("tanh", sb, n_threads=1))
    sp.clear_cache()
    fresh = roots(sp.eoc("tanh", sb, n_threads=1))
    for other in (again, fresh):
        for x, y in zip(first, other, strict=True):
            np.testing.assert_array_equal(x, y)
    assert float(sp.eoc("tanh", 0.2).sigma_w) == first[0][4, 0]  # (sb[4] = 0.2)
    act = sp.activation(lambda x: np.tanh(x) + 0.05 * x, name="tmp")
    assert sp.eoc(act, 0.3).n_branches == 1
    n = _core.n_eoc_tables()
    del act
    gc.collect()
    assert _core.n_eoc_tables() == n - 1
    for slope in np.linspace(0.01, 0.5, 70):  # (closed-form moments: a table in ~50 us)
        sp.eoc(sp.activation("leaky_relu", negative_slope=slope), 0.1)
    assert _core.n_eoc_tables() == 64
    sp.clear_cache()


def test_propagate_converges_to_fixed_point():
    fp = sp.fixed_point("tanh", math.sqrt(2.5), math.sqrt(0.05))
    p = sp.propagate("tanh", math.sqrt(2.5), math.sqrt(0.05), 600, q0=fp.q_star, c0=0.9)
    assert p.c[-1] == pytest.approx(fp.c_star, rel=1e-10)
    np.testing.assert_allclose(p.q, fp.q_star, rtol=1e-13)


def test_propagate_broadcasts_inputs():
    p = sp.propagate("relu", math.sqrt(2), 0.0, 3, q0=[1.0, 2.0], c0=[[0.1], [0.5], [0.9]])
    assert p.c.shape == (4, 3, 2)
    # relu on the EOC preserves q exactly
    np.testing.assert_allclose(p.q[-1], np.broadcast_to([1.0, 2.0], (3, 2)), rtol=1e-15)


def test_nngp_kernel_matches_maps():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(5, 4))
    sw, sb = 1.3, 0.2
    K = sp.nngp_kernel("elu", X, sw, sb, depth=3, return_all=True)
    K1 = sb**2 + sw**2 * X @ X.T / 4
    np.testing.assert_allclose(K[0], K1, rtol=1e-15)
    d = np.diag(K[1])
    c = K[1][0, 1] / math.sqrt(d[0] * d[1])
    expected = sp.covmap("elu", d[0], d[1], c, sw, sb)
    assert K[2][0, 1] == pytest.approx(expected, rel=1e-14)
    np.testing.assert_array_equal(K[2], K[2].T)
    assert np.all(np.linalg.eigvalsh(K[2]) > -1e-12)


def test_nngp_first_layer_is_the_input_kernel():
    # The core's X X^T: each entry summed over the features in order (exact here, as
    # math.fsum, up to the last rounding), exactly symmetric and the same for any
    # thread count and block of rows.
    rng = np.random.default_rng(8)
    X = rng.normal(size=(61, 37))
    sw, sb = 1.3, 0.2
    K = sp.nngp_kernel("relu", X, sw, sb, depth=1, n_threads=1)
    assert np.array_equal(K, sp.nngp_kernel("relu", X, sw, sb, depth=1, n_threads=2))
    assert np.array_equal(K, K.T)
    ref = np.array([[math.fsum(X[i] * X[j]) for j in range(61)] for i in range(61)])
    np.testing.assert_allclose(K, sb * sb + sw * sw * ref / 37, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_nngp_kernel_buffers(act):
    # Without return_all the layers alternate between two buffers: the same last layer
    # as return_all's, in an array of its own (a second call does not overwrite it).
    X = np.random.default_rng(4).normal(size=(23, 3))
    K = sp.nngp_kernel(act, X, 1.4, 0.3, depth=6)
    K_copy = K.copy()
    K_all = sp.nngp_kernel(act, X, 1.4, 0.3, depth=6, return_all=True)
    assert np.array_equal(K, K_all[-1])
    sp.nngp_kernel(act, 2 * X, 1.4, 0.3, depth=6)
    assert np.array_equal(K, K_copy)
    with pytest.raises(ValueError, match="overlap"):
        _core.kernel_layer(1, 0.0, 0.0, K, 1.0, 0.0, 1, None, K)
    with pytest.raises(ValueError, match="C-contiguous float64"):
        _core.kernel_layer(1, 0.0, 0.0, K, 1.0, 0.0, 1, None, np.empty((23, 23), np.float32))


def test_nngp_relu_arc_cosine():
    X = np.array([[1.0, 0.0], [math.cos(1.0), math.sin(1.0)]])
    K = sp.nngp_kernel("relu", X, math.sqrt(2), 0.0, depth=2)
    # K^1 = X X^T (unit norms, sigma_w^2 / d = 1); one relu layer on the EOC
    c = math.cos(1.0)
    expected = (math.sqrt(1 - c * c) + (math.pi - 1.0) * c) / math.pi
    assert K[0, 1] == pytest.approx(expected, rel=1e-14)
    assert K[0, 0] == pytest.approx(1.0, rel=1e-15)


def test_chi1_and_slope_definitions():
    q, sw = 0.7, 1.6
    m = sp.gaussian_moments("gelu", q)
    assert sp.chi1("gelu", q, sw) == pytest.approx(sw**2 * m.dphi_sq, rel=1e-15)
    assert sp.theory.qmap_slope("gelu", q, sw) == pytest.approx(sw**2 * m.dV, rel=1e-15)
    assert sp.qmap("gelu", q, sw, 0.1) == pytest.approx(0.01 + sw**2 * m.phi_sq, rel=1e-15)


def test_fixed_point_from_q0_and_zero():
    # tanh, sigma_b = 0: q* = 0 is stable for sigma_w < 1, repels for sigma_w > 1
    r = sp.fixed_point("tanh", [0.9, 1.5], 0.0)
    assert r.q_star[0] == 0.0 and r.stable[0]
    assert r.q_star[1] > 0 and r.stable[1]
    assert sp.qmap("tanh", r.q_star[1], 1.5, 0.0) == pytest.approx(r.q_star[1], rel=1e-14)
    # a converged q0 start reaches the same attracting point
    r2 = sp.fixed_point("tanh", 1.5, 0.0, q0=10.0)
    assert r2.q_star == pytest.approx(r.q_star[1], rel=1e-13)


def test_fixed_point_linear_divergence_is_reported():
    r = sp.fixed_point("elu", math.sqrt(2), 0.05)
    assert r.status_name == "divergent" and np.isinf(r.q_star) and np.isnan(r.chi1)


def test_q_zero_fixed_point_correlation_quantities_are_nan():
    r = sp.fixed_point("tanh", 0.9, 0.0)
    assert r.q_star == 0.0 and np.isnan(r.c_star) and np.isnan(r.xi_c)


def test_phase_labels():
    r = sp.fixed_point("tanh", [1.0, 1.2, 3.0], [0.0, 0.3, 0.3])
    assert list(r.phase) == ["edge", "ordered", "chaotic"]


@pytest.mark.parametrize("name", ["tanh", "softsign", "linear_region_tanh"])
def test_chaotic_c_star_series_matches_quadrature(name):
    # c* of smooth phi comes from the Hermite series of the c-map (256 or 1024 terms,
    # quadrature past its truncation bound); check it against the bivariate quadrature
    # over c* from ~0 (sigma_b = 0) to > 0.99 (next to the EOC).
    sw_eoc = float(sp.eoc(name, 0.5).sigma_w)
    sb = np.array([0.0, 0.3, 1.0, 2.0, 0.5, 0.5, 0.5])
    # the last three just chaotic: c* close to 1 (series of 256, 1024 terms, quadrature)
    sw = np.array([2.0, 3.5, 2.5, 4.0, 1.03 * sw_eoc, 1.003 * sw_eoc, 1.0003 * sw_eoc])
    r = sp.fixed_point(name, sw, sb)
    chaotic = r.chi1 > 1
    assert np.all(r.status == 0) and chaotic[-3:].all() and chaotic.sum() >= 5
    sw, sb, cs, q = sw[chaotic], sb[chaotic], r.c_star[chaotic], r.q_star[chaotic]
    assert np.all((cs >= 0) & (cs < 1)) and cs.max() > 0.998
    np.testing.assert_allclose(sp.cmap(name, q, cs, sw, sb), cs, rtol=0, atol=1e-13)
    chi_c = sw**2 * sp.bivariate_expectation(name, q, q, cs, derivative=1)
    # next to c* = 1 chi_c may come from the diagonal series' first-order bounds,
    # stated to 1e-10 (fixed_point's docstring)
    np.testing.assert_allclose(r.chi_c[chaotic], chi_c, rtol=1e-10)
