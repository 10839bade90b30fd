"""Dropout: the variance and correlation maps with a keep probability, over depth and
in finite random networks.

Each post-activation is kept with probability rho and scaled by 1/rho, the masks
drawn independently for every input (Schoenholz, Gilmer, Ganguli & Sohl-Dickstein
2017, "Deep information propagation", ICLR, section 5). For weights
N(0, sigma_w^2 / fan_in) and biases N(0, sigma_b^2) the maps become

    q^{l+1}        = sigma_b^2 + (sigma_w^2 / rho) E[phi(u)^2],
    q_ab^{l+1}     = sigma_b^2 + sigma_w^2 E[phi(u_a) phi(u_b)]   (a != b),

since E[(m / rho)^2] = 1 / rho for one mask and E[m_a m_b] / rho^2 = 1 for two
independent ones. On the diagonal c = 1 is then no longer a fixed point of the
correlation map: c* < 1 and xi_c is finite in both phases, so there is no true
Edge of Chaos for rho < 1 and the trainable depth (~ 6 xi_c) stays bounded.
The fixed points over grids are :func:`sigprop.fixed_point` and
:func:`sigprop.scan` with ``keep_prob=``; this module propagates the maps over depth
(:func:`dropout_propagate`) and simulates finite networks with dropout
(:func:`simulate_dropout`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._tables import tabular
from .._validation import (
    as_float_array,
    check_finite,
    generator,
    keep_probability,
    nonnegative_int,
    positive_int,
    scalar_sigma,
    short,
)
from ..networks.random_networks import _evaluate
from ..theory.activations import Activation, resolve
from ..theory.kernels import propagate_maps

__all__ = ["DropoutPropagation", "DropoutSimulation", "dropout_propagate", "simulate_dropout"]


@tabular(leading="layer")
@dataclass(frozen=True)
class DropoutPropagation:
    """Variances and correlation of two inputs through layers with dropout.

    Attributes
    ----------
    q, q_b : ndarray, shape (depth + 1,)
        Variances of the two inputs' pre-activations at layers 0..depth.
    c : ndarray, shape (depth + 1,)
        Their correlation.
    keep_prob : float
        The keep probability rho.
    """

    q: np.ndarray
    q_b: np.ndarray
    c: np.ndarray
    keep_prob: float


def dropout_propagate(
    activation: str | Activation,
    sigma_w: float,
    sigma_b: float,
    depth: int,
    q0: float,
    c0: float = 1.0,
    q0_b: float | None = None,
    *,
    keep_prob: float,
) -> DropoutPropagation:
    """Propagate two inputs' variances and correlation through ``depth`` layers with
    dropout (see the module docstring for the maps).

    Parameters
    ----------
    activation : str, Activation or callable
    sigma_w, sigma_b : float
        Standard deviations (W ~ N(0, sigma_w^2 / fan_in), b ~ N(0, sigma_b^2)).
    depth : int
        Number of layers (>= 0).
    q0, q0_b : float
        Variances of the two inputs' pre-activations at layer 0 (``q0_b``
        defaults to ``q0``).
    c0 : float
        Their correlation at layer 0. With c0 = 1 the two inputs are equal but their
        dropout masks are not, so c^1 < 1 already.
    keep_prob : float
        The keep probability rho in (0, 1].

    Returns
    -------
    DropoutPropagation

    Examples
    --------
    >>> from sigprop.architectures.dropout import dropout_propagate
    >>> p = dropout_propagate("tanh", 1.5, 0.3, 30, 1.0, 1.0, keep_prob=0.9)
    >>> round(float(p.c[-1]), 4)
    0.3477
    """
    act = resolve(activation)
    sw = scalar_sigma(sigma_w, "sigma_w")
    sb = scalar_sigma(sigma_b, "sigma_b")
    depth = nonnegative_int(depth, "depth")
    rho = keep_probability(keep_prob)
    qa = float(as_float_array(q0, "q0"))
    qb = qa if q0_b is None else float(as_float_array(q0_b, "q0_b"))
    c = float(as_float_array(c0, "c0"))
    for name, v in (("q0", qa), ("q0_b", qb)):
        if not (v >= 0 and math.isfinite(v)):
            raise ValueError(f"{name} must be finite and >= 0, got {short(v)}")
    if not -1.0 <= c <= 1.0:
        raise ValueError(f"c0 must be in [-1, 1], got {short(c0)}")
    # the plain propagation with sigma_w / sqrt(rho) in the variance map only
    Q, QB, C = propagate_maps(
        act, sw / math.sqrt(rho), sw, sb, depth, np.array([qa]), np.array([qb]), np.array([c]), 1
    )
    return DropoutPropagation(Q[:, 0], QB[:, 0], C[:, 0], rho)


@tabular(leading="layer")
@dataclass(frozen=True)
class DropoutSimulation:
    """Empirical q^l, c^l of finite networks with dropout, over seeds.

    Attributes
    ----------
    q, q_b, c : ndarray, shape (depth + 1,)
        Means over seeds of the per-network estimates (1/N) sum_i h_i^2 of each
        input, and of the per-network correlation of the two inputs.
    q_se, q_b_se, c_se : ndarray, shape (depth + 1,)
        Their standard errors over seeds.
    grad_sq : ndarray, shape (depth + 1,)
        Mean over seeds of the squared gradient norm of sum_i h_i^L / sqrt(N) with
        respect to h^l of the first input, normalised by width (backward pass).
    grad_sq_se : ndarray
        Its standard error.
    keep_prob : float
    """

    q: np.ndarray
    q_b: np.ndarray
    c: np.ndarray
    q_se: np.ndarray
    q_b_se: np.ndarray
    c_se: np.ndarray
    grad_sq: np.ndarray
    grad_sq_se: np.ndarray
    keep_prob: float


def simulate_dropout(
    activation: str | Activation,
    sigma_w: float,
    sigma_b: float,
    inputs,
    *,
    keep_prob: float,
    width: int,
    depth: int,
    n_seeds: int = 8,
    rng=None,
) -> DropoutSimulation:
    """Forward and backward passes of random fully connected networks with dropout.

    The layers are h^{l+1} = W^l (m^l * phi(h^l) / rho) + b^l, W^l ~ N(0, sigma_w^2 /
    width), b^l ~ N(0, sigma_b^2), one Bernoulli(rho) mask m^l per input; h^0 is
    W^0 x + b^0 for the two inputs x (rows of ``inputs``, fan-in d). Index l of the
    result is the pre-activation h^l, so it compares with
    ``dropout_propagate(..., q0=h^0's variance)`` at the same l.

    Parameters
    ----------
    activation : str, Activation or callable
    sigma_w, sigma_b : float
        Standard deviations.
    inputs : array_like, shape (2, d)
        Two inputs.
    keep_prob : float
        Keep probability rho in (0, 1].
    width, depth : int
        Hidden width and number of dropout layers after the input layer.
    n_seeds : int
        Independent networks.
    rng : int, Generator or None

    Returns
    -------
    DropoutSimulation

    Examples
    --------
    >>> import numpy as np
    >>> from sigprop.architectures.dropout import simulate_dropout
    >>> x = np.array([[1.0, 0.0], [0.6, 0.8]])
    >>> s = simulate_dropout("tanh", 1.5, 0.3, x, keep_prob=0.9, width=200, depth=3, rng=0)
    >>> s.q.shape
    (4,)
    """
    act = resolve(activation)
    sw = scalar_sigma(sigma_w, "sigma_w")
    sb = scalar_sigma(sigma_b, "sigma_b")
    rho = keep_probability(keep_prob)
    width = positive_int(width, "width")
    depth = nonnegative_int(depth, "depth")
    n_seeds = positive_int(n_seeds, "n_seeds")
    X = as_float_array(inputs, "inputs")
    check_finite(X, "inputs")
    if X.ndim != 2 or X.shape[0] != 2 or X.shape[1] < 1:
        raise ValueError(f"inputs must have shape (2, d), got {X.shape}")
    gen = generator(rng)
    d = X.shape[1]
    L1 = depth + 1
    qa, qb, cc, gg = (np.empty((n_seeds, L1)) for _ in range(4))
    for s in range(n_seeds):
        W0 = gen.normal(0.0, sw / math.sqrt(d), (width, d))
        h = X @ W0.T + gen.normal(0.0, sb, width)  # (2, width)
        hs, Ws, ms = [h], [], []
        for _ in range(depth):
            m = (gen.random((2, width)) < rho) / rho
            W = gen.normal(0.0, sw / math.sqrt(width), (width, width))
            h = (m * _evaluate(act, h, 0)) @ W.T + gen.normal(0.0, sb, width)
            hs.append(h)
            Ws.append(W)
            ms.append(m)
        for layer, hl in enumerate(hs):
            qa[s, layer] = np.mean(hl[0] ** 2)
            qb[s, layer] = np.mean(hl[1] ** 2)
            cc[s, layer] = np.mean(hl[0] * hl[1]) / math.sqrt(qa[s, layer] * qb[s, layer])
        # Backward: g^L = 1 / sqrt(N), g^l = phi'(h^l) m^l (W^l)^T g^{l+1} (first input).
        g = np.full(width, 1.0 / math.sqrt(width))
        gg[s, depth] = np.sum(g * g)
        for layer in range(depth - 1, -1, -1):
            g = _evaluate(act, hs[layer][0], 1) * ms[layer][0] * (Ws[layer].T @ g)
            gg[s, layer] = np.sum(g * g)

    def se(a):
        return a.std(axis=0, ddof=1) / math.sqrt(n_seeds) if n_seeds > 1 else np.full(L1, np.nan)

    return DropoutSimulation(
        qa.mean(0), qb.mean(0), cc.mean(0), se(qa), se(qb), se(cc), gg.mean(0), se(gg), rho
    )
