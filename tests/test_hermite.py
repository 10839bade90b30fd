"""Hermite coefficients: closed forms, mpmath, Parseval, Stein, dual kernel.

Theory: docs/theory/kernels.rst; reference values: docs/reference_values.rst.
"""

import math

import mpmath as mp
import numpy as np
import pytest

import sigprop as sp
from sigprop.theory.hermite import dual_kernel, hermite_coefficients


def _mp_coefficient(f, n, q=1.0, kinks=(), dps=25):
    """E[f(sqrt(q) Z) h_n(Z)] at dps digits (He_n(x) = 2^{-n/2} H_n(x / sqrt 2))."""
    with mp.workdps(dps):
        sq = mp.sqrt(q)
        norm = 1 / mp.sqrt(mp.factorial(n))

        def integrand(x):
            he = mp.hermite(n, x / mp.sqrt(2)) / mp.power(2, mp.mpf(n) / 2)
            return f(sq * x) * he * norm * mp.npdf(x)

        cuts = [x / math.sqrt(q) for x in kinks]
        pts = [-mp.inf, *sorted({*np.arange(-10.0, 10.5, 1.0).tolist(), *cuts}), mp.inf]
        return float(mp.quad(integrand, pts))


def test_t9_relu_derivative_coefficients():
    b = hermite_coefficients("relu", 15, derivative=1)
    assert b[0] == 0.5
    assert b[1] == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-15)
    table = {3: -0.162868, 5: 0.109255, 7: -0.084292, 9: 0.069537, 11: -0.059671}
    table |= {13: 0.052553, 15: -0.047144}
    for k, v in table.items():
        assert b[k] == pytest.approx(v, abs=5e-7)
    assert np.all(b[2::2] == 0)


def test_relu_closed_form_sums_to_parseval():
    # sum b_k^2 = E[step^2] = 1/2; the tail decays like k^{-1/2}, so check the
    # partial sums against the closed-form tail 1/2 - sum_{k<=N} b_k^2 ~ C N^{-1/2}
    b = hermite_coefficients("relu", 4001, derivative=1)
    s1, s4 = 0.5 - np.sum(b[:1001] ** 2), 0.5 - np.sum(b**2)
    assert 0 < s4 < s1
    assert s1 / s4 == pytest.approx(2.0, rel=2e-3)  # N^{-1/2}: 4x the terms, half the tail


@pytest.mark.parametrize(
    ("name", "params"), [("relu", {}), ("leaky_relu", {"negative_slope": 0.2})]
)
@pytest.mark.parametrize("derivative", [0, 1])
def test_closed_form_matches_kink_aware_quadrature(name, params, derivative):
    act = sp.activation(name, **params)
    exact = hermite_coefficients(act, 300, q=2.5, derivative=derivative)
    # the same function as a user-defined activation takes the kink-aware quadrature
    s = params.get("negative_slope", 0.0)
    custom = sp.activation("Max(x, 0) + s * Min(x, 0)", s=s) if s else sp.activation("Max(x, 0)")
    assert act.arccos_family and not custom.arccos_family
    quad = hermite_coefficients(custom, 300, q=2.5, derivative=derivative)
    np.testing.assert_allclose(quad, exact, rtol=0, atol=5e-15)


@pytest.mark.parametrize(
    ("name", "f", "q", "kinks"),
    [
        ("tanh", mp.tanh, 3.0, ()),
        ("elu", lambda x: x if x > 0 else mp.expm1(x), 1.0, (0.0,)),
        ("hard_tanh", lambda x: max(-1, min(1, x)), 0.7, (-1.0, 1.0)),
    ],
)
def test_coefficients_against_mpmath(name, f, q, kinks):
    a = hermite_coefficients(name, 40, q=q)
    for n in (0, 3, 40):
        ref = _mp_coefficient(f, n, q, kinks)
        assert a[n] == pytest.approx(ref, abs=2e-15)


def _mp_kink_coefficient(act, n, q, dps=40):
    """The kink sum sqrt(q) sum_k J_k N(h_k) He_{n-2}(h_k) / sqrt(n!), n >= 2, at dps digits."""
    with mp.workdps(dps):
        s = mp.sqrt(q)
        total = mp.mpf(0)
        for x, jump in act.kinks:
            h = mp.mpf(x) / s
            he_prev, he = mp.mpf(1), h  # He_0, He_1 (probabilists')
            if n - 2 == 0:
                he = he_prev
            else:
                for m in range(1, n - 2):
                    he_prev, he = he, h * he - m * he_prev
            total += jump * mp.npdf(h) * he
        return s * total / mp.sqrt(mp.factorial(n))


# The piecewise linear activations, with thresholds up to 22 standard deviations
# out (q small): there the quadrature's fixed range |z| <= 16 missed the kink.
PIECEWISE = [
    ("hard_tanh", {"a": 1.0}, lambda x: max(-1, min(1, x)), (0.01, 1.0, 100.0)),
    ("shifted_relu", {"tau": 1.0}, lambda x: max(x - 1, 0), (0.003, 0.04, 1.0, 50.0)),
    ("soft_threshold", {"tau": 0.5}, lambda x: mp.sign(x) * max(abs(x) - 0.5, 0), (0.001, 0.3)),
    ("linear_floor", {"a": 1.0}, lambda x: max(x, -1), (0.002, 2.0)),
]


