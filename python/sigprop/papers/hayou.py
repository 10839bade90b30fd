"""Convergence of correlations through depth on the Edge of Chaos.

Hayou, Doucet & Rousseau 2019; docs/theory/convergence.rst.

On the EOC the correlation map f has f(1) = 1 and f'(1) = chi1 = 1, so the
correlation c^l of two inputs creeps to 1 polynomially instead of
exponentially. With the gap delta_l = 1 - c^l:

* relu-like phi (a jump J_k of phi' at x_k): delta_{l+1} = delta_l - s delta_l^{3/2}
  + O(delta^2) with s = (2/3) sigma_w^2 sum_k J_k^2 exp(-x_k^2 / (2 q)) / (pi sqrt 2),
  so delta_l ~ 4 / (s^2 l^2); for relu s = 2 sqrt(2) / (3 pi) and
  delta_l ~ 9 pi^2 / (2 l^2) = 44.41 / l^2; for leaky relu with slope beta the
  constant is divided by ((1 - beta)^2 / (1 + beta^2))^2;
* smooth phi: delta_{l+1} = delta_l - (f''(1)/2) delta_l^2, so delta_l ~ beta_q / l
  with beta_q = 2 / f''(1) = 2 E[phi'^2] / (q* E[phi''^2]).

The gap is iterated directly (never c itself), so it keeps full relative
accuracy down to delta ~ 1e-300:

* relu and leaky relu: the arc-cosine map in closed form in the angle,
  1 - f(c) = delta - (1 - beta)^2 / (1 + beta^2) (sin t - t cos t) / pi with
  t = 2 arcsin(sqrt(delta / 2)), and a series for sin t - t cos t at small t;
* smooth phi (no kinks): the Hermite series of phi(sqrt(q*) x),
  1 - f(1 - delta) = (sigma_w^2 / q*) sum_n a_n^2 (1 - (1 - delta)^n), with
  1 - (1 - delta)^n = -expm1(n log1p(-delta)); the series is truncated where the
  omitted sum n a_n^2 is below 1e-14 of the whole;
* other kinked phi (elu with alpha != 1, hard tanh, ...): the compiled core's
  bivariate expectation, sigma_w^2 (E[phi^2] - E[phi(u) phi(v)]) / q*, while
  delta is large, and the Taylor expansion above (with its delta^{3/2} kink
  term or its delta^2 term) once delta < 1e-8 (phi' jumps) or 1e-6 (only
  phi'' jumps); relative accuracy about 1e-8 there.

Conventions: sigma_w and sigma_b are standard deviations; weights
N(0, sigma_w^2 / fan_in), biases N(0, sigma_b^2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .._tables import tabular
from .._validation import as_float_array, check_finite, positive_int, sigma
from ..theory.activations import Activation, resolve
from ..theory.edge_of_chaos import eoc
from ..theory.expectations import bivariate_expectation, gaussian_moments
from ..theory.hermite import hermite_coefficients

__all__ = [
    "ConvergenceResult",
    "DepthMatch",
    "EOCBeta",
    "RateFit",
    "correlation_convergence",
    "eoc_beta_q",
    "fit_power_law",
    "sigma_b_for_depth",
]

_HERMITE_ORDERS = (256, 512, 1024, 2048, 4096)
# Above this q the Hermite series of a smooth phi(sqrt(q) x) converges too slowly
# (tanh at q = 100 still has a 1e-10 tail after 8192 terms, which took 22 s; gelu at
# q = 1273, the EOC at sigma_b = 2, ran 190 s and failed): the correlation map is
# then evaluated by the compiled bivariate expectation instead (bounded time).
_HERMITE_Q_MAX = 100.0
#: Largest depth of correlation_convergence (80 MB of gaps; ~10 s for the
#: closed-form maps, ~1 ms per layer for the quadrature map).
MAX_DEPTH = 10_000_000
_HERMITE_TOL = 1e-14


@tabular(coords=("layer",), index="layer")
@dataclass(frozen=True)
class ConvergenceResult:
    """The correlation gap 1 - c^l through depth on the EOC.

    Attributes
    ----------
    activation : str
    sigma_b, sigma_w : float
        The EOC point (standard deviations; W ~ N(0, sigma_w^2 / fan_in)).
    q : float
        The variance both inputs sit at (q*; 1 for relu-like phi, whose map does
        not depend on q).
    layer : ndarray of int, shape (depth + 1,)
        l = 0 .. depth (l = 0 is the input correlation c0).
    gap : ndarray, shape (depth + 1,)
        1 - c^l after l applications of the correlation map (NaN if no EOC).
    exponent : int
        p in 1 - c^l ~ constant / l^p: 2 where phi' jumps, 1 for smooth phi, 0
        when the map is the identity (q* = 0).
    constant : float
        The predicted asymptotic constant: 9 pi^2 / 2 for relu, 4 / s^2 for
        other kinks, beta_q for smooth phi.
    method : str
        How the map was evaluated: "arc-cosine" (relu family), "hermite" (smooth
        phi with q* <= 100), "quadrature" (kinks, or smooth phi at larger q*: one
        compiled bivariate expectation per layer).
    status : str
        names of :class:`sigprop.Status`: "converged", "no_eoc" (no EOC point at
        sigma_b), "identity" (q* = 0: the
        map is c -> c).
    """

    activation: str
    sigma_b: float
    sigma_w: float
    q: float
    layer: np.ndarray
    gap: np.ndarray
    exponent: int
    constant: float
    method: str
    status: str

    @property
    def predicted(self) -> np.ndarray:
        """The asymptote constant / l^exponent (NaN at l = 0)."""
        with np.errstate(divide="ignore"):
            out = self.constant / self.layer.astype(float) ** self.exponent
        out[0] = np.nan
        return out


@tabular()
class RateFit(NamedTuple):
    """Least-squares fit of gap ~ constant / l^exponent (in log-log)."""

    exponent: float
    constant: float
    max_log_residual: float


@tabular(coords=("sigma_b",))
class EOCBeta(NamedTuple):
    """beta_q along the EOC curve (arrays of the shape of sigma_b)."""

    sigma_b: np.ndarray
    sigma_w: np.ndarray
    q_star: np.ndarray
    beta_q: np.ndarray


@tabular(coords=("depth",))
class DepthMatch(NamedTuple):
    """The sigma_b at which beta_q equals a depth (arrays of the shape of depth)."""

    depth: np.ndarray
    sigma_b: np.ndarray
    sigma_w: np.ndarray
    q_star: np.ndarray
    beta_q: np.ndarray
    status: np.ndarray  # "converged" or "no_root"


def _sin_minus_t_cos(t: float) -> float:
    """sin t - t cos t without cancellation (series below t = 0.5)."""
    if t >= 0.5:
        return math.sin(t) - t * math.cos(t)
    # sum_{k>=1} (-1)^{k+1} 2k t^{2k+1} / (2k+1)!
    t2 = t * t
    term = t * t2 / 6.0  # t^3 / 3! ; k = 1 contributes 2 * term
    total = 0.0
    k = 1
    while True:
        contrib = 2 * k * term
        total += contrib
        if abs(contrib) <= 1e-17 * abs(total):
            break
        term *= -t2 / ((2 * k + 2) * (2 * k + 3))
        k += 1
    return total


def _relu_gap_map(beta: float):
    factor = (1.0 - beta) ** 2 / (1.0 + beta * beta)

    def g(delta: float) -> float:
        t = 2.0 * math.asin(math.sqrt(min(delta, 2.0) / 2.0))
        return delta - factor * _sin_minus_t_cos(t) / math.pi

    constant = 9.0 * math.pi**2 / (2.0 * factor**2)
    return g, constant


def _hermite_gap_map(act: Activation, q: float, sigma_w: float):
    """The gap map through the Hermite series, or None where it converges too slowly."""
    if q > _HERMITE_Q_MAX:
        return None
    total = q * float(gaussian_moments(act, q).dphi_sq)  # sum n a_n^2
    for n in _HERMITE_ORDERS:
        a = hermite_coefficients(act, n, q=q)
        nn = np.arange(1, n + 1, dtype=float)
        w = a[1:] ** 2
        if total - float(nn @ w) <= _HERMITE_TOL * total:
            break
    else:
        return None
    scale = sigma_w**2 / q

    def g(delta: float) -> float:
        if delta < 1.0:
            return scale * float(w @ -np.expm1(nn * math.log1p(-delta)))
        return scale * float(w @ (1.0 - np.power(1.0 - delta, nn)))

    return g


def _quadrature_gap_map(act: Activation, q: float, sigma_w: float, jump_sq: float, s: float):
    m = gaussian_moments(act, q)
    chi = sigma_w**2 * float(m.dphi_sq)
    f2 = sigma_w**2 * q * float(m.d2phi_sq)
    phi_sq = float(m.phi_sq)
    scale = sigma_w**2 / q
    small = 1e-8 if jump_sq > 0 else 1e-6

    def g(delta: float) -> float:
        if delta < small:
            if jump_sq > 0:
                return chi * delta - s * delta**1.5
            return chi * delta - 0.5 * f2 * delta * delta
        e = float(bivariate_expectation(act, q, q, 1.0 - delta))
        return scale * (phi_sq - e)

    return g


def correlation_convergence(
    activation: str | Activation,
    depth: int,
    *,
    sigma_b: float = 0.0,
    c0: float = 0.0,
    gap0: float | None = None,
    branch: int = 0,
) -> ConvergenceResult:
    """Iterate the correlation gap 1 - c^l on the EOC, stably near c = 1.

    Both inputs sit at the EOC fixed point q* (Hayou's time-homogeneous map);
    c^0 = ``c0`` and c^{l+1} = f(c^l). For silu, gelu and shifted softplus that
    q* repels (docs/theory/phases.rst, "Stability of the EOC fixed point"): the
    result holds for inputs placed exactly at q*.

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    depth : int
        Number of layers L >= 1; the gap is returned for l = 0..L.
    sigma_b : float
        Bias standard deviation; sigma_w is the EOC value at it (relu-like phi:
        only sigma_b = 0 has an EOC).
    c0 : float
        Initial correlation in [-1, 1].
    gap0 : float, optional
        Initial gap 1 - c0 in [0, 2], given directly (overrides ``c0``); use it
        for gaps below the resolution of c0 itself (1 - c0 < 1e-8).
    branch : int
        Which EOC branch, if there are several.

    Returns
    -------
    ConvergenceResult

    Examples
    --------
    >>> import sigprop
    >>> r = sigprop.papers.hayou.correlation_convergence("relu", 10_000)
    >>> round(float(r.gap[-1] * 10_000**2), 2)
    44.25
    """
    act = resolve(activation)
    # time and memory bound: one map evaluation and one float64 per layer
    positive_int(depth, "depth", MAX_DEPTH)
    sb = float(sigma(sigma_b, "sigma_b"))
    c0v = float(as_float_array(c0, "c0"))
    if not -1.0 <= c0v <= 1.0:
        raise ValueError(f"c0 must lie in [-1, 1], got {c0!r}")
    d0 = 1.0 - c0v
    if gap0 is not None:
        d0 = float(as_float_array(gap0, "gap0"))
        if not 0.0 <= d0 <= 2.0:
            raise ValueError(f"gap0 must lie in [0, 2], got {gap0!r}")
    layer = np.arange(depth + 1)
    e = eoc(act, sb)
    if branch < 0 or branch >= int(e.n_branches):
        return ConvergenceResult(
            str(act), sb, math.nan, math.nan, layer, np.full(depth + 1, np.nan), 0, math.nan,
            "none", "no_eoc",
        )  # fmt: skip
    sw = float(e.branches.sigma_w[branch])
    kind = int(e.branches.kind[branch])
    q = 1.0 if kind == 2 else float(e.branches.q_star[branch])
    gap = np.empty(depth + 1)
    gap[0] = d0
    if kind == 1:  # sigma_b = 0 end of a curve: q* = 0, f(c) = c
        gap[:] = gap[0]
        return ConvergenceResult(str(act), sb, sw, q, layer, gap, 0, math.nan, "limit", "identity")
    kinks = [(x, j) for x, j in act.kinks if j != 0.0]
    if act.arccos_family:
        g, constant = _relu_gap_map(act.params.get("negative_slope", 0.0))
        exponent, method = 2, "arc-cosine"
    elif not act.kinks and (g := _hermite_gap_map(act, q, sw)) is not None:
        constant = float(eoc_beta_q(act, sb).beta_q[()])
        exponent, method = 1, "hermite"
    else:
        jump_sq = sum(j * j for _, j in kinks)
        s = (2.0 / 3.0) * sw**2 * sum(j * j * math.exp(-x * x / (2 * q)) for x, j in kinks)
        s /= math.pi * math.sqrt(2.0)
        g = _quadrature_gap_map(act, q, sw, jump_sq, s)
        if jump_sq > 0:
            exponent, constant = 2, 4.0 / s**2
        else:
            exponent, constant = 1, float(eoc_beta_q(act, sb).beta_q[()])
        method = "quadrature"
    d = gap[0]
    for i in range(1, depth + 1):
        if d > 0.0:
            d = min(max(g(d), 0.0), 2.0)
        gap[i] = d
    return ConvergenceResult(
        str(act), sb, sw, q, layer, gap, exponent, constant, method, "converged"
    )


def fit_power_law(layer, gap, *, l_min: float | None = None) -> RateFit:
    """Fit gap ~ constant / l^exponent by least squares in log-log.

    Parameters
    ----------
    layer, gap : array_like
        Depths l > 0 and gaps 1 - c^l > 0 (others are ignored).
    l_min : float, optional
        Fit only l >= l_min (default: the last decade, l >= max(l) / 10).

    Returns
    -------
    RateFit
        ``exponent`` p, ``constant`` C and the largest ``|log residual|``.
    """
    lv = as_float_array(layer, "layer").ravel()
    gv = as_float_array(gap, "gap").ravel()
    if lv.shape != gv.shape:
        raise ValueError(f"layer and gap must have the same length, got {lv.size} and {gv.size}")
    lo = float(np.nanmax(lv)) / 10.0 if l_min is None else float(l_min)
    keep = (lv >= lo) & (lv > 0) & (gv > 0) & np.isfinite(gv)
    if keep.sum() < 2:
        raise ValueError("fit_power_law needs at least two points with l >= l_min and gap > 0")
    x, y = np.log(lv[keep]), np.log(gv[keep])
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    return RateFit(float(-slope), float(math.exp(intercept)), float(np.abs(resid).max()))


def eoc_beta_q(activation: str | Activation, sigma_b, *, branch: int = 0) -> EOCBeta:
    """beta_q = 2 E[phi'^2] / (q* E[phi''^2]) along the EOC curve (docs/theory/convergence.rst).

    On the EOC 1 - c^l ~ beta_q / l for smooth phi. (Hayou's code computes
    1 / beta_q; this function, like docs/theory/convergence.rst, uses the
    convention above: beta_q is the constant of 1 - c^l ~ beta_q / l.)

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    sigma_b : array_like
        Bias standard deviations, >= 0.
    branch : int
        EOC branch (0: the first).

    Returns
    -------
    EOCBeta
        NaN where there is no EOC; 0 where phi' jumps (relu-like: E[phi''^2]
        is infinite and the convergence is O(1/l^2)); inf at sigma_b = 0
        (q* = 0: the map is the identity).
    """
    act = resolve(activation)
    sb = sigma(sigma_b, "sigma_b")
    e = eoc(act, sb)
    if e.branches.sigma_w.shape[-1] <= branch:
        nan = np.full(sb.shape, np.nan)
        return EOCBeta(sb, nan, nan.copy(), nan.copy())
    sw = e.branches.sigma_w[..., branch]
    q = e.branches.q_star[..., branch]
    kind = e.branches.kind[..., branch]
    beta = np.full(sb.shape, np.nan)
    ok = kind == 0
    if np.any(ok):
        m = gaussian_moments(act, q[ok])
        with np.errstate(divide="ignore", invalid="ignore"):
            beta[ok] = 2.0 * m.dphi_sq / (q[ok] * m.d2phi_sq)
    beta[kind == 1] = np.inf
    beta[kind == 2] = 0.0
    return EOCBeta(sb, sw, q, beta[()] if beta.ndim == 0 else beta)


def sigma_b_for_depth(
    activation: str | Activation,
    depth,
    *,
    sigma_b_range: tuple[float, float] = (1e-3, 10.0),
    n_grid: int = 200,
) -> DepthMatch:
    """The sigma_b on the EOC at which beta_q equals ``depth`` (Hayou's guideline).

    Scans a log grid of sigma_b in ``sigma_b_range`` for the first sign change
    of beta_q - depth, then bisects (in log sigma_b) to relative 1e-12.

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    depth : array_like
        Target depth(s) L > 0.
    sigma_b_range : (float, float)
        Search interval, 0 < lo < hi.
    n_grid : int
        Points of the initial scan.

    Returns
    -------
    DepthMatch
        ``status`` "no_root" (and NaN) where beta_q never crosses the depth in
        the range.
    """
    act = resolve(activation)
    L = as_float_array(depth, "depth")
    check_finite(L, "depth")
    if np.any(L <= 0):
        raise ValueError(f"depth must be > 0, got {L[L <= 0].flat[0]!r}")
    lo, hi = (float(v) for v in sigma_b_range)
    if not 0 < lo < hi:
        raise ValueError(f"sigma_b_range must satisfy 0 < lo < hi, got {sigma_b_range!r}")
    grid = np.geomspace(lo, hi, int(n_grid))
    beta = np.asarray(eoc_beta_q(act, grid).beta_q, dtype=float)
    Lf = L.ravel()
    a = np.full(Lf.shape, np.nan)
    b = np.full(Lf.shape, np.nan)
    for i, target in enumerate(Lf):
        h = beta - target
        sgn = np.sign(h)
        idx = np.flatnonzero((sgn[:-1] * sgn[1:] <= 0) & np.isfinite(h[:-1]) & np.isfinite(h[1:]))
        if idx.size:
            a[i], b[i] = grid[idx[0]], grid[idx[0] + 1]
    found = np.isfinite(a)
    if np.any(found):
        la, lb = np.log(a[found]), np.log(b[found])
        ha = eoc_beta_q(act, a[found]).beta_q - Lf[found]
        for _ in range(60):
            mid = 0.5 * (la + lb)
            hm = eoc_beta_q(act, np.exp(mid)).beta_q - Lf[found]
            same = np.sign(hm) == np.sign(ha)
            la = np.where(same, mid, la)
            ha = np.where(same, hm, ha)
            lb = np.where(same, lb, mid)
            if np.all(lb - la < 1e-13):
                break
        a[found] = np.exp(0.5 * (la + lb))
    res = eoc_beta_q(act, np.where(found, a, 0.0))
    status = np.where(found, "converged", "no_root").astype(object)
    shape = L.shape

    def out(v):
        v = np.where(found, v, np.nan).reshape(shape)
        return v[()] if v.ndim == 0 else v

    st = status.reshape(shape)
    return DepthMatch(
        L,
        out(a),
        out(res.sigma_w),
        out(res.q_star),
        out(res.beta_q),
        st[()] if st.ndim == 0 else st,
    )
