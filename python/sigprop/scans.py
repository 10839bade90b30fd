"""Phase-diagram scans over (activation, sigma_b, sigma_w) grids, as xarray Datasets.

Conventions: ``sigma_w`` and ``sigma_b`` are standard deviations; weights are
N(0, sigma_w^2 / fan_in) and biases N(0, sigma_b^2).

The compiled core sees flat arrays of cells; this module only broadcasts,
chunks, labels and stores. Every chunk is one ``_core.fixed_points`` call (the
GIL is released inside it), and every cell is computed independently of the
others, so results are bitwise identical for any ``n_threads`` and any chunking,
in memory, streamed to a file, or on a Dask cluster.

Needs the ``scan`` extra (xarray; dask, zarr, h5netcdf and tqdm for chunked
Dask scans, output files and progress bars): ``pip install 'sigprop[scan]'``.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from . import _core
from ._validation import resolve_n_threads, sigma
from .activations import Activation, activation, is_builtin_name
from .eoc import EOC_KINDS, eoc
from .meanfield import EDGE_TOL, STATUS

if TYPE_CHECKING:  # pragma: no cover
    import xarray

__all__ = [
    "NOT_COMPUTED",
    "PHASES",
    "activation_from_label",
    "activation_label",
    "eoc_curve",
    "phase_codes",
    "scan",
]

#: Phase codes of :func:`scan` (index = code). "marginal": every q is a fixed
#: point and chi1 is undefined; "failed": the fixed point was not found.
PHASES: tuple[str, ...] = ("ordered", "chaotic", "edge", "divergent", "marginal", "failed")

#: Code of a cell that a partial output store does not hold yet (an interrupted
#: ``scan(out=...)``): the fill value of ``status``, ``phase`` and
#: ``iterations``; the float variables are NaN there. No computed cell takes it.
NOT_COMPUTED: int = -1

_FLOAT_VARS = ("q_star", "chi1", "slope", "c_star", "chi_c", "xi_q", "xi_c", "beta_q")
_CORRELATION_VARS = ("c_star", "chi_c", "xi_c")
_INT_VARS = {"status": np.int8, "phase": np.int8, "iterations": np.int32}

_CONVENTIONS = (
    "sigma_w and sigma_b are standard deviations: weights W_ij ~ N(0, sigma_w^2 / fan_in), "
    "biases b_i ~ N(0, sigma_b^2); q is the variance of a pre-activation"
)

_VAR_ATTRS: dict[str, dict[str, Any]] = {
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
        "flag_values": np.arange(NOT_COMPUTED, len(STATUS), dtype=np.int8),
        "flag_meanings": " ".join(("not_computed", *STATUS)),
    },
    "phase": {
        "long_name": "phase of the (sigma_b, sigma_w) cell",
        "flag_values": np.arange(NOT_COMPUTED, len(PHASES), dtype=np.int8),
        "flag_meanings": " ".join(("not_computed", *PHASES)),
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


def _need(module: str, what: str = "scan()", extra: str = "scan") -> Any:
    """Import an optional dependency or raise ImportError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{what} needs {module.split('.')[0]}: pip install 'sigprop[{extra}]'"
        ) from exc


# ----------------------------------------------------------------------------- cells


@dataclass(frozen=True)
class _Combo:
    """One activation with fixed parameters: a (activation, params...) index."""

    index: tuple[int, ...]
    act: Activation


def _activation_list(activations) -> list[str | Activation]:
    if isinstance(activations, (str, Activation)):
        return [activations]
    try:
        acts = list(activations)
    except TypeError:
        raise TypeError(
            f"activations must be a name, an Activation or a sequence of them, got {activations!r}"
        ) from None
    if not acts:
        raise ValueError("activations must not be empty")
    return acts


def _grid(values, name: str) -> np.ndarray:
    arr = np.atleast_1d(sigma(values, name))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty scalar or 1-d array, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def _combos(activations, params) -> tuple[list[str], dict[str, np.ndarray], list[_Combo]]:
    """Labels, parameter coordinates and the activation for every combination."""
    acts = _activation_list(activations)
    params = dict(params or {})
    pcoords: dict[str, np.ndarray] = {}
    for pname, vals in params.items():
        if not isinstance(pname, str) or pname in ("activation", "sigma_b", "sigma_w"):
            raise ValueError(f"params keys must be parameter names, got {pname!r}")
        arr = np.atleast_1d(np.asarray(vals, dtype=np.float64))
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"params[{pname!r}] must be a non-empty 1-d sequence, got {vals!r}")
        pcoords[pname] = arr
    labels: list[str] = []
    combos: list[_Combo] = []
    for i, a in enumerate(acts):
        if params and isinstance(a, Activation):
            raise ValueError(
                f"params given with an Activation object {a}; pass the activation by name"
            )
        if params:
            if not isinstance(a, str):
                raise ValueError(
                    f"params given with {a!r}; pass the activation by name or as an expression"
                )
            labels.append(Activation(a).name if is_builtin_name(a) else a.strip())
            base = None
        else:
            base = activation(a)
            labels.append(activation_label(base) if is_builtin_name(base.name) else str(base))
        for idx in itertools.product(*(range(v.size) for v in pcoords.values())):
            kw = {p: float(pcoords[p][j]) for p, j in zip(pcoords, idx, strict=True)}
            combos.append(_Combo((i, *idx), activation(a, **kw) if params else base))
    if len(set(labels)) != len(labels):
        raise ValueError(f"activations must be distinct, got {labels}")
    return labels, pcoords, combos


