"""The two-point engine (csrc/sigprop/two_point.hpp, hermite_table.hpp).

Bivariate expectations go through the tabulated Hermite (Mehler) series wherever
its truncation bound holds and through the nested quadrature elsewhere. These
tests hold the engine to the quadrature (itself checked against 30-digit mpmath
in test_expectations.py) over the whole domain, including the regimes the
series cannot reach (|c| next to 1, large q, q1 and q2 far apart), and check
the properties every bivariate expectation must have.
"""

import functools
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sigprop as sp
from sigprop import _core
from sigprop.theory.activations import resolve

# Every built-in without a closed-form bivariate expectation (these use the engine).
ENGINE = [
    "tanh",
    "sigmoid",
    "softplus",
    "shifted_softplus",
    "silu",
    "gelu",
    "softsign",
    "elu",
    "selu",
    sp.activation("elu", alpha=0.5),
    "hard_tanh",
    "shifted_relu",
    "soft_threshold",
    "linear_region_tanh",
    "linear_floor",
]
IDS = [str(resolve(a)) for a in ENGINE]

DATA = Path(__file__).parent / "data"

# The engine's stated accuracy (two_point.hpp: ~1e-12 of the Cauchy-Schwarz scale);
# the quadrature reference holds 1e-13 of the same scale.
TOL = 5e-12


def _scale(act, q1, q2, derivative):
    m1, m2 = sp.gaussian_moments(act, q1), sp.gaussian_moments(act, q2)
    if derivative == 0:
        return np.sqrt(m1.phi_sq * m2.phi_sq)
    return np.sqrt(m1.dphi_sq * m2.dphi_sq)


def _rel_err(got, ref, scale):
    """|got - ref| relative to the Cauchy-Schwarz scale (absolute where it underflows)."""
    diff = np.abs(np.asarray(got) - np.asarray(ref))
    return np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0), diff / 1e-300)


def _assert_nested_quadrature(act, q1, q2, c, d, tol=1e-13):
    """bivariate_expectation at each (q1, q2, c) against the conditional nested
    quadrature (an independent route, ~1e-13 of the scale), within tol of the scale."""
    p0, p1 = act.core_params
    got = sp.bivariate_expectation(act, q1, q2, c, derivative=d)
    scale = _scale(act, q1, q2, d)
    for i in range(len(got)):
        ref, ok = _core.bivariate_nested_quadrature(act.kind, p0, p1, d, q1[i], q2[i], c[i])
        assert ok
        assert abs(got[i] - ref) <= tol * scale[i], (q1[i], q2[i], c[i], got[i], ref)


def _direct(act, q1, q2, c, derivative):
    a = resolve(act)
    p0, p1 = a.core_params
    q1, q2, c = (np.atleast_1d(np.asarray(v, dtype=float)) for v in np.broadcast_arrays(q1, q2, c))
    return _core.bivariate(a.kind, p0, p1, derivative, q1, q2, c, 1, direct=True)[0]


def _sampled_pair_errors(act, Ks, sw, sb, layers, n_pick, rng):
    """For each layer l of a kernel's layers Ks (return_all): the largest error of
    n_pick sampled entries of layer l against the direct forms (nested quadrature, or
    the closed forms) on layer l - 1, relative to the Cauchy-Schwarz scale."""
    n = Ks[0].shape[0]
    iu, ju = np.triu_indices(n, 1)
    for layer in layers:
        K, Knext = Ks[layer - 1], Ks[layer]
        pick = rng.choice(iu.size, n_pick, replace=False)
        i, j = iu[pick], ju[pick]
        q = np.diag(K)
        c = np.clip(K[i, j] / np.sqrt(q[i] * q[j]), -1.0, 1.0)
        ref = _direct(act, q[i], q[j], c, 0)
        scale = np.sqrt((np.diag(Knext)[i] - sb**2) * (np.diag(Knext)[j] - sb**2)) / sw**2
        yield layer, float((np.abs((Knext[i, j] - sb**2) / sw**2 - ref) / scale).max())


def _layer_input(q, log_e, rng):
    """A kernel layer's input of variances q whose pairs have 1 - c log-uniform in
    [10^log_e[0], 10^log_e[1]]: its correlations c and the kernel K."""
    m = q.size
    e = 10.0 ** rng.uniform(*log_e, (m, m))
    c = 1 - np.triu(e, 1) - np.triu(e, 1).T
    return c, c * np.sqrt(np.outer(q, q))


def _layer_with_table(act, q, log_e, rng):
    """A kernel layer of _layer_input(q, log_e, rng), taken with the layer table: asserts
    that the table is built over every input and passes its checks, that no quadrature
    ended short and that the layer is the same bits at 1 and 2 threads. Returns c and
    the layer."""
    m = q.size
    c, K = _layer_input(q, log_e, rng)
    a = resolve(act)
    units, ready, inputs = _core.kernel_layer_table(a.kind, *a.core_params, K, 2)
    assert units > 0 and ready and inputs == m, (units, ready, inputs)
    Ko, n_short = _core.kernel_layer(a.kind, *a.core_params, K, 1.0, 0.0, 2)
    assert n_short == 0
    assert np.array_equal(_core.kernel_layer(a.kind, *a.core_params, K, 1.0, 0.0, 1)[0], Ko)
    return c, Ko


def _assert_sampled_pairs(act, q, c, Ko, rng, n=40, tol=5e-13):
    """40 random off-diagonal entries of the layer Ko (variances q, correlations c before
    it) within tol of the scale of nested quadrature."""
    i, j = rng.choice(q.size, n), rng.choice(q.size, n)
    i, j = i[i != j], j[i != j]
    ref = _direct(act, q[i], q[j], c[i, j], 0)
    err = np.abs(Ko[i, j] - ref) / np.sqrt(np.diag(Ko)[i] * np.diag(Ko)[j])
    assert err.max() < tol, err.max()


@pytest.mark.parametrize("act", ENGINE, ids=IDS)
@pytest.mark.parametrize("derivative", [0, 1])
def test_engine_matches_quadrature_on_a_grid(act, derivative):
    # q from 1e-6 to 1e4, equal and far-apart variances, c over [-1, 1] with
    # points at 1e-12 from +-1 (where the series gives way to the quadrature).
    qs = [1e-6, 1e-2, 1.0, 30.0, 1e4]
    cs = [-1 + 1e-12, -0.999, -0.7, -0.2, 0.0, 1e-9, 0.3, 0.8, 0.99, 0.999999, 1 - 1e-12, 1.0]
    q1, q2, c = np.meshgrid(qs, [1.0, 1e-4, 1e3], cs, indexing="ij")
    q2 = q2 * q1 / q1  # broadcast
    q2 = np.where(q2 == 1.0, q1, q2)  # first block: q1 == q2 (the c-map)
    q1, q2, c = q1.ravel(), q2.ravel(), c.ravel()
    got = sp.bivariate_expectation(act, q1, q2, c, derivative=derivative, n_threads=1)
    ref = _direct(act, q1, q2, c, derivative)
    err = _rel_err(got, ref, _scale(act, q1, q2, derivative))
    worst = int(np.argmax(err))
    assert err[worst] <= TOL, (q1[worst], q2[worst], c[worst], got[worst], ref[worst])


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    i=st.integers(0, len(ENGINE) - 1),
    lq1=st.floats(-6, 4),
    lq2=st.floats(-6, 4),
    c=st.one_of(st.floats(-1, 1), st.floats(0.999, 1), st.floats(-1, -0.999)),
    derivative=st.integers(0, 1),
)
def test_engine_matches_quadrature_random(i, lq1, lq2, c, derivative):
    act, q1, q2 = ENGINE[i], 10.0**lq1, 10.0**lq2
    got = sp.bivariate_expectation(act, q1, q2, c, derivative=derivative, n_threads=1)
    ref = _direct(act, q1, q2, c, derivative)[0]
    assert _rel_err(got, ref, _scale(act, q1, q2, derivative)) <= TOL


@pytest.mark.slow
@pytest.mark.parametrize("act", ENGINE, ids=IDS)
def test_symmetry_and_cauchy_schwarz(act):
    rng = np.random.default_rng(7)
    q1 = 10.0 ** rng.uniform(-6, 4, 40)
    q2 = 10.0 ** rng.uniform(-6, 4, 40)
    c = rng.uniform(-1, 1, 40)
    for d in (0, 1):
        a = sp.bivariate_expectation(act, q1, q2, c, derivative=d, n_threads=1)
        b = sp.bivariate_expectation(act, q2, q1, c, derivative=d, n_threads=1)
        scale = _scale(act, q1, q2, d)
        np.testing.assert_allclose(a, b, rtol=0, atol=0, err_msg="not symmetric in (q1, q2)")
        assert np.all(np.abs(a) <= scale * (1 + 1e-12))


@pytest.mark.parametrize("act", ["tanh", "softsign", "elu", "hard_tanh", "silu"])
def test_price_theorem_series_side(act):
    # d/dc E[phi(u) phi(v)] = sqrt(q1 q2) E[phi'(u) phi'(v)] (Price 1958), checked by
    # a centred difference inside the range where the series applies.
    q1, q2 = 0.7, 2.3
    c = np.linspace(-0.8, 0.8, 9)
    h = 1e-5
    up = sp.bivariate_expectation(act, q1, q2, c + h)
    dn = sp.bivariate_expectation(act, q1, q2, c - h)
    dd = sp.bivariate_expectation(act, q1, q2, c, derivative=1)
    np.testing.assert_allclose((up - dn) / (2 * h), math.sqrt(q1 * q2) * dd, rtol=0, atol=1e-8)


@pytest.mark.parametrize("act", ["tanh", "gelu", "softsign"])
def test_c_map_at_one_and_monotone(act):
    # f(1) = E[phi^2] exactly (c = 1 is one-dimensional); for phi' >= 0 the map
    # c -> E[phi(u) phi(v)] is increasing (its derivative is E[phi' phi'] >= 0).
    q = 3.0
    c = np.linspace(-1, 1, 401)
    e = sp.bivariate_expectation(act, q, q, c)
    assert e[-1] == pytest.approx(float(sp.gaussian_moments(act, q).phi_sq), rel=1e-13)
    assert np.all(np.diff(e) > 0)


def test_sin_large_q_has_no_overflow():
    # exp(-(q1+q2)/2) sinh(c sqrt(q1 q2)) overflowed to 0 * inf past q ~ 710.
    v = sp.bivariate_expectation("sin", 1e3, 1e3, 0.3)
    assert v == pytest.approx(math.exp(-1e3 + 300 - math.log(2.0)), rel=1e-12)
    assert v > 0
    for c in (-0.95, -0.9, 0.5, 0.9, 0.95, 1.0):
        for q in (1e3, 1e4):
            for d in (0, 1):
                w = sp.bivariate_expectation("sin", q, q, c, derivative=d)
                x = c * q
                ref = 0.5 * (math.exp(x - q) + (-1) ** (d + 1) * math.exp(-x - q))
                assert math.isfinite(w)
                assert w == pytest.approx(ref, rel=1e-12, abs=1e-300)


def test_sin_closed_form_against_mpmath():
    # e^{-(q1+q2)/2} sinh(x) / cosh(x), x = c sqrt(q1 q2), in plain arithmetic (the
    # core's exp_arith and sinh's Taylor series for |x| < 1): within a few ulps of the
    # value itself, beyond the conditioning of the exponent (q1 + q2) / 2 - |x|, whose
    # inputs are rounded (eps (|x| + (q1 + q2) / 2)), on both sides of |x| = 1 and
    # next to the underflow of the result.
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30
    rng = np.random.default_rng(17)
    q1 = np.concatenate([10.0 ** rng.uniform(-6, 4, 200), [0.5, 0.5, 2.0, 700.0, 1490.0]])
    q2 = np.concatenate([10.0 ** rng.uniform(-6, 4, 200), [2.0, 2.0, 0.5, 760.0, 1500.0]])
    c = np.concatenate([rng.uniform(-1, 1, 200), [1.0, np.nextafter(1.0, 0), -1.0, 0.02, 0.001]])
    for d in (0, 1):
        got = sp.bivariate_expectation("sin", q1, q2, c, derivative=d)
        for a, b, cc, g in zip(q1, q2, c, got, strict=True):
            x = mpmath.mpf(cc) * mpmath.sqrt(mpmath.mpf(a) * mpmath.mpf(b))
            h = (mpmath.mpf(a) + mpmath.mpf(b)) / 2
            ref = mpmath.exp(-h) * (mpmath.sinh(x) if d == 0 else mpmath.cosh(x))
            tol = 2e-16 * (8 + float(abs(x)) + float(h))
            if ref == 0 or abs(ref) < 1e-300:
                assert abs(g) <= 1e-300, (a, b, cc, d, g)
                continue
            assert abs(g - float(ref)) <= tol * abs(float(ref)), (a, b, cc, d, g, ref)


def test_arc_cosine_and_arcsine_kernels_against_mpmath():
    # relu's, leaky_relu's and erf's kernels in plain arithmetic (the core's atan2_arith,
    # within 1 ulp): E[phi' phi'] = be + (1 - be)^2 (pi - theta) / (2 pi) to a few ulps
    # of itself also next to c = -1, where pi - theta is small; erf's E[phi phi] =
    # (2/pi) asin(2 c sqrt(q1 q2) / sqrt((1 + 2 q1)(1 + 2 q2))) likewise; E[phi phi]
    # of relu (which cancels next to c = -1) and gelu to 1e-15 of the Cauchy-Schwarz
    # scale. References: the same formulas at 30 digits.
    mpmath = pytest.importorskip("mpmath")
    mp = mpmath.mp
    mp.dps = 30
    rng = np.random.default_rng(29)
    n = 120
    q1 = 10.0 ** rng.uniform(-6, 4, n)
    q2 = 10.0 ** rng.uniform(-6, 4, n)
    c = np.concatenate([rng.uniform(-1, 1, n - 8), -1 + 10.0 ** -np.arange(1.0, 16.0, 2.0)])
    c[:4] = [-1.0, 1.0, 0.0, -0.0]

    def acos_kernels(be, a, b, cc):
        a, b, cc = mp.mpf(a), mp.mpf(b), mp.mpf(cc)
        pmt = mp.pi - mp.acos(cc)
        k0 = be * cc * mp.sqrt(a * b) + (1 - be) ** 2 * mp.sqrt(a * b) * (
            mp.sqrt(1 - cc**2) + pmt * cc
        ) / (2 * mp.pi)
        return k0, be + (1 - be) ** 2 * pmt / (2 * mp.pi)

    for act, be in (("relu", 0.0), (sp.activation("leaky_relu", negative_slope=0.1), 0.1)):
        g0 = sp.bivariate_expectation(act, q1, q2, c)
        g1 = sp.bivariate_expectation(act, q1, q2, c, derivative=1)
        m1, m2 = sp.gaussian_moments(act, q1), sp.gaussian_moments(act, q2)
        for k in range(n):
            r0, r1 = acos_kernels(mp.mpf(be), q1[k], q2[k], c[k])
            scale = math.sqrt(m1.phi_sq[k]) * math.sqrt(m2.phi_sq[k])
            assert abs(g0[k] - float(r0)) <= 1e-15 * scale, (act, q1[k], q2[k], c[k])
            assert abs(g1[k] - float(r1)) <= 8e-16 * abs(float(r1)), (act, c[k], g1[k], r1)
    g = sp.bivariate_expectation("erf", q1, q2, c)
    for k in range(n):
        a, b, cc = (mp.mpf(v) for v in (q1[k], q2[k], c[k]))
        r = 2 / mp.pi * mp.asin(2 * cc * mp.sqrt(a * b) / mp.sqrt((1 + 2 * a) * (1 + 2 * b)))
        assert abs(g[k] - float(r)) <= 1e-15 * abs(float(r)) + 1e-300, (q1[k], q2[k], c[k])
    for d in (0, 1):
        g = sp.bivariate_expectation("gelu", q1, q2, c, derivative=d)
        m1, m2 = sp.gaussian_moments("gelu", q1), sp.gaussian_moments("gelu", q2)
        f1, f2 = (m1.phi_sq, m2.phi_sq) if d == 0 else (m1.dphi_sq, m2.dphi_sq)
        for k in range(n):
            a, b, cc = (mp.mpf(v) for v in (q1[k], q2[k], c[k]))
            kk, prod, pp = cc * mp.sqrt(a * b), a * b, (a + 1) * (b + 1)
            d2 = prod * (1 - cc**2) + a + b + 1
            dl, ang = mp.sqrt(d2), mp.atan2(kk, mp.sqrt(d2))
            if d == 0:
                r = kk / 4 + ((kk**2 + prod * d2) / (pp * dl) + kk * ang) / (2 * mp.pi)
            else:
                r = mp.mpf(1) / 4 + ang / (2 * mp.pi)
                r += kk / (2 * mp.pi * dl) * (1 / d2 + (1 - prod) / pp + 1)
            scale = math.sqrt(f1[k]) * math.sqrt(f2[k])
            assert abs(g[k] - float(r)) <= 1e-15 * scale, ("gelu", d, q1[k], q2[k], c[k])