@pytest.mark.parametrize(("name", "params", "f", "qs"), PIECEWISE)
def test_piecewise_linear_coefficients_against_mpmath(name, params, f, qs):
    act = sp.activation(name, **params)
    for q in qs:
        a = hermite_coefficients(act, 700, q=q)  # past the core's 512: its own factors
        norm = math.sqrt(sp.gaussian_moments(act, q).phi_sq)
        kinks = tuple(x for x, _ in act.kinks)
        # the first orders by direct 25-digit quadrature of E[phi(sqrt(q) Z) h_n(Z)]
        # (independent of the kink formula) ...
        for n in (0, 1, 2, 3, 7):
            ref = _mp_coefficient(f, n, q, kinks)
            assert abs(a[n] - ref) <= 1e-14 * norm + 1e-300, (name, q, n)
        # ... and high orders by the kink formula at 40 digits (the recurrence's rounding)
        for n in (10, 50, 111, 300, 512, 700):
            ref = _mp_kink_coefficient(act, n, q)
            assert abs(a[n] - float(ref)) <= 1e-14 * norm, (name, q, n)
        # Parseval: the partial sum approaches E[phi^2] from below (a kink's tail)
        assert 0 <= norm**2 - np.sum(a**2) < 0.1 * norm**2


def test_piecewise_linear_coefficients_match_the_quadrature():
    # where the quadrature's range covers the kinks, the rule (a user-defined
    # activation with the same kinks) and the closed form agree to rounding
    act = sp.activation("hard_tanh", a=1.5)
    custom = sp.activation("Max(-a, Min(a, x))", a=1.5)
    for q in (0.2, 3.0):
        exact = hermite_coefficients(act, 300, q=q)
        quad = hermite_coefficients(custom, 300, q=q)
        np.testing.assert_allclose(quad, exact, rtol=0, atol=5e-15 * math.sqrt(q))


def test_piecewise_linear_coefficients_allow_high_orders():
    a = hermite_coefficients("shifted_relu", 100_000, q=0.5)
    assert a.shape == (100_001,) and np.all(np.isfinite(a))
    with pytest.raises(ValueError, match="n_max"):
        hermite_coefficients("tanh", 100_000)


@pytest.mark.parametrize("name", ["tanh", "gelu", "elu", "hard_tanh"])
@pytest.mark.parametrize("q", [0.3, 1.0])
def test_parseval_and_stein(name, q):
    m = sp.gaussian_moments(name, q)
    a = hermite_coefficients(name, 400, q=q)
    b = hermite_coefficients(name, 399, q=q, derivative=1)
    if not sp.activation(name).kinks:  # smooth: the series is complete to rounding
        assert np.sum(a**2) == pytest.approx(m.phi_sq, rel=1e-14)
        assert np.sum(b**2) == pytest.approx(m.dphi_sq, rel=1e-14)
    else:  # a kink leaves a polynomial tail: partial sums approach from below
        assert 0 < m.phi_sq - np.sum(a**2) < 1e-3 * m.phi_sq
        assert 0 < m.dphi_sq - np.sum(b**2) < 0.1 * m.dphi_sq
    # Stein's identity: b_n = sqrt(n + 1) a_{n+1} / sqrt(q)
    n = np.arange(200)
    np.testing.assert_allclose(b[:200], np.sqrt(n + 1) * a[1:201] / math.sqrt(q), atol=1e-13)


def test_tanh_and_swish_derivative_coefficients():
    b = hermite_coefficients("tanh", 14, derivative=1)
    table = [0.60571, -0.2571, 0.13986, -0.0832, 0.05226, -0.03413, 0.02298, -0.01585]
    np.testing.assert_allclose(b[::2], table, atol=5e-5)
    np.testing.assert_allclose(b[1::2], 0, atol=1e-15)
    b = hermite_coefficients("swish", 15, derivative=1)
    table_odd = [0.35085, -0.07561, 0.02407, -0.00883, 0.00355, -0.00153, 0.0007, -0.00033]
    assert b[0] == pytest.approx(0.5, abs=1e-15)
    np.testing.assert_allclose(b[1::2], table_odd, atol=5e-6)


@pytest.mark.parametrize(("name", "derivative"), [("tanh", 0), ("silu", 0), ("erf", 1)])
def test_dual_kernel_is_the_bivariate_expectation(name, derivative):
    a = hermite_coefficients(name, 400, derivative=derivative)
    rho = np.array([-1.0, -0.7, -0.2, 0.0, 0.3, 0.9, 1.0])
    ref = sp.bivariate_expectation(name, 1.0, 1.0, rho, derivative=derivative)
    np.testing.assert_allclose(dual_kernel(a, rho), ref, rtol=0, atol=1e-12)


