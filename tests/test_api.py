"""API conventions: sigma_w before sigma_b, keyword grid axes in scan, one name per
argument, scalars in give scalars out, results as tables, deprecated names still work."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import sigprop as sp


def test_sigma_w_comes_before_sigma_b():
    q = sp.qmap("tanh", 1.0, 1.5, 0.3)
    assert q == pytest.approx(0.3**2 + 1.5**2 * sp.gaussian_moments("tanh", 1.0).phi_sq)
    # cmap(q, c, sigma_w, sigma_b): state first, as covmap(q1, q2, c, ...)
    assert sp.cmap("tanh", 0.7, 0.4, 1.5, 0.3) == pytest.approx(
        sp.covmap("tanh", 0.7, 0.7, 0.4, 1.5, 0.3) / 0.7, rel=1e-15
    )
    fp = sp.fixed_point("tanh", 1.5, 0.3)
    assert float(fp.sigma_w) == 1.5 and float(fp.sigma_b) == 0.3


def test_scan_takes_the_grid_axes_by_keyword():
    pytest.importorskip("xarray")
    with pytest.raises(TypeError, match="by keyword"):
        sp.scan("relu", [0.0, 0.5], [1.0, 2.0])
    ds = sp.scan("relu", sigma_w=[1.0, 2.0], sigma_b=[0.0, 0.5], progress=False)
    assert list(ds["sigma_w"].values) == [1.0, 2.0]
    assert float(ds.chi1.sel(activation="relu", sigma_b=0.5, sigma_w=1.0)) == 0.5


def test_renamed_arguments_warn_and_agree():
    pytest.importorskip("xarray")
    new = sp.scan("tanh", sigma_w=[1.0], sigma_b=[0.1], correlation=False, progress=False)
    with pytest.warns(DeprecationWarning, match="correlation="):
        old = sp.scan("tanh", sigma_w=[1.0], sigma_b=[0.1], with_correlation=False, progress=False)
    assert new.identical(old)
    x = np.linspace(-1, 1, 8)
    fit = sp.papers.milkert.fit_kaiming
    a = fit(x, x, depth=2, width=8, n_runs=2, epochs=0, rng=3)
    with pytest.warns(DeprecationWarning, match="rng="):
        b = fit(x, x, depth=2, width=8, n_runs=2, epochs=0, seed=3)
    np.testing.assert_array_equal(a.mse, b.mse)


@pytest.mark.parametrize(
    ("name", "where"), [("hermite_coefficients", "theory"), ("correlation_convergence", "papers")]
)
def test_old_top_level_names_resolve_with_a_warning(name, where):
    with pytest.warns(DeprecationWarning, match=f"sigprop.{where}"):
        obj = getattr(sp, name)
    assert callable(obj)
    with pytest.warns(DeprecationWarning, match="Status"):
        assert sp.STATUS[1] == "divergent"
    with pytest.raises(AttributeError):
        sp.no_such_name  # noqa: B018


def test_top_level_is_short_and_has_no_deprecated_names():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n in sp.__all__:
            getattr(sp, n)
    assert len(sp.__all__) < 40
    assert "hermite_coefficients" not in sp.__all__


def test_module_names_do_not_shadow():
    import importlib

    for mod in ("sigprop.theory.edge_of_chaos", "sigprop.scans.grid_scan", "sigprop.plotting"):
        assert importlib.import_module(mod).__name__ == mod
    import sigprop.scans as m

    assert m.__name__ == "sigprop.scans"


def test_scalars_in_scalars_out():
    e = sp.eoc("tanh", 0.2)
    assert np.ndim(e.sigma_w) == 0 and np.ndim(e.q_star) == 0 and np.ndim(e.n_branches) == 0
    assert float(e.sigma_w) == pytest.approx(1.30414584, rel=1e-8)
    assert np.ndim(sp.fixed_point("tanh", 1.3, 0.2).q_star) == 0
    e2 = sp.eoc("tanh", [0.2, 0.3])
    assert e2.sigma_w.shape == (2,) and e2.branches.sigma_w.shape[0] == 2


def test_results_become_labelled_tables():
    pytest.importorskip("xarray")
    pytest.importorskip("pandas")
    df = sp.fixed_point("relu", [1.0, 1.5], 0.0).to_dataframe()
    assert list(df["status"]) == ["converged", "divergent"]
    assert list(df["phase"]) == ["ordered", "divergent"]
    assert list(df["sigma_w"]) == [1.0, 1.5]
    ds = sp.propagate("tanh", 1.5, 0.1, 4, 1.0, 0.5).to_dataset()
    assert ds.sizes["layer"] == 5 and float(ds["c"].isel(layer=0, cell=0)) == 0.5
    df = sp.eoc("relu", [0.0, 0.5]).to_dataframe()
    assert len(df) == 1 and df["kind"].iloc[0] == "point"
    assert df["sigma_w"].iloc[0] == pytest.approx(math.sqrt(2), rel=1e-15)
    ds = sp.papers.hayou.correlation_convergence("relu", 5).to_dataset()
    assert ds.attrs["status"] == "converged" and ds.sizes["layer"] == 6
    assert len(sp.gaussian_moments("tanh", [1.0, 2.0]).to_dataframe()) == 2
