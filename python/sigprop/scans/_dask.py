"""The Dask back-end of scan: one task per chunk of cells."""

from __future__ import annotations

import numpy as np

from .._optional import need
from ._cells import (
    INT_VARS,
    VAR_ATTRS,
    compute_block,
    dataset_attrs,
    dataset_coords,
    dataset_dims,
    output_variables,
)

# ----------------------------------------------------------------------------- dask


def _dask_block(sb, sw, *, act, with_correlation, n_threads, names, keep_prob=1.0):
    """Dask block function: (nvars, len(sb), len(sw)) stack of float64.

    The activation travels pickled (a user-defined one by its definition) and
    resolves to the core's (kind, p0, p1) in the worker's process."""
    p0, p1 = act.core_params
    block = compute_block(
        act.kind, p0, p1, sb.ravel(), sw.ravel(), with_correlation, n_threads, None, keep_prob
    )
    return np.stack([block[n].astype(np.float64) for n in names])


def scan_dask(labels, pcoords, combos, sb, sw, with_correlation, n_threads, chunks):
    xr = need("xarray")
    da = need("dask.array", "scan(chunks=...)")
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
    names = output_variables(with_correlation)
    dsb = da.from_array(sb, chunks=cb)[:, None]
    dsw = da.from_array(sw, chunks=cw)[None, :]
    stacks = {}
    for combo in combos:
        stacks[combo.index] = da.map_blocks(
            _dask_block,
            dsb,
            dsw,
            act=combo.act,
            keep_prob=combo.keep_prob,
            with_correlation=bool(with_correlation),
            n_threads=n_threads,
            names=tuple(names),
            new_axis=0,
            chunks=((len(names),), dsb.chunks[0], dsw.chunks[1]),
            dtype=np.float64,
            meta=np.empty((0, 0, 0), dtype=np.float64),
            name=f"sigprop-scan-{combo.act!s}-{combo.keep_prob!r}",
        )
    lead_shape = (len(labels), *(v.size for v in pcoords.values()))

    def assemble(prefix: tuple[int, ...]):
        # nested da.stack over the leading (activation, params...) dimensions
        if len(prefix) == len(lead_shape):
            return stacks[prefix]
        return da.stack([assemble((*prefix, i)) for i in range(lead_shape[len(prefix)])], axis=1)

    full = assemble(())  # (nvars, activation, *params, sigma_b, sigma_w)
    dims = dataset_dims(pcoords)
    data = {}
    for i, n in enumerate(names):
        arr = full[i]
        if n in INT_VARS:
            arr = arr.astype(INT_VARS[n])
        data[n] = (dims, arr, VAR_ATTRS[n])
    return xr.Dataset(
        data,
        coords=dataset_coords(labels, pcoords, sb, sw),
        attrs=dataset_attrs("scan", with_correlation, pcoords),
    )