@pytest.mark.parametrize("act", ["linear", "relu", "leaky_relu", "erf", "sin", "gelu"])
def test_nngp_kernel_closed_forms_are_the_bivariate_expectations(act):
    # The kinds with a closed form everywhere take vectorised kernel rows (grid.hpp):
    # the same numbers bitwise as the pair-by-pair engine, across variances from 1e-4
    # to 1e3 (past sin's overflow of the plain product) and thread counts.
    rng = np.random.default_rng(23)
    X = rng.normal(size=(37, 5)) * 10.0 ** rng.uniform(-2, 1.5, size=(37, 1))
    sw, sb = 1.3, 0.2
    K = sp.nngp_kernel(act, X, sw, sb, depth=3, return_all=True)
    K2 = sp.nngp_kernel(act, X, sw, sb, depth=3, return_all=True, n_threads=2)
    assert np.array_equal(K, K2)
    q = np.diag(K[-2])
    i, j = np.triu_indices(37, 1)
    c = np.clip(K[-2][i, j] / np.sqrt(q[i] * q[j]), -1, 1)
    e = sp.bivariate_expectation(act, q[i], q[j], c)
    assert np.array_equal(K[-1][i, j], sb * sb + sw * sw * e)
    assert np.array_equal(K[-1], K[-1].T)


@pytest.mark.parametrize("act", ["hard_tanh", "shifted_relu", "soft_threshold", "linear_floor"])
@pytest.mark.parametrize("d", [0, 1])
def test_piecewise_linear_at_extreme_variances(act, d):
    # their series (closed-form coefficients) goes first at |c| <= 0.95: at q = 1e-300
    # its phi' sum once divided by sqrt(q1 q2) = 0 (inf), and it serves only the
    # tables' range of q, as for every other kind
    qs = np.array([1e-300, 1e-12, 1e-6, 1.0, 1e4, 1e14, 1e200])
    q1, q2, c = (a.ravel() for a in np.meshgrid(qs, qs, [-0.95, -0.5, 0.0, 0.5, 0.95]))
    v = sp.bivariate_expectation(act, q1, q2, c, derivative=d)
    m1, m2 = sp.gaussian_moments(act, q1), sp.gaussian_moments(act, q2)
    f1, f2 = (m1.phi_sq, m2.phi_sq) if d == 0 else (m1.dphi_sq, m2.dphi_sq)
    assert np.all(np.isfinite(v))
    assert np.all(np.abs(v) <= np.sqrt(f1) * np.sqrt(f2) * (1 + 1e-12) + 1e-300)
    if act == "hard_tanh" and d == 1:  # both inside the linear region: phi' = 1
        assert sp.bivariate_expectation(act, 1e-300, 1e-300, 0.5, derivative=1) == 1.0


def test_nngp_kernel_sin_large_norm_inputs():
    X = np.array([[40.0, -20.0], [35.0, 30.0], [1.0, 2.0]])  # ||x||^2 / d ~ 1e3
    K = sp.nngp_kernel("sin", X, 1.0, 0.0, depth=3)
    assert np.all(np.isfinite(K))


def test_nngp_kernel_reports_pairs_the_quadrature_could_not_finish():
    # An input with ||x||^2 / d ~ 5e14, past the tables (q <= 1e14): its pair with an
    # ordinary input has no certified value (NaN), and the kernel says so.
    X = np.array([[3e7, 1e7], [1.0, 0.5]])
    with pytest.warns(sp.AccuracyWarning, match="layer 2: 1"):
        K = sp.nngp_kernel("tanh", X, 1.0, 0.1, depth=2)
    assert math.isnan(K[0, 1]) and math.isnan(K[1, 0])
    assert np.all(np.isfinite(np.diag(K)))
    # ordinary inputs: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sp.nngp_kernel("tanh", X[1:] * np.ones((3, 1)) * [[1], [2], [3]], 1.0, 0.1, depth=3)


def test_nngp_kernel_threshold_kinds_deep_in_the_tail():
    # shifted_relu / soft_threshold at sigma_b = 0.2: the variance settles at ~0.04,
    # the threshold 5 standard deviations out; every entry stays finite and is the
    # pairwise engine's value (the same dispatch; its accuracy there is held to mpmath
    # in test_bivariate_normal.py::test_threshold_price_against_mpmath).
    rng = np.random.default_rng(5)
    X = rng.normal(size=(10, 4))
    for act in ("shifted_relu", "soft_threshold"):
        K = sp.nngp_kernel(act, X, 1.3, 0.2, depth=6, return_all=True)
        assert np.all(np.isfinite(K))
        q = np.diag(K[-2])
        i, j = np.triu_indices(10, 1)
        c = np.clip(K[-2][i, j] / np.sqrt(q[i] * q[j]), -1, 1)
        e = sp.bivariate_expectation(act, q[i], q[j], c)
        np.testing.assert_allclose(K[-1][i, j], 0.2**2 + 1.3**2 * e, rtol=1e-14)


@pytest.mark.parametrize("act", ["tanh", "softsign", "hard_tanh", "linear_floor"])
def test_nngp_kernel_matches_covariance_map(act):
    # One kernel layer is the covariance map of every pair (the engine's per-input
    # expansions against pair-by-pair bivariate expectations).
    rng = np.random.default_rng(3)
    X = rng.normal(size=(12, 4)) * rng.uniform(0.2, 3.0, size=(12, 1))
    sw, sb = 1.4, 0.3
    K1 = sp.nngp_kernel(act, X, sw, sb, depth=1)
    K2 = sp.nngp_kernel(act, X, sw, sb, depth=2)
    q = np.diag(K1)
    i, j = np.triu_indices(12, 1)
    c = K1[i, j] / np.sqrt(q[i] * q[j])
    ref = sb**2 + sw**2 * _direct(act, q[i], q[j], c, 0)
    np.testing.assert_allclose(K2[i, j], ref, rtol=0, atol=5e-12 * sw**2)


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "softsign", "linear_region_tanh"])
def test_nngp_kernel_in_the_ordered_phase(act):
    # Deep in the ordered phase (sigma_b = 3) every pair goes to c = 1 and the
    # variances to q* ~ 10, unequal for several layers: the pairs whose series the
    # truncation bounds cannot certify take the anchored tails (offdiagonal_series,
    # diagonal_series) or, where those cannot pin the tail (softsign,
    # linear_region_tanh; tanh for some 1 - c), the near-diagonal table with the
    # difference's series (two_point.hpp, near_diagonal_pair). Layers
    # 4-8 against pair-by-pair nested quadrature on the layer before, and the same
    # bits at 1 and 2 threads.
    rng = np.random.default_rng(8)
    X = rng.normal(size=(10, 4)) * rng.uniform(0.3, 3.0, size=(10, 1))
    sw, sb = 1.0, 3.0
    Ks = sp.nngp_kernel(act, X, sw, sb, depth=8, return_all=True, n_threads=1)
    i, j = np.triu_indices(10, 1)
    spread = []
    for layer in range(3, 8):  # the variances settle: log spreads > 1e-5 to < 1e-7
        K, Knext = Ks[layer - 1], Ks[layer]
        q = np.diag(K)
        c = K[i, j] / np.sqrt(q[i] * q[j])
        spread.append(np.ptp(np.log(q)))
        ref = sb**2 + sw**2 * _direct(act, q[i], q[j], c, 0)
        np.testing.assert_allclose(Knext[i, j], ref, rtol=0, atol=1e-12 * sw**2)
    assert c.min() > 0.99 and max(spread) > 1e-5 and 0 < min(spread) < 1e-7
    K8 = Ks[7]
    K2t = sp.nngp_kernel(act, X, sw, sb, depth=8, n_threads=2)
    assert np.array_equal(K2t, K8)


@pytest.mark.parametrize(
    "act",
    [
        "tanh",
        "sigmoid",
        "softsign",
        "linear_region_tanh",
        "silu",
        "softplus",
        "shifted_softplus",
        "hard_tanh",
    ],
)
def test_kernel_pairs_of_nearly_settled_variances(act):
    # A kernel layer's pairs next to c = 1 whose variances differ by a factor 1 + r:
    # from r ~ 1e-7 down (per kind: sup |phi'| (sqrt(q1) - sqrt(q2)) against the
    # tolerance) they take the near-diagonal table with the Lipschitz bound on the
    # difference term (two_point.hpp, settled_pair), above it the difference's series
    # with its anchored tail (near_diagonal_pair, the tail pinned to 1e-12 of the
    # scale), or quadrature. Each entry of a two-input layer against nested
    # quadrature, across those boundaries (r up to 1e-3: an ordered-phase softsign
    # layer's pairs), at q ~ 9 (where a deep ordered-phase kernel settles) and 1.
    rs = np.r_[0.0, np.logspace(-15, -4, 23), 3e-4, 1e-3]
    kind = resolve(act).kind
    p0, p1 = resolve(act).core_params
    for q in (9.0, 1.0):
        for c in (0.94, 0.999, 1 - 1e-6, 1 - 1e-10):
            got, q2s = [], q * (1 + rs)
            for q2 in q2s:
                off = c * np.sqrt(q * q2)
                K = np.array([[q, off], [off, q2]])
                Ko, n_short = _core.kernel_layer(kind, p0, p1, K, 1.0, 0.0, 1)
                assert n_short == 0
                got.append(Ko[0, 1])
            ref = _direct(act, np.full_like(q2s, q), q2s, c, 0)
            scale = np.sqrt(
                sp.gaussian_moments(act, q).phi_sq * sp.gaussian_moments(act, q2s).phi_sq
            )
            np.testing.assert_allclose(
                got, ref, rtol=0, atol=2e-12 * scale.max(), err_msg=f"{q} {c}"
            )


@pytest.mark.parametrize(
    "act,sym",
    [
        ("tanh", "odd"),
        ("softsign", "odd"),
        ("linear_region_tanh", "odd"),
        ("hard_tanh", "odd"),
        ("soft_threshold", "odd"),
        ("sigmoid", "half"),
        ("silu", "linear_half"),
        ("softplus", "linear_half"),
        ("shifted_softplus", "linear_half"),
    ],
)
def test_negative_correlations_follow_from_the_positive_ones(act, sym):
    # phi = o + e (odd plus even) with o linear or e constant: E(-c) = E(c) - 2 E[o o](c)
    # = 2 E[e e] - E(c), exactly, for phi and phi' (two_point.hpp): the c-map is
    # symmetric bit for bit, and c next to -1 costs what c next to 1 does.
    rng = np.random.default_rng(5)
    q1 = 10.0 ** rng.uniform(-3, 3, 40)
    q2 = np.where(np.arange(40) % 2 == 0, q1, 10.0 ** rng.uniform(-3, 3, 40))
    c = np.r_[rng.uniform(0, 1, 30), 1 - np.logspace(-12, -2, 9), 1.0]
    for d in (0, 1):
        pos = sp.bivariate_expectation(act, q1, q2, c, derivative=d)
        neg = sp.bivariate_expectation(act, q1, q2, -c, derivative=d)
        if sym == "odd":
            want = -pos if d == 0 else pos
        elif sym == "half":
            want = 0.5 - pos if d == 0 else pos
        else:
            # (the smaller variance first, as the engine takes them)
            s_lo, s_hi = np.sqrt(np.minimum(q1, q2)), np.sqrt(np.maximum(q1, q2))
            want = pos - 0.5 * c * s_lo * s_hi if d == 0 else 0.5 - pos
        np.testing.assert_array_equal(neg, want, err_msg=f"d={d}")


@pytest.mark.parametrize("act", ["tanh", "softsign", "elu", "softplus", "hard_tanh"])
def test_nngp_kernel_entries_do_not_depend_on_the_order_of_the_inputs(act):
    # A layer takes its rows in groups of eight, and most pairs of a full group eight
    # at a time, the others (the group's first columns, a short last group, long
    # series) one by one: each pair must come out bitwise the same either way, so
    # the kernel of permuted inputs is the permuted kernel, bit for bit.
    rng = np.random.default_rng(12)
    X = rng.normal(size=(45, 5)) * rng.uniform(0.3, 2.0, size=(45, 1))
    perm = rng.permutation(45)
    K = sp.nngp_kernel(act, X, 1.5, 0.3, depth=4)
    Kp = sp.nngp_kernel(act, X[perm], 1.5, 0.3, depth=4)
    assert np.array_equal(Kp, K[np.ix_(perm, perm)])
    np.testing.assert_array_equal(K, K.T)


def _deep_kernel_in_any_order(act, n, sw, sb, depth, rng):
    """nngp_kernel of n generic inputs (d = 10): asserts that permuted inputs give the
    permuted kernel bitwise (at 2 threads) and that 1 and 2 threads agree bitwise.
    Returns the last two layers."""
    X = rng.normal(size=(n, 10))
    perm = rng.permutation(n)
    Ks = sp.nngp_kernel(act, X, sw, sb, depth=depth, return_all=True, n_threads=1)
    K, Kprev = Ks[-1], Ks[-2]
    Kp = sp.nngp_kernel(act, X[perm], sw, sb, depth=depth, n_threads=2)
    assert np.array_equal(Kp, K[np.ix_(perm, perm)])
    assert np.array_equal(sp.nngp_kernel(act, X, sw, sb, depth=depth, n_threads=2), K)
    return K, Kprev


def _assert_layer_pairs_direct(act, Kprev, K, sw, sb, i, j):
    """K's entries (i, j) within 2e-12 sw^2 of the scale of nested quadrature on Kprev."""
    q = np.diag(Kprev)
    c = Kprev[i, j] / np.sqrt(q[i] * q[j])
    ref = sb**2 + sw**2 * _direct(act, q[i], q[j], c, 0)
    scale = np.sqrt(sp.gaussian_moments(act, q[i]).phi_sq * sp.gaussian_moments(act, q[j]).phi_sq)
    np.testing.assert_array_less(np.abs(K[i, j] - ref), 2e-12 * sw**2 * scale)


@pytest.mark.parametrize(
    "act,sw,sb,depth,c_min",
    [
        ("softplus", 1.3, 0.2, 14, 0.99),
        ("softsign", 1.3, 0.2, 9, 0.5),
        ("selu", 1.0, 0.5, 8, 0.4),
    ],
)
def test_deep_kernel_pairs_eight_at_a_time_and_alone(act, sw, sb, depth, c_min):
    # softplus's deep ordered-phase kernel at sigma_w = 1.3, sigma_b = 0.2 (q* ~ 3.6,
    # every pair going to c = 1) has pairs whose series end past the first 4 blocks of
    # 16 orders (67 orders at c = 1), which the lanes of the smooth kinds cover first:
    # their inputs' records are extended to 8 blocks where a pair needs them (grid.hpp,
    # ext_lanes and lanes8; one at a time, after_series); so are softsign's (odd
    # orders: 127, then 255) and selu's (here at sigma_w = 1, sigma_b = 0.5). (hard_tanh's
    # settled pairs, once here, now take the layer table: test_layer_table_layers_do_not_
    # depend_on_input_order.) Those entries must not depend on the order
    # of the inputs nor on the thread count, must be the entries a pair gets in a layer
    # of its own (taken one at a time), and must match nested quadrature.
    # (Mutation-checked: with the one-at-a-time pairs kept from 8 blocks, the first
    # three cases fail.)
    a = resolve(act)
    p0, p1 = a.core_params
    rng = np.random.default_rng(21)
    n = 45
    K, Kprev = _deep_kernel_in_any_order(act, n, sw, sb, depth, rng)
    q = np.diag(Kprev)
    i, j = np.triu_indices(n, 1)
    c = Kprev[i, j] / np.sqrt(q[i] * q[j])
    assert c.min() > c_min and c.max() < 1.0  # (next to c = 1, not rounded to it)
    pick = rng.choice(i.size, 40, replace=False)
    for t in pick:
        a_, b_ = i[t], j[t]
        K2 = np.array([[Kprev[a_, a_], Kprev[a_, b_]], [Kprev[a_, b_], Kprev[b_, b_]]])
        alone, _ = _core.kernel_layer(a.kind, p0, p1, K2, sw, sb, 1, None, None)
        assert alone[0, 1] == K[a_, b_], (a_, b_, alone[0, 1], K[a_, b_])
    _assert_layer_pairs_direct(act, Kprev, K, sw, sb, i[pick], j[pick])