def test_dual_kernel_erf_closed_form():
    # E[erf(u) erf(v)] = (2/pi) arcsin(2 q rho / (1 + 2 q)) for variance q
    q = 0.8
    a = hermite_coefficients("erf", 600, q=q)
    rho = np.linspace(-1, 1, 21)
    np.testing.assert_allclose(
        dual_kernel(a, rho), 2 / np.pi * np.arcsin(2 * q * rho / (1 + 2 * q)), atol=1e-15
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_max"):
        hermite_coefficients("tanh", -1)
    with pytest.raises(ValueError, match="derivative"):
        hermite_coefficients("tanh", 3, derivative=2)
    with pytest.raises(ValueError, match="q must be > 0"):
        hermite_coefficients("tanh", 3, q=0.0)
    with pytest.raises(ValueError, match="rho"):
        dual_kernel([1.0, 0.5], 1.5)
    with pytest.raises(TypeError, match="coefficients"):
        dual_kernel("abc", 0.5)


@pytest.mark.parametrize(("name", "slope"), [("relu", -1.5), ("elu", -2.5)])
def test_coefficient_decay_follows_the_kink_order(name, slope):
    # docs/theory/kernels.rst: a jump in phi' (relu) gives b_k^2 ~ k^{-3/2}; in phi'' (elu) k^{-5/2}
    # (leading on the odd k for relu, the even k for elu)
    b = hermite_coefficients(name, 1200, derivative=1)
    k = np.arange(401, 1200, 2) if name == "relu" else np.arange(400, 1200, 2)
    fit = np.polyfit(np.log(k), np.log(b[k] ** 2), 1)[0]
    assert fit == pytest.approx(slope, abs=0.03)


def test_smooth_coefficients_decay_faster_than_any_power():
    b = hermite_coefficients("tanh", 400, derivative=1)
    assert abs(b[400]) < 1e-12
    assert abs(b[400] / b[200]) < 0.5**10  # faster than k^{-10}


# The strips of analyticity of csrc/sigprop/analytic_tail.hpp (r, M, A, B, j): for
# f = phi^(d) at variance q, sum_{n>=k} f_n^2 <= q^k ((k - j + d)!)^2 c0^2 /
# (r^(2 (k - j + d)) k!), c0 = M (A sqrt(q) + A r + B). The engine certifies the Mehler
# series next to |c| = 1 at small variances with it; here it is checked against tails
# computed at 34 digits (a bound too small anywhere would let the engine truncate
# early, silently).
_STRIPS = {
    "tanh": (1.0, math.tan(1.0), 0.0, 1.0, 0),
    "sigmoid": (2.0, 0.5 * math.tan(1.0), 0.0, 1.0, 0),
    "softplus": (2.0, 0.5 * math.tan(1.0), 0.0, 1.0, 1),
    "silu": (2.0, 0.5 + 0.5 * math.tan(1.0), 1.0, 0.0, 0),
}


def _mp_phi(name, d):
    sig = lambda x: 1 / (1 + mp.exp(-x))  # noqa: E731
    return {
        ("tanh", 0): mp.tanh,
        ("tanh", 1): lambda x: 1 / mp.cosh(x) ** 2,
        ("sigmoid", 0): sig,
        ("sigmoid", 1): lambda x: sig(x) * sig(-x),
        ("softplus", 0): lambda x: mp.log1p(mp.exp(x)),
        ("softplus", 1): sig,
        ("silu", 0): lambda x: x * sig(x),
        ("silu", 1): lambda x: sig(x) * (1 + x * sig(-x)),
    }[name, d]


@pytest.mark.parametrize("name", sorted(_STRIPS))
@pytest.mark.parametrize("d", [0, 1])
@pytest.mark.parametrize("rho", [1e-3, 0.05])
def test_analytic_tail_bound_holds(name, d, rho):
    r, M, A, B, j = _STRIPS[name]
    q = rho * r * r
    f = _mp_phi(name, d)
    K = 14
    with mp.workdps(34):
        sq = mp.sqrt(q)
        total = mp.quad(lambda z: f(sq * z) ** 2 * mp.npdf(z), [-mp.inf, -5, 0, 5, mp.inf])
        coef = [
            mp.quad(
                lambda z, n=n: (
                    f(sq * z)
                    * mp.hermite(n, z / mp.sqrt(2))
                    / mp.power(2, mp.mpf(n) / 2)
                    / mp.sqrt(mp.factorial(n))
                    * mp.npdf(z)
                ),
                [-mp.inf, -5, 0, 5, mp.inf],
            )
            for n in range(K)
        ]
        c0 = M * (A * sq + A * r + B)
        tail, checked = total, 0
        for k in range(K):
            tail -= coef[k] ** 2  # sum_{n > k}
            kk = k + 1
            jd = j - d
            if kk <= max(jd, 1):
                continue
            bound = q**kk * mp.factorial(kk - jd) ** 2 * c0**2
            bound /= r ** (2 * (kk - jd)) * mp.factorial(kk)
            if tail > mp.mpf(10) ** -28 * total:  # resolved at 34 digits
                assert tail <= bound, (k, tail, bound)
                checked += 1
        assert checked >= 3
