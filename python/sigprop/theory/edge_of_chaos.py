"""Edge-of-Chaos points: the sigma_w at which chi1(q*) = 1 for a given sigma_b."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _core
from .._validation import resolve_n_threads, sigma
from .activations import Activation, resolve

__all__ = ["EOC_KINDS", "EOCResult", "eoc"]

#: Kinds of EOC point (index = code; -1 marks an empty branch slot).
EOC_KINDS: tuple[str, ...] = ("curve", "limit", "point")


@dataclass(frozen=True)
class EOCResult:
    """EOC points for an array of sigma_b values, with a trailing branch axis.

    Arrays have shape ``sigma_b.shape + (n_branch,)`` unless noted; slots beyond
    ``n_branches`` hold NaN.

    Attributes
    ----------
    sigma_b : ndarray, shape ``sigma_b.shape``
        The given sigma_b.
    sigma_w : ndarray
        Critical weight standard deviation (W ~ N(0, sigma_w^2 / fan_in)).
    q_star : ndarray
        The fixed point q* on the EOC (NaN for relu-like phi: every q is fixed).
    slope : ndarray
        V'(q*) at that sigma_w; < 1 the EOC fixed point attracts, > 1 it repels
        (silu, gelu, shifted softplus: the EOC then holds only for inputs at q*).
    kind : ndarray
        0 "curve" (a root q* > 0), 1 "limit" (sigma_b = 0, q* = 0, the end of
        the curve), 2 "point" (relu-like: the single EOC point), -1 none.
    n_branches : ndarray, shape ``sigma_b.shape``
        Number of EOC points found at each sigma_b (0: no EOC).
    """

    sigma_b: np.ndarray
    sigma_w: np.ndarray
    q_star: np.ndarray
    slope: np.ndarray
    kind: np.ndarray
    n_branches: np.ndarray

    @property
    def stable(self) -> np.ndarray:
        """True where the EOC fixed point attracts (slope < 1); False for NaN slots."""
        with np.errstate(invalid="ignore"):
            return np.asarray(self.slope) < 1.0

    @property
    def exists(self) -> np.ndarray:
        """True where at least one EOC point exists."""
        return np.asarray(self.n_branches) > 0


def eoc(activation: str | Activation, sigma_b, *, n_threads: int | None = None) -> EOCResult:
    """Edge-of-Chaos points (sigma_b, sigma_w) with q*, slope and stability.

    Solves g(q) = q - E[phi^2]/E[phi'^2] = sigma_b^2 (Hayou et al.) for every
    branch q* in [1e-12, 1e12] by a tabulated sign scan and Brent's method to
    machine precision, then sigma_w = 1/sqrt(E[phi'(sqrt(q*) Z)^2]), so that
    chi1 = 1 and V(q*) = q* hold to rounding.

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    sigma_b : array_like
        Bias standard deviation(s), >= 0.
    n_threads : int or None

    Returns
    -------
    EOCResult
        ``n_branches == 0`` where no EOC exists (e.g. softplus, or relu with
        sigma_b > 0).

    Examples
    --------
    >>> import sigprop
    >>> r = sigprop.eoc("tanh", 0.2)
    >>> round(float(r.sigma_w[0]), 8)
    1.30414584
    """
    act = resolve(activation)
    sb = sigma(sigma_b, "sigma_b")
    p0, p1 = act.core_params
    sw, q, slope, kind, nb = _core.eoc(
        act.kind, p0, p1, np.ascontiguousarray(sb).ravel(), resolve_n_threads(n_threads)
    )
    width = max(1, int(nb.max(initial=0)))
    shape = (*sb.shape, width)
    return EOCResult(
        sigma_b=sb,
        sigma_w=sw[:, :width].reshape(shape),
        q_star=q[:, :width].reshape(shape),
        slope=slope[:, :width].reshape(shape),
        kind=kind[:, :width].reshape(shape),
        n_branches=nb.reshape(sb.shape),
    )