@pytest.mark.parametrize(
    "act", ["tanh", "softsign", "elu", "softplus", "hard_tanh", "shifted_relu", "soft_threshold"]
)
def test_kernel_inputs_of_one_variance_share_an_expansion(act):
    # Inputs whose variances agree to the last bit share one Hermite expansion, record
    # and threshold values (grid.hpp, KernelInputs::src): inputs on a sphere, in three
    # groups of norms, a repeated row, and a zero row. Each entry must be the one the
    # pair gets in a layer of its own (two inputs, their pair taken one at a time),
    # after a layer of inputs of unequal norms has filled the kept expansions (the
    # bindings keep them from layer to layer: a shared input that read its own stale
    # slot would take the last layer's expansion).
    rng = np.random.default_rng(5)
    m = 26
    X = rng.normal(size=(m, 5))
    X *= np.sqrt(5) / np.linalg.norm(X, axis=1, keepdims=True)
    r = rng.choice([0.4, 1.0, 2.5], size=m)
    X *= r[:, None]
    X[7], r[7] = X[3], r[3]
    X[11], r[11] = 0.0, 0.0
    a = resolve(act)
    p0, p1 = a.core_params
    sw, sb = 1.3, 0.2
    K = sw**2 * X @ X.T / 5 + sb**2
    K = (K + K.T) / 2
    np.fill_diagonal(K, sw**2 * r**2 + sb**2)  # (the norms to the last bit)
    assert len(np.unique(np.diag(K))) <= 4
    Y = rng.normal(size=(m, 5)) * rng.uniform(0.3, 3.0, size=(m, 1))
    _core.kernel_layer(a.kind, p0, p1, (Y @ Y.T + (Y @ Y.T).T) / 10, sw, sb, 2, None, None)
    Ko, short = _core.kernel_layer(a.kind, p0, p1, K, sw, sb, 2, None, None)
    assert short == 0
    for i in range(m):
        for j in range(i + 1, m):
            K2 = np.array([[K[i, i], K[i, j]], [K[i, j], K[j, j]]])
            alone, _ = _core.kernel_layer(a.kind, p0, p1, K2, sw, sb, 1, None, None)
            assert alone[0, 1] == Ko[i, j], (i, j, alone[0, 1], Ko[i, j])
        assert (
            Ko[i, i]
            == _core.kernel_layer(
                a.kind, p0, p1, K[i : i + 1, i : i + 1].copy(), sw, sb, 1, None, None
            )[0][0, 0]
        )


@pytest.mark.parametrize(
    "act,sw,sb",
    [("shifted_relu", 1.3, 0.2), ("soft_threshold", 1.3, 0.2), ("linear_floor", 0.8, 0.5)],
)
def test_threshold_kernel_entries_do_not_depend_on_the_order_of_the_inputs(act, sw, sb):
    # The thresholds' pairs next to c = 1 have forms of their own (Price's theorem from
    # c = 1) besides the series: at c >= 0.99 before it, below after the series' first
    # blocks, those a lane of eight pairs tests (grid.hpp, kernel_first), whether the pair
    # is taken in a lane or one at a time. Before, a pair that a lane certified took the
    # series in a full group and the Price forms one at a time: the kernel of permuted
    # inputs differed from the permuted kernel in its last bits. Deep layers at sigma_w
    # = 1.3, sigma_b = 0.2 (variances settling at sigma_b^2, thresholds 5 standard
    # deviations out; linear_floor, nearly linear there, at 0.8, 0.5), inputs of
    # unequal norms: pairs on both sides of 0.99.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(45, 5)) * np.exp(0.5 * rng.normal(size=(45, 1)))
    perm = rng.permutation(45)
    Ks = sp.nngp_kernel(act, X, sw, sb, depth=8, return_all=True, n_threads=2)
    Kp = sp.nngp_kernel(act, X[perm], sw, sb, depth=8, return_all=True, n_threads=1)
    iu, ju = np.triu_indices(45, 1)
    below = above = 0
    for layer in range(8):
        assert np.array_equal(Kp[layer], Ks[layer][np.ix_(perm, perm)]), layer
        q = np.diag(Ks[layer])
        c = Ks[layer][iu, ju] / np.sqrt(q[iu] * q[ju])
        below += np.count_nonzero((c >= 0.75) & (c < 0.99))
        above += np.count_nonzero(c >= 0.99)
    assert below > 10 and above > 100, (below, above)


def test_kernel_pairs_deep_in_a_thresholds_tail():
    # shifted_relu (tau = 0.3) at q1 = 7.1e-5: its threshold 35.6 standard deviations out,
    # E[phi^2] = 6.9e-285, a quarter of it beyond the expansion's 512 orders. The series'
    # bound on its last (partial) block multiplied the two inputs' remaining masses,
    # 1.9e-285 * 5.3e-41, which underflows to 0 and certified the series: a kernel layer's
    # pair (a batch's expansions, whose series comes first) read 2e-168 where the value
    # is 7.5e-282, an error of 3e-7 of the Cauchy-Schwarz scale. The bounds now multiply
    # the masses' square roots; the pair goes to threshold_price, as a single pair does.
    # Against 30-digit mpmath: E = sqrt(q1 q2) E[(X - h)_+ (Y - k)_+].
    mpmath = pytest.importorskip("mpmath")
    act = sp.activation("shifted_relu", tau=0.3)
    p0, p1 = act.core_params
    for q1, r, c in [(7.1e-5, 8.7, 0.99), (7.0987e-5, 8.7319, 0.98682), (7.1e-5, 8.7, 0.98)]:
        q2 = q1 * r
        off = c * math.sqrt(q1 * q2)
        Ko, n_short = _core.kernel_layer(
            act.kind, p0, p1, np.array([[q1, off], [off, q2]]), 1.0, 0.0, 1
        )
        assert n_short == 0
        cc = off / math.sqrt(q1 * q2)
        with mpmath.workdps(30):
            h, k, cm = (
                mpmath.mpf(0.3) / mpmath.sqrt(q1),
                mpmath.mpf(0.3) / mpmath.sqrt(q2),
                mpmath.mpf(cc),
            )
            rr = mpmath.sqrt((1 - cm) * (1 + cm))

            def f(x, h=h, k=k, cm=cm, rr=rr):
                m = (k - cm * x) / rr
                return mpmath.npdf(x) * (x - h) * rr * (mpmath.npdf(m) - m * mpmath.ncdf(-m))

            ref = float(
                mpmath.sqrt(q1 * q2) * mpmath.quad(f, [h, h + 0.01, h + 0.1, h + 1, h + 10])
            )
        scale = math.sqrt(sp.gaussian_moments(act, q1).phi_sq * sp.gaussian_moments(act, q2).phi_sq)
        assert abs(Ko[0, 1] - ref) <= 1e-13 * scale, (q1, q2, c, Ko[0, 1], ref, scale)
        assert Ko[0, 1] == pytest.approx(ref, rel=1e-10), (q1, q2, c, Ko[0, 1], ref)


@pytest.mark.parametrize("act", ["tanh", "softsign", "elu", "hard_tanh", "shifted_relu"])
def test_bitwise_identical_across_threads(act):
    rng = np.random.default_rng(11)
    X = rng.normal(size=(40, 6))
    k1 = sp.nngp_kernel(act, X, 1.5, 0.4, depth=4, n_threads=1)
    k2 = sp.nngp_kernel(act, X, 1.5, 0.4, depth=4, n_threads=2)
    assert np.array_equal(k1, k2)
    sw = np.linspace(0.5, 3.5, 60)
    sb = np.full(60, 0.8)
    f1 = sp.fixed_point(act, sw, sb, n_threads=1)
    f2 = sp.fixed_point(act, sw, sb, n_threads=2)
    for name in ("c_star", "chi_c", "xi_c", "status"):
        assert np.array_equal(getattr(f1, name), getattr(f2, name), equal_nan=name != "status")
    q1 = 10.0 ** rng.uniform(-6, 4, 60)
    c = rng.uniform(-1, 1, 60)
    b1 = sp.bivariate_expectation(act, q1, q1[::-1], c, n_threads=1)
    b2 = sp.bivariate_expectation(act, q1, q1[::-1], c, n_threads=2)
    assert np.array_equal(b1, b2)


@pytest.mark.parametrize("act", ["tanh", "softsign", "hard_tanh", "elu", "linear_region_tanh"])
def test_correlation_fixed_point_is_a_fixed_point(act):
    # In the chaotic phase c* solves f(c*) = c* with chi_c = f'(c*) < 1, also next to
    # the EOC where c* -> 1 and the series gives way to the quadrature.
    sw = np.linspace(1.0, 4.0, 31)
    fp = sp.fixed_point(act, sw, 1.0)
    chaotic = (fp.chi1 > 1) & (fp.status_name == "converged")
    assert np.any(chaotic) and np.all(np.isin(fp.status_name, ["converged", "divergent"]))
    for s, q, c, chic in zip(
        sw[chaotic], fp.q_star[chaotic], fp.c_star[chaotic], fp.chi_c[chaotic], strict=True
    ):
        f = sp.cmap(act, q, c, s, 1.0)
        assert f == pytest.approx(c, abs=1e-12)
        assert chic == pytest.approx(
            s * s * sp.bivariate_expectation(act, q, q, c, derivative=1), rel=1e-12
        )
        assert chic < 1


def test_hermite_coefficients_bounded_cost_at_huge_q():
    # The core rule's cost does not grow with q (the old NumPy rule took 41 s and
    # 4 GB at q = 1e10); Parseval holds to rounding.
    a = sp.theory.hermite_coefficients("tanh", 60, q=1e10)
    assert np.all(np.isfinite(a))
    assert np.sum(a**2) <= float(sp.gaussian_moments("tanh", 1e10).phi_sq) * (1 + 1e-13)


def test_quadrature_shortfall_reaches_the_user(monkeypatch):
    # The core's per-point quadrature flags become an AccuracyWarning.
    act = resolve("tanh")

    def fake(kind, p0, p1, d, q1, q2, c, n_threads):
        return np.zeros(q1.size), np.array([0, 1, 0], dtype=np.int8)[: q1.size]

    monkeypatch.setattr("sigprop.theory.expectations._core.bivariate", fake)
    with pytest.warns(sp.AccuracyWarning, match="1 of 3 points"):
        sp.bivariate_expectation(act, [1.0, 2.0, 3.0], 1.0, 0.5)


def test_status_names_include_correlation_failure():
    assert sp.Status(4).name == "c_not_converged"


def test_expansions_survive_clear_cache():
    # A thread's cached expansion reads further coefficients from its table on
    # demand; clear_cache (and switching activations) must not leave it pointing
    # into a freed table.
    q, lo, hi = 3.7, 0.1, 0.97  # lo needs a few orders, hi a few hundred
    first = sp.bivariate_expectation("tanh", q, q, lo)
    sp.clear_cache()
    sp.bivariate_expectation("elu", 2.0, 2.0, 0.5)  # the thread moves to another table
    sp.gaussian_moments("softsign", [0.5, 5.0])
    assert sp.bivariate_expectation("tanh", q, q, lo) == first
    ref = _direct("tanh", q, q, hi, 0)[0]
    assert sp.bivariate_expectation("tanh", q, q, hi) == pytest.approx(ref, abs=5e-12)


def test_smoothing_tables_rebuilt_after_clear_cache():
    # The process-wide smoothing tables (softsign_pair.hpp, saturating_pair.hpp) are
    # freed by clear_cache and rebuilt on use, to the same numbers, whichever kind or
    # parameter is built first after it (the panels a thread keeps for a table's build
    # are keyed on that table, not on its address).
    q1 = np.array([0.8, 3.0, 40.0, 2.0, 900.0])
    q2 = np.array([300.0, 1200.0, 5000.0, 20.0, 60.0])
    c = np.array([0.99, 0.995, -0.98, 0.97, 0.999])
    acts = [
        sp.activation("linear_region_tanh", a=1.0),
        sp.activation("linear_region_tanh", a=0.4),
        sp.activation("softsign"),
        sp.activation("silu"),
    ]
    first = [[sp.bivariate_expectation(a, q1, q2, c, derivative=d) for d in (0, 1)] for a in acts]
    sp.clear_cache()
    for i in (1, 3, 0, 2):
        again = [sp.bivariate_expectation(acts[i], q1, q2, c, derivative=d) for d in (0, 1)]
        for d in (0, 1):
            np.testing.assert_array_equal(again[d], first[i][d])


@pytest.mark.parametrize(
    "act",
    ["tanh", "sigmoid", "gelu", "linear_region_tanh", "softsign", "hard_tanh", "linear_floor"],
)
def test_diagonal_series_next_to_one(act):
    # On the diagonal (q1 = q2) next to c = 1 the truncation bounds of the series fail
    # for slowly decaying coefficients; the tail is then pinned by the derivative
    # anchors (hermite_series.hpp, diagonal_series), or taken by the difference form
    # (near_diagonal.hpp) or, for the closed-form kinds, by Price's theorem over the
    # closed form of E[phi' phi'] (piecewise_closed_forms.hpp, diagonal_price).
    q = np.repeat([1e-2, 1.0, 6.0, 30.0, 1e3], 7)
    c = 1.0 - np.tile([3e-2, 1e-2, 4e-3, 1e-3, 1e-5, 1e-8, 1e-11], 5)
    for derivative in (0, 1):
        got = sp.bivariate_expectation(act, q, q, c, derivative=derivative, n_threads=1)
        ref = _direct(act, q, q, c, derivative)
        err = _rel_err(got, ref, _scale(act, q, q, derivative))
        worst = int(np.argmax(err))
        assert err[worst] <= TOL, (q[worst], c[worst], got[worst], ref[worst])


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "silu", "softplus"])
def test_off_diagonal_series_next_to_one(act):
    # Unequal variances next to |c| = 1, the pairs of a deep kernel in the ordered
    # phase: where the truncation bounds fail (tanh at q ~ 7-10: a tail of ~1e-10 of
    # the scale beyond the stored orders), the tail is split into those of x, y and
    # their difference, each pinned by its anchors (hermite_series.hpp,
    # offdiagonal_series). Against the nested quadrature, c of either sign.
    q1 = np.repeat([0.3, 3.0, 7.0, 9.75], 12)
    q2 = q1 * np.tile(np.repeat([1.0001, 1.01, 1.1], 4), 4)
    c = np.tile([1 - 1e-4, 1 - 1e-6, 1 - 1e-9, -(1 - 1e-5)], 12)
    got = sp.bivariate_expectation(act, q1, q2, c, n_threads=1)
    ref = _direct(act, q1, q2, c, 0)
    err = _rel_err(got, ref, _scale(act, q1, q2, 0))
    worst = int(np.argmax(err))
    assert err[worst] <= 1e-12, (q1[worst], q2[worst], c[worst], got[worst], ref[worst])


def test_chi_c_next_to_the_eoc():
    # The EOC-adjacent cells of the benchmark grid (tanh, c* > 0.98), where chi_c
    # comes from the diagonal series' first-order bounds: stated to 1e-10 of
    # sigma_w^2 E[phi'^2], held to the quadrature.
    sw = np.array([2.1, 2.2, 2.2, 2.3, 2.3, 2.4])
    sb = np.array([1.487, 1.641, 1.692, 1.846, 1.897, 2.0])
    fp = sp.fixed_point("tanh", sw, sb)
    assert np.all(fp.status_name == "converged") and np.all(fp.c_star > 0.98)
    q, c = fp.q_star, fp.c_star
    ref = sw * sw * _direct("tanh", q, q, c, 1)
    scale = sw * sw * sp.gaussian_moments("tanh", q).dphi_sq
    assert np.max(np.abs(fp.chi_c - ref) / scale) <= 1e-10
    # c* solves f(c*) = c* to the accuracy of f (engine and quadrature: ~1e-13); its
    # own error is that over 1 - chi_c.
    f = (sb * sb + sw * sw * _direct("tanh", q, q, c, 0)) / q
    assert np.max(np.abs(f - c)) <= 2e-13


# Pairs next to c = 1 at large variance, one for each of the forms there
# (saturating_pair.hpp, softsign_pair.hpp), against the conditional nested quadrature
# (an independent route, ~1e-13 of the scale): tanh' where the narrow form needs its
# second pair of rules (60 and 40 nodes), linear_region_tanh at a conditional spread
# below 1/2 (its narrow form), silu' at a spread of 1.4 (the narrow form up to 2),
# tanh' at a wide spread (the conditional form's tabled inner sums), softsign at a
# wide and a narrow spread (tabled and direct inner sums). Each fails with its form's
# inner sums scaled by 1 + 1e-9.
FORMS_NEXT_TO_ONE = [
    ("tanh", {}, 1, 55.439614377969797, 34.647503916191688, 0.99253299178918963),
    ("linear_region_tanh", {"a": 1.0}, 1, 100.0, 400.0, 0.9999),
    ("linear_region_tanh", {"a": 1.0}, 0, 100.0, 400.0, 0.9999),
    ("silu", {}, 1, 28.307930672476534, 74.694126246243584, 0.98708488732757194),
    ("tanh", {}, 1, 1839.0, 1816.0, 0.973864),
    ("softsign", {}, 0, 5833.0, 438.7, 0.955078),
    ("softsign", {}, 1, 356.1, 237.8, 0.999526),
]


