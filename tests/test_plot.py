"""Figures (sigprop.plot): labels, colour bar, EOC overlay, honest grey cells."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
pytest.importorskip("xarray")

import matplotlib.pyplot as plt  # noqa: E402

import sigprop  # noqa: E402
from sigprop import plotting as sp  # noqa: E402
from sigprop import scans as ss  # noqa: E402

SB = np.linspace(0.0, 1.0, 6)
SW = np.linspace(0.5, 3.0, 8)


@pytest.fixture(scope="module")
def ds():
    return ss.scan(["erf", "relu"], sigma_w=SW, sigma_b=SB, progress=False)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _colorbar_axes(fig, ax):
    return [a for a in fig.axes if a is not ax]


def test_phase_diagram_chi1(ds):
    fig = sp.phase_diagram(ds, "chi1", activation="erf")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "σ_b (bias std)"
    assert ax.get_ylabel() == "σ_w (weight std)"
    assert ax.get_title() == "erf"
    cbars = _colorbar_axes(fig, ax)
    assert len(cbars) == 1 and "χ₁" in cbars[0].get_ylabel()
    # the EOC line is the erf EOC curve on these sigma_b values
    eoc = [ln for ln in ax.get_lines() if ln.get_label() == "EOC"]
    assert len(eoc) == 1
    x, y = eoc[0].get_data()
    np.testing.assert_array_equal(x, SB)
    want = ss.eoc_curve("erf", SB).sigma_w.values[0, :, 0]
    np.testing.assert_allclose(y, want, rtol=1e-15)
    # the colour mesh holds chi1 (sigma_w along y), centred on chi1 = 1
    mesh = ax.collections[0]
    np.testing.assert_allclose(
        np.asarray(mesh.get_array()).reshape(SW.size, SB.size),
        ds.chi1.sel(activation="erf").values.T,
    )
    assert mesh.norm(1.0) == pytest.approx(0.5)


def test_phase_diagram_grey_where_divergent(ds):
    fig = sp.phase_diagram(ds, "xi_c", activation="relu")
    ax = fig.axes[0]
    arr = ax.collections[0].get_array()
    divergent = (ds.phase.sel(activation="relu").values == sigprop.Phase.divergent).T
    assert divergent.any()
    assert np.all(np.ma.getmaskarray(arr).reshape(divergent.shape)[divergent])
    assert "ξ_c" in _colorbar_axes(fig, ax)[0].get_ylabel()
    assert isinstance(ax.collections[0].norm, matplotlib.colors.LogNorm)
    # relu: the EOC is the single point (0, sqrt 2)
    pts = [ln for ln in ax.get_lines() if ln.get_label() == "EOC"]
    assert len(pts) == 1 and pts[0].get_marker() == "o"
    np.testing.assert_allclose(pts[0].get_xydata(), [[0.0, np.sqrt(2)]])


def test_phase_diagram_given_eoc_and_axes(ds):
    e = ss.eoc_curve(["erf", "relu"], SB)
    fig, ax = plt.subplots()
    out = sp.phase_diagram(ds, "q_star", activation="erf", eoc=e, ax=ax, title="t")
    assert out is fig and ax.get_title() == "t"
    assert [ln.get_label() for ln in ax.get_lines()] == ["EOC"]
    fig2 = sp.phase_diagram(ds, "chi1", activation="erf", eoc=False)
    assert fig2.axes[0].get_lines() == []


def test_phase_diagram_param_selection():
    d = ss.scan("hard_tanh", sigma_w=SW, sigma_b=SB, params={"a": [0.5, 1.0]}, progress=False)
    fig = sp.phase_diagram(d, sel={"a": 1.0})
    _, y = next(ln for ln in fig.axes[0].get_lines() if ln.get_label() == "EOC").get_data()
    want = ss.eoc_curve("hard_tanh", SB).sigma_w.values[0, :, 0]
    np.testing.assert_allclose(y, want, rtol=1e-15)
    with pytest.raises(ValueError, match="select a value"):
        sp.phase_diagram(d)


def test_phase_diagram_errors(ds):
    with pytest.raises(ValueError, match="choose one"):
        sp.phase_diagram(ds)
    with pytest.raises(ValueError, match="not in the Dataset"):
        sp.phase_diagram(ds, activation="tanh")
    with pytest.raises(ValueError, match="variable"):
        sp.phase_diagram(ds, "nope", activation="erf")


def test_eoc_curves_several_activations():
    e = ss.eoc_curve(["tanh", "silu", "relu"], np.linspace(0.0, 1.0, 11))
    fig = sp.eoc_curves(e)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "σ_b (bias std)" and ax.get_ylabel() == "σ_w (weight std)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:3] == ["tanh", "silu", "relu"]
    assert "dashed: q* repels" in labels  # silu's EOC fixed point repels at small sigma_b
    silu = [ln for ln in ax.get_lines() if ln.get_color() == ax.get_lines()[1].get_color()]
    assert any(ln.get_linestyle() == "--" for ln in silu)


def test_missing_matplotlib(monkeypatch, ds):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'"\.\[plot\]"'):
        sp.phase_diagram(ds, activation="erf")
