"""Argument checking shared by the public functions (internal)."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from . import _core


def _plain(value: Any) -> str:
    """repr of a value, NumPy scalars as the Python numbers they hold (-1.0, not
    np.float64(-1.0))."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def as_float_array(value: Any, name: str) -> np.ndarray:
    """Convert ``value`` to a float64 array, or raise TypeError naming ``name``.

    Booleans, complex numbers, strings and objects are rejected rather than
    silently cast.
    """
    if isinstance(value, (str, bytes, bytearray)) or (
        isinstance(value, memoryview) and value.format in ("B", "b", "c")
    ):
        # bytes-like objects would be read as arrays of small integers (b"ab" -> [97, 98])
        raise TypeError(
            f"{name} must be a real number or array of real numbers, got {_plain(value)}"
        )
    try:
        arr = np.asarray(value)
    except Exception as exc:  # pragma: no cover - numpy raises for ragged input
        raise TypeError(f"{name} must be array-like of real numbers: {exc}") from None
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} must contain real numbers (integer or float dtype), got dtype {arr.dtype}"
        )
    return arr.astype(np.float64, copy=False)


def _show(arr: np.ndarray, mask: np.ndarray) -> str:
    bad = arr[mask]
    return _plain(bad.flat[0]) if bad.size else "?"


# A scalar (0-d array) is checked with Python floats: NumPy's reductions cost a few
# microseconds each, most of a scalar call's time. The messages are the same.
# Arrays: first whether the whole array passes, by its least and largest values (two
# reductions, false for a NaN: comparisons with NaN are false); only where it does not,
# the checks that find the offending value for the message (a 1-element array's call
# took ~35 us, 25 of them in six reductions and their temporaries).

# Up to this many elements, the values are checked as Python floats (cheaper than a
# reduction's fixed cost); _MAX, the bound that an infinity exceeds.
_SMALL = 8
_MAX = float(np.finfo(np.float64).max)
# The ints that NumPy converts to int64 (larger ones become object arrays, which
# as_float_array rejects): real_scalars leaves those to it.
_INT64 = 2**63


def _within(arr: np.ndarray, lo: float, hi: float) -> bool:
    """Whether every value of arr lies in [lo, hi] (False for a NaN; lo, hi finite, so
    that an infinity fails too)."""
    if arr.size == 0:
        return True
    if arr.size <= _SMALL:
        return all(lo <= v <= hi for v in arr.ravel().tolist())
    return bool(arr.min() >= lo) and bool(arr.max() <= hi)


def real_scalars(*values: Any) -> list[float] | None:
    """The values as Python floats where every one is a real scalar (a float, an int
    that int64 holds, a NumPy real scalar; not a bool), else None: arrays, 0-d arrays
    and anything else go the array way (as_float_array), which converts or rejects them.

    The public functions' scalar path: a call with Python numbers skips the arrays
    (conversion, broadcasting, one-element outputs), which cost ~20 us of a call whose
    work is ~0.1-1 us; the checks and their messages are the same (finite_scalar,
    nonnegative_scalar, correlation_scalar, as for a 0-d array).
    """
    out = []
    for v in values:
        t = type(v)
        if t is float:
            out.append(v)
        elif t is int:
            if not -_INT64 <= v < _INT64:
                return None
            out.append(float(v))
        elif isinstance(v, (np.floating, np.integer)):
            out.append(float(v))
        else:
            return None
    return out


def finite_scalar(v: float, name: str) -> None:
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v!r}")


def nonnegative_scalar(v: float, name: str) -> None:
    finite_scalar(v, name)
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {v!r}")


def correlation_scalar(v: float, name: str = "c") -> None:
    finite_scalar(v, name)
    if abs(v) > 1:
        raise ValueError(f"{name} must lie in [-1, 1], got {v!r}")


def check_finite(arr: np.ndarray, name: str) -> None:
    if arr.ndim == 0:
        finite_scalar(float(arr), name)
        return
    if _within(arr, -_MAX, _MAX):
        return
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {_show(arr, ~np.isfinite(arr))}")


def check_nonnegative(arr: np.ndarray, name: str) -> None:
    if arr.ndim == 0:
        nonnegative_scalar(float(arr), name)
        return
    if _within(arr, 0.0, _MAX):
        return
    check_finite(arr, name)
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0, got {_show(arr, arr < 0)}")


def check_correlation(arr: np.ndarray, name: str = "c") -> None:
    if arr.ndim == 0:
        correlation_scalar(float(arr), name)
        return
    if _within(arr, -1.0, 1.0):
        return
    check_finite(arr, name)
    if np.any(np.abs(arr) > 1):
        raise ValueError(f"{name} must lie in [-1, 1], got {_show(arr, np.abs(arr) > 1)}")


def sigma(value: Any, name: str) -> np.ndarray:
    """A standard deviation argument (sigma_w, sigma_b): finite and >= 0."""
    arr = as_float_array(value, name)
    check_nonnegative(arr, name)
    return arr


def variance(value: Any, name: str) -> np.ndarray:
    """A variance argument (q): finite and >= 0."""
    arr = as_float_array(value, name)
    check_nonnegative(arr, name)
    return arr


def correlation(value: Any, name: str = "c") -> np.ndarray:
    arr = as_float_array(value, name)
    check_correlation(arr, name)
    return arr


#: Absolute upper bound on n_threads (the compiled core re-checks it).
MAX_THREADS = 1024


# os.cpu_count() (the machine's CPUs, not the affinity mask: constant for the process)
# once, not on every call (~10 microseconds a call here, a tenth of a scalar expectation).
_CPUS = os.cpu_count() or 1


