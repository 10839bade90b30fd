"""Phase-diagram scans (sigprop.scans): values, labels, chunking, streaming, Dask."""

import math
import sys

import numpy as np
import pytest

import sigprop
from sigprop import scans as ss

xr = pytest.importorskip("xarray")

SB = np.array([0.1, 0.4, 0.9])
SW = np.array([0.5, 1.0, 1.3, 1.6, 2.5])


def _equal(a, b, names=None):
    """Bitwise equality of every data variable (NaN == NaN)."""
    names = names or list(a.data_vars)
    for n in names:
        x, y = np.asarray(a[n].values), np.asarray(b[n].values)
        assert x.dtype == y.dtype, n
        assert x.shape == y.shape, n
        assert np.array_equal(x.view(np.uint8), y.view(np.uint8)), n


@pytest.fixture(scope="module")
def small():
    return ss.scan(["relu", "erf", "hard_tanh"], sigma_w=SW, sigma_b=SB, progress=False)


def test_dims_coords_and_attrs(small):
    assert small["chi1"].dims == ("activation", "sigma_b", "sigma_w")
    assert list(small["activation"].values) == ["relu", "erf", "hard_tanh(a=1)"]
    np.testing.assert_array_equal(small["sigma_b"].values, SB)
    np.testing.assert_array_equal(small["sigma_w"].values, SW)
    for n in ("q_star", "chi1", "slope", "c_star", "chi_c", "xi_q", "xi_c", "beta_q"):
        assert small[n].dtype == np.float64
    assert small["phase"].dtype == np.int8 and small["status"].dtype == np.int8
    fm = small["phase"].attrs["flag_meanings"].split()
    assert fm == [p.name for p in sorted(sigprop.Phase, key=int)]
    np.testing.assert_array_equal(small["phase"].attrs["flag_values"], np.arange(-1, len(fm) - 1))
    assert small["status"].attrs["flag_meanings"].split() == [
        s.name for s in sorted(sigprop.Status, key=int)
    ]
    assert small.attrs["sigprop_complete"] == 1
    assert sigprop.Status.not_computed == sigprop.Phase.not_computed == -1
    assert "standard deviations" in small.attrs["sigprop_conventions"]
    assert "sigma_w^2 / fan_in" in small.attrs["sigprop_conventions"]
    assert small.attrs["sigprop_version"] == sigprop.__version__


def test_relu_closed_form(small):
    r = small.sel(activation="relu")
    sb, sw = np.meshgrid(SB, SW, indexing="ij")
    ordered = sw < math.sqrt(2)
    np.testing.assert_allclose(
        r.q_star.values[ordered], (sb**2 / (1 - sw**2 / 2))[ordered], rtol=1e-13
    )
    np.testing.assert_allclose(r.chi1.values[ordered], (sw**2 / 2)[ordered], rtol=1e-14)
    assert np.all(r.phase.values[ordered] == sigprop.Phase.ordered)
    assert np.all(np.isinf(r.q_star.values[~ordered]))
    assert np.all(r.status.values[~ordered] == sigprop.Status.divergent)
    assert np.all(r.phase.values[~ordered] == sigprop.Phase.divergent)
    assert np.all(np.isnan(r.chi1.values[~ordered]))


def test_erf_closed_form(small):
    e = small.sel(activation="erf")
    sb, sw = np.meshgrid(SB, SW, indexing="ij")
    q = e.q_star.values
    # V(q) = sigma_b^2 + sigma_w^2 (2/pi) arcsin(2q / (1 + 2q))
    V = sb**2 + sw**2 * (2 / np.pi) * np.arcsin(2 * q / (1 + 2 * q))
    np.testing.assert_allclose(V, q, rtol=1e-13)
    chi = sw**2 * (4 / np.pi) / np.sqrt(1 + 4 * q)
    np.testing.assert_allclose(e.chi1.values, chi, rtol=1e-12)
    # V'(q) = sigma_w^2 (4/pi) / ((1 + 2q) sqrt(1 + 4q))
    slope = sw**2 * (4 / np.pi) / ((1 + 2 * q) * np.sqrt(1 + 4 * q))
    np.testing.assert_allclose(e.slope.values, slope, rtol=1e-12)
    np.testing.assert_allclose(e.xi_q.values, -1 / np.log(slope), rtol=1e-11)
    want = np.where(chi < 1, 0, 1)  # ordered / chaotic
    np.testing.assert_array_equal(e.phase.values, want)
    # ordered: c* = 1 and chi_c = chi1; chaotic: c* < 1
    ordered = chi < 1
    np.testing.assert_array_equal(e.c_star.values[ordered], 1.0)
    assert np.all(e.c_star.values[~ordered] < 1)


