"""Phase-diagram scans over (activation, sigma_w, sigma_b) grids, as xarray Datasets.

Conventions: ``sigma_w`` and ``sigma_b`` are standard deviations; weights are
N(0, sigma_w^2 / fan_in) and biases N(0, sigma_b^2).

The compiled core sees flat arrays of cells; this package only broadcasts,
chunks, labels and stores. Needs the ``scan`` extra (xarray; dask, zarr, h5netcdf and
tqdm for chunked Dask scans, output files and progress bars): ``pip install ".[scan]"``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .._optional import need
from .._validation import resolve_n_threads
from ..theory.activations import Activation
from ._cells import (
    INT_VARS,
    VAR_ATTRS,
    dataset_attrs,
    dataset_coords,
    dataset_dims,
    iter_chunks,
    output_variables,
    progress_bar,
)
from ._dask import scan_dask
from ._stores import out_path, scan_stream
from .labels import activation_combos, grid_axis

__all__ = ["scan"]

if TYPE_CHECKING:  # pragma: no cover
    import xarray


# ----------------------------------------------------------------------------- scan


def scan(
    activations: str | Activation | Sequence[str | Activation],
    *args: Any,
    sigma_w: ArrayLike | None = None,
    sigma_b: ArrayLike | None = None,
    params: Mapping[str, Sequence[float]] | None = None,
    keep_prob: ArrayLike | None = None,
    correlation: bool = True,
    n_threads: int | None = None,
    chunk_cells: int = 1 << 18,
    progress: bool | None = None,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    resume: bool = False,
    chunks: Mapping[str, int] | None = None,
    with_correlation: bool | None = None,
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
    sigma_w, sigma_b : array_like, 1-d, keyword-only
        Weight and bias **standard deviations** (W ~ N(0, sigma_w^2 / fan_in),
        b ~ N(0, sigma_b^2)); the grid is their outer product. Keyword-only, so that
        a call written for sigprop 0.1 (``scan(acts, sigma_b, sigma_w)``) raises
        instead of swapping the axes.
    params : dict, optional
        Activation parameters to scan as further dimensions, e.g.
        ``{"a": [0.5, 1, 2]}`` for ``hard_tanh``; every activation must accept
        every parameter, and must then be given by name.
    keep_prob : array_like, optional
        Dropout keep probabilities rho in (0, 1] to scan as a ``keep_prob``
        dimension after the parameters (see :func:`sigprop.fixed_point`: the
        variance map takes sigma_w^2 / rho, the correlation map sigma_w^2, so
        c* < 1 and xi_c is finite for rho < 1; Schoenholz et al. 2017).
    correlation : bool
        Also compute c*, chi_c and xi_c (costs bivariate expectations in the
        chaotic phase); without it those variables are left out.
    n_threads : int or None
        OpenMP threads per core call (scikit-learn convention; ``None``: all).
    chunk_cells : int
        Cells per write when streaming (and per ``scan`` tile). Whatever its
        value, the core checks for Ctrl-C and updates the progress bar every
        ~30 ms of work.
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
        :attr:`sigprop.Status.not_computed` (-1) and NaN floats.
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
        Dimensions ``(activation, *params, [keep_prob,] sigma_b, sigma_w)``; float variables
        q_star, chi1, slope (V'(q*)), c_star, chi_c, xi_q, xi_c, beta_q; int
        variables status (:class:`sigprop.Status`), phase
        (:class:`sigprop.Phase`; CF ``flag_values``/``flag_meanings``) and iterations.
        Where a quantity does not exist it is NaN or inf, never a plausible
        number.

    Raises
    ------
    ImportError
        Without the optional dependencies: ``pip install ".[scan]"``.
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
    >>> ds = ss.scan("relu", sigma_w=[1.0, 2.0], sigma_b=[0.0, 0.5], progress=False)
    >>> float(ds.chi1.sel(activation="relu", sigma_b=0.5, sigma_w=1.0))
    0.5
    """
    xr = need("xarray")
    if args:
        raise TypeError(
            "scan() takes the grid axes by keyword since sigprop 0.2: "
            "scan(activations, sigma_w=..., sigma_b=...)"
        )
    if sigma_w is None or sigma_b is None:
        raise TypeError("scan() needs both sigma_w=... and sigma_b=...")
    if with_correlation is not None:
        warnings.warn(
            "scan(with_correlation=...) is renamed correlation=... in sigprop 0.2",
            DeprecationWarning,
            stacklevel=2,
        )
        correlation = bool(with_correlation)
    with_correlation = correlation
    sb = grid_axis(sigma_b, "sigma_b")
    sw = grid_axis(sigma_w, "sigma_w")
    if isinstance(chunk_cells, bool) or not isinstance(chunk_cells, (int, np.integer)):
        raise TypeError(f"chunk_cells must be an int, got {chunk_cells!r}")
    if chunk_cells < 1:
        raise ValueError(f"chunk_cells must be >= 1, got {chunk_cells!r}")
    if n_threads is not None:
        resolve_n_threads(n_threads)  # validate early
    labels, pcoords, combos = activation_combos(activations, params, keep_prob)
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
        return scan_dask(labels, pcoords, combos, sb, sw, with_correlation, n_threads, chunks)
    if out is not None:
        return scan_stream(
            labels,
            pcoords,
            combos,
            sb,
            sw,
            with_correlation,
            n_threads,
            int(chunk_cells),
            progress,
            out_path(out),
            bool(overwrite),
            bool(resume),
        )
    dims = dataset_dims(pcoords)
    shape = (len(labels), *(v.size for v in pcoords.values()), sb.size, sw.size)
    names = output_variables(with_correlation)
    data = {n: np.empty(shape, dtype=INT_VARS.get(n, np.float64)) for n in names}
    with progress_bar(len(combos) * sb.size * sw.size, progress, "sigprop scan") as bar:
        try:
            for idx, sb_sl, sw_sl, block in iter_chunks(
                combos, sb, sw, with_correlation, n_threads, int(chunk_cells), bar
            ):
                for n in names:
                    data[n][(*idx, sb_sl, sw_sl)] = block[n]
        finally:
            bar.close()
    return xr.Dataset(
        {n: (dims, data[n], VAR_ATTRS[n]) for n in names},
        coords=dataset_coords(labels, pcoords, sb, sw),
        attrs={**dataset_attrs("scan", with_correlation, pcoords), "sigprop_complete": 1},
    )
