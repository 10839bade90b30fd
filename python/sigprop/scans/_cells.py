"""The cells of a scan: variables, their attributes, coordinates, chunks (tiles) and the core calls.

Every chunk is one ``_core.fixed_points`` call (the GIL is released inside it), and every
cell is computed independently of the others, so results are bitwise identical for any
``n_threads`` and any chunking, in memory, streamed to a file, or on a Dask cluster.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .. import _core
from .._optional import need
from .._validation import resolve_n_threads
from .._version import __version__
from ..outcomes import EDGE_TOL, Phase, Status, flag_attrs, phase_codes
from .labels import Combo

#: Code of a cell that a partial output store does not hold yet (an interrupted
#: ``scan(out=...)``): the fill value of ``status``, ``phase`` and ``iterations``;
#: the float variables are NaN there. No computed cell takes it.
NOT_COMPUTED: int = int(Status.not_computed)

FLOAT_VARS = ("q_star", "chi1", "slope", "c_star", "chi_c", "xi_q", "xi_c", "beta_q")
CORRELATION_VARS = ("c_star", "chi_c", "xi_c")
INT_VARS = {"status": np.int8, "phase": np.int8, "iterations": np.int32}

_CONVENTIONS = (
    "sigma_w and sigma_b are standard deviations: weights W_ij ~ N(0, sigma_w^2 / fan_in), "
    "biases b_i ~ N(0, sigma_b^2); q is the variance of a pre-activation"
)

VAR_ATTRS: dict[str, dict[str, Any]] = {
    "q_star": {
        "long_name": "limiting pre-activation variance q*",
        "comment": "minimal attracting fixed point of V(q) = sigma_b^2 + sigma_w^2 "
        "E[phi(sqrt(q) Z)^2] reached from q -> 0+; inf where q diverges, NaN where "
        "marginal or not converged",
    },
    "chi1": {"long_name": "chi1 = sigma_w^2 E[phi'(sqrt(q*) Z)^2]"},
    "slope": {"long_name": "V'(q*) (alpha); < 1: q* attracts"},
    "c_star": {"long_name": "stable fixed point c* of the correlation map (1 when ordered)"},
    "chi_c": {"long_name": "chi_c = f'(c*) = sigma_w^2 E[phi'(u*) phi'(v*)]"},
    "xi_q": {"long_name": "variance depth scale xi_q = -1 / ln V'(q*)", "units": "layers"},
    "xi_c": {"long_name": "correlation depth scale xi_c = -1 / ln chi_c", "units": "layers"},
    "beta_q": {
        "long_name": "beta_q = 2 / f''(1); 1 - c^l ~ beta_q / l on the EOC (smooth phi)",
        "units": "layers",
    },
    "iterations": {
        "long_name": "map evaluations used by the fixed-point solver",
        "comment": "-1: not computed (partial store)",
    },
    "status": {
        "long_name": "fixed-point solver status",
        **flag_attrs(Status),
    },
    "phase": {
        "long_name": "phase of the (sigma_b, sigma_w) cell",
        **flag_attrs(Phase),
        "comment": f"edge: |chi1 - 1| <= {EDGE_TOL:g}; ordered: chi1 < 1; chaotic: chi1 > 1; "
        "divergent: q -> inf; not_computed: a partial store does not hold the cell yet",
    },
}

_COORD_ATTRS = {
    "sigma_b": {"long_name": "bias standard deviation sigma_b", "units": "1"},
    "sigma_w": {
        "long_name": "weight standard deviation sigma_w (W ~ N(0, sigma_w^2 / fan_in))",
        "units": "1",
    },
    "activation": {"long_name": "activation function phi"},
}


def canonical_nan(arr: np.ndarray) -> np.ndarray:
    """Replace every NaN (any sign or payload) by the default quiet NaN, in place.

    NaNs from the core can carry either sign depending on the operation that
    made them; canonical ones make stores compare bytewise.
    """
    if arr.dtype.kind == "f":
        arr[np.isnan(arr)] = np.nan
    return arr


def compute_cells(
    kind: int,
    p0: float,
    p1: float,
    sigma_b: np.ndarray,
    sigma_w: np.ndarray,
    with_correlation: bool,
    n_threads: int | None,
    progress=None,
    keep_prob: float = 1.0,
) -> dict[str, np.ndarray]:
    """All variables at the flat cells (sigma_b[i], sigma_w[i]): one core call.

    ``progress(n)`` is called (GIL held) after every block of ~20-50 ms of cells.
    """
    res = _core.fixed_points(
        int(kind),
        float(p0),
        float(p1),
        np.ascontiguousarray(sigma_w, dtype=np.float64).ravel(),
        np.ascontiguousarray(sigma_b, dtype=np.float64).ravel(),
        None,
        bool(with_correlation),
        resolve_n_threads(n_threads),
        progress,
        float(keep_prob),
    )
    out = {k: canonical_nan(np.asarray(v)) for k, v in res.items()}
    for name, dt in INT_VARS.items():
        if name in out:
            out[name] = out[name].astype(dt)
    out["phase"] = phase_codes(out["chi1"], out["status"])
    return out


def compute_block(
    kind: int,
    p0: float,
    p1: float,
    sigma_b: np.ndarray,
    sigma_w: np.ndarray,
    with_correlation: bool,
    n_threads: int | None,
    progress=None,
    keep_prob: float = 1.0,
) -> dict[str, np.ndarray]:
    """All variables on the (len(sigma_b), len(sigma_w)) tile: one core call."""
    sb2, sw2 = np.meshgrid(sigma_b, sigma_w, indexing="ij")
    res = compute_cells(kind, p0, p1, sb2, sw2, with_correlation, n_threads, progress, keep_prob)
    return {k: v.reshape(sb2.shape) for k, v in res.items()}


def output_variables(with_correlation: bool) -> list[str]:
    """Variable names; ``status`` last, so that a cell whose status is written
    has every other variable written (partial stores, resume)."""
    floats = [v for v in FLOAT_VARS if with_correlation or v not in CORRELATION_VARS]
    return [*floats, "phase", "iterations", "status"]


def tile_shape_for(nb: int, nw: int, chunk_cells: int) -> tuple[int, int]:
    """(rows, cols) of the row-major tiles of at most chunk_cells cells."""
    if nw <= chunk_cells:
        return min(nb, max(1, chunk_cells // nw)), nw
    return 1, chunk_cells


def tile_slices(
    nb: int, nw: int, chunk_cells: int, shape: tuple[int, int] | None = None
) -> list[tuple[slice, slice]]:
    """Row-major tiles of at most chunk_cells cells (or of ``shape``) covering nb x nw."""
    rows, cols = shape if shape is not None else tile_shape_for(nb, nw, chunk_cells)
    return [
        (slice(i, min(i + rows, nb)), slice(j, min(j + cols, nw)))
        for i in range(0, nb, rows)
        for j in range(0, nw, cols)
    ]


def dataset_dims(pcoords: Mapping[str, np.ndarray]) -> tuple[str, ...]:
    return ("activation", *pcoords, "sigma_b", "sigma_w")


def dataset_attrs(kind: str, with_correlation: bool, pcoords) -> dict[str, Any]:
    attrs = {
        "title": f"sigprop {kind}",
        "Conventions": "CF-1.10",
        "sigprop_conventions": _CONVENTIONS,
        "sigprop_version": __version__,
        "source": f"sigprop {__version__} (mean-field theory, compiled core)",
    }
    if kind == "scan":
        attrs["correlation"] = int(bool(with_correlation))
    if pcoords:
        attrs["scanned_parameters"] = " ".join(pcoords)
    return attrs


def dataset_coords(labels, pcoords, sigma_b, sigma_w) -> dict[str, Any]:
    coords: dict[str, Any] = {
        "activation": ("activation", np.array(labels, dtype=object), _COORD_ATTRS["activation"])
    }
    for p, v in pcoords.items():
        if p == "keep_prob":
            coords[p] = (p, v, {"long_name": "dropout keep probability rho", "units": "1"})
        else:
            coords[p] = (p, v, {"long_name": f"activation parameter {p}"})
    coords["sigma_b"] = ("sigma_b", sigma_b, _COORD_ATTRS["sigma_b"])
    coords["sigma_w"] = ("sigma_w", sigma_w, _COORD_ATTRS["sigma_w"])
    return coords


def progress_bar(total: int, progress: bool | None, desc: str):
    """A tqdm bar (or a no-op) counting cells."""
    if progress is None:
        progress = bool(getattr(sys.stderr, "isatty", lambda: False)())
    if not progress:
        return _NoBar()
    tqdm = need("tqdm", "a progress bar").tqdm
    bar = tqdm(total=total, desc=desc, unit="cell", unit_scale=True, file=sys.stderr)
    # The core reports every block of ~20-50 ms of cells, so the bar moves several
    # times a second whatever chunk_cells is.
    bar.callback = bar.update
    return bar


class _NoBar:
    callback = None

    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def iter_chunks(
    combos: Sequence[Combo],
    sigma_b: np.ndarray,
    sigma_w: np.ndarray,
    with_correlation: bool,
    n_threads: int | None,
    chunk_cells: int,
    bar,
) -> Iterator[tuple[tuple[int, ...], slice, slice, dict[str, np.ndarray]]]:
    tiles = tile_slices(sigma_b.size, sigma_w.size, chunk_cells)
    for combo in combos:
        p0, p1 = combo.act.core_params
        for sb_sl, sw_sl in tiles:
            block = compute_block(
                combo.act.kind,
                p0,
                p1,
                sigma_b[sb_sl],
                sigma_w[sw_sl],
                with_correlation,
                n_threads,
                bar.callback,
                combo.keep_prob,
            )
            yield combo.index, sb_sl, sw_sl, block