@pytest.mark.parametrize("name,params,d,q1,q2,c", FORMS_NEXT_TO_ONE)
def test_forms_next_to_one_against_nested_quadrature(name, params, d, q1, q2, c):
    act = sp.activation(name, **params)
    p0, p1 = act.core_params
    got = float(sp.bivariate_expectation(act, q1, q2, c, derivative=d))
    ref, ok = _core.bivariate_nested_quadrature(act.kind, p0, p1, d, q1, q2, c)
    assert ok
    m1, m2 = sp.gaussian_moments(act, q1), sp.gaussian_moments(act, q2)
    f1, f2 = (m1.phi_sq, m2.phi_sq) if d == 0 else (m1.dphi_sq, m2.dphi_sq)
    assert abs(got - ref) <= 1e-12 * math.sqrt(f1 * f2), (got, ref)


@pytest.mark.parametrize(
    "name,params,d",
    [
        ("tanh", {}, 1),
        ("sigmoid", {}, 1),
        ("linear_region_tanh", {"a": 1.0}, 0),
        ("linear_region_tanh", {"a": 1.0}, 1),
        ("linear_region_tanh", {"a": 0.4}, 0),
        ("softplus", {}, 1),
        ("silu", {}, 0),
    ],
)
def test_saturating_smoothing_table_against_nested_quadrature(name, params, d):
    # Pairs next to |c| = 1 at variances more than 25x apart (where the Fourier forms of
    # sign_tail_pair.hpp and linear_tail_pair.hpp decline), many with conditional
    # spreads of 2 or more, where the conditional form reads its remainder's inner sums
    # from the process-wide table (SaturatingTables, smoothing_table.hpp).
    rng = np.random.default_rng(29)
    n = 16
    q1, q2 = 10.0 ** rng.uniform(-1, 1.3, n), 10.0 ** rng.uniform(2.7, 4, n)
    c = 1 - 10.0 ** rng.uniform(-3, -1, n)
    c = np.where(rng.uniform(size=n) < 0.3, -c, c)
    _assert_nested_quadrature(sp.activation(name, **params), q1, q2, c, d)


def test_smoothing_table_segment_next_to_the_kink():
    # linear_region_tanh' (a = 1) at w in [0.1, 0.178]: the segment that once failed its
    # checks (its halves served it) passes whole since its inner sums are taken
    # directly on the panels (no boundary term of size 1 / w) and its Lobatto
    # transforms about their mean (whole or by halves is not visible from here: this
    # checks that the table serves there); the pairs there within 1e-13 of the scale
    act = sp.activation("linear_region_tanh", a=1.0)
    p0, p1 = act.core_params
    for w in (0.105, 0.13, 0.16, 0.175):
        assert _core.saturating_table_serves(act.kind, p0, p1, 1, w), w
    rng = np.random.default_rng(31)
    n = 12
    q1 = 10.0 ** rng.uniform(-0.5, 0.3, n)
    q2 = q1 * 10.0 ** rng.uniform(0.0, 0.3, n)
    w = rng.uniform(0.105, 0.175, n)
    c = np.sqrt(1.0 - w**2 / np.maximum(q1, q2))
    c = np.where(rng.uniform(size=n) < 0.3, -c, c)
    _assert_nested_quadrature(act, q1, q2, c, 1)


@pytest.mark.parametrize(
    ("name", "params"),
    [("softsign", {}), ("linear_region_tanh", {"a": 1.0}), ("tanh", {}), ("selu", {})],
)
def test_series_remainder_predicted_from_the_table(name, params):
    # A random pair's series skips its orders where the Hermite table predicts that the
    # mass beyond its highest order alone keeps the remainder above the tolerance (the
    # least of that mass at a segment's nodes, with a factor 2 of margin). The
    # prediction against the mass each expansion finds once every order is evaluated
    # (within a factor 1.5 above it: the margin holds), then pairs it sends past the
    # series (|c| 0.95-0.999, variances 1e-3 to 1e3) against nested quadrature.
    act = sp.activation(name, **params)
    p0, p1 = act.core_params
    q = 10.0 ** np.linspace(-6.0, 4.0, 121) * 1.0137  # (off the segments' nodes)
    for d in (0, 1):
        predicted, found = np.array([_core.hermite_tail(act.kind, p0, p1, x, d) for x in q]).T
        assert np.all(predicted <= 1.5 * found), d
        assert np.max(predicted) > 1e-6, d  # (the heavy tails at large q)
    rng = np.random.default_rng(41)
    n = 8
    q1, q2 = 10.0 ** rng.uniform(-3, 3, n), 10.0 ** rng.uniform(-3, 3, n)
    c = 1.0 - 10.0 ** rng.uniform(-3, -1.3, n)
    c = np.where(rng.uniform(size=n) < 0.3, -c, c)
    for d in (0, 1):
        _assert_nested_quadrature(act, q1, q2, c, d)
        # the same pairs again in one call, their cached expansions now complete (the
        # exact test applies): the same bits, the path chosen from the table alone
        m = 6
        twice = sp.bivariate_expectation(
            act, np.tile(q1[:m], 2), np.tile(q2[:m], 2), np.tile(c[:m], 2), derivative=d
        )
        assert np.array_equal(twice[:m], twice[m:]), d


@pytest.mark.parametrize("a", [0.4, 1.0])
@pytest.mark.parametrize("d", [0, 1])
def test_linear_region_tanh_table_down_to_narrow_spreads(d, a):
    # linear_region_tanh's tables reach down to a spread of 1e-3 (the others' stop at
    # 1/10): there its narrow form, across the jumps of the third derivative at +-A,
    # took 0.06-0.6 ms a pair. Below w = A / 13 their parts are aligned on the kink
    # (lrt_table_layout), which a feature of width w keeps its place in. Pairs there,
    # next to the diagonal and at variances apart, against nested quadrature.
    act = sp.activation("linear_region_tanh", a=a)
    p0, p1 = act.core_params
    for w in (0.0011, 0.003, 0.01, 0.033, 0.05, 0.08):
        assert _core.saturating_table_serves(act.kind, p0, p1, d, w), w
    assert not _core.saturating_table_serves(act.kind, p0, p1, d, 0.0009)
    tanh = sp.activation("tanh")
    assert not _core.saturating_table_serves(tanh.kind, *tanh.core_params, d, 0.08)
    rng = np.random.default_rng(37)
    n = 16
    q1 = 10.0 ** rng.uniform(-0.5, 3.5, n)
    q2 = np.where(rng.uniform(size=n) < 0.5, q1, q1 * 10.0 ** rng.uniform(0.0, 1.0, n))
    w = 10.0 ** rng.uniform(-2.95, -1.05, n)
    c = np.sqrt(1.0 - w**2 / np.maximum(q1, q2))
    c = np.where(rng.uniform(size=n) < 0.3, -c, c)
    _assert_nested_quadrature(act, q1, q2, c, d)


def test_linear_region_tanh_table_kink_on_the_outer_mesh():
    # At the table's narrowest spreads the inner expectation's feature at the kink, a u =
    # A, is w / a wide in u: the outer rule's mesh holds breakpoints there (as the narrow
    # form's), without which the adaptive rule took it for smooth, 1.8e-10 of the scale
    # off at this first pair (w = 1.0e-3)
    act = sp.activation("linear_region_tanh", a=1.0)
    q1 = np.array([238.4471355021293, 150.0, 500.0, 900.0, 300.0])
    q2 = np.array([238.46856989021006, 150.0, 500.3, 900.0, 300.2])
    w = np.array([np.nan, 1.05e-3, 1.2e-3, 1.5e-3, 1.8e-3])
    c = np.sqrt(1.0 - w**2 / np.maximum(q1, q2))
    c[0] = -0.9999999978148324
    c[2] = -c[2]
    for d in (0, 1):
        _assert_nested_quadrature(act, q1, q2, c, d)


@pytest.mark.parametrize("d", [0, 1])
def test_softsign_smoothing_table_against_nested_quadrature(d):
    # Pairs next to |c| = 1 at variances apart, where the series fails and the
    # conditional form reads its inner expectation from the process-wide table
    # (smoothing_table.hpp): conditional spreads from ~1e-2 to ~1e2, across its segments.
    rng = np.random.default_rng(23)
    n = 24
    q1, q2 = 10.0 ** rng.uniform(-1, 4, n), 10.0 ** rng.uniform(-1, 4, n)
    c = 1 - 10.0 ** rng.uniform(-5, -1, n)
    c = np.where(rng.uniform(size=n) < 0.3, -c, c)
    _assert_nested_quadrature(sp.activation("softsign"), q1, q2, c, d)


@pytest.mark.parametrize("d", [0, 1])
def test_softsign_table_next_to_the_diagonal_at_large_variances(d):
    # On the diagonal (and next to it) at variances 2e2-1e4 with conditional spreads
    # 0.03-0.35 (1 - c ~ 1e-7-1e-4): the table's error is charged only where the outer
    # integral reads it, |a u| <= 12 w (SmoothingTable::error_weight), a share of u's
    # line of ~12 sqrt(1 - c^2): the process-wide table then serves pairs that its whole
    # bound sent to a table of their own (0.35-0.6 ms). Against nested quadrature.
    rng = np.random.default_rng(43)
    n = 12
    q1 = 10.0 ** rng.uniform(2.3, 4, n)
    q2 = np.where(rng.uniform(size=n) < 0.5, q1, q1 * (1.0 + 10.0 ** rng.uniform(-9, -4, n)))
    w = 10.0 ** rng.uniform(-1.5, -0.45, n)
    c = np.sqrt(1.0 - w**2 / np.maximum(q1, q2))
    c = np.where(rng.uniform(size=n) < 0.3, -c, c)
    _assert_nested_quadrature(sp.activation("softsign"), q1, q2, c, d)


@pytest.mark.parametrize(
    "name,params",
    [("elu", {"alpha": 1.0}), ("elu", {"alpha": 0.5}), ("elu", {"alpha": 2.0}), ("selu", {})],
)
@pytest.mark.parametrize("d", [0, 1])
def test_elu_small_variances_against_nested_quadrature(name, params, d):
    # Variances up to 3 (the exponential's Taylor series against the orthant moments,
    # elu_small_variance.hpp), c next to +-1 where the series fails and anywhere else:
    # the form itself serves nearly every such point (phi and phi'), within 1e-13 of the
    # scale of the nested quadrature; and the engine, which takes it past |c| = 0.8 (0.9
    # for elu's phi with alpha = 1) for pairs of unequal variances, agrees.
    rng = np.random.default_rng(7)
    n = 40
    q1, q2 = 10.0 ** rng.uniform(-6, 0.5, n), 10.0 ** rng.uniform(-6, 0.5, n)
    c = np.where(
        rng.uniform(size=n) < 0.6, 1 - 10.0 ** rng.uniform(-12, -1, n), rng.uniform(-1, 1, n)
    )
    c = np.where(rng.uniform(size=n) < 0.3, -c, c)
    act = sp.activation(name, **params)
    p0, p1 = act.core_params
    scale = _scale(act, q1, q2, d)
    served = 0
    for i in range(n):
        v = _core.elu_small_variance(act.kind, p0, p1, d, q1[i], q2[i], c[i])
        if math.isnan(v):
            continue
        served += 1
        ref, ok = _core.bivariate_nested_quadrature(act.kind, p0, p1, d, q1[i], q2[i], c[i])
        assert ok and abs(v - ref) <= 1e-13 * scale[i], (q1[i], q2[i], c[i], v, ref)
    assert served >= 0.9 * n, served
    _assert_nested_quadrature(act, q1, q2, c, d)
    with pytest.raises(ValueError, match="derivative"):
        _core.elu_small_variance(act.kind, p0, p1, 2, 0.5, 0.5, 0.5)


@pytest.mark.parametrize(
    "name,params",
    [("elu", {"alpha": 1.0}), ("elu", {"alpha": 0.5}), ("elu", {"alpha": 2.0}), ("selu", {})],
)
def test_elu_one_small_variance_against_nested_quadrature(name, params):
    # The smaller variance below 1/4, the other up to 1e4 (the Taylor series on the small
    # side alone, elu_one_small_variance): it serves every such point, next to |c| = 1
    # (where the closed forms cancel) and anywhere else, within 1e-13 of the scale; and
    # the engine, which takes it there, agrees. (1 -+ c down to 1e-12: from q2 = 1 its
    # fixed rules take the bend of its brackets, width sqrt(1 - c^2) / |c|, apart from
    # the weight's scale 1 / sqrt(q2); a first version that did not was 7e-8 of the scale
    # off at 1 - c ~ 3e-7, q2 ~ 4, and with that bend's rule dropped every case fails.)
    rng = np.random.default_rng(11)
    n = 40
    q1, q2 = 10.0 ** rng.uniform(-6, np.log10(0.25), n), 10.0 ** rng.uniform(0, 4, n)
    c = np.where(
        rng.uniform(size=n) < 0.7, 1 - 10.0 ** rng.uniform(-12, -1, n), rng.uniform(-1, 1, n)
    )
    c = np.where(rng.uniform(size=n) < 0.4, -c, c)
    act = sp.activation(name, **params)
    p0, p1 = act.core_params
    scale = _scale(act, q1, q2, 0)
    for i in range(n):
        v = _core.elu_one_small_variance(act.kind, p0, p1, q1[i], q2[i], c[i])
        ref, ok = _core.bivariate_nested_quadrature(act.kind, p0, p1, 0, q1[i], q2[i], c[i])
        assert ok and abs(v - ref) <= 1e-13 * scale[i], (q1[i], q2[i], c[i], v, ref)
    _assert_nested_quadrature(act, q1, q2, c, 0)


@pytest.mark.parametrize("d", [0, 1])
def test_softsign_small_variance_against_nested_quadrature(d):
    # The smaller variance below 3e-3 (softsign_small_variance: conditioned on the other
    # input, the power series' pieces smoothed in closed form), c next to +-1 where the
    # series fails and anywhere else.
    rng = np.random.default_rng(11)
    n = 16
    q1, q2 = 10.0 ** rng.uniform(-8, -2.6, n), 10.0 ** rng.uniform(-4, 4, n)
    c = np.where(
        rng.uniform(size=n) < 0.7, 1 - 10.0 ** rng.uniform(-10, -1, n), rng.uniform(-1, 1, n)
    )
    c = np.where(rng.uniform(size=n) < 0.3, -c, c)
    _assert_nested_quadrature(sp.activation("softsign"), q1, q2, c, d)


@pytest.mark.parametrize(
    "act,sb",
    [
        ("tanh", 3.0),
        ("softsign", 3.0),
        ("linear_region_tanh", 3.0),  # (each pair integrates its kinks' panel itself)
        ("sigmoid", 5.0),  # (at 3 its series certifies these pairs)
        ("silu", 3.0),
        ("softplus", 3.0),
        ("shifted_softplus", 3.0),
        # q* ~ 50-150, where the near-diagonal table of these kinds reaches past 31.6
        ("softplus", 5.0),
        ("silu", 8.0),
        ("shifted_softplus", 8.0),
        # (no difference form: once the variances settle, Price's theorem from c = 1)
        ("hard_tanh", 5.0),
        # (elu and selu: test_kernel_layer_difference_form_of_large_layers)
    ],
)
def test_nngp_kernel_while_the_variances_settle(act, sb):
    # An ordered-phase kernel of inputs of unequal norms (sigma_b >= 3): for a few layers
    # every pair is next to c = 1 with variances 1e-2 to 1e-6 apart, where the series
    # reaches no order. Those pairs take the difference form (settled_difference.hpp:
    # E[h^(k)(Z)^2] on one rule for the layer, the binomial bracket of D_h, or h's stored
    # orders with their tail pinned by those moments, whichever bound is smaller).
    # Sampled pairs of layers 3-6 against nested quadrature on the layer before (within
    # 3e-13 of the scale measured), and the same bits at 1 and 2 threads.
    rng = np.random.default_rng(11)
    X = rng.normal(size=(30, 6)) * np.exp(0.5 * rng.normal(size=(30, 1)))
    sw = 1.0
    Ks = sp.nngp_kernel(act, X, sw, sb, depth=6, return_all=True, n_threads=1)
    assert np.array_equal(sp.nngp_kernel(act, X, sw, sb, depth=6, n_threads=2), Ks[-1])
    for layer, err in _sampled_pair_errors(act, Ks, sw, sb, range(2, 6), 40, rng):
        assert err < 5e-13, (layer, err)


