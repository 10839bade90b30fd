"""Fixed points of the variance and correlation maps, chi1, the phases and the depth scales.

Conventions: ``sigma_w`` and ``sigma_b`` are standard deviations; weights are
N(0, sigma_w^2 / fan_in), biases N(0, sigma_b^2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _core
from .._tables import tabular
from .._validation import (
    _show,
    broadcast_flat,
    keep_probability,
    nonnegative_scalar,
    real_scalars,
    resolve_n_threads,
    scalar_or_array,
    sigma,
    variance,
)
from ..outcomes import Phase, Status, names, phase_codes
from .activations import Activation, resolve

__all__ = ["FixedPointResult", "fixed_point"]


@tabular(coords=("sigma_w", "sigma_b"))
@dataclass(frozen=True)
class FixedPointResult:
    """Fixed point of the variance map and what follows from it.

    Every attribute is an array of the broadcast shape of the arguments (a
    NumPy scalar for scalar arguments). Where a quantity does not exist it is
    NaN (or inf where it diverges), never a plausible number.

    Attributes
    ----------
    q_star : limiting variance q* (inf when q diverges, NaN when marginal or not converged)
    status : int code of :class:`sigprop.Status` (``status_name`` gives the names)
    chi1 : sigma_w^2 E[phi'(sqrt(q*) Z)^2]
    slope : V'(q*) (Schoenholz's alpha); < 1 stable, > 1 unstable
    stable : bool, slope < 1
    c_star : stable fixed point of the correlation map (1 in the ordered phase)
    chi_c : f'(c*) = sigma_w^2 E[phi'(u*) phi'(v*)]; to ~1e-12 relative, and to 1e-10
        of sigma_w^2 E[phi'^2] where c* is so close to 1 that the Hermite series needs
        its diagonal bounds (next to the EOC)
    xi_q : -1 / ln V'(q*) (NaN for an unstable q*)
    xi_c : -1 / ln chi_c (inf on the edge of chaos)
    beta_q : 2 / f''(1) = 2 / (sigma_w^2 q* E[phi''^2]); 1 - c^l ~ beta_q / l on the
        EOC for smooth phi; 0 where phi' jumps (relu-like: faster, O(1/l^2))
    iterations : map evaluations used
    sigma_w, sigma_b : the arguments, broadcast to the shape of the result
    keep_prob : the dropout keep probability rho (1: no dropout), broadcast likewise
    trainable_depth : 6 xi_c, the depth up to which Schoenholz et al. (2017) found
        networks trainable (inf on the edge of chaos without dropout)

    ``to_dataset()`` / ``to_dataframe()`` give one row per (sigma_w, sigma_b) cell with
    ``status`` and ``phase`` as names (:class:`sigprop.Status`, :class:`sigprop.Phase`).
    """

    q_star: np.ndarray
    status: np.ndarray
    chi1: np.ndarray
    slope: np.ndarray
    c_star: np.ndarray
    chi_c: np.ndarray
    xi_q: np.ndarray
    xi_c: np.ndarray
    beta_q: np.ndarray
    iterations: np.ndarray
    sigma_w: np.ndarray
    sigma_b: np.ndarray
    keep_prob: np.ndarray | float = 1.0

    @property
    def trainable_depth(self):
        """6 xi_c: the depth up to which random networks train (Schoenholz, Gilmer,
        Ganguli & Sohl-Dickstein 2017, "Deep information propagation", section 6: the
        trainable region is bounded by L ~ 6 xi_c)."""
        return 6.0 * np.asarray(self.xi_c)

    @property
    def stable(self):
        """True where the fixed point attracts (V'(q*) < 1)."""
        with np.errstate(invalid="ignore"):
            return np.asarray(self.slope) < 1.0

    def _table_extra(self) -> dict:
        return {"phase": self.phase}

    @property
    def status_name(self):
        """Status as names of :class:`sigprop.Status`."""
        return names(Status, self.status)

    @property
    def phase(self):
        """Phase names of :class:`sigprop.Phase`: ordered, chaotic, edge
        (``|chi1 - 1| <= 1e-12``), divergent, marginal or failed."""
        return names(Phase, phase_codes(self.chi1, self.status))


def fixed_point(
    activation: str | Activation,
    sigma_w,
    sigma_b,
    *,
    q0=None,
    correlation: bool = True,
    keep_prob: float = 1.0,
    n_threads: int | None = None,
) -> FixedPointResult:
    """Limiting variance q* of the variance map and the quantities it determines.

    By default q* is the limit of q^l from q^1 -> 0+: the minimal fixed point of
    V (Hayou et al., arXiv:1805.08266, Definition 1; docs/theory/phases.rst),
    skipping q = 0 when it repels. With ``q0`` it is the limit of
    the iteration from q^1 = q0 (the nearest fixed point in the direction the
    iteration moves). Found by Newton steps safeguarded by the iteration and a
    Brent bracket, to a relative residual ``|V(q) - q| <= 1e-15 q``.

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    sigma_w, sigma_b : array_like
        Standard deviations (W ~ N(0, sigma_w^2 / fan_in), b ~ N(0, sigma_b^2)),
        broadcast against each other.
    q0 : array_like, optional
        Starting variance(s) q^1 > 0.
    correlation : bool
        Also compute c*, chi_c and xi_c (costs bivariate expectations in the
        chaotic phase).
    keep_prob : float
        Dropout on the post-activations, each unit kept with probability
        ``keep_prob`` (rho) and scaled by 1/rho, the masks independent across
        inputs (Schoenholz et al. 2017, "Deep information propagation", section 5):
        the variance map becomes q -> sigma_b^2 + (sigma_w^2 / rho) E[phi^2] while
        the covariance of two inputs keeps sigma_w^2, so c = 1 is no longer a
        fixed point: c* < 1 and xi_c is finite in both phases (no true Edge of
        Chaos for rho < 1). chi1 = (sigma_w^2 / rho) E[phi'^2] is the growth of
        the squared gradient per layer; chi_c = sigma_w^2 E[phi'(u*) phi'(v*)].
    n_threads : int or None

    Returns
    -------
    FixedPointResult
        ``status`` tells converged / divergent (q -> inf, e.g. relu with
        sigma_w > sqrt(2)) / marginal (every q is fixed: relu at sigma_w = sqrt(2),
        sigma_b = 0) / not_converged.

    Examples
    --------
    >>> import sigprop
    >>> r = sigprop.fixed_point("tanh", 1.0, 0.3, keep_prob=0.9)
    >>> round(float(r.c_star), 4), round(float(r.xi_c), 2)
    (0.7854, 2.38)
    """
    act = resolve(activation)
    keep_prob = keep_probability(keep_prob)
    point = real_scalars(sigma_w, sigma_b) if q0 is None else real_scalars(sigma_w, sigma_b, q0)
    if point is not None:  # (one cell: Python floats in, NumPy scalars out, as for 0-d arrays)
        return _fixed_point_cell(act, point, correlation, keep_prob, n_threads)
    arrays = [sigma(sigma_w, "sigma_w"), sigma(sigma_b, "sigma_b")]
    if q0 is not None:
        q0a = variance(q0, "q0")
        if np.any(q0a <= 0):
            raise ValueError(f"q0 must be > 0, got {_show(q0a, q0a <= 0)}")
        arrays.append(q0a)
    shape, flat = broadcast_flat(*arrays)
    p0, p1 = act.core_params
    res = _core.fixed_points(
        act.kind,
        p0,
        p1,
        flat[0],
        flat[1],
        flat[2] if q0 is not None else None,
        bool(correlation),
        resolve_n_threads(n_threads),
        None,
        keep_prob,
    )
    scalar = len(shape) == 0
    vals = {k: scalar_or_array(v.reshape(shape), scalar) for k, v in res.items()}
    for k, v in (("sigma_w", flat[0]), ("sigma_b", flat[1])):
        vals[k] = scalar_or_array(v.reshape(shape), scalar)
    vals["keep_prob"] = scalar_or_array(np.full(shape, keep_prob), scalar)
    return FixedPointResult(**vals)


def _fixed_point_cell(
    act: Activation, point: list[float], correlation: bool, keep_prob: float, n_threads
) -> FixedPointResult:
    """fixed_point at one (sigma_w, sigma_b[, q0]) of Python floats: the core's one-cell
    function, the array path's checks and messages, its numbers and NumPy scalar types
    (~4 us of overhead against ~40 with one-element arrays: benchmarks/scalar_calls.py)."""
    nonnegative_scalar(point[0], "sigma_w")
    nonnegative_scalar(point[1], "sigma_b")
    q0 = None
    if len(point) == 3:
        q0 = point[2]
        nonnegative_scalar(q0, "q0")
        if q0 <= 0:
            raise ValueError(f"q0 must be > 0, got {q0!r}")
    if n_threads is not None:
        resolve_n_threads(n_threads)  # (checked as for arrays; one cell, one thread)
    p0, p1 = act.core_params
    q, status, iters, chi1, slope, cs, chic, xiq, xic, beta = _core.fixed_point_point(
        act.kind, p0, p1, point[0], point[1], q0, bool(correlation), keep_prob
    )
    f = np.float64
    return FixedPointResult(
        q_star=f(q),
        status=np.int32(status),
        chi1=f(chi1),
        slope=f(slope),
        c_star=f(cs),
        chi_c=f(chic),
        xi_q=f(xiq),
        xi_c=f(xic),
        beta_q=f(beta),
        iterations=np.int32(iters),
        sigma_w=f(point[0]),
        sigma_b=f(point[1]),
        keep_prob=f(keep_prob),
    )
