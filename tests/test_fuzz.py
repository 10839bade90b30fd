"""Fuzzing the public functions with bad and extreme inputs (hypothesis).

Oracles, per example:

- no crash and no hang: every call runs under a watchdog (SIGALRM, 30 s) that
  raises instead of waiting forever (the compiled core notices it between
  blocks of cells, like Ctrl-C);
- invalid input raises ValueError or TypeError only, and the message names the
  argument that was replaced by junk;
- valid input gives an honest result: NaN in -> NaN out for activations, limits
  at +-inf, no NaN from the Gaussian moments, bivariate expectations and maps
  where the answer exists, Cauchy-Schwarz against the library's own moments,
  and scan == fixed_point bitwise.

Profiles (``SIGPROP_FUZZ_PROFILE``):

- ``ci`` (default): fixed seed (derandomized), few examples per test, a few
  seconds in all;
- ``long``: random seeds, 8,000 examples per test (``SIGPROP_FUZZ_EXAMPLES``
  overrides): the 17 tests below then run 136,000 examples (>= 1e5), with
  ``SIGPROP_FUZZ_PROFILE=long python -m pytest -q tests/test_fuzz.py``
  (roughly an hour on 2 cores; hypothesis prints a reproducer for any failure).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys

import numpy as np
import pytest

import sigprop as sp

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

settings.register_profile(
    "ci",
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("SIGPROP_FUZZ_EXAMPLES", "8000")),
    deadline=None,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile(os.environ.get("SIGPROP_FUZZ_PROFILE", "ci"))

WATCHDOG_S = 30

ACTS = list(sp.ACTIVATIONS)


@contextlib.contextmanager
def watchdog(seconds: int = WATCHDOG_S):
    """Raise TimeoutError if the body runs longer than ``seconds`` (POSIX main thread)."""
    if sys.platform == "win32" or not hasattr(signal, "SIGALRM"):
        yield
        return

    def handler(signum, frame):
        raise TimeoutError(f"hang: the call ran longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ----------------------------------------------------------------------------- inputs

EXTREME = [
    0.0,
    -0.0,
    5e-324,
    1e-310,
    1e-300,
    1e-100,
    1e-20,
    1e-8,
    0.5,
    1.0,
    2.0,
    1e8,
    1e20,
    1e100,
    1e300,
    1.7976931348623157e308,
]
finite_nonneg = st.one_of(
    st.sampled_from(EXTREME), st.floats(0.0, 1e6, allow_nan=False, allow_infinity=False)
)
moderate_nonneg = st.one_of(
    st.sampled_from([0.0, 5e-324, 1e-300, 1e-20, 1e-8, 0.5, 1.0, 4.0, 100.0]),
    st.floats(0.0, 100.0),
)
correlations = st.one_of(
    st.sampled_from([-1.0, -0.0, 0.0, 1.0, 1 - 1e-16, -1 + 1e-16]), st.floats(-1, 1)
)
junk = st.one_of(
    st.sampled_from(
        [
            float("nan"),
            float("inf"),
            -float("inf"),
            -1.0,
            -5e-324,
            -1e300,
            10**400,
            -(10**400),
            True,
            None,
            "1.0",
            b"ab",
            memoryview(b"ab"),
            1 + 2j,
            [1.0, [2.0]],
            object(),
            {"a": 1},
        ]
    ),
    st.floats(max_value=-1e-300),
)


def _check_error(exc: BaseException, argname: str) -> None:
    assert isinstance(exc, (ValueError, TypeError)), f"{type(exc).__name__}: {exc}"
    assert argname in str(exc), f"message does not name {argname!r}: {exc}"


# ----------------------------------------------------------------------------- junk


# (function, valid keyword arguments, the arguments that are fuzzed with junk)
JUNK_TARGETS = {
    "gaussian_moments": (sp.gaussian_moments, {"activation": "tanh", "q": 1.0}, ["q"]),
    "bivariate_expectation": (
        sp.bivariate_expectation,
        {"activation": "gelu", "q1": 1.0, "q2": 0.5, "c": 0.3},
        ["q1", "q2", "c", "derivative", "n_threads"],
    ),
    "qmap": (
        sp.qmap,
        {"activation": "tanh", "q": 1.0, "sigma_w": 1.5, "sigma_b": 0.1},
        ["q", "sigma_w", "sigma_b", "n_threads"],
    ),
    "cmap": (
        sp.cmap,
        {"activation": "erf", "c": 0.3, "q": 1.0, "sigma_w": 1.5, "sigma_b": 0.1},
        ["c", "q", "sigma_w", "sigma_b"],
    ),
    "fixed_point": (
        sp.fixed_point,
        {"activation": "tanh", "sigma_w": 1.5, "sigma_b": 0.1},
        ["sigma_w", "sigma_b", "n_threads"],
    ),
    "eoc": (sp.eoc, {"activation": "tanh", "sigma_b": 0.1}, ["sigma_b", "n_threads"]),
    "propagate": (
        sp.propagate,
        {"activation": "tanh", "sigma_w": 1.5, "sigma_b": 0.1, "depth": 3, "q0": 1.0},
        ["sigma_w", "sigma_b", "depth", "q0", "c0"],
    ),
    "init_sigma_w": (
        sp.init_sigma_w,
        {"activation": "tanh", "scheme": "glorot", "fan_in": 3, "fan_out": 4},
        ["sigma_b", "fan_in", "fan_out"],
    ),
    "hermite_coefficients": (
        sp.theory.hermite_coefficients,
        {"activation": "tanh", "n_max": 8, "q": 1.0},
        ["n_max", "q", "derivative"],
    ),
    "correlation_convergence": (
        sp.papers.hayou.correlation_convergence,
        {"activation": "tanh", "depth": 5, "sigma_b": 0.1},
        ["depth", "sigma_b", "c0"],
    ),
    "correlated_inputs": (
        sp.networks.correlated_inputs,
        {"n": 2, "dim": 4, "q1": 1.0, "c1": 0.5, "sigma_w": 1.0, "sigma_b": 0.1},
        ["n", "dim", "q1", "c1", "sigma_w", "sigma_b"],
    ),
}


@pytest.mark.parametrize("fname", sorted(JUNK_TARGETS))
def test_junk_arguments_raise_clear_errors(fname):
    func, base, args = JUNK_TARGETS[fname]

    @given(arg=st.sampled_from(args), value=junk)
    def check(arg, value):
        kw = {**base, arg: value}
        try:
            with watchdog():
                func(**kw)
        except TimeoutError:
            raise
        except Exception as exc:
            _check_error(exc, arg)

    check()


# ----------------------------------------------------------------------------- valid


@given(
    name=st.sampled_from(ACTS),
    d=st.sampled_from([0, 1, 2]),
    x=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([np.nan, np.inf, -np.inf])
    ),
)
def test_activation_call_special_values(name, d, x):
    with watchdog():
        v = sp.activation(name)(x, d)
    if math.isnan(x):
        assert math.isnan(v)
    elif name != "sin":
        assert not math.isnan(v), (name, d, x)


@given(name=st.sampled_from(ACTS), q=finite_nonneg)
def test_moments_are_never_nan(name, q):
    with watchdog():
        m = sp.gaussian_moments(name, q)
    for field in ("mean", "phi_sq", "dphi_sq"):
        v = float(getattr(m, field))
        assert not math.isnan(v), (name, q, field)
    assert float(m.phi_sq) >= 0 and float(m.dphi_sq) >= 0


@given(
    name=st.sampled_from(ACTS),
    q1=moderate_nonneg,
    q2=moderate_nonneg,
    c=correlations,
    d=st.sampled_from([0, 1]),
)
def test_bivariate_cauchy_schwarz(name, q1, q2, c, d):
    with watchdog():
        e = float(sp.bivariate_expectation(name, q1, q2, c, derivative=d))
        m1, m2 = sp.gaussian_moments(name, q1), sp.gaussian_moments(name, q2)
    assert not math.isnan(e), (name, q1, q2, c, d)
    s1 = float(m1.phi_sq if d == 0 else m1.dphi_sq)
    s2 = float(m2.phi_sq if d == 0 else m2.dphi_sq)
    # s1 * s2 can underflow, and s1 itself is rounded to the subnormal grid (gelu:
    # E[phi^2] = q / 4 rounds to 0 at q = 5e-324; erf: 4 q / pi to 5e-324): the
    # moments are exact only to one subnormal ulp, 5e-324
    tiny = 5e-324
    bound = math.sqrt(s1 + tiny) * math.sqrt(s2 + tiny)
    assert abs(e) <= bound * (1 + 1e-9) + 1e-300, (name, q1, q2, c, d, e, bound)


@given(
    name=st.sampled_from(ACTS),
    q=finite_nonneg,
    sw=st.one_of(st.sampled_from([0.0, 1e-8, 1.0, 3.0, 1e10]), st.floats(0, 10)),
    sb=st.one_of(st.sampled_from([0.0, 1e-8, 1.0, 1e10]), st.floats(0, 10)),
)
def test_qmap_is_never_nan(name, q, sw, sb):
    with watchdog():
        v = float(sp.qmap(name, q, sw, sb))
    assert not math.isnan(v), (name, q, sw, sb)
    assert v >= sb * sb * (1 - 1e-15)


@given(
    name=st.sampled_from(ACTS),
    sw=st.one_of(st.sampled_from([0.0, 1e-8, 1.0, 1e3]), st.floats(0, 5)),
    sb=st.one_of(st.sampled_from([0.0, 1e-8, 1.0, 1e3]), st.floats(0, 3)),
)
def test_scan_equals_fixed_point(name, sw, sb):
    pytest.importorskip("xarray")
    from sigprop import scans as ss

    with watchdog():
        fp = sp.fixed_point(name, sw, sb)
        ds = ss.scan(name, sigma_w=[sw], sigma_b=[sb], progress=False)
    assert int(ds["status"].values.ravel()[0]) == int(fp.status)
    for field in ("q_star", "chi1", "c_star", "xi_q", "xi_c"):
        a = np.float64(ds[field].values.ravel()[0])
        b = np.float64(getattr(fp, field))
        assert a.tobytes() == b.tobytes() or (np.isnan(a) and np.isnan(b)), field


@given(
    name=st.sampled_from(ACTS),
    sb=st.one_of(st.sampled_from([0.0, 5e-324, 1e-8, 1.0, 1e3, 1e300]), st.floats(0, 10)),
)
def test_eoc_points_are_eoc(name, sb):
    with watchdog():
        e = sp.eoc(name, sb)
    nb = int(e.n_branches)
    sw = e.branches.sigma_w[:nb]
    assert np.all(sw > 0) or nb == 0