def test_hard_tanh_next_to_one_by_prices_theorem():
    # hard_tanh's phi' = 1{|x| < a} is one minus soft_threshold's, so that next to c = 1
    # Price's theorem from c = 1 gives it the same forms (piecewise_closed_forms.hpp,
    # threshold_near_one), read with its own moments: tens of ns where its closed forms
    # cancel at large q. phi' (a box probability) against 40-digit mpmath; phi against
    # the nested quadrature; pairs of settled variances (q2 = q1 (1 + 1e-14)) too.
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    rng = np.random.default_rng(12)
    for q in (0.5, 9.8, 25.9, 1e3):
        e = 10.0 ** rng.uniform(-12, math.log10(0.25), 6)
        c = 1.0 - e
        m = sp.gaussian_moments("hard_tanh", q)
        got1 = sp.bivariate_expectation("hard_tanh", q, q, c, derivative=1)
        k = 1 / mpmath.sqrt(q)
        for ci, g in zip(c, got1, strict=True):
            cm = mpmath.mpf(float(ci))
            r = mpmath.sqrt(1 - cm**2)

            def f(x, cm=cm, r=r, k=k):
                return mpmath.npdf(x) * (
                    mpmath.ncdf((k - cm * x) / r) - mpmath.ncdf((-k - cm * x) / r)
                )

            ref = float(mpmath.quad(f, [-k, 0, k]))
            assert abs(g - ref) <= 1e-13 * m.dphi_sq, (q, ci, g, ref)
        for q2 in (q, q * (1 + 1e-14)):
            got0 = sp.bivariate_expectation("hard_tanh", q, q2, c)
            ref0 = _direct("hard_tanh", np.full(6, q), np.full(6, q2), c, 0)
            np.testing.assert_allclose(got0, ref0, rtol=0, atol=1e-13 * m.phi_sq)


@pytest.mark.parametrize("act", ["hard_tanh", "soft_threshold"])
@pytest.mark.parametrize("derivative", [0, 1])
def test_threshold_near_one_far_crossing(act, derivative):
    # Next to c = 1 at thresholds within a fraction of a standard deviation (hard_tanh
    # at q ~ 70, k^2 = 1 / 70, 1 - c ~ 1e-3: k^2 / (1 - c) ~ 10), the crossing of the
    # two thresholds over t in [-1, -c] is ~1e-8 of the scale: where it was bounded (its
    # midpoint, half the bound as error), the form declined and a settling kernel
    # layer's pairs took hard_tanh_sign_form, 8 us each (1000 inputs, sigma_w = 2.5,
    # sigma_b = 8, depth 10: 15 s). Its boundary-layer sum (boundary_layer_sum) now: the
    # form serves (its bound within the dispatch's 1e-13 of the scale), on the
    # diagonal and, for phi, off it (the variances
    # settling: 1e-10 apart, and 1e-3 apart, the cross form for phi), against nested
    # quadrature. (soft_threshold's phi' at q = 300 declines on another term, its
    # rounding bound 2.6e-13 of the scale, as before.)
    a = resolve(act)
    rng = np.random.default_rng(21)
    for q in (30.0, 70.0, 300.0) if derivative == 0 else (30.0, 70.0):
        for gap in (0.0, 1e-10, 1e-3):
            q2 = q * (1 + gap)
            # 1 - c where k^2 / (1 - c) = 1 / (q (1 - c)) is 1-30
            c = 1 - 10.0 ** rng.uniform(np.log10(1 / (30 * q)), np.log10(1 / q), 4)
            scale = _scale(act, q, q2, derivative)
            got = np.array(
                [
                    _core.threshold_pair_near_one(
                        a.kind, *a.core_params, derivative, q, q2, ci, 1e-13 * scale
                    )
                    for ci in c
                ]
            )
            if derivative == 1 and gap > 0:
                continue  # (phi' of variances apart: the settled bound declines, as before)
            assert np.all(got[:, 1] <= 1e-13 * scale), (q, gap, got[:, 1] / scale)
            ref = _direct(act, np.full(4, q), np.full(4, q2), c, derivative)
            err = np.abs(got[:, 0] - ref) / scale
            assert err.max() <= 5e-14, (q, gap, err)


@pytest.mark.parametrize("act", ["shifted_relu", "soft_threshold"])
def test_kernel_settled_pairs_equal_the_diagonal(act):
    # Once a deep kernel's variances have settled to the last bit and a pair's c has
    # rounded to 1 (sigma_w = 1.3, sigma_b = 0.2: the thresholds' later layers), the pair
    # is E[phi(u)^2], the one-point moment (kernel layers take it from the input's
    # expansion without completing it): its entry equals the diagonal bitwise.
    X = np.random.default_rng(0).normal(size=(200, 10))
    Ks = sp.nngp_kernel(act, X, 1.3, 0.2, depth=10, return_all=True)
    iu, ju = np.triu_indices(200, 1)
    count = 0
    for layer in range(1, 10):
        q = np.diag(Ks[layer - 1])
        c = Ks[layer - 1][iu, ju] / np.sqrt(q[iu] * q[ju])
        settled = (c >= 1.0) & (q[iu] == q[ju])
        count += settled.sum()
        K = Ks[layer]
        assert np.array_equal(K[iu[settled], ju[settled]], np.diag(K)[iu[settled]]), layer
    assert count > 10000, count


@pytest.mark.parametrize("derivative", [0, 1])
def test_linear_floor_next_to_one(derivative):
    # linear_floor = x + shifted_relu's phi at -x: next to c = 1 its kernel is
    # c s1 s2 (1 - Q1 - Q2) + shifted_relu's (Stein's lemma), the latter by the
    # thresholds' Price forms from c = 1 (linear_floor_near_one, 0.1-0.2 us where the
    # orthant forms took ~0.6 us). Against nested quadrature: variances 1e-1 to 1e4,
    # apart by up to e^1.5 for phi (the same for phi', where the settled bound of
    # variances apart declines), 1 - c from 1e-12 to 1/4.
    rng = np.random.default_rng(31)
    q1 = 10.0 ** rng.uniform(-1, 4, 40)
    q2 = q1 * (np.exp(rng.uniform(0, 1.5, 40)) if derivative == 0 else 1.0)
    c = 1 - 10.0 ** rng.uniform(-12, np.log10(0.25), 40)
    got = sp.bivariate_expectation("linear_floor", q1, q2, c, derivative=derivative)
    ref = _direct("linear_floor", q1, q2, c, derivative)
    err = _rel_err(got, ref, _scale("linear_floor", q1, q2, derivative))
    assert err.max() <= 5e-14, err.max()


def test_linear_floor_kernel_next_to_one():
    # A deep ordered-phase kernel of linear_floor (sigma_w = 1, sigma_b = 3, inputs of
    # unequal norms): its pairs next to c = 1 take linear_floor_near_one in the kernel's
    # layers; sampled entries against nested quadrature on the layer before.
    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 10)) * np.exp(0.5 * rng.normal(size=(60, 1)))
    Ks = sp.nngp_kernel("linear_floor", X, 1.0, 3.0, depth=6, return_all=True)
    for layer, err in _sampled_pair_errors("linear_floor", Ks, 1.0, 3.0, range(2, 6), 20, rng):
        assert err <= 5e-14, (layer, err)


@pytest.mark.parametrize("act,m", [("elu", 520), ("selu", 800), ("softplus", 260)])
def test_kernel_layer_difference_form_of_large_layers(act, m):
    # elu and selu read the near-diagonal table (and softplus, silu, shifted_softplus
    # its range past q = 10^1.5) only in layers of at least 512, 768 (phi' jumps, selu:
    # the first-order bracket only) and 256 inputs, whose pairs repay the table's build
    # (settled_difference.hpp). One such layer, variances 1e-4 apart at q ~ 50 and
    # 1 - c in [1e-5, 1e-2]: sampled entries against nested quadrature.
    rng = np.random.default_rng(13)
    q = 50.0 * (1 + 1e-4 * rng.standard_normal(m))
    e = 10.0 ** rng.uniform(-5, -2, (m, m))
    c = 1 - np.triu(e, 1) - np.triu(e, 1).T
    K = c * np.sqrt(np.outer(q, q))
    a = resolve(act)
    Ko, n_short = _core.kernel_layer(a.kind, *a.core_params, K, 1.0, 0.0, 2)
    assert n_short == 0
    i, j = rng.integers(0, m, 80), rng.integers(0, m, 80)
    i, j = i[i != j], j[i != j]
    ref = _direct(act, q[i], q[j], c[i, j], 0)
    scale = np.sqrt(np.diag(Ko)[i] * np.diag(Ko)[j])
    err = np.abs(Ko[i, j] - ref) / scale
    assert err.max() < 1.2e-12, err.max()


@pytest.mark.parametrize(
    "act,sb",
    [
        # q* ~ 150: past the saturating kinds' near-diagonal table (10^1.5)
        ("tanh", 12.0),
        ("sigmoid", 12.0),
        ("softsign", 12.0),
        ("linear_region_tanh", 12.0),
        # q* ~ 400-700: past the linear tails' (10^2.5)
        ("silu", 25.0),
        ("softplus", 25.0),
        ("shifted_softplus", 20.0),
        # elu and selu from q = 4 (a node costs their closed forms)
        ("elu", 3.0),
        ("selu", 5.0),
        ("selu", 12.0),
    ],
)
def test_nngp_kernel_past_the_near_diagonal_table(act, sb):
    # Deep in the ordered phase the variances settle past the near-diagonal table, and
    # every pair of a layer is next to c = 1 with its variances in a narrow range: the
    # layer table (layer_table.hpp), a Chebyshev interpolant in (log q1, log q2,
    # sqrt(1 - c)) built for the layer from the dispatch at its nodes, serves them. It
    # is built and passes its checks from the third layer on, and sampled pairs
    # of every layer are within 5e-13 of the scale of nested quadrature on the layer
    # before (measured 4e-15-1.1e-13); the same bits at 1 and 2 threads.
    rng = np.random.default_rng(15)
    n = 80
    X = rng.normal(size=(n, 6)) * np.exp(0.5 * rng.normal(size=(n, 1)))
    a = resolve(act)
    Ks = sp.nngp_kernel(act, X, 1.0, sb, depth=7, return_all=True, n_threads=1)
    assert np.array_equal(sp.nngp_kernel(act, X, 1.0, sb, depth=7, n_threads=2), Ks[-1])
    built = [_core.kernel_layer_table(a.kind, *a.core_params, K, 1) for K in Ks[2:-1]]
    assert all(units > 0 and ready for units, ready, _ in built), built
    for layer, err in _sampled_pair_errors(act, Ks, 1.0, sb, range(1, 7), 30, rng):
        assert err < 5e-13, (layer, err)


@pytest.mark.parametrize(
    "act,sw,sb,depth",
    [
        ("tanh", 1.0, 12.0, 4),
        ("softplus", 1.0, 12.0, 4),
        ("elu", 1.0, 0.5, 20),
        # settling: variances 4 % apart at q ~ 0.76, 1 - c ~ 0.007-0.11, 10 pairs at c >=
        # 0.99 and 3463 at c >= 0.95 (a table since the gate counts those, LayerTable::
        # elu_near; they had taken ~2 us each)
        ("elu", 1.0, 0.5, 10),
        # settled: variances equal to 1e-9, 1 - c ~ 1e-3 (its pairs' Price forms from c = 1,
        # two_point.hpp, hard_tanh_near_one_domain, at the nodes)
        ("hard_tanh", 1.0, 0.5, 20),
    ],
)
def test_layer_table_layers_do_not_depend_on_input_order(act, sw, sb, depth):
    # A layer table's pair is a row's coefficients (its Chebyshev basis in log q summed)
    # contracted with the other input's basis: with the row always the pair's first index,
    # a permutation of the inputs changed entries in their last bit or two (up to 4.5e-16
    # relative: tanh, softplus and elu, 100 inputs). The row is now the smaller variance:
    # permuted inputs give the permuted kernel bitwise, at any thread count; sampled pairs
    # of the last layer within 2e-12 of the scale of nested quadrature on the layer before.
    a = resolve(act)
    rng = np.random.default_rng(21)
    n = 100
    K, Kprev = _deep_kernel_in_any_order(act, n, sw, sb, depth, rng)
    units, ready, inputs = _core.kernel_layer_table(a.kind, *a.core_params, Kprev, 1)
    assert units > 0 and ready and inputs == n, (units, ready, inputs)
    i, j = np.triu_indices(n, 1)
    pick = rng.choice(i.size, 30, replace=False)
    _assert_layer_pairs_direct(act, Kprev, K, sw, sb, i[pick], j[pick])


def test_layer_table_for_a_custom_activation():
    # A user's phi (tanh from a NumPy callable) deep in the ordered phase: its pairs next
    # to c = 1 past q ~ 14 take the trapezoid rule (0.2-3 ms) or the nested quadratures
    # (10-25 ms), and a layer table serves them where those at c >= 0.99 are at least as
    # many as its nodes. 24
    # inputs of one variance, 150 (sigma_b = 12), 1 - c in [1e-4, 1e-2]: the table built
    # over every input and passing its checks, and the layer within 5e-13 of the scale
    # of the built-in tanh's (its own forms, checked against nested quadrature above).
    ct = sp.activation(np.tanh, derivative=lambda x: 1 / np.cosh(x) ** 2, name="ctanh")
    rng = np.random.default_rng(21)
    c, Ko = _layer_with_table(ct, np.full(24, 150.0), (-4, -2), rng)
    t = resolve("tanh")
    ref, n_short = _core.kernel_layer(t.kind, *t.core_params, c * 150.0, 1.0, 0.0, 1)
    assert n_short == 0
    assert np.abs(Ko - ref).max() / np.diag(ref).min() < 5e-13


@pytest.mark.parametrize(
    "act,top",
    [
        ("silu", 2.5),
        ("softplus", 2.5),
        ("shifted_softplus", 2.5),
        ("softsign", 1.5),
        ("linear_region_tanh", 1.5),
    ],
)
def test_layer_table_across_the_top_of_the_near_diagonal_table(act, top):
    # A layer whose variances straddle the top of the near-diagonal table, 10^top (the
    # linear tails at sigma_w = 1.5, sigma_b = 8, the fourth or fifth layer; softsign
    # and linear_region_tanh in the first layer at sigma_b = 5): the inputs below it
    # are served by the difference form, those above are not. The layer table's box
    # holds both, so that the pairs across (and those of the served inputs with each
    # other, whose variances are too far apart for the difference form) read the
    # table too, where they had taken the dispatch (1000 inputs: 36-44 s for that
    # layer of the linear tails, 7-8 s for the others'). Sampled pairs of each sort
    # against nested quadrature, and the same bits at 1 and 2 threads.
    rng = np.random.default_rng(17)
    q = 10.0 ** rng.uniform(top - 0.08, top + 0.08, 300)
    c, Ko = _layer_with_table(act, q, (-4, -1.5), rng)
    below, above = np.flatnonzero(q < 10**top), np.flatnonzero(q >= 10**top)
    assert below.size > 50 and above.size > 50
    for rows, cols in ((below, below), (below, above), (above, above)):
        i, j = rng.choice(rows, 20), rng.choice(cols, 20)
        i, j = i[i != j], j[i != j]
        ref = _direct(act, q[i], q[j], c[i, j], 0)
        scale = np.sqrt(np.diag(Ko)[i] * np.diag(Ko)[j])
        err = np.abs(Ko[i, j] - ref) / scale
        assert err.max() < 5e-13, err.max()


@pytest.mark.parametrize("act", ["softsign", "linear_region_tanh"])
def test_layer_table_of_served_inputs_spread_apart(act):
    # softsign's and linear_region_tanh's first layer at sigma_w = 0.5, sigma_b = 3 on
    # inputs of unequal norms: q 9-21, every input below the near-diagonal table's top
    # (10^1.5) and served by the difference form, whose pairs of variances that far
    # apart take the dispatch (next to c = 1, ~0.16 ms each: 1000 inputs of softsign,
    # 7.7 s for that layer). The layer table takes them (0.3 s) where those at c >= 0.99
    # are at least 10x its nodes. Sampled pairs against nested quadrature, and the same
    # bits at 1 and 2 threads.
    rng = np.random.default_rng(23)
    q = np.exp(rng.uniform(np.log(9.0), np.log(21.0), 300))
    c, Ko = _layer_with_table(act, q, (-4, -2.05), rng)
    _assert_sampled_pairs(act, q, c, Ko, rng)


