"""Pure-NumPy reference for the compiled region walk (test code: not in the wheel).

Not a production path: :func:`sigprop.regions.count_linear_regions` uses the
Cython walk in ``sigprop._regions``. This reference is organised differently
(whole-layer array operations, a global sort of all roots instead of a
per-piece loop) so that it cross-checks the compiled one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sigprop.papers.milkert.regions import LinearRegions, _assemble, _check_network, _check_point


def walk_reference(
    weights: list,
    biases: list,
    start: np.ndarray,
    direction: np.ndarray,
    split_tol: float,
    t_atol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same contract as ``sigprop._regions.walk``, in NumPy."""
    t = np.array([0.0, 1.0])
    pa = start[None, :].astype(np.float64)
    pb = direction[None, :].astype(np.float64)
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        za = pa @ w.T + b
        zb = pb @ w.T
        if layer == len(weights) - 1:
            return t, za, zb
        tl, tr = t[:-1, None], t[1:, None]
        snap = np.maximum(split_tol * (tr - tl), t_atol)
        with np.errstate(divide="ignore", invalid="ignore"):
            root = np.where(zb != 0.0, -za / zb, np.nan)
        ok = (root > tl + snap) & (root < tr - snap)
        piece = np.broadcast_to(np.arange(t.size - 1)[:, None], root.shape)[ok]
        root = root[ok]
        order = np.lexsort((root, piece))
        piece, root = piece[order], root[order]
        # drop a root within split_tol * width of the previous root of its piece
        if root.size:
            w_piece = snap[piece, 0]
            same = np.concatenate(([False], piece[1:] == piece[:-1]))
            close = np.concatenate(([False], np.diff(root) <= w_piece[1:]))
            keep = ~(same & close)
            piece, root = piece[keep], root[keep]
        new_t = np.sort(np.concatenate((t, root)))
        mid = 0.5 * (new_t[:-1] + new_t[1:])
        parent = np.concatenate((np.arange(t.size - 1), piece))
        parent.sort()
        a_new, b_new = za[parent], zb[parent]
        on = a_new + b_new * mid[:, None] > 0.0
        pa = np.where(on, a_new, 0.0)
        pb = np.where(on, b_new, 0.0)
        t = new_t
    raise AssertionError("unreachable")  # pragma: no cover


def count_linear_regions_reference(
    weights: list,
    biases: list,
    start: Any = 0.0,
    end: Any = 1.0,
    *,
    split_tol: float = 1e-9,
    merge_rtol: float = 1e-12,
    t_atol: float = 2.0**-46,
) -> LinearRegions:
    """NumPy twin of :func:`sigprop.regions.count_linear_regions` (reference)."""
    ws, bs = _check_network(weights, biases)
    dim = ws[0].shape[1]
    x0 = _check_point(start, "start", dim)
    x1 = _check_point(end, "end", dim)
    direction = x1 - x0
    t, intercept, slope = walk_reference(ws, bs, x0, direction, split_tol, t_atol)
    return _assemble(t, intercept, slope, x0, direction, merge_rtol)