def test_hard_tanh_closed_form_and_param_dimension():
    a = np.array([0.5, 2.0])
    ds = ss.scan(
        "hard_tanh", sigma_w=SW, sigma_b=SB, params={"a": a}, correlation=False, progress=False
    )
    assert ds["chi1"].dims == ("activation", "a", "sigma_b", "sigma_w")
    np.testing.assert_array_equal(ds["a"].values, a)
    sw = SW[None, None, :]
    q = ds.q_star.isel(activation=0).values
    t = a[:, None, None] / np.sqrt(q)
    erf = np.vectorize(math.erf)
    # chi1 = sigma_w^2 P(|h| < a) = sigma_w^2 erf(t / sqrt 2)
    np.testing.assert_allclose(
        ds.chi1.isel(activation=0).values, sw**2 * erf(t / math.sqrt(2)), rtol=1e-12
    )
    # scale covariance (docs/theory/maps.rst): q*(sigma_b; a) = a^2 q*(sigma_b / a; 1), same chi1
    for i, ai in enumerate(a):
        one = ss.scan("hard_tanh", sigma_w=SW, sigma_b=SB / ai, correlation=False, progress=False)
        np.testing.assert_allclose(q[i], ai**2 * one.q_star.values[0], rtol=1e-12)
        np.testing.assert_allclose(ds.chi1.values[0, i], one.chi1.values[0], rtol=1e-12, atol=1e-15)


def test_matches_fixed_point_and_phase(small):
    for name in ("relu", "erf", "hard_tanh"):
        fp = sigprop.fixed_point(name, SW[None, :], SB[:, None])
        row = small.isel(activation=["relu", "erf", "hard_tanh"].index(name))
        for n in ("q_star", "chi1", "slope", "c_star", "chi_c", "xi_q", "xi_c", "beta_q"):
            np.testing.assert_array_equal(row[n].values, getattr(fp, n), err_msg=n)
        names = sigprop.outcomes.names(sigprop.Phase, row.phase.values)
        names[np.isin(names, ["marginal", "failed"])] = "unknown"
        np.testing.assert_array_equal(names, fp.phase)


def test_bitwise_identical_for_threads_and_chunking(small):
    for n_threads, chunk_cells in ((1, 1), (2, 4), (2, 7), (1, 1000)):
        other = ss.scan(
            ["relu", "erf", "hard_tanh"],
            sigma_w=SW,
            sigma_b=SB,
            n_threads=n_threads,
            chunk_cells=chunk_cells,
            progress=False,
        )
        _equal(small, other)


def test_without_correlation_drops_variables():
    ds = ss.scan("erf", sigma_w=SW, sigma_b=SB, correlation=False, progress=False)
    assert "c_star" not in ds and "chi_c" not in ds and "xi_c" not in ds
    assert ds.attrs["correlation"] == 0
    full = ss.scan("erf", sigma_w=SW, sigma_b=SB, progress=False)
    _equal(ds, full, ["q_star", "chi1", "slope", "xi_q", "status", "phase"])