@pytest.mark.parametrize(
    "act,lo,hi", [("linear_region_tanh", 64.0, 369.0), ("silu", 1e3, 7e3), ("tanh", 100.0, 700.0)]
)
def test_layer_table_wider_than_e_1_68(act, lo, hi):
    # Variances spread over e^1.75-e^1.95, past the e^1.68 of the table's previous
    # limit (dq = 14 in log q; now 15, up to e^1.99): linear_region_tanh's first layer
    # at sigma_w = 2.5, sigma_b = 8 on inputs of unequal norms, q 64-369, took 17 s for
    # 1000 inputs without a table. The table holds every input; sampled pairs against
    # nested quadrature, and the same bits at 1 and 2 threads.
    rng = np.random.default_rng(19)
    q = np.exp(rng.uniform(np.log(lo), np.log(hi), 300))
    q[:2] = lo, hi
    c, Ko = _layer_with_table(act, q, (-4, -0.7), rng)
    _assert_sampled_pairs(act, q, c, Ko, rng)


@pytest.mark.parametrize("spread", [0.3, 0.7])
@pytest.mark.parametrize("act", ["elu", "selu"])
def test_layer_table_of_elu_at_large_variances(act, spread):
    # elu and selu past q = 1e3 (sigma_w = 2.5, sigma_b = 8: the variances grow
    # threefold a layer, to 1e7 by depth 10), where a node costs about two of their
    # pairs' closed forms: a layer of 300 inputs at q ~ 1e5 is served by the layer
    # table (1000 inputs, depth 10: 86 s before, 10 s). Its pairs at 1 - c >= 1e-4,
    # the table without its first segments in sqrt(1 - c) (1.6 / sqrt(q) = 0.004
    # wide). The variances spread over a factor 10^0.3 or 10^0.7 (e^1.61, past the
    # e^1.5 of the table's first version: the layers of shifted_softplus at sigma_w =
    # 2.5, sigma_b = 8 spread over e^1.54). Sampled pairs against nested quadrature,
    # and the same bits at 1 and 2 threads.
    a = resolve(act)
    rng = np.random.default_rng(18)
    m = 300
    q = 1e5 * 10.0 ** rng.uniform(0.0, spread, m)
    c, Ko = _layer_with_table(act, q, (-4, -2), rng)
    for _ in range(12):
        i, j = rng.choice(m, 2, replace=False)
        ref, ok = _core.bivariate_nested_quadrature(a.kind, *a.core_params, 0, q[i], q[j], c[i, j])
        assert ok
        scale = np.sqrt(Ko[i, i] * Ko[j, j])
        assert abs(Ko[i, j] - ref) <= 2e-13 * scale, (i, j, abs(Ko[i, j] - ref) / scale)


@pytest.mark.parametrize("act", ["elu", "selu"])
def test_elu_kernel_far_in_the_tails(act):
    # sigma_w = 2.5: the variances grow threefold a layer (q ~ 1e5-1e6 by depth 8), every
    # pair next to c = 1, where the closed forms' tilted orthants lie far in the tails
    # and take the one-dimensional tail quadrature (bivariate_normal.hpp,
    # orthant_tail_quadrature, asked for no less than its integrand's rounding allows).
    # Sampled pairs of three layers against nested quadrature on the layer before.
    a = resolve(act)
    rng = np.random.default_rng(16)
    n, sw, sb = 40, 2.5, 8.0
    X = rng.normal(size=(n, 6)) * np.exp(0.5 * rng.normal(size=(n, 1)))
    Ks = sp.nngp_kernel(act, X, sw, sb, depth=8, return_all=True, n_threads=1)
    assert np.diag(Ks[-2]).min() > 5e4
    iu, ju = np.triu_indices(n, 1)
    for layer in (3, 5, 7):
        K, Knext = Ks[layer - 1], Ks[layer]
        q = np.diag(K)
        for p in rng.choice(iu.size, 6, replace=False):
            i, j = iu[p], ju[p]
            c = np.clip(K[i, j] / np.sqrt(q[i] * q[j]), -1.0, 1.0)
            ref, ok = _core.bivariate_nested_quadrature(a.kind, *a.core_params, 0, q[i], q[j], c)
            assert ok
            scale = np.sqrt((Knext[i, i] - sb**2) * (Knext[j, j] - sb**2)) / sw**2
            assert abs((Knext[i, j] - sb**2) / sw**2 - ref) <= 1e-13 * scale, (layer, i, j)


@pytest.mark.parametrize("act,sw", [("elu", 1.0), ("selu", 0.8)])
def test_deep_elu_kernel_settled_at_small_variances(act, sw):
    # Deep in the ordered phase at sigma_b = 0.5 the variances of elu (sigma_w = 1) and
    # selu (sigma_w = 0.8) settle at q* ~ 0.75, below the layer table's q = 4 of the
    # kinds with closed forms, every pair at 1 - c ~ 1e-5-1e-2 where the exponential's
    # Taylor series took 2-3 us a pair (elu, 100 inputs, depth 30: 0.26 s, 180x relu's).
    # A layer table is built there where the pairs at c >= 0.99 are at least twice its
    # nodes: built and passing its checks in the settled layers, sampled pairs of them
    # within 5e-13 of the scale of nested quadrature on the layer before, the same bits
    # at 1 and 2 threads.
    rng = np.random.default_rng(24)
    n, sb = 60, 0.5
    X = rng.normal(size=(n, 6)) * np.exp(0.3 * rng.normal(size=(n, 1)))
    a = resolve(act)
    Ks = sp.nngp_kernel(act, X, sw, sb, depth=18, return_all=True, n_threads=1)
    assert np.array_equal(sp.nngp_kernel(act, X, sw, sb, depth=18, n_threads=2), Ks[-1])
    q = np.diag(Ks[-2])
    assert 0.5 < q.min() and q.max() < 1.0
    built = [_core.kernel_layer_table(a.kind, *a.core_params, K, 1) for K in Ks[14:-1]]
    assert all(units > 0 and ready for units, ready, _ in built), built
    for layer, err in _sampled_pair_errors(act, Ks, sw, sb, range(12, 18), 12, rng):
        assert err < 5e-13, (layer, err)


@pytest.mark.parametrize("q0", [0.03, 0.75, 3.0])
@pytest.mark.parametrize("act", ["elu", "selu"])
def test_layer_table_of_elu_at_small_variances(act, q0):
    # The layer table of elu and selu below q = 4 (from 0.01): 200 inputs within 1e-3 of
    # q0, 1 - c log-uniform in [1e-6, 1e-2] (a settled ordered-phase layer), the table
    # built over every input and passing its checks; sampled pairs against nested
    # quadrature.
    rng = np.random.default_rng(25)
    q = q0 * (1.0 + 1e-3 * rng.uniform(size=200))
    c, Ko = _layer_with_table(act, q, (-6, -2), rng)
    _assert_sampled_pairs(act, q, c, Ko, rng)


def _elu_mpmath(act, q1, q2, c):
    """E[phi(u) phi(v)] of elu or selu at 30 digits: the expectation over v given u in
    closed form (v | u normal: relu's part sigma psi(m / sigma), the exponential's
    e^(m + sigma^2 / 2) Phi(-(m + sigma^2) / sigma), the step's Phi(-m / sigma)), then
    mpmath's quadrature over u, split at phi's kink and at the edge of its exponential's
    width 50 / sqrt(q1)."""
    mpmath = pytest.importorskip("mpmath")
    mp = mpmath.mp
    mp.dps = 30
    lam, alpha = (
        (1, 1)
        if act == "elu"
        else (
            mp.mpf("1.0507009873554804934193349852946"),
            mp.mpf("1.6732632423543772848170429916717"),
        )
    )
    q1, q2, c = mp.mpf(q1), mp.mpf(q2), mp.mpf(c)
    s1, s2 = mp.sqrt(q1), mp.sqrt(q2)
    sig = s2 * mp.sqrt(1 - c * c)

    def given(x):  # E[phi(v) | u = s1 x]
        m = c * s2 * x
        t = m / sig
        relu = sig * (t * mp.ncdf(t) + mp.npdf(t))
        tilt = mp.exp(m + sig**2 / 2) * mp.ncdf(-(m + sig**2) / sig)
        return lam * (relu + alpha * (tilt - mp.ncdf(-t)))

    def phi(y):
        return lam * y if y > 0 else lam * alpha * (mp.exp(y) - 1)

    b = 50 / s1
    return mp.quad(lambda x: phi(s1 * x) * given(x) * mp.npdf(x), [-mp.inf, -1, -b, 0, 1, mp.inf])


@pytest.mark.parametrize("act", ["elu", "selu"])
def test_elu_large_variance_form_against_mpmath(act):
    # phi of elu and selu at large variances by their asymptotic form
    # (elu_large_variance.hpp: relu's and the step's kernels in closed form, the
    # exponential's narrow part expanded in the inverse variances with bounded
    # remainders), where the closed forms' orthants lie in the far tails (their tail
    # quadrature, 0.1-0.25 ms a pair past q ~ 1e10): asked for 1e-14 of the scale (a
    # tenth of the engine's tolerance, as the dispatch asks it), it serves from q ~ 1e7
    # (elu from 1e6) and is within that of 30-digit mpmath; the engine's value too.
    a = resolve(act)
    for q1, q2, c in [
        (1e6, 2e6, 0.999),
        (3e7, 1e8, 0.3),
        (1e8, 1e8, 0.99),
        (1e9, 3e9, -0.5),
        (1e10, 1e10, 0.9999),
    ]:
        ref = float(_elu_mpmath(act, q1, q2, c))
        scale = float(_scale(act, q1, q2, 0))
        got = _core.large_variance_asymptotic(a.kind, *a.core_params, q1, q2, c, 1e-14 * scale)
        # (at 1e6 selu's bound, 6.7e-15 of the scale, and its rounding pass 1e-14)
        assert abs(got - ref) <= 1e-14 * scale or (math.isnan(got) and q1 < 1e7), (q1, c, got)
        eng = float(sp.bivariate_expectation(act, q1, q2, c))
        assert abs(eng - ref) <= 1e-14 * scale, (q1, q2, c, eng, ref)


@pytest.mark.parametrize("act", ["elu", "selu"])
def test_elu_large_variance_form_within_its_bound(act):
    # At q 1e3-1e6 (where its bound is larger) against the closed forms (_direct), the
    # form asked for 1e-9, 1e-11 and 1e-12 of the scale: where it serves, within that
    # (measured: its error 0.7-1.0 of its bound, the bound the next term's size); it
    # declines next to |c| = 1 and at small variances, and for other kinds.
    a = resolve(act)
    rng = np.random.default_rng(27)
    served = 0
    for _ in range(40):
        q1 = 10.0 ** rng.uniform(3.0, 6.0)
        q2 = q1 * 10.0 ** rng.uniform(0.0, 1.0)
        c = rng.uniform(-0.95, 0.999)
        scale = float(_scale(act, q1, q2, 0))
        ref = float(_direct(act, q1, q2, c, 0)[0])
        for rtol in (1e-9, 1e-11, 1e-12):
            got = _core.large_variance_asymptotic(a.kind, *a.core_params, q1, q2, c, rtol * scale)
            if math.isnan(got):
                continue
            served += 1
            assert abs(got - ref) <= (rtol + 2e-14) * scale, (q1, q2, c, rtol)
    assert served >= 40, served
    assert math.isnan(
        _core.large_variance_asymptotic(a.kind, *a.core_params, 1e8, 1e8, 1 - 1e-12, 1e-6)
    )
    assert math.isnan(_core.large_variance_asymptotic(a.kind, *a.core_params, 1.0, 2.0, 0.5, 1e-13))
    t = resolve("tanh")
    assert math.isnan(_core.large_variance_asymptotic(t.kind, *t.core_params, 1e8, 1e8, 0.5, 1.0))


@pytest.mark.parametrize("act", ["elu", "selu"])
@pytest.mark.parametrize("derivative", [0, 1])
def test_elu_closed_form_next_to_the_diagonal_at_large_variances(act, derivative):
    # Pairs next to the diagonal at q 5e3-1e4 (q2 up to 10 % above q1, 1 - c log-uniform
    # in [1e-12, 1e-3]), where the closed forms' rounding estimate passes 1e-13 of the
    # scale (selu from q ~ 5e3, elu from ~1e4: the exponents' rounding, eps q / 2) and the
    # dispatch takes them at 1e-12 (two_point.hpp) instead of the nested quadrature (~100
    # us): within 1e-13 of the scale of the nested quadrature (measured: 4.0e-14 at most
    # over 150 pairs a kind and order at q 1e3-1e4).
    rng = np.random.default_rng(53)
    a = resolve(act)
    n = 8
    q1 = 10.0 ** rng.uniform(np.log10(5e3), 4.0, n)
    q2 = q1 * (1.0 + 10.0 ** rng.uniform(-12, -1, n))
    c = 1 - 10.0 ** rng.uniform(-12, -3, n)
    _assert_nested_quadrature(a, q1, q2, c, derivative, tol=1e-13)


def test_deep_elu_kernel_at_exploding_variances():
    # elu at sigma_w = 2, sigma_b = 0.5: the variances double a layer, ~1e9 by depth 30,
    # every pair at 1 - c ~ 1e-3-1e-2, where the closed forms' tail quadrature took up to
    # 0.5 s a layer of 100 inputs (the asymptotic form: 0.1 us a pair). Sampled entries
    # of the last layer against 30-digit mpmath on the layer before, within 1e-13 of the
    # scale.
    rng = np.random.default_rng(28)
    X = rng.normal(size=(10, 6))
    Ks = sp.nngp_kernel("elu", X, 2.0, 0.5, depth=30, return_all=True, n_threads=1)
    K, Kn = Ks[-2], Ks[-1]
    q = np.diag(K)
    assert q.min() > 1e8
    for i, j in [(0, 1), (2, 7), (4, 9)]:
        c = K[i, j] / np.sqrt(q[i] * q[j])
        ref = float(_elu_mpmath("elu", q[i], q[j], c))
        scale = float(_scale("elu", q[i], q[j], 0))
        assert abs((Kn[i, j] - 0.25) / 4.0 - ref) <= 1e-13 * scale, (i, j)


def test_hard_tanh_cross_form_next_to_one():
    # hard_tanh at variances past a^2 / 4 next to c = 1, the variances apart (a settling
    # ordered-phase kernel's pairs): Price's theorem from c = 1 with the crossing of
    # the two thresholds a / sqrt(q1), a / sqrt(q2) (two_point.hpp,
    # threshold_cross_near_one), where the closed forms cancel. Against nested
    # quadrature, and two points against 30-digit mpmath (the inner expectation of the
    # clip in closed form).
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(14)
    n = 300
    q1 = 10.0 ** rng.uniform(math.log10(0.25), 3, n)
    q2 = q1 * (1 + 10.0 ** rng.uniform(-8, -0.3, n))
    c = 1 - 10.0 ** rng.uniform(-12, math.log10(0.25), n)
    got = sp.bivariate_expectation("hard_tanh", q1, q2, c)
    ref = _direct("hard_tanh", q1, q2, c, 0)
    scale = np.sqrt(
        sp.gaussian_moments("hard_tanh", q1).phi_sq * sp.gaussian_moments("hard_tanh", q2).phi_sq
    )
    np.testing.assert_array_less(np.abs(got - ref), 1e-13 * scale)
    # phi' (the window probability) likewise, from q1 = a^2 / 4 (past c = 0.95 the form
    # serves there: a deep kernel's layers at sigma_w = 1, sigma_b = 0.5, q* ~ 0.69)
    lo = q1 < 4.0
    got1 = sp.bivariate_expectation("hard_tanh", q1[lo], q2[lo], c[lo], derivative=1)
    ref1 = _direct("hard_tanh", q1[lo], q2[lo], c[lo], 1)
    scale1 = np.sqrt(
        sp.gaussian_moments("hard_tanh", q1[lo]).dphi_sq
        * sp.gaussian_moments("hard_tanh", q2[lo]).dphi_sq
    )
    np.testing.assert_array_less(np.abs(got1 - ref1), 1e-13 * scale1)
    mpmath.mp.dps = 30

    def clip_mean(m, sd):  # E[clip(m + sd Z, -1, 1)]
        lo, hi = (-1 - m) / sd, (1 - m) / sd
        return (
            -mpmath.ncdf(lo)
            + (1 - mpmath.ncdf(hi))
            + m * (mpmath.ncdf(hi) - mpmath.ncdf(lo))
            + sd * (mpmath.npdf(lo) - mpmath.npdf(hi))
        )

    for a, b, cc in ((4.251024703597084, 4.510198159534942, 0.9904253721959017),
                     (252.65285978792255, 252.65287257824912, 0.9998224786604755)):  # fmt: skip
        s1, s2, cm = mpmath.sqrt(a), mpmath.sqrt(b), mpmath.mpf(cc)
        r = mpmath.sqrt(1 - cm**2)

        def f(x, s1=s1, s2=s2, cm=cm, r=r):
            return max(-1, min(1, s1 * x)) * clip_mean(s2 * cm * x, s2 * r) * mpmath.npdf(x)

        k = 1 / s1
        want = float(mpmath.quad(f, [-mpmath.inf, -k, 0, k, mpmath.inf]))
        assert abs(sp.bivariate_expectation("hard_tanh", a, b, cc) - want) <= 1e-13 * abs(want)


