"""Scans streamed to NetCDF or Zarr stores.

Paths, never overwriting without leave, partial stores that say what they lack,
resume, and signals during writes."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._optional import need
from ._cells import (
    INT_VARS,
    NOT_COMPUTED,
    VAR_ATTRS,
    compute_block,
    compute_cells,
    dataset_attrs,
    dataset_coords,
    dataset_dims,
    output_variables,
    progress_bar,
    tile_shape_for,
    tile_slices,
)

# ----------------------------------------------------------------------------- streaming


def out_path(out: Any) -> str:
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


def store_format(path: str, what: str = "out") -> str:
    """'zarr' or 'nc' from the extension of ``path``."""
    lower = path.lower().rstrip("/\\")
    if lower.endswith(".zarr"):
        return "zarr"
    if lower.endswith((".nc", ".nc4", ".h5", ".hdf5")):
        return "nc"
    raise ValueError(f"{what} must end in .nc or .zarr, got {path!r}")


def partial_path(path: str) -> str:
    """Where a scan streams before it is complete: ``d.nc`` -> ``d.partial.nc``."""
    stem, ext = os.path.splitext(path.rstrip("/\\") or path)
    return f"{stem}.partial{ext}"


def check_store_kind(path: str, fmt: str, what: str = "out") -> None:
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


def is_sigprop_store(path: str, fmt: str) -> bool:
    """True if ``path`` is a store that sigprop wrote and holds nothing else."""
    import json

    try:
        if fmt != "zarr":
            h5py = need("h5py", "scan(out='*.nc')")
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


def require_sigprop_store(path: str, fmt: str) -> None:
    """ValueError unless ``path`` is a store sigprop wrote (and nothing else)."""
    if not is_sigprop_store(path, fmt):
        raise ValueError(
            f"refusing to replace {path!r}: it is not a store written by sigprop "
            "(or it holds other files); move it away or choose another path"
        )


def remove_store(path: str, fmt: str) -> None:
    """Delete a store sigprop wrote; ValueError (nothing deleted) for anything else."""
    import shutil

    require_sigprop_store(path, fmt)
    if os.path.isdir(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def open_store(xr, path: str, fmt: str):
    if fmt == "zarr":
        return xr.open_zarr(path, consolidated=False)
    return xr.open_dataset(path, engine="h5netcdf", chunks={})


def _mismatch(xr, path, fmt, labels, pcoords, sb, sw, names) -> str | None:
    """Why the store at ``path`` does not hold this scan (None if it does)."""
    try:
        ds = open_store(xr, path, fmt)
    except Exception as exc:  # unreadable: not ours to resume
        return f"an unreadable store ({type(exc).__name__}: {exc})"
    try:
        if set(ds.data_vars) != set(names):
            return f"variables {sorted(ds.data_vars)}, not {sorted(names)}"
        if tuple(ds["status"].dims) != dataset_dims(pcoords):
            return f"dimensions {ds['status'].dims}, not {dataset_dims(pcoords)}"
        if [str(a) for a in ds["activation"].values] != list(labels):
            return f"activations {[str(a) for a in ds['activation'].values]}, not {list(labels)}"
        for name, want in (*pcoords.items(), ("sigma_b", sb), ("sigma_w", sw)):
            if not np.array_equal(np.asarray(ds[name].values), want):
                return f"another {name} grid"
        return None
    finally:
        ds.close()


def is_complete(xr, path: str, fmt: str) -> bool:
    ds = open_store(xr, path, fmt)
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


def scan_stream(
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
    xr = need("xarray")
    fmt = store_format(path)
    writer = _ZarrWriter if fmt == "zarr" else _NetCDFWriter
    writer.check_dependencies()
    partial = partial_path(path)
    check_store_kind(path, fmt)
    check_store_kind(partial, fmt, "partial store")
    names = output_variables(with_correlation)
    spec = (labels, pcoords, sb, sw, names)
    if os.path.exists(path):
        if resume:
            why = _mismatch(xr, path, fmt, *spec)
            if why is None and is_complete(xr, path, fmt):
                return open_store(xr, path, fmt)
            raise ValueError(
                f"cannot resume into out {path!r}: it holds {why or 'an incomplete store'}; "
                "pass overwrite=True (sigprop scan --force) to replace it"
            )
        if not overwrite:
            raise FileExistsError(
                f"out {path!r} exists; pass overwrite=True (sigprop scan --force) to replace it"
            )
        require_sigprop_store(path, fmt)  # refuse now, before computing anything
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
            remove_store(partial, fmt)
        else:
            raise FileExistsError(
                f"an interrupted scan left the partial store {partial!r}; pass resume=True "
                "(sigprop scan --resume) to finish it, or overwrite=True (--force) to start again"
            )
    if w is None:
        tile_shape = tile_shape_for(sb.size, sw.size, chunk_cells)
        w = writer(partial, labels, pcoords, sb, sw, names, tile_shape, with_correlation)
    tiles = tile_slices(sb.size, sw.size, chunk_cells, w.tile_shape)
    try:
        with (
            _SigtermRaises(),
            progress_bar(len(combos) * sb.size * sw.size, progress, "sigprop scan") as bar,
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
                                cells = compute_cells(
                                    kind,
                                    p0,
                                    p1,
                                    sb2[missing],
                                    sw2[missing],
                                    with_correlation,
                                    n_threads,
                                    bar.callback,
                                    combo.keep_prob,
                                )
                                with _DeferSignals():
                                    w.write(*key, cells, missing)
                                continue
                        block = compute_block(
                            kind,
                            p0,
                            p1,
                            sb[sb_sl],
                            sw[sw_sl],
                            with_correlation,
                            n_threads,
                            bar.callback,
                            combo.keep_prob,
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
        remove_store(path, fmt)  # overwrite=True; checked to be ours above
    os.replace(partial, path)
    return open_store(xr, path, fmt)


def _fill(name: str):
    """Fill value: what an unwritten cell reads as (NaN, or NOT_COMPUTED for ints)."""
    return NOT_COMPUTED if name in INT_VARS else np.nan


class _NetCDFWriter:
    """netCDF-4 file written tile by tile through h5netcdf, flushed after each tile."""

    @staticmethod
    def check_dependencies() -> None:
        need("xarray")
        need("h5netcdf", "scan(out='*.nc')")

    def __init__(self, path, labels, pcoords, sb, sw, names, tile_shape, with_correlation):
        import h5netcdf

        xr = need("xarray")
        coords = xr.Dataset(
            coords=dataset_coords(labels, pcoords, sb, sw),
            attrs={**dataset_attrs("scan", with_correlation, pcoords), "sigprop_complete": 0},
        )
        coords.to_netcdf(path, engine="h5netcdf")
        self.f = h5netcdf.File(path, "a")
        self.resumed = False
        self.tile_shape = tuple(tile_shape)
        dims = dataset_dims(pcoords)
        chunk = (*(1,) * (len(dims) - 2), *tile_shape)
        self.vars = {}
        for n in names:
            dt = np.dtype(INT_VARS.get(n, np.float64))
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
            for k, val in VAR_ATTRS[n].items():
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
        for n, v in self.vars.items():  # status last (see output_variables)
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
        need("xarray")
        need("zarr", "scan(out='*.zarr')")
        need("dask.array", "scan(out='*.zarr')")

    def __init__(self, path, labels, pcoords, sb, sw, names, tile_shape, with_correlation):
        import zarr

        xr = need("xarray")
        da = need("dask.array", "scan(out='*.zarr')")
        dims = dataset_dims(pcoords)
        shape = (len(labels), *(v.size for v in pcoords.values()), sb.size, sw.size)
        chunk = (*(1,) * (len(dims) - 2), *tile_shape)
        data = {}
        encoding = {}
        for n in names:
            dt = np.dtype(INT_VARS.get(n, np.float64))
            data[n] = (dims, da.full(shape, _fill(n), dtype=dt, chunks=chunk), VAR_ATTRS[n])
            # Unwritten chunks read as the fill value; for the int flags it is the
            # Zarr fill_value only (no CF _FillValue, which would decode them as floats).
            encoding[n] = (
                {"chunks": chunk, "fill_value": NOT_COMPUTED}
                if dt.kind == "i"
                else {"chunks": chunk, "_FillValue": np.nan}
            )
        template = xr.Dataset(
            data,
            coords=dataset_coords(labels, pcoords, sb, sw),
            attrs={**dataset_attrs("scan", with_correlation, pcoords), "sigprop_complete": 0},
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
        for n in self.names:  # status last (see output_variables)
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
