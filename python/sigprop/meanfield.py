"""Mean-field maps, their fixed points and depth scales.

Conventions: ``sigma_w`` and ``sigma_b`` are standard deviations. A layer is
y = W phi(x) + b with W_ij ~ N(0, sigma_w^2 / fan_in) and b_i ~ N(0, sigma_b^2);
names ending in ``_sq`` are variances. ``q`` is the variance of a
pre-activation, ``c`` the correlation of two pre-activations.

    V(q)   = sigma_b^2 + sigma_w^2 E[phi(sqrt(q) Z)^2]           (variance map)
    chi1   = sigma_w^2 E[phi'(sqrt(q) Z)^2]
    f(c)   = (sigma_b^2 + sigma_w^2 E[phi(u) phi(v)]) / q         (correlation map)
    chi_c  = f'(c) = sigma_w^2 E[phi'(u) phi'(v)]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from . import _core
from ._validation import (
    _short,
    correlation,
    data_matrix,
    positive_int,
    resolve_n_threads,
    scalar_or_array,
    sigma,
    variance,
)
from .activations import Activation, resolve

__all__ = [
    "STATUS",
    "FixedPointResult",
    "Propagation",
    "chi1",
    "cmap",
    "covmap",
    "fixed_point",
    "nngp_kernel",
    "propagate",
    "qmap",
    "qmap_slope",
]

#: Status codes of :func:`fixed_point` (index = code).
STATUS: tuple[str, ...] = (
    "converged",
    "diverging",
    "marginal",
    "not_converged",
    "c_not_converged",
)

#: |chi1 - 1| below this counts as the edge of chaos in ``phase``.
EDGE_TOL = 1e-12

#: Memory bounds: propagate's (depth + 1) x n outputs and nngp_kernel's
#: return_all stack hold at most this many float64 values each (400 MB).
MAX_PROPAGATE_CELLS = 50_000_000
#: Time bound of nngp_kernel: at most this many layers.
MAX_KERNEL_DEPTH = 1_000_000


def _flat(*arrays: np.ndarray) -> tuple[tuple[int, ...], list[np.ndarray]]:
    b = np.broadcast_arrays(*arrays)
    return b[0].shape, [np.ascontiguousarray(x, dtype=np.float64).ravel() for x in b]


def _qmap_all(activation, q, sigma_w, sigma_b, n_threads):
    act = resolve(activation)
    shape, (qa, sw, sb) = _flat(
        variance(q, "q"), sigma(sigma_w, "sigma_w"), sigma(sigma_b, "sigma_b")
    )
    p0, p1 = act.core_params
    out = _core.qmap(act.kind, p0, p1, qa, sw, sb, resolve_n_threads(n_threads))
    scalar = len(shape) == 0
    return [scalar_or_array(o.reshape(shape), scalar) for o in out]


def qmap(activation: str | Activation, q, sigma_w, sigma_b, *, n_threads: int | None = None):
    """The variance map V(q) = sigma_b^2 + sigma_w^2 E[phi(sqrt(q) Z)^2].

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    q : array_like
        Pre-activation variance, >= 0.
    sigma_w, sigma_b : array_like
        Standard deviations of the weights (W ~ N(0, sigma_w^2 / fan_in)) and
        biases (b ~ N(0, sigma_b^2)), >= 0.
    n_threads : int or None

    Returns
    -------
    numpy.ndarray
        V(q), broadcast over the arguments.
    """
    return _qmap_all(activation, q, sigma_w, sigma_b, n_threads)[0]


def qmap_slope(activation: str | Activation, q, sigma_w, *, n_threads: int | None = None):
    """V'(q) = sigma_w^2 d/dq E[phi(sqrt(q) Z)^2], exact at kinks of phi.

    Parameters as in :func:`qmap` (sigma_b does not enter).
    """
    return _qmap_all(activation, q, sigma_w, 0.0, n_threads)[1]


def chi1(activation: str | Activation, q, sigma_w, *, n_threads: int | None = None):
    """chi1 = sigma_w^2 E[phi'(sqrt(q) Z)^2] (sigma_w a standard deviation).

    At q = q*, chi1 < 1 is the ordered phase, chi1 > 1 the chaotic phase.
    """
    return _qmap_all(activation, q, sigma_w, 0.0, n_threads)[2]


def covmap(
    activation: str | Activation,
    q1,
    q2,
    c,
    sigma_w,
    sigma_b,
    *,
    n_threads: int | None = None,
):
    """Next-layer covariance of two inputs: sigma_b^2 + sigma_w^2 E[phi(u) phi(v)].

    (u, v) are centred Gaussian with variances q1, q2 and correlation c. The
    next-layer correlation is ``covmap(...) / sqrt(qmap(q1) * qmap(q2))``.
    """
    act = resolve(activation)
    shape, (a1, a2, ac, sw, sb) = _flat(
        variance(q1, "q1"),
        variance(q2, "q2"),
        correlation(c),
        sigma(sigma_w, "sigma_w"),
        sigma(sigma_b, "sigma_b"),
    )
    p0, p1 = act.core_params
    qab, _ = _core.covmap(act.kind, p0, p1, a1, a2, ac, sw, sb, False, resolve_n_threads(n_threads))
    return scalar_or_array(qab.reshape(shape), len(shape) == 0)


def cmap(activation: str | Activation, c, q, sigma_w, sigma_b, *, n_threads: int | None = None):
    """The correlation map at common variance q > 0 (SPEC 1.3).

    f(c) = (sigma_b^2 + sigma_w^2 E[phi(u) phi(v)]) / q with u, v of variance q
    and correlation c. With q = q*, f(1) = 1.
    """
    qa = variance(q, "q")
    if np.any(qa == 0):
        raise ValueError("q must be > 0 for the correlation map, got 0.0")
    return covmap(activation, qa, qa, c, sigma_w, sigma_b, n_threads=n_threads) / qa


@dataclass(frozen=True)
class Propagation:
    """Layer-by-layer variances and correlation of two inputs.

    Index l = 0 holds the given inputs (the pre-activations of the first layer
    the maps are applied to); index l holds them after l applications of the maps.

    Attributes
    ----------
    q : ndarray, shape (depth + 1, ...)
        Variance of the first input.
    q_b : ndarray, shape (depth + 1, ...)
        Variance of the second input (equal to ``q`` when not given).
    c : ndarray, shape (depth + 1, ...)
        Correlation of the two inputs (clipped to [-1, 1]).
    """

    q: np.ndarray
    q_b: np.ndarray
    c: np.ndarray


def propagate(
    activation: str | Activation,
    sigma_w,
    sigma_b,
    depth: int,
    q0,
    c0=1.0,
    q0_b=None,
    *,
    n_threads: int | None = None,
) -> Propagation:
    """Propagate the variances and correlation of two inputs through ``depth`` layers.

    q^{l+1} = V(q^l) for each input, and the covariance follows the covariance
    map, so c^{l+1} = covmap(q_a^l, q_b^l, c^l) / sqrt(q_a^{l+1} q_b^{l+1}).

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    sigma_w, sigma_b : float
        Standard deviations (W ~ N(0, sigma_w^2 / fan_in), b ~ N(0, sigma_b^2)).
    depth : int
        Number of layers (>= 0).
    q0 : array_like
        Variance of the first input at l = 0.
    c0 : array_like
        Correlation of the two inputs at l = 0, in [-1, 1].
    q0_b : array_like, optional
        Variance of the second input at l = 0 (default: ``q0``).
    n_threads : int or None

    Returns
    -------
    Propagation
    """
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0:
        raise ValueError(f"depth must be a non-negative int, got {_short(depth)}")
    act = resolve(activation)
    sw = float(np.asarray(sigma(sigma_w, "sigma_w")))
    sb = float(np.asarray(sigma(sigma_b, "sigma_b")))
    qa = variance(q0, "q0")
    qb = qa if q0_b is None else variance(q0_b, "q0_b")
    shape, (qa, qb, cc) = _flat(qa, qb, correlation(c0, "c0"))
    nt = resolve_n_threads(n_threads)
    p0, p1 = act.core_params
    n = qa.size
    if (depth + 1) * n > MAX_PROPAGATE_CELLS:
        # three (depth + 1, n) float64 arrays are returned
        raise ValueError(
            f"depth must keep (depth + 1) x {n} inputs <= {MAX_PROPAGATE_CELLS} "
            f"(memory bound), got depth = {_short(depth)}"
        )
    swv, sbv = np.full(n, sw), np.full(n, sb)
    Q = np.empty((depth + 1, n))
    QB = np.empty((depth + 1, n))
    Cc = np.empty((depth + 1, n))
    Q[0], QB[0], Cc[0] = qa, qb, cc
    for layer in range(depth):
        qab, _ = _core.covmap(act.kind, p0, p1, Q[layer], QB[layer], Cc[layer], swv, sbv, False, nt)
        Q[layer + 1] = _core.qmap(act.kind, p0, p1, Q[layer], swv, sbv, nt)[0]
        QB[layer + 1] = _core.qmap(act.kind, p0, p1, QB[layer], swv, sbv, nt)[0]
        den = np.sqrt(Q[layer + 1] * QB[layer + 1])
        with np.errstate(invalid="ignore", divide="ignore"):
            Cc[layer + 1] = np.clip(np.where(den > 0, qab / den, 1.0), -1.0, 1.0)
    return Propagation(
        Q.reshape((depth + 1, *shape)),
        QB.reshape((depth + 1, *shape)),
        Cc.reshape((depth + 1, *shape)),
    )


def nngp_kernel(
    activation: str | Activation,
    X,
    sigma_w,
    sigma_b,
    depth: int,
    *,
    return_all: bool = False,
    n_threads: int | None = None,
    progress: bool | None = None,
) -> np.ndarray:
    """The infinite-width (NNGP) kernel of a batch of inputs after ``depth`` layers.

    Layer 1 is the first affine layer on the inputs:
    K^1 = sigma_b^2 + sigma_w^2 X X^T / d; then
    K^{l+1}_ab = sigma_b^2 + sigma_w^2 E[phi(u_a) phi(u_b)], (u_a, u_b) ~ N(0, K^l).

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
    X : array_like, shape (n, d)
        Inputs, one per row.
    sigma_w, sigma_b : float
        Standard deviations (W ~ N(0, sigma_w^2 / fan_in), b ~ N(0, sigma_b^2)).
    depth : int
        Number of layers, >= 1.
    return_all : bool
        Return every layer's kernel, shape (depth, n, n), instead of the last.
    n_threads : int or None
    progress : bool or None
        tqdm progress bar over the rows of every layer (needs tqdm, in the
        ``scan`` extra); ``None`` shows one for long work (n >= 2000) when
        stderr is a terminal.

    Returns
    -------
    numpy.ndarray, shape (n, n) or (depth, n, n)

    Notes
    -----
    Each layer builds the Hermite expansion of every input once (at its
    variance K_aa) and evaluates each pair as a truncated Mehler series with a
    rigorous bound, falling back to quadrature for pairs next to |c| = 1 (see
    :func:`~sigprop.bivariate_expectation`); closed forms for the relu family,
    erf and sin. The core checks for Ctrl-C every 20-50 ms.
    """
    positive_int(depth, "depth", MAX_KERNEL_DEPTH)
    Xa = data_matrix(X, "X")
    if return_all and depth * Xa.shape[0] ** 2 > MAX_PROPAGATE_CELLS:
        raise ValueError(
            f"depth x n^2 = {depth} x {Xa.shape[0]}^2 must be <= {MAX_PROPAGATE_CELLS} with "
            "return_all=True (memory bound)"
        )
    act = resolve(activation)
    sw = float(np.asarray(sigma(sigma_w, "sigma_w")))
    sb = float(np.asarray(sigma(sigma_b, "sigma_b")))
    nt = resolve_n_threads(n_threads)
    p0, p1 = act.core_params
    K = sb * sb + sw * sw * (Xa @ Xa.T) / Xa.shape[1]
    K = 0.5 * (K + K.T)
    layers = [K]
    bar = _row_bar((depth - 1) * Xa.shape[0], progress)
    try:
        for _ in range(depth - 1):
            K = _core.kernel_layer(
                act.kind, p0, p1, K, sw, sb, nt, None if bar is None else bar.update
            )
            layers.append(K)
    finally:
        if bar is not None:
            bar.close()
    return np.stack(layers) if return_all else K


def _row_bar(total: int, progress: bool | None):
    """A tqdm bar counting kernel rows, or None."""
    if progress is None:
        progress = total >= 2000 and bool(getattr(sys.stderr, "isatty", lambda: False)())
    if not progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError as exc:
        raise ImportError('progress=True needs tqdm: pip install ".[scan]"') from exc
    return tqdm(total=total, desc="nngp_kernel", unit="row", file=sys.stderr)


@dataclass(frozen=True)
class FixedPointResult:
    """Fixed point of the variance map and what follows from it.

    Every attribute is an array of the broadcast shape of the arguments (a
    NumPy scalar for scalar arguments). Where a quantity does not exist it is
    NaN (or inf where it diverges), never a plausible number.

    Attributes
    ----------
    q_star : limiting variance q* (inf when q diverges, NaN when marginal or not converged)
    status : int code, see :data:`STATUS` and ``status_name``
    chi1 : sigma_w^2 E[phi'(sqrt(q*) Z)^2]
    slope : V'(q*) (Schoenholz's alpha); < 1 stable, > 1 unstable
    stable : bool, slope < 1
    c_star : stable fixed point of the correlation map (1 in the ordered phase)
    chi_c : f'(c*) = sigma_w^2 E[phi'(u*) phi'(v*)]
    xi_q : -1 / ln V'(q*) (NaN for an unstable q*)
    xi_c : -1 / ln chi_c (inf on the edge of chaos)
    beta_q : 2 / f''(1) = 2 / (sigma_w^2 q* E[phi''^2]); 1 - c^l ~ beta_q / l on the
        EOC for smooth phi; 0 where phi' jumps (relu-like: faster, O(1/l^2))
    iterations : map evaluations used
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

    @property
    def stable(self):
        """True where the fixed point attracts (V'(q*) < 1)."""
        with np.errstate(invalid="ignore"):
            return np.asarray(self.slope) < 1.0

    @property
    def status_name(self):
        """Status as strings (see :data:`STATUS`)."""
        return np.asarray(STATUS, dtype=object)[np.asarray(self.status)]

    @property
    def phase(self):
        """ "ordered", "chaotic", "edge" (|chi1 - 1| <= 1e-12), "divergent" or "unknown"."""
        chi = np.asarray(self.chi1, dtype=float)
        st = np.asarray(self.status)
        out = np.full(chi.shape, "unknown", dtype=object)
        with np.errstate(invalid="ignore"):
            out[chi < 1 - EDGE_TOL] = "ordered"
            out[chi > 1 + EDGE_TOL] = "chaotic"
            out[np.abs(chi - 1) <= EDGE_TOL] = "edge"
        out[st == 1] = "divergent"
        return out[()] if out.ndim == 0 else out


def fixed_point(
    activation: str | Activation,
    sigma_w,
    sigma_b,
    *,
    q0=None,
    correlation: bool = True,
    n_threads: int | None = None,
) -> FixedPointResult:
    """Limiting variance q* of the variance map and the quantities it determines.

    By default q* is the limit of q^l from q^1 -> 0+: the minimal fixed point of
    V (SPEC 1.4), skipping q = 0 when it repels. With ``q0`` it is the limit of
    the iteration from q^1 = q0 (the nearest fixed point in the direction the
    iteration moves). Found by Newton steps safeguarded by the iteration and a
    Brent bracket, to a relative residual |V(q) - q| <= 1e-15 q.

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
    n_threads : int or None

    Returns
    -------
    FixedPointResult
        ``status`` tells converged / diverging (q -> inf, e.g. relu with
        sigma_w > sqrt(2)) / marginal (every q is fixed: relu at sigma_w = sqrt(2),
        sigma_b = 0) / not_converged.
    """
    act = resolve(activation)
    arrays = [sigma(sigma_w, "sigma_w"), sigma(sigma_b, "sigma_b")]
    if q0 is not None:
        q0a = variance(q0, "q0")
        if np.any(q0a <= 0):
            raise ValueError("q0 must be > 0")
        arrays.append(q0a)
    shape, flat = _flat(*arrays)
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
    )
    scalar = len(shape) == 0
    vals = {k: scalar_or_array(v.reshape(shape), scalar) for k, v in res.items()}
    return FixedPointResult(**vals)