def max_n_threads() -> int:
    """The largest accepted ``n_threads``: 4 x ``os.cpu_count()``, at most 1024.

    More threads than that only oversubscribe the CPUs, and very many make the
    OpenMP runtime fail to create threads (which aborts the process).
    """
    return max(1, min(MAX_THREADS, 4 * _CPUS))


def resolve_n_threads(n_threads: int | None) -> int:
    """Number of OpenMP threads, following scikit-learn's convention.

    ``None`` uses every thread OpenMP would use by default (``OMP_NUM_THREADS``
    or the number of CPUs); a positive ``n`` uses ``n``; a negative ``n`` uses
    ``cpus + 1 + n`` (``-1``: all CPUs, ``-2``: all but one), at least one.
    ``n`` must not exceed :func:`max_n_threads` (4 x the CPU count, at most 1024).
    """
    limit = max_n_threads()
    if n_threads is None:
        return max(1, min(limit, int(_core.max_threads())))
    if isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)):
        raise TypeError(f"n_threads must be an int or None, got {n_threads!r}")
    n = int(n_threads)
    if n == 0:
        raise ValueError("n_threads must be a non-zero int or None, got 0")
    if n > limit:
        raise ValueError(
            f"n_threads must be at most {limit} (4 x os.cpu_count(), at most {MAX_THREADS}), "
            f"got {n}"
        )
    if n < 0:
        n = max(1, _CPUS + 1 + n)
    return n


def scalar_or_array(arr: np.ndarray, scalar: bool) -> Any:
    """Return a NumPy scalar for scalar input, the array otherwise."""
    return arr[()] if scalar else arr


def real_scalar(value: Any, name: str) -> float:
    """``value`` as a finite Python float (int, float or NumPy real scalar; not bool).

    TypeError for other types, ValueError (not OverflowError) for values such as
    ``10**400`` that no double holds, and for NaN or inf.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{name} must be a real number, got {_plain(value)}")
    try:
        out = float(value)
    except OverflowError:
        digits = len(str(abs(int(value))))
        raise ValueError(f"{name} must be finite, got an int of {digits} digits") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {_plain(value)}")
    return out


def int_choice(value: Any, name: str, allowed: tuple[int, ...]) -> int:
    """``value`` as one of the ints ``allowed``; bools are rejected like elsewhere."""
    if type(value) is int and value in allowed:
        return value
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, np.integer))
        or int(value) not in allowed
    ):
        choices = ", ".join(map(str, allowed[:-1])) + f" or {allowed[-1]}"
        raise ValueError(f"{name} must be {choices}, got {_plain(value)}")
    return int(value)


def positive_int(value: Any, name: str, maximum: int | None = None) -> int:
    """``value`` as an int >= 1 (bools rejected); ValueError naming ``name`` otherwise.

    ``maximum``: an upper bound (a documented time or memory bound of the caller).
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {short(value)}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {short(value)}")
    return int(value)


def nonnegative_int(value: Any, name: str) -> int:
    """``value`` as an int >= 0 (bools rejected); ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {short(value)}")
    return int(value)


def short(value: Any) -> str:
    """repr of value, huge ints abbreviated."""
    if isinstance(value, (int, np.integer)) and abs(int(value)) > 10**30:
        return f"an int of {len(str(abs(int(value))))} digits"
    return repr(value)


def data_matrix(value: Any, name: str = "X") -> np.ndarray:
    """A finite, non-empty 2-d float array (rows are data points)."""
    arr = as_float_array(value, name)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-d array (n, d), got shape {arr.shape}")
    check_finite(arr, name)
    return arr


def generator(rng) -> np.random.Generator:
    """``rng`` as a numpy Generator: a Generator, an int seed, a SeedSequence or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer, np.random.SeedSequence)):
        if isinstance(rng, bool):
            raise TypeError(
                f"rng must be a numpy.random.Generator, an int seed or None, got {rng!r}"
            )
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {rng!r}")


def scalar_sigma(value, name: str) -> float:
    """A scalar standard deviation >= 0 as a float; ValueError naming ``name`` otherwise."""
    arr = sigma(value, name)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got an array of shape {arr.shape}")
    return float(arr)


def float_dtype(dtype) -> np.dtype:
    """float32 or float64 as a numpy dtype; ValueError otherwise."""
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return dt


def broadcast_flat(*arrays: np.ndarray) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """Broadcast arrays; return the common shape and each as a flat contiguous float64."""
    b = np.broadcast_arrays(*arrays)
    return b[0].shape, [np.ascontiguousarray(x, dtype=np.float64).ravel() for x in b]


def real_param(key: str, pname: str, v: Any) -> float:
    """Parameter ``pname`` of activation ``key`` as a finite float (else TypeError/ValueError)."""
    if isinstance(v, bool) or (not isinstance(v, (int, float)) and not hasattr(v, "__float__")):
        raise TypeError(f"parameter {pname} of {key} must be a real number, got {_plain(v)}")
    try:
        v = float(v)
    except (TypeError, ValueError) as exc:  # e.g. a numpy array of size > 1
        raise TypeError(
            f"parameter {pname} of {key} must be a real number, got {_plain(v)}"
        ) from exc
    if not math.isfinite(v):
        raise ValueError(f"parameter {pname} of {key} must be finite, got {_plain(v)}")
    return v


def keep_probability(value: Any, name: str = "keep_prob") -> float:
    """A dropout keep probability: a real number in (0, 1]."""
    p = real_scalar(value, name)
    if not 0.0 < p <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {short(value)}")
    return p
