"""Paper-quality figures of phase diagrams and Edge-of-Chaos curves (matplotlib).

Conventions: ``sigma_w`` and ``sigma_b`` are standard deviations; weights are
N(0, sigma_w^2 / fan_in) and biases N(0, sigma_b^2). The functions take the
Datasets of :func:`sigprop.scan` and :func:`sigprop.eoc_curve` and
return the matplotlib Figure. Needs the ``plot`` extra:
``pip install ".[plot]"`` (and ``scan`` for the Datasets).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._optional import matplotlib_modules

if TYPE_CHECKING:  # pragma: no cover
    import matplotlib.axes
    import matplotlib.figure
    import xarray

__all__ = ["eoc_curves", "phase_diagram"]

SIGMA_B_LABEL = "σ_b (bias std)"
SIGMA_W_LABEL = "σ_w (weight std)"

_VARIABLE_LABELS = {
    "chi1": "χ₁ = σ_w² E[φ'(√q* Z)²]",
    "xi_c": "ξ_c (correlation depth, layers)",
    "xi_q": "ξ_q (variance depth, layers)",
    "q_star": "q* (limiting variance)",
    "chi_c": "χ_c = f'(c*)",
    "c_star": "c* (limiting correlation)",
    "slope": "V'(q*)",
    "beta_q": "β_q (layers)",
}


def _select(ds, activation: str | None, sel: dict[str, Any], what: str):
    """Pick one activation (and one value of every scanned parameter)."""
    if "activation" in ds.dims:
        labels = [str(a) for a in ds["activation"].values]
        if activation is None:
            if len(labels) != 1:
                raise ValueError(
                    f"{what}: the Dataset holds activations {labels}; choose one with activation="
                )
            activation = labels[0]
        if activation not in labels:
            raise ValueError(f"activation {activation!r} not in the Dataset ({labels})")
        ds = ds.sel(activation=activation)
    if sel:
        ds = ds.sel(sel)
    extra = [d for d in ds.dims if d not in ("sigma_b", "sigma_w", "branch")]
    if extra:
        raise ValueError(f"{what}: select a value of {extra} (e.g. sel={{{extra[0]!r}: ...}})")
    return ds, activation


def _draw_eoc(ax, e, *, color="k", label="EOC", linewidth=1.8) -> list:
    """Draw every branch of an EOC Dataset (one activation): solid where the EOC
    fixed point attracts, dashed where it repels, a marker for isolated points.

    The end of a curve at sigma_b = 0 (kind "limit", slope 1) takes the style of
    its neighbour. Returns the lines drawn; the first carries ``label``.
    """
    lines = []
    sb = np.asarray(e["sigma_b"].values, dtype=float)
    sw = np.atleast_2d(np.asarray(e["sigma_w"].values, dtype=float).T)
    kind = np.atleast_2d(np.asarray(e["kind"].values).T)
    stable = np.atleast_2d(np.asarray(e["stable"].values).T).copy()
    for br in range(sw.shape[0]):
        y = sw[br]
        for i in np.flatnonzero(kind[br] == 1):  # limit: copy a neighbour's stability
            for j in (i + 1, i - 1):
                if 0 <= j < y.size and kind[br][j] == 0:
                    stable[br][i] = stable[br][j]
                    break
        point = kind[br] == 2
        curve = np.isfinite(y) & ~point
        for style, mask in (("-", curve & stable[br]), ("--", curve & ~stable[br])):
            if mask.any():
                lines += ax.plot(
                    sb,
                    np.where(mask, y, np.nan),
                    style,
                    color=color,
                    lw=linewidth,
                    label=None if lines else label,
                )
        if point.any():
            lines += ax.plot(
                sb[point], y[point], "o", color=color, ms=6, label=None if lines else label
            )
    return lines


def _note_unstable(ax, lines) -> None:
    if any(ln.get_linestyle() == "--" for ln in lines):
        ax.plot([], [], "--", color="0.3", lw=1.8, label="dashed: q* repels")


def phase_diagram(
    ds: xarray.Dataset,
    variable: str = "chi1",
    *,
    activation: str | None = None,
    eoc: bool | xarray.Dataset = True,
    ax: matplotlib.axes.Axes | None = None,
    log: bool | None = None,
    cmap: str | None = None,
    sel: dict[str, Any] | None = None,
    title: str | None = None,
) -> matplotlib.figure.Figure:
    """Colour map of ``variable`` over (sigma_b, sigma_w) with the EOC curve on top.

    Parameters
    ----------
    ds : xarray.Dataset
        A :func:`sigprop.scan` result (in memory or lazily opened).
    variable : str
        ``"chi1"`` (log scale, diverging colours centred on chi1 = 1),
        ``"xi_c"`` (correlation depth scale, log scale), or any float variable.
    activation : str, optional
        Which activation to draw (needed when the Dataset holds several).
    eoc : bool or xarray.Dataset
        ``True`` computes the EOC curve with :func:`sigprop.eoc_curve` on
        the scan's sigma_b values; a Dataset from ``eoc_curve`` is used as is;
        ``False`` draws none.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure otherwise.
    log : bool, optional
        Logarithmic colour scale; default True for chi1, xi_c, xi_q, q_star, beta_q.
    cmap : str, optional
    sel : dict, optional
        Values of further scanned dimensions (activation parameters), e.g. ``{"a": 1.0}``.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Cells without the quantity (q diverges, not converged) are drawn grey.
        The colour bar is labelled with the quantity; axes are
        "σ_b (bias std)" (horizontal) and "σ_w (weight std)" (vertical).
    """
    mpl, plt = matplotlib_modules()
    one, act = _select(ds, activation, dict(sel or {}), "phase_diagram")
    if variable not in one:
        raise ValueError(f"variable {variable!r} not in the Dataset ({list(one.data_vars)})")
    z = np.asarray(one[variable].transpose("sigma_w", "sigma_b").values, dtype=float)
    sb = np.asarray(one["sigma_b"].values, dtype=float)
    sw = np.asarray(one["sigma_w"].values, dtype=float)
    if log is None:
        log = variable in ("chi1", "xi_c", "xi_q", "q_star", "beta_q")
    zm = np.ma.masked_invalid(z)
    if log:
        zm = np.ma.masked_less_equal(zm, 0.0)
    if zm.count() == 0:
        raise ValueError(f"{variable} has no finite values to draw")
    lo, hi = float(zm.min()), float(zm.max())
    ticks = None
    if variable == "chi1" and log:
        # Diverging log scale centred on chi1 = 1: each side spans its own decades,
        # so the ordered and the chaotic side both use the full colour range.
        lo, hi = min(lo, 0.999), max(hi, 1.001)
        a, b = -np.log(lo), np.log(hi)

        def fwd(x):  # keeps the mask of masked arrays (grey cells)
            lx = np.ma.log(np.ma.masked_less_equal(x, 0.0))
            return np.ma.where(lx < 0, lx / a, lx / b)

        def inv(y):
            return np.ma.exp(np.ma.where(np.ma.asarray(y) < 0, y * a, y * b))

        norm = mpl.colors.FuncNorm((fwd, inv), vmin=lo, vmax=hi)
        cmap = cmap or "RdBu_r"
        ticks = [1.0]
        for side in (np.arange(-1, np.log10(lo) - 1e-9, -1), np.arange(1, np.log10(hi) + 1e-9)):
            ticks += [10.0**k for k in side]
        if hi < 10:
            ticks += [t for t in (1.5, 2.0, 3.0, 5.0) if t <= hi]
        if lo > 0.1:
            ticks += [t for t in (0.2, 0.5) if t >= lo]
        ticks = sorted(ticks)
    elif log:
        norm = mpl.colors.LogNorm(vmin=lo, vmax=max(hi, lo * (1 + 1e-9)))
        cmap = cmap or "viridis"
    else:
        norm = mpl.colors.Normalize(vmin=lo, vmax=hi)
        cmap = cmap or "viridis"
    cm = mpl.colormaps[cmap].with_extremes(bad="0.8")  # cells without the quantity
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 4.0), constrained_layout=True)
    else:
        fig = ax.figure
    mesh = ax.pcolormesh(sb, sw, zm, norm=norm, cmap=cm, shading="auto", rasterized=True)
    cbar = fig.colorbar(mesh, ax=ax)
    if ticks is not None:
        cbar.set_ticks(ticks)
        cbar.set_ticklabels([f"{t:g}" for t in ticks])
    cbar.set_label(_VARIABLE_LABELS.get(variable, variable))
    if eoc is not False:
        if eoc is True:
            from .scans.eoc_curves import eoc_curve
            from .scans.labels import activation_from_label

            if sel:
                kw = {"params": {k: [v] for k, v in sel.items()}}
                e = eoc_curve(str(act), sb, **kw).isel(activation=0)
            else:
                e = eoc_curve(activation_from_label(act), sb).isel(activation=0)
            for k in sel or {}:
                e = e.isel({k: 0})
        else:
            e, _ = _select(eoc, act, dict(sel or {}), "phase_diagram(eoc=...)")
        _note_unstable(ax, _draw_eoc(ax, e))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right", frameon=True, fontsize="small")
    ax.set_xlim(sb.min(), sb.max())
    ax.set_ylim(sw.min(), sw.max())
    ax.set_xlabel(SIGMA_B_LABEL)
    ax.set_ylabel(SIGMA_W_LABEL)
    if title is None:
        title = f"{act}" if act is not None else None
    if title:
        ax.set_title(title)
    return fig


def eoc_curves(
    e: xarray.Dataset,
    *,
    ax: matplotlib.axes.Axes | None = None,
    sel: dict[str, Any] | None = None,
    title: str | None = None,
) -> matplotlib.figure.Figure:
    """EOC curves sigma_w(sigma_b) of every activation of an EOC Dataset in one figure.

    Parameters
    ----------
    e : xarray.Dataset
        A :func:`sigprop.eoc_curve` result.
    ax : matplotlib.axes.Axes, optional
    sel : dict, optional
        Values of further scanned dimensions (activation parameters).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One colour per activation; solid where the EOC fixed point attracts,
        dashed where it repels, markers for single EOC points (relu-like).
    """
    _, plt = matplotlib_modules()
    if sel:
        e = e.sel(sel)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 4.0), constrained_layout=True)
    else:
        fig = ax.figure
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["k"])
    labels = [str(a) for a in e["activation"].values]
    drawn = []
    for i, name in enumerate(labels):
        one = e.sel(activation=name)
        extra = [d for d in one.dims if d not in ("sigma_b", "branch")]
        if extra:
            raise ValueError(f"eoc_curves: select a value of {extra} with sel=")
        drawn += _draw_eoc(ax, one, color=colors[i % len(colors)], label=name)
    _note_unstable(ax, drawn)
    ax.set_xlabel(SIGMA_B_LABEL)
    ax.set_ylabel(SIGMA_W_LABEL)
    ax.set_title(title or "Edge of Chaos (χ₁ = 1)")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig
