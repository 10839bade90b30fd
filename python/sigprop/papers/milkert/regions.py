"""Exact linear regions of a ReLU network along a segment of input space.

docs/theory/exponential_regions.rst, "Counting linear regions exactly".

The network is given as NumPy lists: ``weights[l]`` of shape (fan_out, fan_in)
and ``biases[l]`` of shape (fan_out,); every layer but the last is followed by a
ReLU, the last is affine. Along the path x(t) = start + t (end - start),
t in [0, 1], the output is piecewise affine in t. The compiled walk
(``sigprop._regions``, Cython) propagates the exact breakpoints layer by layer;
neighbouring activation regions whose output has the same affine map are then
merged, so the count is that of *linear* regions (maximal intervals with one
affine map), not of activation regions (Hanin & Rolnick).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import _regions

__all__ = ["LinearRegions", "count_linear_regions", "relu_network_forward"]


@dataclass(frozen=True)
class LinearRegions:
    """The linear regions of a ReLU network along x(t) = start + t (end - start).

    Attributes
    ----------
    count : int
        Number of linear regions: maximal t-intervals of [0, 1] on which the
        output is one affine function.
    t : ndarray, shape (count - 1,)
        Breakpoints in the path parameter, strictly increasing in (0, 1).
    breakpoints : ndarray, shape (count - 1,) or (count - 1, d)
        The breakpoints in input space: scalars for a one-dimensional input,
        points of R^d otherwise.
    intercept, slope : ndarray, shape (count, n_out)
        The output on region j is ``intercept[j] + slope[j] * t`` (affine in t).
    n_activation_regions : int
        Number of pieces with distinct ReLU activation patterns before merging
        (>= count).
    """

    count: int
    t: np.ndarray
    breakpoints: np.ndarray
    intercept: np.ndarray
    slope: np.ndarray
    n_activation_regions: int


def _check_network(weights: Any, biases: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if not isinstance(weights, (list, tuple)) or not isinstance(biases, (list, tuple)):
        raise TypeError(
            "weights and biases must be lists of arrays, got "
            f"{type(weights).__name__} and {type(biases).__name__}"
        )
    if len(weights) == 0 or len(weights) != len(biases):
        raise ValueError(
            f"weights and biases must be non-empty lists of equal length, got {len(weights)} "
            f"and {len(biases)}"
        )
    ws, bs = [], []
    fan_in = None
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        w = np.asarray(w)
        b = np.asarray(b)
        for name, arr in ((f"weights[{layer}]", w), (f"biases[{layer}]", b)):
            if arr.dtype.kind not in "iuf":
                raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} must be finite")
        if w.ndim != 2:
            raise ValueError(f"weights[{layer}] must be 2-D (fan_out, fan_in), got shape {w.shape}")
        if b.shape != (w.shape[0],):
            raise ValueError(
                f"biases[{layer}] must have shape ({w.shape[0]},), got shape {b.shape}"
            )
        if fan_in is not None and w.shape[1] != fan_in:
            raise ValueError(
                f"weights[{layer}] has fan_in {w.shape[1]} but layer {layer - 1} has "
                f"{fan_in} outputs"
            )
        fan_in = w.shape[0]
        ws.append(np.ascontiguousarray(w, dtype=np.float64))
        bs.append(np.ascontiguousarray(b, dtype=np.float64))
    return ws, bs


def _check_point(value: Any, name: str, dim: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real number or vector, got {value!r}")
    arr = np.atleast_1d(arr.astype(np.float64))
    if arr.shape != (dim,):
        raise ValueError(f"{name} must have shape ({dim},) for this network, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return arr


def relu_network_forward(weights: list, biases: list, x: Any) -> np.ndarray:
    """Evaluate a ReLU network (ReLU after every layer but the last) at inputs x.

    Parameters
    ----------
    weights, biases : list of array_like
        ``weights[l]`` of shape (fan_out, fan_in), ``biases[l]`` of shape (fan_out,).
    x : array_like, shape (n,) for a one-dimensional input or (n, d)

    Returns
    -------
    ndarray, shape (n, n_out)
    """
    ws, bs = _check_network(weights, biases)
    h = np.asarray(x, dtype=np.float64)
    if h.ndim == 1 and ws[0].shape[1] == 1:
        h = h[:, None]
    if h.ndim != 2 or h.shape[1] != ws[0].shape[1]:
        raise ValueError(f"x must have shape (n, {ws[0].shape[1]}), got shape {np.shape(x)}")
    for layer, (w, b) in enumerate(zip(ws, bs, strict=True)):
        h = h @ w.T + b
        if layer < len(ws) - 1:
            h = np.maximum(h, 0.0)
    return h


def _merge_pieces(
    t: np.ndarray, intercept: np.ndarray, slope: np.ndarray, rtol: float
) -> tuple[np.ndarray, np.ndarray]:
    """Boundaries kept after merging neighbours with equal affine maps (internal).

    The output is continuous, so two neighbouring pieces have one affine map
    exactly when their slopes agree; slopes are equal when they differ by at
    most ``rtol`` times the largest slope along the path (in max-norm over
    outputs). Returns the indices of the kept pieces' first activation piece and
    the kept interior boundaries (indices into t).
    """
    n = slope.shape[0]
    scale = float(np.max(np.abs(slope))) if slope.size else 0.0
    if n <= 1:
        return np.zeros(1, dtype=np.intp), np.zeros(0, dtype=np.intp)
    jump = np.max(np.abs(np.diff(slope, axis=0)), axis=1)
    kink = jump > rtol * scale
    kept_boundaries = np.flatnonzero(kink) + 1  # index into t of each kept breakpoint
    first_piece = np.concatenate(([0], kept_boundaries))
    return first_piece, kept_boundaries


def count_linear_regions(
    weights: list,
    biases: list,
    start: Any = 0.0,
    end: Any = 1.0,
    *,
    split_tol: float = 1e-9,
    merge_rtol: float = 1e-12,
    t_atol: float = 2.0**-46,
) -> LinearRegions:
    """Count the linear regions of a ReLU network exactly along a segment.

    The path is x(t) = start + t (end - start), t in [0, 1]; for a network with
    one input, ``start`` and ``end`` are the ends of an interval [start, end].
    Breakpoints are computed exactly (up to rounding) by propagating the
    piecewise-affine pre-activations layer by layer; the compiled walk is in
    ``sigprop._regions`` (Cython).

    Parameters
    ----------
    weights, biases : list of array_like
        ``weights[l]`` of shape (fan_out, fan_in), ``biases[l]`` of shape
        (fan_out,). ReLU follows every layer but the last, which is affine (any
        number of outputs). The convention of sigprop's random networks is
        weights ~ N(0, sigma_w^2 / fan_in), biases ~ N(0, sigma_b^2), but any
        finite weights are accepted.
    start, end : float or array_like of shape (d,)
        Ends of the segment in input space (d = fan_in of the first layer); must
        differ.
    split_tol : float, default 1e-9
        A neuron's zero crossing closer than ``split_tol`` times the width of its
        piece to an end of the piece (or to another crossing) does not split it.
        This absorbs rounding where a pre-activation touches zero at an existing
        breakpoint (as in the triangle networks of Milkert et al.); it also hides
        genuine pieces narrower than that fraction.
    t_atol : float, default 2**-46 (about 1.4e-14)
        Absolute floor of that distance in t: breakpoints are resolved to
        ``t_atol`` of the segment (rounding in t is about 1e-16).
    merge_rtol : float, default 1e-12
        Neighbouring pieces are one linear region when their output slopes
        differ by at most ``merge_rtol`` times the largest slope along the path.

    Returns
    -------
    LinearRegions
        ``count``, breakpoints (``t`` and in input space), the affine map of each
        region and the number of activation regions before merging.

    Raises
    ------
    TypeError, ValueError
        For malformed networks, non-finite values, ``start == end`` or negative
        tolerances.
    """
    ws, bs = _check_network(weights, biases)
    dim = ws[0].shape[1]
    x0 = _check_point(start, "start", dim)
    x1 = _check_point(end, "end", dim)
    if np.array_equal(x0, x1):
        raise ValueError(f"start and end must differ, both are {start!r}")
    for name, tol in (("split_tol", split_tol), ("merge_rtol", merge_rtol), ("t_atol", t_atol)):
        is_real = isinstance(tol, (int, float, np.integer, np.floating)) and not isinstance(
            tol, (bool, np.bool_)
        )
        if not (is_real and 0.0 <= tol < 0.5):
            raise ValueError(f"{name} must be a number in [0, 0.5), got {tol!r}")
    direction = x1 - x0
    t, intercept, slope = _regions.walk(ws, bs, x0, direction, float(split_tol), float(t_atol))
    return _assemble(t, intercept, slope, x0, direction, float(merge_rtol))


def _assemble(
    t: np.ndarray,
    intercept: np.ndarray,
    slope: np.ndarray,
    x0: np.ndarray,
    direction: np.ndarray,
    merge_rtol: float,
) -> LinearRegions:
    first, kept = _merge_pieces(t, intercept, slope, merge_rtol)
    t_break = t[kept]
    points = x0[None, :] + t_break[:, None] * direction[None, :]
    if x0.shape[0] == 1:
        points = points[:, 0]
    return LinearRegions(
        count=int(first.size),
        t=t_break,
        breakpoints=points,
        intercept=intercept[first],
        slope=slope[first],
        n_activation_regions=int(slope.shape[0]),
    )