def _format_param(value: float) -> str:
    """Shortest text that parses back to exactly ``value`` (``1.0`` -> ``"1"``)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def activation_label(act: str | Activation) -> str:
    """The Dataset label of an activation, e.g. ``"elu(alpha=0.5000001)"``.

    Parameters are written with the shortest decimal text that reads back as
    the same double, so ``activation_from_label(activation_label(a))`` has
    exactly the parameters of ``a``.

    Parameters
    ----------
    act : str or Activation

    Returns
    -------
    str
    """
    a = activation(act)
    if not a.params:
        return a.name
    inner = ", ".join(f"{k}={_format_param(v)}" for k, v in a.params.items())
    return f"{a.name}({inner})"


def activation_from_label(label: str) -> Activation:
    """The Activation of a Dataset label such as ``"leaky_relu(negative_slope=0.2)"``.

    Parameters
    ----------
    label : str
        An ``activation`` coordinate value of a :func:`scan` or :func:`eoc_curve` Dataset.

    Returns
    -------
    Activation
    """
    label = str(label).strip()
    if "(" not in label:
        return activation(label)
    head = label.split("(", 1)[0].strip()
    if not is_builtin_name(head):
        # an expression, possibly followed by its parameters: "x*sigmoid(b*x)(b=1.5)"
        m = re.fullmatch(r"(.*\))\(((?:\s*[A-Za-z_]\w*\s*=\s*[^,()=]+,?)+)\)", label)
        if m is None:
            return activation(label)
        kw = {}
        for part in filter(None, (p.strip() for p in m.group(2).split(","))):
            key, _, val = part.partition("=")
            kw[key.strip()] = float(val)
        return activation(m.group(1), **kw)
    if not label.endswith(")"):
        raise ValueError(f"cannot parse activation label {label!r}")
    name, inner = label[:-1].split("(", 1)
    kw = {}
    for part in filter(None, (p.strip() for p in inner.split(","))):
        key, _, val = part.partition("=")
        try:
            kw[key.strip()] = float(val)
        except ValueError:
            raise ValueError(f"cannot parse activation label {label!r}") from None
    return activation(name.strip(), **kw)


def phase_codes(chi1: ArrayLike, status: ArrayLike) -> np.ndarray:
    """Phase codes (see :data:`PHASES`) from chi1 and the fixed-point status.

    Parameters
    ----------
    chi1 : array_like
        chi1 = sigma_w^2 E[phi'(sqrt(q*) Z)^2].
    status : array_like of int
        Fixed-point status codes (see :data:`sigprop.STATUS`).

    Returns
    -------
    numpy.ndarray of int8
        0 ordered (chi1 < 1), 1 chaotic (chi1 > 1), 2 edge (|chi1 - 1| <= 1e-12),
        3 divergent (q -> inf), 4 marginal (every q fixed, chi1 undefined),
        5 failed (not converged, or chi1 not finite).
    """
    chi = np.asarray(chi1, dtype=np.float64)
    st = np.asarray(status)
    out = np.full(np.broadcast(chi, st).shape, PHASES.index("failed"), dtype=np.int8)
    with np.errstate(invalid="ignore"):
        out[chi < 1 - EDGE_TOL] = PHASES.index("ordered")
        out[chi > 1 + EDGE_TOL] = PHASES.index("chaotic")
        out[np.abs(chi - 1) <= EDGE_TOL] = PHASES.index("edge")
    out[(st == STATUS.index("marginal")) & ~np.isfinite(chi)] = PHASES.index("marginal")
    out[st == STATUS.index("not_converged")] = PHASES.index("failed")
    out[st == STATUS.index("diverging")] = PHASES.index("divergent")
    return out


def _canonical_nan(arr: np.ndarray) -> np.ndarray:
    """Replace every NaN (any sign or payload) by the default quiet NaN, in place.

    NaNs from the core can carry either sign depending on the operation that
    made them; canonical ones make stores compare bytewise.
    """
    if arr.dtype.kind == "f":
        arr[np.isnan(arr)] = np.nan
    return arr


def _compute_cells(
    kind: int,
    p0: float,
    p1: float,
    sigma_b: np.ndarray,
    sigma_w: np.ndarray,
    with_correlation: bool,
    n_threads: int | None,
    progress=None,
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
    )
    out = {k: _canonical_nan(np.asarray(v)) for k, v in res.items()}
    for name, dt in _INT_VARS.items():
        if name in out:
            out[name] = out[name].astype(dt)
    out["phase"] = phase_codes(out["chi1"], out["status"])
    return out


def _compute_block(
    kind: int,
    p0: float,
    p1: float,
    sigma_b: np.ndarray,
    sigma_w: np.ndarray,
    with_correlation: bool,
    n_threads: int | None,
    progress=None,
) -> dict[str, np.ndarray]:
    """All variables on the (len(sigma_b), len(sigma_w)) tile: one core call."""
    sb2, sw2 = np.meshgrid(sigma_b, sigma_w, indexing="ij")
    res = _compute_cells(kind, p0, p1, sb2, sw2, with_correlation, n_threads, progress)
    return {k: v.reshape(sb2.shape) for k, v in res.items()}


def _variables(with_correlation: bool) -> list[str]:
    """Variable names; ``status`` last, so that a cell whose status is written
    has every other variable written (partial stores, resume)."""
    floats = [v for v in _FLOAT_VARS if with_correlation or v not in _CORRELATION_VARS]
    return [*floats, "phase", "iterations", "status"]


def _tile_shape(nb: int, nw: int, chunk_cells: int) -> tuple[int, int]:
    """(rows, cols) of the row-major tiles of at most chunk_cells cells."""
    if nw <= chunk_cells:
        return min(nb, max(1, chunk_cells // nw)), nw
    return 1, chunk_cells


def _tiles(
    nb: int, nw: int, chunk_cells: int, shape: tuple[int, int] | None = None
) -> list[tuple[slice, slice]]:
    """Row-major tiles of at most chunk_cells cells (or of ``shape``) covering nb x nw."""
    rows, cols = shape if shape is not None else _tile_shape(nb, nw, chunk_cells)
    return [
        (slice(i, min(i + rows, nb)), slice(j, min(j + cols, nw)))
        for i in range(0, nb, rows)
        for j in range(0, nw, cols)
    ]


def _dims(pcoords: Mapping[str, np.ndarray]) -> tuple[str, ...]:
    return ("activation", *pcoords, "sigma_b", "sigma_w")


def _attrs(kind: str, with_correlation: bool, pcoords) -> dict[str, Any]:
    from . import __version__

    attrs = {
        "title": f"sigprop {kind}",
        "Conventions": "CF-1.10",
        "sigprop_conventions": _CONVENTIONS,
        "sigprop_version": __version__,
        "source": f"sigprop {__version__} (mean-field theory, compiled core)",
    }
    if kind == "scan":
        attrs["with_correlation"] = int(bool(with_correlation))
    if pcoords:
        attrs["scanned_parameters"] = " ".join(pcoords)
    return attrs


def _coords(labels, pcoords, sigma_b, sigma_w) -> dict[str, Any]:
    coords: dict[str, Any] = {
        "activation": ("activation", np.array(labels, dtype=object), _COORD_ATTRS["activation"])
    }
    for p, v in pcoords.items():
        coords[p] = (p, v, {"long_name": f"activation parameter {p}"})
    coords["sigma_b"] = ("sigma_b", sigma_b, _COORD_ATTRS["sigma_b"])
    coords["sigma_w"] = ("sigma_w", sigma_w, _COORD_ATTRS["sigma_w"])
    return coords


def _progress(total: int, progress: bool | None, desc: str):
    """A tqdm bar (or a no-op) counting cells."""
    if progress is None:
        progress = bool(getattr(sys.stderr, "isatty", lambda: False)())
    if not progress:
        return _NoBar()
    tqdm = _need("tqdm", "a progress bar").tqdm
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


def _iter_chunks(
    combos: Sequence[_Combo],
    sigma_b: np.ndarray,
    sigma_w: np.ndarray,
    with_correlation: bool,
    n_threads: int | None,
    chunk_cells: int,
    bar,
) -> Iterator[tuple[tuple[int, ...], slice, slice, dict[str, np.ndarray]]]:
    tiles = _tiles(sigma_b.size, sigma_w.size, chunk_cells)
    for combo in combos:
        p0, p1 = combo.act.core_params
        for sb_sl, sw_sl in tiles:
            block = _compute_block(
                combo.act.kind,
                p0,
                p1,
                sigma_b[sb_sl],
                sigma_w[sw_sl],
                with_correlation,
                n_threads,
                bar.callback,
            )
            yield combo.index, sb_sl, sw_sl, block


# ----------------------------------------------------------------------------- scan


def scan(
    activations: str | Activation | Sequence[str | Activation],
    sigma_b: ArrayLike,
    sigma_w: ArrayLike,
    *,
    params: Mapping[str, Sequence[float]] | None = None,
    with_correlation: bool = True,
    n_threads: int | None = None,
    chunk_cells: int = 1 << 18,
    progress: bool | None = None,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    resume: bool = False,
    chunks: Mapping[str, int] | None = None,
) -> xarray.Dataset:
    """Phase diagram: fixed point, chi1, phase and depth scales on a labelled grid.

    Every cell (activation, [parameters], sigma_b, sigma_w) is computed by the
    compiled fixed-point solver (see :func:`sigprop.fixed_point`): q* is the
    limit of the variance map from q -> 0+, chi1 = sigma_w^2 E[phi'(sqrt(q*) Z)^2].

    Parameters
    ----------
    activations : str, Activation, callable or sequence of them
        Activations to scan (the ``activation`` dimension, labelled by name, e.g.
        ``"leaky_relu(negative_slope=0.2)"``).
    sigma_b, sigma_w : array_like, 1-d
        Bias and weight **standard deviations** (b ~ N(0, sigma_b^2),
        W ~ N(0, sigma_w^2 / fan_in)); the grid is their outer product.
    params : dict, optional
        Activation parameters to scan as further dimensions, e.g.
        ``{"a": [0.5, 1, 2]}`` for ``hard_tanh``; every activation must accept
        every parameter, and must then be given by name.
    with_correlation : bool
        Also compute c*, chi_c and xi_c (costs bivariate expectations in the
        chaotic phase); without it those variables are left out.
    n_threads : int or None
        OpenMP threads per core call (scikit-learn convention; ``None``: all).
    chunk_cells : int
        Cells per write when streaming (and per ``scan`` tile). Whatever its
        value, the core checks for Ctrl-C and updates the progress bar every
        ~20-50 ms of work.
    progress : bool or None
        tqdm progress bar; ``None`` shows one when stderr is a terminal.
    out : str, bytes or path-like, optional
        Stream the result chunk by chunk to a netCDF-4 (``.nc``, via h5netcdf)
        or Zarr (``.zarr``) store in bounded memory, and return the store
        opened lazily. The parent directory must exist. The store is written
        under a temporary name (``NAME.partial.nc`` / ``NAME.partial.zarr``
        beside ``out``) and renamed to ``out`` only when every cell is written.
        If the scan is interrupted (Ctrl-C, SIGTERM, an error), the partial
        store stays: it has the attribute ``sigprop_complete = 0``, and its
        cells not yet computed have ``status`` = ``phase`` = ``iterations`` =
        :data:`NOT_COMPUTED` (-1, flag meaning "not_computed") and NaN floats.
    overwrite : bool
        Replace an existing ``out`` (or discard an existing partial store). The
        old store is removed only after the new one is complete, and only if
        it is a store sigprop wrote. Without ``overwrite`` an existing ``out``
        raises FileExistsError.
    resume : bool
        Finish the partial store of an interrupted scan with the same
        arguments, computing only the cells it does not hold (its tiling is
        reused); return ``out`` unchanged if it is already complete with the
        same grid; start afresh if neither exists.
    chunks : dict, optional
        Return a lazy, dask-backed Dataset instead, chunked as given over
        ``sigma_b`` and ``sigma_w`` (e.g. ``{"sigma_b": 256, "sigma_w": 256}``);
        each block is one core call, run when computed (also on a
        ``dask.distributed`` cluster). Cannot be combined with ``out`` (call
        ``.to_zarr`` on the result instead).

    Returns
    -------
    xarray.Dataset
        Dimensions ``(activation, *params, sigma_b, sigma_w)``; float variables
        q_star, chi1, slope (V'(q*)), c_star, chi_c, xi_q, xi_c, beta_q; int
        variables status (see :data:`sigprop.STATUS`), phase (see
        :data:`PHASES`; CF ``flag_values``/``flag_meanings``) and iterations.
        Where a quantity does not exist it is NaN or inf, never a plausible
        number.

    Raises
    ------
    ImportError
        Without the optional dependencies: ``pip install 'sigprop[scan]'``.
    FileExistsError
        ``out`` (or its partial store) exists and neither ``overwrite`` nor
        ``resume`` is given.
    FileNotFoundError, NotADirectoryError, IsADirectoryError
        The parent directory of ``out`` is missing, or ``out`` has the wrong
        kind (a ``.nc`` that is a directory, a ``.zarr`` that is a file).
    ValueError
        ``resume=True`` on a store of a different scan, ``overwrite=True`` on
        a path that is not a store sigprop wrote.

    Examples
    --------
    >>> import numpy as np, sigprop.scans as ss
    >>> ds = ss.scan("relu", [0.0, 0.5], [1.0, 2.0], progress=False)
    >>> float(ds.chi1.sel(activation="relu", sigma_b=0.5, sigma_w=1.0))
    0.5
    """
    xr = _need("xarray")
    sb = _grid(sigma_b, "sigma_b")
    sw = _grid(sigma_w, "sigma_w")
    if isinstance(chunk_cells, bool) or not isinstance(chunk_cells, (int, np.integer)):
        raise TypeError(f"chunk_cells must be an int, got {chunk_cells!r}")
    if chunk_cells < 1:
        raise ValueError(f"chunk_cells must be >= 1, got {chunk_cells!r}")
    if n_threads is not None:
        resolve_n_threads(n_threads)  # validate early
    labels, pcoords, combos = _combos(activations, params)
    if out is not None and chunks is not None:
        raise ValueError("give either out or chunks, not both")
    for flag, val in (("overwrite", overwrite), ("resume", resume)):
        if not isinstance(val, (bool, np.bool_)):
            raise TypeError(f"{flag} must be a bool, got {val!r}")
    if (overwrite or resume) and out is None:
        raise ValueError("overwrite and resume apply to out=...; no out given")
    if overwrite and resume:
        raise ValueError("give either overwrite=True or resume=True, not both")
    if chunks is not None:
        return _scan_dask(labels, pcoords, combos, sb, sw, with_correlation, n_threads, chunks)
    if out is not None:
        return _scan_stream(
            labels,
            pcoords,
            combos,
            sb,
            sw,
            with_correlation,
            n_threads,
            int(chunk_cells),
            progress,
            _out_path(out),
            bool(overwrite),
            bool(resume),
        )
    dims = _dims(pcoords)
    shape = (len(labels), *(v.size for v in pcoords.values()), sb.size, sw.size)
    names = _variables(with_correlation)
    data = {n: np.empty(shape, dtype=_INT_VARS.get(n, np.float64)) for n in names}
    with _progress(len(combos) * sb.size * sw.size, progress, "sigprop scan") as bar:
        try:
            for idx, sb_sl, sw_sl, block in _iter_chunks(
                combos, sb, sw, with_correlation, n_threads, int(chunk_cells), bar
            ):
                for n in names:
                    data[n][(*idx, sb_sl, sw_sl)] = block[n]
        finally:
            bar.close()
    return xr.Dataset(
        {n: (dims, data[n], _VAR_ATTRS[n]) for n in names},
        coords=_coords(labels, pcoords, sb, sw),
        attrs={**_attrs("scan", with_correlation, pcoords), "sigprop_complete": 1},
    )


# ----------------------------------------------------------------------------- streaming


def _out_path(out: Any) -> str:
    """``out`` as a str path (str, bytes or os.PathLike), or TypeError."""
    try:
        path = os.fspath(out)
    except TypeError:
        raise TypeError(f"out must be a path (str, bytes or os.PathLike), got {out!r}") from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path.strip():
        raise ValueError("out must be a non-empty path")
    return path


def _store_format(path: str, what: str = "out") -> str:
    """'zarr' or 'nc' from the extension of ``path``."""
    lower = path.lower().rstrip("/\\")
    if lower.endswith(".zarr"):
        return "zarr"
    if lower.endswith((".nc", ".nc4", ".h5", ".hdf5")):
        return "nc"
    raise ValueError(f"{what} must end in .nc or .zarr, got {path!r}")


def _partial_path(path: str) -> str:
    """Where a scan streams before it is complete: ``d.nc`` -> ``d.partial.nc``."""
    stem, ext = os.path.splitext(path.rstrip("/\\") or path)
    return f"{stem}.partial{ext}"


def _check_kind(path: str, fmt: str, what: str = "out") -> None:
    """One behaviour for every path: the parent must exist; the kind must match."""
    parent = os.path.dirname(os.path.abspath(path.rstrip("/\\") or path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"{what} {path!r}: directory {parent!r} does not exist")
    if fmt == "zarr":
        if os.path.exists(path) and not os.path.isdir(path):
            raise NotADirectoryError(f"{what} {path!r} is a file, not a Zarr store (a directory)")
    elif os.path.isdir(path):
        raise IsADirectoryError(f"{what} {path!r} is a directory, not a {fmt} file")


_ZARR_META = {"zarr.json", ".zattrs", ".zgroup", ".zmetadata"}


def _is_sigprop_store(path: str, fmt: str) -> bool:
    """True if ``path`` is a store that sigprop wrote and holds nothing else."""
    import json

    try:
        if fmt != "zarr":
            h5py = _need("h5py", "scan(out='*.nc')")
            with h5py.File(path, "r") as f:
                return "sigprop_version" in f.attrs
        if os.path.isfile(os.path.join(path, "zarr.json")):
            with open(os.path.join(path, "zarr.json")) as fh:
                attrs = json.load(fh).get("attributes", {})
        else:
            with open(os.path.join(path, ".zattrs")) as fh:
                attrs = json.load(fh)
        if "sigprop_version" not in attrs:
            return False
        for entry in os.listdir(path):
            full = os.path.join(path, entry)
            if entry in _ZARR_META:
                continue
            is_array = os.path.isdir(full) and any(
                os.path.isfile(os.path.join(full, m)) for m in ("zarr.json", ".zarray")
            )
            if not is_array:
                return False
        return True
    except (OSError, ValueError):
        return False


def _require_sigprop_store(path: str, fmt: str) -> None:
    """ValueError unless ``path`` is a store sigprop wrote (and nothing else)."""
    if not _is_sigprop_store(path, fmt):
        raise ValueError(
            f"refusing to replace {path!r}: it is not a store written by sigprop "
            "(or it holds other files); move it away or choose another path"
        )


def _remove_store(path: str, fmt: str) -> None:
    """Delete a store sigprop wrote; ValueError (nothing deleted) for anything else."""
    import shutil

    _require_sigprop_store(path, fmt)
    if os.path.isdir(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def _open_store(xr, path: str, fmt: str):
    if fmt == "zarr":
        return xr.open_zarr(path, consolidated=False)
    return xr.open_dataset(path, engine="h5netcdf", chunks={})


def _mismatch(xr, path, fmt, labels, pcoords, sb, sw, names) -> str | None:
    """Why the store at ``path`` does not hold this scan (None if it does)."""
    try:
        ds = _open_store(xr, path, fmt)
    except Exception as exc:  # unreadable: not ours to resume
        return f"an unreadable store ({type(exc).__name__}: {exc})"
    try:
        if set(ds.data_vars) != set(names):
            return f"variables {sorted(ds.data_vars)}, not {sorted(names)}"
        if tuple(ds["status"].dims) != _dims(pcoords):
            return f"dimensions {ds['status'].dims}, not {_dims(pcoords)}"
        if [str(a) for a in ds["activation"].values] != list(labels):
            return f"activations {[str(a) for a in ds['activation'].values]}, not {list(labels)}"
        for name, want in (*pcoords.items(), ("sigma_b", sb), ("sigma_w", sw)):
            if not np.array_equal(np.asarray(ds[name].values), want):
                return f"another {name} grid"
        return None
    finally:
        ds.close()


def _is_complete(xr, path: str, fmt: str) -> bool:
    ds = _open_store(xr, path, fmt)
    try:
        return int(ds.attrs.get("sigprop_complete", 0)) == 1
    finally:
        ds.close()


class _SigtermRaises:
    """While active (main thread, SIGTERM at its default), SIGTERM raises SystemExit(143).

    The default action kills the process at once, leaving a netCDF file
    without its computed cells; as an exception it unwinds like Ctrl-C, so the
    store is flushed and closed (and stays resumable). The core notices the
    signal between blocks of cells, within ~50 ms.
    """

    def __enter__(self):
        import signal
        import threading

        self.old = None
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGTERM"):
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:

                def handler(signum, frame):
                    raise SystemExit(128 + signum)

                self.old = signal.signal(signal.SIGTERM, handler)
        return self

    def __exit__(self, *exc) -> None:
        import signal

        if self.old is not None:
            signal.signal(signal.SIGTERM, self.old)


class _DeferSignals:
    """Hold SIGINT and SIGTERM while one tile is written (a few ms), then deliver them.

    So a tile is either wholly in the store or not at all: a cell whose
    ``status`` reads "not_computed" has NaN floats, never half-written values.
    Only in the main thread (where Python runs signal handlers).
    """

    def __enter__(self):
        import signal
        import threading

        self.old = {}
        self.pending: list[int] = []
        if threading.current_thread() is not threading.main_thread():
            return self
        for name in ("SIGINT", "SIGTERM"):
            sig = getattr(signal, name, None)
            if sig is not None:
                self.old[sig] = signal.signal(
                    sig, lambda signum, frame: self.pending.append(signum)
                )
        return self

    def __exit__(self, *exc) -> None:
        import signal

        for sig, handler in self.old.items():
            signal.signal(sig, handler)
        for sig in self.pending:
            signal.raise_signal(sig)


def _scan_stream(
    labels,
    pcoords,
    combos,
    sb,
    sw,
    with_correlation,
    n_threads,
    chunk_cells,
    progress,
    path,
    overwrite,
    resume,
):
    xr = _need("xarray")
    fmt = _store_format(path)
    writer = _ZarrWriter if fmt == "zarr" else _NetCDFWriter
    writer.check_dependencies()
    partial = _partial_path(path)
    _check_kind(path, fmt)
    _check_kind(partial, fmt, "partial store")
    names = _variables(with_correlation)
    spec = (labels, pcoords, sb, sw, names)
    if os.path.exists(path):
        if resume:
            why = _mismatch(xr, path, fmt, *spec)
            if why is None and _is_complete(xr, path, fmt):
                return _open_store(xr, path, fmt)
            raise ValueError(
                f"cannot resume into out {path!r}: it holds {why or 'an incomplete store'}; "
                "pass overwrite=True (sigprop scan --force) to replace it"
            )
        if not overwrite:
            raise FileExistsError(
                f"out {path!r} exists; pass overwrite=True (sigprop scan --force) to replace it"
            )
        _require_sigprop_store(path, fmt)  # refuse now, before computing anything
    w = None
    if os.path.exists(partial):
        if resume:
            why = _mismatch(xr, partial, fmt, *spec)
            if why is not None:
                raise ValueError(
                    f"cannot resume from the partial store {partial!r}: it holds {why}; "
                    "pass overwrite=True (sigprop scan --force) to start again"
                )
            w = writer.reopen(partial, names)
        elif overwrite:
            _remove_store(partial, fmt)
        else:
            raise FileExistsError(
                f"an interrupted scan left the partial store {partial!r}; pass resume=True "
                "(sigprop scan --resume) to finish it, or overwrite=True (--force) to start again"
            )
    if w is None:
        tile_shape = _tile_shape(sb.size, sw.size, chunk_cells)
        w = writer(partial, labels, pcoords, sb, sw, names, tile_shape, with_correlation)
    tiles = _tiles(sb.size, sw.size, chunk_cells, w.tile_shape)
    try:
        with (
            _SigtermRaises(),
            _progress(len(combos) * sb.size * sw.size, progress, "sigprop scan") as bar,
        ):
            try:
                for combo in combos:
                    kind, (p0, p1) = combo.act.kind, combo.act.core_params
                    for sb_sl, sw_sl in tiles:
                        key = (combo.index, sb_sl, sw_sl)
                        if w.resumed:
                            missing = w.read_status(*key) == NOT_COMPUTED
                            bar.update(int(missing.size - missing.sum()))
                            if not missing.any():
                                continue
                            if not missing.all():
                                sb2, sw2 = np.meshgrid(sb[sb_sl], sw[sw_sl], indexing="ij")
                                cells = _compute_cells(
                                    kind,
                                    p0,
                                    p1,
                                    sb2[missing],
                                    sw2[missing],
                                    with_correlation,
                                    n_threads,
                                    bar.callback,
                                )
                                with _DeferSignals():
                                    w.write(*key, cells, missing)
                                continue
                        block = _compute_block(
                            kind,
                            p0,
                            p1,
                            sb[sb_sl],
                            sw[sw_sl],
                            with_correlation,
                            n_threads,
                            bar.callback,
                        )
                        with _DeferSignals():
                            w.write(*key, block)
                w.mark_complete()
            finally:
                bar.close()
    except BaseException as exc:
        if hasattr(exc, "add_note"):
            exc.add_note(
                f"sigprop: the partial store {partial!r} holds the cells computed so far; "
                "scan(..., resume=True) or `sigprop scan --resume` finishes it"
            )
        raise
    finally:
        w.close()
    if os.path.exists(path):
        _remove_store(path, fmt)  # overwrite=True; checked to be ours above
    os.replace(partial, path)
    return _open_store(xr, path, fmt)


def _fill(name: str):
    """Fill value: what an unwritten cell reads as (NaN, or NOT_COMPUTED for ints)."""
    return NOT_COMPUTED if name in _INT_VARS else np.nan


class _NetCDFWriter:
    """netCDF-4 file written tile by tile through h5netcdf, flushed after each tile."""

    @staticmethod
    def check_dependencies() -> None:
        _need("xarray")
        _need("h5netcdf", "scan(out='*.nc')")

    def __init__(self, path, labels, pcoords, sb, sw, names, tile_shape, with_correlation):
        import h5netcdf

        xr = _need("xarray")
        coords = xr.Dataset(
            coords=_coords(labels, pcoords, sb, sw),
            attrs={**_attrs("scan", with_correlation, pcoords), "sigprop_complete": 0},
        )
        coords.to_netcdf(path, engine="h5netcdf")
        self.f = h5netcdf.File(path, "a")
        self.resumed = False
        self.tile_shape = tuple(tile_shape)
        dims = _dims(pcoords)
        chunk = (*(1,) * (len(dims) - 2), *tile_shape)
        self.vars = {}
        for n in names:
            dt = np.dtype(_INT_VARS.get(n, np.float64))
            v = self.f.create_variable(
                n,
                dims,
                dtype=dt,
                chunks=chunk,
                fillvalue=_fill(n),
                compression="gzip" if dt.kind == "i" else None,
            )
            if dt.kind == "i":
                # HDF5 fill value -1 (unwritten cells read "not_computed"), but no CF
                # _FillValue: it would make xarray decode the flags as floats.
                del v.attrs["_FillValue"]
            for k, val in _VAR_ATTRS[n].items():
                v.attrs[k] = val
            self.vars[n] = v
        self.f.flush()

    @classmethod
    def reopen(cls, path, names):
        import h5netcdf

        self = cls.__new__(cls)
        self.f = h5netcdf.File(path, "a")
        self.resumed = True
        self.vars = {n: self.f.variables[n] for n in names}
        self.tile_shape = tuple(self.vars["status"].chunks[-2:])
        return self

    def read_status(self, idx, sb_sl, sw_sl) -> np.ndarray:
        return np.asarray(self.vars["status"][(*idx, sb_sl, sw_sl)])

    def write(self, idx, sb_sl, sw_sl, block, mask=None):
        sel = (*idx, sb_sl, sw_sl)
        for n, v in self.vars.items():  # status last (see _variables)
            if mask is None:
                v[sel] = block[n]
            else:
                cur = np.asarray(v[sel])
                cur[mask] = block[n]
                v[sel] = cur
        self.f.flush()

    def mark_complete(self):
        self.f.attrs["sigprop_complete"] = 1
        self.f.flush()

    def close(self):
        self.f.close()


class _ZarrWriter:
    """Zarr store: metadata first (from a lazy template), then tile writes."""

    @staticmethod
    def check_dependencies() -> None:
        _need("xarray")
        _need("zarr", "scan(out='*.zarr')")
        _need("dask.array", "scan(out='*.zarr')")

    def __init__(self, path, labels, pcoords, sb, sw, names, tile_shape, with_correlation):
        import zarr

        xr = _need("xarray")
        da = _need("dask.array", "scan(out='*.zarr')")
        dims = _dims(pcoords)
        shape = (len(labels), *(v.size for v in pcoords.values()), sb.size, sw.size)
        chunk = (*(1,) * (len(dims) - 2), *tile_shape)
        data = {}
        encoding = {}
        for n in names:
            dt = np.dtype(_INT_VARS.get(n, np.float64))
            data[n] = (dims, da.full(shape, _fill(n), dtype=dt, chunks=chunk), _VAR_ATTRS[n])
            # Unwritten chunks read as the fill value; for the int flags it is the
            # Zarr fill_value only (no CF _FillValue, which would decode them as floats).
            encoding[n] = (
                {"chunks": chunk, "fill_value": NOT_COMPUTED}
                if dt.kind == "i"
                else {"chunks": chunk, "_FillValue": np.nan}
            )
        template = xr.Dataset(
            data,
            coords=_coords(labels, pcoords, sb, sw),
            attrs={**_attrs("scan", with_correlation, pcoords), "sigprop_complete": 0},
        )
        template.to_zarr(path, mode="w-", compute=False, encoding=encoding, consolidated=False)
        self.group = zarr.open_group(path, mode="r+")
        self.names = names
        self.resumed = False
        self.tile_shape = tuple(tile_shape)

    @classmethod
    def reopen(cls, path, names):
        import zarr

        self = cls.__new__(cls)
        self.group = zarr.open_group(path, mode="r+")
        self.names = names
        self.resumed = True
        self.tile_shape = tuple(self.group["status"].chunks[-2:])
        return self

    def read_status(self, idx, sb_sl, sw_sl) -> np.ndarray:
        return np.asarray(self.group["status"][(*idx, sb_sl, sw_sl)])

    def write(self, idx, sb_sl, sw_sl, block, mask=None):
        sel = (*idx, sb_sl, sw_sl)
        for n in self.names:  # status last (see _variables)
            arr = self.group[n]
            if mask is None:
                arr[sel] = block[n]
            else:
                cur = np.asarray(arr[sel])
                cur[mask] = block[n]
                arr[sel] = cur

    def mark_complete(self):
        self.group.attrs["sigprop_complete"] = 1

    def close(self):
        pass


# ----------------------------------------------------------------------------- dask


def _dask_block(sb, sw, *, act, with_correlation, n_threads, names):
    """Dask block function: (nvars, len(sb), len(sw)) stack of float64.

    The activation travels pickled (a user-defined one by its definition) and
    resolves to the core's (kind, p0, p1) in the worker's process."""
    p0, p1 = act.core_params
    block = _compute_block(act.kind, p0, p1, sb.ravel(), sw.ravel(), with_correlation, n_threads)
    return np.stack([block[n].astype(np.float64) for n in names])


def _scan_dask(labels, pcoords, combos, sb, sw, with_correlation, n_threads, chunks):
    xr = _need("xarray")
    da = _need("dask.array", "scan(chunks=...)")
    unknown = set(chunks) - {"activation", "sigma_b", "sigma_w", *pcoords}
    if unknown:
        raise ValueError(f"chunks may name sigma_b and sigma_w, got {sorted(unknown)}")
    cb = chunks.get("sigma_b", sb.size)
    cw = chunks.get("sigma_w", sw.size)
    for name, c in (("sigma_b", cb), ("sigma_w", cw)):
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 1:
            if c != -1:
                raise ValueError(f"chunks[{name!r}] must be a positive int or -1, got {c!r}")
    cb = sb.size if cb == -1 else int(cb)
    cw = sw.size if cw == -1 else int(cw)
    names = _variables(with_correlation)
    dsb = da.from_array(sb, chunks=cb)[:, None]
    dsw = da.from_array(sw, chunks=cw)[None, :]
    stacks = {}
    for combo in combos:
        stacks[combo.index] = da.map_blocks(
            _dask_block,
            dsb,
            dsw,
            act=combo.act,
            with_correlation=bool(with_correlation),
            n_threads=n_threads,
            names=tuple(names),
            new_axis=0,
            chunks=((len(names),), dsb.chunks[0], dsw.chunks[1]),
            dtype=np.float64,
            meta=np.empty((0, 0, 0), dtype=np.float64),
            name=f"sigprop-scan-{combo.act!s}",
        )
    lead_shape = (len(labels), *(v.size for v in pcoords.values()))

    def assemble(prefix: tuple[int, ...]):
        # nested da.stack over the leading (activation, params...) dimensions
        if len(prefix) == len(lead_shape):
            return stacks[prefix]
        return da.stack([assemble((*prefix, i)) for i in range(lead_shape[len(prefix)])], axis=1)

    full = assemble(())  # (nvars, activation, *params, sigma_b, sigma_w)
    dims = _dims(pcoords)
    data = {}
    for i, n in enumerate(names):
        arr = full[i]
        if n in _INT_VARS:
            arr = arr.astype(_INT_VARS[n])
        data[n] = (dims, arr, _VAR_ATTRS[n])
    return xr.Dataset(
        data,
        coords=_coords(labels, pcoords, sb, sw),
        attrs=_attrs("scan", with_correlation, pcoords),
    )


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
    xr = _need("xarray", "eoc_curve()")
    sb = _grid(sigma_b, "sigma_b")
    labels, pcoords, combos = _combos(activations, params)
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
        k = min(width, r.sigma_w.shape[-1])
        sw[idx][:, :k] = r.sigma_w[:, :k]
        q[idx][:, :k] = r.q_star[:, :k]
        slope[idx][:, :k] = r.slope[:, :k]
        kind[idx][:, :k] = r.kind[:, :k]
        nbr[idx] = r.n_branches
    with np.errstate(invalid="ignore"):
        stable = slope < 1.0
    dims = (*_dims(pcoords)[:-1], "branch")
    dims_nb = dims[:-1]
    coords = _coords(labels, pcoords, sb, np.zeros(0))
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
        attrs=_attrs("eoc_curve", True, pcoords),
    )