@pytest.mark.parametrize("ext", ["nc", "zarr"])
def test_streamed_file_reopens_identical(small, tmp_path, ext):
    path = tmp_path / f"scan.{ext}"
    ds = ss.scan(
        ["relu", "erf", "hard_tanh"],
        sigma_w=SW,
        sigma_b=SB,
        out=path,
        chunk_cells=3,
        progress=False,
    )
    assert ds["chi1"].chunks is not None  # lazily opened (dask-backed)
    _equal(small, ds.load())
    assert ds["phase"].attrs["flag_meanings"] == small["phase"].attrs["flag_meanings"]
    np.testing.assert_array_equal(
        ds["phase"].attrs["flag_values"], [int(p) for p in sorted(sigprop.Phase, key=int)]
    )
    assert ds.attrs["sigprop_complete"] == 1
    assert list(ds["activation"].values) == list(small["activation"].values)
    assert ds.attrs["sigprop_version"] == sigprop.__version__
    ds.close()
    # rewriting needs overwrite=True, then replaces the store
    with pytest.raises(FileExistsError, match="overwrite=True"):
        ss.scan("relu", sigma_w=SW, sigma_b=SB[:2], out=path, progress=False)
    again = ss.scan("relu", sigma_w=SW, sigma_b=SB[:2], out=path, progress=False, overwrite=True)
    assert again.sizes["activation"] == 1 and again.sizes["sigma_b"] == 2
    again.close()


def test_streamed_params_dimension(tmp_path):
    kw = {"params": {"a": [0.5, 1.0]}, "correlation": False, "progress": False}
    mem = ss.scan("hard_tanh", sigma_w=SW, sigma_b=SB, **kw)
    disk = ss.scan(
        "hard_tanh", sigma_w=SW, sigma_b=SB, out=tmp_path / "p.zarr", chunk_cells=2, **kw
    )
    _equal(mem, disk.load())


def test_dask_chunks_match(small):
    lazy = ss.scan(
        ["relu", "erf", "hard_tanh"], sigma_w=SW, sigma_b=SB, chunks={"sigma_b": 2, "sigma_w": 3}
    )
    assert lazy["chi1"].chunks == ((1, 1, 1), (2, 1), (3, 2))
    _equal(small, lazy.compute())


@pytest.mark.slow
def test_dask_distributed_cluster_matches(small):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        lazy = ss.scan(
            ["relu", "erf", "hard_tanh"],
            sigma_w=SW,
            sigma_b=SB,
            chunks={"sigma_b": 1, "sigma_w": 2},
            n_threads=1,
        )
        got = client.compute(lazy).result()
    _equal(small, got)


def test_eoc_curve():
    e = ss.eoc_curve(["tanh", "relu", "silu"], [0.0, 0.2, 0.5])
    assert e["sigma_w"].dims == ("activation", "sigma_b", "branch")
    tanh = e.sel(activation="tanh", sigma_b=0.2, branch=0)
    assert float(tanh.sigma_w) == pytest.approx(1.30414584, abs=1e-8)  # oracle T3
    assert float(tanh.q_star) == pytest.approx(0.5120785, abs=1e-7)
    assert bool(tanh.stable) and int(tanh.kind) == 0
    relu = e.sel(activation="relu")
    assert int(relu.kind.sel(sigma_b=0.0, branch=0)) == 2
    assert float(relu.sigma_w.sel(sigma_b=0.0, branch=0)) == pytest.approx(math.sqrt(2), 1e-15)
    np.testing.assert_array_equal(relu.n_branches.values, [1, 0, 0])
    assert np.all(np.isnan(relu.sigma_w.sel(sigma_b=[0.2, 0.5]).values))
    assert np.all(relu.kind.sel(sigma_b=[0.2, 0.5]).values == -1)
    silu = e.sel(activation="silu", sigma_b=0.2, branch=0)
    assert float(silu.slope) == pytest.approx(1.0987, abs=1e-4)  # oracle T7: repels
    assert not bool(silu.stable)
    assert e["kind"].attrs["flag_meanings"] == "none curve limit point"
    direct = sigprop.eoc("tanh", [0.0, 0.2, 0.5])
    np.testing.assert_array_equal(e.sigma_w.sel(activation="tanh").values[:, 0], direct.sigma_w)


def test_eoc_curve_params_scale_covariance():
    e = ss.eoc_curve("hard_tanh", [0.2, 0.8], params={"a": [1.0, 2.0]})
    assert e["sigma_w"].dims == ("activation", "a", "sigma_b", "branch")
    # EOC(sigma_b; a) = EOC(sigma_b / a; 1), q* times a^2
    ref = ss.eoc_curve("hard_tanh", [0.1, 0.4])
    np.testing.assert_allclose(
        e.sigma_w.sel(a=2.0).values[0, :, 0], ref.sigma_w.values[0, :, 0], rtol=1e-10
    )
    np.testing.assert_allclose(
        e.q_star.sel(a=2.0).values[0, :, 0], 4 * ref.q_star.values[0, :, 0], rtol=1e-10
    )


