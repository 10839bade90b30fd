"""sigprop.outcomes: one Status and one Phase vocabulary, used everywhere."""

from __future__ import annotations

import numpy as np
import pytest

import sigprop as sp
from sigprop import _core
from sigprop.outcomes import EDGE_TOL, names, phase_codes


def test_status_codes_are_the_cores():
    # the fixed-point solver's codes come from the compiled core: relu at
    # (sigma_w, sigma_b) = (1, 0.3) converges, (sqrt 2, 0) is marginal, (1.5, 0) diverges
    sw, sb = np.array([1.0, 2**0.5, 1.5]), np.array([0.3, 0.0, 0.0])
    r = _core.fixed_points(1, 0.0, 0.0, sw, sb, None, False, 1)
    assert [sp.Status(int(s)) for s in r["status"]] == [
        sp.Status.converged,
        sp.Status.marginal,
        sp.Status.divergent,
    ]


def test_phase_codes_and_names():
    chi = np.array([0.5, 1.5, 1.0 + EDGE_TOL / 2, np.nan, 1.0, np.nan])
    st = np.array([0, 0, 0, 1, 3, -1])
    got = phase_codes(chi, st)
    want = ["ordered", "chaotic", "edge", "divergent", "failed", "not_computed"]
    assert list(names(sp.Phase, got)) == want
    assert names(sp.Status, 4) == "c_not_converged"


def test_fixed_point_phase_uses_the_phase_names():
    r = sp.fixed_point("relu", [1.0, 2**0.5, 1.5], [0.3, 0.0, 0.0])
    assert list(r.status_name) == ["converged", "marginal", "divergent"]
    # at the marginal point every q is fixed and chi1 = 1 exactly: the edge
    assert list(r.phase) == ["ordered", "edge", "divergent"]
    assert set(r.phase) <= {p.name for p in sp.Phase}


def test_analyses_report_status_names():
    r = sp.papers.hayou.correlation_convergence("softplus", 10, sigma_b=0.5)
    assert r.status == "no_eoc" and r.status in sp.Status.__members__
    d = sp.papers.hayou.sigma_b_for_depth("tanh", [10.0, 1e9])
    assert list(d.status) == ["converged", "no_root"]


def test_scan_flags_list_every_member():
    ss = pytest.importorskip("sigprop.scans")
    pytest.importorskip("xarray")
    ds = ss.scan("relu", sigma_w=[1.0, 1.5], sigma_b=[0.0], progress=False)
    assert ds["status"].attrs["flag_meanings"].split() == [
        m.name for m in sorted(sp.Status, key=int)
    ]
    assert ds["phase"].attrs["flag_meanings"].split() == [m.name for m in sorted(sp.Phase, key=int)]