# (activation, log10 of the least variance) of the Fourier forms
FOURIER_FORMS = [
    ("softplus", 2.0),
    ("shifted_softplus", 2.0),
    ("silu", 2.0),
    ("tanh", 1.3),
    ("sigmoid", 1.9),
]


@pytest.mark.parametrize("act", ["softplus", "shifted_softplus", "silu"])
def test_linear_tail_asymptotic_form_within_its_bound(act):
    # The linear tails' phi at large variances by their asymptotic form (relu's kernel
    # plus the remainder's terms from its moments, linear_tail_pair.hpp,
    # linear_tail_asymptotic), at random points (q1 from 1e3 to 1e10, q2 / q1 in
    # e^[-1.5, 1.5], 1 - c in [1e-6, 0.5]), against the Fourier form (validated against
    # nested quadrature to 1e-14 above, asked here for 1e-16 of the scale): where it
    # serves at tolerance atol (1e-13 and 1e-14 of the scale), within atol of it, the
    # Fourier form's own error aside (measured: 0.73 and 0.59 of atol at most); it
    # serves from q ~ 5e3, about half the points.
    rng = np.random.default_rng(17)
    a = resolve(act)
    n = 80
    q1 = 10.0 ** rng.uniform(3, 10, n)
    q2 = q1 * np.exp(rng.uniform(-1.5, 1.5, n))
    c = 1 - 10.0 ** rng.uniform(-6, np.log10(0.5), n)
    scale = _scale(act, q1, q2, 0)
    for rtol in (1e-13, 1e-14):
        served = 0
        for x, y, z, s in zip(q1, q2, c, scale, strict=True):
            got = _core.large_variance_asymptotic(a.kind, *a.core_params, x, y, z, rtol * s)
            if np.isnan(got):
                continue
            served += 1
            ref = _core.fourier_pair(a.kind, *a.core_params, 0, x, y, z, 1e-16 * s, False)
            assert abs(got - ref) <= rtol * s + 2e-15 * s, (x, y, z, (got - ref) / s)
        assert served >= n // 3, served
    # not for phi of the other kinds, nor next to c = 1 at moderate variances
    assert np.isnan(
        _core.large_variance_asymptotic(resolve("tanh").kind, 0.0, 0.0, 1e8, 1e8, 0.9, 1.0)
    )
    assert np.isnan(
        _core.large_variance_asymptotic(a.kind, *a.core_params, 100.0, 100.0, 0.999, 1e-11)
    )


def test_exploding_linear_tail_kernel_layers():
    # softplus and silu at sigma_w = 2 (their variance doubles a layer, ~1e8 by layer
    # 25): a layer's pairs at q ~ 1e7-1e9, 1 - c ~ 0.01-0.05, take the asymptotic form
    # in the dispatch, before the series' anchored tails (which had served some of them
    # within 8e-14 of the scale, ~10 us each); each entry against the Fourier form,
    # within 1e-13 of the scale.
    rng = np.random.default_rng(2)
    X = rng.normal(size=(12, 10))
    for act in ("softplus", "silu"):
        a = resolve(act)
        Ks = sp.nngp_kernel(act, X, 2.0, 0.5, depth=25, return_all=True)
        K, Kn = Ks[-2], Ks[-1]
        q = np.diag(K)
        assert q.min() > 5e6
        i, j = np.triu_indices(12, 1)
        cs = K[i, j] / np.sqrt(q[i] * q[j])
        scale = _scale(act, q[i], q[j], 0)
        for x, y, z, s, v in zip(q[i], q[j], cs, scale, Kn[i, j], strict=True):
            ref = 0.25 + 4.0 * _core.fourier_pair(
                a.kind, *a.core_params, 0, x, y, z, 1e-16 * s, False
            )
            assert abs(v - ref) <= 4.0 * 1e-13 * s, (act, x, y, z)


@pytest.mark.parametrize("act", ["softplus", "shifted_softplus", "silu"])
def test_linear_tail_kernel_layer_takes_the_asymptotic_form(act):
    # A kernel layer's pairs of the linear tails at q >= 1e3 and c in [1/2, 1), which the
    # lanes did not certify, take the asymptotic form before their expansions are
    # completed for the series' longer orders, as bivariate_dispatch does before the
    # series (softplus at sigma_w = 2, sigma_b = 0.2, depth 30: its layers at q ~ 3e4-2e9,
    # 1.5-1.9 ms -> 0.55 ms): at q ~ 1e5-1e6, 1 - c in [1e-2, 0.1] (where the lanes'
    # 128 orders certify none: from 1 - c ~ 0.15 on they do, before either form), every
    # entry the dispatch's value to the bit, and within 1e-13 of the scale of the
    # Fourier form.
    rng = np.random.default_rng(26)
    a = resolve(act)
    m = 40
    q = 10.0 ** rng.uniform(5.0, 6.0, m)
    _, K = _layer_input(q, (-2.0, -1.0), rng)
    Ko, n_short = _core.kernel_layer(a.kind, *a.core_params, K, 1.0, 0.0, 1)
    assert n_short == 0
    i, j = np.triu_indices(m, 1)
    cs = K[i, j] / np.sqrt(q[i] * q[j])
    got = sp.bivariate_expectation(act, q[i], q[j], cs, n_threads=1)
    np.testing.assert_array_equal(Ko[i, j], got)
    scale = _scale(act, q[i], q[j], 0)
    for k in rng.choice(i.size, 40, replace=False):
        ref = _core.fourier_pair(a.kind, *a.core_params, 0, q[i[k]], q[j[k]], cs[k], 1e-16, False)
        assert abs(Ko[i[k], j[k]] - ref) <= 1e-13 * scale[k], (q[i[k]], q[j[k]], cs[k])


@pytest.mark.parametrize("act,lo", FOURIER_FORMS)
@pytest.mark.parametrize("derivative", [0, 1])
def test_fourier_pair_matches_the_nested_quadrature(act, lo, derivative):
    # The linear tails (linear_tail_pair.hpp: relu's or the step's kernel plus the
    # remainder's in Fourier space), tanh and sigmoid (sign_tail_pair.hpp: sign's) at
    # large variances next to c = 1, the nodes of an exploding kernel's layer tables: q1
    # from 10^lo (sigmoid, whose tanh is at q / 4: 10^1.9) to 1e6, q2 up to e^1.68 q1 and
    # one pair 20x apart, 1 - c log-uniform in [1e-9, 0.5]; the linear tails at q 30 / 45
    # too (down to q = 20, where the covariance's eigenvalue is 64), tanh' at q 15 / 17,
    # c 0.972, where the older forms declined and the principal-axes quadrature took 5
    # ms. The form serves every one, within 1e-14 of the scale of the nested quadrature
    # (measured: 2.1e-15 at most over 180-900 such points an activation and derivative
    # order); the 30-digit references hold it likewise (test_reference_extreme.py).
    rng = np.random.default_rng(5)
    a = resolve(act)
    n = 12
    q1 = 10.0 ** rng.uniform(lo, 6, n)
    q2 = q1 * np.exp(rng.uniform(0, 1.68, n))
    q2[0] = 20 * q1[0]
    c = 1 - 10.0 ** rng.uniform(-9, np.log10(0.5), n)
    if act == "tanh":
        q1[1], q2[1], c[1] = 15.0, 17.0, 0.972195
    elif act != "sigmoid":
        q1[1], q2[1] = 30.0, 45.0
    scale = _scale(act, q1, q2, derivative)
    got = np.array(
        [
            _core.fourier_pair(a.kind, *a.core_params, derivative, x, y, z, 2e-14 * s)
            for x, y, z, s in zip(q1, q2, c, scale, strict=True)
        ]
    )
    assert np.isfinite(got).all(), (q1[~np.isfinite(got)], c[~np.isfinite(got)])
    err = _rel_err(got, _direct(act, q1, q2, c, derivative), scale)
    assert err.max() <= 1e-14, err
    # and the dispatch takes it (or the series, where it meets its bound, 1e-12 of the scale)
    disp = sp.bivariate_expectation(act, q1, q2, c, derivative=derivative)
    assert _rel_err(disp, got, scale).max() <= 1e-12


TAYLOR_KINDS = ["tanh", "sigmoid", "softplus", "shifted_softplus", "silu"]
# the least variance covariance_taylor serves (tanh's at q, the others' at q / 4 from 1)
TAYLOR_Q_MIN = {"tanh": 1.0, "sigmoid": 4.0, "softplus": 4.0, "shifted_softplus": 4.0, "silu": 4.0}


def _reference_cases(kinds):
    """The 30-digit references of tests/data/reference_2d*.json of these activations (at
    their default parameters), phi and phi': (activation, d, q1, q2, c, value)."""
    out = []
    for path in sorted(DATA.glob("reference_2d*.json")):
        for case in json.loads(path.read_text())["cases"]:
            if case["activation"] not in kinds or case.get("params"):
                continue
            if case["quantity"] not in ("phiphi", "dphidphi"):
                continue
            d = 0 if case["quantity"] == "phiphi" else 1
            q1, q2, c, v = (float(case[k]) for k in ("q1", "q2", "c", "value"))
            out.append((case["activation"], d, q1, q2, c, v))
    return out


def test_covariance_taylor_against_30_digit_references():
    # The Taylor series in the covariance from c = 1 (covariance_taylor.hpp), asked for
    # 1e-13 of the scale as the dispatch asks it: its order is chosen so that the
    # remainder's bound is a tenth of that, and its integrals are exact to rounding, so at
    # every reference point where it serves it is within 2e-14 of the scale (measured:
    # 8.9e-15 at most, over 85 such points of the five kinds)
    served = dict.fromkeys(TAYLOR_KINDS, 0)
    for name, d, q1, q2, c, ref in _reference_cases(TAYLOR_KINDS):
        a = resolve(name)
        scale = float(_scale(name, q1, q2, d))
        got = _core.covariance_taylor(a.kind, *a.core_params, d, q1, q2, c, 1e-13 * scale)
        if math.isnan(got):
            continue
        served[name] += 1
        assert abs(got - ref) <= 2e-14 * scale, (name, d, q1, q2, c, got, ref)
    least = {"tanh": 30, "sigmoid": 12, "softplus": 15, "shifted_softplus": 4, "silu": 15}
    assert all(served[k] >= least[k] for k in TAYLOR_KINDS), served


@pytest.mark.parametrize("act", TAYLOR_KINDS)
@pytest.mark.parametrize("derivative", [0, 1])
def test_covariance_taylor_within_its_tolerance(act, derivative):
    # Random pairs next to the diagonal (q1 log-uniform from the form's least variance to
    # 1e4, q2 up to 20 % above it, 1 - c log-uniform in [1e-12, 1e-2]) against the nested
    # quadrature (~1e-13 of the scale), the form asked for 1e-9, 1e-11 and 1e-13 of the
    # scale: where it serves (its order's remainder bound within a tenth of that), within
    # the ask and the quadrature's error; it serves most of them at 1e-9; and the engine,
    # which takes it for single pairs, agrees as closely.
    rng = np.random.default_rng(41)
    a = resolve(act)
    n = 10
    q1 = 10.0 ** rng.uniform(np.log10(TAYLOR_Q_MIN[act]), 4.0, n)
    q2 = q1 * (1.0 + 10.0 ** rng.uniform(-12, np.log10(0.2), n))
    c = 1 - 10.0 ** rng.uniform(-12, -2, n)
    scale = _scale(act, q1, q2, derivative)
    ref = _direct(act, q1, q2, c, derivative)
    served = 0
    for rtol in (1e-9, 1e-11, 1e-13):
        for i in range(n):
            got = _core.covariance_taylor(
                a.kind, *a.core_params, derivative, q1[i], q2[i], c[i], rtol * scale[i]
            )
            if math.isnan(got):
                continue
            served += rtol == 1e-9
            assert abs(got - ref[i]) <= (rtol + 2e-13) * scale[i], (q1[i], q2[i], c[i], rtol)
    assert served >= 6, served
    eng = sp.bivariate_expectation(act, q1, q2, c, derivative=derivative)
    assert _rel_err(eng, ref, scale).max() <= 2e-13


def test_covariance_taylor_declines_outside_its_domain():
    t, s = resolve("tanh"), resolve("silu")
    form = functools.partial(_core.covariance_taylor, t.kind, *t.core_params)
    assert np.isfinite(form(0, 30.0, 31.0, 1 - 1e-6, 1e-13))
    assert np.isfinite(form(1, 1.0, 1.0, 1 - 1e-4, 1e-13))
    assert np.isnan(form(0, 0.9, 0.9, 1 - 1e-6, 1e-13))  # below its least variance
    assert np.isnan(form(0, 30.0, 40.0, 1 - 1e-6, 1e-13))  # more than 1.21x apart
    assert np.isnan(form(0, 30.0, 31.0, 0.4, 1e-13))  # c below 1/2
    assert np.isnan(form(0, 30.0, 31.0, 1.0, 1e-13))  # c = 1: the one-point moments serve
    assert np.isnan(form(0, 1e4, 1e4, 1 - 1e-3, 1e-13))  # no order within the tolerance
    assert np.isnan(_core.covariance_taylor(s.kind, *s.core_params, 0, 3.0, 3.0, 0.999, 1e-13))
    r = resolve("softsign")
    assert np.isnan(_core.covariance_taylor(r.kind, *r.core_params, 0, 30.0, 30.0, 0.999, 1.0))
    with pytest.raises(ValueError, match="derivative order"):
        form(2, 30.0, 31.0, 1 - 1e-6, 1e-13)


REMAINDER_KINDS = TAYLOR_KINDS
# the least geometric-mean variance the remainder tables serve (tanh's table from 10,
# sigmoid through it at q / 4, the linear tails from 10^1.55)
REMAINDER_Q_MIN = {
    "tanh": 10.0,
    "sigmoid": 40.0,
    "softplus": 10**1.55,
    "shifted_softplus": 10**1.55,
    "silu": 10**1.55,
}


def _remainder_table(name, d, q1, q2, c, rtol=1e-13):
    a = resolve(name)
    return _core.remainder_table(a.kind, *a.core_params, d, q1, q2, c, rtol)


def test_remainder_table_against_30_digit_references():
    # The remainder tables (remainder_table.hpp), asked for 1e-13 of the scale as the
    # dispatch asks: at every reference point they serve, within 2e-14 of the scale
    # (measured: 2e-15 at most, over 44 such points of the five kinds, phi and phi')
    served = {}
    for name, d, q1, q2, c, ref in _reference_cases(REMAINDER_KINDS):
        scale = float(_scale(name, q1, q2, d))
        got = _remainder_table(name, d, q1, q2, c)
        if math.isnan(got):
            continue
        served[name, d] = served.get((name, d), 0) + 1
        assert abs(got - ref) <= 2e-14 * scale, (name, d, q1, q2, c, got, ref)
    assert all(served.get((k, d), 0) >= 4 for k in REMAINDER_KINDS for d in (0, 1)), served


@pytest.mark.parametrize("act", REMAINDER_KINDS)
@pytest.mark.parametrize("derivative", [0, 1])
def test_remainder_table_within_its_tolerance(act, derivative):
    # Random pairs of the tables' domain (q = sqrt(q1 q2) log-uniform from the least to
    # 1e4, q2 / q1 up to e^0.1, 1 - c log-uniform from max(1e-7, 0.02 / q) to 0.1)
    # against the nested quadrature (~1e-13 of the scale): where the table serves (its
    # segment's bound within the ask), within 1e-13 of the scale; it serves most of them
    # (tanh's and sigmoid's phi' not from q = 10^2.5 below 1 - c = 1e-4, whose segments
    # miss their checks); and the engine, which takes it for single pairs, agrees.
    rng = np.random.default_rng(43)
    n = 12
    # (softplus's and shifted_softplus's phi' is sigmoid's phi: tanh's table at q / 4)
    via_sigmoid = act == "sigmoid" or (act != "silu" and act != "tanh" and derivative == 1)
    lo = REMAINDER_Q_MIN["sigmoid" if via_sigmoid else act]
    q = 10.0 ** rng.uniform(np.log10(lo) + 0.01, 4.0, n)
    mu = rng.uniform(0.0, 0.05, n)
    q1, q2 = q * np.exp(-mu), q * np.exp(mu)
    e_lo = np.maximum(1e-7, (0.08 if via_sigmoid else 0.02) / q) * 1.01
    c = 1 - 10.0 ** rng.uniform(np.log10(e_lo), -1.0)
    scale = _scale(act, q1, q2, derivative)
    ref = _direct(act, q1, q2, c, derivative)
    got = np.array([_remainder_table(act, derivative, *p) for p in zip(q1, q2, c, strict=True)])
    served = np.isfinite(got)
    assert served.sum() >= (8 if derivative == 1 and act in ("tanh", "sigmoid") else n), served
    assert _rel_err(got[served], ref[served], scale[served]).max() <= 1e-13
    eng = sp.bivariate_expectation(act, q1, q2, c, derivative=derivative)
    assert _rel_err(eng, ref, scale).max() <= 1e-13