def test_phase_codes():
    chi = np.array([0.5, 1.5, 1.0, np.nan, np.nan, 0.3, np.nan])
    st = np.array([0, 0, 0, 1, 2, 3, 0])
    got = sigprop.outcomes.phase_codes(chi, st)
    want = ["ordered", "chaotic", "edge", "divergent", "marginal", "failed", "failed"]
    np.testing.assert_array_equal(got, [sigprop.Phase[w] for w in want])
    assert got.dtype == np.int8


def test_activation_labels_roundtrip():
    for act in (
        sigprop.activation("leaky_relu", negative_slope=0.2),
        sigprop.activation("hard_tanh", a=2.5),
        sigprop.activation("tanh"),
    ):
        assert ss.activation_from_label(str(act)) == act
    ds = ss.scan(
        [sigprop.activation("leaky_relu", negative_slope=0.2)],
        sigma_w=[1.0],
        sigma_b=[0.5],
        progress=False,
    )
    assert list(ds.activation.values) == ["leaky_relu(negative_slope=0.2)"]
    # leaky relu: chi1 = sigma_w^2 (1 + s^2) / 2
    assert float(ds.chi1[0, 0, 0]) == pytest.approx((1 + 0.04) / 2, rel=1e-14)
    with pytest.raises(ValueError, match="cannot parse"):
        ss.activation_from_label("tanh(a=x)")


def test_progress_bar(capsys):
    pytest.importorskip("tqdm")
    ss.scan("relu", sigma_w=SW, sigma_b=SB, progress=True, chunk_cells=5)
    assert "sigprop scan" in capsys.readouterr().err
    ss.scan("relu", sigma_w=SW, sigma_b=SB)  # stderr is not a terminal under pytest: quiet
    assert capsys.readouterr().err == ""


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="sigma_b"):
        ss.scan("relu", sigma_w=SW, sigma_b=[-0.1, 0.2])
    with pytest.raises(ValueError, match="sigma_w"):
        ss.scan("relu", sigma_w=[[1.0, 2.0]], sigma_b=SB)
    with pytest.raises(ValueError, match="unknown activation"):
        ss.scan("nope", sigma_w=SW, sigma_b=SB)
    with pytest.raises(ValueError, match="chunk_cells"):
        ss.scan("relu", sigma_w=SW, sigma_b=SB, chunk_cells=0)
    with pytest.raises(TypeError, match="n_threads"):
        ss.scan("relu", sigma_w=SW, sigma_b=SB, n_threads=1.5)
    with pytest.raises(ValueError, match=r"\.nc or \.zarr"):
        ss.scan("relu", sigma_w=SW, sigma_b=SB, out=tmp_path / "x.csv")
    with pytest.raises(ValueError, match="either out or chunks"):
        ss.scan("relu", sigma_w=SW, sigma_b=SB, out=tmp_path / "x.nc", chunks={"sigma_b": 1})
    with pytest.raises(ValueError, match="chunks"):
        ss.scan("relu", sigma_w=SW, sigma_b=SB, chunks={"q": 1})
    with pytest.raises(ValueError, match="Activation object"):
        ss.scan(sigprop.activation("hard_tanh", a=2), sigma_w=SW, sigma_b=SB, params={"a": [1.0]})
    with pytest.raises(ValueError, match="unknown parameter"):
        ss.scan("tanh", sigma_w=SW, sigma_b=SB, params={"a": [1.0]})
    with pytest.raises(ValueError, match="distinct"):
        ss.scan(["relu", "relu"], sigma_w=SW, sigma_b=SB)


def test_missing_dependency_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(ImportError, match=r'pip install "\.\[scan\]"'):
        ss.scan("relu", sigma_w=SW, sigma_b=SB)
    with pytest.raises(ImportError, match=r'"\.\[scan\]"'):
        ss.eoc_curve("relu", SB)
