"""Edge-of-Chaos points: the sigma_w at which chi1(q*) = 1 for a given sigma_b."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _core
from .._validation import resolve_n_threads, scalar_or_array, sigma
from .activations import Activation, resolve

__all__ = ["EOC_KINDS", "EOCBranches", "EOCResult", "eoc"]

#: Kinds of EOC point (index = code; -1 marks an empty branch slot).
EOC_KINDS: tuple[str, ...] = ("curve", "limit", "point")


@dataclass(frozen=True)
class EOCBranches:
    """Every EOC point at each sigma_b: arrays with a trailing branch axis.

    Shape ``sigma_b.shape + (n_branch,)``, n_branch the largest number of EOC points
    at any of the sigma_b given; slots beyond ``n_branches`` hold NaN (kind -1).
    Branches are ordered by increasing q*.
    """

    sigma_w: np.ndarray
    q_star: np.ndarray
    slope: np.ndarray
    kind: np.ndarray


@dataclass(frozen=True)
class EOCResult:
    """EOC points for sigma_b values: the first branch, and all of them.

    ``sigma_w``, ``q_star``, ``slope`` and ``kind`` are those of the first EOC point
    (the smallest q*) at each sigma_b, of the shape of ``sigma_b`` (NumPy scalars
    for a scalar sigma_b); NaN (kind -1) where there is no EOC. Activations with
    several EOC points at one sigma_b have them all in ``branches``.

    Attributes
    ----------
    sigma_b : ndarray
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
    n_branches : ndarray
        Number of EOC points found at each sigma_b (0: no EOC).
    branches : EOCBranches
        Every EOC point, with a trailing branch axis.
    """

    sigma_b: np.ndarray
    sigma_w: np.ndarray
    q_star: np.ndarray
    slope: np.ndarray
    kind: np.ndarray
    n_branches: np.ndarray
    branches: EOCBranches

    @property
    def stable(self) -> np.ndarray:
        """True where the first EOC fixed point attracts (slope < 1); False where none."""
        with np.errstate(invalid="ignore"):
            return np.asarray(self.slope) < 1.0

    @property
    def exists(self) -> np.ndarray:
        """True where at least one EOC point exists."""
        return np.asarray(self.n_branches) > 0

    def to_dataset(self):
        """The EOC points as an xarray Dataset over (sigma_b, branch); kind as names."""
        from .._optional import need

        xr = need("xarray", "EOCResult.to_dataset()")
        sb = np.atleast_1d(self.sigma_b)
        br = self.branches
        n = sb.size
        width = br.sigma_w.shape[-1]
        dims = ("sigma_b", "branch")

        def flat(a):
            return np.asarray(a).reshape(n, width)

        kinds = np.array([*EOC_KINDS, "none"], dtype=object)[flat(br.kind)]
        return xr.Dataset(
            {
                "sigma_w": (dims, flat(br.sigma_w)),
                "q_star": (dims, flat(br.q_star)),
                "slope": (dims, flat(br.slope)),
                "kind": (dims, kinds.astype(str)),
                "n_branches": ("sigma_b", np.asarray(self.n_branches).reshape(n)),
            },
            coords={"sigma_b": sb.ravel(), "branch": np.arange(width)},
        )

    def to_dataframe(self):
        """:meth:`to_dataset` as a pandas DataFrame, one row per (sigma_b, branch) point."""
        ds = self.to_dataset()
        df = ds.drop_vars("n_branches").to_dataframe()
        return df[df["kind"] != "none"]


def eoc(activation: str | Activation, sigma_b, *, n_threads: int | None = None) -> EOCResult:
    """Edge-of-Chaos points (sigma_b, sigma_w) with q*, slope and stability.

    Solves g(q) = q - E[phi^2]/E[phi'^2] = sigma_b^2 (Hayou et al.) for every
    branch q* in [1e-12, 1e12] by a tabulated sign scan and Brent's method to
    machine precision, then sigma_w = 1/sqrt(E[phi'(sqrt(q*) Z)^2]), so that
    chi1 = 1 and V(q*) = q* hold to rounding. The table of g (289 values of q)
    is built on an activation's first call and kept (:func:`clear_cache` frees
    it): a later call pays for its roots alone.

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
    >>> round(float(r.sigma_w), 8)
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
    branches = EOCBranches(
        sigma_w=sw[:, :width].reshape(shape),
        q_star=q[:, :width].reshape(shape),
        slope=slope[:, :width].reshape(shape),
        kind=kind[:, :width].reshape(shape),
    )
    scalar = sb.ndim == 0

    def first(a):
        return scalar_or_array(a[..., 0], scalar)

    return EOCResult(
        sigma_b=scalar_or_array(sb, scalar),
        sigma_w=first(branches.sigma_w),
        q_star=first(branches.q_star),
        slope=first(branches.slope),
        kind=first(branches.kind),
        n_branches=scalar_or_array(nb.reshape(sb.shape), scalar),
        branches=branches,
    )