def test_remainder_table_declines_outside_its_domain():
    t = functools.partial(_remainder_table, "tanh")
    assert np.isfinite(t(0, 100.0, 105.0, 1 - 1e-3))
    assert np.isfinite(t(0, 105.0, 100.0, 1 - 1e-3))  # (either order of the variances)
    assert np.isnan(t(0, 9.0, 9.0, 1 - 1e-2))  # below its least variance
    assert np.isnan(t(0, 1.2e4, 1.2e4, 1 - 1e-3))  # past its top
    assert np.isnan(t(0, 100.0, 112.0, 1 - 1e-3))  # variances more than e^0.1 apart
    assert np.isnan(t(0, 100.0, 100.0, 1 - 1e-5))  # D = q (1 - c) below 0.02
    assert np.isnan(t(0, 100.0, 100.0, 0.85))  # 1 - c past 0.1
    assert np.isnan(t(0, 100.0, 100.0, 1.0))  # c = 1: the one-point moments serve
    assert np.isnan(t(0, 100.0, 100.0, 1 - 1e-3, 1e-16))  # a tolerance below its bound
    assert np.isnan(_remainder_table("sigmoid", 0, 30.0, 30.0, 1 - 1e-2))  # q / 4 below 10
    assert np.isnan(_remainder_table("softplus", 0, 30.0, 30.0, 1 - 1e-2))  # below 10^1.55
    assert np.isnan(_remainder_table("hard_tanh", 0, 100.0, 100.0, 1 - 1e-3))  # another kind
    tanh = resolve("tanh")
    bound = functools.partial(_core.remainder_table_bound, tanh.kind, *tanh.core_params)
    assert 0 < bound(0, 100.0, 105.0, 1 - 1e-3) <= 2e-14
    assert np.isnan(bound(0, 9.0, 9.0, 1 - 1e-2))
    with pytest.raises(ValueError, match="derivative order"):
        t(2, 100.0, 105.0, 1 - 1e-3)
    with pytest.raises(ValueError, match="tanh, softplus"):
        r = resolve("relu")
        _core.remainder_table_bound(r.kind, *r.core_params, 0, 100.0, 100.0, 0.999)


# The tables whose nodes the engine evaluates (remainder_table.hpp): the activations, the
# least q = sqrt(q1 q2) they serve, and whether they serve c < 0 themselves (elu, selu)
ENGINE_TABLE_KINDS = {
    "elu": (0.1, True),
    "selu": (0.1, True),
    "softsign": (1e-3, False),
    "linear_region_tanh": (1.0, False),
}


def test_engine_remainder_tables_against_30_digit_references():
    # At every 30-digit reference of tests/data/reference_2d*.json the tables serve
    # (parameters included: elu at alpha = 1 and 0.5, linear_region_tanh at a = 1 and
    # 0.4), asked for 1e-12 of the scale as the dispatch asks: within 2e-13 of the scale
    # (measured: 6.3e-14 at most, softsign's phi; 140 points)
    served = {}
    for path in sorted(DATA.glob("reference_2d*.json")):
        for case in json.loads(path.read_text())["cases"]:
            name = case["activation"]
            if name not in ENGINE_TABLE_KINDS or case["quantity"] not in ("phiphi", "dphidphi"):
                continue
            d = 0 if case["quantity"] == "phiphi" else 1
            q1, q2, c, ref = (float(case[k]) for k in ("q1", "q2", "c", "value"))
            a = sp.activation(name, **case.get("params", {}))
            got = _core.remainder_table(a.kind, *a.core_params, d, q1, q2, c, 1e-12)
            if math.isnan(got):
                continue
            served[name, d] = served.get((name, d), 0) + 1
            err = abs(got - ref) / float(_scale(a, q1, q2, d))
            assert err <= 2e-13, (name, case.get("params"), d, q1, q2, c, got, ref)
    assert all(served.get((k, d), 0) >= 4 for k in ENGINE_TABLE_KINDS for d in (0, 1)), served


@pytest.mark.parametrize("act", list(ENGINE_TABLE_KINDS))
@pytest.mark.parametrize("derivative", [0, 1])
def test_engine_remainder_tables_against_the_engine(act, derivative):
    # Random pairs of the tables' domain (q log-uniform from the least to 1e4, q2 / q1 up
    # to e^0.1, 1 - |c| log-uniform in [1e-13, 0.1]; elu and selu next to c = -1 too;
    # linear_region_tanh's to 1 - c = 1e-3, its phi''s to q2 / q1 = e^0.01 and, whose
    # segments from q = 100 miss their checks past it, 1 - c = 1e-5) against the engine
    # with the tables off, their nodes' source: a table serves every pair (its segment's
    # bound within 1e-12), within 3e-13 of the scale (measured: 7.6e-14 at 200 pairs a
    # kind and order); and the engine takes the table's value for single pairs (not
    # softsign's with both variances up to 1e-2 past c = 0.95: its power series).
    q_min, both_sides = ENGINE_TABLE_KINDS[act]
    a = resolve(act)
    rng = np.random.default_rng(47)
    n = 16
    lrt = act == "linear_region_tanh"
    q = 10.0 ** rng.uniform(np.log10(q_min) + 0.01, 3.99, n)
    mu = rng.uniform(0.0, 0.0049 if lrt and derivative == 1 else 0.049, n)
    q1, q2 = q * np.exp(-mu), q * np.exp(mu)
    e_hi = (-5.0 if derivative == 1 else -3.0) if lrt else -1.0
    e = 10.0 ** rng.uniform(-12.99, e_hi, n)
    sign = np.where(rng.uniform(size=n) < 0.5, -1.0, 1.0) if both_sides else 1.0
    c = sign * (1.0 - e)
    got = np.array(
        [
            _core.remainder_table(a.kind, *a.core_params, derivative, *p, 1e-12)
            for p in zip(q1, q2, c, strict=True)
        ]
    )
    assert np.isfinite(got).all(), (q1[np.isnan(got)], c[np.isnan(got)])
    ref = np.array(
        [
            _core.untabled_pair(a.kind, *a.core_params, derivative, *p)
            for p in zip(q1, q2, c, strict=True)
        ]
    )
    scale = _scale(act, q1, q2, derivative)
    assert _rel_err(got, ref, scale).max() <= 3e-13
    eng = sp.bivariate_expectation(act, q1, q2, c, derivative=derivative)
    series = (act == "softsign") & (c >= 0.95) & (q2 <= 1e-2)
    assert np.array_equal(eng[~series], got[~series])
    assert _rel_err(eng, ref, scale).max() <= 3e-13


def test_engine_remainder_tables_decline_outside_their_domain():
    def t(name, d, q1, q2, c, rtol=1e-12):
        a = resolve(name)
        return _core.remainder_table(a.kind, *a.core_params, d, q1, q2, c, rtol)

    assert np.isfinite(t("elu", 0, 100.0, 105.0, 1 - 1e-6))
    assert np.isfinite(t("elu", 1, 105.0, 100.0, -1 + 1e-6))  # (c < 0, either order)
    assert np.isnan(t("elu", 0, 0.05, 0.05, 1 - 1e-6))  # below its least variance
    assert np.isnan(t("elu", 0, 1.2e4, 1.2e4, 1 - 1e-6))  # past its top
    assert np.isnan(t("elu", 0, 100.0, 112.0, 1 - 1e-6))  # variances more than e^0.1 apart
    assert np.isnan(t("elu", 0, 100.0, 100.0, 1 - 1e-14))  # 1 - c below 1e-13
    assert np.isnan(t("elu", 0, 100.0, 100.0, 0.85))  # 1 - c past 0.1
    assert np.isnan(t("elu", 0, 100.0, 100.0, 1.0))  # c = 1: the one-point moments serve
    assert np.isnan(t("elu", 0, 100.0, 100.0, 1 - 1e-6, 1e-14))  # an ask below its bound
    assert np.isnan(t("softsign", 0, 100.0, 100.0, -1 + 1e-6))  # odd: c < 0 from c > 0
    assert np.isfinite(t("linear_region_tanh", 1, 100.0, 100.02, 1 - 1e-6))
    assert np.isnan(t("linear_region_tanh", 1, 100.0, 101.5, 1 - 1e-6))  # its phi': mu to 0.005
    assert np.isnan(t("linear_region_tanh", 0, 100.0, 100.0, 1 - 1e-2))  # 1 - c past 1e-3
    assert np.isnan(t("linear_region_tanh", 0, 0.5, 0.5, 1 - 1e-6))  # below q = 1
    elu = resolve("elu")
    bound = functools.partial(_core.remainder_table_bound, elu.kind, *elu.core_params)
    assert 1e-13 < bound(0, 100.0, 105.0, 1 - 1e-6) <= 1e-12
    assert 1e-13 < bound(1, 100.0, 105.0, -1 + 1e-6) <= 1e-12
    assert np.isnan(bound(0, 0.05, 0.05, 1 - 1e-6))


def test_engine_remainder_tables_bitwise_identical_across_threads():
    # Built afresh by one thread and by two (the segments' nodes by whichever thread
    # first needs them): the same numbers
    rng = np.random.default_rng(5)
    q1 = 10.0 ** rng.uniform(-1, 4, 64)
    q2 = q1 * (1 + 10.0 ** rng.uniform(-12, -1.1, 64))
    c = rng.choice([-1.0, 1.0], 64) * (1 - 10.0 ** rng.uniform(-12, -1.1, 64))
    out = []
    for n_threads in (1, 2):
        sp.clear_cache()
        out.append(sp.bivariate_expectation("selu", q1, q2, c, derivative=1, n_threads=n_threads))
    assert np.array_equal(out[0], out[1])


def test_plain_arithmetic_functions_against_mpmath():
    # The functions the Fourier forms' vector loops evaluate without libm's calls
    # (special.hpp), against mpmath at 30 digits, in ulps of the value: exp_arith within
    # 1, expm1_arith within 2 for x <= 0 (what the forms read) and 4 above,
    # log1p_arith within 2 on [0, 1], exp(-x^2) and exp(-x^2 / 2) within 2.5 (x^2 split
    # exactly), erfc_arith within 14 on [0, 6.75] and 7e-16 absolutely (its polynomial's
    # terms cancel to ~1 next to 0), erfcx_arith within 9
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30
    rng = np.random.default_rng(23)

    def ulps(name, x, ref):
        got = _core.plain_arithmetic(name, np.asarray(x, dtype=float))
        out = []
        for g, r in zip(got, ref, strict=True):
            rf = float(r)
            out.append(abs(mpmath.mpf(g) - r) / (math.ulp(rf) if rf != 0 else 5e-324))
        return got, np.array([float(u) for u in out])

    x = np.concatenate([rng.uniform(-700, 700, 300), -(10.0 ** rng.uniform(-300, 0.5, 300))])
    x = np.concatenate([x, 10.0 ** rng.uniform(-300, 0.5, 300)])
    _, e = ulps("exp", x, [mpmath.exp(v) for v in x])
    assert e.max() <= 1.0, e.max()
    _, e = ulps("expm1", x, [mpmath.expm1(v) for v in x])
    assert e[x <= 0].max() <= 2.0 and e.max() <= 4.0, (e[x <= 0].max(), e.max())
    y = np.concatenate([rng.uniform(0, 1, 300), 10.0 ** rng.uniform(-300, 0, 300)])
    _, e = ulps("log1p", y, [mpmath.log1p(v) for v in y])
    assert e.max() <= 2.0, e.max()
    z = rng.uniform(0, 26, 400)
    _, e = ulps("exp_neg_sq", z, [mpmath.exp(-(mpmath.mpf(v) ** 2)) for v in z])
    assert e.max() <= 2.5, e.max()
    _, e = ulps(
        "exp_neg_half_sq", 1.45 * z, [mpmath.exp(-(mpmath.mpf(v) ** 2) / 2) for v in 1.45 * z]
    )
    assert e.max() <= 2.5, e.max()
    t = np.concatenate([rng.uniform(0, 6.75, 600), 10.0 ** rng.uniform(-300, 0, 100), [0.0, 6.75]])
    ref = [mpmath.erfc(v) for v in t]
    got, e = ulps("erfc", t, ref)
    assert e.max() <= 14.0, e.max()
    assert max(abs(float(g - r)) for g, r in zip(got, ref, strict=True)) <= 7e-16
    # erfcx_arith, the polynomial alone (the thresholds' kernel pairs: their boundary-layer
    # sums' m_0), within 9 ulps on [0, 6.75)
    t = t[t < 6.75]
    _, e = ulps("erfcx", t, [mpmath.erfc(v) * mpmath.exp(mpmath.mpf(v) ** 2) for v in t])
    assert e.max() <= 9.0, e.max()
    assert np.isnan(_core.plain_arithmetic("erfcx", np.array([-1e-300, 6.75, 7.0, np.nan]))).all()
    with pytest.raises(ValueError, match=r"name must be .* got 'erf'"):
        _core.plain_arithmetic("erf", t)
    with pytest.raises(ValueError, match="x must be one-dimensional"):
        _core.plain_arithmetic("erfc", np.zeros((2, 2)))


def test_tanh_prime_fourier_pair_at_moderate_variances():
    # tanh''s form reaches down to the covariance's larger eigenvalue 4 (q ~ 2 next to
    # the diagonal) on a 30-point Gauss-Hermite rule in the narrow direction below 16,
    # where saturating_pair took 0.1 ms a pair: every pair served, within 1e-14 of the
    # scale of the nested quadrature; tanh's own (d = 0) keeps to 16 (the series serves
    # most of its pairs there)
    rng = np.random.default_rng(11)
    a = resolve("tanh")
    n = 8
    q1 = 10.0 ** rng.uniform(np.log10(2.2), np.log10(8.0), n)
    q2 = q1 * (1.0 + 10.0 ** rng.uniform(-12, -1, n))
    c = 1 - 10.0 ** rng.uniform(-12, -1, n)
    scale = _scale("tanh", q1, q2, 1)
    got = np.array(
        [
            _core.fourier_pair(a.kind, *a.core_params, 1, x, y, z, 2e-14 * s)
            for x, y, z, s in zip(q1, q2, c, scale, strict=True)
        ]
    )
    assert np.isfinite(got).all(), (q1[~np.isfinite(got)], c[~np.isfinite(got)])
    assert _rel_err(got, _direct("tanh", q1, q2, c, 1), scale).max() <= 1e-14
    form = functools.partial(_core.fourier_pair, a.kind, *a.core_params)
    assert np.isfinite(form(1, 2.5, 2.5, 0.999, 1e-14))
    assert np.isnan(form(1, 1.5, 1.5, 0.999, 1e-14))  # the eigenvalue ~3, below 4
    assert np.isnan(form(0, 5.0, 5.0, 0.999, 1e-14))  # phi: below 16


def test_fourier_pair_declines_outside_its_domain():
    a, t = resolve("softplus"), resolve("tanh")
    form = functools.partial(_core.fourier_pair, a.kind, *a.core_params, 0)
    tform = functools.partial(_core.fourier_pair, t.kind, *t.core_params, 0)
    assert np.isfinite(form(1e3, 2e3, 0.99, 1e-10))
    assert np.isfinite(tform(100.0, 200.0, 0.99, 1e-14))
    assert np.isnan(form(10.0, 2e2, 0.99, 1e-10))  # a variance below 20
    assert np.isnan(tform(5.0, 5.0, 0.99, 1e-14))  # the covariance's eigenvalue below 16
    assert np.isnan(form(1e3, 3e4, 0.99, 1e-10))  # 30x apart
    assert np.isnan(tform(100.0, 3e3, 0.99, 1e-14))
    assert np.isnan(form(1e3, 2e3, 0.3, 1e-10))  # c below 1/2
    assert np.isnan(form(1e3, 2e3, 1.0, 1e-10))  # c = 1: the one-point moments serve
    s = resolve("softsign")
    assert np.isnan(_core.fourier_pair(s.kind, *s.core_params, 0, 1e3, 2e3, 0.99, 1e-10))
    with pytest.raises(ValueError, match="derivative order"):
        _core.fourier_pair(a.kind, *a.core_params, 2, 1e3, 2e3, 0.99, 1e-10)
