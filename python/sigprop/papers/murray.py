"""Activations with a linear region around 0.

Murray, Abrol & Tanner 2022; docs/theory/linear_region.rst.

phi(x) = x on [-a, a] (``sigprop.theory.linear_region(a, tail)``: hard tanh, tanh
tails, or max(x, -a)). With pre-activation variance q a fraction
``P(|h| < a) = erf(a / sqrt(2 q))`` of the units is linear, so with sigma_w near 1,
chi1 -> 1 and the correlation map -> the identity as a / sqrt(q*) grows; and
since q* >= sigma_b^2 the linear region must be wide relative to sigma_b.
For hard tanh everything depends on a / sigma_b only (scale covariance,
docs/theory/maps.rst): EOC(sigma_b; HT_a) = EOC(sigma_b / a; HT_1) with q* scaled by a^2.

Conventions: sigma_w and sigma_b are standard deviations; weights
N(0, sigma_w^2 / fan_in), biases N(0, sigma_b^2).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._tables import tabular
from .._validation import as_float_array, check_finite, positive_int, real_scalar, sigma
from ..theory.activations import linear_region
from ..theory.edge_of_chaos import eoc
from ..theory.fixed_points import fixed_point
from ..theory.kernels import propagate
from ..theory.maps import chi1

__all__ = ["HalfWidth", "LinearRegionTable", "linear_region_table", "min_half_width"]

CRITERIA: tuple[str, ...] = ("chi1", "correlation")


@tabular(coords=("ratio",))
class LinearRegionTable(NamedTuple):
    """The quantities of the hard-tanh table (docs/reference_values.rst) over a / sigma_b.

    Arrays of the shape of ``ratio``.

    ratio : a / sigma_b
    sigma_b : a / ratio
    eoc_sigma_w : critical sigma_w (NaN where no EOC)
    eoc_q_over_a2 : q* / a^2 on the EOC
    eoc_p_linear : ``P(|h| < a) = erf(a / sqrt(2 q*))`` at the EOC fixed point
    chi1_unit : chi1 at the minimal fixed point of sigma_w = 1 (NaN if none)
    q_unit_over_a2 : that fixed point q* / a^2
    """

    ratio: np.ndarray
    sigma_b: np.ndarray
    eoc_sigma_w: np.ndarray
    eoc_q_over_a2: np.ndarray
    eoc_p_linear: np.ndarray
    chi1_unit: np.ndarray
    q_unit_over_a2: np.ndarray


@tabular(coords=("sigma_b",))
class HalfWidth(NamedTuple):
    """Smallest half-width a meeting a criterion (arrays of the shape of sigma_b).

    sigma_b : the given bias standard deviations
    a : smallest half-width found (NaN where none in the search range)
    ratio : a / sigma_b
    value : the criterion's deviation at that a (``|chi1 - 1|`` or ``|c^L - c^0|``)
    status : "converged" or "no_root"
    """

    sigma_b: np.ndarray
    a: np.ndarray
    ratio: np.ndarray
    value: np.ndarray
    status: np.ndarray


def _minimal_fixed_point(act, sigma_w: float, sigma_b: float) -> float:
    """The minimal fixed point q* of the variance map (sigprop.fixed_point), NaN
    unless its status is "converged"."""
    r = fixed_point(act, sigma_w, sigma_b, correlation=False)
    return float(r.q_star) if r.status_name == "converged" else math.nan


def linear_region_table(ratio, *, a: float = 1.0, tail: str = "clip") -> LinearRegionTable:
    """EOC and sigma_w = 1 quantities of a linear-region activation over a / sigma_b.

    Reproduces the hard-tanh table of docs/reference_values.rst (``tail="clip"``).

    Parameters
    ----------
    ratio : array_like
        Values of a / sigma_b, > 0.
    a : float
        Half-width of the linear region, in [1e-100, 1e100] (for hard tanh the
        results, scaled as q / a^2, do not depend on it).
    tail : {"clip", "tanh", "floor"}
        Shape outside [-a, a], see :func:`sigprop.theory.linear_region`.

    Returns
    -------
    LinearRegionTable
    """
    a = real_scalar(a, "a")
    if not 1e-100 <= a <= 1e100:
        # q* scales as a^2: beyond this range q* or q* / a^2 leave the double range
        raise ValueError(f"a must lie in [1e-100, 1e100], got {a!r}")
    r = as_float_array(ratio, "ratio")
    check_finite(r, "ratio")
    if np.any(r <= 0):
        raise ValueError(f"ratio must be > 0, got {r[r <= 0].flat[0]!r}")
    act = linear_region(a, tail)
    sb = a / r
    e = eoc(act, sb)
    has = np.asarray(e.n_branches) > 0
    sw = np.where(has, e.sigma_w, np.nan)
    q = np.where(has, e.q_star, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.vectorize(lambda v: math.erf(a / math.sqrt(2 * v)) if v > 0 else math.nan)(q)
    qu = np.vectorize(lambda s: _minimal_fixed_point(act, 1.0, float(s)))(sb)
    qu = np.asarray(qu, dtype=float)
    chi = np.where(np.isfinite(qu), chi1(act, np.where(np.isfinite(qu), qu, 1.0), 1.0), np.nan)
    return LinearRegionTable(r, sb, sw, q / a**2, np.asarray(p, dtype=float), chi, qu / a**2)


def _deviation(criterion, a, sb, tail, sigma_w, depth, c0):
    act = linear_region(a, tail)
    q = _minimal_fixed_point(act, sigma_w, sb)
    if not math.isfinite(q):
        return math.nan
    if criterion == "chi1":
        return abs(float(chi1(act, q, sigma_w)) - 1.0)
    p = propagate(act, sigma_w, sb, depth, q, c0)
    return abs(float(p.c[-1]) - c0)


def min_half_width(
    sigma_b,
    tol: float,
    *,
    criterion: str = "chi1",
    tail: str = "clip",
    sigma_w: float = 1.0,
    depth: int = 50,
    c0: float = 0.5,
    ratio_range: tuple[float, float] = (0.1, 1e4),
    rtol: float = 1e-6,
) -> HalfWidth:
    """Smallest half-width a that keeps the network within ``tol`` of the identity.

    Criteria, at the fixed point q*(a) of the variance map with the given
    sigma_w (default 1, the identity's gain):

    * ``"chi1"``: ``|chi1(q*) - 1| <= tol``;
    * ``"correlation"``: ``|c^L - c^0| <= tol`` after L = ``depth`` layers of the
      correlation map, both inputs at q*, c^0 = ``c0``.

    The deviation is assumed to decrease with a (true for the built-in tails:
    a wider linear region leaves fewer units outside it); the search scans a
    / sigma_b on a log grid over ``ratio_range`` and bisects the first crossing.

    Parameters
    ----------
    sigma_b : array_like
        Bias standard deviation(s), > 0.
    tol : float
        Tolerance, > 0.
    criterion : {"chi1", "correlation"}
    tail : {"clip", "tanh", "floor"}
        Shape outside [-a, a], see :func:`sigprop.theory.linear_region`.
    sigma_w : float
        Weight standard deviation (W ~ N(0, sigma_w^2 / fan_in)).
    depth : int
        L for the correlation criterion.
    c0 : float
        Initial correlation for the correlation criterion, in [-1, 1).
    ratio_range : (float, float)
        Search range of a / sigma_b.
    rtol : float
        Relative precision of a.

    Returns
    -------
    HalfWidth
        ``status`` "no_root" (NaN) where the criterion is not met in the range.
    """
    sb = sigma(sigma_b, "sigma_b")
    if np.any(sb <= 0):
        raise ValueError(f"sigma_b must be > 0, got {sb[sb <= 0].flat[0]!r}")
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise ValueError(f"tol must be a number > 0, got {tol!r}")
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
    positive_int(depth, "depth")
    if not -1.0 <= c0 < 1.0:
        raise ValueError(f"c0 must lie in [-1, 1), got {c0!r}")
    lo, hi = (float(v) for v in ratio_range)
    if not 0 < lo < hi:
        raise ValueError(f"ratio_range must satisfy 0 < lo < hi, got {ratio_range!r}")
    sw = float(sigma(sigma_w, "sigma_w"))
    grid = np.geomspace(lo, hi, 25)
    a_out = np.full(sb.shape, np.nan)
    val = np.full(sb.shape, np.nan)
    for idx in np.ndindex(sb.shape):
        s = float(sb[idx])

        def dev(ratio, s=s):
            return _deviation(criterion, ratio * s, s, tail, sw, depth, c0)

        prev = None
        for r in grid:
            d = dev(r)
            if np.isfinite(d) and d <= tol:
                if prev is None:
                    a_out[idx], val[idx] = r * s, d  # met already at the range start
                    break
                rl, rh = prev, r
                while rh / rl - 1 > rtol:
                    mid = math.sqrt(rl * rh)
                    dm = dev(mid)
                    if np.isfinite(dm) and dm <= tol:
                        rh, d = mid, dm
                    else:
                        rl = mid
                a_out[idx], val[idx] = rh * s, d
                break
            prev = r
    status = np.where(np.isfinite(a_out), "converged", "no_root").astype(object)

    def out(v):
        return v[()] if v.ndim == 0 else v

    return HalfWidth(out(sb), out(a_out), out(a_out / sb), out(val), out(status))
