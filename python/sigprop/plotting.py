"""Paper-quality figures of phase diagrams and Edge-of-Chaos curves (matplotlib).

Conventions: ``sigma_w`` and ``sigma_b`` are standard deviations; weights are
N(0, sigma_w^2 / fan_in) and biases N(0, sigma_b^2). The functions take the
Datasets of :func:`sigprop.scan` and :func:`sigprop.eoc_curve` and
return the matplotlib Figure. Needs the ``plot`` extra:
``pip install ".[plot]"`` (and ``scan`` for the Datasets).

Colours: chi1 on one logarithmic scale symmetric about chi1 = 1 (equal ratios
above and below 1 get equally strong colours); ``phase`` and ``status`` as
categories named by :class:`sigprop.Phase` / :class:`sigprop.Status`; cells
without a value are grey, and the legend says which phases they are.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ._optional import matplotlib_modules
from .outcomes import Phase, Status, names

if TYPE_CHECKING:  # pragma: no cover
    import matplotlib.axes
    import matplotlib.figure
    import xarray

__all__ = ["eoc_curves", "phase_diagram", "phase_diagrams"]

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
    "phase": "phase",
    "status": "fixed-point solver status",
}
_SYMBOLS = {
    "chi1": "χ₁",
    "xi_c": "ξ_c",
    "xi_q": "ξ_q",
    "q_star": "q*",
    "chi_c": "χ_c",
    "c_star": "c*",
    "slope": "V'(q*)",
    "beta_q": "β_q",
}
_LOG_VARIABLES = ("chi1", "xi_c", "xi_q", "q_star", "beta_q")

#: Variables drawn as categories, and the enumeration that names their codes.
CATEGORICAL = {"phase": Phase, "status": Status}

#: Grey: cells without the quantity (continuous maps) and divergent cells (phase, status).
GREY = "0.8"
_COLORS = {
    Phase: {
        Phase.not_computed: "white",
        Phase.ordered: "#4575b4",
        Phase.chaotic: "#d73027",
        Phase.edge: "gold",
        Phase.divergent: GREY,
        Phase.marginal: "#fdae61",
        Phase.failed: "#762a83",
    },
    Status: {
        Status.not_computed: "white",
        Status.converged: "#4575b4",
        Status.divergent: GREY,
        Status.marginal: "#fdae61",
        Status.not_converged: "#762a83",
        Status.c_not_converged: "#c2a5cf",
    },
}
_GRID_DIMS = ("sigma_b", "sigma_w")


def _num(v: Any) -> str:
    """A plain number (no ``np.float64(...)``) or a label."""
    if isinstance(v, (str, np.str_)):
        return str(v)
    return format(float(v), ".6g")


def _resolve_sel(ds, sel: dict[str, Any] | None) -> dict[str, Any]:
    """``sel`` with every value replaced by the coordinate value it names.

    Numbers match the nearest coordinate value within a relative 1e-9 (so
    ``0.3`` finds ``0.30000000000000004``); anything else is a ValueError that
    lists the values there are.
    """
    out: dict[str, Any] = {}
    for key, want in dict(sel or {}).items():
        if key in _GRID_DIMS or key not in ds.dims:
            have = [d for d in ds.dims if d not in (*_GRID_DIMS, "branch")]
            raise ValueError(f"cannot select {key!r}: the dimensions to choose from are {have}")
        values = ds[key].values
        if values.dtype.kind in "fiu":
            try:
                w = float(want)
            except (TypeError, ValueError):
                raise ValueError(f"{key} must be a number, got {want!r}") from None
            i = int(np.argmin(np.abs(values - w)))
            if abs(values[i] - w) > 1e-9 * max(1.0, abs(w)):
                have = ", ".join(_num(v) for v in values)
                raise ValueError(f"{key}={_num(w)} is not in the Dataset ({key}: {have})")
            out[key] = values[i]
        else:
            labels = [str(v) for v in values]
            if str(want) not in labels:
                raise ValueError(f"{key}={want!s} is not in the Dataset ({key}: {labels})")
            out[key] = values[labels.index(str(want))]
    return out


def _select(ds, activation: str | None, sel: dict[str, Any], what: str):
    """Pick one activation (and one value of every scanned parameter).

    Returns (the selection, the activation label, the resolved ``sel``).
    """
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
    sel = _resolve_sel(ds, sel)
    if sel:
        ds = ds.sel(sel)
    extra = [d for d in ds.dims if d not in (*_GRID_DIMS, "branch")]
    if extra:
        raise ValueError(f"{what}: select a value of {extra} (e.g. sel={{{extra[0]!r}: ...}})")
    return ds, activation, sel


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


def _legend_handles(lines) -> list:
    """The labelled lines, and a key to dashed lines if any were drawn."""
    from matplotlib.lines import Line2D

    handles = [ln for ln in lines if not ln.get_label().startswith("_")]
    if any(ln.get_linestyle() == "--" for ln in lines):
        handles.append(Line2D([], [], ls="--", color="0.3", lw=1.8, label="dashed: q* repels"))
    return handles


# ----------------------------------------------------------------------------- colour scales


def _chi1_ticks(m: float) -> list[float]:
    """Ticks symmetric about 1 on [1/m, m]: ratios 10^k (or 2, 5 for short ranges)."""
    k_max = math.floor(math.log10(m) + 1e-9)
    if k_max >= 2:
        step = max(1, math.ceil(k_max / 4))
        ups = [10.0**k for k in range(step, k_max + 1, step)]
    else:
        ups = [t for t in (1.25, 1.5, 2.0, 5.0, 10.0) if t <= m * (1 + 1e-12)]
        if len(ups) > 3:
            ups = [t for t in ups if t not in (1.25, 1.5)]
    return sorted({1.0, *ups, *(1.0 / t for t in ups)})


class _Scale:
    """A colour scale shared by the panels of a figure."""

    def __init__(self, variable: str, arrays, log, cmap, vmin, vmax):
        mpl, _ = matplotlib_modules()
        self.variable = variable
        self.ticks = None
        self.enum = CATEGORICAL.get(variable)
        if self.enum is not None:
            members = sorted(self.enum, key=int)
            table = _COLORS.get(self.enum, {})
            fallback = mpl.colormaps["tab10"].colors
            colors = [table.get(m, fallback[i % len(fallback)]) for i, m in enumerate(members)]
            self.colors = dict(zip(members, colors, strict=True))
            bounds = [int(m) - 0.5 for m in members] + [int(members[-1]) + 0.5]
            self.cmap = mpl.colors.ListedColormap(colors).with_extremes(bad="white")
            self.norm = mpl.colors.BoundaryNorm(bounds, len(members))
            self.log = False
            return
        self.log = variable in _LOG_VARIABLES if log is None else bool(log)
        lo, hi = math.inf, -math.inf
        for a in arrays:
            z = np.asarray(a, dtype=float)
            z = z[np.isfinite(z) & ((z > 0) if self.log else True)]
            if z.size:
                lo, hi = min(lo, float(z.min())), max(hi, float(z.max()))
        lo = lo if vmin is None else float(vmin)
        hi = hi if vmax is None else float(vmax)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"{variable} has no finite values to draw")
        if variable == "chi1" and self.log:
            # One logarithmic scale symmetric about chi1 = 1: a cell with chi1 = 1/r is as
            # blue as a cell with chi1 = r is red; the range is the larger of the two sides.
            m = max(hi, 1.0 / lo, 1.01)
            self.norm = mpl.colors.LogNorm(vmin=1.0 / m, vmax=m)
            self.ticks = _chi1_ticks(m)
            cmap = cmap or "RdBu_r"
        elif self.log:
            self.norm = mpl.colors.LogNorm(vmin=lo, vmax=max(hi, lo * (1 + 1e-9)))
        else:
            self.norm = mpl.colors.Normalize(vmin=lo, vmax=hi)
        self.cmap = mpl.colormaps[cmap or "viridis"].with_extremes(bad=GREY)

    def patches(self, present) -> list:
        """Legend patches of the categories in ``present`` (codes), in code order."""
        from matplotlib.patches import Patch

        codes = {int(c) for c in present}
        return [
            Patch(facecolor=c, edgecolor="0.4", label=m.name)
            for m, c in self.colors.items()
            if int(m) in codes
        ]

    def colorbar(self, fig, mesh, ax) -> None:
        cbar = fig.colorbar(mesh, ax=ax)
        if self.ticks is not None:
            cbar.set_ticks(self.ticks)
            cbar.set_ticklabels([format(t, ".3g") for t in self.ticks])
            cbar.minorticks_off()
        cbar.set_label(_VARIABLE_LABELS.get(self.variable, self.variable))


def _grey_label(variable: str, invalid, nonpositive, phase) -> str:
    """What the grey cells of a continuous map are: why there is no value, and their phases."""
    why = []
    if invalid.any():
        why.append("not finite")
    if nonpositive.any():
        why.append("≤ 0 (log scale)")
    text = f"grey: {_SYMBOLS.get(variable, variable)} {' or '.join(why)}"
    if phase is not None:
        codes = np.unique(np.asarray(phase)[invalid | nonpositive])
        text += f" ({', '.join(str(n) for n in names(Phase, codes))})"
    return text


def _panel(ax, one, act, params: dict[str, Any], variable: str, scale: _Scale, eoc):
    """Draw one (sigma_b, sigma_w) map with its EOC curve.

    Returns (mesh, EOC legend handles, grey patch or None, category codes present).
    """
    from matplotlib.patches import Patch

    z = np.asarray(one[variable].transpose("sigma_w", "sigma_b").values)
    sb = np.asarray(one["sigma_b"].values, dtype=float)
    sw = np.asarray(one["sigma_w"].values, dtype=float)
    grey = None
    present: set[int] = set()
    if scale.enum is not None:
        valid = np.isin(z, [int(m) for m in scale.enum])
        zm = np.ma.masked_array(z.astype(float), mask=~valid)
        present = {int(c) for c in np.unique(z[valid])}
    else:
        zf = z.astype(float)
        invalid = ~np.isfinite(zf)
        with np.errstate(invalid="ignore"):
            nonpositive = (zf <= 0) & ~invalid if scale.log else np.zeros_like(invalid)
        zm = np.ma.masked_array(zf, mask=invalid | nonpositive)
        if zm.mask.any():
            phase = one["phase"].transpose("sigma_w", "sigma_b").values if "phase" in one else None
            grey = Patch(
                facecolor=GREY,
                edgecolor="0.4",
                label=_grey_label(variable, invalid, nonpositive, phase),
            )
    mesh = ax.pcolormesh(
        sb, sw, zm, norm=scale.norm, cmap=scale.cmap, shading="auto", rasterized=True
    )
    handles = []
    if eoc is not False:
        if eoc is True:
            from .scans.eoc_curves import eoc_curve
            from .scans.labels import activation_from_label

            if params:
                e = eoc_curve(str(act), sb, params={k: [v] for k, v in params.items()})
                e = e.isel(activation=0).isel({k: 0 for k in params})
            else:
                e = eoc_curve(activation_from_label(act), sb).isel(activation=0)
        else:
            e, _, _ = _select(eoc, act, dict(params), "phase_diagram(eoc=...)")
        handles = _legend_handles(_draw_eoc(ax, e))
    ax.set_xlim(sb.min(), sb.max())
    ax.set_ylim(sw.min(), sw.max())
    ax.set_xlabel(SIGMA_B_LABEL)
    ax.set_ylabel(SIGMA_W_LABEL)
    return mesh, handles, grey, present


def _default_title(act, params: dict[str, Any]) -> str | None:
    parts = [] if act is None else [str(act)]
    parts += [f"{k}={_num(v)}" for k, v in params.items()]
    return ", ".join(parts) or None


def _category_legend(ax, scale: _Scale, present, eoc_handles) -> None:
    handles = scale.patches(present) + list(eoc_handles)
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
        fontsize="small",
        title=scale.variable,
    )


def _panel_legend(ax, handles) -> None:
    if handles:
        ax.legend(handles=handles, loc="upper right", frameon=True, fontsize="small")


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
    vmin: float | None = None,
    vmax: float | None = None,
) -> matplotlib.figure.Figure:
    """Colour map of ``variable`` over (sigma_b, sigma_w) with the EOC curve on top.

    Parameters
    ----------
    ds : xarray.Dataset
        A :func:`sigprop.scan` result (in memory or lazily opened).
    variable : str
        ``"chi1"`` (one logarithmic scale symmetric about chi1 = 1: blue below,
        red above, equal ratios equally strong), ``"xi_c"`` (correlation depth
        scale, log scale), ``"phase"`` or ``"status"`` (categories named by
        :class:`sigprop.Phase` / :class:`sigprop.Status`, in a legend), or any
        float variable.
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
        Values of further scanned dimensions (activation parameters), e.g. ``{"a": 1.0}``;
        a number matches the nearest coordinate value within a relative 1e-9.
    title : str, optional
        Default: the activation and the selected parameter values.
    vmin, vmax : float, optional
        Colour range (default: the data's). For chi1 the scale is symmetric about
        1 and spans the larger side.

    Returns
    -------
    matplotlib.figure.Figure
        Cells without the quantity (q diverges, not converged, or <= 0 on a log
        scale) are drawn grey, and the legend says which phases they are. The
        colour bar is labelled with the quantity; axes are "σ_b (bias std)"
        (horizontal) and "σ_w (weight std)" (vertical).
    """
    _, plt = matplotlib_modules()
    one, act, params = _select(ds, activation, dict(sel or {}), "phase_diagram")
    if variable not in one:
        raise ValueError(f"variable {variable!r} not in the Dataset ({list(one.data_vars)})")
    scale = _Scale(variable, [one[variable].values], log, cmap, vmin, vmax)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 4.0), constrained_layout=True)
    else:
        fig = ax.figure
    mesh, handles, grey, present = _panel(ax, one, act, params, variable, scale, eoc)
    if scale.enum is not None:
        _category_legend(ax, scale, present, handles)
    else:
        scale.colorbar(fig, mesh, ax)
        _panel_legend(ax, handles + ([grey] if grey is not None else []))
    title = _default_title(act, params) if title is None else title
    if title:
        ax.set_title(title)
    return fig


def phase_diagrams(
    ds: xarray.Dataset,
    variable: str = "chi1",
    *,
    sel: dict[str, Any] | None = None,
    eoc: bool | xarray.Dataset = True,
    log: bool | None = None,
    cmap: str | None = None,
    ncols: int | None = None,
    max_panels: int = 48,
) -> matplotlib.figure.Figure:
    """One phase-diagram panel per activation and value of every scanned parameter.

    All panels share one colour scale (one colour bar; for chi1 symmetric about
    1), or one legend of the categories for ``"phase"`` and ``"status"``.

    Parameters
    ----------
    ds : xarray.Dataset
        A :func:`sigprop.scan` result.
    variable : str
        As in :func:`phase_diagram`.
    sel : dict, optional
        Draw only these values, e.g. ``{"a": 1.0}`` or ``{"activation": "erf"}``.
    eoc, log, cmap
        As in :func:`phase_diagram`.
    ncols : int, optional
        Panels per row (default: up to 3).
    max_panels : int
        More panels than this is a ValueError asking for ``sel``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _, plt = matplotlib_modules()
    if variable not in ds:
        raise ValueError(f"variable {variable!r} not in the Dataset ({list(ds.data_vars)})")
    chosen = _resolve_sel(ds, sel)
    sub = ds.sel({k: [v] for k, v in chosen.items()})
    extra = [d for d in sub[variable].dims if d not in _GRID_DIMS]
    combos = list(itertools.product(*(range(sub.sizes[d]) for d in extra)))
    if len(combos) > max_panels:
        sizes = ", ".join(f"{d}: {sub.sizes[d]}" for d in extra)
        raise ValueError(
            f"{len(combos)} panels ({sizes}) is more than {max_panels}; choose a slice with "
            "sel= (sigprop plot --sel NAME=VALUE)"
        )
    scale = _Scale(variable, [sub[variable].values], log, cmap, None, None)
    ncols = ncols or min(len(combos), 3)
    nrows = -(-len(combos) // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(4.6 * ncols + 1.2, 3.6 * nrows),
        constrained_layout=True,
        squeeze=False,
    )
    meshes, eoc_handles, present = [], {}, set()
    for ax, idx in zip(axes.flat, combos, strict=False):
        point = {d: sub[d].values[i] for d, i in zip(extra, idx, strict=True)}
        act = point.pop("activation", None)
        one = sub.sel(activation=act) if act is not None else sub
        one = one.sel(point)
        mesh, handles, grey, found = _panel(ax, one, act, point, variable, scale, eoc)
        meshes.append(mesh)
        present |= found
        for h in handles:
            eoc_handles.setdefault(h.get_label(), h)
        if scale.enum is None:
            _panel_legend(ax, handles + ([grey] if grey is not None else []))
        ax.set_title(_default_title(act, point) or "")
    for ax in axes.flat[len(combos) :]:
        ax.set_visible(False)
    if scale.enum is not None:
        top_right = axes.flat[min(ncols, len(combos)) - 1]
        _category_legend(top_right, scale, present, list(eoc_handles.values()))
    else:
        scale.colorbar(fig, meshes[0], [a for a in axes.flat[: len(combos)]])
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
        Values of further scanned dimensions (activation parameters) to draw;
        without it, every value gets its own curve ("hard_tanh, a=0.5").
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One colour per curve; solid where the EOC fixed point attracts,
        dashed where it repels, markers for single EOC points (relu-like).
    """
    _, plt = matplotlib_modules()
    chosen = _resolve_sel(e, sel)
    e = e.sel({k: [v] for k, v in chosen.items()})
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 4.0), constrained_layout=True)
    else:
        fig = ax.figure
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["k"])
    extra = [d for d in e["sigma_w"].dims if d not in ("sigma_b", "branch")]
    drawn = []
    combos = itertools.product(*(range(e.sizes[d]) for d in extra))
    for i, idx in enumerate(combos):
        point = {d: e[d].values[j] for d, j in zip(extra, idx, strict=True)}
        act = point.pop("activation", None)
        one = e.sel(activation=act) if act is not None else e
        one = one.sel(point)
        label = _default_title(act, point) or "EOC"
        drawn += _draw_eoc(ax, one, color=colors[i % len(colors)], label=label)
    ax.set_xlabel(SIGMA_B_LABEL)
    ax.set_ylabel(SIGMA_W_LABEL)
    ax.set_title(title or "Edge of Chaos (χ₁ = 1)")
    ax.legend(handles=_legend_handles(drawn), fontsize="small")
    ax.grid(alpha=0.3)
    return fig
