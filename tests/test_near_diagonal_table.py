"""The near-diagonal table (csrc/sigprop/near_diagonal_table.hpp).

softsign (phi'' jumps at 0) and linear_region_tanh (phi''' jumps at +-a) have
Hermite coefficients that decay algebraically, so next to c = 1 on the diagonal
(q1 = q2 = q) the Mehler series' bound fails and every evaluation used to be a
nested quadrature. There the engine reads a table of
H_d(q, s) = E[(f(u) - f(v))^2] / s^k, s = sqrt(1 - c), f = phi or phi' (k = 2;
k = 1 for hard_tanh's phi', which jumps), built lazily per half decade of q in
[10^-1.5, 10^1.5) for c >= 0.9375 and checked at build time to 2e-12 of E[f^2]
(1e-11 for f = phi'). These tests hold it to 30-digit mpmath
(tests/data/reference_2d_near_diagonal.json, ``scripts/make_reference.py
--near-diagonal``), to the nested quadrature across every segment, and check
the correlation fixed points that read it (hard_tanh's too: its correlation map
reads the table, its bivariate expectations keep to the closed forms). Only the
correlation fixed point reads the tables; bivariate expectations do not build them.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

import sigprop as sp
from sigprop import _core
from sigprop.theory.activations import resolve

DATA = Path(__file__).parent / "data"
KINDS = ["softsign", sp.activation("linear_region_tanh", a=1.0)]
IDS = ["softsign", "linear_region_tanh"]
C_MIN = 1.0 - 0.25**2  # the table's range: c >= C_MIN, 10^-1.5 <= q < 10^1.5

with open(DATA / "reference_2d_near_diagonal.json") as _fh:
    CASES = json.load(_fh)["cases"]


def _direct(act, q, c, derivative):
    a = resolve(act)
    p0, p1 = a.core_params
    q, c = (np.atleast_1d(np.asarray(v, dtype=float)) for v in np.broadcast_arrays(q, c))
    return _core.bivariate(a.kind, p0, p1, derivative, q, q, c, 1, direct=True)[0]


def _table(act, derivative, q, c):
    """The table's own value (NaN where it does not serve (q, c))."""
    a = resolve(act)
    return _core.near_diagonal(a.kind, *a.core_params, derivative, q, c)


def _scale(act, q, derivative):
    m = sp.gaussian_moments(act, q)
    return m.phi_sq if derivative == 0 else m.dphi_sq


def _case_id(case):
    return f"{case['activation']}-{case['quantity']}-q{case['q1']}-c{case['c_nominal']}"


def test_reference_file_covers_the_table():
    for name in ("softsign", "linear_region_tanh"):
        sel = [c for c in CASES if c["activation"] == name]
        qs = {float(c["q1"]) for c in sel}
        # every q in the table's range, one per decade at least, on the diagonal
        assert all(10**-1.5 <= q < 10**1.5 for q in qs) and len(qs) >= 4
        assert all(c["q1"] == c["q2"] for c in sel)
        assert all(float(c["c"]) >= C_MIN for c in sel)
        assert {c["quantity"] for c in sel} == {"phiphi", "dphidphi"}


@pytest.mark.parametrize("act", [*KINDS, "hard_tanh"], ids=[*IDS, "hard_tanh"])
def test_table_serves_its_range(act):
    # Every half decade up to q = 10 passes its build checks (so the tests below
    # exercise the table, not the quadrature behind it); none outside the range.
    for q in 10.0 ** np.arange(-1.4, 1.0, 0.5):
        assert math.isfinite(_table(act, 0, q, 0.99)), q
    for q, c in ((1e-2, 0.99), (40.0, 0.99), (1e3, 0.99), (1.0, 0.9)):
        assert math.isnan(_table(act, 0, q, c)), (q, c)
    # kinds without a table (tanh, elu have one for kernel layers only: near_diagonal_pair,
    # settled_difference.hpp)
    assert math.isnan(_table("gelu", 0, 1.0, 0.99))
    assert math.isnan(_table("relu", 0, 1.0, 0.99))


@pytest.mark.parametrize("act", ["softplus", "elu"])
def test_table_of_linear_tails_reaches_further(act):
    # softplus, shifted_softplus, silu, elu and selu (E[phi^2] ~ q / 2) keep the table's
    # accuracy relative to E[phi^2] up to q = 10^2.5 (an ordered-phase kernel at
    # sigma_b ~ 5-12): their segment at q ~ 100 passes its build checks and holds the
    # nested quadrature's value; beyond 10^2.5 there is none.
    q, c = 100.0, 0.995
    got = _table(act, 0, q, c)
    ref = float(np.asarray(_direct(act, q, c, 0)).ravel()[0])
    assert abs(got - ref) <= 1e-12 * _scale(act, q, 0), (got, ref)
    assert math.isnan(_table(act, 0, 400.0, c))


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_table_matches_mpmath(case):
    act = sp.activation(case["activation"], **case["params"])
    q, c = float(case["q1"]), float(case["c"])
    d = {"phiphi": 0, "dphidphi": 1}[case["quantity"]]
    scale = float(_scale(act, q, d))
    # the table, and bivariate() (the series where its bound holds, else the quadrature)
    for got in (_table(act, d, q, c), float(sp.bivariate_expectation(act, q, q, c, derivative=d))):
        err = abs(got - float(case["value"])) / scale
        assert err <= 1e-11, f"got {got!r}, ref {case['value']}, err {err:.2e}"


@pytest.mark.parametrize("act", KINDS, ids=IDS)
@pytest.mark.parametrize("derivative", [0, 1])
def test_table_matches_quadrature_in_every_segment(act, derivative):
    # Two variances in each half decade (between the table's nodes) and c from the
    # table's lower edge to 1 - 1e-12, against the nested quadrature (1e-13).
    rng = np.random.default_rng(7)
    lq = np.concatenate([rng.uniform(lo, lo + 0.5, 2) for lo in np.arange(-1.5, 1.5, 0.5)])
    e = np.array([0.0625, 0.04, 0.02, 0.01, 3e-3, 1e-3, 1e-4, 1e-6, 1e-9, 1e-12])
    q, c = (a.ravel() for a in np.meshgrid(10.0**lq, 1.0 - e, indexing="ij"))
    got = np.array([_table(act, derivative, qi, ci) for qi, ci in zip(q, c, strict=True)])
    err = np.abs(got - _direct(act, q, c, derivative)) / _scale(act, q, derivative)
    worst = int(np.argmax(err))
    assert err[worst] <= 5e-12, (q[worst], c[worst], err[worst])


@pytest.mark.parametrize("act", [*KINDS, "hard_tanh"], ids=[*IDS, "hard_tanh"])
def test_eoc_cells_read_the_table_and_solve_the_fixed_point(act):
    # The cells of the benchmark grid next to the EOC (c* in [0.97, 1)), which took
    # 3-22 ms each by quadrature (hard_tanh: 0.1-0.5 ms by its cancelling closed
    # forms): c* solves f(c*) = c* and chi_c = f'(c*), both held to the nested
    # quadrature.
    sp.clear_cache()
    sb, sw = np.meshgrid(np.linspace(0, 2, 40), np.linspace(0.1, 4, 40), indexing="ij")
    fp = sp.fixed_point(act, sw.ravel(), sb.ravel())
    near = (fp.status_name == "converged") & (fp.c_star > 0.97) & (fp.c_star < 1)
    assert near.sum() >= 5
    assert _core.n_near_diagonal_tables() == 1
    s_w, s_b = sw.ravel()[near], sb.ravel()[near]
    q, c = fp.q_star[near], fp.c_star[near]
    f = (s_b**2 + s_w**2 * _direct(act, q, c, 0)) / q
    assert np.max(np.abs(f - c)) <= 2e-11
    chi_c = s_w**2 * _direct(act, q, c, 1)
    scale = s_w**2 * sp.gaussian_moments(act, q).dphi_sq
    assert np.max(np.abs(fp.chi_c[near] - chi_c) / scale) <= 1e-11
    assert np.all(fp.chi_c[near] < 1)


def test_table_built_in_threads_is_bitwise_the_same():
    # Segments built under OpenMP (call_once, by whichever thread needs them first)
    # hold the same numbers as those built by one thread.
    sb, sw = np.meshgrid(np.linspace(0.8, 2.0, 24), np.linspace(2.6, 3.6, 24), indexing="ij")
    sb, sw = sb.ravel(), sw.ravel()
    sp.clear_cache()
    f2 = sp.fixed_point("softsign", sw, sb, n_threads=2)
    sp.clear_cache()
    f1 = sp.fixed_point("softsign", sw, sb, n_threads=1)
    for name in ("c_star", "chi_c", "xi_c"):
        assert np.array_equal(getattr(f1, name), getattr(f2, name), equal_nan=True)
    assert np.any((f1.c_star > C_MIN) & (f1.c_star < 1))


def test_clear_cache_frees_the_tables():
    q, c = 5.0, 0.99
    first = _table("softsign", 0, q, c)
    assert _core.n_near_diagonal_tables() >= 1
    sp.clear_cache()
    assert _core.n_near_diagonal_tables() == 0
    assert _table("softsign", 0, q, c) == first


def test_bivariate_does_not_build_tables():
    # A table segment costs 0.3-1.1 s: bivariate() (and the c-map iterations behind
    # cmap, propagate and parameter sweeps) keeps to the series and the quadrature.
    sp.clear_cache()
    q = np.array([5.0, 5.0, 0.5])
    c = np.array([0.99, 0.9999, 0.999])
    for d in (0, 1):
        got = sp.bivariate_expectation("linear_region_tanh", q, q, c, derivative=d)
        ref = _direct("linear_region_tanh", q, c, d)
        assert np.max(np.abs(got - ref) / _scale("linear_region_tanh", q, d)) <= 5e-12
    sp.cmap("softsign", 5.0, 0.999, 3.0, 1.3)
    assert _core.n_near_diagonal_tables() == 0


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "silu", "softplus"])
def test_kernel_table_of_smooth_kinds_matches_the_engine(act):
    # Kernel layers read the table for these smooth kinds too (near_diagonal_pair, for
    # the pairs whose Mehler tail the anchors cannot pin: tanh at q ~ 10 for
    # 2e-3 <= 1 - c <= 5e-3); on the diagonal the engine's series and quadrature
    # hold 1e-13 of the scale.
    q = np.repeat([0.05, 0.4, 2.0, 9.75, 25.0], 5)
    c = 1.0 - np.tile([0.06, 1e-2, 3e-3, 1e-4, 1e-7], 5)
    got = np.array([_table(act, 0, qi, ci) for qi, ci in zip(q, c, strict=True)])
    ref = sp.bivariate_expectation(act, q, q, c)
    phi_sq = sp.gaussian_moments(act, q).phi_sq
    err = np.abs(got - ref) / phi_sq
    assert err.max() <= 2e-13, (q[err.argmax()], c[err.argmax()], err.max())
