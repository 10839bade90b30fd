"""Edge-of-Chaos curves sigma_w(sigma_b) of several activations, as an xarray Dataset."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from .._optional import need
from ..theory.activations import Activation
from ..theory.edge_of_chaos import EOC_KINDS, eoc
from ._cells import dataset_attrs, dataset_coords, dataset_dims
from .labels import activation_combos, grid_axis

if TYPE_CHECKING:  # pragma: no cover
    import xarray

__all__ = ["eoc_curve"]

# ----------------------------------------------------------------------------- EOC


def eoc_curve(
    activations: str | Activation | Sequence[str | Activation],
    sigma_b: ArrayLike,
    *,
    params: Mapping[str, Sequence[float]] | None = None,
    n_threads: int | None = None,
) -> xarray.Dataset:
    """Edge-of-Chaos curves sigma_w(sigma_b) of several activations as a Dataset.

    Wraps :func:`sigprop.eoc` (Hayou's equation q - E[phi^2]/E[phi'^2] = sigma_b^2
    solved on every branch to machine precision).

    Parameters
    ----------
    activations : str, Activation, callable or sequence of them
    sigma_b : array_like, 1-d
        Bias standard deviations (b ~ N(0, sigma_b^2)), >= 0.
    params : dict, optional
        Activation parameters scanned as further dimensions (as in :func:`scan`).
    n_threads : int or None

    Returns
    -------
    xarray.Dataset
        Dimensions ``(activation, *params, sigma_b, branch)``: sigma_w (the
        critical weight standard deviation, W ~ N(0, sigma_w^2 / fan_in)),
        q_star, slope (V'(q*)), stable (slope < 1), kind (-1 none, 0 curve,
        1 limit, 2 point; CF flag attributes); and n_branches over
        ``(activation, *params, sigma_b)``. Empty branch slots are NaN / kind -1.
    """
    xr = need("xarray", "eoc_curve()")
    sb = grid_axis(sigma_b, "sigma_b")
    labels, pcoords, combos = activation_combos(activations, params)
    results = {c.index: eoc(c.act, sb, n_threads=n_threads) for c in combos}
    width = max(1, *(int(r.n_branches.max(initial=0)) for r in results.values()))
    lead_shape = (len(labels), *(v.size for v in pcoords.values()))
    shape = (*lead_shape, sb.size, width)
    sw = np.full(shape, np.nan)
    q = np.full(shape, np.nan)
    slope = np.full(shape, np.nan)
    kind = np.full(shape, -1, dtype=np.int8)
    nbr = np.zeros((*lead_shape, sb.size), dtype=np.int32)
    for idx, r in results.items():
        br = r.branches
        k = min(width, br.sigma_w.shape[-1])
        sw[idx][:, :k] = br.sigma_w[:, :k]
        q[idx][:, :k] = br.q_star[:, :k]
        slope[idx][:, :k] = br.slope[:, :k]
        kind[idx][:, :k] = br.kind[:, :k]
        nbr[idx] = r.n_branches
    with np.errstate(invalid="ignore"):
        stable = slope < 1.0
    dims = (*dataset_dims(pcoords)[:-1], "branch")
    dims_nb = dims[:-1]
    coords = dataset_coords(labels, pcoords, sb, np.zeros(0))
    coords.pop("sigma_w")
    coords["branch"] = ("branch", np.arange(width, dtype=np.int32))
    return xr.Dataset(
        {
            "sigma_w": (
                dims,
                sw,
                {"long_name": "critical weight standard deviation on the EOC (chi1 = 1)"},
            ),
            "q_star": (dims, q, {"long_name": "q* on the EOC (NaN: every q fixed, relu-like)"}),
            "slope": (dims, slope, {"long_name": "V'(q*) on the EOC; > 1: q* repels"}),
            "stable": (dims, stable, {"long_name": "EOC fixed point attracts (slope < 1)"}),
            "kind": (
                dims,
                kind,
                {
                    "long_name": "kind of EOC point",
                    "flag_values": np.arange(-1, len(EOC_KINDS), dtype=np.int8),
                    "flag_meanings": " ".join(("none", *EOC_KINDS)),
                },
            ),
            "n_branches": (dims_nb, nbr, {"long_name": "EOC points found at this sigma_b"}),
        },
        coords=coords,
        attrs=dataset_attrs("eoc_curve", True, pcoords),
    )
