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


# ----------------------------------------------------------------------------- colour scales


def _mesh(fig):
    return fig.axes[0].collections[0]


def _legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_chi1_one_scale_symmetric_about_one(ds):
    chi1 = ds.chi1.sel(activation="erf").values
    norm = _mesh(sp.phase_diagram(ds, "chi1", activation="erf")).norm
    # equal ratios above and below chi1 = 1 are equally far from the centre
    for r in (1.5, 2.0, 3.0):
        assert norm(r) - 0.5 == pytest.approx(0.5 - norm(1.0 / r), abs=1e-12)
    assert norm.vmin * norm.vmax == pytest.approx(1.0)
    assert norm.vmin <= np.nanmin(chi1) and norm.vmax >= np.nanmax(chi1)
    assert max(np.nanmax(chi1), 1.0 / np.nanmin(chi1)) == pytest.approx(norm.vmax)
    # vmin/vmax widen the scale and keep it symmetric
    norm = _mesh(sp.phase_diagram(ds, "chi1", activation="erf", vmax=100.0)).norm
    assert (norm.vmin, norm.vmax) == pytest.approx((0.01, 100.0))


@pytest.mark.parametrize("variable, enum", [("phase", sigprop.Phase), ("status", sigprop.Status)])
def test_phase_and_status_as_named_categories(ds, variable, enum):
    fig = sp.phase_diagram(ds, variable, activation="relu")
    ax = fig.axes[0]
    assert fig.axes == [ax]  # a legend, no colour bar
    codes = ds[variable].sel(activation="relu").values
    present = sorted({int(c) for c in codes.ravel()})
    assert len(present) >= 2
    assert _legend_texts(ax) == [enum(c).name for c in present] + ["EOC"]
    assert ax.get_legend().get_title().get_text() == variable
    mesh = ax.collections[0]
    np.testing.assert_array_equal(np.asarray(mesh.get_array()).reshape(SW.size, SB.size), codes.T)
    # each category has its own colour; divergent cells are the grey of the continuous maps
    colors = {c: mesh.cmap(mesh.norm(c)) for c in (int(m) for m in enum)}
    assert len(set(colors.values())) == len(enum)
    divergent = matplotlib.colors.to_rgba(sp.GREY)
    assert colors[int(enum.divergent)] == divergent


def test_grey_cells_explained_in_the_legend(ds):
    ax = sp.phase_diagram(ds, "chi1", activation="relu").axes[0]
    assert _legend_texts(ax) == ["EOC", "grey: χ₁ not finite (divergent)"]
    ax = sp.phase_diagram(ds, "xi_c", activation="relu").axes[0]
    assert _legend_texts(ax)[-1] == "grey: ξ_c not finite (ordered, divergent)"
    ax = sp.phase_diagram(ds, "chi1", activation="erf").axes[0]
    assert _legend_texts(ax) == ["EOC"]  # no grey cells, no grey entry


# ----------------------------------------------------------------------------- parameter dimensions


@pytest.fixture(scope="module")
def pds():
    return ss.scan(
        ["hard_tanh", "linear_floor"],
        sigma_w=SW,
        sigma_b=SB,
        params={"a": np.linspace(0.1, 0.5, 3)},  # a = 0.1, 0.30000000000000004, 0.5
        progress=False,
    )


def test_phase_diagrams_one_panel_per_value_one_scale(pds):
    fig = sp.phase_diagrams(pds, "chi1")
    panels = [ax for ax in fig.axes if ax.get_xlabel() == "σ_b (bias std)"]
    assert [ax.get_title() for ax in panels] == [
        f"{act}, a={a}" for act in ("hard_tanh", "linear_floor") for a in ("0.1", "0.3", "0.5")
    ]
    assert len(fig.axes) == len(panels) + 1  # one colour bar for all panels
    norms = {(ax.collections[0].norm.vmin, ax.collections[0].norm.vmax) for ax in panels}
    assert len(norms) == 1
    lo, hi = norms.pop()
    chi1 = pds.chi1.values
    assert lo * hi == pytest.approx(1.0)
    assert hi == pytest.approx(max(np.nanmax(chi1), 1.0 / np.nanmin(chi1)))
    cells = [(x, a) for x in ("hard_tanh", "linear_floor") for a in range(3)]
    for ax, (act, a) in zip(panels, cells, strict=True):
        want = pds.chi1.sel(activation=act).isel(a=a).values.T
        got = np.asarray(ax.collections[0].get_array()).reshape(want.shape)
        np.testing.assert_array_equal(got, want)


def test_phase_diagrams_chosen_slice_and_limits(pds):
    fig = sp.phase_diagrams(pds, "phase", sel={"a": 0.3, "activation": "linear_floor"})
    (ax,) = [ax for ax in fig.axes if ax.get_visible()]
    assert ax.get_title() == "linear_floor, a=0.3"
    codes = pds.phase.sel(activation="linear_floor").isel(a=1).values
    names = [sigprop.Phase(c).name for c in sorted({int(c) for c in codes.ravel()})]
    assert _legend_texts(ax) == [*names, "EOC"]
    # phase as categories on a grid: one legend of every category present in any panel
    fig = sp.phase_diagrams(pds, "phase")
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert len(legends) == 1
    present = sorted({int(c) for c in pds.phase.values.ravel()})
    assert [t.get_text() for t in legends[0].get_texts()][:-1] == [
        sigprop.Phase(c).name for c in present
    ]
    with pytest.raises(ValueError, match=r"a=0.7 is not in the Dataset \(a: 0.1, 0.3, 0.5\)"):
        sp.phase_diagrams(pds, sel={"a": 0.7})
    with pytest.raises(ValueError, match=r"6 panels .* choose a slice"):
        sp.phase_diagrams(pds, max_panels=4)
    with pytest.raises(ValueError, match="cannot select 'sigma_w'"):
        sp.phase_diagrams(pds, sel={"sigma_w": 1.0})


def test_phase_diagram_sel_matches_nearest_coordinate(pds):
    fig = sp.phase_diagram(pds, activation="hard_tanh", sel={"a": 0.3})
    assert fig.axes[0].get_title() == "hard_tanh, a=0.3"
    want = pds.chi1.sel(activation="hard_tanh").isel(a=1).values.T
    np.testing.assert_array_equal(np.asarray(_mesh(fig).get_array()).reshape(want.shape), want)


def test_eoc_curves_one_curve_per_parameter_value():
    e = ss.eoc_curve("hard_tanh", SB, params={"a": [0.5, 2.0]})
    ax = sp.eoc_curves(e).axes[0]
    assert _legend_texts(ax) == ["hard_tanh, a=0.5", "hard_tanh, a=2"]
    for line, a in zip(ax.get_lines(), (0.5, 2.0), strict=True):
        np.testing.assert_allclose(
            line.get_ydata(),
            ss.eoc_curve(sigprop.activation("hard_tanh", a=a), SB).sigma_w[0, :, 0],
        )
    ax = sp.eoc_curves(e, sel={"a": 2}).axes[0]
    assert _legend_texts(ax) == ["hard_tanh, a=2"]
