"""Layer-by-layer propagation of variances and correlations, and the NNGP kernel of a batch.

Conventions: ``sigma_w`` and ``sigma_b`` are standard deviations; weights are
N(0, sigma_w^2 / fan_in), biases N(0, sigma_b^2).
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass

import numpy as np

from .. import _core
from .._tables import tabular
from .._validation import (
    broadcast_flat,
    correlation,
    data_matrix,
    nonnegative_int,
    positive_int,
    resolve_n_threads,
    short,
    sigma,
    variance,
)
from .activations import Activation, resolve
from .expectations import AccuracyWarning

__all__ = ["MAX_KERNEL_DEPTH", "MAX_PROPAGATE_CELLS", "Propagation", "nngp_kernel", "propagate"]

#: Memory bounds: propagate's (depth + 1) x n outputs and nngp_kernel's
#: return_all stack hold at most this many float64 values each (400 MB).
MAX_PROPAGATE_CELLS = 50_000_000
#: Time bound of nngp_kernel: at most this many layers.
MAX_KERNEL_DEPTH = 1_000_000


@tabular(leading="layer")
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

    ``to_dataset()`` / ``to_dataframe()`` give them over (layer, cell).
    """

    q: np.ndarray
    q_b: np.ndarray
    c: np.ndarray


def propagate_maps(act: Activation, sw_q, sw_c, sb, depth, qa, qb, cc, nt):
    """(Q, QB, C), each (depth + 1, n): the variance map with sigma_w = ``sw_q`` and the
    covariance map with ``sw_c`` (equal without dropout; ``sw_q = sw_c / sqrt(rho)``
    with it) iterated from the flat float64 arrays ``qa``, ``qb``, ``cc``, in one core
    call (``_core.propagate``: every layer, where a loop here took three core calls a
    layer), stopping on Ctrl-C between blocks of ~30 ms; an AccuracyWarning where a
    pair's quadrature ended short of its tolerance."""
    p0, p1 = act.core_params
    Q, QB, Cc, n_short = _core.propagate(
        act.kind, p0, p1, float(sw_q), float(sw_c), float(sb), int(depth), qa, qb, cc, nt
    )
    if n_short:
        warnings.warn(
            f"propagate({act.name!r}): the quadrature of {n_short} of the "
            f"{depth * qa.size} covariances ended short of its tolerance; those correlations "
            "are its best estimates, NaN where far from converged",
            AccuracyWarning,
            stacklevel=3,
        )
    return Q, QB, Cc


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
        ``q``, ``q_b``, ``c``, each of shape ``(depth + 1, *broadcast shape)``. Every
        layer is computed in one core call (~1-3 us a layer and input where the
        expectations have closed forms or series); where the quadrature of a covariance
        ended short of its tolerance, an :class:`sigprop.AccuracyWarning` says how many.
    """
    depth = nonnegative_int(depth, "depth")
    act = resolve(activation)
    sw = float(np.asarray(sigma(sigma_w, "sigma_w")))
    sb = float(np.asarray(sigma(sigma_b, "sigma_b")))
    qa = variance(q0, "q0")
    qb = qa if q0_b is None else variance(q0_b, "q0_b")
    shape, (qa, qb, cc) = broadcast_flat(qa, qb, correlation(c0, "c0"))
    nt = resolve_n_threads(n_threads)
    n = qa.size
    if (depth + 1) * n > MAX_PROPAGATE_CELLS:
        # three (depth + 1, n) float64 arrays are returned
        raise ValueError(
            f"depth must keep (depth + 1) x {n} inputs <= {MAX_PROPAGATE_CELLS} "
            f"(memory bound), got depth = {short(depth)}"
        )
    Q, QB, Cc = propagate_maps(act, sw, sw, sb, depth, qa, qb, cc, nt)
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
    variance K_aa) and evaluates each pair through the same engine as
    :func:`~sigprop.bivariate_expectation`, the truncated Mehler series with a
    rigorous bound first; closed forms for the relu family, erf, sin, gelu and the
    piecewise activations where they keep their accuracy; quadrature for pairs
    next to ``|c| = 1`` that neither certifies. In the ordered phase, while the
    variances settle (every pair next to ``c = 1``, variances 1e-2 to 1e-6 apart),
    tanh, sigmoid, softsign, silu, softplus, shifted_softplus, linear_region_tanh,
    elu and selu take the difference form instead: the tabulated diagonal values and
    the moments of ``h(z) = phi(sqrt(K_aa) z) - phi(sqrt(K_bb) z)`` on one quadrature
    rule per layer (0.1-1 us a pair where the quadrature took 5 us to 1 ms), within
    ~3e-13 of the scale (~1e-12 for selu and elu with alpha != 1, whose phi' jumps
    at 0; elu and selu in layers of at least 512 and 768 inputs, whose pairs repay
    the table's build, 0.3-0.5 s a segment once per process). hard_tanh's pairs
    there, once the variances agree, take Price's theorem from ``c = 1``, or, where a
    layer has at least ten times as many such pairs (``c >= 0.91``) as its nodes, a
    table of the layer interpolated in ``log q1``, ``log q2`` and ``sqrt(1 - c)``,
    checked to 1e-12 of the scale (as the other activations' settled layers past
    their near-diagonal tables). Every entry is the same bits whatever the order of
    the inputs and the number of threads. Pairs
    whose quadrature ends short of its tolerance (inputs with ``K_aa > 1e14``, past
    the tables) are counted and reported by an :class:`~sigprop.AccuracyWarning`
    naming the layers; their entries are the best estimates, NaN where far from
    converged. The expansions
    (21 kB an input, with its record for the pairs taken eight at a time) are kept
    for the calling thread's next layer and call, up to 2048 inputs (44 MB), so
    that their memory is not faulted in again on every layer. The core checks for
    Ctrl-C every 20-50 ms, and within ~0.3 s while it builds a table segment on
    first use (those builds stop part-way and go on in the next block).
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
    # (the core's product, not BLAS's: exactly symmetric, the same bitwise on any
    # machine and thread count, and no BLAS threads left spinning beside the layers)
    K = _core.input_kernel(np.ascontiguousarray(Xa.T), sw, sb, nt)
    layers = [K]
    # Without return_all, two buffers in turn: a new (n, n) array a layer would have its
    # pages faulted in again (0.1 ms a layer at n = 200, more than a closed form's pairs).
    spare = None if return_all or depth < 3 else np.empty_like(K)
    bar = _row_bar((depth - 1) * Xa.shape[0], progress)
    short_layers = []
    try:
        for layer in range(2, depth + 1):
            prev = K
            K, n_short = _core.kernel_layer(
                act.kind, p0, p1, K, sw, sb, nt, None if bar is None else bar.update, spare
            )
            if not return_all:
                spare = prev
            if n_short:
                short_layers.append(f"layer {layer}: {n_short}")
            if return_all:
                layers.append(K)
    finally:
        if bar is not None:
            bar.close()
    if short_layers:
        warnings.warn(
            f"nngp_kernel({act.name!r}): the quadrature of some pairs ended short of its "
            f"tolerance (pairs per layer: {', '.join(short_layers)}); those entries are its best "
            "estimates, NaN where far from converged",
            AccuracyWarning,
            stacklevel=2,
        )
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
